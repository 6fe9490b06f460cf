//! Tests of the hub: backlog and playback, deduplication, clock clamping, bounds.
use super::*;
use crate::directory::memory::{MemoryDirectory, SharedRecords};
use crate::message::{ChatMessage, MessageKind};
use crate::peer::SessionTimers;
use crate::store::Durability;
use ed25519_dalek::SigningKey;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn router() -> Router {
    Router::new(context())
}

pub(super) fn stored_router(dir: &std::path::Path) -> Router {
    Router::with_store(context(), Store::open(dir).unwrap(), StoreConfig::default())
}

pub(super) fn context() -> PeerContext {
    context_with_inputs().0
}

/// A context whose hub inputs (timers the hub schedules for itself) come out of the channel.
pub(super) fn context_with_inputs() -> (PeerContext, mpsc::UnboundedReceiver<RouterInput>) {
    keyed_context(1)
}

/// [`context_with_inputs`] for the key of seed `[seed; 32]`.
pub(super) fn keyed_context(seed: u8) -> (PeerContext, mpsc::UnboundedReceiver<RouterInput>) {
    let key = Arc::new(SigningKey::from_bytes(&[seed; 32]));
    let directory = Arc::new(MemoryDirectory::new(&key, SharedRecords::default()));
    let (handle, inputs) = channel();
    let ctx = PeerContext::new(
        key,
        directory,
        handle,
        SessionTimers::default(),
        CancellationToken::new(),
        TaskTracker::new(),
    );
    (ctx, inputs)
}

fn peer(n: u32) -> PeerId {
    let mut seed = [7u8; 32];
    seed[..4].copy_from_slice(&n.to_be_bytes());
    PeerId::of(&SigningKey::from_bytes(&seed))
}

/// The hub's next input that `wanted` picks, skipping the others; panics after 10 s
/// (`what` says what was awaited) or when the inputs close.
pub(super) async fn next_input(
    inputs: &mut mpsc::UnboundedReceiver<RouterInput>,
    wanted: impl Fn(&RouterInput) -> bool,
    what: &str,
) -> RouterInput {
    let found = async {
        loop {
            match inputs.recv().await {
                Some(input) if wanted(&input) => return input,
                Some(_) => {}
                None => panic!("the inputs closed: {what}"),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), found)
        .await
        .unwrap_or_else(|_| panic!("not in time: {what}"))
}

pub(super) fn chat(n: u32, sent_at_ms: u64) -> ChatMessage {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_be_bytes());
    ChatMessage {
        id: MessageId(id),
        kind: MessageKind::Text,
        text: format!("m{n}"),
        sent_at_ms,
    }
}

fn attach(router: &mut Router) -> mpsc::Receiver<FrontendEvent> {
    let (events, rx) = mpsc::channel(FRONTEND_QUEUE);
    let (reply, _id) = oneshot::channel();
    router.handle(RouterInput::Attach { events, reply });
    rx
}

fn received(rx: &mut mpsc::Receiver<FrontendEvent>) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    while let Ok(event) = rx.try_recv() {
        if let FrontendEvent::Received { message, .. } = event {
            out.push(message);
        }
    }
    out
}

#[tokio::test]
async fn a_full_backlog_is_replayed_whole_to_the_first_client() {
    let mut r = router();
    let from = peer(1);
    for n in 0..BACKLOG_LIMIT as u32 {
        r.handle(RouterInput::Received {
            peer: from,
            messages: vec![chat(n, 1).into()],
        });
    }
    let mut rx = attach(&mut r);
    let got = received(&mut rx);
    assert_eq!(got.len(), BACKLOG_LIMIT);
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, m)| m.text == format!("m{i}"))
    );
    assert_eq!(
        r.frontends.len(),
        1,
        "the client was not dropped as too slow"
    );
}

#[tokio::test]
async fn duplicates_are_shown_once_and_future_times_are_clamped() {
    let mut r = router();
    let mut rx = attach(&mut r);
    let far_future = now_ms() + 10 * 24 * 3600 * 1000;
    r.handle(RouterInput::Received {
        peer: peer(1),
        messages: vec![chat(1, far_future).into()],
    });
    r.handle(RouterInput::Received {
        peer: peer(1),
        messages: vec![chat(1, far_future).into()],
    });
    r.handle(RouterInput::Received {
        peer: peer(1),
        messages: vec![chat(2, 1_000).into()],
    });
    let got = received(&mut rx);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].sent_at_ms <= now_ms(),
        "a future time becomes the receive time"
    );
    assert_eq!(
        got[1].sent_at_ms, 1_000,
        "a past time is kept (the message may have waited)"
    );
}

