//! Tests of the direct upgrade: the backoff book and timing (pure), and connecting from a
//! port a listener holds (loopback).

use super::*;

fn peer(n: u8) -> PeerId {
    let key = ed25519_dalek::SigningKey::from_bytes(&[n; 32]);
    PeerId::of(&key)
}

#[test]
fn backoff_doubles_from_a_minute_to_an_hour() {
    let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
    assert_eq!(waits, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    assert_eq!(backoff(0), BACKOFF_MIN);
    assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
}

#[test]
fn the_initiator_dials_half_a_round_trip_after_sync() {
    assert_eq!(
        dial_delay(Duration::from_millis(80)),
        Duration::from_millis(40)
    );
    assert_eq!(dial_delay(Duration::ZERO), Duration::ZERO);
    // A reply that took absurdly long does not hold the connect back for longer.
    assert_eq!(dial_delay(Duration::from_secs(600)), REPLY_TIMEOUT / 2);
}

#[test]
fn one_attempt_in_flight_and_failures_back_off() {
    let mut book = Book::default();
    let (a, b) = (peer(1), peer(2));
    let t0 = Instant::now();
    assert!(book.start(a, t0));
    assert!(
        !book.start(a, t0),
        "a second attempt while one is in flight"
    );
    assert!(!book.answer(a, t0), "nor an answer to the peer meanwhile");
    assert!(book.start(b, t0), "other peers are independent");
    book.finish(a, Role::Initiator, false, t0);
    assert_eq!(book.failures(&a), 1);
    assert_eq!(book.wait(&a, t0), BACKOFF_MIN);
    assert!(!book.start(a, t0 + Duration::from_secs(59)));
    let t1 = t0 + BACKOFF_MIN;
    assert!(book.start(a, t1));
    book.finish(a, Role::Initiator, false, t1);
    assert_eq!(book.wait(&a, t1), 2 * BACKOFF_MIN);
    // A success forgets the peer: the next relayed session tries at once.
    let t2 = t1 + 2 * BACKOFF_MIN;
    assert!(book.start(a, t2));
    book.finish(a, Role::Initiator, true, t2);
    assert_eq!(book.failures(&a), 0);
    assert_eq!(book.wait(&a, t2), Duration::ZERO);
}

#[test]
fn the_answering_side_takes_one_attempt_per_peer_and_period() {
    let mut book = Book::default();
    let a = peer(1);
    let t0 = Instant::now();
    assert!(book.answer(a, t0));
    book.finish(a, Role::Responder, false, t0);
    // A failure on the answering side does not back off (the initiator does), but a peer
    // asking again at once is not answered.
    assert_eq!(book.failures(&a), 0);
    assert!(!book.answer(a, t0 + Duration::from_secs(1)));
    assert!(book.answer(a, t0 + ANSWER_MIN));
}

#[test]
fn cancel_frees_the_slot_without_a_failure() {
    let mut book = Book::default();
    let a = peer(1);
    let t0 = Instant::now();
    assert!(book.start(a, t0));
    book.cancel(a);
    assert_eq!(book.failures(&a), 0);
    assert!(book.start(a, t0));
}

#[test]
fn the_book_is_bounded() {
    let mut book = Book::default();
    let t0 = Instant::now();
    for i in 0..(MAX_BOOK + 10) {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(i as u64).to_be_bytes());
        let p = PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&seed));
        let now = t0 + Duration::from_millis(i as u64);
        assert!(book.start(p, now));
        book.finish(p, Role::Initiator, false, now);
    }
    assert_eq!(book.len(), MAX_BOOK);
}

#[test]
fn connects_use_the_port_of_the_unspecified_or_specific_listener() {
    let any: SocketAddr = "0.0.0.0:7667".parse().unwrap();
    let v4: SocketAddr = "11.0.113.5:7667".parse().unwrap();
    let v6: SocketAddr = "[2001:db8::5]:7667".parse().unwrap();
    assert_eq!(local_for(any, v4), any);
    assert_eq!(local_for(any, v6), "[::]:7667".parse().unwrap());
    let specific: SocketAddr = "10.1.0.10:7667".parse().unwrap();
    assert_eq!(local_for(specific, v4), specific);
}

/// What NAT traversal rests on: an outgoing connection leaves from the port our listener
/// holds, while the listener still takes connections; and no second listener can take
/// that port.
#[tokio::test]
async fn a_connect_leaves_from_the_listeners_port() {
    let ours = reuse_listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let ours_addr = ours.local_addr().unwrap();
    let theirs = reuse_listener("127.0.0.1:0".parse().unwrap()).unwrap();
    let theirs_addr = theirs.local_addr().unwrap();
    let (out, accepted) = tokio::join!(connect_from(ours_addr, theirs_addr), theirs.accept());
    let out = out.unwrap();
    let (_conn, from) = accepted.unwrap();
    assert_eq!(
        from, ours_addr,
        "the connection comes from our listening port"
    );
    assert_eq!(out.local_addr().unwrap(), ours_addr);
    // Our listener still answers.
    let (client, accepted) = tokio::join!(TcpStream::connect(ours_addr), ours.accept());
    client.unwrap();
    accepted.unwrap();
    // Another gateway on the same port is refused, as with a plain bind.
    let again = reuse_listener(ours_addr).unwrap_err();
    assert_eq!(again.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn the_answering_side_connects_only_where_the_relay_saw_the_peer() {
    let theirs: Vec<SocketAddr> = ["11.0.113.12:7667", "198.51.100.1:80", "11.0.113.12:9000"]
        .iter()
        .map(|a| a.parse().unwrap())
        .collect();
    let observed = Some("11.0.113.12:40123".parse().unwrap());
    assert_eq!(
        allowed_targets(&theirs, observed),
        [theirs[0], theirs[2]],
        "a third party's address is dropped"
    );
    // An IPv4 peer the relay saw over IPv6 (mapped) is the same address.
    let mapped = Some("[::ffff:11.0.113.12]:1".parse().unwrap());
    assert_eq!(allowed_targets(&theirs, mapped), [theirs[0], theirs[2]]);
    // The dialling side (no observed address) takes them all, at most four.
    let many = vec![theirs[0]; 6];
    assert_eq!(allowed_targets(&many, None).len(), MAX_UPGRADE_ADDRS);
    assert_eq!(allowed_targets(&theirs, None), theirs);
}

#[test]
fn attempts_in_flight_are_capped_in_total() {
    let mut book = Book::default();
    let t0 = Instant::now();
    for n in 0..MAX_IN_FLIGHT as u8 {
        assert!(book.start(peer(n + 1), t0));
    }
    assert_eq!(book.in_flight(), MAX_IN_FLIGHT);
    assert!(!book.start(peer(100), t0));
    assert!(!book.answer(peer(101), t0));
    book.finish(peer(1), Role::Initiator, true, t0);
    book.cancel(peer(2));
    book.cancel(peer(2));
    assert_eq!(book.in_flight(), MAX_IN_FLIGHT - 2);
    assert!(book.answer(peer(101), t0));
}
