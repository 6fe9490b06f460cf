//! What strangers may hold of the peer port: handshakes in progress ([`PendingTable`]),
//! the responder's handshake CPU ([`HandshakeBudget`]) and established sessions
//! ([`SessionRegistry`]), counted per source address, per [`SourcePrefix`] and in total.
//! Pure bookkeeping: the accept loop (`peer/accept.rs`) does the IO and passes `now`.
//!
//! The attacker this is sized against holds many addresses (a whole IPv6 /64, or a few
//! IPv4 /24s) and makes keys for free, but its TCP connections must complete the
//! three-way handshake, so the source address it claims is one it can receive at.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{SourcePrefix, TokenBucket, canonical_ip};

/// Handshakes in progress at once. Each holds a socket and a task; 256 leaves most of
/// the default open-file limit to sessions and is far above what honest peers need (a
/// handshake takes one round trip and a few milliseconds).
pub const PENDING_TOTAL: usize = 256;
/// Handshakes in progress from one address: a gateway dials a peer once at a time, so a
/// handful covers several gateways behind one NAT address.
pub const PENDING_PER_ADDRESS: usize = 8;
/// Handshakes in progress from one prefix: an eighth of the table, so that one /24 or /64
/// alone cannot fill it.
pub const PENDING_PER_PREFIX: usize = 32;
/// A connection must send a complete msg1 within this time (an initiator sends it as soon
/// as TCP is up); the whole handshake keeps its own, longer timeout.
pub const MSG1_WAIT: Duration = Duration::from_secs(3);

/// msg1s a second (all sources) below which every msg1 is answered. A responder's msg1
/// costs two X25519 multiplications and a signature (about 0.3 ms with TCP, measured:
/// 3,300 a second on one core), so 100 a second is about 3% of a core, and well above
/// what honest peers need even when every contact reconnects after a restart.
pub const LOAD_RATE: f64 = 100.0;
/// Arrivals the load detector absorbs before it calls it load.
pub const LOAD_BURST: f64 = 200.0;
/// Under load, msg1s answered per prefix per second (and saved up at most): a peer's
/// redial backoff needs far less, and one prefix cannot take the CPU from the others.
pub const MSG1_PER_PREFIX_RATE: f64 = 4.0;
pub const MSG1_PER_PREFIX_BURST: f64 = 8.0;
/// Under load, msg1s answered per second from all prefixes together (and saved up at
/// most): bounds the CPU an attacker with many prefixes can take to about 6% of a core.
pub const MSG1_TOTAL_RATE: f64 = 200.0;
pub const MSG1_TOTAL_BURST: f64 = 200.0;
/// Prefixes whose msg1 rate is tracked at most (a bucket is forgotten once full again,
/// two seconds after its last msg1, so only a flood from this many prefixes at once
/// reaches it; then new prefixes wait for room under load).
pub const MAX_TRACKED_PREFIXES: usize = 4096;

/// The numbers of this module, in one value; tests shrink them.
#[derive(Clone, Copy, Debug)]
pub struct InboundLimits {
    pub pending_total: usize,
    pub pending_per_address: usize,
    pub pending_per_prefix: usize,
    pub msg1_wait: Duration,
    pub load_rate: f64,
    pub load_burst: f64,
    pub msg1_per_prefix_rate: f64,
    pub msg1_per_prefix_burst: f64,
    pub msg1_total_rate: f64,
    pub msg1_total_burst: f64,
    /// Stranger sessions from one prefix; `None`: derived from the session cap
    /// ([`SessionLimits::derive`]).
    pub sessions_per_prefix: Option<usize>,
    /// Sessions kept for contacts (strangers never hold them); `None`: derived.
    pub reserved_for_contacts: Option<usize>,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            pending_total: PENDING_TOTAL,
            pending_per_address: PENDING_PER_ADDRESS,
            pending_per_prefix: PENDING_PER_PREFIX,
            msg1_wait: MSG1_WAIT,
            load_rate: LOAD_RATE,
            load_burst: LOAD_BURST,
            msg1_per_prefix_rate: MSG1_PER_PREFIX_RATE,
            msg1_per_prefix_burst: MSG1_PER_PREFIX_BURST,
            msg1_total_rate: MSG1_TOTAL_RATE,
            msg1_total_burst: MSG1_TOTAL_BURST,
            sessions_per_prefix: None,
            reserved_for_contacts: None,
        }
    }
}

