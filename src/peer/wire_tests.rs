//! Tests of the session messages' encodings and limits (`wire.rs`).

use super::*;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv6Addr};

fn chat(text: &str, kind: MessageKind) -> WireMessage {
    WireMessage::Chat(ChatMessage {
        id: MessageId([7; 16]),
        kind,
        text: text.into(),
        sent_at_ms: 1_700_000_000_123,
    })
}

fn round_trip(m: &WireMessage) -> WireMessage {
    let mut out = Vec::new();
    m.encode(&mut out).unwrap();
    WireMessage::decode(&out).unwrap()
}

#[test]
fn every_type_round_trips() {
    let all = [
        chat("hello", MessageKind::Text),
        chat("grüße, 世界 🎉", MessageKind::Notice),
        chat("waves", MessageKind::Action),
        chat("", MessageKind::Text),
        chat(&"x".repeat(MAX_TEXT), MessageKind::Text),
        WireMessage::Ack(MessageId([1; 16])),
        WireMessage::Ping(42),
        WireMessage::Pong(u64::MAX),
        WireMessage::Close(CloseReason::Shutdown),
        WireMessage::Close(CloseReason::Duplicate),
        WireMessage::Close(CloseReason::Idle),
        WireMessage::Away(String::new()),
        WireMessage::Away("lunch, back at 2 ☕".into()),
        WireMessage::Away("é".repeat(MAX_AWAY / 2)),
    ];
    for m in all {
        assert_eq!(round_trip(&m), m);
    }
}

#[test]
fn known_chat_encoding() {
    let mut out = Vec::new();
    chat("hi", MessageKind::Action).encode(&mut out).unwrap();
    let mut expected = vec![1];
    expected.extend_from_slice(&[7; 16]);
    expected.extend_from_slice(&1_700_000_000_123u64.to_be_bytes());
    expected.extend_from_slice(&[2, 0, 2, b'h', b'i']);
    assert_eq!(out, expected);
}

#[test]
fn malformed_messages_are_refused() {
    assert_eq!(WireMessage::decode(&[]), Err(WireError::Empty));
    assert_eq!(WireMessage::decode(&[99]), Err(WireError::UnknownType(99)));
    assert_eq!(
        WireMessage::decode(&[3, 0, 0]),
        Err(WireError::Truncated(3))
    );
    assert_eq!(
        WireMessage::decode(&[5, 9]),
        Err(WireError::UnknownReason(9))
    );
    assert_eq!(
        WireMessage::decode(&[4, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        Err(WireError::Trailing(4, 1))
    );
    let mut out = Vec::new();
    chat("ab", MessageKind::Text).encode(&mut out).unwrap();
    let n = out.len();
    out[n - 1] = 0xff;
    assert_eq!(WireMessage::decode(&out), Err(WireError::NotUtf8));
    out[25] = 3;
    assert_eq!(WireMessage::decode(&out), Err(WireError::UnknownKind(3)));
    let long = chat(&"x".repeat(MAX_TEXT + 1), MessageKind::Text);
    assert!(matches!(
        long.encode(&mut Vec::new()),
        Err(WireError::TextTooLong(_))
    ));
}

#[test]
fn a_frame_carries_several_messages_and_skips_unknown_ones() {
    let mut frame = Vec::new();
    push(&mut frame, &chat("one", MessageKind::Text)).unwrap();
    push(&mut frame, &WireMessage::Ack(MessageId([3; 16]))).unwrap();
    // A message of a type from a later version, which this reader skips.
    frame.extend_from_slice(&[0, 3, 200, 1, 2]);
    push(&mut frame, &WireMessage::Ping(5)).unwrap();
    let got: Vec<_> = messages(&frame).collect();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0], Ok(chat("one", MessageKind::Text)));
    assert_eq!(got[1], Ok(WireMessage::Ack(MessageId([3; 16]))));
    assert_eq!(got[2], Err(WireError::UnknownType(200)));
    assert_eq!(got[3], Ok(WireMessage::Ping(5)));
    for m in [
        chat("one", MessageKind::Text),
        WireMessage::Ping(1),
        WireMessage::Ack(MessageId([0; 16])),
        WireMessage::Close(CloseReason::Idle),
        WireMessage::Away("gone".into()),
    ] {
        let mut f = Vec::new();
        push(&mut f, &m).unwrap();
        assert_eq!(f.len(), pushed_len(&m));
    }
    // A length that runs past the end.
    assert_eq!(
        messages(&[0, 9, 1]).collect::<Vec<_>>(),
        vec![Err(WireError::BadLength)]
    );
    assert_eq!(
        messages(&[0]).collect::<Vec<_>>(),
        vec![Err(WireError::BadLength)]
    );
}

