//! Tests of the hub's issue-6 side: service commands, the contact book and its
//! persistence, unknown senders, blocking, echo, the attach sequence and away.
use super::tests::{context, stored_router as open};
use super::*;
use crate::message::{ChatMessage, ControlTarget, MessageKind};
use ed25519_dalek::SigningKey;

pub(super) fn peer(n: u8) -> PeerId {
    PeerId::of(&SigningKey::from_bytes(&[n + 10; 32]))
}

pub(super) fn chat(n: u8) -> ChatMessage {
    ChatMessage {
        id: MessageId([n; 16]),
        kind: MessageKind::Text,
        text: format!("m{n}"),
        sent_at_ms: 1_000 + u64::from(n),
    }
}

pub(super) fn attach(r: &mut Router) -> (FrontendId, mpsc::Receiver<FrontendEvent>) {
    let (events, rx) = mpsc::channel(FRONTEND_QUEUE);
    let (reply, mut id) = oneshot::channel();
    r.handle(RouterInput::Attach { events, reply });
    (id.try_recv().unwrap(), rx)
}

pub(super) fn drain(rx: &mut mpsc::Receiver<FrontendEvent>) -> Vec<FrontendEvent> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

/// Runs a command as front end `from` and returns the reply's lines.
pub(super) fn run(
    r: &mut Router,
    from: FrontendId,
    rx: &mut mpsc::Receiver<FrontendEvent>,
    line: &str,
) -> Vec<String> {
    drain(rx);
    r.handle(RouterInput::Request {
        from,
        request: FrontendRequest::Control {
            line: line.into(),
            reply: ControlTarget::Query,
        },
    });
    drain(rx)
        .into_iter()
        .find_map(|e| match e {
            FrontendEvent::ControlReply { lines, target } => {
                assert_eq!(target, ControlTarget::Query);
                Some(lines)
            }
            _ => None,
        })
        .expect("a reply")
}

