//! A group's life, one rule at a time: founding, invitations and joins, strangers and
//! forgers, unauthorised ops, parts, modes, and the bounds (150 members, 256 places, the
//! log, the ops waiting for parents). Removals and ranks: `removal_tests.rs`.

use super::dag::{DagError, MAX_PENDING};
use super::machine::{ChatVerdict, Group, GroupError};
use super::op::{Action, Modes, Op, OpId, SignedOp};
use super::resolve::{Refusal, Verdict};
use super::state::{Change, MAX_MEMBERS};
use super::test_support::{
    act, forge, founded, invite, key, kick, peer, replay, sync, three, topic,
};

#[test]
fn founding_inviting_joining() {
    let (mut g, create) = founded();
    let s = g.state().unwrap();
    assert_eq!(s.founder, peer(1));
    assert_eq!(s.name, "rust");
    assert!(s.is_operator(&peer(1)) && s.modes.topic_ops);
    assert_eq!(g.verdict(&create.id()), Some(Verdict::Applied));
    let (_, fx) = g.author(&key(1), invite(2), 2000).unwrap();
    assert_eq!(
        fx.changes,
        vec![Change::Invited {
            peer: peer(2),
            by: peer(1)
        }]
    );
    assert_eq!(g.state().unwrap().op_recipients(&peer(1)), vec![peer(2)]);
    assert!(g.state().unwrap().recipients(&peer(1)).is_empty());
    let (_, fx) = g.author(&key(2), Action::Join, 2000).unwrap();
    assert_eq!(fx.changes, vec![Change::Joined { peer: peer(2) }]);
    assert_eq!(g.state().unwrap().recipients(&peer(1)), vec![peer(2)]);
    // A second join, or an invitation of a member, changes nothing and is refused locally.
    assert_eq!(
        g.author(&key(2), Action::Join, 2000).unwrap_err(),
        GroupError::Refused(Refusal::NotInvited)
    );
    assert_eq!(
        g.author(&key(1), invite(2), 2000).unwrap_err(),
        GroupError::Refused(Refusal::AlreadyMember)
    );
}

#[test]
fn an_invitee_gets_the_log_in_any_order() {
    let mut g = three();
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::default(),
            clear: Modes::from_bits(2).unwrap(),
        },
    );
    act(&mut g, 3, topic("hello"));
    act(&mut g, 1, invite(4));
    let mut ops: Vec<SignedOp> = g.ops().into_iter().cloned().collect();
    ops.reverse();
    let mut fresh = Group::new(g.id());
    let mut changes = Vec::new();
    for op in &ops {
        let fx = fresh.apply(op.clone()).unwrap();
        changes.extend(fx.changes);
    }
    assert_eq!(fresh.state(), g.state());
    assert_eq!(fresh.waiting(), 0);
    // Before the Create came there was no state; then all of it at once.
    assert!(changes.contains(&Change::Invited {
        peer: peer(4),
        by: peer(1)
    }));
    assert!(changes.contains(&Change::Joined { peer: peer(3) }));
}

#[test]
fn strangers_and_malformed_ops_are_not_admitted() {
    let g = three();
    let head = g.heads();
    // Key 9 was never invited.
    let stranger = forge(&g, 9, &head, topic("hi"));
    assert_eq!(
        g.clone().apply(stranger).unwrap_err(),
        GroupError::Dag(DagError::UnknownAuthor)
    );
    // A lamport its parents do not give.
    let mut op = forge(&g, 2, &head, topic("hi")).op().clone();
    op.lamport += 5;
    let bad = SignedOp::sign(op, &key(2)).unwrap();
    assert!(matches!(
        g.clone().apply(bad),
        Err(GroupError::Dag(DagError::BadLamport { .. }))
    ));
    // Another group's op.
    let (other, _) = Group::create(&key(1), "other", Modes::default(), [8; 16], 0).unwrap();
    let theirs = forge(&other, 1, &other.heads(), topic("x"));
    assert_eq!(
        g.clone().apply(theirs).unwrap_err(),
        GroupError::Dag(DagError::WrongGroup)
    );
    // A second Create for the same group cannot exist (the id binds founder and nonce),
    // and the same Create again is a duplicate that changes nothing.
    let (_, create) = founded();
    assert_eq!(g.clone().apply(create).unwrap(), Default::default());
}

