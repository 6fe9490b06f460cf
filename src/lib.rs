//! DiSIMS: a serverless, end-to-end encrypted messenger with an IRC front end.
//!
//! Module map (see docs/architecture.md for how a message travels through them):
//! - [`cli`]: what the command line says (pure): error chains, connect hints, `disims id`.
//! - [`config`]: TOML configuration, validated, defaults in one place.
//! - [`contacts`]: the user's contacts and petnames (pure; the hub persists them).
//! - [`control`]: the service commands (`help`, `add`, `block`, `set`...): parsing and help (pure).
//! - [`identity`]: the ed25519 identity on disk, [`identity::PeerId`], nick <-> key.
//! - [`crypto`]: IO-free handshake state machine, key schedule and frame sealing.
//! - [`peer`]: wire messages inside a session, the encrypted transport, dial/accept, sessions.
//! - [`directory`]: where peers can be reached: the `Directory` trait, mainline DHT, in-memory.
//! - [`group`]: groups, pure: signed membership changes, the convergence rule, their codecs.
//! - [`message`]: the shared vocabulary: chat messages, front-end requests and events.
//! - [`net`]: what the gateway asks of its network: port mapping on the home router.
//! - [`policy`]: budgets for what strangers can make us spend (pure; one place for the numbers).
//! - [`relay`]: the relay protocol (control codec, reservation proof, the relay and the
//!   gateway's side over TCP).
//! - [`reach`]: whether we are reachable directly; the relays we hold when not.
//! - [`router`]: the hub between front ends and peer sessions.
//! - [`irc`]: the IRC front end: line framing, the client state machine, the connection task.
//! - [`daemon`]: wires the tasks together; graceful shutdown.
//! - [`store`]: the durable store (SQLite): received messages (dedup, playback) and the outbox.
//! - [`hardening`]: core dumps off before any secret is loaded.
//! - [`datadir_lock`]: one gateway per data dir (a lock file holding the gateway's pid).
//! - [`demo`]: a private DHT and two gateways in one process, for a first look.
#![forbid(unsafe_code)]

pub mod cli;
pub mod config;
pub mod contacts;
pub mod control;
pub mod crypto;
pub mod daemon;
pub mod datadir_lock;
pub mod demo;
pub mod directory;
pub mod group;
pub mod hardening;
pub mod identity;
pub mod irc;
pub mod message;
pub mod net;
pub mod peer;
pub mod policy;
pub mod reach;
pub mod relay;
pub mod router;
pub mod store;
