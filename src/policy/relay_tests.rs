//! Tests of the relay's table: floods from one prefix and from many leave room for
//! others and for contacts; challenges awaiting a proof are capped per prefix and in total; expiry, renewal, acceptance and byte rates; the dial-back
//! budget (one a minute per key, per prefix, in total, in flight, ports, bounded maps).

use super::*;
use ed25519_dalek::SigningKey;

fn key(n: u16) -> PeerId {
    let mut seed = [0u8; 32];
    seed[..2].copy_from_slice(&n.to_be_bytes());
    PeerId::of(&SigningKey::from_bytes(&seed))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cid(n: u16) -> CircuitId {
    let mut c = [0u8; 16];
    c[..2].copy_from_slice(&n.to_be_bytes());
    CircuitId(c)
}

fn small() -> RelayLimits {
    RelayLimits {
        challenges_total: 6,
        challenges_per_prefix: 3,
        reservations_total: 10,
        reservations_per_prefix: 2,
        reserved_for_contacts: 3,
        circuits_total: 20,
        circuits_per_prefix: 4,
        circuits_per_target: 6,
        circuits_for_contacts: 5,
        ..RelayLimits::default()
    }
}

#[test]
fn a_reservation_flood_from_one_prefix_leaves_room_for_others() {
    let t0 = Instant::now();
    let mut t = RelayTable::new(small(), Serve::Anyone, t0);
    assert!(t.reserve(key(1), ip("192.0.2.1"), false, t0).is_ok());
    assert!(t.reserve(key(2), ip("192.0.2.2"), false, t0).is_ok());
    for n in 3..100 {
        assert_eq!(
            t.reserve(key(n), ip("192.0.2.9"), false, t0),
            Err(RelayRefusal::PrefixReservations)
        );
    }
    assert!(t.reserve(key(200), ip("198.51.100.1"), false, t0).is_ok());
    assert_eq!(t.counts(), (3, 0));
}

#[test]
fn challenges_awaiting_a_proof_are_capped_per_prefix_and_in_total() {
    let t0 = Instant::now();
    let mut t = RelayTable::new(small(), Serve::Anyone, t0);
    // A flood of Reserves never answered, from one /24 (several addresses of it).
    for n in 0..3 {
        assert_eq!(t.begin_challenge(ip(&format!("192.0.2.{n}"))), Ok(()));
    }
    for n in 3..100 {
        assert_eq!(
            t.begin_challenge(ip(&format!("192.0.2.{n}"))),
            Err(RelayRefusal::PrefixChallenges)
        );
    }
    assert_eq!(t.challenges(), 3);
    t.check_invariants();
    // Others are still challenged, up to the total.
    for n in 0..3 {
        assert_eq!(t.begin_challenge(ip(&format!("198.51.{n}.1"))), Ok(()));
    }
    assert_eq!(
        t.begin_challenge(ip("203.0.113.1")),
        Err(RelayRefusal::ChallengesFull)
    );
    assert_eq!(
        RelayRefusal::ChallengesFull.status(),
        StatusCode::ResourceLimit
    );
    // A proof that arrives (or fails, or times out) frees its slot for its prefix.
    t.end_challenge(ip("192.0.2.0"));
    t.check_invariants();
    assert_eq!(t.begin_challenge(ip("192.0.2.77")), Ok(()));
    for n in 0..3 {
        t.end_challenge(ip(&format!("192.0.2.{n}")));
        t.end_challenge(ip(&format!("198.51.{n}.1")));
    }
    assert_eq!(t.challenges(), 0);
    // A slot never taken is not freed twice (no prefix entry left behind).
    t.end_challenge(ip("192.0.2.1"));
    assert_eq!(t.challenges(), 0);
    t.check_invariants();
}

#[test]
fn strangers_from_many_prefixes_leave_the_contacts_share() {
    let t0 = Instant::now();
    let mut t = RelayTable::new(small(), Serve::Anyone, t0);
    let mut granted = 0;
    for n in 0..50u16 {
        let from = ip(&format!("10.{}.0.1", n));
        if t.reserve(key(n), from, false, t0).is_ok() {
            granted += 1;
        }
    }
    assert_eq!(granted, 10 - 3);
    assert_eq!(
        t.reserve(key(99), ip("10.99.0.1"), false, t0),
        Err(RelayRefusal::StrangerReservations)
    );
    // Contacts get the rest, from any prefix, even one the flood used.
    for n in 500..503 {
        assert!(t.reserve(key(n), ip("10.0.0.1"), true, t0).is_ok());
    }
    assert_eq!(
        t.reserve(key(503), ip("10.0.0.1"), true, t0),
        Err(RelayRefusal::ReservationsFull)
    );
}

#[test]
fn serve_modes_refuse_strangers_or_everyone() {
    let t0 = Instant::now();
    let mut contacts = RelayTable::new(small(), Serve::Contacts, t0);
    assert_eq!(
        contacts.reserve(key(1), ip("192.0.2.1"), false, t0),
        Err(RelayRefusal::NotAContact)
    );
    assert_eq!(
        RelayRefusal::NotAContact.status(),
        StatusCode::PermissionDenied
    );
    assert!(contacts.reserve(key(2), ip("192.0.2.1"), true, t0).is_ok());
    let mut off = RelayTable::new(small(), Serve::Off, t0);
    assert_eq!(
        off.reserve(key(2), ip("192.0.2.1"), true, t0),
        Err(RelayRefusal::Off)
    );
}

#[test]
fn renewal_keeps_its_place_and_moves_expiry() {
    let t0 = Instant::now();
    let mut t = RelayTable::new(small(), Serve::Anyone, t0);
    t.reserve(key(1), ip("192.0.2.1"), false, t0).unwrap();
    t.reserve(key(2), ip("192.0.2.2"), false, t0).unwrap();
    let later = t0 + Duration::from_secs(1800);
    // The prefix is full, but a renewal takes no new slot.
    let expires = t.reserve(key(1), ip("192.0.2.1"), false, later).unwrap();
    assert_eq!(expires, later + RESERVATION_TTL);
    assert_eq!(t.counts(), (2, 0));
    // Key 2 fell silent long ago; key 1's renewal counts as a sign of life.
    let soon = later + Duration::from_secs(1);
    assert_eq!(t.expire(soon).reservations, vec![key(2)]);
    assert_eq!(t.counts(), (1, 0));
}

#[test]
fn reservations_expire_by_time_and_by_silence() {
    let t0 = Instant::now();
    let l = small();
    let mut t = RelayTable::new(l, Serve::Anyone, t0);
    t.reserve(key(1), ip("192.0.2.1"), false, t0).unwrap();
    t.reserve(key(2), ip("198.51.100.1"), false, t0).unwrap();
    // Key 1 pings; key 2 falls silent.
    let mut now = t0;
    while now < t0 + l.reservation_idle {
        now += Duration::from_secs(60);
        t.ping(&key(1), now);
    }
    assert_eq!(
        t.open_circuit(cid(1), key(2), ip("203.0.113.1"), now),
        Err(RelayRefusal::NoReservation)
    );
    assert_eq!(t.expire(now).reservations, vec![key(2)]);
    assert_eq!(t.counts(), (1, 0));
    // Pinging does not outlive the reservation's time.
    let end = t0 + l.reservation_ttl;
    assert_eq!(
        t.open_circuit(cid(1), key(1), ip("203.0.113.1"), end),
        Err(RelayRefusal::NoReservation)
    );
    assert_eq!(t.expire(end).reservations, vec![key(1)]);
    // Both prefixes are free again.
    assert!(t.reserve(key(3), ip("192.0.2.3"), false, end).is_ok());
}

#[test]
fn a_circuit_flood_from_one_prefix_leaves_room_for_other_diallers() {
    let t0 = Instant::now();
    let mut t = RelayTable::new(small(), Serve::Anyone, t0);
    t.reserve(key(1), ip("192.0.2.1"), true, t0).unwrap();
    for n in 0..4 {
        t.open_circuit(cid(n), key(1), ip("203.0.113.5"), t0)
            .unwrap();
    }
    for n in 4..50 {
        assert_eq!(
            t.open_circuit(cid(n), key(1), ip("203.0.113.6"), t0),
            Err(RelayRefusal::PrefixCircuits)
        );
    }
    assert!(
        t.open_circuit(cid(100), key(1), ip("198.51.100.7"), t0)
            .is_ok()
    );
    assert_eq!(t.counts(), (1, 5));
    assert_eq!(
        t.open_circuit(cid(200), key(9), ip("198.51.100.7"), t0),
        Err(RelayRefusal::NoReservation)
    );
}

#[test]
fn circuits_per_target_and_the_contacts_share() {
    let t0 = Instant::now();
    let mut t = RelayTable::new(small(), Serve::Anyone, t0);
    // Three strangers' targets, dialled from many prefixes.
    for k in 1..=3 {
        t.reserve(key(k), ip(&format!("192.0.{k}.1")), false, t0)
            .unwrap();
    }
    let mut n = 0u16;
    let mut refusals = Vec::new();
    for k in 1..=3 {
        for _ in 0..10 {
            n += 1;
            let from = ip(&format!("10.{}.0.1", n));
            if let Err(e) = t.open_circuit(cid(n), key(k), from, t0) {
                refusals.push(e);
            }
        }
    }
    assert!(refusals.contains(&RelayRefusal::TargetCircuits));
    assert!(refusals.contains(&RelayRefusal::StrangerCircuits));
    assert_eq!(t.counts().1, 20 - 5);
    // A contact's target is still reached.
    t.reserve(key(50), ip("192.0.2.50"), true, t0).unwrap();
    for m in 0..5 {
        let from = ip(&format!("172.16.{m}.1"));
        t.open_circuit(cid(1000 + m), key(50), from, t0).unwrap();
    }
    assert_eq!(
        t.open_circuit(cid(2000), key(50), ip("172.17.0.1"), t0),
        Err(RelayRefusal::CircuitsFull)
    );
    // Closing one frees its slot.
    t.close_circuit(&cid(1000));
    assert!(
        t.open_circuit(cid(2000), key(50), ip("172.17.0.1"), t0)
            .is_ok()
    );
}

#[test]
fn a_circuit_is_accepted_once_and_in_time() {
    let t0 = Instant::now();
    let l = small();
    let mut t = RelayTable::new(l, Serve::Anyone, t0);
    t.reserve(key(1), ip("192.0.2.1"), true, t0).unwrap();
    t.open_circuit(cid(1), key(1), ip("203.0.113.1"), t0)
        .unwrap();
    t.open_circuit(cid(2), key(1), ip("203.0.113.1"), t0)
        .unwrap();
    assert_eq!(t.accept_circuit(cid(1), None, t0), Ok(key(1)));
    assert_eq!(
        t.accept_circuit(cid(1), None, t0),
        Err(RelayRefusal::NoCircuit)
    );
    assert_eq!(
        t.accept_circuit(cid(9), None, t0),
        Err(RelayRefusal::NoCircuit)
    );
    let late = t0 + l.accept_wait;
    assert_eq!(
        t.accept_circuit(cid(2), None, late),
        Err(RelayRefusal::NoCircuit)
    );
    assert_eq!(t.expire(late).circuits, vec![cid(2)]);
    // The accepted one stays until idle.
    assert_eq!(t.counts(), (1, 1));
    assert_eq!(t.expire(t0 + l.circuit_idle).circuits, vec![cid(1)]);
    assert_eq!(t.counts().1, 0);
}

#[test]
fn traffic_keeps_a_circuit_alive() {
    let t0 = Instant::now();
    let l = small();
    let mut t = RelayTable::new(l, Serve::Anyone, t0);
    t.reserve(key(1), ip("192.0.2.1"), true, t0).unwrap();
    t.open_circuit(cid(1), key(1), ip("203.0.113.1"), t0)
        .unwrap();
    t.accept_circuit(cid(1), None, t0).unwrap();
    let mid = t0 + l.circuit_idle / 2;
    assert_eq!(t.transfer(&cid(1), 100, mid), Ok(Duration::ZERO));
    assert!(t.expire(t0 + l.circuit_idle).circuits.is_empty());
    assert_eq!(t.expire(mid + l.circuit_idle).circuits, vec![cid(1)]);
    assert_eq!(t.transfer(&cid(1), 1, mid), Err(RelayRefusal::NoCircuit));
}

#[test]
fn bytes_are_paced_per_circuit_and_in_total() {
    let t0 = Instant::now();
    let l = RelayLimits {
        circuit_rate: 1000.0,
        circuit_burst: 2000.0,
        total_rate: 1500.0,
        total_burst: 3000.0,
        ..small()
    };
    let mut t = RelayTable::new(l, Serve::Anyone, t0);
    t.reserve(key(1), ip("192.0.2.1"), true, t0).unwrap();
    for n in 1..=2 {
        t.open_circuit(cid(n), key(1), ip("203.0.113.1"), t0)
            .unwrap();
        t.accept_circuit(cid(n), None, t0).unwrap();
    }
    assert_eq!(t.transfer(&cid(1), 2000, t0), Ok(Duration::ZERO));
    // Circuit 1 spent its burst: it waits for its own rate.
    assert_eq!(t.transfer(&cid(1), 500, t0), Ok(Duration::from_millis(500)));
    // Circuit 2 has its burst, but the total has only 1000 left.
    assert_eq!(t.transfer(&cid(2), 1000, t0), Ok(Duration::ZERO));
    assert_eq!(t.transfer(&cid(2), 300, t0), Ok(Duration::from_millis(200)));
    // Nothing was taken by the refused asks: after the wait, it goes.
    let later = t0 + Duration::from_millis(200);
    assert_eq!(t.transfer(&cid(2), 300, later), Ok(Duration::ZERO));
}

#[derive(Clone, Debug)]
enum Op {
    BeginChallenge(u8),
    EndChallenge(u8),
    Reserve(u16, u8, bool),
    Unreserve(u16),
    Ping(u16),
    Open(u16, u16, u8),
    Accept(u16),
    Close(u16),
    Transfer(u16, u16),
    Advance(u16),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        (0u8..4).prop_map(Op::BeginChallenge),
        (0u8..4).prop_map(Op::EndChallenge),
        (0u16..16, 0u8..4, any::<bool>()).prop_map(|(k, p, c)| Op::Reserve(k, p, c)),
        (0u16..16).prop_map(Op::Unreserve),
        (0u16..16).prop_map(Op::Ping),
        (0u16..40, 0u16..16, 0u8..4).prop_map(|(c, k, p)| Op::Open(c, k, p)),
        (0u16..40).prop_map(Op::Accept),
        (0u16..40).prop_map(Op::Close),
        (0u16..40, any::<u16>()).prop_map(|(c, n)| Op::Transfer(c, n)),
        (0u16..400).prop_map(Op::Advance),
    ]
}

