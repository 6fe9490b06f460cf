//! A group's resolved state (members, roles, invitations, topic, modes) and what changed
//! between two states, as the front end shows it (JOIN, PART, KICK, MODE, TOPIC, INVITE).
//! Everything here is named by keys and op ids, never by a member's local indices, so two
//! members that resolved the same ops hold equal states.

use std::collections::BTreeMap;

use super::dag::OrderKey;
use super::op::{Modes, OpId};
use crate::identity::PeerId;

/// The most members and pending invitations a group holds together.
pub const MAX_MEMBERS: usize = 256;

/// A member's standing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Member,
    /// `rank`: where the op that made it an operator stands in the total order (the
    /// founder's is its Create op, the first of all): an operator may kick or deop only an
    /// operator of a later rank. `grants`: the ops that made it an operator in this tenure
    /// (more than one when two operators opped it concurrently); its own operator actions
    /// must descend from one of them.
    Operator {
        rank: OrderKey,
        grants: Vec<OpId>,
        by: PeerId,
    },
}

/// One member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The op that made it a member this time (its Join, or the Create for the founder):
    /// its ops and chats must descend from it.
    pub since: OpId,
    pub joined_at_ms: u64,
    pub role: Role,
}

impl Membership {
    pub fn is_operator(&self) -> bool {
        matches!(self.role, Role::Operator { .. })
    }

    /// The operator rank, for operators.
    pub fn rank(&self) -> Option<OrderKey> {
        match &self.role {
            Role::Operator { rank, .. } => Some(*rank),
            Role::Member => None,
        }
    }
}

/// An invitation not yet accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invitation {
    pub op: OpId,
    pub by: PeerId,
    pub at_ms: u64,
}

/// How a peer last left the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Departure {
    Parted { reason: String },
    Kicked { by: PeerId, reason: String },
}

/// The topic and who set it when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    pub text: String,
    pub by: PeerId,
    pub at_ms: u64,
}

/// A group's state after its ops are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupState {
    pub founder: PeerId,
    /// The name the founder gave (the suggested channel name).
    pub name: String,
    pub members: BTreeMap<PeerId, Membership>,
    /// Invited peers that have not joined, with every invitation they hold.
    pub invited: BTreeMap<PeerId, Vec<Invitation>>,
    /// How each peer that ever left or was removed did so the last time (kept when it
    /// comes back, for the next departure to replace).
    pub departed: BTreeMap<PeerId, Departure>,
    pub topic: Option<Topic>,
    pub modes: Modes,
    /// Who set the modes last (the founder at creation).
    pub modes_by: PeerId,
}

impl GroupState {
    /// The state right after the Create op.
    pub fn founded(
        founder: PeerId,
        name: String,
        modes: Modes,
        create: OrderKey,
        at_ms: u64,
    ) -> Self {
        let mut members = BTreeMap::new();
        members.insert(
            founder,
            Membership {
                since: OpId(create.id),
                joined_at_ms: at_ms,
                role: Role::Operator {
                    rank: create,
                    grants: vec![OpId(create.id)],
                    by: founder,
                },
            },
        );
        GroupState {
            founder,
            name,
            members,
            invited: BTreeMap::new(),
            departed: BTreeMap::new(),
            topic: None,
            modes,
            modes_by: founder,
        }
    }

    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.members.contains_key(peer)
    }

    pub fn is_operator(&self, peer: &PeerId) -> bool {
        self.members.get(peer).is_some_and(Membership::is_operator)
    }

    pub fn is_invited(&self, peer: &PeerId) -> bool {
        self.invited.contains_key(peer)
    }

    /// A member or invited: who receives the group's ops and takes part in its sync.
    pub fn is_party(&self, peer: &PeerId) -> bool {
        self.is_member(peer) || self.is_invited(peer)
    }

    /// Members and pending invitations together (what [`MAX_MEMBERS`] bounds).
    pub fn size(&self) -> usize {
        self.members.len() + self.invited.len()
    }

    /// The operators, most senior first.
    pub fn operators(&self) -> Vec<PeerId> {
        let mut ops: Vec<(OrderKey, PeerId)> = self
            .members
            .iter()
            .filter_map(|(p, m)| m.rank().map(|r| (r, *p)))
            .collect();
        ops.sort();
        ops.into_iter().map(|(_, p)| p).collect()
    }

    /// Whether `senior` may kick or deop `junior`: `senior` is an operator, and `junior`
    /// is no operator or one of a later rank.
    pub fn outranks(&self, senior: &PeerId, junior: &PeerId) -> bool {
        let Some(mine) = self.members.get(senior).and_then(Membership::rank) else {
            return false;
        };
        match self.members.get(junior).and_then(Membership::rank) {
            Some(theirs) => mine < theirs,
            None => true,
        }
    }

    /// Who receives the group's messages: every member but `me`.
    pub fn recipients(&self, me: &PeerId) -> Vec<PeerId> {
        self.members.keys().filter(|p| *p != me).copied().collect()
    }

    /// Who receives the group's ops: members and invited peers, but `me`.
    pub fn op_recipients(&self, me: &PeerId) -> Vec<PeerId> {
        self.members
            .keys()
            .chain(self.invited.keys())
            .filter(|p| *p != me)
            .copied()
            .collect()
    }
}