pub(super) fn texts(events: &[FrontendEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            FrontendEvent::Received { message, .. } => Some(message.text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn contacts_are_added_renamed_removed_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let bob = peer(2);
    {
        let mut r = open(dir.path());
        let (id, mut rx) = attach(&mut r);
        let (_other, mut other_rx) = attach(&mut r);
        let reply = run(&mut r, id, &mut rx, &format!("add {} Bob", bob.nick()));
        assert_eq!(reply, [format!("Added {} as Bob", bob.nick())]);
        // Every front end gets the new book.
        let book = drain(&mut other_rx)
            .into_iter()
            .filter_map(|e| match e {
                FrontendEvent::Contacts(book) => Some(book),
                _ => None,
            })
            .last()
            .expect("the book");
        assert_eq!(book.by_petname("bob"), Some(bob));
        // Collisions and invalid names are refused.
        let carol = peer(3);
        let reply = run(&mut r, id, &mut rx, &format!("add {} bob", carol.nick()));
        assert!(reply[0].contains("already the petname"), "{reply:?}");
        let reply = run(&mut r, id, &mut rx, "rename bob 9lives");
        assert!(reply[0].contains("not a valid nick"), "{reply:?}");
        let reply = run(&mut r, id, &mut rx, "rename bob disims");
        assert!(reply[0].contains("reserved"), "{reply:?}");
        let reply = run(&mut r, id, &mut rx, "rename carol x");
        assert!(reply[0].contains("neither a contact"), "{reply:?}");
        // The key in hex works too.
        let hexkey = crate::control::hex(carol.as_bytes());
        run(&mut r, id, &mut rx, &format!("add {hexkey} carol"));
        let reply = run(&mut r, id, &mut rx, "rename BOB robert");
        assert_eq!(reply, [format!("{} is now robert", bob.nick())]);
        let reply = run(&mut r, id, &mut rx, "contacts");
        assert_eq!(reply[0], "2 contacts:");
        assert!(reply[1].starts_with("carol ("), "{reply:?}");
        assert!(reply[2].starts_with("robert (") && reply[2].contains("offline"));
        let reply = run(&mut r, id, &mut rx, "remove carol");
        assert!(reply[0].starts_with("Removed"), "{reply:?}");
        let reply = run(&mut r, id, &mut rx, "frobnicate");
        assert!(reply[0].contains("help"), "{reply:?}");
    }
    // Restart: the book is loaded, and a new front end gets it first.
    let mut r = open(dir.path());
    let (_, mut rx) = attach(&mut r);
    let events = drain(&mut rx);
    match &events[0] {
        FrontendEvent::Contacts(book) => {
            assert_eq!(book.len(), 1);
            assert_eq!(book.by_petname("Robert"), Some(bob));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        events[1],
        FrontendEvent::Presence {
            peer: bob,
            presence: Presence::Offline
        }
    );
}

#[tokio::test]
async fn a_peer_added_while_connected_shows_online_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    let bob = peer(2);
    let (commands, _session) = mpsc::unbounded_channel();
    r.handle(RouterInput::SessionUp(SessionHandle {
        peer: bob,
        conn_id: 1,
        initiator: bob,
        session_id: [0; 32],
        commands,
        remote: None,
        via: None,
        started_ms: now_ms(),
        activity: Default::default(),
    }));
    drain(&mut rx);
    // Not a contact: its session said nothing about presence. Added: the new book, then
    // its presence, so that a client can voice it in &disims right away.
    r.handle(RouterInput::Request {
        from: id,
        request: FrontendRequest::Control {
            line: format!("add {} bob", bob.nick()),
            reply: ControlTarget::Query,
        },
    });
    let events = drain(&mut rx);
    let book = events
        .iter()
        .position(|e| matches!(e, FrontendEvent::Contacts(_)))
        .expect("the new book");
    let online = FrontendEvent::Presence {
        peer: bob,
        presence: Presence::Online,
    };
    let presence = events.iter().position(|e| *e == online);
    assert!(presence.is_some_and(|p| p > book), "{events:?}");
}

#[tokio::test]
async fn unknown_senders_are_held_then_accepted_in_order_or_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, eve) = (peer(4), peer(5));
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    assert_eq!(
        run(&mut r, id, &mut rx, "set unknown ask"),
        ["unknown = ask (saved)"]
    );
    assert!(r.receive(alice, vec![chat(1), chat(2)]));
    assert!(r.receive(alice, vec![chat(3)]));
    assert!(r.receive(eve, vec![chat(9)]));
    let events = drain(&mut rx);
    assert!(texts(&events).is_empty(), "held, not shown: {events:?}");
    let announces: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            FrontendEvent::ControlAnnounce { text } => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(announces.len(), 2, "once per sender: {announces:?}");
    assert!(announces[0].contains(&format!("accept {}", alice.nick())));
    // Accept: the held messages come, in order, played back between markers, once.
    drain(&mut rx);
    r.handle(RouterInput::Request {
        from: id,
        request: FrontendRequest::Control {
            line: format!("accept {}", alice.nick()),
            reply: ControlTarget::Channel,
        },
    });
    let events = drain(&mut rx);
    assert_eq!(texts(&events), ["m1", "m2", "m3"]);
    let start = events
        .iter()
        .position(|e| *e == FrontendEvent::PlaybackStart)
        .unwrap();
    let end = events
        .iter()
        .position(|e| *e == FrontendEvent::PlaybackEnd)
        .unwrap();
    assert!(start < end);
    assert!(events[start + 1..end].iter().all(|e| matches!(
        e,
        FrontendEvent::Received {
            played_back: true,
            ..
        }
    )));
    assert!(r.book.get(&alice).is_some(), "accepted: a contact now");
    // Alice's next message is shown at once.
    assert!(r.receive(alice, vec![chat(4)]));
    assert_eq!(texts(&drain(&mut rx)), ["m4"]);
    // Reject: Eve's are deleted, never shown.
    let reply = run(&mut r, id, &mut rx, &format!("reject {}", eve.nick()));
    assert!(reply[0].starts_with("Deleted 1"), "{reply:?}");
    let (_, mut later) = attach(&mut r);
    assert!(texts(&drain(&mut later)).is_empty());
    // The setting survives a restart.
    drop(r);
    let r = open(dir.path());
    assert_eq!(r.settings.unknown, UnknownSenders::Ask);
}

#[tokio::test]
async fn drop_mode_discards_and_accept_mode_announces_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    assert!(r.receive(peer(6), vec![chat(1)]));
    assert!(r.receive(peer(6), vec![chat(2)]));
    let events = drain(&mut rx);
    let announces = events
        .iter()
        .filter(|e| matches!(e, FrontendEvent::ControlAnnounce { .. }))
        .count();
    assert_eq!(announces, 1);
    assert_eq!(texts(&events), ["m1", "m2"]);
    run(&mut r, id, &mut rx, "set unknown drop");
    assert!(r.receive(peer(7), vec![chat(3)]), "acknowledged");
    assert!(drain(&mut rx).is_empty(), "silently");
    // A restart does not announce peer(6) again.
    drop(r);
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    run(&mut r, id, &mut rx, "set unknown accept");
    assert!(r.receive(peer(6), vec![chat(4)]));
    assert!(
        !drain(&mut rx)
            .iter()
            .any(|e| matches!(e, FrontendEvent::ControlAnnounce { .. }))
    );
}

