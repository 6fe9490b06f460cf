//! One group as a member's gateway holds it: ops in, state and effects out. Pure: the
//! caller brings the ops (from sessions or the store), the clock and the randomness, and
//! carries out the effects (sending ops and chats, telling front ends).

use ed25519_dalek::SigningKey;

use super::dag::{Bits, Dag, DagError};
use super::op::{Action, GroupId, MAX_PARENTS, Modes, Op, OpError, OpId, SignedOp};
use super::resolve::{self, Refusal, Resolution, Verdict};
use super::state::{Change, GroupState, Role, diff};
use crate::identity::PeerId;

/// At most this many op ids a group chat names as its causal context.
pub const MAX_DEPS: usize = MAX_PARENTS;

/// Why an op was not taken, or a local action not made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("bad op: {0}")]
    Op(#[from] OpError),
    #[error("op not admitted: {0}")]
    Dag(#[from] DagError),
    #[error("not allowed: {0}")]
    Refused(Refusal),
    #[error("the group's Create op has not arrived yet")]
    NotFounded,
}

/// What taking ops did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// Ops added to the log (the ones given and waiting ones they completed), to store.
    pub admitted: Vec<OpId>,
    /// What changed in the group's state, to show.
    pub changes: Vec<Change>,
    /// Parents nobody gave us yet: ask the peer that sent the op (send it our heads).
    pub missing: Vec<OpId>,
    /// Admitted ops that have no effect as things stand, and why.
    pub refused: Vec<(OpId, Refusal)>,
    /// Ops not admitted (an `apply_all` goes on after them).
    pub dropped: Vec<(OpId, DagError)>,
}

/// What to do with a group chat message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChatVerdict {
    /// Show it.
    Accept,
    /// Some of its causal context has not arrived: keep it until it has (ask its sender
    /// for these ops; empty when they wait for parents of their own).
    Wait { missing: Vec<OpId> },
    /// Drop it.
    Drop(Refusal),
}

/// One group: its log and its resolved state.
#[derive(Clone)]
pub struct Group {
    dag: Dag,
    resolution: Resolution,
}

impl Group {
    /// A group known by id only (an invitee's before its ops arrive): it takes ops and
    /// has a state once its Create op has come.
    pub fn new(id: GroupId) -> Group {
        Group {
            dag: Dag::new(id),
            resolution: Resolution::default(),
        }
    }

    /// Founds a group: returns it and its Create op (to store; it goes to each invitee
    /// with the rest of the log). `nonce`: 16 random bytes.
    pub fn create(
        key: &SigningKey,
        name: &str,
        modes: Modes,
        nonce: [u8; 16],
        now_ms: u64,
    ) -> Result<(Group, SignedOp), GroupError> {
        let founder = PeerId::of(key);
        let op = Op {
            group: GroupId::derive(&founder, now_ms, &nonce, modes, name),
            author: founder,
            lamport: 0,
            created_at_ms: now_ms,
            parents: Vec::new(),
            action: Action::Create {
                nonce,
                modes,
                name: name.to_owned(),
            },
        };
        let op = SignedOp::sign(op, key)?;
        let mut group = Group::new(op.op().group);
        group.apply(op.clone())?;
        Ok((group, op))
    }

    pub fn id(&self) -> GroupId {
        self.dag.group()
    }

    /// The resolved state, once the Create op has arrived.
    pub fn state(&self) -> Option<&GroupState> {
        self.resolution.state.as_ref()
    }

    /// Ops in the log.
    pub fn len(&self) -> usize {
        self.dag.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dag.is_empty()
    }

    /// When the group was created (its Create op's clock), once that op has come: every
    /// other op descends from it, so it is the first in the total order.
    pub fn created_at_ms(&self) -> Option<u64> {
        let first = self.dag.order().first()?;
        Some(self.dag.node(*first).op.op().created_at_ms)
    }

    /// Whether the op is in the log or waits for its parents.
    pub fn knows(&self, id: &OpId) -> bool {
        self.dag.knows(id)
    }

    /// Ops waiting for their parents.
    pub fn waiting(&self) -> usize {
        self.dag.waiting()
    }

    /// The state a resolution from scratch gives (tests compare it with the incremental
    /// one).
    #[cfg(test)]
    pub(crate) fn resolved_afresh(&self) -> Option<GroupState> {
        resolve::resolve(&self.dag).state
    }

    /// Passes the last full resolution took (1 unless a removal struck applied ops).
    pub fn passes(&self) -> usize {
        self.resolution.passes
    }

    /// What became of an admitted op.
    pub fn verdict(&self, id: &OpId) -> Option<Verdict> {
        self.dag.get(id).and_then(|i| self.resolution.verdict(i))
    }