#[tokio::test]
async fn per_peer_state_stays_bounded() {
    let mut r = router();
    let _rx = attach(&mut r);
    for n in 0..(MAX_PEER_STATES as u32 + 500) {
        r.handle(RouterInput::Received {
            peer: peer(n),
            messages: vec![chat(n, 1).into()],
        });
    }
    assert!(r.peers.len() <= MAX_PEER_STATES, "{}", r.peers.len());
}

#[tokio::test]
async fn an_event_refused_by_the_last_client_is_kept_for_the_next() {
    let mut r = router();
    // Room for the contact book every client gets first, the announcement of the new
    // sender, and one message.
    let (events, rx) = mpsc::channel(3);
    let (reply, _id) = oneshot::channel();
    r.handle(RouterInput::Attach { events, reply });
    r.handle(RouterInput::Received {
        peer: peer(1),
        messages: vec![chat(1, 1).into()],
    });
    // The queue is full now: the next event drops this client, and is kept.
    r.handle(RouterInput::Received {
        peer: peer(1),
        messages: vec![chat(2, 1).into()],
    });
    assert!(r.frontends.is_empty());
    drop(rx);
    let mut next = attach(&mut r);
    assert_eq!(received(&mut next), vec![chat(2, 1)]);
}

#[tokio::test]
async fn stored_messages_wait_for_a_client_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut r = stored_router(dir.path());
        assert!(r.receive(peer(1), (0..5).map(|n| chat(n, 1)).collect()));
        // Only the announcement of a new sender is kept in memory: the store holds them.
        assert!(
            r.backlog
                .iter()
                .all(|e| matches!(e, FrontendEvent::ControlAnnounce { .. })),
            "{:?}",
            r.backlog
        );
    }
    // The gateway restarts; a client attaches and sees all five, in order, once.
    let mut r = stored_router(dir.path());
    // A resend after the restart (the ack was lost) is not shown again.
    assert!(r.receive(peer(1), vec![chat(2, 1)]));
    let mut rx = attach(&mut r);
    let got: Vec<_> = received(&mut rx).into_iter().map(|m| m.text).collect();
    assert_eq!(got, ["m0", "m1", "m2", "m3", "m4"]);
    // Shown now: the next client does not get them again.
    let mut again = attach(&mut r);
    assert!(received(&mut again).is_empty());
}

#[tokio::test]
async fn received_messages_show_before_their_commit_and_are_durable_only_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = stored_router(dir.path());
    let mut rx = attach(&mut r);
    let super::Receipt::Pending(ticket) = r.receive_open(peer(1), vec![chat(1, 1)]) else {
        panic!("a stored router leaves the write open");
    };
    // Shown at once; not durable (so not to be acknowledged) until the commit.
    assert_eq!(received(&mut rx), vec![chat(1, 1)]);
    let durability = |r: &Router| r.store.as_ref().unwrap().durability(ticket);
    assert_eq!(durability(&r), Durability::Open);
    // Whatever the hub handles next commits it first.
    r.handle(RouterInput::FlushAcks);
    assert_eq!(durability(&r), Durability::Durable);
    // A resend is recognised and neither shown again nor left open.
    let again = r.receive_open(peer(1), vec![chat(1, 1)]);
    assert!(received(&mut rx).is_empty());
    r.settle();
    let super::Receipt::Pending(again) = again else {
        panic!("{again:?}")
    };
    assert_eq!(
        r.store.as_ref().unwrap().durability(again),
        Durability::Durable
    );
}

#[tokio::test]
async fn messages_shown_live_are_not_played_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = stored_router(dir.path());
    let mut rx = attach(&mut r);
    assert!(r.receive(peer(1), vec![chat(1, 1), chat(2, 1)]));
    assert_eq!(received(&mut rx).len(), 2);
    drop(rx);
    let mut later = attach(&mut r);
    assert!(received(&mut later).is_empty());
}

/// A session for `peer` whose commands the test reads.
pub(super) fn fake_session(
    peer: PeerId,
    conn_id: u64,
    initiator: PeerId,
    session_id: [u8; 32],
) -> (SessionHandle, mpsc::UnboundedReceiver<SessionCommand>) {
    let (commands, rx) = mpsc::unbounded_channel();
    let handle = SessionHandle {
        peer,
        conn_id,
        initiator,
        session_id,
        commands,
        remote: None,
        via: None,
        started_ms: 0,
        activity: Default::default(),
    };
    (handle, rx)
}

