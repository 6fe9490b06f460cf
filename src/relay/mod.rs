//! Relays: gateways that join two TCP streams so that a gateway behind a NAT can be
//! reached (docs/protocol.md, "Relays"). Not wired into the daemon yet.
//!
//! - [`wire`]: the control messages (pure codec).
//! - [`proof`]: the reservation proof, a signature over a relay-chosen challenge (pure).
//! - the DHT address record version 2, which lists relays, is [`crate::directory::record_v2`].
//! - [`io`]: control records over a stream; [`server`] and [`client`]: the relay and the
//!   gateway's side over TCP.
//!
//! The relay's budgets are in [`crate::policy::relay`].

pub mod client;
pub mod io;
pub mod probe;
pub mod proof;
pub mod sealed;
pub mod server;
pub mod wire;
