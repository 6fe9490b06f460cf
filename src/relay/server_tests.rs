//! Tests of the relay server over loopback TCP: dial-back timeouts, unproved Reserves
//! held to their prefix's challenge slots, offers beyond eight, half-closed circuits.

use super::dial_back::probe;
use super::*;
use crate::crypto::obfs::ProberKey;
use crate::peer::transport;
use crate::relay::io::{read_message, write_message};
use crate::relay::wire::probe_token;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::net::TcpSocket;

#[tokio::test]
async fn a_dial_back_that_gets_no_answer_fails_at_its_timeout() {
    // A listener that never accepts, its queue filled: further SYNs are dropped, so
    // the relay's connect gets no answer (as from a filtered port).
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = socket.listen(0).unwrap();
    let to = full.local_addr().unwrap();
    let mut held = Vec::new();
    loop {
        let attempt =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(to)).await;
        match attempt {
            Ok(Ok(s)) => held.push(s),
            _ => break,
        }
        assert!(held.len() < 64, "the listen queue never filled");
    }
    let started = Instant::now();
    let target = PeerId::of(&key(1));
    let code = probe(to, target, [1; 16], false, Duration::from_millis(300)).await;
    assert_eq!(code, StatusCode::DialBackFailed);
    assert!(started.elapsed() >= Duration::from_millis(300));
    // And a port that accepts gets the probe: the token of the nonce, then the end.
    let open = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = open.local_addr().unwrap();
    let probing = probe(to, target, [1; 16], false, Duration::from_secs(5));
    let (code, accepted) = tokio::join!(probing, open.accept());
    assert_eq!(code, StatusCode::Ok);
    let (mut s, _) = accepted.unwrap();
    let first = read_message(&mut s).await.unwrap();
    assert_eq!(
        first,
        RelayMessage::Probe {
            token: probe_token(&[1; 16])
        }
    );
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).await.unwrap(), 0);
    // Asked on a sealed reservation: a first message under the dial-back key of the
    // target and the nonce, nothing else, with random padding.
    let probing = probe(to, target, [1; 16], true, Duration::from_secs(5));
    let (code, accepted) = tokio::join!(probing, open.accept());
    assert_eq!(code, StatusCode::Ok);
    let mut bytes = Vec::new();
    accepted.unwrap().0.read_to_end(&mut bytes).await.unwrap();
    let key_of = |nonce| ProberKey::dial_back(&target.verifying_key(), nonce);
    let hour = transport::hour_now();
    let head = crate::crypto::read_msg1_head(&key_of(&[1; 16]), &bytes, hour).unwrap();
    assert_eq!(bytes.len(), crate::crypto::MSG1_HEAD_LEN + head.pad_len);
    assert!(head.pad_len <= PROBE_PADDING);
    assert!(crate::crypto::read_msg1_head(&key_of(&[2; 16]), &bytes, hour).is_err());
    assert!(!bytes.windows(4).any(|w| w == b"DSRL"));
    drop(full);
}

fn key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

