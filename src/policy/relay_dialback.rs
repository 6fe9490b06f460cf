//! What a relay spends on dial-backs ([`DialBackBudget`]): one a minute per reserved key,
//! a token bucket per source prefix and one in total, and a cap on dials in flight. Pure
//! bookkeeping: the relay's reservation task asks before it dials and says when the dial
//! ended (docs/protocol.md, "Relays", "Dial-back").
//!
//! A dial-back costs the relay one outgoing TCP connection attempt (at most
//! [`DIAL_BACK_CONNECT_TIMEOUT`]) and one 27-byte record, always to the address the
//! requester's own reservation connection comes from: it cannot be aimed at anyone else,
//! so the budgets only keep a relay from being made into a port scanner of its users'
//! own addresses at speed. Memory is bounded: a key's entry is forgotten 60 s after its
//! dial-back, a prefix's bucket once it is full again, and both maps are capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::{SourcePrefix, TokenBucket};
use crate::identity::PeerId;
use crate::relay::wire::StatusCode;

/// One dial-back per reserved key in this time: reachability changes slowly (a gateway
/// asks at start and when its address changes).
pub const DIAL_BACK_EVERY: Duration = Duration::from_secs(60);
/// Dial-backs a second from one source prefix, and its burst: a household's four
/// gateways (the strangers' reservations per prefix) may each ask at once.
pub const DIAL_BACK_PREFIX_RATE: f64 = 1.0 / 15.0;
pub const DIAL_BACK_PREFIX_BURST: f64 = 4.0;
/// Dial-backs a second in total, and the burst: a relay of 128 reservations whose users
/// all restart at once serves them within two minutes.
pub const DIAL_BACK_TOTAL_RATE: f64 = 1.0;
pub const DIAL_BACK_TOTAL_BURST: f64 = 16.0;
/// Dials under way at once (each is a socket for at most the connect timeout).
pub const DIAL_BACKS_IN_FLIGHT: usize = 16;
/// How long the relay waits for its dial-back connection to be accepted (one round trip
/// and SYN retransmissions over a slow link; a filtered port never answers).
pub const DIAL_BACK_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Lowest port a relay dials back: below 1024 live the services a stray record could
/// confuse (mail, web, a router's admin page), and a gateway runs unprivileged.
pub const MIN_DIAL_BACK_PORT: u16 = 1024;
/// Most keys and prefixes tracked at once (each map); beyond, dial-backs are refused
/// until entries age out. The total bucket already keeps the key map far below this.
pub const MAX_DIAL_BACK_TRACKED: usize = 1024;

/// The numbers of this module, in one value; tests shrink them.
#[derive(Clone, Copy, Debug)]
pub struct DialBackLimits {
    pub every: Duration,
    pub prefix_rate: f64,
    pub prefix_burst: f64,
    pub total_rate: f64,
    pub total_burst: f64,
    pub in_flight: usize,
    pub connect_timeout: Duration,
    pub max_tracked: usize,
}

impl Default for DialBackLimits {
    fn default() -> Self {
        Self {
            every: DIAL_BACK_EVERY,
            prefix_rate: DIAL_BACK_PREFIX_RATE,
            prefix_burst: DIAL_BACK_PREFIX_BURST,
            total_rate: DIAL_BACK_TOTAL_RATE,
            total_burst: DIAL_BACK_TOTAL_BURST,
            in_flight: DIAL_BACKS_IN_FLIGHT,
            connect_timeout: DIAL_BACK_CONNECT_TIMEOUT,
            max_tracked: MAX_DIAL_BACK_TRACKED,
        }
    }
}

/// Why a dial-back was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DialBackRefusal {
    #[error("port {0} is not dialled back (0 or below {MIN_DIAL_BACK_PORT})")]
    BadPort(u16),
    #[error("this key had a dial-back less than a minute ago")]
    TooSoon { retry_after: Duration },
    #[error("its prefix spent its dial-backs")]
    Prefix { retry_after: Duration },
    #[error("the relay spent its dial-backs")]
    Total { retry_after: Duration },
    #[error("every dial-back slot is in use")]
    InFlight,
    #[error("too many keys or prefixes tracked")]
    Full,
}

