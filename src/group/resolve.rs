//! The convergence rule: the state of a group is a function of the *set* of its admitted
//! ops, computed the same way by every member whatever order the ops arrived in.
//!
//! 1. The ops are read in the total order of [`OrderKey`] (lamport, author, id), which
//!    extends the causal order: an op is read after its ancestors.
//! 2. Each op is checked against the state built so far (the agreed state at its place in
//!    the order) *and* against its causal past: the op that gave its author the right it
//!    uses (its Join, its operator grant, its invitation) must be one of its ancestors; an
//!    author acts on what it has seen. An op that fails has no effect (a [`Refusal`]), and
//!    stays in the log: it may count later, if concurrent ops change its place's state.
//! 3. Strong removal: when a Kick of X applies, every op of X that is *concurrent* with the
//!    Kick (neither its ancestor nor its descendant) has no effect, wherever it falls in the
//!    order; for a Deop of X, every such op of X that used operator rights. "Later" than a
//!    removal therefore means "not seen by whoever removed X": a removed member cannot
//!    act by pretending not to have seen its removal (choosing old parents).
//! 4. Operators are ranked by the place of the op that made them operators (the founder's
//!    is the Create, the first op): an operator may kick or deop only members of a later
//!    rank. So two operators cannot remove each other, and a removed operator cannot take
//!    its remover along.
//!
//! Rule 3 can strike an op the order has already applied. The resolver then starts over
//! with that op struck out, and forgets strikes whose revocation got struck itself (a
//! later pass strikes again what still counts). Every step reads only the set of ops, so
//! the result depends on nothing else; past `2n + 8` passes strikes are only added, never
//! forgotten, so the passes end.

use std::collections::HashMap;

use super::dag::{Bits, Dag, OrderKey};
use super::op::{Action, OpId};
use super::state::{Departure, GroupState, Invitation, MAX_MEMBERS, Membership, Role, Topic};
use crate::identity::PeerId;

/// Why an admitted op has no effect (or a chat is not shown, or a local action is refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("its author is not a member")]
    NotMember,
    #[error("its author holds no invitation")]
    NotInvited,
    #[error("its author is not an operator")]
    NotOperator,
    #[error("its target is an operator of an earlier rank")]
    NotSenior,
    #[error("its author had not seen the op that gives it this right")]
    Unseen,
    #[error("its target is neither a member nor invited")]
    NoSuchMember,
    #[error("its target is already a member")]
    AlreadyMember,
    #[error("its target is already invited")]
    AlreadyInvited,
    #[error("its target is already an operator")]
    AlreadyOperator,
    #[error("its target is not an operator")]
    NotAnOperator,
    #[error("the group holds {MAX_MEMBERS} members and invitations")]
    GroupFull,
    #[error("its author was removed by an op it had not seen")]
    Removed,
    #[error("the group is moderated (+m) and its author is not an operator")]
    Moderated,
}

/// What became of one admitted op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Applied,
    Refused(Refusal),
}

/// A removal of rights, for rule 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Revocation {
    Kick,
    Deop,
}

/// The outcome of resolving a group's log.
#[derive(Clone, Debug, Default)]
pub struct Resolution {
    /// `None` until the Create op is admitted.
    pub state: Option<GroupState>,
    /// By op index.
    pub verdicts: Vec<Option<Verdict>>,
    /// Revocations applied in the last pass, by the peer they remove.
    revocations: HashMap<PeerId, Vec<(usize, Revocation)>>,
    /// Ops struck out by rule 3.
    struck: Bits,
    /// Passes the last full resolution took.
    pub passes: usize,
}

impl Resolution {
    pub fn verdict(&self, i: usize) -> Option<Verdict> {
        self.verdicts.get(i).copied().flatten()
    }
}

/// What an authorised op used.
#[derive(Clone, Copy)]
struct Auth {
    used_operator: bool,
}

