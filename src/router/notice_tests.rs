//! Tests of what the hub tells the user while messages wait for a peer: the offline notice
//! (petname, which side is the problem, the count kept right as more are queued), and the
//! notice once they were delivered.

use super::control_tests::{attach, drain, peer, run};
use super::notices::Unreached;
use super::tests::{fake_session, next_input, stored_router as open};
use super::*;
use crate::message::MessageKind;

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

/// The notices about `peer` among `events`.
fn notices(events: &[FrontendEvent], about: PeerId) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            FrontendEvent::PeerNotice { peer, text } if *peer == about => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn the_offline_notice_names_the_petname_and_keeps_the_count_right() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    let bob = peer(2);
    run(&mut r, id, &mut rx, &format!("add {} bob", bob.nick()));
    send(&mut r, id, bob, "one");
    send(&mut r, id, bob, "two");
    let failed = || RouterInput::DialFailed {
        peer: bob,
        error: Unreached::NoRecord,
    };
    r.handle(failed());
    assert_eq!(
        notices(&drain(&mut rx), bob),
        [
            "bob is offline (no address in the DHT); 2 messages queued, will deliver when bob is back"
        ]
    );
    // A retry that fails with nothing new says nothing; a third message gets the new count.
    r.handle(failed());
    assert!(notices(&drain(&mut rx), bob).is_empty());
    send(&mut r, id, bob, "three");
    r.handle(failed());
    assert_eq!(
        notices(&drain(&mut rx), bob),
        ["bob is still offline; 3 messages queued"]
    );
    // A fourth is queued while a dial is under way: it counts too.
    send(&mut r, id, bob, "four");
    let (session, mut commands) = fake_session(bob, 1, r.ctx.own, [1; 32]);
    r.handle(RouterInput::SessionUp(session));
    let ids: Vec<MessageId> = std::iter::from_fn(|| commands.try_recv().ok())
        .filter_map(|c| match c {
            SessionCommand::Send(m) => Some(m.id()),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 4);
    // Sent once it is back: not counted as queued.
    send(&mut r, id, bob, "five");
    r.handle(RouterInput::Acknowledged {
        peer: bob,
        ids: ids.clone(),
    });
    assert!(
        notices(&drain(&mut rx), bob).is_empty(),
        "five is not acknowledged yet"
    );
    let five = std::iter::from_fn(|| commands.try_recv().ok())
        .find_map(|c| match c {
            SessionCommand::Send(m) => Some(m.id()),
            _ => None,
        })
        .expect("five went out on the session");
    r.handle(RouterInput::Acknowledged {
        peer: bob,
        ids: vec![five],
    });
    assert_eq!(
        notices(&drain(&mut rx), bob),
        ["bob is back: the 4 queued messages were delivered"]
    );
}

#[tokio::test]
async fn the_offline_notice_says_when_our_side_cannot_look_the_peer_up() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    let carol = peer(3);
    send(&mut r, id, carol, "hello");
    r.handle(RouterInput::DialFailed {
        peer: carol,
        error: Unreached::of(&crate::peer::DialError::Directory(
            "DHT unreachable: no bootstrap node answered".into(),
        )),
    });
    let nick = carol.nick();
    assert_eq!(
        notices(&drain(&mut rx), carol),
        [format!(
            "cannot look {nick} up: our DHT connection is down (DHT unreachable: no bootstrap node answered); 1 message queued, will deliver once it is back and {nick} can be reached"
        )]
    );
    // Our DHT is back, and the peer has no record: now it is the peer's side.
    r.handle(RouterInput::DialFailed {
        peer: carol,
        error: Unreached::NoRecord,
    });
    assert_eq!(
        notices(&drain(&mut rx), carol),
        [format!(
            "{nick} is offline (no address in the DHT); 1 message queued, will deliver when {nick} is back"
        )]
    );
    // Once back with one message: singular.
    let (session, mut commands) = fake_session(carol, 1, r.ctx.own, [1; 32]);
    r.handle(RouterInput::SessionUp(session));
    let ids: Vec<MessageId> = std::iter::from_fn(|| commands.try_recv().ok())
        .filter_map(|c| match c {
            SessionCommand::Send(m) => Some(m.id()),
            _ => None,
        })
        .collect();
    r.handle(RouterInput::Acknowledged { peer: carol, ids });
    assert_eq!(
        notices(&drain(&mut rx), carol),
        [format!("{nick} is back: 1 queued message was delivered")]
    );
}

#[tokio::test]
async fn a_real_dial_of_a_peer_without_a_record_blames_the_peer_not_us() {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, mut inputs) = super::tests::context_with_inputs();
    let limits = crate::config::StoreConfig::default();
    let mut r = Router::with_store(ctx, Store::open(dir.path()).unwrap(), limits);
    let (id, mut rx) = attach(&mut r);
    let dora = peer(6);
    send(&mut r, id, dora, "anyone?");
    // The dial runs in a task (the memory directory has no record for dora) and reports
    // through the hub's inputs.
    let failed = next_input(
        &mut inputs,
        |i| matches!(i, RouterInput::DialFailed { .. }),
        "the dial fails",
    )
    .await;
    r.handle(failed);
    let nick = dora.nick();
    assert_eq!(
        notices(&drain(&mut rx), dora),
        [format!(
            "{nick} is offline (no address in the DHT); 1 message queued, will deliver when {nick} is back"
        )]
    );
}
