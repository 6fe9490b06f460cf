//! Tests of the service's replies as a user reads them: one answer per command, in the
//! order of the commands (`status` asks the directory in a task), names that make sense,
//! proper plurals, and a peer the user wrote to first not announced as a new sender.

use super::control_tests::{attach, chat, drain, peer, run, texts};
use super::tests::{context_with_inputs, next_input};
use super::*;
use crate::message::{ControlTarget, MessageKind};

fn control(r: &mut Router, from: FrontendId, line: &str) {
    r.handle(RouterInput::Request {
        from,
        request: FrontendRequest::Control {
            line: line.into(),
            reply: ControlTarget::Channel,
        },
    });
}

fn replies(events: &[FrontendEvent]) -> Vec<Vec<String>> {
    events
        .iter()
        .filter_map(|e| match e {
            FrontendEvent::ControlReply { lines, .. } => Some(lines.clone()),
            _ => None,
        })
        .collect()
}

fn announced(events: &[FrontendEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            FrontendEvent::ControlAnnounce { text } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn send(r: &mut Router, from: FrontendId, to: PeerId, text: &str) {
    r.handle(RouterInput::Request {
        from,
        request: FrontendRequest::Send {
            to,
            kind: MessageKind::Text,
            text: text.into(),
        },
    });
}

#[tokio::test]
async fn status_replies_come_before_the_replies_to_later_commands() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut inputs) = context_with_inputs();
    let limits = crate::config::StoreConfig::default();
    let mut r = Router::with_store(ctx, Store::open(dir.path()).unwrap(), limits);
    let (id, mut rx) = attach(&mut r);
    let (other, mut other_rx) = attach(&mut r);
    drain(&mut rx);
    control(&mut r, id, "status");
    control(&mut r, id, "id");
    control(&mut r, id, "help");
    // Another front end is not held up by this one's status.
    control(&mut r, other, "id");
    assert_eq!(replies(&drain(&mut other_rx)).len(), 1);
    assert!(
        replies(&drain(&mut rx)).is_empty(),
        "the later replies wait for status"
    );
    // The status task answers (the directory's part), through the hub's inputs.
    let reply = next_input(
        &mut inputs,
        |i| matches!(i, RouterInput::Reply { .. }),
        "the status task answers",
    )
    .await;
    r.handle(reply);
    let got = replies(&drain(&mut rx));
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(
        got[0].iter().any(|l| l == "Outbox: 0 messages waiting"),
        "{got:?}"
    );
    assert!(got[1][0].starts_with("Your nick: "), "{got:?}");
    assert!(got[2].len() > 3, "help: {got:?}");
    // Nothing waits any more: the next reply comes at once.
    control(&mut r, id, "id");
    assert_eq!(replies(&drain(&mut rx)).len(), 1);
}

#[tokio::test]
async fn add_of_an_existing_contact_answers_once_and_remove_names_it_sensibly() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = super::tests::stored_router(dir.path());
    let (id, mut rx) = attach(&mut r);
    let (bob, carol) = (peer(2), peer(3));
    let (bob_nick, carol_nick) = (bob.nick(), carol.nick());
    run(&mut r, id, &mut rx, &format!("add {bob_nick} bob"));
    for line in [
        format!("add {bob_nick}"),
        format!("add {bob_nick} bob"),
        "add bob".into(),
    ] {
        drain(&mut rx);
        control(&mut r, id, &line);
        let events = drain(&mut rx);
        assert_eq!(
            replies(&events),
            [["bob is already a contact"]],
            "{line}: {events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, FrontendEvent::Contacts(_))),
            "nothing changed, no new book: {events:?}"
        );
    }
    assert_eq!(
        run(&mut r, id, &mut rx, "add bob robert"),
        ["bob is already a contact; now named robert"]
    );
    assert_eq!(
        run(&mut r, id, &mut rx, "remove robert"),
        [format!("Removed robert; they appear as {bob_nick} again")]
    );
    run(&mut r, id, &mut rx, &format!("add {carol_nick}"));
    assert_eq!(
        run(&mut r, id, &mut rx, &format!("remove {carol_nick}")),
        [format!("Removed {carol_nick} from your contacts")]
    );
}

#[tokio::test]
async fn replies_count_with_proper_plurals() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = super::tests::stored_router(dir.path());
    let (id, mut rx) = attach(&mut r);
    let bob = peer(2);
    run(&mut r, id, &mut rx, &format!("add {} bob", bob.nick()));
    send(&mut r, id, bob, "one");
    let reply = run(&mut r, id, &mut rx, "contacts");
    assert_eq!(reply[0], "1 contact:");
    assert!(reply[1].ends_with(", 1 message queued"), "{reply:?}");
    send(&mut r, id, bob, "two");
    let reply = run(&mut r, id, &mut rx, "contacts");
    assert!(reply[1].ends_with(", 2 messages queued"), "{reply:?}");
    // Held messages: one, then two.
    let eve = peer(5);
    run(&mut r, id, &mut rx, "set unknown ask");
    assert!(r.receive(eve, vec![chat(1)]));
    assert_eq!(
        run(&mut r, id, &mut rx, "held")[1],
        format!("  {}: 1 message", eve.nick())
    );
    assert!(r.receive(eve, vec![chat(2)]));
    assert_eq!(
        run(&mut r, id, &mut rx, &format!("reject {}", eve.nick())),
        [format!(
            "Deleted 2 held messages from {0}; \"block {0}\" refuses it for good",
            eve.nick()
        )]
    );
}

