//! What the group tests share: fixed keys, a seeded random generator, ops made by hand
//! (as a malicious or confused member would make them, without the local checks of
//! `Group::author`), and a simulation of members that act while partitioned and sync.

use ed25519_dalek::SigningKey;

use super::machine::Group;
use super::op::{Action, Modes, Op, OpId, SignedOp};
use crate::identity::PeerId;

/// The key of test member `n` (seed `n` repeated).
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn peer(n: u8) -> PeerId {
    PeerId::of(&key(n))
}

/// xorshift64*: small, seeded, good enough to pick actions and shuffle.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// A group founded by member 1 at time 1000, with +t.
pub fn founded() -> (Group, SignedOp) {
    let modes = Modes {
        topic_ops: true,
        ..Modes::default()
    };
    Group::create(&key(1), "rust", modes, [7; 16], 1000).expect("create")
}

/// An op by member `author` with these parents, signed, bypassing every local check:
/// its lamport is the one its parents give.
pub fn forge(group: &Group, author: u8, parents: &[OpId], action: Action) -> SignedOp {
    let lamport = parents
        .iter()
        .map(|p| {
            group
                .ops()
                .into_iter()
                .find(|o| o.id() == *p)
                .map_or(0, |o| o.op().lamport)
        })
        .max()
        .map_or(0, |l| l + 1);
    let mut parents = parents.to_vec();
    parents.sort();
    let op = Op {
        group: group.id(),
        author: peer(author),
        lamport,
        created_at_ms: 2000,
        parents,
        action,
    };
    SignedOp::sign(op, &key(author)).expect("sign")
}

/// Member `n` authors `action` in `group` at time 2000.
pub fn act(group: &mut Group, n: u8, action: Action) -> SignedOp {
    group.author(&key(n), action, 2000).expect("author").0
}

/// Gives `to` every op of `from` it lacks.
pub fn sync(from: &Group, to: &mut Group) {
    let ops: Vec<SignedOp> = from.missing_for(&to.heads()).into_iter().cloned().collect();
    to.apply_all(ops);
}

/// A fresh member's copy of the group built from `ops` delivered one by one in this order.
pub fn replay(id: super::op::GroupId, ops: &[SignedOp]) -> Group {
    let mut group = Group::new(id);
    for op in ops {
        group.apply(op.clone()).expect("apply");
    }
    group
}

pub fn invite(n: u8) -> Action {
    Action::Invite { peer: peer(n) }
}

pub fn kick(n: u8) -> Action {
    Action::Kick {
        peer: peer(n),
        reason: "out".into(),
    }
}

pub fn topic(text: &str) -> Action {
    Action::Topic { text: text.into() }
}

/// Founder 1 (operator), members 2 and 3, everyone holding everything.
pub fn three() -> Group {
    let (mut g, _) = founded();
    for n in [2, 3] {
        act(&mut g, 1, invite(n));
        act(&mut g, n, Action::Join);
    }
    g
}