/// Resolves the whole log from the Create op on.
pub fn resolve(dag: &Dag) -> Resolution {
    // Struck op -> the revocation that struck it.
    let mut causes: HashMap<usize, usize> = HashMap::new();
    // Past this many passes, strikes are kept even when their cause is struck, so that
    // the passes end (each adds a strike).
    let monotone_after = 2 * dag.len() + 8;
    let mut passes = 0;
    loop {
        passes += 1;
        let mut struck = Bits::default();
        for &i in causes.keys() {
            struck.insert(i);
        }
        match pass(dag, &struck) {
            Ok(mut resolution) => {
                resolution.struck = struck;
                resolution.passes = passes;
                return resolution;
            }
            Err((by, newly)) => {
                for i in newly {
                    causes.insert(i, by);
                }
                if passes < monotone_after {
                    // A strike counts only while the revocation that made it counts:
                    // forget those whose cause is struck itself (a later pass strikes
                    // again what its revocation still strikes).
                    loop {
                        let before = causes.len();
                        let marked: Bits = causes.keys().fold(Bits::default(), |mut b, &i| {
                            b.insert(i);
                            b
                        });
                        causes.retain(|_, cause| !marked.contains(*cause));
                        if causes.len() == before {
                            break;
                        }
                    }
                }
            }
        }
    }
}

/// Whether op `i`, just admitted, can be added to `resolution` without a new pass: it
/// comes last in the order and removes nobody (so it strikes nothing).
pub fn extends(resolution: &Resolution, dag: &Dag, i: usize) -> bool {
    resolution.state.is_some()
        && dag.order().last() == Some(&i)
        && revocation(dag, i).is_none()
        && !matches!(dag.node(i).op.op().action, Action::Create { .. })
}

/// Adds op `i` to `resolution` (only when [`extends`] says so): the same result as a full
/// [`resolve`], since every pass reads `i` last and `i` strikes nothing.
pub fn extend(resolution: &mut Resolution, dag: &Dag, i: usize) {
    resolution.verdicts.resize(dag.len(), None);
    let Some(mut state) = resolution.state.take() else {
        return;
    };
    let verdict = step(
        dag,
        &mut state,
        &resolution.revocations,
        &resolution.struck,
        i,
    );
    resolution.verdicts[i] = Some(verdict.map_or_else(Verdict::Refused, |_| Verdict::Applied));
    resolution.state = Some(state);
}

/// One pass in the total order; `Err` with a revocation and the ops it strikes when it
/// strikes one the pass already applied.
fn pass(dag: &Dag, struck: &Bits) -> Result<Resolution, (usize, Vec<usize>)> {
    let mut verdicts = vec![None; dag.len()];
    let Some((&genesis, rest)) = dag.order().split_first() else {
        return Ok(Resolution {
            verdicts,
            ..Resolution::default()
        });
    };
    let node = dag.node(genesis);
    let Action::Create { modes, name, .. } = &node.op.op().action else {
        // The dag admits a Create first and only then.
        return Ok(Resolution::default());
    };
    let mut state = GroupState::founded(
        node.op.author(),
        name.clone(),
        *modes,
        node.key,
        node.op.op().created_at_ms,
    );
    verdicts[genesis] = Some(Verdict::Applied);
    let mut revocations: HashMap<PeerId, Vec<(usize, Revocation)>> = HashMap::new();
    // Each member's applied ops since it (last) joined, and whether they used operator
    // rights: what a revocation of it may strike.
    let mut applied: HashMap<PeerId, Vec<(usize, bool)>> = HashMap::new();
    for &i in rest {
        let outcome = step(dag, &mut state, &revocations, struck, i);
        verdicts[i] = Some(outcome.map_or_else(Verdict::Refused, |_| Verdict::Applied));
        let Ok(auth) = outcome else { continue };
        let author = dag.node(i).op.author();
        match dag.node(i).op.op().action {
            // A membership starts: what a later revocation may strike starts with it.
            Action::Join => {
                applied.insert(author, vec![(i, false)]);
            }
            // A membership ends.
            Action::Part { .. } => {
                applied.remove(&author);
            }
            _ => applied
                .entry(author)
                .or_default()
                .push((i, auth.used_operator)),
        }
        let Some((target, kind)) = revocation(dag, i) else {
            continue;
        };
        revocations.entry(target).or_default().push((i, kind));
        let newly: Vec<usize> = applied
            .get(&target)
            .into_iter()
            .flatten()
            .filter(|&&(z, used)| !dag.precedes(z, i) && (kind == Revocation::Kick || used))
            .map(|&(z, _)| z)
            .collect();
        if !newly.is_empty() {
            return Err((i, newly));
        }
        if kind == Revocation::Kick {
            applied.remove(&target);
        }
    }
    Ok(Resolution {
        state: Some(state),
        verdicts,
        revocations,
        struck: Bits::default(),
        passes: 0,
    })
}

