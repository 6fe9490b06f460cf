//! The numbers of a relay's budgets ([`super`]), each with its reason, and [`RelayLimits`],
//! all of them in one value (tests shrink them); [`Serve`], whom a gateway relays for.

use std::time::Duration;

/// Reservations held at once. Each is one mostly idle TCP connection (a Ping a minute)
/// and a map entry; 128 covers a relay for many friends and some strangers.
pub const RESERVATIONS_TOTAL: usize = 128;
/// Reservations strangers may hold from one prefix: a household or a small office behind
/// one NAT address runs a few gateways; more from one /24 or /64 is a flood.
pub const RESERVATIONS_PER_PREFIX: usize = 4;
/// Reservations only contacts may take (strangers, from however many prefixes, hold at
/// most the rest).
pub const RESERVED_FOR_CONTACTS: usize = 32;
/// Challenges awaiting their proof at once. Each is a connection held for at most
/// [`CHALLENGE_WAIT`] by someone who has proved nothing yet (the key in a Reserve is only
/// claimed), so without a cap a flood of Reserves never answered holds sockets without
/// bound. An honest proof comes within a round trip: as many as there are reservations
/// covers every user of a relay that restarts at once.
pub const CHALLENGES_TOTAL: usize = RESERVATIONS_TOTAL;
/// Challenges awaiting their proof from one prefix (contacts included: nobody is known
/// before the proof): a household's gateways reserving and renewing at once.
pub const CHALLENGES_PER_PREFIX: usize = 2 * RESERVATIONS_PER_PREFIX;
/// Circuits held at once: two sockets and two copy buffers each (about 20 KiB); 1024 is
/// 20 MiB at most, for a small VPS or a home server.
pub const CIRCUITS_TOTAL: usize = 1024;
/// Circuits from one dialler prefix at once: a gateway dials one session per peer.
pub const CIRCUITS_PER_PREFIX: usize = 32;
/// Circuits to one target at once: a gateway has one session per peer, so this is the
/// number of peers talking to it through this relay at the same moment.
pub const CIRCUITS_PER_TARGET: usize = 64;
/// Circuits only contacts' reservations may take.
pub const CIRCUITS_FOR_CONTACTS: usize = 256;
/// Bytes a second each circuit carries in each direction: a chat session needs a few
/// KiB a second; 256 KiB/s keeps history playback and bursts quick.
pub const CIRCUIT_RATE: f64 = 256.0 * 1024.0;
/// Bytes a circuit may send at once: two of the largest frames.
pub const CIRCUIT_BURST: f64 = 2.0 * (65536.0 + 20.0);
/// Bytes a second all circuits together (32 Mbit/s): the relay's owner keeps most of a
/// home uplink.
pub const TOTAL_RATE: f64 = 4.0 * 1024.0 * 1024.0;
pub const TOTAL_BURST: f64 = 1024.0 * 1024.0;
/// A reservation lasts this long unless renewed (the gateway renews at half).
pub const RESERVATION_TTL: Duration = Duration::from_secs(3600);
/// A reservation whose connection sent no Ping for this long is dropped (gateways ping
/// every 60 s, so three lost pings).
pub const RESERVATION_IDLE: Duration = Duration::from_secs(180);
/// A circuit that carried no byte either way for this long is closed (a session sends a
/// keepalive every 30 s and closes itself after 90 s of silence).
pub const CIRCUIT_IDLE: Duration = Duration::from_secs(300);
/// Once one side of a circuit has closed, bytes still under way from the other side may
/// pass for this long; then the circuit ends ("Either side closing closes the other").
/// Without it, a side that keeps its half open and silent holds the circuit, and a slot of
/// its target and of its prefix, until [`CIRCUIT_IDLE`].
pub const HALF_CLOSED_WAIT: Duration = Duration::from_secs(5);
/// The target must accept an offered circuit within this time (one round trip and a TCP
/// connection from the target to the relay).
pub const ACCEPT_WAIT: Duration = Duration::from_secs(10);
/// A challenge must be answered within this time.
pub const CHALLENGE_WAIT: Duration = Duration::from_secs(30);

/// Whom a gateway relays for (`[relay] serve`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Serve {
    Off,
    /// Reservations for contacts only; anyone may dial a contact through us.
    Contacts,
    Anyone,
}

/// The numbers of this module, in one value; tests shrink them.
#[derive(Clone, Copy, Debug)]
pub struct RelayLimits {
    pub challenges_total: usize,
    pub challenges_per_prefix: usize,
    pub reservations_total: usize,
    pub reservations_per_prefix: usize,
    pub reserved_for_contacts: usize,
    pub circuits_total: usize,
    pub circuits_per_prefix: usize,
    pub circuits_per_target: usize,
    pub circuits_for_contacts: usize,
    pub circuit_rate: f64,
    pub circuit_burst: f64,
    pub total_rate: f64,
    pub total_burst: f64,
    pub reservation_ttl: Duration,
    pub reservation_idle: Duration,
    pub circuit_idle: Duration,
    pub half_closed_wait: Duration,
    pub accept_wait: Duration,
    pub challenge_wait: Duration,
}

impl Default for RelayLimits {
    fn default() -> Self {
        Self {
            challenges_total: CHALLENGES_TOTAL,
            challenges_per_prefix: CHALLENGES_PER_PREFIX,
            reservations_total: RESERVATIONS_TOTAL,
            reservations_per_prefix: RESERVATIONS_PER_PREFIX,
            reserved_for_contacts: RESERVED_FOR_CONTACTS,
            circuits_total: CIRCUITS_TOTAL,
            circuits_per_prefix: CIRCUITS_PER_PREFIX,
            circuits_per_target: CIRCUITS_PER_TARGET,
            circuits_for_contacts: CIRCUITS_FOR_CONTACTS,
            circuit_rate: CIRCUIT_RATE,
            circuit_burst: CIRCUIT_BURST,
            total_rate: TOTAL_RATE,
            total_burst: TOTAL_BURST,
            reservation_ttl: RESERVATION_TTL,
            reservation_idle: RESERVATION_IDLE,
            circuit_idle: CIRCUIT_IDLE,
            half_closed_wait: HALF_CLOSED_WAIT,
            accept_wait: ACCEPT_WAIT,
            challenge_wait: CHALLENGE_WAIT,
        }
    }
}
