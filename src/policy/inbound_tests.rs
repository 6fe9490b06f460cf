//! Unit tests of the inbound budgets: eviction order of the pending table, the handshake
//! budget under load, and session shares.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn small(total: usize, per_address: usize, per_prefix: usize) -> InboundLimits {
    InboundLimits {
        pending_total: total,
        pending_per_address: per_address,
        pending_per_prefix: per_prefix,
        ..InboundLimits::default()
    }
}

#[test]
fn a_full_address_evicts_its_own_oldest_silent_connection() {
    let mut t = PendingTable::new(&small(100, 2, 50));
    let (a, _) = t.admit(ip("192.0.2.1"), "a").unwrap();
    let (_b, _) = t.admit(ip("192.0.2.1"), "b").unwrap();
    let (_, evicted) = t.admit(ip("192.0.2.1"), "c").unwrap();
    assert_eq!(evicted, Some("a"));
    assert_eq!(t.len(), 2);
    assert!(t.remove(a).is_none(), "the evicted slot is gone");
    // An IPv4-mapped address is the same address.
    let (_, evicted) = t.admit(ip("::ffff:192.0.2.1"), "d").unwrap();
    assert_eq!(evicted, Some("b"));
}

#[test]
fn connections_past_msg1_are_not_evicted_and_a_full_source_is_then_refused() {
    let mut t = PendingTable::new(&small(100, 2, 50));
    let (a, _) = t.admit(ip("192.0.2.1"), "a").unwrap();
    let (b, _) = t.admit(ip("192.0.2.1"), "b").unwrap();
    t.got_msg1(a);
    let (c, evicted) = t.admit(ip("192.0.2.1"), "c").unwrap();
    assert_eq!(evicted, Some("b"));
    assert!(t.remove(b).is_none());
    // Both slots of the address are past msg1 now: a newcomer from it is refused.
    t.got_msg1(c);
    assert_eq!(
        t.admit(ip("192.0.2.1"), "y").unwrap_err(),
        InboundRefusal::AddressFull
    );
    // Another address of the prefix still gets in.
    assert!(t.admit(ip("192.0.2.2"), "z").is_ok());
}

#[test]
fn a_full_prefix_evicts_within_the_prefix_and_others_are_untouched() {
    let mut t = PendingTable::new(&small(100, 10, 4));
    let (other, _) = t.admit(ip("198.51.100.9"), "other").unwrap();
    for i in 1..=4 {
        t.admit(ip(&format!("192.0.2.{i}")), "attacker").unwrap();
    }
    assert_eq!(t.from_prefix(SourcePrefix::of(ip("192.0.2.1"))), 4);
    let (_, evicted) = t.admit(ip("192.0.2.200"), "newcomer").unwrap();
    assert_eq!(evicted, Some("attacker"));
    assert_eq!(t.from_prefix(SourcePrefix::of(ip("192.0.2.1"))), 4);
    assert_eq!(
        t.remove(other),
        Some("other"),
        "another prefix's slot stays"
    );
    // IPv6: one /64 is one prefix, however many addresses it uses.
    let mut t = PendingTable::new(&small(100, 10, 4));
    for i in 1..=20 {
        t.admit(ip(&format!("2001:db8:1:2::{i:x}")), i).unwrap();
    }
    assert_eq!(t.len(), 4);
}

#[test]
fn a_full_table_evicts_from_the_prefix_holding_most_silent_connections() {
    let mut t = PendingTable::new(&small(6, 10, 10));
    let (honest, _) = t.admit(ip("198.51.100.1"), "honest").unwrap();
    for i in 1..=3 {
        t.admit(ip(&format!("192.0.2.{i}")), "big").unwrap();
    }
    for i in 1..=2 {
        t.admit(ip(&format!("203.0.113.{i}")), "small").unwrap();
    }
    // The honest connection is the oldest, but its prefix holds the fewest.
    let (_, evicted) = t.admit(ip("192.0.3.1"), "new").unwrap();
    assert_eq!(evicted, Some("big"));
    assert_eq!(t.len(), 6);
    // Everything past msg1: the newcomer is refused.
    for id in 0..20 {
        t.got_msg1(id);
    }
    assert_eq!(
        t.admit(ip("192.0.3.2"), "late").unwrap_err(),
        InboundRefusal::PendingFull
    );
    assert_eq!(t.remove(honest), Some("honest"));
    assert!(t.admit(ip("192.0.3.2"), "late").is_ok());
}

#[test]
fn below_the_load_rate_every_msg1_is_answered() {
    let limits = InboundLimits {
        load_rate: 10.0,
        load_burst: 10.0,
        ..InboundLimits::default()
    };
    let t0 = Instant::now();
    let mut b = HandshakeBudget::new(&limits, t0);
    // 9 a second from one prefix, for 10 seconds: all answered.
    for i in 0..90 {
        let now = t0 + Duration::from_millis(i * 1000 / 9);
        assert!(b.answer(ip("192.0.2.1"), now), "msg1 {i}");
    }
}

