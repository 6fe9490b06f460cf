//! Tests of frame padding (protocol.md, "Padding"; `peer::padding`): a version 2 session
//! pads its frames to random lengths, a version 1 session never does, padded frames open
//! and deliver exactly once, and a receiver skips Padding messages.

use super::*;
use crate::crypto::obfs::Ephemeral;
use crate::crypto::{InitiatorV2, MSG2_HEAD_LEN, ResponderV2};
use std::collections::HashSet;

/// The keys of a version 2 handshake between identities 1 (initiator) and 2, with fixed
/// ephemerals and no handshake padding.
fn keys_v2() -> (SessionKeys, SessionKeys) {
    const HOUR: u64 = 490_000;
    let (a, b) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (init, msg1) = InitiatorV2::new(
        &a,
        &b.verifying_key(),
        Ephemeral::from_seed([3; 32]),
        &[],
        HOUR,
    );
    let (wait, msg2) = ResponderV2::new(&b, Ephemeral::from_seed([4; 32]))
        .read_msg1(&msg1, HOUR, 0)
        .unwrap();
    let (msg3, a_keys) = init
        .read_msg2_head(&msg2[..MSG2_HEAD_LEN])
        .unwrap()
        .read_msg2_box(&msg2[MSG2_HEAD_LEN..], 0)
        .unwrap();
    let b_keys = wait.read_msg3(&msg3).unwrap();
    assert_eq!((a_keys.version, b_keys.version), (2, 2));
    (a_keys, b_keys)
}

/// Seals the same chat `n` times, each in its own frame, with A's keys and this bound of
/// frame padding; opens each record with B's keys (unmasking its header in version 2) and
/// checks that it carries exactly the chat (and at most one Padding). Returns the record
/// lengths (header included).
fn sealed_lengths(
    (ka, mut kb): (SessionKeys, SessionKeys),
    frame_padding: usize,
    n: usize,
) -> Vec<usize> {
    let version = ka.version;
    let (router, _inputs) = router::channel();
    let peer = PeerId::of(&SigningKey::from_bytes(&[2; 32]));
    let mut session = Session::new(ka, router, peer, Default::default());
    session.pad = FramePad::for_session(version, frame_padding).unwrap();
    let mut mask = kb.opener.take_length_mask();
    assert_eq!(mask.is_some(), version == 2);
    let mut lengths = Vec::new();
    for _ in 0..n {
        session.send_chat(chat(7).into()).unwrap();
        session.seal_pending().unwrap();
        let mut record = std::mem::take(&mut session.out);
        let mut header: [u8; 4] = record[..4].try_into().unwrap();
        if let Some(mask) = &mut mask {
            mask.apply(&mut header);
        }
        assert_eq!(u32::from_be_bytes(header) as usize, record.len() - 4);
        let plain = kb.opener.open(&mut record[4..]).unwrap();
        let messages: Vec<_> = wire::messages(plain).map(Result::unwrap).collect();
        assert_eq!(messages[0], WireMessage::Chat(chat(7)));
        assert!(
            matches!(&messages[1..], [] | [WireMessage::Padding(1..)]),
            "{messages:?}"
        );
        lengths.push(record.len());
    }
    lengths
}

#[test]
fn version_2_frames_of_the_same_chat_vary_in_length_and_version_1_frames_do_not() {
    const N: usize = 40;
    let padded = sealed_lengths(keys_v2(), 256, N);
    let distinct: HashSet<_> = padded.iter().collect();
    // 257 possible lengths, 40 draws: about 37 distinct on average.
    assert!(distinct.len() >= N / 2, "{padded:?}");
    let unpadded = sealed_lengths(keys_v2(), 0, N);
    let chat_len = unpadded[0];
    assert!(unpadded.iter().all(|&l| l == chat_len), "{unpadded:?}");
    assert!(padded.iter().all(|&l| l == chat_len || l >= chat_len + 4));
    assert!(padded.iter().all(|&l| l <= chat_len + 3 + 256));
    // Version 1: never padded, whatever the setting (its peers may predate Padding).
    let v1 = sealed_lengths(keys(), 256, N);
    assert!(v1.iter().all(|&l| l == chat_len), "{v1:?}");
}

