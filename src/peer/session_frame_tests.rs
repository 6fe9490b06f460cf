//! Tests of how a session reads frames and ends (protocol.md, "Messages inside a
//! session"): a frame is all or nothing, an empty frame is valid, a stream cut inside a
//! record ends the session, what the receiver of Close does, Close(idle), and what a
//! retired session still takes.

use super::*;

/// Seals `plain` as B's next frame.
fn seal(kb: &mut SessionKeys, plain: &[u8]) -> Vec<u8> {
    let mut record = Vec::new();
    kb.sealer.seal_into(plain, &mut record).unwrap();
    record
}

/// Every message A writes until it closes its side, opened with B's keys.
async fn read_until_closed<R: tokio::io::AsyncRead + Unpin>(
    raw: &mut R,
    keys: &mut SessionKeys,
) -> Vec<WireMessage> {
    let mut all = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if raw.read_exact(&mut len).await.is_err() {
            return all;
        }
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        raw.read_exact(&mut body).await.unwrap();
        let plain = keys.opener.open(&mut body).unwrap();
        all.extend(wire::messages(plain).map(Result::unwrap));
    }
}

/// A frame is all or nothing: a good Chat and a Ping before a malformed message (a bad
/// Close reason, a zero-length message, a length prefix cut in half, a length running past
/// the end) are not acted on: the chat is neither handed on nor acknowledged, the Ping not
/// answered, and the session ends with the error.
#[tokio::test(start_paused = true)]
async fn a_frame_with_a_malformed_message_is_refused_whole() {
    let bad_tails: [&[u8]; 4] = [&[0, 2, 5, 9], &[0, 0], &[0], &[0, 9, 1]];
    for tail in bad_tails {
        let (ka, mut kb) = keys();
        let (sa, raw) = tokio::io::duplex(1 << 16);
        let mut a = start(sa, ka, 2, SessionTimers::default());
        let (mut raw_read, mut raw_write) = tokio::io::split(raw);
        let mut plain = Vec::new();
        wire::push(&mut plain, &WireMessage::Chat(chat(5))).unwrap();
        wire::push(&mut plain, &WireMessage::Ping(7)).unwrap();
        plain.extend_from_slice(tail);
        raw_write.write_all(&seal(&mut kb, &plain)).await.unwrap();
        match next(&mut a.inputs).await {
            RouterInput::SessionEnded { error, .. } => {
                assert!(error.unwrap().starts_with("message:"), "{tail:?}")
            }
            other => panic!("{tail:?}: nothing of the frame may be acted on, got {other:?}"),
        }
        let sent = read_until_closed(&mut raw_read, &mut kb).await;
        assert!(
            !sent
                .iter()
                .any(|m| matches!(m, WireMessage::Ack(_) | WireMessage::Pong(_))),
            "{tail:?}: {sent:?}"
        );
    }
}