#[test]
fn away_reasons_are_clipped_at_a_character_boundary() {
    assert_eq!(clip_away("a\r\nb"), "a  b");
    let clipped = clip_away(&"é".repeat(MAX_AWAY));
    assert_eq!(clipped.len(), MAX_AWAY);
    let clipped = clip_away(&format!("x{}", "é".repeat(MAX_AWAY)));
    assert_eq!(clipped.len(), MAX_AWAY - 1);
}

#[test]
fn known_away_encoding_and_limits() {
    let mut out = Vec::new();
    WireMessage::Away("brb".into()).encode(&mut out).unwrap();
    assert_eq!(out, [6, 0, 3, b'b', b'r', b'b']);
    assert_eq!(
        WireMessage::decode(&[6, 0, 0]),
        Ok(WireMessage::Away(String::new()))
    );
    let long = WireMessage::Away("x".repeat(MAX_AWAY + 1));
    assert_eq!(
        long.encode(&mut Vec::new()),
        Err(WireError::AwayTooLong(MAX_AWAY + 1))
    );
    let mut body = vec![6];
    body.extend_from_slice(&((MAX_AWAY + 1) as u16).to_be_bytes());
    body.extend(std::iter::repeat_n(b'x', MAX_AWAY + 1));
    assert_eq!(
        WireMessage::decode(&body),
        Err(WireError::AwayTooLong(MAX_AWAY + 1))
    );
    assert_eq!(
        WireMessage::decode(&[6, 0, 2, b'x']),
        Err(WireError::Truncated(6))
    );
    assert_eq!(
        WireMessage::decode(&[6, 0, 1, 0xff]),
        Err(WireError::NotUtf8)
    );
}

#[test]
fn known_upgrade_encodings_and_limits() {
    let addrs: Vec<SocketAddr> = vec![
        "11.0.113.7:7667".parse().unwrap(),
        "[2001:db8::1]:443".parse().unwrap(),
    ];
    let m = WireMessage::Upgrade(addrs.clone());
    let mut out = Vec::new();
    m.encode(&mut out).unwrap();
    let mut expected = vec![7, 2, 4, 11, 0, 113, 7, 0x1d, 0xf3, 6];
    expected.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    expected.extend_from_slice(&[0x01, 0xbb]);
    assert_eq!(out, expected);
    assert_eq!(round_trip(&m), m);
    let mut framed = Vec::new();
    push(&mut framed, &m).unwrap();
    assert_eq!(framed.len(), pushed_len(&m));
    let mut out = Vec::new();
    WireMessage::UpgradeSync.encode(&mut out).unwrap();
    assert_eq!(out, [8]);
    assert_eq!(
        round_trip(&WireMessage::UpgradeSync),
        WireMessage::UpgradeSync
    );
    assert_eq!(pushed_len(&WireMessage::UpgradeSync), 3);
    assert_eq!(
        WireMessage::decode(&[7, 0]),
        Ok(WireMessage::Upgrade(vec![]))
    );
    assert_eq!(
        WireMessage::decode(&[7, 5]),
        Err(WireError::TooManyAddrs(5))
    );
    assert_eq!(
        WireMessage::decode(&[7, 1, 5, 1, 2, 3, 4, 0, 1]),
        Err(WireError::UnknownFamily(5))
    );
    assert_eq!(
        WireMessage::decode(&[7, 1, 4, 1, 2, 3, 4, 0]),
        Err(WireError::Truncated(7))
    );
    let mut mapped = vec![7, 1, 6];
    mapped.extend_from_slice(&"::ffff:1.2.3.4".parse::<Ipv6Addr>().unwrap().octets());
    mapped.extend_from_slice(&[0x1d, 0xf3]);
    assert_eq!(WireMessage::decode(&mapped), Err(WireError::MappedAddress));
    assert_eq!(WireMessage::decode(&[8, 0]), Err(WireError::Trailing(8, 1)));
    let five = WireMessage::Upgrade(vec![addrs[0]; 5]);
    assert_eq!(
        five.encode(&mut Vec::new()),
        Err(WireError::TooManyAddrs(5))
    );
}