#[test]
fn unauthorised_ops_are_kept_without_effect() {
    let mut g = three();
    act(&mut g, 1, invite(4));
    let before = g.state().cloned();
    let head = g.heads();
    let cases = [
        (forge(&g, 2, &head, kick(3)), Refusal::NotOperator),
        (
            forge(&g, 2, &head, Action::Op { peer: peer(3) }),
            Refusal::NotOperator,
        ),
        (
            forge(
                &g,
                2,
                &head,
                Action::Mode {
                    set: Modes::from_bits(4).unwrap(),
                    clear: Modes::default(),
                },
            ),
            Refusal::NotOperator,
        ),
        (forge(&g, 2, &head, topic("mine")), Refusal::NotOperator),
        (forge(&g, 4, &head, topic("mine")), Refusal::NotMember),
        (forge(&g, 1, &head, kick(5)), Refusal::NoSuchMember),
    ];
    for (op, why) in cases {
        let id = op.id();
        let fx = g.apply(op).unwrap();
        assert_eq!(fx.admitted, vec![id]);
        assert_eq!(fx.refused, vec![(id, why)]);
        assert!(fx.changes.is_empty());
        assert_eq!(g.verdict(&id), Some(Verdict::Refused(why)));
    }
    assert_eq!(g.state().cloned(), before);
    // The same actions through `author` make no op at all.
    assert_eq!(
        g.author(&key(2), kick(3), 0).unwrap_err(),
        GroupError::Refused(Refusal::NotOperator)
    );
    assert_eq!(
        g.author(&key(4), topic("x"), 0).unwrap_err(),
        GroupError::Refused(Refusal::NotMember)
    );
}

#[test]
fn parting_and_coming_back() {
    let mut g = three();
    let (_, fx) = g
        .author(
            &key(3),
            Action::Part {
                reason: "bye".into(),
            },
            0,
        )
        .unwrap();
    assert_eq!(
        fx.changes,
        vec![Change::Parted {
            peer: peer(3),
            reason: "bye".into()
        }]
    );
    assert_eq!(
        g.author(&key(3), topic("x"), 0).unwrap_err(),
        GroupError::Refused(Refusal::NotMember)
    );
    act(&mut g, 1, invite(3));
    // Declining an invitation is a Part too.
    let (_, fx) = g
        .author(
            &key(3),
            Action::Part {
                reason: String::new(),
            },
            0,
        )
        .unwrap();
    assert_eq!(fx.changes, vec![Change::Uninvited { peer: peer(3) }]);
    act(&mut g, 1, invite(3));
    act(&mut g, 3, Action::Join);
    assert!(g.state().unwrap().is_member(&peer(3)));
    // The founder leaves: the group has no operator left, and nobody can kick.
    act(
        &mut g,
        1,
        Action::Part {
            reason: String::new(),
        },
    );
    assert!(g.state().unwrap().operators().is_empty());
    assert_eq!(
        g.author(&key(2), kick(3), 0).unwrap_err(),
        GroupError::Refused(Refusal::NotOperator)
    );
}

#[test]
fn modes_restrict_invitations_and_topic() {
    let mut g = three();
    assert_eq!(
        g.author(&key(2), topic("x"), 0).unwrap_err(),
        GroupError::Refused(Refusal::NotOperator)
    );
    act(&mut g, 2, invite(4));
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::from_bits(1).unwrap(),
            clear: Modes::from_bits(2).unwrap(),
        },
    );
    assert_eq!(
        g.author(&key(2), invite(5), 0).unwrap_err(),
        GroupError::Refused(Refusal::NotOperator)
    );
    act(&mut g, 2, topic("now anyone may"));
    // A kick withdraws an invitation.
    let (_, fx) = g.author(&key(1), kick(4), 0).unwrap();
    assert_eq!(fx.changes, vec![Change::Uninvited { peer: peer(4) }]);
    assert_eq!(
        g.author(&key(4), Action::Join, 0).unwrap_err(),
        GroupError::Refused(Refusal::NotInvited)
    );
}