fn sent_texts(rx: &mut mpsc::UnboundedReceiver<SessionCommand>) -> Vec<String> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|c| match c {
            SessionCommand::Send(crate::message::PeerMessage::Chat(m)) => Some(m.text),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_duplicate_session_handover_keeps_the_order() {
    let mut r = router();
    let bob = peer(1);
    let send = |r: &mut Router, text: &str| {
        r.handle(RouterInput::Request {
            from: 0,
            request: FrontendRequest::Send {
                to: bob,
                kind: MessageKind::Text,
                text: text.into(),
            },
        })
    };
    // Our session with bob carries m1 and m2, unacknowledged.
    let own = r.ctx.own;
    let (first, mut first_rx) = fake_session(bob, 1, own, [1; 32]);
    r.handle(RouterInput::SessionUp(first));
    send(&mut r, "m1");
    send(&mut r, "m2");
    assert_eq!(sent_texts(&mut first_rx), ["m1", "m2"]);
    // A second session comes up that wins the tie-break (the smaller initiator key, then
    // the smaller transcript hash), so the first one is retired.
    let winner = bob.min(own);
    let (second, mut second_rx) = fake_session(bob, 2, winner, [0; 32]);
    r.handle(RouterInput::SessionUp(second));
    assert!(
        std::iter::from_fn(|| first_rx.try_recv().ok())
            .any(|c| matches!(c, SessionCommand::Retire))
    );
    // m3 waits until the retired session has handed back m1 and m2...
    send(&mut r, "m3");
    assert!(sent_texts(&mut second_rx).is_empty());
    r.handle(RouterInput::SessionEnded {
        peer: bob,
        conn_id: 1,
        unsent: vec![chat(1, 1).into(), chat(2, 2).into()],
        error: None,
    });
    // ...and all three go out on the kept session, in order.
    assert_eq!(sent_texts(&mut second_rx), ["m1", "m2", "m3"]);
}

/// The direct upgrade: a direct session wins over a relayed one whatever the keys and
/// hashes, whichever comes up first, and the conversation moves over in order.
#[tokio::test]
async fn a_direct_session_replaces_a_relayed_one() {
    let mut r = router();
    let bob = peer(1);
    let own = r.ctx.own;
    let relay = peer(9);
    // The relayed session would win every other tie-break: smallest key, smallest hash.
    let (mut relayed, mut relayed_rx) = fake_session(bob, 1, bob.min(own), [0; 32]);
    relayed.via = Some(relay);
    r.handle(RouterInput::SessionUp(relayed));
    send(&mut r, bob, "m1");
    assert_eq!(sent_texts(&mut relayed_rx), ["m1"]);
    let (direct, mut direct_rx) = fake_session(bob, 2, bob.max(own), [0xff; 32]);
    r.handle(RouterInput::SessionUp(direct));
    let retired = std::iter::from_fn(|| relayed_rx.try_recv().ok())
        .any(|c| matches!(c, SessionCommand::Retire));
    assert!(retired, "the relayed session is retired");
    assert_eq!(r.peers[&bob].active.as_ref().map(|h| h.conn_id), Some(2));
    send(&mut r, bob, "m2");
    assert!(sent_texts(&mut direct_rx).is_empty(), "m2 waits for m1");
    r.handle(RouterInput::SessionEnded {
        peer: bob,
        conn_id: 1,
        unsent: vec![chat(1, 1).into()],
        error: None,
    });
    assert_eq!(sent_texts(&mut direct_rx), ["m1", "m2"]);
    // A relayed session coming up next to the direct one is the one retired.
    let (mut late, mut late_rx) = fake_session(bob, 3, bob.min(own), [0; 32]);
    late.via = Some(relay);
    r.handle(RouterInput::SessionUp(late));
    let retired =
        std::iter::from_fn(|| late_rx.try_recv().ok()).any(|c| matches!(c, SessionCommand::Retire));
    assert!(retired);
    assert_eq!(r.peers[&bob].active.as_ref().map(|h| h.conn_id), Some(2));
}

fn send(r: &mut Router, to: PeerId, text: &str) {
    r.handle(RouterInput::Request {
        from: 0,
        request: FrontendRequest::Send {
            to,
            kind: MessageKind::Text,
            text: text.into(),
        },
    });
}

#[tokio::test]
async fn a_peer_that_closes_right_after_the_handshake_is_retried_with_growing_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = stored_router(dir.path());
    let bob = peer(1);
    send(&mut r, bob, "m1");
    let mut delays = Vec::new();
    for conn_id in 1..=3 {
        let (mut session, _rx) = fake_session(bob, conn_id, bob, [conn_id as u8; 32]);
        session.started_ms = now_ms();
        r.handle(RouterInput::SessionUp(session));
        r.handle(RouterInput::SessionEnded {
            peer: bob,
            conn_id,
            unsent: vec![chat(1, 1).into()],
            error: None,
        });
        delays.push(r.peers[&bob].retry_delay.as_secs());
    }
    // As after failed dials (5 s, doubling): the handshakes in between reset nothing.
    assert_eq!(delays, [10, 20, 40]);
}