/// The peer op `i` takes rights from, when it is a Kick or the Deop of another.
fn revocation(dag: &Dag, i: usize) -> Option<(PeerId, Revocation)> {
    let op = dag.node(i).op.op();
    match op.action {
        Action::Kick { peer, .. } => Some((peer, Revocation::Kick)),
        Action::Deop { peer } if peer != op.author => Some((peer, Revocation::Deop)),
        _ => None,
    }
}

/// Checks op `i` at its place and applies it.
fn step(
    dag: &Dag,
    state: &mut GroupState,
    revocations: &HashMap<PeerId, Vec<(usize, Revocation)>>,
    struck: &Bits,
    i: usize,
) -> Result<Auth, Refusal> {
    let node = dag.node(i);
    let author = node.op.author();
    let concurrent = |kind: Revocation| {
        revocations
            .get(&author)
            .is_some_and(|v| v.iter().any(|&(r, k)| k == kind && !dag.precedes(r, i)))
    };
    if struck.contains(i) || concurrent(Revocation::Kick) {
        return Err(Refusal::Removed);
    }
    let sees = |id: &OpId| dag.get(id).is_some_and(|j| dag.precedes(j, i));
    let auth = authorise(state, author, &node.op.op().action, &sees)?;
    if auth.used_operator && concurrent(Revocation::Deop) {
        return Err(Refusal::Removed);
    }
    apply(state, node.op.op(), node.key, &node.op.id());
    Ok(auth)
}

/// Whether `author` may do `action` in `state`, having seen the ops for which `sees` is
/// true (rule 2).
fn authorise(
    state: &GroupState,
    author: PeerId,
    action: &Action,
    sees: &dyn Fn(&OpId) -> bool,
) -> Result<Auth, Refusal> {
    let member = || -> Result<&Membership, Refusal> {
        let m = state.members.get(&author).ok_or(Refusal::NotMember)?;
        if !sees(&m.since) {
            return Err(Refusal::Unseen);
        }
        Ok(m)
    };
    let operator = || -> Result<Auth, Refusal> {
        match &member()?.role {
            Role::Operator { grants, .. } if grants.iter().any(sees) => Ok(Auth {
                used_operator: true,
            }),
            Role::Operator { .. } => Err(Refusal::Unseen),
            Role::Member => Err(Refusal::NotOperator),
        }
    };
    let plain = Auth {
        used_operator: false,
    };
    match action {
        Action::Create { .. } => Err(Refusal::NotMember),
        Action::Invite { peer } => {
            let auth = match state.modes.invite_only {
                true => operator()?,
                false => member().map(|_| plain)?,
            };
            if state.is_member(peer) {
                return Err(Refusal::AlreadyMember);
            }
            if !state.is_invited(peer) && state.size() >= MAX_MEMBERS {
                return Err(Refusal::GroupFull);
            }
            Ok(auth)
        }
        Action::Join => {
            let invitations = state.invited.get(&author).ok_or(Refusal::NotInvited)?;
            match invitations.iter().any(|inv| sees(&inv.op)) {
                true => Ok(plain),
                false => Err(Refusal::Unseen),
            }
        }
        Action::Part { .. } => match state.invited.get(&author) {
            Some(invitations) if invitations.iter().any(|inv| sees(&inv.op)) => Ok(plain),
            Some(_) => Err(Refusal::Unseen),
            None => member().map(|_| plain),
        },
        Action::Kick { peer, .. } => {
            let auth = operator()?;
            if !state.is_member(peer) && !state.is_invited(peer) {
                return Err(Refusal::NoSuchMember);
            }
            match state.outranks(&author, peer) {
                true => Ok(auth),
                false => Err(Refusal::NotSenior),
            }
        }
        Action::Op { peer } => {
            let auth = operator()?;
            match state.is_member(peer) {
                true => Ok(auth),
                false => Err(Refusal::NoSuchMember),
            }
        }
        Action::Deop { peer } => {
            let auth = operator()?;
            if !state.is_operator(peer) {
                return Err(Refusal::NotAnOperator);
            }
            match *peer == author || state.outranks(&author, peer) {
                true => Ok(auth),
                false => Err(Refusal::NotSenior),
            }
        }
        Action::Topic { .. } => match state.modes.topic_ops {
            true => operator(),
            false => member().map(|_| plain),
        },
        Action::Mode { .. } => operator(),
    }
}

