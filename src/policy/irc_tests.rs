//! The IRC listener's rules, with a hand-driven clock.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn admitted(a: Admission) -> (ConnId, Option<ConnId>) {
    match a {
        Admission::Admitted { id, evict } => (id, evict),
        other => panic!("refused: {other:?}"),
    }
}

#[test]
fn one_address_gets_its_unregistered_share_and_no_more() {
    let mut slots = Slots::new(SlotLimits::default());
    for _ in 0..MAX_UNREGISTERED_PER_ADDRESS {
        admitted(slots.admit(ip("192.0.2.2")));
    }
    assert_eq!(
        slots.admit(ip("192.0.2.2")),
        Admission::Refused(Refusal::Address)
    );
    // The same address spelled as IPv4-mapped IPv6 is the same address.
    assert_eq!(
        slots.admit(ip("::ffff:192.0.2.2")),
        Admission::Refused(Refusal::Address)
    );
    // A neighbour in the /24 still gets in, up to the prefix's share.
    for _ in MAX_UNREGISTERED_PER_ADDRESS..MAX_UNREGISTERED_PER_PREFIX {
        admitted(slots.admit(ip("192.0.2.1")));
    }
    assert_eq!(
        slots.admit(ip("192.0.2.3")),
        Admission::Refused(Refusal::Prefix)
    );
    // Another network is not concerned.
    admitted(slots.admit(ip("198.51.100.1")));
}

#[test]
fn registered_connections_free_their_address_share() {
    let mut slots = Slots::new(SlotLimits::default());
    let ids: Vec<_> = (0..MAX_UNREGISTERED_PER_ADDRESS)
        .map(|_| admitted(slots.admit(ip("192.0.2.2"))).0)
        .collect();
    slots.registered(ids[0]);
    admitted(slots.admit(ip("192.0.2.2")));
    assert_eq!(slots.counts(), (MAX_UNREGISTERED_PER_ADDRESS, 1));
    for id in ids {
        slots.closed(id);
    }
    assert_eq!(slots.counts(), (1, 0));
}

#[test]
fn a_full_listener_evicts_the_oldest_unregistered_of_the_busiest_prefix() {
    let limits = SlotLimits {
        max_clients: 6,
        max_unregistered: 6,
        unregistered_per_address: 4,
        unregistered_per_prefix: 4,
    };
    let mut slots = Slots::new(limits);
    let user = admitted(slots.admit(ip("198.51.100.1"))).0;
    let attacker: Vec<_> = (0..4)
        .map(|i| admitted(slots.admit(ip(&format!("192.0.2.{i}")))).0)
        .collect();
    let other = admitted(slots.admit(ip("203.0.113.1"))).0;
    // Full: a newcomer pushes out the attacker's oldest, not the user's older connection.
    let (_, evicted) = admitted(slots.admit(ip("203.0.113.9")));
    assert_eq!(evicted, Some(attacker[0]));
    // The evicted one closing later changes nothing.
    slots.closed(attacker[0]);
    assert_eq!(slots.counts(), (6, 0));
    // With every slot registered, a newcomer is refused.
    for id in [user, other]
        .into_iter()
        .chain(attacker[1..].iter().copied())
    {
        slots.registered(id);
    }
    let (_, evicted) = admitted(slots.admit(ip("203.0.113.10")));
    assert!(evicted.is_some());
    let mut slots = Slots::new(SlotLimits {
        max_clients: 1,
        ..limits
    });
    let only = admitted(slots.admit(ip("198.51.100.1"))).0;
    slots.registered(only);
    assert_eq!(
        slots.admit(ip("192.0.2.1")),
        Admission::Refused(Refusal::Full)
    );
}

#[test]
fn wrong_passwords_double_the_wait_up_to_the_bound() {
    let t0 = Instant::now();
    let mut g = Guesses::new(GuessRules::default());
    let a = ip("192.0.2.2");
    assert_eq!(g.gate(a, t0), None);
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..10 {
        let wait = g.failed(a, now);
        waits.push(wait.as_secs());
        assert_eq!(g.gate(a, now), Some(now + wait));
        now += wait;
        assert_eq!(g.gate(a, now), None, "open once the wait is over");
    }
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]);
    // The mapped spelling of the address waits too.
    let t = now;
    g.failed(a, t);
    assert!(g.gate(ip("::ffff:192.0.2.2"), t).is_some());
    // Forgotten after a quiet while; the right password forgets the address at once.
    assert_eq!(g.gate(a, t + PASS_FORGET_AFTER), None);
    g.failed(a, t);
    g.succeeded(a);
    assert!(g.by_address.is_empty());
}

#[test]
fn a_prefix_waits_after_its_free_failures_and_at_most_its_bound() {
    let t0 = Instant::now();
    let mut g = Guesses::new(GuessRules::default());
    // Each failure from a fresh address of one /24.
    for i in 0..PASS_PREFIX_FREE_FAILURES {
        g.failed(ip(&format!("192.0.2.{i}")), t0);
    }
    let user = ip("192.0.2.200");
    assert_eq!(
        g.gate(user, t0),
        None,
        "a few typos do not slow the neighbours"
    );
    for i in 0..100 {
        g.failed(ip(&format!("192.0.2.{}", 10 + i)), t0);
    }
    let until = g.gate(user, t0).expect("the prefix waits");
    assert!(until - t0 <= PASS_PREFIX_MAX_DELAY);
    assert_eq!(g.gate(ip("198.51.100.1"), t0), None);
}

#[test]
fn the_tables_stay_bounded() {
    let rules = GuessRules {
        table_limit: 16,
        ..GuessRules::default()
    };
    let t0 = Instant::now();
    let mut g = Guesses::new(rules);
    for i in 0..1000u32 {
        let addr = IpAddr::from([10, (i >> 8) as u8, i as u8, 1]);
        g.failed(addr, t0 + Duration::from_millis(u64::from(i)));
    }
    let (addresses, prefixes) = g.len();
    assert!(addresses <= 16 && prefixes <= 16, "{addresses} {prefixes}");
}

#[test]
fn weak_passwords_are_refused_with_the_rule() {
    assert!(password_strength("correct-horse").is_err());
    assert!(password_strength("aaaaaaaaaaaaaaaaaaaa").is_err());
    let err = password_strength("short").unwrap_err();
    assert!(err.contains("16 characters"), "{err}");
    assert!(password_strength("Tr0ub4dor&3-staple-Horse").is_ok());
    assert!(password_strength("q8Zr1vXc0m2LpT5w").is_ok());
}
