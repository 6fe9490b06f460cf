//! The causal graph of a group's ops: which ops are admitted, in which total order they
//! are read, who descends from whom, and the ops that wait for missing parents (bounded).
//!
//! An op is *admitted* once all its parents are, and only if it passes the checks that
//! depend on nothing but itself and its ancestors, so that every member that holds its
//! ancestors admits it too, whatever the arrival order:
//! - its lamport is exactly 1 + the largest lamport of its parents (no op can claim to come
//!   later, or earlier, than its parents make it);
//! - its author is the founder, or a peer that an Invite among its ancestors names (a
//!   stranger cannot fill a group's log with ops of unknown keys).
//!
//! Only the number of ops is a local bound ([`MAX_OPS`]): a group that reaches it takes no
//! more ops at this member, which says so (an error), rather than diverge silently.

use std::collections::{HashMap, HashSet};

use super::op::{Action, GroupId, OpId, SignedOp};
use crate::identity::PeerId;

/// At most this many ops in one group's log. Each admitted op keeps the set of its
/// ancestors as a bitmap, so the log's memory grows with the square of its length (n²/16
/// bytes): 1 MiB at this bound, 6 KiB for the ~300 ops of a 150-member group.
pub const MAX_OPS: usize = 4096;
/// At most this many ops wait for missing parents.
pub const MAX_PENDING: usize = 1024;

/// Why an op is not admitted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DagError {
    #[error("the op belongs to another group")]
    WrongGroup,
    #[error("a second Create op for the group")]
    SecondGenesis,
    #[error("lamport {found}, but its parents make it {expected}")]
    BadLamport { expected: u64, found: u64 },
    #[error("the author is neither the founder nor invited by an earlier op")]
    UnknownAuthor,
    #[error("the group's log holds {MAX_OPS} ops: it takes no more")]
    LogFull,
    #[error("{MAX_PENDING} ops already wait for their parents")]
    PendingFull,
}

/// Where an op stands in the total order: by lamport, then author key, then id. Parents
/// have smaller lamports than their children, so the order extends the causal one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderKey {
    pub lamport: u64,
    pub author: [u8; 32],
    pub id: [u8; 32],
}

impl OrderKey {
    pub fn of(op: &SignedOp) -> OrderKey {
        OrderKey {
            lamport: op.op().lamport,
            author: *op.author().as_bytes(),
            id: op.id().0,
        }
    }
}

/// A set of admitted ops, by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bits(Vec<u64>);

