//! Tests of sessions over in-memory streams.

use super::*;
use crate::crypto::{Initiator, Responder};
use crate::message::{ChatMessage, MessageId, MessageKind, PeerMessage};
use crate::router;
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, DuplexStream};

fn keys() -> (SessionKeys, SessionKeys) {
    let (a, b) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (init, msg1) = Initiator::new(&a, &b.verifying_key(), [3; 32]);
    let (wait, msg2) = Responder::new(&b, [4; 32]).read_msg1(&msg1).unwrap();
    let (msg3, a_keys) = init.read_msg2(&msg2).unwrap();
    (a_keys, wait.read_msg3(&msg3).unwrap())
}

fn chat(n: u8) -> ChatMessage {
    ChatMessage {
        id: MessageId([n; 16]),
        kind: MessageKind::Text,
        text: format!("m{n}"),
        sent_at_ms: 1,
    }
}

struct Running {
    commands: mpsc::UnboundedSender<SessionCommand>,
    inputs: mpsc::UnboundedReceiver<RouterInput>,
    shutdown: CancellationToken,
}

fn start(stream: DuplexStream, keys: SessionKeys, seed: u8, timers: SessionTimers) -> Running {
    start_budgeted(stream, keys, seed, timers, None, &[])
}

/// [`start`] with a rate budget for strangers and these contacts (peer seeds).
fn start_budgeted(
    stream: DuplexStream,
    keys: SessionKeys,
    seed: u8,
    timers: SessionTimers,
    budget: Option<crate::policy::strangers::RateBudget>,
    contacts: &[u8],
) -> Running {
    launch(stream, keys, seed, timers, budget, contacts, 0)
}