/// Applies an authorised op.
fn apply(state: &mut GroupState, op: &super::op::Op, key: OrderKey, id: &OpId) {
    let author = op.author;
    match &op.action {
        Action::Create { .. } => {}
        Action::Invite { peer } => state.invited.entry(*peer).or_default().push(Invitation {
            op: *id,
            by: author,
            at_ms: op.created_at_ms,
        }),
        Action::Join => {
            state.invited.remove(&author);
            state.members.insert(
                author,
                Membership {
                    since: *id,
                    joined_at_ms: op.created_at_ms,
                    role: Role::Member,
                },
            );
        }
        Action::Part { reason } => {
            state.members.remove(&author);
            state.invited.remove(&author);
            let reason = reason.clone();
            state.departed.insert(author, Departure::Parted { reason });
        }
        Action::Kick { peer, reason } => {
            state.members.remove(peer);
            state.invited.remove(peer);
            let (by, reason) = (author, reason.clone());
            state
                .departed
                .insert(*peer, Departure::Kicked { by, reason });
        }
        Action::Op { peer } => {
            if let Some(m) = state.members.get_mut(peer) {
                if let Role::Operator { grants, .. } = &mut m.role {
                    grants.push(*id);
                } else {
                    m.role = Role::Operator {
                        rank: key,
                        grants: vec![*id],
                        by: author,
                    };
                }
            }
        }
        Action::Deop { peer } => {
            if let Some(m) = state.members.get_mut(peer) {
                m.role = Role::Member;
            }
        }
        Action::Topic { text } => {
            state.topic = (!text.is_empty()).then(|| Topic {
                text: text.clone(),
                by: author,
                at_ms: op.created_at_ms,
            });
        }
        Action::Mode { set, clear } => {
            state.modes = state.modes.changed(*set, *clear);
            state.modes_by = author;
        }
    }
}

/// Whether `author` may do `action` now, as a new op whose ancestors are `seen` would be
/// read: after every op (its lamport is the highest), so against the current state, and
/// not concurrent with a revocation of its author that it has not seen (a dry run for
/// local actions).
pub fn check_new(
    resolution: &Resolution,
    dag: &Dag,
    author: PeerId,
    action: &Action,
    seen: &Bits,
) -> Result<(), Refusal> {
    let state = resolution.state.as_ref().ok_or(Refusal::NotMember)?;
    let concurrent = |kind: Revocation| {
        resolution
            .revocations
            .get(&author)
            .is_some_and(|v| v.iter().any(|&(r, k)| k == kind && !seen.contains(r)))
    };
    if concurrent(Revocation::Kick) {
        return Err(Refusal::Removed);
    }
    let sees = |id: &OpId| dag.get(id).is_some_and(|j| seen.contains(j));
    let auth = authorise(state, author, action, &sees)?;
    if auth.used_operator && concurrent(Revocation::Deop) {
        return Err(Refusal::Removed);
    }
    Ok(())
}