#[tokio::test]
async fn sends_are_echoed_to_every_front_end_with_their_origin() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (a, mut a_rx) = attach(&mut r);
    let (_b, mut b_rx) = attach(&mut r);
    drain(&mut a_rx);
    drain(&mut b_rx);
    r.handle(RouterInput::Request {
        from: a,
        request: FrontendRequest::Send {
            to: peer(2),
            kind: MessageKind::Action,
            text: "waves".into(),
        },
    });
    // Echoes follow the commit, which the front end asks for after its requests.
    assert!(r.store.as_ref().unwrap().has_open_write());
    assert!(
        !drain(&mut a_rx)
            .iter()
            .any(|e| matches!(e, FrontendEvent::Sent { .. })),
        "no echo before the commit"
    );
    r.settle();
    assert!(!r.store.as_ref().unwrap().has_open_write());
    for rx in [&mut a_rx, &mut b_rx] {
        let sent = drain(rx)
            .into_iter()
            .find_map(|e| match e {
                FrontendEvent::Sent {
                    to,
                    message,
                    origin,
                } => Some((to, message, origin)),
                _ => None,
            })
            .expect("echo");
        assert_eq!(
            (sent.0, sent.1.text.as_str(), sent.2),
            (peer(2), "waves", a)
        );
    }
}

#[tokio::test]
async fn front_ends_that_show_no_echoes_get_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (a, mut a_rx) = attach(&mut r);
    let (b, mut b_rx) = attach(&mut r);
    let echoes = |rx: &mut mpsc::Receiver<FrontendEvent>| {
        drain(rx)
            .iter()
            .filter(|e| matches!(e, FrontendEvent::Sent { .. }))
            .count()
    };
    let send = |r: &mut Router, text: &str| {
        let request = FrontendRequest::Send {
            to: peer(2),
            kind: MessageKind::Text,
            text: text.into(),
        };
        r.handle(RouterInput::Request { from: a, request });
        r.settle();
    };
    r.handle(RouterInput::Request {
        from: b,
        request: FrontendRequest::Echoes(false),
    });
    send(&mut r, "one");
    assert_eq!((echoes(&mut a_rx), echoes(&mut b_rx)), (1, 0));
    // Nobody shows them: none are even made.
    r.handle(RouterInput::Request {
        from: a,
        request: FrontendRequest::Echoes(false),
    });
    assert!(!r.wants_echoes());
    send(&mut r, "two");
    assert_eq!((echoes(&mut a_rx), echoes(&mut b_rx)), (0, 0));
    r.handle(RouterInput::Request {
        from: b,
        request: FrontendRequest::Echoes(true),
    });
    send(&mut r, "three");
    assert_eq!((echoes(&mut a_rx), echoes(&mut b_rx)), (0, 1));
}

#[tokio::test]
async fn a_burst_of_requests_is_handled_in_order_and_its_sends_reach_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (a, mut rx) = attach(&mut r);
    drain(&mut rx);
    let send = |to: PeerId, text: &str| FrontendRequest::Send {
        to,
        kind: MessageKind::Text,
        text: text.into(),
    };
    r.handle(RouterInput::Requests {
        from: a,
        requests: vec![
            send(peer(2), "a1"),
            send(peer(3), "b1"),
            FrontendRequest::SetAway {
                reason: Some("lunch".into()),
            },
            send(peer(2), "a2"),
            send(peer(2), &"x".repeat(crate::peer::wire::MAX_TEXT + 1)),
        ],
    });
    r.settle();
    // The events come in the order of the requests: the echoes of the first two sends,
    // then the away; then the third echo and the refusal of the overlong one (refusals are
    // immediate, echoes follow the commit of their run of sends).
    let order: Vec<String> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            FrontendEvent::Sent { message, .. } => Some(message.text),
            FrontendEvent::OwnAway { reason } => reason,
            FrontendEvent::PeerNotice { text, .. } => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(order[..3], ["a1", "b1", "lunch"], "{order:?}");
    assert_eq!(order.len(), 5, "{order:?}");
    assert!(order.contains(&"a2".to_string()), "{order:?}");
    assert!(order.iter().any(|t| t.contains("longer than")), "{order:?}");
    let mut texts = |p: PeerId| -> Vec<String> {
        let store = r.store.as_mut().unwrap();
        store
            .outbox(&p)
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect()
    };
    assert_eq!(texts(peer(2)), ["a1", "a2"]);
    assert_eq!(texts(peer(3)), ["b1"]);
}