#[test]
fn a_hundred_and_fifty_members() {
    let (mut g, _) = founded();
    for n in 2..=151u8 {
        act(&mut g, 1, invite(n));
    }
    for n in 2..=151u8 {
        act(&mut g, n, Action::Join);
    }
    let s = g.state().unwrap();
    assert_eq!(s.members.len(), 151);
    assert_eq!(s.recipients(&peer(1)).len(), 150);
    assert_eq!(g.len(), 301);
    for n in [2u8, 77, 151] {
        assert_eq!(
            g.check_chat(&peer(n), &g.chat_deps(&peer(n))),
            ChatVerdict::Accept
        );
    }
    // A member that joined late gets the whole log, shuffled, and agrees.
    let mut ops: Vec<SignedOp> = g.ops().into_iter().cloned().collect();
    super::test_support::Rng::new(15).shuffle(&mut ops);
    assert_eq!(replay(g.id(), &ops).state(), g.state());
    assert_eq!(g.resolved_afresh().as_ref(), g.state());
}

/// Peers beyond the 255 of [`key`]: they are only invited, never act.
fn wide(n: u16) -> crate::identity::PeerId {
    let mut seed = [0xaa; 32];
    seed[..2].copy_from_slice(&n.to_be_bytes());
    crate::identity::PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&seed))
}

#[test]
fn the_group_size_is_bounded() {
    let (mut g, _) = founded();
    act(&mut g, 1, invite(2));
    let mut n = 0u16;
    while g.state().unwrap().size() < MAX_MEMBERS {
        act(&mut g, 1, Action::Invite { peer: wide(n) });
        n += 1;
    }
    assert_eq!(
        g.author(&key(1), Action::Invite { peer: wide(n) }, 0)
            .unwrap_err(),
        GroupError::Refused(Refusal::GroupFull)
    );
    // Joining takes no new place.
    act(&mut g, 2, Action::Join);
    assert_eq!(g.state().unwrap().size(), MAX_MEMBERS);
}

#[test]
fn ops_waiting_for_parents_are_bounded_and_reported() {
    let g = three();
    let mut fresh = Group::new(g.id());
    let ops: Vec<SignedOp> = g.ops().into_iter().cloned().collect();
    // The last op alone: it waits, and names the parent nobody gave.
    let last = ops.last().unwrap().clone();
    let fx = fresh.apply(last.clone()).unwrap();
    assert!(fx.admitted.is_empty());
    assert_eq!(fx.missing, last.op().parents);
    assert_eq!(fresh.state(), None);
    // Heads-based sync fills the gap.
    sync(&g, &mut fresh);
    assert_eq!(fresh.state(), g.state());
    // Orphans (parents nobody has) wait, up to the bound.
    let mut h = three();
    for i in 0..=MAX_PENDING as u64 {
        let op = Op {
            group: h.id(),
            author: peer(2),
            lamport: 9,
            created_at_ms: i,
            parents: vec![OpId([1; 32])],
            action: Action::Join,
        };
        let op = SignedOp::sign(op, &key(2)).unwrap();
        let result = h.apply(op);
        if (i as usize) < MAX_PENDING {
            assert!(result.is_ok());
        } else {
            assert_eq!(result.unwrap_err(), GroupError::Dag(DagError::PendingFull));
        }
    }
    assert_eq!(h.waiting(), MAX_PENDING);
}

#[test]
fn the_log_is_bounded() {
    let (mut g, _) = founded();
    act(
        &mut g,
        1,
        Action::Mode {
            set: Modes::default(),
            clear: Modes::from_bits(2).unwrap(),
        },
    );
    for n in 2..=20u8 {
        act(&mut g, 1, invite(n));
        act(&mut g, n, Action::Join);
    }
    let mut i = 0u32;
    while g.len() < super::dag::MAX_OPS {
        let n = (i % 20) as u8 + 1;
        act(&mut g, n, topic(&format!("{i}")));
        i += 1;
    }
    assert_eq!(
        g.author(&key(1), topic("one more"), 0).unwrap_err(),
        GroupError::Dag(DagError::LogFull)
    );
    // A newcomer takes the whole log as a sync sends it (parents first), in one batch or
    // one op at a time.
    let ops: Vec<SignedOp> = g.ops().into_iter().cloned().collect();
    let mut fresh = Group::new(g.id());
    fresh.apply_all(ops.clone());
    let one_by_one = replay(g.id(), &ops);
    assert_eq!(fresh.state(), g.state());
    assert_eq!(one_by_one.state(), g.state());
}