/// A relay serving anyone with `limits` on a loopback listener of its own.
async fn start(limits: RelayLimits) -> (Arc<RelayServer>, SocketAddr, CancellationToken) {
    let relay = RelayServer::new(
        PeerId::of(&key(9)),
        limits,
        Serve::Anyone,
        Box::new(|_| false),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    tokio::spawn(relay.clone().serve(listener, key(9), stop.clone()));
    (relay, addr, stop)
}

/// A connection to `to` from `from_ip` (any 127/8 address: another /24 of loopback is
/// another source prefix to the relay).
async fn connect_from(from_ip: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(from_ip.parse().unwrap(), 0))
        .unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn reserves_never_proved_hold_only_their_prefix_challenge_slots() {
    let limits = RelayLimits {
        challenges_per_prefix: 3,
        ..RelayLimits::default()
    };
    let (relay, addr, stop) = start(limits).await;
    // A flood of Reserves from one /24 that never answers its Challenge.
    let (mut held, mut refused) = (Vec::new(), Vec::new());
    for n in 0..10u8 {
        let mut s = connect_from(&format!("127.0.0.{}", n + 1), addr).await;
        let target = PeerId::of(&key(100 + n));
        write_message(&mut s, &RelayMessage::Reserve { target })
            .await
            .unwrap();
        match read_message(&mut s).await.unwrap() {
            RelayMessage::Challenge { .. } => held.push(s),
            RelayMessage::Status { code, .. } => refused.push(code),
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!(held.len(), 3);
    assert_eq!(refused, vec![StatusCode::ResourceLimit; 7]);
    assert_eq!(lock(&relay.table).challenges(), 3);
    // Another prefix is challenged, proves its key and holds a reservation.
    let other = connect_from("127.0.1.1", addr).await;
    let reservation = super::super::client::reserve(other, &key(1), None)
        .await
        .expect("another prefix reserves");
    assert_eq!(relay.counts().0, 1);
    // The flood's connections closing free their slots, and the prefix reserves again.
    drop(held);
    let freed = async {
        while lock(&relay.table).challenges() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), freed)
        .await
        .expect("the challenge slots were not freed");
    let again = connect_from("127.0.0.1", addr).await;
    let _second = super::super::client::reserve(again, &key(2), None)
        .await
        .expect("the prefix reserves once its stalled Reserves are gone");
    assert_eq!(relay.counts().0, 2);
    drop(reservation);
    stop.cancel();
}

/// Connects that arrive together, faster than the target's reservation task writes
/// their Incoming: every circuit the table admits is offered (the queue of offers had
/// room for 8, and the rest failed at once with `connection_failed`).
#[tokio::test(flavor = "current_thread")]
async fn more_than_eight_connects_to_one_target_at_once_are_all_offered() {
    const AT_ONCE: usize = 20;
    let limits = RelayLimits::default();
    assert!(AT_ONCE <= limits.circuits_per_target && AT_ONCE <= limits.circuits_per_prefix);
    let (relay, addr, stop) = start(limits).await;
    let target = key(1);
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut reservation = super::super::client::reserve(stream, &target, None)
        .await
        .unwrap();
    // The diallers' connections, as the accept loop would hand them over.
    let side = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut pairs = Vec::new();
    for _ in 0..AT_ONCE {
        let dialler = TcpStream::connect(side.local_addr().unwrap())
            .await
            .unwrap();
        let (relay_side, from) = side.accept().await.unwrap();
        pairs.push((dialler, relay_side, from));
    }
    // Handed over together: on this one thread each Connect runs up to its offer
    // before the reservation task writes a single Incoming.
    let mut diallers = Vec::new();
    for (dialler, relay_side, from) in pairs {
        let connect = RelayMessage::Connect {
            target: PeerId::of(&target),
        };
        tokio::spawn(
            relay
                .clone()
                .handle(Control::plain(relay_side), from, connect, false),
        );
        diallers.push(dialler);
    }
    let mut joined = Vec::new();
    for _ in 0..AT_ONCE {
        let event = tokio::time::timeout(Duration::from_secs(10), reservation.next_event())
            .await
            .expect("an offer")
            .unwrap();
        let super::super::client::RelayEvent::Incoming { circuit, .. } = event else {
            panic!("expected an offer, got {event:?}");
        };
        joined.push(super::super::client::accept(addr, circuit).await.unwrap());
    }
    for mut dialler in diallers {
        let answer = tokio::time::timeout(
            Duration::from_secs(10),
            super::super::io::expect_ok(&mut dialler),
        )
        .await
        .expect("an answer");
        assert!(answer.is_ok(), "a circuit was refused: {answer:?}");
    }
    assert_eq!(relay.counts().1, AT_ONCE);
    stop.cancel();
}

/// The target closes its end of a joined circuit; the dialler keeps its own open and
/// silent. The relay ends the circuit after the half-closed wait (it held it until
/// idle for 300 s, a slot of the target's and of the dialler's prefix all along).
#[tokio::test]
async fn a_circuit_ends_soon_after_one_side_closes() {
    let limits = RelayLimits {
        half_closed_wait: Duration::from_millis(200),
        ..RelayLimits::default()
    };
    let (relay, addr, stop) = start(limits).await;
    let target = key(1);
    let stream = TcpStream::connect(addr).await.unwrap();
    let mut reservation = super::super::client::reserve(stream, &target, None)
        .await
        .unwrap();
    let dialling = tokio::spawn(super::super::client::connect(addr, PeerId::of(&target)));
    let event = reservation.next_event().await.unwrap();
    let super::super::client::RelayEvent::Incoming { circuit, .. } = event else {
        panic!("expected an offer, got {event:?}");
    };
    let mut target_end = super::super::client::accept(addr, circuit).await.unwrap();
    let mut dialler_end = dialling.await.unwrap().unwrap();
    // Bytes pass both ways, then the target's last bytes and its close.
    dialler_end.write_all(b"ping").await.unwrap();
    let mut four = [0u8; 4];
    target_end.read_exact(&mut four).await.unwrap();
    assert_eq!(&four, b"ping");
    target_end.write_all(b"bye").await.unwrap();
    drop(target_end);
    assert_eq!(relay.counts().1, 1);
    // The dialler gets them, then the end, though it never closes its side.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), dialler_end.read_to_end(&mut rest));
    read.await.expect("the relay kept the circuit").unwrap();
    assert_eq!(rest, b"bye");
    let freed = async {
        while relay.counts().1 > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), freed)
        .await
        .expect("the circuit's slot was not freed");
    stop.cancel();
}