proptest::proptest! {
    #[test]
    fn any_sequence_keeps_the_counts_true_and_bounded(
        ops in proptest::collection::vec(op(), 1..200),
        serve in proptest::prop_oneof![
            proptest::strategy::Just(Serve::Anyone),
            proptest::strategy::Just(Serve::Contacts)
        ],
    ) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut t = RelayTable::new(small(), serve, t0);
        let from = |p: u8| ip(&format!("192.0.{p}.1"));
        for op in ops {
            match op {
                Op::BeginChallenge(p) => { let _ = t.begin_challenge(from(p)); }
                Op::EndChallenge(p) => t.end_challenge(from(p)),
                Op::Reserve(k, p, c) => { let _ = t.reserve(key(k), from(p), c, now); }
                Op::Unreserve(k) => t.unreserve(&key(k)),
                Op::Ping(k) => t.ping(&key(k), now),
                Op::Open(c, k, p) => { let _ = t.open_circuit(cid(c), key(k), from(p), now); }
                Op::Accept(c) => { let _ = t.accept_circuit(cid(c), None, now); }
                Op::Close(c) => t.close_circuit(&cid(c)),
                Op::Transfer(c, n) => { let _ = t.transfer(&cid(c), n.into(), now); }
                Op::Advance(s) => {
                    now += Duration::from_secs(s.into());
                    t.expire(now);
                }
            }
            t.check_invariants();
        }
    }
}