proptest! {
    #[test]
    fn upgrade_round_trips(addrs in proptest::collection::vec((any::<IpAddr>(), any::<u16>()), 0..=MAX_UPGRADE_ADDRS)) {
        // IPv4 travels as family 4: a mapped IPv6 address is written and read as IPv4.
        let addrs = addrs.into_iter().map(|(ip, port)| SocketAddr::new(ip.to_canonical(), port)).collect();
        let m = WireMessage::Upgrade(addrs);
        prop_assert_eq!(round_trip(&m), m);
    }

    #[test]
    fn away_round_trips(reason in ".{0,100}") {
        prop_assume!(reason.len() <= MAX_AWAY);
        let m = WireMessage::Away(reason);
        prop_assert_eq!(round_trip(&m), m);
    }

    #[test]
    fn frame_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = messages(&bytes).count();
    }

    #[test]
    fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = WireMessage::decode(&bytes);
    }

    #[test]
    fn chat_round_trips(text in ".{0,200}", id in any::<[u8; 16]>(), at in any::<u64>(), k in 0u8..3) {
        let kind = [MessageKind::Text, MessageKind::Notice, MessageKind::Action][k as usize];
        let m = WireMessage::Chat(ChatMessage { id: MessageId(id), kind, text, sent_at_ms: at });
        prop_assert_eq!(round_trip(&m), m);
    }
}

#[test]
fn known_padding_encodings_and_limits() {
    let mut out = Vec::new();
    WireMessage::Padding(5).encode(&mut out).unwrap();
    assert_eq!(out, [9, 0, 0, 0, 0, 0]);
    for n in [0, 1, 64, 4096, MAX_PADDING] {
        let m = WireMessage::Padding(n);
        assert_eq!(round_trip(&m), m);
        let mut framed = Vec::new();
        push(&mut framed, &m).unwrap();
        assert_eq!(framed.len(), pushed_len(&m));
        assert_eq!(framed.len(), n + PADDING_OVERHEAD);
    }
    // The body is not looked at: any bytes are padding.
    assert_eq!(
        WireMessage::decode(&[9, 0xff, 1, 2]),
        Ok(WireMessage::Padding(3))
    );
    assert_eq!(
        WireMessage::Padding(MAX_PADDING + 1).encode(&mut Vec::new()),
        Err(WireError::PaddingTooLong(MAX_PADDING + 1))
    );
    // The longest one fills its length prefix exactly.
    let mut framed = Vec::new();
    push(&mut framed, &WireMessage::Padding(MAX_PADDING)).unwrap();
    assert_eq!(&framed[..2], &[0xff, 0xff]);
    // Among other messages of a frame it comes out in its place.
    let mut frame = Vec::new();
    push(&mut frame, &WireMessage::Ping(2)).unwrap();
    push(&mut frame, &WireMessage::Padding(7)).unwrap();
    push(&mut frame, &WireMessage::Pong(2)).unwrap();
    assert_eq!(
        messages(&frame).collect::<Vec<_>>(),
        vec![
            Ok(WireMessage::Ping(2)),
            Ok(WireMessage::Padding(7)),
            Ok(WireMessage::Pong(2))
        ]
    );
}