/// Why a connection was not given a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InboundRefusal {
    #[error("its address holds all its handshake slots, each past msg1")]
    AddressFull,
    #[error("its prefix holds all its handshake slots, each past msg1")]
    PrefixFull,
    #[error("every handshake slot is past msg1")]
    PendingFull,
    #[error("its prefix holds all the sessions strangers may hold from one prefix")]
    PrefixSessions,
    #[error("strangers hold every session not kept for contacts")]
    StrangerSessions,
    #[error("every session is taken and none is a stranger's")]
    SessionsFull,
}

/// Identifies a handshake in a [`PendingTable`] (increasing: a smaller one is older).
pub type PendingId = u64;

struct Pending<T> {
    ip: IpAddr,
    prefix: SourcePrefix,
    /// A complete msg1 arrived: the connection is a handshake, not a squatter.
    msg1: bool,
    payload: T,
}

/// Handshakes in progress. A newcomer is never refused while some connection that has
/// not sent msg1 can make room: the oldest such connection of the newcomer's address (if
/// the address is full), else of its prefix (if the prefix is full), else of the prefix
/// holding the most of them (if the table is full) is evicted and its payload handed back
/// to the caller, who closes it. An honest initiator sends msg1 one round trip after
/// connecting, so silent connections cannot keep it out.
pub struct PendingTable<T> {
    total: usize,
    per_address: usize,
    per_prefix: usize,
    next: PendingId,
    entries: BTreeMap<PendingId, Pending<T>>,
    by_address: HashMap<IpAddr, usize>,
    by_prefix: HashMap<SourcePrefix, usize>,
}