// The dial-back budget (relay_dialback.rs).

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn one_dial_back_per_key_a_minute() {
    let t0 = Instant::now();
    let mut b = DialBackBudget::new(DialBackLimits::default(), t0);
    assert_eq!(b.admit(key(1), ip("192.0.2.1"), 7667, t0), Ok(()));
    b.finished();
    let again = b.admit(key(1), ip("192.0.2.1"), 7667, t0 + secs(20));
    assert_eq!(
        again,
        Err(DialBackRefusal::TooSoon {
            retry_after: secs(40)
        })
    );
    assert_eq!(again.unwrap_err().status(), (StatusCode::ResourceLimit, 40));
    // Another key of the same prefix is not held back by the first one's minute.
    assert_eq!(
        b.admit(key(2), ip("192.0.2.2"), 7667, t0 + secs(20)),
        Ok(())
    );
    b.finished();
    assert_eq!(
        b.admit(key(1), ip("192.0.2.1"), 7667, t0 + secs(60)),
        Ok(())
    );
    b.finished();
    assert_eq!(b.counts().0, 0);
}

#[test]
fn a_prefix_gets_its_burst_then_its_rate() {
    let t0 = Instant::now();
    let mut b = DialBackBudget::new(DialBackLimits::default(), t0);
    let burst = DIAL_BACK_PREFIX_BURST as u16;
    for n in 0..burst {
        assert_eq!(b.admit(key(n), ip("192.0.2.9"), 7667, t0), Ok(()));
        b.finished();
    }
    // New keys (free to make) from the same /24 wait for the prefix's rate.
    let refused = b.admit(key(100), ip("192.0.2.10"), 7667, t0);
    assert_eq!(
        refused,
        Err(DialBackRefusal::Prefix {
            retry_after: secs(15)
        })
    );
    // Another prefix is served meanwhile.
    assert_eq!(b.admit(key(101), ip("198.51.100.1"), 7667, t0), Ok(()));
    b.finished();
    assert_eq!(
        b.admit(key(100), ip("192.0.2.10"), 7667, t0 + secs(15)),
        Ok(())
    );
    b.finished();
}

