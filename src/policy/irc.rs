//! Limits of the IRC listener, in one place: connections per address and per prefix, how
//! long a connection may take to register, how wrong passwords are slowed down, and how
//! strong a password must be on a listener beyond loopback. Pure: callers pass `now`.
//!
//! The IRC listener is the user's own door: a client that registers has the password (or is
//! on loopback), so only *unregistered* connections are budgeted per source. Measured at
//! 7c09195 on a non-loopback listener: 2,184 wrong PASS guesses a second with no delay, and
//! 64 idle connections (the whole listener) locked the user's own client out.
//!
//! - [`Slots`]: unregistered connections at most [`MAX_UNREGISTERED_PER_ADDRESS`] per
//!   address and [`MAX_UNREGISTERED_PER_PREFIX`] per /24 or /64; when the listener is full,
//!   the oldest unregistered connection of the busiest prefix makes room for the newcomer,
//!   so that idle connections cannot keep the user out.
//! - [`Guesses`]: after a wrong password, the next registration from that address waits,
//!   doubling per failure up to [`PASS_MAX_DELAY`], and the refusal itself is delayed as
//!   long; a prefix gets [`PASS_PREFIX_FREE_FAILURES`] failures free, then waits likewise (at
//!   most [`PASS_PREFIX_MAX_DELAY`], so that a neighbour can delay the user by that much at
//!   worst).
//! - [`password_strength`]: at least [`MIN_PASSWORD_CHARS`] characters, of which at least
//!   [`MIN_PASSWORD_DISTINCT`] different, where the listener is not on loopback.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{SourcePrefix, canonical_ip};

/// IRC connections at most, registered or not: one user, a few clients (and bouncers).
pub const MAX_CLIENTS: usize = 64;
/// Unregistered connections at most, in total. A client registers in a few round trips.
pub const MAX_UNREGISTERED: usize = 16;
/// Unregistered connections at most from one address: a few clients reconnecting at once.
pub const MAX_UNREGISTERED_PER_ADDRESS: usize = 4;
/// Unregistered connections at most from one IPv4 /24 or IPv6 /64 (one host may hold a
/// whole /64).
pub const MAX_UNREGISTERED_PER_PREFIX: usize = 8;
/// A connection must register within this time (it was 60 s): irssi, WeeChat and HexChat
/// register in a few round trips, CAP negotiation included.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(10);

/// The wait after the first wrong password from an address; it doubles with each one.
pub const PASS_BASE_DELAY: Duration = Duration::from_secs(1);
/// The longest wait for one address.
pub const PASS_MAX_DELAY: Duration = Duration::from_secs(60);
/// Wrong passwords from one prefix before its addresses wait too (a user who mistypes a few
/// times does not slow down the neighbours).
pub const PASS_PREFIX_FREE_FAILURES: u32 = 4;
/// The longest wait for a prefix: what an attacker on the user's /24 or /64 can make the
/// user's own registration wait, at most.
pub const PASS_PREFIX_MAX_DELAY: Duration = Duration::from_secs(30);
/// Failures are forgotten this long after the last one.
pub const PASS_FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses (and prefixes) remembered at most; the stalest is forgotten first.
pub const PASS_TABLE_LIMIT: usize = 4096;

/// A password that guards a listener beyond loopback has at least this many characters...
pub const MIN_PASSWORD_CHARS: usize = 16;
/// ... of which at least this many different ones (refuses `aaaaaaaaaaaaaaaa`).
pub const MIN_PASSWORD_DISTINCT: usize = 8;

/// Checks the strength of a password for a listener beyond loopback; the error says the
/// rule (the caller names the key).
pub fn password_strength(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    let distinct = password.chars().collect::<HashSet<_>>().len();
    if chars >= MIN_PASSWORD_CHARS && distinct >= MIN_PASSWORD_DISTINCT {
        return Ok(());
    }
    Err(format!(
        "too weak for a listener beyond loopback, which anyone on the network can try: use at \
         least {MIN_PASSWORD_CHARS} characters with at least {MIN_PASSWORD_DISTINCT} different \
         ones (it has {chars} characters, {distinct} different); e.g. the output of \
         `head -c 18 /dev/urandom | base64`"
    ))
}

/// The connection budget of the listener (tests shorten it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotLimits {
    pub max_clients: usize,
    pub max_unregistered: usize,
    pub unregistered_per_address: usize,
    pub unregistered_per_prefix: usize,
}