/// An empty frame (no message) is valid and changes nothing; the session goes on.
#[tokio::test(start_paused = true)]
async fn an_empty_frame_is_accepted() {
    let (ka, mut kb) = keys();
    let (sa, raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let (_raw_read, mut raw_write) = tokio::io::split(raw);
    raw_write.write_all(&seal(&mut kb, &[])).await.unwrap();
    let mut plain = Vec::new();
    wire::push(&mut plain, &WireMessage::Chat(chat(6))).unwrap();
    raw_write.write_all(&seal(&mut kb, &plain)).await.unwrap();
    match next(&mut a.inputs).await {
        RouterInput::Received { messages, .. } => assert_eq!(messages, vec![chat(6)]),
        other => panic!("{other:?}"),
    }
}

/// The receiver of Close: the chats before it are taken and acknowledged (the Acks go out
/// before its own Close), it answers with Close (same reason), and nothing after the
/// peer's Close is read, in the same frame or later.
#[tokio::test(start_paused = true)]
async fn the_receiver_of_close_acknowledges_what_came_before_and_reads_nothing_after() {
    let (ka, mut kb) = keys();
    let (sa, raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let (mut raw_read, mut raw_write) = tokio::io::split(raw);
    let mut plain = Vec::new();
    wire::push(&mut plain, &WireMessage::Chat(chat(1))).unwrap();
    wire::push(&mut plain, &WireMessage::Close(CloseReason::Shutdown)).unwrap();
    wire::push(&mut plain, &WireMessage::Chat(chat(2))).unwrap();
    raw_write.write_all(&seal(&mut kb, &plain)).await.unwrap();
    let mut later = Vec::new();
    wire::push(&mut later, &WireMessage::Chat(chat(3))).unwrap();
    raw_write.write_all(&seal(&mut kb, &later)).await.unwrap();
    let sent = read_until_closed(&mut raw_read, &mut kb).await;
    assert_eq!(
        sent,
        vec![
            WireMessage::Ack(chat(1).id),
            WireMessage::Close(CloseReason::Shutdown)
        ]
    );
    drop((raw_read, raw_write));
    let mut got = Vec::new();
    loop {
        match next(&mut a.inputs).await {
            RouterInput::Received { messages, .. } => got.extend(messages),
            RouterInput::SessionEnded { error, .. } => {
                assert_eq!(error, None);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, vec![chat(1)], "nothing after the Close is taken");
}

/// A session closed for idleness says so: Close(idle), then the end of the stream.
#[tokio::test(start_paused = true)]
async fn an_idle_session_is_closed_with_close_idle() {
    let (ka, mut kb) = keys();
    let (sa, raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, FAST);
    let (mut raw_read, _raw_write) = tokio::io::split(raw);
    let sent = read_until_closed(&mut raw_read, &mut kb).await;
    assert_eq!(sent.last(), Some(&WireMessage::Close(CloseReason::Idle)));
    assert!(
        sent[..sent.len() - 1]
            .iter()
            .all(|m| matches!(m, WireMessage::Ping(_))),
        "{sent:?}"
    );
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { error, .. } => assert!(error.unwrap().contains("too long")),
        other => panic!("{other:?}"),
    }
}

/// A stream that ends inside a record's 4-byte length prefix ends the session with an
/// error; the complete frames before it count.
#[tokio::test(start_paused = true)]
async fn a_stream_cut_inside_a_length_prefix_ends_the_session() {
    let (ka, mut kb) = keys();
    let (sa, mut raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let mut plain = Vec::new();
    wire::push(&mut plain, &WireMessage::Chat(chat(8))).unwrap();
    let mut bytes = seal(&mut kb, &plain);
    bytes.extend_from_slice(&[0, 0]);
    raw.write_all(&bytes).await.unwrap();
    raw.shutdown().await.unwrap();
    match next(&mut a.inputs).await {
        RouterInput::Received { messages, .. } => assert_eq!(messages, vec![chat(8)]),
        other => panic!("{other:?}"),
    }
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { error, .. } => {
            assert!(error.unwrap().starts_with("connection:"))
        }
        other => panic!("{other:?}"),
    }
}

/// What a retired session reads still counts, but it sends nothing back after its Close:
/// an Ack removes our chat from the outbox, a Chat is handed on (stored, shown once) but
/// not acknowledged (its sender sends it again on the kept session), a Ping gets no Pong.
#[tokio::test(start_paused = true)]
async fn a_retired_session_takes_what_it_reads_but_answers_nothing() {
    let (ka, mut kb) = keys();
    let (sa, raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, SessionTimers::default());
    let (mut raw_read, mut raw_write) = tokio::io::split(raw);
    a.commands
        .send(SessionCommand::Send(chat(1).into()))
        .unwrap();
    a.commands.send(SessionCommand::Retire).unwrap();
    assert_eq!(
        read_frame(&mut raw_read, &mut kb).await,
        vec![
            WireMessage::Chat(chat(1)),
            WireMessage::Close(CloseReason::Duplicate)
        ]
    );
    // The peer had sent these before it saw the Close.
    let mut plain = Vec::new();
    for m in [
        WireMessage::Ack(chat(1).id),
        WireMessage::Chat(chat(2)),
        WireMessage::Ping(3),
    ] {
        wire::push(&mut plain, &m).unwrap();
    }
    raw_write.write_all(&seal(&mut kb, &plain)).await.unwrap();
    let (mut acked, mut got) = (Vec::new(), Vec::new());
    while got.is_empty() || acked.is_empty() {
        match tokio::time::timeout(Duration::from_secs(10), a.inputs.recv())
            .await
            .expect("in time")
            .expect("input")
        {
            RouterInput::Acknowledged { ids, .. } => acked.extend(ids),
            RouterInput::Received { messages, .. } => got.extend(messages),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acked, vec![chat(1).id]);
    assert_eq!(got, vec![chat(2)]);
    // Then the peer closes too; A wrote nothing after its Close.
    let mut close = Vec::new();
    wire::push(&mut close, &WireMessage::Close(CloseReason::Duplicate)).unwrap();
    raw_write.write_all(&seal(&mut kb, &close)).await.unwrap();
    assert!(read_until_closed(&mut raw_read, &mut kb).await.is_empty());
    drop((raw_read, raw_write));
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { unsent, error, .. } => {
            assert!(unsent.is_empty(), "{unsent:?}");
            assert_eq!(error, None);
        }
        other => panic!("{other:?}"),
    }
}

/// After the peer's Close, a peer that never closes its side is given the linger (10 s),
/// not the linger rounded up to the next check of the timers (every 15 s).
#[tokio::test(start_paused = true)]
async fn the_linger_after_a_close_ends_on_time() {
    let timers = SessionTimers::default();
    let (ka, mut kb) = keys();
    let (sa, raw) = tokio::io::duplex(1 << 16);
    let mut a = start(sa, ka, 2, timers);
    let (mut raw_read, mut raw_write) = tokio::io::split(raw);
    // Let the timers' first check pass, so that the next one is 15 s away.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut close = Vec::new();
    wire::push(&mut close, &WireMessage::Close(CloseReason::Shutdown)).unwrap();
    raw_write.write_all(&seal(&mut kb, &close)).await.unwrap();
    let sent = tokio::time::Instant::now();
    assert_eq!(
        read_frame(&mut raw_read, &mut kb).await,
        vec![WireMessage::Close(CloseReason::Shutdown)]
    );
    // (A wait longer than `next`'s, which would end with the linger.)
    match tokio::time::timeout(Duration::from_secs(60), a.inputs.recv()).await {
        Ok(Some(RouterInput::SessionEnded { error, .. })) => assert_eq!(error, None),
        other => panic!("{other:?}"),
    }
    // Paused time: the clock moved only as far as the session's own timers asked.
    assert_eq!(sent.elapsed(), timers.linger);
}
