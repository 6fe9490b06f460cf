//! The group session messages: each round-trips, its layout is the documented one, and
//! malformed or random bytes are refused without a panic.

use proptest::prelude::*;

use super::op::{GroupId, OpId};
use super::test_support::founded;
use super::wire::{GroupMessage, GroupWireError, MAX_HEADS};
use crate::message::{ChatMessage, MessageId, MessageKind};

fn samples() -> Vec<GroupMessage> {
    let (g, create) = founded();
    vec![
        GroupMessage::Op {
            id: MessageId([3; 16]),
            op: create,
        },
        GroupMessage::Chat {
            group: g.id(),
            deps: g.heads(),
            message: ChatMessage {
                id: MessageId([4; 16]),
                kind: MessageKind::Action,
                text: "waves \u{1f44b}".into(),
                sent_at_ms: 1_700_000_000_000,
            },
        },
        GroupMessage::Heads {
            group: g.id(),
            heads: vec![OpId([5; 32]), OpId([6; 32])],
        },
        GroupMessage::Heads {
            group: g.id(),
            heads: Vec::new(),
        },
    ]
}

fn encoded(m: &GroupMessage) -> Vec<u8> {
    let mut out = Vec::new();
    m.encode(&mut out).unwrap();
    out
}

#[test]
fn messages_round_trip() {
    for m in samples() {
        assert_eq!(GroupMessage::decode(&encoded(&m)).unwrap(), m);
    }
}

#[test]
fn layouts() {
    let [op, chat, heads, _] = &samples()[..] else {
        unreachable!()
    };
    let b = encoded(op);
    let GroupMessage::Op { op: signed, .. } = op else {
        unreachable!()
    };
    assert_eq!(b[0], 10);
    assert_eq!(&b[1..17], &[3; 16]);
    assert_eq!(
        u16::from_be_bytes([b[17], b[18]]) as usize,
        signed.bytes().len()
    );
    assert_eq!(&b[19..], signed.bytes());
    let b = encoded(chat);
    assert_eq!(b[0], 11);
    assert_eq!(&b[17..25], &1_700_000_000_000u64.to_be_bytes());
    assert_eq!(b[25], 2, "action");
    assert_eq!(b[58], 1, "one dep");
    assert_eq!(
        b.len(),
        1 + 16 + 8 + 1 + 32 + 1 + 32 + 2 + "waves \u{1f44b}".len()
    );
    let b = encoded(heads);
    assert_eq!(b[0], 12);
    assert_eq!(b[33], 2);
    assert_eq!(b.len(), 1 + 32 + 1 + 64);
}

#[test]
fn malformed_messages_are_refused() {
    for m in samples() {
        let b = encoded(&m);
        for len in 0..b.len() {
            assert!(
                GroupMessage::decode(&b[..len]).is_err(),
                "{m:?} cut at {len}"
            );
        }
        let mut longer = b.clone();
        longer.push(0);
        assert!(matches!(
            GroupMessage::decode(&longer),
            Err(GroupWireError::Trailing(..) | GroupWireError::Op(_))
        ));
    }
    let group = GroupId([1; 32]);
    let chat = |deps: Vec<OpId>| GroupMessage::Chat {
        group,
        deps,
        message: ChatMessage {
            id: MessageId([0; 16]),
            kind: MessageKind::Text,
            text: "x".into(),
            sent_at_ms: 0,
        },
    };
    assert_eq!(
        chat(Vec::new()).encode(&mut Vec::new()),
        Err(GroupWireError::Deps(0))
    );
    assert_eq!(
        chat(vec![OpId([0; 32]); 33]).encode(&mut Vec::new()),
        Err(GroupWireError::Deps(33))
    );
    let too_many = GroupMessage::Heads {
        group,
        heads: vec![OpId([0; 32]); MAX_HEADS + 1],
    };
    assert_eq!(
        too_many.encode(&mut Vec::new()),
        Err(GroupWireError::TooManyHeads(MAX_HEADS + 1))
    );
    // A forged op inside a GroupOp: its signature fails, the message is malformed.
    let mut b = encoded(&samples()[0]);
    let last = b.len() - 1;
    b[last] ^= 1;
    assert!(matches!(
        GroupMessage::decode(&b),
        Err(GroupWireError::Op(_))
    ));
    // Chat text that is not UTF-8, an unknown kind.
    let mut b = encoded(&chat(vec![OpId([0; 32])]));
    let text_at = b.len() - 1;
    b[text_at] = 0xff;
    assert_eq!(GroupMessage::decode(&b), Err(GroupWireError::NotUtf8));
    let mut b = encoded(&chat(vec![OpId([0; 32])]));
    b[25] = 3;
    assert_eq!(
        GroupMessage::decode(&b),
        Err(GroupWireError::UnknownKind(3))
    );
    assert_eq!(GroupMessage::decode(&[9]), Err(GroupWireError::NotGroup(9)));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(kind in 10u8..13, body in proptest::collection::vec(any::<u8>(), 0..3000)) {
        let mut bytes = vec![kind];
        bytes.extend(body);
        let _ = GroupMessage::decode(&bytes);
    }
}