impl Default for SlotLimits {
    fn default() -> Self {
        Self {
            max_clients: MAX_CLIENTS,
            max_unregistered: MAX_UNREGISTERED,
            unregistered_per_address: MAX_UNREGISTERED_PER_ADDRESS,
            unregistered_per_prefix: MAX_UNREGISTERED_PER_PREFIX,
        }
    }
}

/// A connection's number at the listener, in order of arrival.
pub type ConnId = u64;

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Its address has as many unregistered connections as it may.
    Address,
    /// Its prefix has as many unregistered connections as it may.
    Prefix,
    /// Every slot holds a registered client.
    Full,
}

impl Refusal {
    /// The text of the ERROR line that refuses the connection.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Address => "Too many unregistered connections from your address",
            Refusal::Prefix => "Too many unregistered connections from your network",
            Refusal::Full => "Too many connections",
        }
    }
}

/// What the listener does with a new connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Serve it as `id`; first close `evict` (an unregistered connection) to make room.
    Admitted {
        id: ConnId,
        evict: Option<ConnId>,
    },
    Refused(Refusal),
}

/// The listener's connections: which are unregistered, from where. Registered connections
/// are only counted.
#[derive(Debug, Default)]
pub struct Slots {
    limits: SlotLimits,
    next_id: ConnId,
    /// Unregistered connections by id (so by age) with their canonical address.
    unregistered: BTreeMap<ConnId, IpAddr>,
    registered: HashSet<ConnId>,
    by_address: HashMap<IpAddr, usize>,
    by_prefix: HashMap<SourcePrefix, usize>,
}

impl Slots {
    pub fn new(limits: SlotLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Decides on a new connection from `ip`.
    pub fn admit(&mut self, ip: IpAddr) -> Admission {
        let ip = canonical_ip(ip);
        let prefix = SourcePrefix::of(ip);
        if self.by_address.get(&ip).copied().unwrap_or(0) >= self.limits.unregistered_per_address {
            return Admission::Refused(Refusal::Address);
        }
        if self.by_prefix.get(&prefix).copied().unwrap_or(0) >= self.limits.unregistered_per_prefix
        {
            return Admission::Refused(Refusal::Prefix);
        }
        let total = self.unregistered.len() + self.registered.len();
        let mut evict = None;
        if total >= self.limits.max_clients
            || self.unregistered.len() >= self.limits.max_unregistered
        {
            match self.victim() {
                Some(victim) => {
                    self.forget_unregistered(victim);
                    evict = Some(victim);
                }
                None => return Admission::Refused(Refusal::Full),
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.unregistered.insert(id, ip);
        *self.by_address.entry(ip).or_default() += 1;
        *self.by_prefix.entry(prefix).or_default() += 1;
        Admission::Admitted { id, evict }
    }

    /// The unregistered connection to close for a newcomer: the oldest of the prefix that
    /// holds the most (an attacker's, before the user's one connection).
    fn victim(&self) -> Option<ConnId> {
        self.unregistered
            .iter()
            .max_by_key(|(id, ip)| {
                let held = self.by_prefix.get(&SourcePrefix::of(**ip)).copied();
                (held.unwrap_or(0), std::cmp::Reverse(**id))
            })
            .map(|(id, _)| *id)
    }

    /// `id` registered: it no longer counts against its address and prefix.
    pub fn registered(&mut self, id: ConnId) {
        if self.forget_unregistered(id) {
            self.registered.insert(id);
        }
    }

    /// `id` is closed (a no-op for an evicted one, forgotten already).
    pub fn closed(&mut self, id: ConnId) {
        if !self.registered.remove(&id) {
            self.forget_unregistered(id);
        }
    }

    /// Connections held: (unregistered, registered).
    pub fn counts(&self) -> (usize, usize) {
        (self.unregistered.len(), self.registered.len())
    }

    fn forget_unregistered(&mut self, id: ConnId) -> bool {
        let Some(ip) = self.unregistered.remove(&id) else {
            return false;
        };
        decrement(&mut self.by_address, &ip);
        decrement(&mut self.by_prefix, &SourcePrefix::of(ip));
        true
    }
}

fn decrement<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, key: &K) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// How wrong passwords are slowed down (tests shorten the delays).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuessRules {
    pub base_delay: Duration,
    pub max_delay: Duration,
    pub prefix_free_failures: u32,
    pub prefix_max_delay: Duration,
    pub forget_after: Duration,
    pub table_limit: usize,
}

impl Default for GuessRules {
    fn default() -> Self {
        Self {
            base_delay: PASS_BASE_DELAY,
            max_delay: PASS_MAX_DELAY,
            prefix_free_failures: PASS_PREFIX_FREE_FAILURES,
            prefix_max_delay: PASS_PREFIX_MAX_DELAY,
            forget_after: PASS_FORGET_AFTER,
            table_limit: PASS_TABLE_LIMIT,
        }
    }
}

impl GuessRules {
    /// The wait after `failures` wrong passwords, `free` of them without one.
    fn delay(&self, failures: u32, free: u32, max: Duration) -> Duration {
        let Some(doublings) = failures.checked_sub(free + 1) else {
            return Duration::ZERO;
        };
        self.base_delay
            .saturating_mul(1u32 << doublings.min(20))
            .min(max)
    }
}

/// Wrong passwords from one address or prefix.
#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    /// No password from here is checked before this.
    open_at: Instant,
    last: Instant,
}