#[test]
fn under_load_one_prefix_gets_its_share_and_others_still_get_answers() {
    let limits = InboundLimits {
        load_rate: 10.0,
        load_burst: 10.0,
        msg1_per_prefix_rate: 2.0,
        msg1_per_prefix_burst: 4.0,
        msg1_total_rate: 100.0,
        msg1_total_burst: 100.0,
        ..InboundLimits::default()
    };
    let t0 = Instant::now();
    let mut b = HandshakeBudget::new(&limits, t0);
    // A flood of 1000 msg1s a second from one /24 (many addresses) for 10 s.
    let mut answered = 0;
    for i in 0..10_000u64 {
        let now = t0 + Duration::from_micros(i * 1000);
        if b.answer(ip(&format!("192.0.2.{}", i % 250)), now) {
            answered += 1;
        }
        // Another prefix's msg1 now and then is answered.
        if i % 1000 == 500 {
            assert!(b.answer(ip("198.51.100.7"), now), "at {i}");
        }
    }
    // The load burst, the prefix burst, then its rate: far below 10,000.
    assert!(answered <= 10 + 4 + 2 * 10 + 1, "answered {answered}");
    assert!(answered >= 10, "answered {answered}");
}

#[test]
fn under_load_the_total_budget_bounds_many_prefixes() {
    let limits = InboundLimits {
        load_rate: 10.0,
        load_burst: 10.0,
        msg1_per_prefix_rate: 2.0,
        msg1_per_prefix_burst: 4.0,
        msg1_total_rate: 20.0,
        msg1_total_burst: 20.0,
        ..InboundLimits::default()
    };
    let t0 = Instant::now();
    let mut b = HandshakeBudget::new(&limits, t0);
    let mut answered = 0;
    // 1000 a second from 1000 different /24s, for 5 s.
    for i in 0..5000u64 {
        let now = t0 + Duration::from_millis(i);
        let source = ip(&format!("10.{}.{}.1", (i % 1000) / 250, i % 250));
        if b.answer(source, now) {
            answered += 1;
        }
    }
    assert!(answered <= 10 + 20 + 20 * 5 + 1, "answered {answered}");
    assert!(b.tracked() <= MAX_TRACKED_PREFIXES);
}

fn kind(s: &str) -> SessionKind {
    SessionKind::Stranger(SourcePrefix::of(ip(s)))
}

#[test]
fn session_shares_are_derived_from_the_cap() {
    let l = SessionLimits::derive(768, None, None);
    assert_eq!((l.reserved_for_contacts, l.per_prefix), (192, 32));
    let l = SessionLimits::derive(1, None, None);
    assert_eq!((l.reserved_for_contacts, l.per_prefix), (0, 1));
    let l = SessionLimits::derive(8, Some(2), Some(3));
    assert_eq!((l.max, l.reserved_for_contacts, l.per_prefix), (8, 2, 3));
}

#[test]
fn strangers_are_capped_per_prefix_and_leave_the_reserve_to_contacts() {
    let limits = SessionLimits::derive(6, Some(2), Some(3));
    let mut r = SessionRegistry::default();
    let act = |a: &u64| *a;
    for id in 0..3 {
        assert_eq!(r.admit(id, kind("192.0.2.1"), id, &limits, act), Ok(None));
    }
    assert_eq!(
        r.admit(3, kind("192.0.2.9"), 3, &limits, act),
        Err(InboundRefusal::PrefixSessions)
    );
    assert_eq!(r.admit(3, kind("198.51.100.1"), 3, &limits, act), Ok(None));
    assert_eq!(
        r.admit(4, kind("203.0.113.1"), 4, &limits, act),
        Err(InboundRefusal::StrangerSessions)
    );
    assert!(r.room_for_someone(&limits));
    // Contacts take the reserve, then evict the least active stranger.
    assert_eq!(
        r.admit(10, SessionKind::Contact, 100, &limits, act),
        Ok(None)
    );
    assert_eq!(
        r.admit(11, SessionKind::Contact, 100, &limits, act),
        Ok(None)
    );
    assert_eq!(r.len(), 6);
    assert_eq!(
        r.admit(12, SessionKind::Contact, 100, &limits, act),
        Ok(Some(0))
    );
    assert_eq!(r.strangers(), 3);
    assert_eq!(r.from_prefix(SourcePrefix::of(ip("192.0.2.1"))), 2);
    // Outbound sessions are never refused here.
    assert_eq!(
        r.admit(20, SessionKind::Outbound, 0, &limits, act),
        Ok(None)
    );
    assert_eq!(r.remove(0), None, "the evicted session is already gone");
    assert_eq!(r.remove(1), Some(1));
}

#[test]
fn with_only_contacts_and_dials_up_a_full_cap_turns_everyone_away() {
    let limits = SessionLimits::derive(2, Some(1), Some(1));
    let mut r = SessionRegistry::default();
    let act = |a: &u64| *a;
    r.admit(1, SessionKind::Contact, 0, &limits, act).unwrap();
    r.admit(2, SessionKind::Outbound, 0, &limits, act).unwrap();
    assert!(!r.room_for_someone(&limits));
    assert_eq!(
        r.admit(3, SessionKind::Contact, 0, &limits, act),
        Err(InboundRefusal::SessionsFull)
    );
    assert_eq!(
        r.admit(3, kind("192.0.2.1"), 0, &limits, act),
        Err(InboundRefusal::SessionsFull)
    );
}