impl Bits {
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub fn insert(&mut self, i: usize) {
        if self.0.len() <= i / 64 {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }

    pub fn union_with(&mut self, other: &Bits) {
        if self.0.len() < other.0.len() {
            self.0.resize(other.0.len(), 0);
        }
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

/// One admitted op.
#[derive(Clone)]
pub struct Node {
    pub op: SignedOp,
    pub key: OrderKey,
    /// Its ancestors (not itself).
    pub ancestors: Bits,
    children: usize,
}

/// What one call to [`Dag::insert`] did.
#[derive(Debug, Default)]
pub struct Admission {
    /// Indices of the ops admitted now: the op given, and waiting ops it completed.
    pub admitted: Vec<usize>,
    /// Parents nobody has given us yet (ask the sender for them).
    pub missing: Vec<OpId>,
    /// Waiting ops that turned out not to be admissible once their parents came.
    pub dropped: Vec<(OpId, DagError)>,
}

/// The admitted ops of a group and those waiting for parents.
#[derive(Clone)]
pub struct Dag {
    group: GroupId,
    nodes: Vec<Node>,
    index: HashMap<OpId, usize>,
    /// Indices by [`OrderKey`].
    order: Vec<usize>,
    /// Invite ops by the peer they name.
    invites: HashMap<PeerId, Vec<usize>>,
    waiting: HashMap<OpId, SignedOp>,
    /// Missing parent -> waiting ops that need it.
    needed_by: HashMap<OpId, Vec<OpId>>,
}

impl Dag {
    pub fn new(group: GroupId) -> Dag {
        Dag {
            group,
            nodes: Vec::new(),
            index: HashMap::new(),
            order: Vec::new(),
            invites: HashMap::new(),
            waiting: HashMap::new(),
            needed_by: HashMap::new(),
        }
    }

    pub fn group(&self) -> GroupId {
        self.group
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    pub fn get(&self, id: &OpId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Indices in the total order.
    pub fn order(&self) -> &[usize] {
        &self.order
    }

    /// Whether `a` is an ancestor of `b`.
    pub fn precedes(&self, a: usize, b: usize) -> bool {
        self.nodes[b].ancestors.contains(a)
    }

    /// Ops waiting for parents.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Whether the op is admitted or waiting.
    pub fn knows(&self, id: &OpId) -> bool {
        self.index.contains_key(id) || self.waiting.contains_key(id)
    }

    /// Admitted ops without admitted children, in the total order.
    pub fn heads(&self) -> Vec<usize> {
        self.order
            .iter()
            .copied()
            .filter(|&i| self.nodes[i].children == 0)
            .collect()
    }

    /// Admits `op` if it can be, with every waiting op it completes; an op whose parents
    /// are missing waits. An op already known changes nothing.
    pub fn insert(&mut self, op: SignedOp) -> Result<Admission, DagError> {
        if op.op().group != self.group {
            return Err(DagError::WrongGroup);
        }
        let mut done = Admission::default();
        if self.knows(&op.id()) {
            return Ok(done);
        }
        let missing: Vec<OpId> = op
            .op()
            .parents
            .iter()
            .filter(|p| !self.index.contains_key(p))
            .copied()
            .collect();
        // A non-Create op has parents, so with no genesis yet some are missing.
        if !missing.is_empty() {
            if self.waiting.len() >= MAX_PENDING {
                return Err(DagError::PendingFull);
            }
            let id = op.id();
            for parent in &missing {
                self.needed_by.entry(*parent).or_default().push(id);
            }
            done.missing = missing
                .into_iter()
                .filter(|p| !self.waiting.contains_key(p))
                .collect();
            self.waiting.insert(id, op);
            return Ok(done);
        }
        let first = self.admit(op)?;
        done.admitted.push(first);
        // Waiting ops this one completes, breadth first.
        let mut ready = vec![self.nodes[first].op.id()];
        while let Some(id) = ready.pop() {
            for child in self.needed_by.remove(&id).unwrap_or_default() {
                let Some(op) = self.waiting.get(&child) else {
                    continue;
                };
                if op.op().parents.iter().any(|p| !self.index.contains_key(p)) {
                    continue;
                }
                let Some(op) = self.waiting.remove(&child) else {
                    continue;
                };
                match self.admit(op) {
                    Ok(i) => {
                        done.admitted.push(i);
                        ready.push(child);
                    }
                    Err(e) => done.dropped.push((child, e)),
                }
            }
        }
        Ok(done)
    }

    /// Admits an op whose parents are all admitted.
    fn admit(&mut self, op: SignedOp) -> Result<usize, DagError> {
        let parents: Vec<usize> = op.op().parents.iter().map(|p| self.index[p]).collect();
        if parents.is_empty() && !self.nodes.is_empty() {
            return Err(DagError::SecondGenesis);
        }
        let expected = parents
            .iter()
            .map(|&p| self.nodes[p].key.lamport + 1)
            .max()
            .unwrap_or(0);
        if op.op().lamport != expected {
            return Err(DagError::BadLamport {
                expected,
                found: op.op().lamport,
            });
        }
        if self.nodes.len() >= MAX_OPS {
            return Err(DagError::LogFull);
        }
        let mut ancestors = Bits::default();
        for &p in &parents {
            ancestors.union_with(&self.nodes[p].ancestors);
            ancestors.insert(p);
        }
        let author = op.author();
        let founder = self.nodes.first().map(|g| g.op.author());
        let invited = self
            .invites
            .get(&author)
            .is_some_and(|v| v.iter().any(|&i| ancestors.contains(i)));
        if !parents.is_empty() && founder != Some(author) && !invited {
            return Err(DagError::UnknownAuthor);
        }
        let i = self.nodes.len();
        for &p in &parents {
            self.nodes[p].children += 1;
        }
        if let Action::Invite { peer } = op.op().action {
            self.invites.entry(peer).or_default().push(i);
        }
        let key = OrderKey::of(&op);
        let at = self.order.partition_point(|&j| self.nodes[j].key < key);
        self.order.insert(at, i);
        self.index.insert(op.id(), i);
        self.nodes.push(Node {
            op,
            key,
            ancestors,
            children: 0,
        });
        Ok(i)
    }

    /// The admitted ops a peer whose heads are `theirs` lacks, in the total order (parents
    /// before children): every op that is not one of their heads we know or an ancestor of
    /// one. Heads we do not know are skipped (the peer has ops we lack: it learns ours from
    /// our heads).
    pub fn missing_for(&self, theirs: &[OpId]) -> Vec<&SignedOp> {
        let mut known = Bits::default();
        for i in theirs.iter().filter_map(|h| self.get(h)) {
            known.union_with(&self.nodes[i].ancestors);
            known.insert(i);
        }
        self.order
            .iter()
            .filter(|&&i| !known.contains(i))
            .map(|&i| &self.nodes[i].op)
            .collect()
    }

    /// Of `ids`, those that are neither admitted nor waiting.
    pub fn unknown(&self, ids: &[OpId]) -> Vec<OpId> {
        let mut seen = HashSet::new();
        ids.iter()
            .filter(|id| !self.knows(id) && seen.insert(**id))
            .copied()
            .collect()
    }
}