impl DialBackRefusal {
    /// The code and the retry hint (whole seconds, rounded up) told to the requester.
    pub fn status(self) -> (StatusCode, u16) {
        let secs = |d: Duration| {
            let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
            u16::try_from(s).unwrap_or(u16::MAX)
        };
        match self {
            Self::BadPort(_) => (StatusCode::BadPort, 0),
            Self::TooSoon { retry_after }
            | Self::Prefix { retry_after }
            | Self::Total { retry_after } => (StatusCode::ResourceLimit, secs(retry_after)),
            Self::InFlight => (StatusCode::ResourceLimit, 1),
            Self::Full => (StatusCode::ResourceLimit, secs(DIAL_BACK_EVERY)),
        }
    }
}

/// The relay's dial-back budget.
pub struct DialBackBudget {
    limits: DialBackLimits,
    /// When each key last had a dial-back (entries older than `every` are dropped).
    last: HashMap<PeerId, Instant>,
    per_prefix: HashMap<SourcePrefix, TokenBucket>,
    total: TokenBucket,
    in_flight: usize,
}

impl DialBackBudget {
    pub fn new(limits: DialBackLimits, now: Instant) -> Self {
        Self {
            limits,
            last: HashMap::new(),
            per_prefix: HashMap::new(),
            total: TokenBucket::new(limits.total_rate, limits.total_burst, now),
            in_flight: 0,
        }
    }

    pub fn limits(&self) -> &DialBackLimits {
        &self.limits
    }

    /// Whether the holder of `key`'s reservation, connected from `ip`, may have a
    /// dial-back to `port` now. On success one slot is in flight until
    /// [`DialBackBudget::finished`]; on refusal nothing is taken.
    pub fn admit(
        &mut self,
        key: PeerId,
        ip: IpAddr,
        port: u16,
        now: Instant,
    ) -> Result<(), DialBackRefusal> {
        if port < MIN_DIAL_BACK_PORT {
            return Err(DialBackRefusal::BadPort(port));
        }
        let every = self.limits.every;
        self.last
            .retain(|_, at| now.saturating_duration_since(*at) < every);
        if let Some(at) = self.last.get(&key) {
            let retry_after = every.saturating_sub(now.saturating_duration_since(*at));
            return Err(DialBackRefusal::TooSoon { retry_after });
        }
        if self.in_flight >= self.limits.in_flight {
            return Err(DialBackRefusal::InFlight);
        }
        let prefix = SourcePrefix::of(ip);
        if !self.per_prefix.contains_key(&prefix) {
            self.per_prefix.retain(|_, b| !b.is_full(now));
        }
        let max = self.limits.max_tracked;
        if self.last.len() >= max
            || (self.per_prefix.len() >= max && !self.per_prefix.contains_key(&prefix))
        {
            return Err(DialBackRefusal::Full);
        }
        let (rate, burst) = (self.limits.prefix_rate, self.limits.prefix_burst);
        let bucket = self
            .per_prefix
            .entry(prefix)
            .or_insert_with(|| TokenBucket::new(rate, burst, now));
        let prefix_wait = bucket.wait_for(1.0, now);
        let total_wait = self.total.wait_for(1.0, now);
        if !prefix_wait.is_zero() {
            return Err(DialBackRefusal::Prefix {
                retry_after: prefix_wait,
            });
        }
        if !total_wait.is_zero() {
            return Err(DialBackRefusal::Total {
                retry_after: total_wait,
            });
        }
        bucket.try_take(1.0, now);
        self.total.try_take(1.0, now);
        self.last.insert(key, now);
        self.in_flight += 1;
        Ok(())
    }

    /// A dial admitted earlier ended (connected, failed or timed out).
    pub fn finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// Dials in flight, keys and prefixes tracked (for `status` and tests).
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.in_flight, self.last.len(), self.per_prefix.len())
    }
}