#[test]
fn the_total_rate_holds_across_prefixes() {
    let t0 = Instant::now();
    let mut b = DialBackBudget::new(DialBackLimits::default(), t0);
    let burst = DIAL_BACK_TOTAL_BURST as u16;
    for n in 0..burst {
        let from = IpAddr::from([10, 0, n as u8, 1]);
        assert_eq!(b.admit(key(n), from, 7667, t0), Ok(()));
        b.finished();
    }
    let from = IpAddr::from([10, 1, 0, 1]);
    let refused = b.admit(key(500), from, 7667, t0);
    assert_eq!(
        refused,
        Err(DialBackRefusal::Total {
            retry_after: secs(1)
        })
    );
    // Nothing was taken from its prefix: served a second later.
    assert_eq!(b.admit(key(500), from, 7667, t0 + secs(1)), Ok(()));
}

#[test]
fn dials_in_flight_are_capped() {
    let t0 = Instant::now();
    let limits = DialBackLimits {
        in_flight: 2,
        ..DialBackLimits::default()
    };
    let mut b = DialBackBudget::new(limits, t0);
    assert_eq!(b.admit(key(1), ip("192.0.2.1"), 7667, t0), Ok(()));
    assert_eq!(b.admit(key(2), ip("198.51.100.1"), 7667, t0), Ok(()));
    assert_eq!(
        b.admit(key(3), ip("203.0.113.1"), 7667, t0),
        Err(DialBackRefusal::InFlight)
    );
    assert_eq!(b.counts().0, 2);
    b.finished();
    assert_eq!(b.admit(key(3), ip("203.0.113.1"), 7667, t0), Ok(()));
}