/// Wrong passwords per canonical address and per prefix, and when each may try again.
#[derive(Debug, Default)]
pub struct Guesses {
    rules: GuessRules,
    by_address: HashMap<IpAddr, Failures>,
    by_prefix: HashMap<SourcePrefix, Failures>,
}

impl Guesses {
    pub fn new(rules: GuessRules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// When a password from `ip` may be checked: `None` now, else the time to wait for.
    pub fn gate(&mut self, ip: IpAddr, now: Instant) -> Option<Instant> {
        let ip = canonical_ip(ip);
        let forget = self.rules.forget_after;
        let address = fresh(&mut self.by_address, &ip, now, forget).map(|f| f.open_at);
        let prefix =
            fresh(&mut self.by_prefix, &SourcePrefix::of(ip), now, forget).map(|f| f.open_at);
        address
            .into_iter()
            .chain(prefix)
            .max()
            .filter(|&at| at > now)
    }

    /// Records a wrong password from `ip`; returns how long to hold the refusal (the
    /// address's wait now).
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> Duration {
        let ip = canonical_ip(ip);
        let rules = self.rules;
        let address = record(&mut self.by_address, ip, now, &rules, |n| {
            rules.delay(n, 0, rules.max_delay)
        });
        record(
            &mut self.by_prefix,
            SourcePrefix::of(ip),
            now,
            &rules,
            |n| rules.delay(n, rules.prefix_free_failures, rules.prefix_max_delay),
        );
        address
    }

    /// The right password from `ip`: its own failures are forgotten (its prefix's are not:
    /// they may be someone else's).
    pub fn succeeded(&mut self, ip: IpAddr) {
        self.by_address.remove(&canonical_ip(ip));
    }

    /// Entries held: (addresses, prefixes).
    pub fn len(&self) -> (usize, usize) {
        (self.by_address.len(), self.by_prefix.len())
    }

    pub fn is_empty(&self) -> bool {
        self.by_address.is_empty() && self.by_prefix.is_empty()
    }
}

/// The entry for `key`, dropped first if it is older than `forget`.
fn fresh<'a, K: std::hash::Hash + Eq>(
    map: &'a mut HashMap<K, Failures>,
    key: &K,
    now: Instant,
    forget: Duration,
) -> Option<&'a Failures> {
    if map
        .get(key)
        .is_some_and(|f| now.saturating_duration_since(f.last) >= forget)
    {
        map.remove(key);
    }
    map.get(key)
}

/// Counts one more failure for `key` (making room in a full table); returns its wait.
fn record<K: std::hash::Hash + Eq + Copy>(
    map: &mut HashMap<K, Failures>,
    key: K,
    now: Instant,
    rules: &GuessRules,
    delay: impl Fn(u32) -> Duration,
) -> Duration {
    let known = fresh(map, &key, now, rules.forget_after).is_some();
    if !known && map.len() >= rules.table_limit {
        map.retain(|_, f| now.saturating_duration_since(f.last) < rules.forget_after);
        if map.len() >= rules.table_limit
            && let Some(stalest) = map.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k)
        {
            map.remove(&stalest);
        }
    }
    let entry = map.entry(key).or_insert(Failures {
        count: 0,
        open_at: now,
        last: now,
    });
    entry.count = entry.count.saturating_add(1);
    entry.last = now;
    let wait = delay(entry.count);
    entry.open_at = entry.open_at.max(now + wait);
    wait
}

#[cfg(test)]
#[path = "irc_tests.rs"]
mod tests;