impl<T> PendingTable<T> {
    pub fn new(limits: &InboundLimits) -> Self {
        Self {
            total: limits.pending_total.max(1),
            per_address: limits.pending_per_address.max(1),
            per_prefix: limits.pending_per_prefix.max(1),
            next: 0,
            entries: BTreeMap::new(),
            by_address: HashMap::new(),
            by_prefix: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Handshakes in progress from `prefix`.
    pub fn from_prefix(&self, prefix: SourcePrefix) -> usize {
        self.by_prefix.get(&prefix).copied().unwrap_or(0)
    }

    /// Gives a connection from `ip` a slot; returns its id and the payload of the
    /// connection evicted to make room, if any.
    pub fn admit(
        &mut self,
        ip: IpAddr,
        payload: T,
    ) -> Result<(PendingId, Option<T>), InboundRefusal> {
        let ip = canonical_ip(ip);
        let prefix = SourcePrefix::of(ip);
        let victim = if count(&self.by_address, &ip) >= self.per_address {
            Some(
                self.oldest_waiting(|p| p.ip == ip)
                    .ok_or(InboundRefusal::AddressFull)?,
            )
        } else if count(&self.by_prefix, &prefix) >= self.per_prefix {
            Some(
                self.oldest_waiting(|p| p.prefix == prefix)
                    .ok_or(InboundRefusal::PrefixFull)?,
            )
        } else if self.entries.len() >= self.total {
            let hog = self
                .busiest_waiting_prefix()
                .ok_or(InboundRefusal::PendingFull)?;
            self.oldest_waiting(|p| p.prefix == hog)
        } else {
            None
        };
        let evicted = victim.and_then(|id| self.remove(id));
        let id = self.next;
        self.next += 1;
        *self.by_address.entry(ip).or_insert(0) += 1;
        *self.by_prefix.entry(prefix).or_insert(0) += 1;
        self.entries.insert(
            id,
            Pending {
                ip,
                prefix,
                msg1: false,
                payload,
            },
        );
        Ok((id, evicted))
    }

    /// A complete msg1 arrived on `id`: it can no longer be evicted.
    pub fn got_msg1(&mut self, id: PendingId) {
        if let Some(p) = self.entries.get_mut(&id) {
            p.msg1 = true;
        }
    }

    /// Frees `id`'s slot (the handshake ended, however); its payload if it was there.
    pub fn remove(&mut self, id: PendingId) -> Option<T> {
        let p = self.entries.remove(&id)?;
        decrement(&mut self.by_address, &p.ip);
        decrement(&mut self.by_prefix, &p.prefix);
        Some(p.payload)
    }

    fn oldest_waiting(&self, matches: impl Fn(&Pending<T>) -> bool) -> Option<PendingId> {
        self.entries
            .iter()
            .find(|(_, p)| !p.msg1 && matches(p))
            .map(|(id, _)| *id)
    }

    /// The prefix with the most connections that have not sent msg1 (ties: the one whose
    /// oldest such connection is oldest).
    fn busiest_waiting_prefix(&self) -> Option<SourcePrefix> {
        let mut waiting: HashMap<SourcePrefix, (usize, PendingId)> = HashMap::new();
        for (id, p) in self.entries.iter().filter(|(_, p)| !p.msg1) {
            waiting.entry(p.prefix).or_insert((0, *id)).0 += 1;
        }
        waiting
            .into_iter()
            .max_by(|a, b| (a.1.0, b.1.1).cmp(&(b.1.0, a.1.1)))
            .map(|(prefix, _)| prefix)
    }
}

fn count<K: std::hash::Hash + Eq>(map: &HashMap<K, usize>, key: &K) -> usize {
    map.get(key).copied().unwrap_or(0)
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// Which msg1s the responder answers (does X25519 and signs for). While fewer than
/// `load_rate` msg1s a second arrive (every arrival counts, answered or not), all are
/// answered. Above that (the load detector's bucket ran empty) the gateway is under load
/// until the detector's bucket has filled up again, and while under load a msg1 is answered only with a
/// token from its prefix's bucket and one from the total bucket; the rest are closed
/// unanswered. Over TCP the source address is proved by the three-way handshake (what
/// WireGuard's cookie reply proves over UDP), so a per-prefix budget stops one prefix
/// from taking the CPU from the others without a cookie round trip or a wire change.
pub struct HandshakeBudget {
    /// Counts arrivals: empty means `load_rate` is exceeded.
    load: TokenBucket,
    /// Set when `load` runs empty, cleared once it is full again (so a flood is not let
    /// through by each token that trickles back in).
    under_load: bool,
    total: TokenBucket,
    per_prefix: HashMap<SourcePrefix, TokenBucket>,
    prefix_rate: f64,
    prefix_burst: f64,
}

impl HandshakeBudget {
    pub fn new(limits: &InboundLimits, now: Instant) -> Self {
        Self {
            load: TokenBucket::new(limits.load_rate, limits.load_burst, now),
            under_load: false,
            total: TokenBucket::new(limits.msg1_total_rate, limits.msg1_total_burst, now),
            per_prefix: HashMap::new(),
            prefix_rate: limits.msg1_per_prefix_rate,
            prefix_burst: limits.msg1_per_prefix_burst,
        }
    }

    /// Whether to answer a msg1 from `ip` arriving at `now`.
    pub fn answer(&mut self, ip: IpAddr, now: Instant) -> bool {
        let prefix = SourcePrefix::of(ip);
        if self.under_load && self.load.is_full(now) {
            self.under_load = false;
        }
        if !self.load.try_take(1.0, now) {
            self.under_load = true;
        }
        let under_load = self.under_load;
        let total_ready = self.total.wait_for(1.0, now).is_zero();
        let Some(bucket) = self.bucket(prefix, now) else {
            // Too many prefixes tracked at once: answer only while not under load.
            return !under_load;
        };
        if !under_load {
            // Spent even when not enforced, so that a prefix that caused the load starts
            // the load with an empty bucket.
            let _ = bucket.try_take(1.0, now);
            return true;
        }
        if total_ready && bucket.try_take(1.0, now) {
            self.total.try_take(1.0, now)
        } else {
            false
        }
    }

    /// Prefixes tracked now.
    pub fn tracked(&self) -> usize {
        self.per_prefix.len()
    }

    fn bucket(&mut self, prefix: SourcePrefix, now: Instant) -> Option<&mut TokenBucket> {
        if !self.per_prefix.contains_key(&prefix) && self.per_prefix.len() >= MAX_TRACKED_PREFIXES {
            self.per_prefix.retain(|_, b| !b.is_full(now));
            if self.per_prefix.len() >= MAX_TRACKED_PREFIXES {
                return None;
            }
        }
        let (rate, burst) = (self.prefix_rate, self.prefix_burst);
        Some(
            self.per_prefix
                .entry(prefix)
                .or_insert_with(|| TokenBucket::new(rate, burst, now)),
        )
    }
}

#[cfg(test)]
#[path = "inbound_tests.rs"]
mod tests;

#[path = "inbound_sessions.rs"]
mod sessions;
pub use sessions::{SessionKind, SessionLimits, SessionRegistry};
