//! Issue 6 end to end, without IRC: two real gateways on a local mainline testnet, driven
//! through their hubs' front-end channels (what the IRC front end uses): contacts,
//! presence, away, echo, unknown senders held and accepted, and blocking at the handshake.

mod common;

use std::time::Duration;

use common::{WAIT, config, init_tracing, testnet};
use disims::daemon::{Gateway, Options};
use disims::message::{
    ControlTarget, FrontendEvent, FrontendId, FrontendRequest, MessageKind, Presence,
};
use disims::peer::SessionTimers;
use disims::router::{RouterHandle, RouterInput};
use tokio::sync::mpsc;

/// Quick probes and retries, so that presence follows within the test's patience.
async fn start(dir: &std::path::Path, net: &mainline::Testnet) -> Gateway {
    init_tracing();
    let timers = SessionTimers {
        retry: Duration::from_millis(200),
        probe: Duration::from_millis(200),
        ..SessionTimers::default()
    };
    let options = Options {
        timers,
        ..Options::default()
    };
    Gateway::start(config(dir, net), options)
        .await
        .expect("gateway starts")
}

/// An attached front end.
struct Front {
    router: RouterHandle,
    id: FrontendId,
    events: mpsc::Receiver<FrontendEvent>,
    seen: Vec<FrontendEvent>,
}

impl Front {
    async fn attach(gateway: &Gateway) -> Front {
        let router = gateway.router();
        let (id, events) = router.attach().await.expect("attached");
        Front {
            router,
            id,
            events,
            seen: Vec::new(),
        }
    }

    fn request(&self, request: FrontendRequest) {
        self.router.dispatch(RouterInput::Request {
            from: self.id,
            request,
        });
    }

    fn send(&self, to: disims::identity::PeerId, text: &str) {
        self.request(FrontendRequest::Send {
            to,
            kind: MessageKind::Text,
            text: text.into(),
        });
    }

