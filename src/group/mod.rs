//! Groups (issue 15): conversations among several peers, shown as IRC channels, with no
//! server. This module is the pure part: the membership state machine every member runs
//! (signed changes in, state out) and the codecs of what travels. No IO, no clock, no
//! randomness: the hub (`router/groups.rs`, to come) feeds it ops from sessions and the
//! store, and carries out what it returns. Design: docs/plans/groups.md.
//!
//! - [`op`]: the signed changes ("ops"): Create, Invite, Join, Part, Kick, Op, Deop, Topic,
//!   Mode; their canonical bytes; Ed25519 signatures.

pub mod op;

pub use op::{Action, GroupId, Modes, Op, OpError, OpId, SignedOp};

#[cfg(test)]
mod test_support;
