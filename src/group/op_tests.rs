//! Ops alone: every kind survives encoding, the layout is the documented one, and bytes
//! that are not exactly a signed op (any bit changed, cut, extended, random) are refused
//! without a panic.

use proptest::prelude::*;

use super::*;
use crate::group::test_support::{key, peer};

fn create_op() -> SignedOp {
    let nonce = [7; 16];
    let modes = Modes {
        topic_ops: true,
        ..Modes::default()
    };
    let op = Op {
        group: GroupId::derive(&peer(1), 1000, &nonce, modes, "rust"),
        author: peer(1),
        lamport: 0,
        created_at_ms: 1000,
        parents: Vec::new(),
        action: Action::Create {
            nonce,
            modes,
            name: "rust".into(),
        },
    };
    SignedOp::sign(op, &key(1)).unwrap()
}

fn op_with(action: Action, parents: Vec<OpId>) -> Op {
    Op {
        group: create_op().op().group,
        author: peer(1),
        lamport: 1,
        created_at_ms: 2000,
        parents,
        action,
    }
}

fn every_kind() -> Vec<SignedOp> {
    let genesis = create_op();
    let parent = vec![genesis.id()];
    let modes = |bits| Modes::from_bits(bits).unwrap();
    let actions = vec![
        Action::Invite { peer: peer(2) },
        Action::Join,
        Action::Part {
            reason: "bye".into(),
        },
        Action::Kick {
            peer: peer(2),
            reason: "spam \u{e9}".into(),
        },
        Action::Op { peer: peer(2) },
        Action::Deop { peer: peer(1) },
        Action::Topic {
            text: "x".repeat(MAX_TOPIC),
        },
        Action::Topic {
            text: String::new(),
        },
        Action::Mode {
            set: modes(5),
            clear: modes(2),
        },
    ];
    let mut ops = vec![genesis];
    for action in actions {
        ops.push(SignedOp::sign(op_with(action, parent.clone()), &key(1)).unwrap());
    }
    ops
}

#[test]
fn every_kind_round_trips() {
    for op in every_kind() {
        let back = SignedOp::decode(op.bytes()).unwrap();
        assert_eq!(back, op);
        assert_eq!(back.id(), op.id());
    }
}

#[test]
fn layout_is_the_documented_one() {
    let genesis = create_op();
    let b = genesis.bytes();
    assert_eq!(b[0], 1);
    assert_eq!(&b[1..33], &genesis.op().group.0);
    assert_eq!(&b[33..65], peer(1).as_bytes());
    assert_eq!(&b[65..73], &0u64.to_be_bytes());
    assert_eq!(&b[73..81], &1000u64.to_be_bytes());
    assert_eq!(b[81], 0, "no parents");
    assert_eq!(b[82], 0, "kind Create");
    assert_eq!(&b[83..99], &[7; 16], "nonce");
    assert_eq!(b[99], 2, "modes +t");
    assert_eq!(b[100], 4, "name length");
    assert_eq!(&b[101..105], b"rust");
    assert_eq!(b.len(), 105 + 64);
    let join = SignedOp::sign(op_with(Action::Join, vec![genesis.id()]), &key(1)).unwrap();
    let b = join.bytes();
    assert_eq!(b[81], 1);
    assert_eq!(&b[82..114], &genesis.id().0);
    assert_eq!(b[114], 2, "kind Join");
    assert_eq!(b.len(), 115 + 64);
}

/// Known values: the op id and group id of the Create above, so that a change of the
/// encoding cannot pass unnoticed (docs/plans/groups.md quotes them).
#[test]
fn known_ids() {
    let genesis = create_op();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(&genesis.op().group.0),
        "9f1e2bad32e090b029775b89195ea28cdc37f273332962e3801879de2789b3d1"
    );
    assert_eq!(
        hex(&genesis.id().0),
        "7368e2191205f2b3d0736268d660844c007ce38f443ba10b2a3ddf176ddba237"
    );
    // Ed25519 signatures are deterministic: this one was also computed with another
    // implementation (Python's `cryptography`) from the documented layout.
    assert_eq!(
        hex(&genesis.bytes()[105..]),
        "06924940f18381194213b06966a4da7109267ac7b83dc4ae59cacc92d0ef677a\
         da6cc9f572f87abd8cbe28ec3d0481d7f7c8a79ad29ae12c7b34cc62e84cbf0f"
    );
}

#[test]
fn the_longest_op_fits_the_bound() {
    let parents: Vec<OpId> = (0..MAX_PARENTS as u8).map(|i| OpId([i; 32])).collect();
    let mut op = op_with(
        Action::Topic {
            text: "t".repeat(MAX_TOPIC),
        },
        parents,
    );
    op.lamport = 9;
    let signed = SignedOp::sign(op, &key(1)).unwrap();
    assert_eq!(signed.bytes().len(), MAX_OP_BYTES);
    assert_eq!(SignedOp::decode(signed.bytes()).unwrap(), signed);
    let mut longer = signed.bytes().to_vec();
    longer.push(0);
    assert_eq!(
        SignedOp::decode(&longer),
        Err(OpError::TooLong(MAX_OP_BYTES + 1))
    );
}