    /// Waits for an event that matches; panics after [`WAIT`], listing what came.
    async fn expect(&mut self, pred: impl Fn(&FrontendEvent) -> bool) -> FrontendEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => {
                    self.seen.push(event.clone());
                    if pred(&event) {
                        return event;
                    }
                }
                Ok(None) => panic!("detached; seen: {:#?}", self.seen),
                Err(_) => panic!("no matching event; seen: {:#?}", self.seen),
            }
        }
    }

    /// Runs a command and returns its reply.
    async fn control(&mut self, line: &str) -> Vec<String> {
        self.request(FrontendRequest::Control {
            line: line.into(),
            reply: ControlTarget::Channel,
        });
        match self
            .expect(|e| matches!(e, FrontendEvent::ControlReply { .. }))
            .await
        {
            FrontendEvent::ControlReply { lines, .. } => lines,
            _ => unreachable!(),
        }
    }

    async fn published(&mut self) {
        self.expect(|e| matches!(e, FrontendEvent::ServerNotice { text } if text.contains("DHT: published")))
            .await;
    }

    fn received_texts(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                FrontendEvent::Received { message, .. } => Some(message.text.clone()),
                _ => None,
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_presence_away_and_echo() {
    let net = testnet(10).await;
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir.path().join("a"), &net).await;
    let b = start(&dir.path().join("b"), &net).await;
    let b_id = b.peer_id;
    let mut a1 = Front::attach(&a).await;
    let mut a2 = Front::attach(&a).await;
    let mut b1 = Front::attach(&b).await;
    a1.published().await;
    b1.published().await;

    // add: every front end gets the book; the contact is probed and comes online.
    let reply = a1.control(&format!("add {} bob", b_id.nick())).await;
    assert_eq!(reply, [format!("Added {} as bob", b_id.nick())]);
    a2.expect(
        |e| matches!(e, FrontendEvent::Contacts(book) if book.by_petname("bob") == Some(b_id)),
    )
    .await;
    a1.expect(|e| {
        *e == FrontendEvent::Presence {
            peer: b_id,
            presence: Presence::Online,
        }
    })
    .await;
    let reply = a1.control("rename bob robert").await;
    assert_eq!(reply, [format!("{} is now robert", b_id.nick())]);
    let reply = a1.control("contacts").await;
    assert!(
        reply[1].starts_with("robert (") && reply[1].ends_with(": online"),
        "{reply:?}"
    );
    let reply = a1.control("status").await;
    assert!(
        reply.iter().any(|l| l.starts_with("DHT: bootstrapped")),
        "{reply:?}"
    );
    assert!(reply.iter().any(|l| l == "Sessions: 1"), "{reply:?}");

    // Away travels to the peer, and back.
    b1.request(FrontendRequest::SetAway {
        reason: Some("lunch".into()),
    });
    b1.expect(|e| {
        *e == FrontendEvent::OwnAway {
            reason: Some("lunch".into()),
        }
    })
    .await;
    a1.expect(|e| {
        *e == FrontendEvent::PeerAway {
            peer: b_id,
            reason: Some("lunch".into()),
        }
    })
    .await;
    a1.request(FrontendRequest::PeerInfo { peer: b_id });
    match a1.expect(|e| matches!(e, FrontendEvent::PeerInfo(_))).await {
        FrontendEvent::PeerInfo(info) => {
            assert!(info.online);
            assert_eq!(info.away.as_deref(), Some("lunch"));
            assert!(info.address.is_some());
            assert!(info.session.is_some());
        }
        _ => unreachable!(),
    }
    b1.request(FrontendRequest::SetAway { reason: None });
    a1.expect(|e| {
        *e == FrontendEvent::PeerAway {
            peer: b_id,
            reason: None,
        }
    })
    .await;

    // Echo: the other front end sees what a1 sent, with its origin.
    a1.send(b_id, "hello robert");
    let a1_id = a1.id;
    a2.expect(|e| matches!(e, FrontendEvent::Sent { to, message, origin } if *to == b_id && message.text == "hello robert" && *origin == a1_id))
        .await;
    b1.expect(
        |e| matches!(e, FrontendEvent::Received { message, .. } if message.text == "hello robert"),
    )
    .await;

    // The peer stops: offline.
    tokio::time::timeout(WAIT, b.shutdown())
        .await
        .expect("b stops");
    a1.expect(|e| {
        *e == FrontendEvent::Presence {
            peer: b_id,
            presence: Presence::Offline,
        }
    })
    .await;
    tokio::time::timeout(WAIT, a.shutdown())
        .await
        .expect("a stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_senders_are_held_until_accepted_and_blocked_peers_are_refused() {
    let net = testnet(10).await;
    let dir = tempfile::tempdir().unwrap();
    let a = start(&dir.path().join("a"), &net).await;
    let b = start(&dir.path().join("b"), &net).await;
    let (a_id, b_id) = (a.peer_id, b.peer_id);
    let mut a1 = Front::attach(&a).await;
    let mut b1 = Front::attach(&b).await;
    a1.published().await;
    b1.published().await;

    assert_eq!(
        a1.control("set unknown ask").await,
        ["unknown = ask (saved)"]
    );
    for text in ["one", "two", "three"] {
        b1.send(a_id, text);
    }
    a1.expect(|e| matches!(e, FrontendEvent::ControlAnnounce { text } if text.contains(&format!("accept {}", b_id.nick()))))
        .await;
    // Delivered (acknowledged) though held: b's outbox empties.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = b1.control("status").await;
        if reply.iter().any(|l| l == "Outbox: 0 messages waiting") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{reply:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(a1.received_texts().is_empty(), "held: {:#?}", a1.seen);

    let reply = a1.control(&format!("accept {}", b_id.nick())).await;
    assert!(reply[0].starts_with("Accepted"), "{reply:?}");
    let start = a1
        .seen
        .iter()
        .position(|e| *e == FrontendEvent::PlaybackStart);
    let end = a1
        .seen
        .iter()
        .position(|e| *e == FrontendEvent::PlaybackEnd);
    assert!(start.is_some() && start < end, "{:#?}", a1.seen);
    assert_eq!(a1.received_texts(), ["one", "two", "three"]);

    // Block: the session ends, b's next dial is refused at the handshake, nothing arrives.
    let reply = a1.control(&format!("block {}", b_id.nick())).await;
    assert!(reply[0].starts_with("Blocked"), "{reply:?}");
    b1.send(a_id, "let me in");
    b1.expect(|e| matches!(e, FrontendEvent::PeerNotice { peer, text } if *peer == a_id && text.contains("queued")))
        .await;
    // It keeps failing (with backoff) while a stays up; a never shows the message.
    let reply = b1.control("status").await;
    assert!(
        reply.iter().any(|l| l == "Outbox: 1 message waiting"),
        "{reply:?}"
    );
    while let Ok(event) = a1.events.try_recv() {
        a1.seen.push(event);
    }
    assert_eq!(a1.received_texts(), ["one", "two", "three"]);
    let reply = a1.control("contacts").await;
    assert!(reply[1].contains(": blocked"), "{reply:?}");

    // Unblocked: the queued message comes through.
    a1.control(&format!("unblock {}", b_id.nick())).await;
    a1.expect(
        |e| matches!(e, FrontendEvent::Received { message, .. } if message.text == "let me in"),
    )
    .await;
    tokio::time::timeout(WAIT, async { tokio::join!(a.shutdown(), b.shutdown()) })
        .await
        .expect("gateways stop");
}