/// Two padded version 2 sessions: every chat arrives once, in order, and is acknowledged
/// (the Acks come back in padded frames too); nothing is handed back at the end.
#[tokio::test(start_paused = true)]
async fn padded_frames_deliver_every_chat_exactly_once() {
    let (ka, kb) = keys_v2();
    let (sa, sb) = tokio::io::duplex(1 << 16);
    let timers = SessionTimers::default();
    let mut a = launch(sa, ka, 2, timers, None, &[], 512);
    let mut b = launch(sb, kb, 1, timers, None, &[], 512);
    let all: Vec<_> = (0..30).map(chat).collect();
    let mut got = Vec::new();
    for m in &all {
        // One at a time: each chat (and each Ack) has a frame of its own.
        a.commands
            .send(SessionCommand::Send(m.clone().into()))
            .unwrap();
        match next(&mut b.inputs).await {
            RouterInput::Received { messages, .. } => got.extend(messages),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, all);
    let mut acked = Vec::new();
    while acked.len() < all.len() {
        let input = tokio::time::timeout(Duration::from_secs(10), a.inputs.recv())
            .await
            .expect("in time")
            .expect("input");
        match input {
            RouterInput::Acknowledged { ids, .. } => acked.extend(ids),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(acked, all.iter().map(|m| m.id).collect::<Vec<_>>());
    a.shutdown.cancel();
    match next(&mut a.inputs).await {
        RouterInput::SessionEnded { unsent, error, .. } => {
            assert!(unsent.is_empty(), "{unsent:?}");
            assert_eq!(error, None);
        }
        other => panic!("{other:?}"),
    }
    match next(&mut b.inputs).await {
        RouterInput::SessionEnded { .. } => {}
        other => panic!("{other:?}"),
    }
    assert!(
        b.inputs.try_recv().is_err(),
        "nothing delivered twice or late"
    );
}

/// A receiver skips Padding wherever it is in a frame (any body), in either version: the
/// chat between is taken and acknowledged, the session goes on.
#[tokio::test(start_paused = true)]
async fn padding_messages_are_skipped() {
    for (ka, mut kb) in [keys(), keys_v2()] {
        let (sa, raw) = tokio::io::duplex(1 << 16);
        let mut a = start(sa, ka, 2, SessionTimers::default());
        let (mut raw_read, mut raw_write) = tokio::io::split(raw);
        let mut plain = Vec::new();
        wire::push(&mut plain, &WireMessage::Padding(100)).unwrap();
        wire::push(&mut plain, &WireMessage::Chat(chat(4))).unwrap();
        wire::push(&mut plain, &WireMessage::Padding(0)).unwrap();
        // A body of other bytes than zeros is skipped too.
        plain.extend_from_slice(&[0, 3, 9, 0xff, 0x01]);
        let mut record = Vec::new();
        kb.sealer.seal_into(&plain, &mut record).unwrap();
        raw_write.write_all(&record).await.unwrap();
        match next(&mut a.inputs).await {
            RouterInput::Received { messages, .. } => assert_eq!(messages, vec![chat(4)]),
            other => panic!("{other:?}"),
        }
        // The Ack comes back (read with B's keys: plain or masked header).
        let mut mask = kb.opener.take_length_mask();
        let mut header = [0u8; 4];
        raw_read.read_exact(&mut header).await.unwrap();
        if let Some(mask) = &mut mask {
            mask.apply(&mut header);
        }
        let mut body = vec![0u8; u32::from_be_bytes(header) as usize];
        raw_read.read_exact(&mut body).await.unwrap();
        let plain = kb.opener.open(&mut body).unwrap();
        let messages: Vec<_> = wire::messages(plain).map(Result::unwrap).collect();
        assert_eq!(messages, vec![WireMessage::Ack(chat(4).id)]);
    }
}