/// One visible change between two states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Invited {
        peer: PeerId,
        by: PeerId,
    },
    /// An invitation ended without a join: declined, withdrawn (kicked) or undone.
    Uninvited {
        peer: PeerId,
    },
    Joined {
        peer: PeerId,
    },
    Parted {
        peer: PeerId,
        reason: String,
    },
    Kicked {
        peer: PeerId,
        by: PeerId,
        reason: String,
    },
    /// A membership undone by a concurrent removal (its Join did not count after all).
    Undone {
        peer: PeerId,
    },
    Opped {
        peer: PeerId,
        by: PeerId,
    },
    Deopped {
        peer: PeerId,
    },
    Topic {
        topic: Option<Topic>,
    },
    Modes {
        modes: Modes,
        by: PeerId,
    },
}

/// What changed from `old` to `new`, in a fixed order: invitations, joins, departures,
/// roles, topic, modes.
pub fn diff(old: &GroupState, new: &GroupState) -> Vec<Change> {
    let mut changes = Vec::new();
    for (peer, invitations) in &new.invited {
        if !old.invited.contains_key(peer) {
            let by = invitations.first().map_or(new.founder, |i| i.by);
            changes.push(Change::Invited { peer: *peer, by });
        }
    }
    for peer in old.invited.keys() {
        if !new.invited.contains_key(peer) && !new.members.contains_key(peer) {
            changes.push(Change::Uninvited { peer: *peer });
        }
    }
    for peer in new.members.keys() {
        if !old.members.contains_key(peer) {
            changes.push(Change::Joined { peer: *peer });
        }
    }
    for (peer, old_membership) in &old.members {
        match new.members.get(peer) {
            Some(m) if m.since == old_membership.since => {}
            Some(_) => {
                // Left and joined again in between: show both.
                changes.push(departure(new, peer));
                changes.push(Change::Joined { peer: *peer });
            }
            None => changes.push(departure(new, peer)),
        }
    }
    for (peer, m) in &new.members {
        let was = old.members.get(peer).is_some_and(Membership::is_operator);
        match (&m.role, was) {
            (Role::Operator { by, .. }, false) => changes.push(Change::Opped {
                peer: *peer,
                by: *by,
            }),
            (Role::Member, true) => changes.push(Change::Deopped { peer: *peer }),
            _ => {}
        }
    }
    if old.topic != new.topic {
        changes.push(Change::Topic {
            topic: new.topic.clone(),
        });
    }
    if old.modes != new.modes {
        changes.push(Change::Modes {
            modes: new.modes,
            by: new.modes_by,
        });
    }
    changes
}

fn departure(new: &GroupState, peer: &PeerId) -> Change {
    match new.departed.get(peer) {
        Some(Departure::Parted { reason }) => Change::Parted {
            peer: *peer,
            reason: reason.clone(),
        },
        Some(Departure::Kicked { by, reason }) => Change::Kicked {
            peer: *peer,
            by: *by,
            reason: reason.clone(),
        },
        None => Change::Undone { peer: *peer },
    }
}