#[tokio::test]
async fn a_peer_you_wrote_to_first_is_not_a_new_sender() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = super::tests::stored_router(dir.path());
    let (id, mut rx) = attach(&mut r);
    let (bob, dave) = (peer(2), peer(4));
    // accept (the default): the reply is shown, not announced.
    send(&mut r, id, bob, "hi bob");
    drain(&mut rx);
    assert!(r.receive(bob, vec![chat(1)]));
    let events = drain(&mut rx);
    assert_eq!(texts(&events), ["m1"]);
    assert!(announced(&events).is_empty(), "{events:?}");
    // ask: the reply is shown, not held; a stranger who writes first still is.
    run(&mut r, id, &mut rx, "set unknown ask");
    send(&mut r, id, dave, "hi dave");
    drain(&mut rx);
    assert!(r.receive(dave, vec![chat(2)]));
    let events = drain(&mut rx);
    assert_eq!(texts(&events), ["m2"]);
    assert!(announced(&events).is_empty(), "{events:?}");
    let eve = peer(5);
    assert!(r.receive(eve, vec![chat(3)]));
    let events = drain(&mut rx);
    assert!(texts(&events).is_empty());
    assert_eq!(announced(&events).len(), 1, "{events:?}");
    // Answering the one who asked shows what it sent first.
    send(&mut r, id, eve, "hi eve");
    assert_eq!(texts(&drain(&mut rx)), ["m3"]);
    assert!(r.receive(eve, vec![chat(4)]));
    assert_eq!(texts(&drain(&mut rx)), ["m4"]);
    // After a restart (accept), bob is not announced either.
    drop(r);
    let mut r = super::tests::stored_router(dir.path());
    let (id, mut rx) = attach(&mut r);
    run(&mut r, id, &mut rx, "set unknown accept");
    assert!(r.receive(bob, vec![chat(5)]));
    let events = drain(&mut rx);
    assert_eq!(texts(&events), ["m5"]);
    assert!(announced(&events).is_empty(), "{events:?}");
}

/// `status` shows where the router's port mapping stands once the daemon has said it, and
/// says nothing about it before (mapping off, or not tried yet).
#[tokio::test]
async fn status_shows_the_port_mapping() {
    async fn status(
        r: &mut Router,
        id: FrontendId,
        rx: &mut mpsc::Receiver<FrontendEvent>,
        inputs: &mut mpsc::UnboundedReceiver<RouterInput>,
    ) -> Vec<String> {
        control(r, id, "status");
        let reply = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match inputs.recv().await {
                    Some(reply @ RouterInput::Reply { .. }) => return reply,
                    Some(_) => {}
                    None => panic!("the inputs closed"),
                }
            }
        })
        .await
        .expect("the status task answers");
        r.handle(reply);
        replies(&drain(rx)).concat()
    }
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut inputs) = context_with_inputs();
    let limits = crate::config::StoreConfig::default();
    let mut r = Router::with_store(ctx, Store::open(dir.path()).unwrap(), limits);
    let (id, mut rx) = attach(&mut r);
    drain(&mut rx);
    let before = status(&mut r, id, &mut rx, &mut inputs).await;
    assert!(
        !before.iter().any(|l| l.contains("Port mapping")),
        "{before:?}"
    );
    let line = "Port mapping: NAT-PMP on the router, reachable at 198.51.100.7:7667";
    r.handle(RouterInput::PortMapping(line.into()));
    let after = status(&mut r, id, &mut rx, &mut inputs).await;
    assert!(after.iter().any(|l| l == line), "{after:?}");

    // Behind a NAT: the record lists relays, and status names them.
    let relay = crate::directory::RelayEntry {
        key: PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[5; 32])),
        addrs: vec!["192.0.2.9:7667".parse().unwrap()],
    };
    r.handle(RouterInput::Reachability(crate::reach::ReachState {
        verdict: crate::reach::Verdict::Unreachable,
        relays: vec![relay.clone()],
        problem: None,
    }));
    r.handle(RouterInput::Published(vec![]));
    let behind = status(&mut r, id, &mut rx, &mut inputs).await;
    assert!(
        behind.iter().any(|l| l
            .contains("Reachability: not reachable directly; peers reach us via")
            && l.contains("192.0.2.9:7667")),
        "{behind:?}"
    );
    assert!(
        behind
            .iter()
            .any(|l| l.contains("DHT: last published") && l.contains("no direct address")),
        "{behind:?}"
    );
}