#[tokio::test]
async fn only_a_session_that_lasted_and_carried_acks_is_followed_by_an_immediate_redial() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = stored_router(dir.path());
    let bob = peer(1);
    send(&mut r, bob, "m1");
    let session = |r: &mut Router, conn_id: u64, lasted_ms: u64, ack: bool| {
        let (mut s, _rx) = fake_session(bob, conn_id, bob, [conn_id as u8; 32]);
        s.started_ms = now_ms() - lasted_ms;
        r.handle(RouterInput::SessionUp(s));
        if ack {
            r.handle(RouterInput::Acknowledged {
                peer: bob,
                ids: vec![],
            });
        }
        r.handle(RouterInput::SessionEnded {
            peer: bob,
            conn_id,
            unsent: vec![chat(1, 1).into()],
            error: None,
        });
        let state = &r.peers[&bob];
        (state.dialing, state.retry_delay.as_secs())
    };
    // Long but silent (the peer never acknowledges): backoff, doubling.
    assert_eq!(session(&mut r, 1, 31_000, false), (false, 10));
    assert_eq!(session(&mut r, 2, 31_000, false), (false, 20));
    // Short, with an ack: the backoff starts over, from its first step.
    assert_eq!(session(&mut r, 3, 1_000, true), (false, 10));
    // Lasted, with an ack: dialled again at once.
    assert_eq!(session(&mut r, 4, 31_000, true), (true, 0));
}

#[tokio::test]
async fn a_session_with_a_peer_blocked_meanwhile_is_retired_at_once() {
    let mut r = router();
    let mallory = peer(2);
    send(&mut r, mallory, "queued before the block");
    Arc::make_mut(&mut r.book).insert(crate::contacts::Contact {
        peer: mallory,
        petname: None,
        blocked: true,
        added_ms: 0,
        last_seen_ms: None,
    });
    let (session, mut rx) = fake_session(mallory, 1, mallory, [1; 32]);
    r.handle(RouterInput::SessionUp(session));
    let commands: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
    assert!(
        matches!(commands[..], [SessionCommand::Retire]),
        "{commands:?}"
    );
    assert!(r.peers[&mallory].active.is_none());
}

#[tokio::test]
async fn a_session_found_closing_hands_back_its_messages_before_newer_ones_go_out() {
    let mut r = router();
    let bob = peer(3);
    let own = r.ctx.own;
    let (first, first_rx) = fake_session(bob, 1, own, [1; 32]);
    r.handle(RouterInput::SessionUp(first));
    send(&mut r, bob, "m1");
    // The first session is closing (it reads no more commands): m2 cannot go there.
    drop(first_rx);
    send(&mut r, bob, "m2");
    let (second, mut second_rx) = fake_session(bob, 2, bob, [2; 32]);
    r.handle(RouterInput::SessionUp(second));
    send(&mut r, bob, "m3");
    assert!(sent_texts(&mut second_rx).is_empty());
    r.handle(RouterInput::SessionEnded {
        peer: bob,
        conn_id: 1,
        unsent: vec![chat(1, 1).into()],
        error: None,
    });
    assert_eq!(sent_texts(&mut second_rx), ["m1", "m2", "m3"]);
}

#[tokio::test]
async fn a_message_that_expires_in_flight_is_not_sent_again() {
    let dir = tempfile::tempdir().unwrap();
    let limits = StoreConfig {
        expire_after: Duration::from_millis(1),
        history: Duration::from_secs(3600),

        ..StoreConfig::default()
    };
    let mut r = Router::with_store(context(), Store::open(dir.path()).unwrap(), limits);
    let mut rx = attach(&mut r);
    let bob = peer(4);
    let (session, mut session_rx) = fake_session(bob, 1, r.ctx.own, [1; 32]);
    r.handle(RouterInput::SessionUp(session));
    send(&mut r, bob, "m1");
    let sent = std::iter::from_fn(|| session_rx.try_recv().ok())
        .find_map(|c| match c {
            SessionCommand::Send(m) => Some(m),
            _ => None,
        })
        .expect("m1 went to the session");
    // Unacknowledged past its expiry: the user is told it was dropped.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        r.handle(RouterInput::Maintain);
        let told = std::iter::from_fn(|| rx.try_recv().ok()).any(
            |e| matches!(e, FrontendEvent::PeerNotice { ref text, .. } if text.contains("dropped")),
        );
        if told {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never expired");
        std::thread::sleep(Duration::from_millis(5));
    }
    // The session ends and hands it back: it is not queued again.
    r.handle(RouterInput::SessionEnded {
        peer: bob,
        conn_id: 1,
        unsent: vec![sent],
        error: None,
    });
    assert!(r.peers[&bob].pending.is_empty());
    assert!(r.peers[&bob].expired.is_empty());
}