#[tokio::test]
async fn away_watch_peer_info_and_the_attach_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (a, mut a_rx) = attach(&mut r);
    r.handle(RouterInput::Request {
        from: a,
        request: FrontendRequest::SetAway {
            reason: Some("lunch\r\n".into()),
        },
    });
    assert!(drain(&mut a_rx).contains(&FrontendEvent::OwnAway {
        reason: Some("lunch  ".into())
    }));
    r.handle(RouterInput::Request {
        from: a,
        request: FrontendRequest::Watch {
            peers: vec![peer(3)],
        },
    });
    assert_eq!(
        drain(&mut a_rx),
        [FrontendEvent::Presence {
            peer: peer(3),
            presence: Presence::Offline
        }]
    );
    r.handle(RouterInput::Request {
        from: a,
        request: FrontendRequest::PeerInfo { peer: peer(3) },
    });
    match drain(&mut a_rx).pop() {
        Some(FrontendEvent::PeerInfo(info)) => {
            assert_eq!(info.peer, Some(peer(3)));
            assert!(!info.online);
            assert_eq!(info.queued, 0);
        }
        other => panic!("{other:?}"),
    }
    // A second front end: book, the watched peer's presence, the user's away state.
    let (_b, mut b_rx) = attach(&mut r);
    let events = drain(&mut b_rx);
    assert!(matches!(events[0], FrontendEvent::Contacts(_)));
    assert_eq!(
        events[1],
        FrontendEvent::Presence {
            peer: peer(3),
            presence: Presence::Offline
        }
    );
    assert_eq!(
        events[2],
        FrontendEvent::OwnAway {
            reason: Some("lunch  ".into())
        }
    );
    // Detaching drops the watches.
    r.handle(RouterInput::Detach(a));
    assert!(!r.is_watched(&peer(3)));
}

#[tokio::test]
async fn remembered_senders_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let senders = super::contacts::MAX_SENDERS + 1;
    for n in 0..senders as u64 {
        let mut seed = [9u8; 32];
        seed[..8].copy_from_slice(&n.to_be_bytes());
        let sender = PeerId::of(&SigningKey::from_bytes(&seed));
        assert!(r.receive(sender, vec![chat(1)]));
    }
    assert!(r.senders.len() <= super::contacts::MAX_SENDERS);
    let stored = r.store.as_ref().unwrap().senders().unwrap().len();
    assert_eq!(stored, r.senders.len());
    assert!(stored > super::contacts::MAX_SENDERS / 2, "{stored}");
}

#[tokio::test]
async fn held_messages_are_bounded_per_sender() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = open(dir.path());
    let (id, mut rx) = attach(&mut r);
    run(&mut r, id, &mut rx, "set unknown ask");
    let eve = peer(9);
    let message = |n: u64| {
        let mut id = [0u8; 16];
        id[8..].copy_from_slice(&n.to_be_bytes());
        ChatMessage {
            id: MessageId(id),
            kind: MessageKind::Text,
            text: format!("h{n}"),
            sent_at_ms: n,
        }
    };
    let cap = super::contacts::MAX_HELD_PER_SENDER as u64;
    for frame in 0..(cap / 100 + 2) {
        let messages = (frame * 100..frame * 100 + 100).map(message).collect();
        assert!(r.receive(eve, messages), "acknowledged, kept or not");
    }
    assert_eq!(r.held_count(&eve), cap as usize);
    let full: Vec<String> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            FrontendEvent::ControlAnnounce { text } if text.contains("too many held") => Some(text),
            _ => None,
        })
        .collect();
    assert_eq!(full.len(), 1, "told once: {full:?}");
    // Accepting shows the first ones, in order.
    r.handle(RouterInput::Request {
        from: id,
        request: FrontendRequest::Control {
            line: format!("accept {}", eve.nick()),
            reply: ControlTarget::Query,
        },
    });
    let shown: Vec<String> = drain(&mut rx)
        .into_iter()
        .filter_map(|e| match e {
            FrontendEvent::Received { message, .. } => Some(message.text),
            _ => None,
        })
        .collect();
    assert_eq!(shown.len(), cap as usize);
    assert_eq!(shown[0], "h0");
    assert_eq!(shown[shown.len() - 1], format!("h{}", cap - 1));
}

#[tokio::test]
async fn saved_settings_that_only_fit_together_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig {
        expire_after: std::time::Duration::from_secs(3600),
        history: std::time::Duration::from_secs(86_400),

        ..StoreConfig::default()
    };
    let start = || {
        let settings = crate::control::Settings::new(UnknownSenders::Accept, &config);
        Router::open(context(), Store::open(dir.path()).unwrap(), settings)
    };
    {
        let mut r = start();
        let (id, mut rx) = attach(&mut r);
        run(&mut r, id, &mut rx, "set history_days 100");
        // 1000 hours fits only beside the saved 100 days, not the configured one day.
        let reply = run(&mut r, id, &mut rx, "set expire_after_hours 1000");
        assert_eq!(reply, ["expire_after_hours = 1000 (saved)"]);
    }
    let mut r = start();
    let (id, mut rx) = attach(&mut r);
    let listed = run(&mut r, id, &mut rx, "set");
    assert!(
        listed.contains(&"expire_after_hours = 1000".to_string()),
        "{listed:?}"
    );
}