#[test]
fn every_bit_flip_is_refused() {
    for op in every_kind() {
        let bytes = op.bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.to_vec();
                bad[i] ^= 1 << bit;
                assert!(SignedOp::decode(&bad).is_err(), "byte {i} bit {bit}");
            }
        }
    }
}

#[test]
fn cut_or_extended_ops_are_refused() {
    for op in every_kind() {
        let bytes = op.bytes();
        for len in 0..bytes.len() {
            assert!(SignedOp::decode(&bytes[..len]).is_err(), "cut at {len}");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert_eq!(SignedOp::decode(&longer), Err(OpError::Trailing(1)));
    }
}

#[test]
fn another_signer_is_refused() {
    let op = op_with(Action::Join, vec![create_op().id()]);
    assert_eq!(
        SignedOp::sign(op.clone(), &key(2)),
        Err(OpError::WrongSigner)
    );
    // A signature by key 2 over an op that names key 1 as its author.
    let mut bytes = SignedOp::sign(op, &key(1)).unwrap().bytes().to_vec();
    let content = bytes.len() - 64;
    let forged = ed25519_dalek::Signer::sign(&key(2), &[SIGN_LABEL, &bytes[..content]].concat());
    bytes[content..].copy_from_slice(&forged.to_bytes());
    assert_eq!(SignedOp::decode(&bytes), Err(OpError::BadSignature));
}

#[test]
fn rules_an_op_obeys_alone() {
    let g = create_op().id();
    let sign = |op: Op| SignedOp::sign(op, &key(1)).map(|_| ());
    let mut op = op_with(Action::Join, vec![]);
    assert_eq!(sign(op.clone()), Err(OpError::BadGenesis));
    op.parents = vec![OpId([2; 32]), OpId([1; 32])];
    assert_eq!(sign(op.clone()), Err(OpError::ParentsNotSorted));
    op.parents = vec![OpId([1; 32]), OpId([1; 32])];
    assert_eq!(sign(op.clone()), Err(OpError::ParentsNotSorted));
    op.parents = vec![g];
    op.lamport = 0;
    assert_eq!(sign(op), Err(OpError::BadGenesis));
    let self_kick = Action::Kick {
        peer: peer(1),
        reason: String::new(),
    };
    assert_eq!(sign(op_with(self_kick, vec![g])), Err(OpError::SelfTarget));
    assert_eq!(
        sign(op_with(Action::Invite { peer: peer(1) }, vec![g])),
        Err(OpError::SelfTarget)
    );
    // Deopping oneself is allowed.
    assert_eq!(
        sign(op_with(Action::Deop { peer: peer(1) }, vec![g])),
        Ok(())
    );
    let long = "r".repeat(MAX_REASON + 1);
    assert!(matches!(
        sign(op_with(Action::Part { reason: long }, vec![g])),
        Err(OpError::TextTooLong { .. })
    ));
    let injected = "a\r\nQUIT".to_string();
    assert_eq!(
        sign(op_with(Action::Topic { text: injected }, vec![g])),
        Err(OpError::BadText)
    );
    let none = Modes::default();
    let t = Modes::from_bits(2).unwrap();
    for (set, clear) in [(none, none), (t, t)] {
        assert_eq!(
            sign(op_with(Action::Mode { set, clear }, vec![g])),
            Err(OpError::BadModes)
        );
    }
}

#[test]
fn names_and_group_ids() {
    for bad in [
        "",
        "a b",
        "a,b",
        "a:b",
        "a\u{7}b",
        &"n".repeat(MAX_NAME + 1),
    ] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    for good in ["rust", "caf\u{e9}", "#not-a-prefix", &"n".repeat(MAX_NAME)] {
        assert_eq!(check_name(good), Ok(()), "{good:?}");
    }
    // The group id binds the founder and the whole Create: another key, time, nonce,
    // mode or name is another group, and a Create naming another group id is refused.
    let id = |f: u8, t: u64, n: u8, m: u8, name: &str| {
        GroupId::derive(&peer(f), t, &[n; 16], Modes::from_bits(m).unwrap(), name)
    };
    let base = id(1, 1000, 7, 2, "rust");
    assert_eq!(base, create_op().op().group);
    for other in [
        id(2, 1000, 7, 2, "rust"),
        id(1, 1001, 7, 2, "rust"),
        id(1, 1000, 8, 2, "rust"),
        id(1, 1000, 7, 3, "rust"),
        id(1, 1000, 7, 2, "rusty"),
    ] {
        assert_ne!(base, other);
    }
    let mut op = create_op().op().clone();
    op.created_at_ms += 1;
    assert_eq!(SignedOp::sign(op, &key(1)), Err(OpError::BadGroupId));
}

#[test]
fn debug_shows_no_full_keys() {
    let op = create_op();
    let shown = format!("{op:?}");
    assert!(!shown.contains(&peer(1).nick()));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = SignedOp::decode(&bytes);
    }

    #[test]
    fn mutated_ops_never_panic_and_never_pass(
        which in 0usize..10,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let ops = every_kind();
        let op = &ops[which % ops.len()];
        let mut bytes = op.bytes().to_vec();
        for (at, value) in edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        // Only edits that change nothing pass.
        if let Ok(back) = SignedOp::decode(&bytes) {
            prop_assert_eq!(back.bytes(), op.bytes());
        }
    }
}

