//! Groups (issue 15): conversations among several peers, shown as IRC channels, with no
//! server. This module is the pure part: the membership state machine every member runs
//! (signed changes in, state out) and the codecs of what travels. No IO, no clock, no
//! randomness: the hub (`router/groups.rs`, `group_inbox.rs`) feeds it ops from sessions and the
//! store, and carries out what it returns. Design: docs/plans/groups.md.
//!
//! - [`op`]: the signed changes ("ops"): Create, Invite, Join, Part, Kick, Op, Deop, Topic,
//!   Mode; their canonical bytes; Ed25519 signatures.
//! - [`dag`]: the causal graph of a group's ops: admission, the total order, ancestry, ops
//!   waiting for their parents (bounded), what a peer lacks.
//! - [`resolve`]: the convergence rule: the state as a function of the set of ops.
//! - [`state`]: the resolved state (members, roles, topic, modes) and its changes.
//! - [`machine`]: [`Group`], one group as a member holds it: apply ops, author ops, check
//!   chats.
//! - [`wire`]: the session messages GroupOp, GroupChat and GroupHeads (types 10 to 12).

pub mod dag;
pub mod machine;
pub mod op;
pub mod resolve;
pub mod state;
pub mod wire;

pub use machine::{ChatVerdict, Effects, Group, GroupError, MAX_DEPS};
pub use op::{Action, GroupId, Modes, Op, OpError, OpId, SignedOp};
pub use resolve::{Refusal, Verdict};
pub use state::{Change, Departure, GroupState, MAX_MEMBERS, Membership, Role, Topic};

#[cfg(test)]
mod converge_tests;
#[cfg(test)]
mod machine_tests;
#[cfg(test)]
mod removal_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod wire_tests;
