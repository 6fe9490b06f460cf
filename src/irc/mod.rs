//! The IRC front end: IRC clients on localhost (irssi, WeeChat, HexChat) are the user
//! interface of the gateway.
//!
//! - [`codec`]: bounded line framing (bytes in, lines out).
//! - [`client`]: one connection's state machine (a line in, actions out); registration is
//!   in `registration.rs`, the command table in `client.rs`.
//! - [`render`]: every outgoing line is formatted there, untrusted text neutralised.
//! - [`numerics`]: the numeric replies, named as in the RFCs.
//!
//! Everything here is pure; the conn task owns the socket and performs the actions.

pub mod client;
pub mod codec;
pub mod numerics;
mod registration;
pub mod render;

#[cfg(test)]
mod tests;

pub use client::{Action, Client, ClientSettings};
pub use codec::{Line, LineFramer, MAX_LINE, MAX_TAGS};
