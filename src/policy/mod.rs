//! Budgets and rules for what strangers can make the gateway spend, in one place: the
//! numbers and their reasons live here, and the accept loop, the dialler, the sessions, the
//! hub and the IRC listener ask. Pure: no sockets, no clock (callers pass `now`).
//!
//! - [`address`]: which addresses the gateway may dial (canonical forms, reserved ranges).
//! - [`inbound`]: pending handshakes and sessions per source, per prefix and in total.
//! - [`strangers`]: rates and disk quotas for peers that are not contacts.
//! - [`irc`]: limits of the IRC listener (connections and password guesses per address).
//! - [`relay`]: what a relay gives others (reservations, circuits, bytes a second).
//! - [`replay`]: the first messages of version 2 already answered (probers get silence).
//!
//! Shared here: [`canonical_ip`], [`SourcePrefix`] (the unit an attacker gets for free: an
//! IPv4 /24 or an IPv6 /64) and [`TokenBucket`].

pub mod address;
pub mod inbound;
pub mod irc;
pub mod relay;
pub mod replay;
pub mod strangers;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is; every other
/// address unchanged. Every check on an address runs on this form, so that a mapped
/// address cannot slip past a rule written for IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The network an address belongs to, as far as budgets go: an IPv4 /24 or an IPv6 /64.
/// One host commonly holds a whole IPv6 /64 (SLAAC, privacy addresses), and a /24 is the
/// smallest block routed on the IPv4 internet, so counting per address alone would let one
/// attacker look like many.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourcePrefix {
    V4([u8; 3]),
    V6([u8; 8]),
}

impl SourcePrefix {
    pub fn of(ip: IpAddr) -> Self {
        match canonical_ip(ip) {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Self::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(v6) => {
                let o = v6.octets();
                let mut p = [0u8; 8];
                p.copy_from_slice(&o[..8]);
                Self::V6(p)
            }
        }
    }
}

impl std::fmt::Display for SourcePrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V4([a, b, c]) => write!(f, "{}/24", Ipv4Addr::new(*a, *b, *c, 0)),
            Self::V6(p) => {
                let mut o = [0u8; 16];
                o[..8].copy_from_slice(p);
                write!(f, "{}/64", Ipv6Addr::from(o))
            }
        }
    }
}

/// A token bucket: `rate` tokens a second, at most `burst` saved up. Starts full.
#[derive(Clone, Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
    }

    /// Takes `cost` tokens if there are that many; false (and nothing taken) otherwise.
    pub fn try_take(&mut self, cost: f64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// How long until `cost` tokens are there (zero if they are now).
    pub fn wait_for(&mut self, cost: f64, now: Instant) -> Duration {
        self.refill(now);
        if self.tokens >= cost || self.rate <= 0.0 {
            return Duration::ZERO;
        }
        Duration::from_secs_f64((cost - self.tokens) / self.rate)
    }

    /// True when the bucket is full again (an entry that can be forgotten).
    pub fn is_full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_canonicalised() {
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(canonical_ip(mapped), "127.0.0.1".parse::<IpAddr>().unwrap());
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(canonical_ip(v6), v6);
    }

    #[test]
    fn prefixes_group_a_slash_24_and_a_slash_64() {
        let p = |s: &str| SourcePrefix::of(s.parse().unwrap());
        assert_eq!(p("192.0.2.1"), p("192.0.2.254"));
        assert_ne!(p("192.0.2.1"), p("192.0.3.1"));
        assert_eq!(p("::ffff:192.0.2.9"), p("192.0.2.1"));
        assert_eq!(p("2001:db8:1:2::1"), p("2001:db8:1:2:ffff::9"));
        assert_ne!(p("2001:db8:1:2::1"), p("2001:db8:1:3::1"));
        assert_eq!(p("192.0.2.7").to_string(), "192.0.2.0/24");
        assert_eq!(p("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn a_bucket_spends_its_burst_then_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0, 3.0, t0);
        assert!(b.try_take(1.0, t0) && b.try_take(1.0, t0) && b.try_take(1.0, t0));
        assert!(!b.try_take(1.0, t0));
        assert_eq!(b.wait_for(1.0, t0), Duration::from_millis(500));
        assert!(b.try_take(1.0, t0 + Duration::from_millis(500)));
        assert!(b.is_full(t0 + Duration::from_secs(10)));
    }
}