/// [`start_budgeted`] with this bound of frame padding (used in version 2 only).
fn launch(
    stream: DuplexStream,
    keys: SessionKeys,
    seed: u8,
    timers: SessionTimers,
    budget: Option<crate::policy::strangers::RateBudget>,
    contacts: &[u8],
    frame_padding: usize,
) -> Running {
    let (router, inputs) = router::channel();
    router.gate().set_budget(budget);
    router.gate().contacts().set(
        contacts
            .iter()
            .map(|s| PeerId::of(&SigningKey::from_bytes(&[*s; 32]))),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let peer = PeerId::of(&SigningKey::from_bytes(&[seed; 32]));
    let handle = SessionHandle {
        peer,
        conn_id: 1,
        initiator: peer,
        session_id: keys.transcript_hash,
        commands: tx.clone(),
        remote: None,
        via: None,
        started_ms: 0,
        activity: Default::default(),
    };
    let shutdown = CancellationToken::new();
    let ends = Ends {
        commands: rx,
        router,
        upgrade: None,
        frame_padding,
    };
    tokio::spawn(run_with(
        stream,
        keys,
        handle,
        ends,
        timers,
        shutdown.clone(),
    ));
    Running {
        commands: tx,
        inputs,
        shutdown,
    }
}

/// The next input other than an acknowledgement report.
async fn next(inputs: &mut mpsc::UnboundedReceiver<RouterInput>) -> RouterInput {
    loop {
        let input = tokio::time::timeout(Duration::from_secs(10), inputs.recv())
            .await
            .expect("in time")
            .expect("input");
        if !matches!(input, RouterInput::Acknowledged { .. }) {
            return input;
        }
    }
}

const FAST: SessionTimers = SessionTimers {
    keepalive: Duration::from_millis(50),
    idle_timeout: Duration::from_millis(300),
    linger: Duration::from_millis(200),
    handshake: Duration::from_millis(300),
    retry: Duration::from_millis(100),
    probe: Duration::from_millis(100),
};

#[tokio::test(start_paused = true)]
async fn messages_are_delivered_in_order_and_acknowledged() {
    let (ka, kb) = keys();
    let (sa, sb) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let mut b = start(sb, kb, 1, SessionTimers::default());
    for n in 0..20 {
        a.commands
            .send(SessionCommand::Send(chat(n).into()))
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 20 {
        match next(&mut b.inputs).await {
            RouterInput::Received { messages, .. } => got.extend(messages),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, (0..20).map(chat).collect::<Vec<_>>());
    // Let the acks travel (paused time: the sleep ends once every task is idle): A
    // reports each acknowledged id to its hub; then shut down: nothing is handed back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut acked = Vec::new();
    while let Ok(input) = a.inputs.try_recv() {
        match input {
            RouterInput::Acknowledged { ids, .. } => acked.extend(ids),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acked, (0..20).map(|n| chat(n).id).collect::<Vec<_>>());
    a.shutdown.cancel();
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { unsent, .. } => assert!(unsent.is_empty(), "{unsent:?}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        next(&mut b.inputs).await,
        RouterInput::SessionEnded { error: None, .. }
    ));
}

// Paused time: the runtime jumps the clock forward whenever every task is idle, so
// timer behaviour is tested exactly and without waiting.
#[tokio::test(start_paused = true)]
async fn keepalives_hold_an_idle_session_open() {
    let (ka, kb) = keys();
    let (sa, sb) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, FAST);
    let mut b = start(sb, kb, 1, FAST);
    // Three idle timeouts pass without a message: pings keep both ends up.
    tokio::time::sleep(FAST.idle_timeout * 3).await;
    assert!(a.inputs.try_recv().is_err());
    assert!(b.inputs.try_recv().is_err());
    a.commands
        .send(SessionCommand::Send(chat(9).into()))
        .unwrap();
    assert!(matches!(
        next(&mut b.inputs).await,
        RouterInput::Received { .. }
    ));
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_times_out_and_unacked_messages_come_back() {
    let (ka, _kb) = keys();
    let (sa, mut silent) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, FAST);
    a.commands
        .send(SessionCommand::Send(chat(1).into()))
        .unwrap();
    a.commands
        .send(SessionCommand::Send(chat(2).into()))
        .unwrap();
    // Drain what A writes so it never blocks, but never answer.
    tokio::spawn(async move {
        let mut sink = vec![0u8; 4096];
        while silent.read(&mut sink).await.is_ok_and(|n| n > 0) {}
    });
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { unsent, error, .. } => {
            assert_eq!(unsent, vec![chat(1), chat(2)]);
            assert!(error.unwrap().contains("too long"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_tampered_frame_closes_the_session_and_delivers_nothing() {
    let (ka, kb) = keys();
    let (sa, mut raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    // Seal a valid chat with B's keys, flip one bit of the ciphertext, send it to A.
    let mut kb = kb;
    let mut plain = Vec::new();
    wire::push(&mut plain, &WireMessage::Chat(chat(5))).unwrap();
    let mut record = Vec::new();
    kb.sealer.seal_into(&plain, &mut record).unwrap();
    let last = record.len() - 1;
    record[last] ^= 1;
    raw.write_all(&record).await.unwrap();
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { error, .. } => assert!(error.unwrap().contains("frame")),
        other => panic!("expected the session to end, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_retire_queued_behind_messages_still_closes_the_session() {
    let (ka, kb) = keys();
    let (sa, sb) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, FAST);
    let _b = start(sb, kb, 1, FAST);
    // All three are waiting before the session task first runs.
    a.commands
        .send(SessionCommand::Send(chat(1).into()))
        .unwrap();
    a.commands
        .send(SessionCommand::Send(chat(2).into()))
        .unwrap();
    a.commands.send(SessionCommand::Retire).unwrap();
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { .. } => {}
        other => panic!("expected the retired session to end, got {other:?}"),
    }
}

#[tokio::test]
async fn both_ends_sending_heavily_over_a_small_pipe_do_not_deadlock() {
    let (ka, kb) = keys();
    // A tiny pipe: both sides' writes block unless each keeps reading while it writes.
    let (sa, sb) = tokio::io::duplex(512);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let mut b = start(sb, kb, 1, SessionTimers::default());
    const N: usize = 3000;
    for n in 0..N {
        let mut m = chat((n % 250) as u8);
        m.id = MessageId([
            (n >> 8) as u8,
            n as u8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            1,
        ]);
        a.commands
            .send(SessionCommand::Send(m.clone().into()))
            .unwrap();
        m.id.0[15] = 2;
        b.commands.send(SessionCommand::Send(m.into())).unwrap();
    }
    let (mut got_a, mut got_b) = (0, 0);
    while got_a < N || got_b < N {
        tokio::select! {
            Some(RouterInput::Received { messages, .. }) = a.inputs.recv() => got_a += messages.len(),
            Some(RouterInput::Received { messages, .. }) = b.inputs.recv() => got_b += messages.len(),
            _ = tokio::time::sleep(Duration::from_secs(20)) => panic!("stalled at {got_a}/{got_b}"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_is_dropped_and_we_keep_reading_meanwhile() {
    let (ka, kb) = keys();
    let (sa, raw) = tokio::io::duplex(1024);
    let mut a = start(sa, ka, 2, FAST);
    let (raw_read, mut raw_write) = tokio::io::split(raw);
    // The "peer" never reads; A's output backs up in the 1 KiB pipe.
    for n in 0..50 {
        a.commands
            .send(SessionCommand::Send(chat(n).into()))
            .unwrap();
    }
    // Meanwhile the peer sends a chat, which A still reads and hands on.
    let mut kb = kb;
    let mut plain = Vec::new();
    wire::push(&mut plain, &WireMessage::Chat(chat(99))).unwrap();
    let mut record = Vec::new();
    kb.sealer.seal_into(&plain, &mut record).unwrap();
    raw_write.write_all(&record).await.unwrap();
    match next(&mut a.inputs).await {
        RouterInput::Received { messages, .. } => assert_eq!(messages, vec![chat(99)]),
        other => panic!("{other:?}"),
    }
    // Keep the peer "alive" (sending pings) so only the write stall can end it.
    let mut ping = 0u64;
    let ended = loop {
        plain.clear();
        ping += 1;
        wire::push(&mut plain, &WireMessage::Ping(ping)).unwrap();
        record.clear();
        kb.sealer.seal_into(&plain, &mut record).unwrap();
        let _ = raw_write.write_all(&record).await;
        tokio::select! {
            input = a.inputs.recv() => break input,
            _ = tokio::time::sleep(FAST.keepalive) => {}
        }
    };
    match ended {
        Some(RouterInput::SessionEnded { unsent, error, .. }) => {
            assert_eq!(unsent.len(), 50, "every unacknowledged message comes back");
            assert!(error.unwrap().contains("does not read"));
        }
        other => panic!("{other:?}"),
    }
    drop(raw_read);
}

/// Reads the next frame A sent and opens it with B's keys: its messages.
async fn read_frame<R: tokio::io::AsyncRead + Unpin>(
    raw: &mut R,
    keys: &mut SessionKeys,
) -> Vec<WireMessage> {
    let mut len = [0u8; 4];
    raw.read_exact(&mut len).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
    raw.read_exact(&mut body).await.unwrap();
    let plain = keys.opener.open(&mut body).unwrap();
    wire::messages(plain).map(Result::unwrap).collect()
}

#[tokio::test(start_paused = true)]
async fn an_ack_rides_with_the_reply_or_goes_alone_after_a_short_delay() {
    let (ka, kb) = keys();
    let (sa, raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let (mut raw_read, mut raw_write) = tokio::io::split(raw);
    let mut kb = kb;
    let send = |kb: &mut SessionKeys, message: WireMessage| {
        let mut plain = Vec::new();
        wire::push(&mut plain, &message).unwrap();
        let mut record = Vec::new();
        kb.sealer.seal_into(&plain, &mut record).unwrap();
        record
    };
    // B writes; A's user replies at once: the ack and the reply share one frame.
    let record = send(&mut kb, WireMessage::Chat(chat(1)));
    raw_write.write_all(&record).await.unwrap();
    assert!(matches!(
        next(&mut a.inputs).await,
        RouterInput::Received { .. }
    ));
    a.commands
        .send(SessionCommand::Send(chat(2).into()))
        .unwrap();
    let frame = read_frame(&mut raw_read, &mut kb).await;
    assert_eq!(
        frame,
        vec![WireMessage::Ack(chat(1).id), WireMessage::Chat(chat(2))]
    );
    // B writes again and nobody replies: the ack goes alone, after ACK_DELAY.
    let record = send(&mut kb, WireMessage::Chat(chat(3)));
    let sent = tokio::time::Instant::now();
    raw_write.write_all(&record).await.unwrap();
    let frame = read_frame(&mut raw_read, &mut kb).await;
    assert_eq!(frame, vec![WireMessage::Ack(chat(3).id)]);
    let waited = sent.elapsed();
    assert!(waited >= ACK_DELAY && waited < ACK_DELAY * 2, "{waited:?}");
}

/// A stranger over its rate budget: what it sent within the budget is taken and
/// acknowledged, the rest is neither taken nor acknowledged, and the session closes, so
/// that the sender gets the rest back for later (exactly once). A contact sending the
/// same is taken in full.
#[tokio::test(start_paused = true)]
async fn a_stranger_over_its_budget_is_not_acknowledged_and_closed_but_a_contact_is_not() {
    use crate::policy::strangers::{RateBudget, row_bytes};
    const N: u8 = 40;
    const TAKEN: usize = 5;
    // Five two-byte chats fit the burst; it refills at one byte a second (no more in the
    // test's real time).
    let budget = Some(RateBudget {
        bytes_per_second: 1,
        burst_bytes: TAKEN as u64 * row_bytes(2),
    });
    for contact in [false, true] {
        let (ka, kb) = keys();
        let (sa, sb) = tokio::io::duplex(1 << 16);
        let mut a = start(sa, ka, 2, FAST);
        // B's peer is A (key 1): a contact of B's user or not.
        let contacts: &[u8] = if contact { &[1] } else { &[] };
        let mut b = start_budgeted(sb, kb, 1, FAST, budget, contacts);
        for n in 0..N {
            a.commands
                .send(SessionCommand::Send(chat(n).into()))
                .unwrap();
        }
        let (mut got, mut acked) = (Vec::new(), Vec::new());
        let unsent = loop {
            match tokio::time::timeout(Duration::from_secs(10), a.inputs.recv())
                .await
                .expect("in time")
                .expect("input")
            {
                RouterInput::Acknowledged { ids, .. } => acked.extend(ids),
                RouterInput::SessionEnded { unsent, .. } => break Some(unsent),
                other => panic!("{other:?}"),
            }
            while let Ok(input) = b.inputs.try_recv() {
                if let RouterInput::Received { messages, .. } = input {
                    got.extend(messages);
                }
            }
            if contact && acked.len() == usize::from(N) {
                break None;
            }
        };
        while let Ok(input) = b.inputs.try_recv() {
            if let RouterInput::Received { messages, .. } = input {
                got.extend(messages);
            }
        }
        let all: Vec<_> = (0..N).map(chat).collect();
        if contact {
            assert_eq!(got, all, "a contact is never throttled");
            assert_eq!(unsent, None);
        } else {
            assert_eq!(got, all[..TAKEN], "only what the budget allowed was taken");
            let ids: Vec<_> = all[..TAKEN].iter().map(|m| m.id).collect();
            assert_eq!(acked, ids, "and only that was acknowledged");
            assert_eq!(
                unsent.unwrap(),
                all[TAKEN..],
                "the rest goes back to the sender"
            );
        }
    }
}

#[path = "session_frame_tests.rs"]
mod frames;

#[path = "session_padding_tests.rs"]
mod padding;

#[path = "session_group_tests.rs"]
mod groups;

/// A message handed to a session as it ends is either refused by `send` or handed back in
/// `SessionEnded`, never dropped in between (a send that passed the channel's closed check
/// before the session closed it must still be drained: the fault-injection hang).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_sent_while_the_session_ends_is_refused_or_handed_back() {
    fn numbered(n: u32) -> ChatMessage {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&n.to_be_bytes());
        ChatMessage {
            id: MessageId(id),
            ..chat(0)
        }
    }
    for round in 0..300 {
        let (ka, _kb) = keys();
        let (sa, sb) = tokio::io::duplex(1 << 12);
        let mut a = start(sa, ka, 2, SessionTimers::default());
        // The sender runs on its own thread and sends until refused, so that it is sending
        // when the session ends (its peer is gone).
        let commands = a.commands.clone();
        let sender = std::thread::spawn(move || {
            (0..)
                .take_while(|n| {
                    commands
                        .send(SessionCommand::Send(numbered(*n).into()))
                        .is_ok()
                })
                .count()
        });
        drop(sb);
        let taken = sender.join().unwrap() as u32;
        let unsent = match next(&mut a.inputs).await {
            RouterInput::SessionEnded { unsent, .. } => unsent,
            other => panic!("expected the session to end, got {other:?}"),
        };
        let back: Vec<u32> = unsent
            .iter()
            .map(|m| u32::from_be_bytes(m.id().0[..4].try_into().unwrap()))
            .collect();
        assert_eq!(
            back,
            (0..taken).collect::<Vec<_>>(),
            "round {round}: every message taken comes back, in order"
        );
    }
}