/// The group vectors of docs/test-vectors.md ("Groups"), checked literally: a five-op log
/// (Create, an Invite of member 2, its Join, a Topic concurrent with the Join, a Kick of
/// member 2 with both as parents), what it resolves to, and the chat check against it. The
/// bytes were also computed with Python's `cryptography` from protocol.md's layout.
#[test]
fn the_documented_group_vectors() {
    use crate::group::{ChatVerdict, Departure, Group, Refusal};
    const DOC: &str = include_str!("../../docs/test-vectors.md");
    let flat: String = DOC.split_whitespace().collect();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let sign = |n: u8, op: Op| SignedOp::sign(op, &key(n)).unwrap();
    let create = create_op();
    let group = create.op().group;
    let at = |author: u8, lamport: u64, time: u64, parents: Vec<OpId>, action: Action| Op {
        group,
        author: peer(author),
        lamport,
        created_at_ms: time,
        parents,
        action,
    };
    let invite = sign(
        1,
        at(
            1,
            1,
            2000,
            vec![create.id()],
            Action::Invite { peer: peer(2) },
        ),
    );
    let join = sign(2, at(2, 2, 3000, vec![invite.id()], Action::Join));
    let topic = sign(
        1,
        at(
            1,
            2,
            3500,
            vec![invite.id()],
            Action::Topic {
                text: "hello".into(),
            },
        ),
    );
    let mut both = vec![join.id(), topic.id()];
    both.sort();
    let kick = sign(
        1,
        at(
            1,
            3,
            4000,
            both,
            Action::Kick {
                peer: peer(2),
                reason: "bye".into(),
            },
        ),
    );
    let log = [&create, &invite, &join, &topic, &kick];
    for op in log {
        for value in [hex(op.bytes()), hex(&op.id().0)] {
            assert!(
                flat.contains(&value),
                "{value} missing from test-vectors.md"
            );
        }
    }
    // The group id's input, as the document spells it.
    let input = [
        GROUP_ID_LABEL,
        peer(1).as_bytes(),
        &1000u64.to_be_bytes(),
        &[7; 16],
        &[2, 4],
        b"rust",
    ]
    .concat();
    assert!(flat.contains(&hex(&input)));
    // Before the Kick: member 2 speaks with its Join as context, not with the Topic alone.
    let mut before = Group::new(group);
    before.apply_all(log[..4].iter().map(|op| (*op).clone()));
    assert_eq!(
        before.check_chat(&peer(2), &[join.id()]),
        ChatVerdict::Accept
    );
    assert_eq!(
        before.check_chat(&peer(2), &[topic.id()]),
        ChatVerdict::Drop(Refusal::Unseen)
    );
    // Fed in reverse, the log resolves the same: the order is by (lamport, author, id).
    let mut g = Group::new(group);
    g.apply_all(log.iter().rev().map(|op| (*op).clone()));
    let order: Vec<OpId> = g.ops().iter().map(|op| op.id()).collect();
    assert_eq!(
        order,
        [create.id(), invite.id(), join.id(), topic.id(), kick.id()]
    );
    let state = g.state().unwrap();
    assert_eq!(state.members.keys().copied().collect::<Vec<_>>(), [peer(1)]);
    assert!(state.is_operator(&peer(1)));
    assert_eq!(
        state.departed.get(&peer(2)),
        Some(&Departure::Kicked {
            by: peer(1),
            reason: "bye".into()
        })
    );
    let shown = state.topic.as_ref().unwrap();
    assert_eq!((shown.text.as_str(), shown.at_ms), ("hello", 3500));
    assert_eq!(g.passes(), 1);
    assert_eq!(
        g.check_chat(&peer(2), &[join.id()]),
        ChatVerdict::Drop(Refusal::NotMember)
    );
    // A peer whose head is the Join lacks the Topic and the Kick, in that order.
    let lacks: Vec<OpId> = g
        .missing_for(&[join.id()])
        .iter()
        .map(|op| op.id())
        .collect();
    assert_eq!(lacks, [topic.id(), kick.id()]);
}
