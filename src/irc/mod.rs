//! The IRC front end: IRC clients on localhost (irssi, WeeChat, HexChat) are the user
//! interface of the gateway.
//!
//! - [`codec`]: bounded line framing (bytes in, lines out).
//! - [`client`]: one connection's state machine (a line in, actions out), with the command
//!   table; its handlers are split by subject: `registration.rs`, [`caps`], `messages.rs`
//!   (PRIVMSG/NOTICE, echo, playback batches), `channel.rs` (the `&disims` control
//!   channel), `groups.rs` (groups as `#` channels: what the hub says of them) and
//!   `group_commands.rs` (their commands), [`monitor`] (MONITOR, ISON, USERHOST), [`whois`], `away.rs`, `queries.rs` (LUSERS,
//!   VERSION, INFO, ADMIN, HELP, OPER, KICK).
//! - [`parse`]: a line's verb and parameters.
//! - [`flood`]: the token bucket the conn task reads each client's lines through.
//! - [`listener`]: the listener's slots and wrong-password waits, shared by the connections
//!   (the numbers are in `policy::irc`).
//! - [`render`]: every outgoing line is formatted there, untrusted text neutralised.
//! - [`numerics`]: the numeric replies, named as in the RFCs.
//!
//! Everything here is pure; the conn task owns the socket and performs the actions:
//!
//! - read into a bounded buffer, [`LineFramer::push`] it, then take every line with
//!   [`LineFramer::next_line`] before the next read (complete lines wait in the framer, so
//!   draining after each read is what keeps its memory bounded);
//! - take a line only when the client's [`flood::TokenBucket`] has a token, and read no
//!   more while lines wait (a flooding client slows itself, nobody else);
//! - once attached to the hub, tell the client its id ([`Client::set_frontend_id`]), render
//!   the events the hub queued with the attach (its first contact book: the `&disims` JOIN
//!   burst), and hold the client's next lines until [`Client::knows_contacts`] (a short,
//!   bounded wait), so that the burst comes before any later reply;
//! - give each line to [`Client::handle_line`] and each hub event to [`Client::handle_event`],
//!   and perform the returned [`Action`]s in order (`Send` appends CR LF; `Close` comes after
//!   the lines before it are flushed);
//! - if [`Client::is_registered`] is still false when the registration deadline passes,
//!   perform [`Client::registration_timeout`].

mod away;
pub mod caps;
mod channel;
pub mod client;
pub mod codec;
pub mod conn;
pub mod flood;
mod group_commands;
mod groups;
pub mod listener;
mod messages;
pub mod monitor;
pub mod numerics;
pub mod parse;
mod queries;
mod registration;
pub mod render;
pub mod whois;

#[cfg(test)]
mod tests;

pub use client::{Action, Client, ClientSettings};
pub use codec::{Line, LineFramer, MAX_LINE, MAX_TAGS};