    /// Takes one op (from a peer or the store).
    pub fn apply(&mut self, op: SignedOp) -> Result<Effects, GroupError> {
        let before = self.dag.len();
        let admission = self.dag.insert(op)?;
        Ok(self.settle(
            before,
            admission.admitted,
            admission.missing,
            admission.dropped,
        ))
    }

    /// Takes many ops at once (a sync, or the store at start): one resolution for all.
    /// Ops that are not admitted are listed in [`Effects::dropped`].
    pub fn apply_all(&mut self, ops: impl IntoIterator<Item = SignedOp>) -> Effects {
        let before = self.dag.len();
        let (mut admitted, mut missing, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
        for op in ops {
            let id = op.id();
            match self.dag.insert(op) {
                Ok(a) => {
                    admitted.extend(a.admitted);
                    missing.extend(a.missing);
                    dropped.extend(a.dropped);
                }
                Err(e) => dropped.push((id, e)),
            }
        }
        let missing = self.dag.unknown(&missing);
        self.settle(before, admitted, missing, dropped)
    }

    /// Resolves after admissions and says what changed.
    fn settle(
        &mut self,
        before: usize,
        admitted: Vec<usize>,
        missing: Vec<OpId>,
        dropped: Vec<(OpId, DagError)>,
    ) -> Effects {
        let mut effects = Effects {
            missing,
            dropped,
            ..Effects::default()
        };
        if admitted.is_empty() {
            return effects;
        }
        let old = self.resolution.state.clone();
        match admitted[..] {
            [i] if before + 1 == self.dag.len()
                && resolve::extends(&self.resolution, &self.dag, i) =>
            {
                resolve::extend(&mut self.resolution, &self.dag, i)
            }
            _ => self.resolution = resolve::resolve(&self.dag),
        }
        for &i in &admitted {
            let id = self.dag.node(i).op.id();
            effects.admitted.push(id);
            if let Some(Verdict::Refused(why)) = self.resolution.verdict(i) {
                effects.refused.push((id, why));
            }
        }
        effects.changes = match (&old, &self.resolution.state) {
            (Some(old), Some(new)) => diff(old, new),
            (None, Some(new)) => diff(&blank(new), new),
            _ => Vec::new(),
        };
        effects
    }

    /// Makes an op of `key`'s owner (the local user) and takes it: refused, and nothing
    /// made, when it would have no effect. Returns the op, to send to
    /// [`GroupState::op_recipients`] (and store), and what it changed.
    pub fn author(
        &mut self,
        key: &SigningKey,
        action: Action,
        now_ms: u64,
    ) -> Result<(SignedOp, Effects), GroupError> {
        let state = self.state().ok_or(GroupError::NotFounded)?;
        let me = PeerId::of(key);
        // Changes nothing visible: refused here, though the resolver would apply them.
        match &action {
            Action::Op { peer } if state.is_operator(peer) => {
                return Err(GroupError::Refused(Refusal::AlreadyOperator));
            }
            Action::Invite { peer } if state.is_invited(peer) => {
                return Err(GroupError::Refused(Refusal::AlreadyInvited));
            }
            _ => {}
        }
        let needs_operator = match &action {
            Action::Invite { .. } => state.modes.invite_only,
            Action::Topic { .. } => state.modes.topic_ops,
            Action::Kick { .. } | Action::Op { .. } | Action::Deop { .. } | Action::Mode { .. } => {
                true
            }
            _ => false,
        };
        let parents = self.context(&me, needs_operator);
        let mut seen = Bits::default();
        for &p in &parents {
            seen.union_with(&self.dag.node(p).ancestors);
            seen.insert(p);
        }
        resolve::check_new(&self.resolution, &self.dag, me, &action, &seen)
            .map_err(GroupError::Refused)?;
        let lamport = parents
            .iter()
            .map(|&p| self.dag.node(p).key.lamport + 1)
            .max()
            .unwrap_or(1);
        let mut parents: Vec<OpId> = parents.iter().map(|&p| self.dag.node(p).op.id()).collect();
        parents.sort();
        let op = Op {
            group: self.id(),
            author: me,
            lamport,
            created_at_ms: now_ms,
            parents,
            action,
        };
        let op = SignedOp::sign(op, key)?;
        let effects = self.apply(op.clone())?;
        Ok((op, effects))
    }

    /// The heads (ops nothing in the log descends from yet): sent to a peer so that it
    /// sends back what we lack (`GroupHeads`).
    pub fn heads(&self) -> Vec<OpId> {
        self.dag
            .heads()
            .into_iter()
            .map(|i| self.dag.node(i).op.id())
            .collect()
    }

    /// The ops a peer whose heads are `theirs` lacks, parents first.
    pub fn missing_for(&self, theirs: &[OpId]) -> Vec<&SignedOp> {
        self.dag.missing_for(theirs)
    }

    /// Every op of the log, parents first (in the total order).
    pub fn ops(&self) -> Vec<&SignedOp> {
        self.dag.missing_for(&[])
    }

    /// The causal context for a chat `me` sends now: heads that show its membership
    /// (and, in a moderated group, its operator status).
    pub fn chat_deps(&self, me: &PeerId) -> Vec<OpId> {
        let moderated = self.state().is_some_and(|s| s.modes.moderated);
        let mut deps: Vec<OpId> = self
            .context(me, moderated)
            .into_iter()
            .map(|i| self.dag.node(i).op.id())
            .collect();
        deps.sort();
        deps
    }

    /// Whether a chat from `from`, sent with causal context `deps`, is shown: its author
    /// is a member now, its context shows the membership it holds now (a chat sent before
    /// a removal it had not seen is not, nor one from an earlier membership), and, in a
    /// moderated group, it is an operator.
    pub fn check_chat(&self, from: &PeerId, deps: &[OpId]) -> ChatVerdict {
        if deps.is_empty() || deps.len() > MAX_DEPS {
            return ChatVerdict::Drop(Refusal::Unseen);
        }
        let unadmitted: Vec<OpId> = deps
            .iter()
            .filter(|d| self.dag.get(d).is_none())
            .copied()
            .collect();
        let Some(state) = self.state().filter(|_| unadmitted.is_empty()) else {
            return ChatVerdict::Wait {
                missing: self.dag.unknown(&unadmitted),
            };
        };
        let Some(member) = state.members.get(from) else {
            return ChatVerdict::Drop(Refusal::NotMember);
        };
        if !self.is_seen_from(&member.since, deps) {
            return ChatVerdict::Drop(Refusal::Unseen);
        }
        if state.modes.moderated && !member.is_operator() {
            return ChatVerdict::Drop(Refusal::Moderated);
        }
        ChatVerdict::Accept
    }

    /// Whether `peer` is a member now and its membership is in the causal past of `at`
    /// (ops ids of the log; `at` itself counts): what a chat's sender must show.
    pub fn is_member_at(&self, peer: &PeerId, at: &[OpId]) -> bool {
        self.state()
            .and_then(|s| s.members.get(peer))
            .is_some_and(|m| self.is_seen_from(&m.since, at))
    }

    /// Whether op `id` is one of `at` or an ancestor of one.
    fn is_seen_from(&self, id: &OpId, at: &[OpId]) -> bool {
        let Some(i) = self.dag.get(id) else {
            return false;
        };
        at.iter()
            .filter_map(|d| self.dag.get(d))
            .any(|d| d == i || self.dag.precedes(i, d))
    }

    /// The parents of a new op of `me` (or a chat's context): every head, or when there
    /// are more than [`MAX_PARENTS`], the latest head (so that the op comes last in the
    /// order), heads that show the ops its rights rest on, then the latest others.
    fn context(&self, me: &PeerId, needs_operator: bool) -> Vec<usize> {
        let mut heads = self.dag.heads();
        heads.reverse();
        if heads.len() <= MAX_PARENTS {
            return heads;
        }
        let mut chosen: Vec<usize> = heads.first().copied().into_iter().collect();
        for needed in self.rights(me, needs_operator) {
            let Some(n) = self.dag.get(&needed) else {
                continue;
            };
            let covered = |h: &usize| *h == n || self.dag.precedes(n, *h);
            if chosen.iter().any(covered) {
                continue;
            }
            if let Some(&h) = heads.iter().find(|h| covered(h)) {
                chosen.push(h);
            }
        }
        for h in heads {
            if chosen.len() >= MAX_PARENTS {
                break;
            }
            if !chosen.contains(&h) {
                chosen.push(h);
            }
        }
        chosen
    }

    /// The ops `me`'s rights rest on: an invitation, its membership, and an operator
    /// grant when the action needs one.
    fn rights(&self, me: &PeerId, needs_operator: bool) -> Vec<OpId> {
        let Some(state) = self.state() else {
            return Vec::new();
        };
        let mut rights = Vec::new();
        if let Some(invitations) = state.invited.get(me) {
            rights.extend(invitations.first().map(|i| i.op));
        }
        if let Some(m) = state.members.get(me) {
            rights.push(m.since);
            if let (true, Role::Operator { grants, .. }) = (needs_operator, &m.role) {
                rights.extend(grants.first().copied());
            }
        }
        rights
    }
}

/// A state with nobody in it but the same name and founder: what a first state is
/// compared with, so that every member shows as joining.
fn blank(state: &GroupState) -> GroupState {
    GroupState {
        members: Default::default(),
        invited: Default::default(),
        departed: Default::default(),
        topic: None,
        modes: Modes::default(),
        ..state.clone()
    }
}