#[test]
fn ports_below_1024_and_zero_are_not_dialled() {
    let t0 = Instant::now();
    let mut b = DialBackBudget::new(DialBackLimits::default(), t0);
    for port in [0, 25, 80, 443, 1023] {
        let refused = b.admit(key(1), ip("192.0.2.1"), port, t0);
        assert_eq!(refused, Err(DialBackRefusal::BadPort(port)));
        assert_eq!(refused.unwrap_err().status(), (StatusCode::BadPort, 0));
    }
    // A refused port took nothing: the key's minute has not started.
    assert_eq!(b.admit(key(1), ip("192.0.2.1"), 1024, t0), Ok(()));
}

#[test]
fn the_budget_forgets_old_keys_and_full_prefixes() {
    let t0 = Instant::now();
    let limits = DialBackLimits {
        total_burst: 1000.0,
        max_tracked: 8,
        ..DialBackLimits::default()
    };
    let mut b = DialBackBudget::new(limits, t0);
    for n in 0..8u16 {
        let from = IpAddr::from([10, 0, n as u8, 1]);
        assert_eq!(b.admit(key(n), from, 7667, t0), Ok(()));
        b.finished();
    }
    assert_eq!(b.counts(), (0, 8, 8));
    // At the cap, a new key is refused until the minute has passed...
    let from = IpAddr::from([10, 9, 0, 1]);
    assert_eq!(
        b.admit(key(50), from, 7667, t0 + secs(1)),
        Err(DialBackRefusal::Full)
    );
    // ...then the old keys and the refilled prefix buckets are forgotten.
    assert_eq!(b.admit(key(50), from, 7667, t0 + secs(60)), Ok(()));
    assert_eq!(b.counts(), (1, 1, 1));
}

#[test]
fn only_a_reserve_the_relay_would_grant_gets_a_challenge() {
    let now = Instant::now();
    for (serve, stranger, contact) in [
        (Serve::Off, false, false),
        (Serve::Contacts, false, true),
        (Serve::Anyone, true, true),
    ] {
        let table = RelayTable::new(RelayLimits::default(), serve, now);
        assert_eq!(
            table.answers_reserve(false),
            stranger,
            "{serve:?}, a stranger"
        );
        assert_eq!(table.answers_reserve(true), contact, "{serve:?}, a contact");
    }
}
