//! The relay over real TCP on loopback: a target holds a reservation, a dialler asks the
//! relay for its key, and the DiSIMS handshake and a sealed frame pass end to end through
//! the joined streams; a relay that changes a byte or answers in the target's place is
//! detected; refusals come back as codes.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::relay::{relay_key, reserve, sk, start_relay};
use disims::crypto::{MAX_DATA_RECORD, SessionKeys};
use disims::identity::PeerId;
use disims::peer::transport;
use disims::policy::relay::{RelayLimits, Serve};
use disims::relay::client::{self, RelayEvent};
use disims::relay::io::RelayIoError;
use disims::relay::wire::{CircuitId, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(20);

/// The next event, which must be an offered circuit.
async fn incoming(
    reservation: &mut client::Reservation,
) -> Result<(CircuitId, SocketAddr), RelayIoError> {
    match reservation.next_event().await? {
        RelayEvent::Incoming { circuit, from } => Ok((circuit, from)),
        other => panic!("expected an offered circuit, got {other:?}"),
    }
}

fn refused<T>(r: Result<T, RelayIoError>) -> StatusCode {
    match r {
        Err(RelayIoError::Refused(code, _)) => code,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got success"),
    }
}

#[tokio::test]
async fn a_handshake_and_a_frame_pass_end_to_end_through_the_relay() {
    let (relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let (target, dialler) = (sk(1), sk(2));
    let mut reservation = tokio::time::timeout(LIMIT, reserve(addr, &target, relay_key()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reservation.grant.observed.ip(), addr.ip());
    assert_eq!(relay.counts(), (1, 0));

    let target_key = target.clone();
    let responder = tokio::spawn(async move {
        let (circuit, from) = incoming(&mut reservation).await.unwrap();
        assert!(from.ip().is_loopback());
        let mut stream = client::accept(addr, circuit).await.unwrap();
        let keys = transport::respond(&mut stream, &target_key, Default::default())
            .await
            .unwrap();
        (keys, stream, reservation)
    });
    let mut stream = tokio::time::timeout(LIMIT, client::connect(addr, PeerId::of(&target)))
        .await
        .unwrap()
        .unwrap();
    let mut keys: SessionKeys = tokio::time::timeout(
        LIMIT,
        transport::initiate(&mut stream, &dialler, PeerId::of(&target)),
    )
    .await
    .unwrap()
    .unwrap();
    let (mut their, mut their_stream, _reservation) = tokio::time::timeout(LIMIT, responder)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(keys.peer, target.verifying_key());
    assert_eq!(their.peer, dialler.verifying_key());
    assert_eq!(relay.counts(), (1, 1));

    // One sealed frame from the dialler, opened by the target.
    let mut out = Vec::new();
    keys.sealer
        .seal_into(b"hello through the relay", &mut out)
        .unwrap();
    stream.write_all(&out).await.unwrap();
    let mut body = Vec::new();
    tokio::time::timeout(
        LIMIT,
        transport::read_record(&mut their_stream, MAX_DATA_RECORD, &mut body),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        their.opener.open(&mut body).unwrap(),
        b"hello through the relay"
    );

    // Closing both ends frees the circuit.
    drop((stream, their_stream));
    tokio::time::timeout(LIMIT, async {
        while relay.counts().1 != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    stop.cancel();
}

/// What a malicious relay could try: change a byte of a frame in transit (the receiver's
/// authentication fails), or answer the dialler's handshake itself instead of joining the
/// target (the dialler sees another key and sends nothing).
#[tokio::test]
async fn a_relay_that_tampers_with_a_circuit_is_detected_end_to_end() {
    let (_relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let (target, dialler) = (sk(1), sk(2));
    let mut reservation = reserve(addr, &target, relay_key()).await.unwrap();
    let target_key = target.clone();
    let responder = tokio::spawn(async move {
        let (circuit, _) = incoming(&mut reservation).await.unwrap();
        let mut stream = client::accept(addr, circuit).await.unwrap();
        let keys = transport::respond(&mut stream, &target_key, Default::default())
            .await
            .unwrap();
        (keys, stream, reservation)
    });
    let mut stream = client::connect(addr, PeerId::of(&target)).await.unwrap();
    let mut keys = transport::initiate(&mut stream, &dialler, PeerId::of(&target))
        .await
        .unwrap();
    let (mut their, mut their_stream, _reservation) = tokio::time::timeout(LIMIT, responder)
        .await
        .unwrap()
        .unwrap();
    let mut out = Vec::new();
    keys.sealer.seal_into(b"pay alice 10", &mut out).unwrap();
    // The byte the relay changes: one of the ciphertext, past the 4-byte length.
    out[10] ^= 0x01;
    stream.write_all(&out).await.unwrap();
    let mut body = Vec::new();
    transport::read_record(&mut their_stream, MAX_DATA_RECORD, &mut body)
        .await
        .unwrap();
    assert!(
        their.opener.open(&mut body).is_err(),
        "a changed byte must not open"
    );

    // A "relay" that reads the Connect and runs the handshake itself, with its own key.
    let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let fake_addr = fake.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = fake.accept().await.unwrap();
        let _ = disims::relay::io::read_message(&mut s).await;
        let _ = disims::relay::io::status(&mut s, StatusCode::Ok).await;
        let _ = transport::respond(&mut s, &sk(9), Default::default()).await;
    });
    let mut stream = client::connect(fake_addr, PeerId::of(&target))
        .await
        .unwrap();
    let result = transport::initiate(&mut stream, &dialler, PeerId::of(&target)).await;
    assert!(
        matches!(
            result,
            Err(disims::peer::PeerError::Handshake(
                disims::crypto::HandshakeError::WrongPeer { .. }
            ))
        ),
        "the dialler must refuse a relay answering in the target's place: {result:?}"
    );
    stop.cancel();
}

#[tokio::test]
async fn refusals_come_back_as_codes() {
    let friend = sk(3);
    let (_relay, addr, stop) = start_relay(Serve::Contacts, vec![PeerId::of(&friend)]).await;
    let relay_key = relay_key();
    // A stranger may not reserve on a contacts-only relay, and gets no challenge (it would
    // name the relay) nor any status: the connection just closes.
    match reserve(addr, &sk(4), relay_key).await {
        Err(RelayIoError::Refused(code, _)) => panic!("a stranger was told {code:?}"),
        Err(_) => {}
        Ok(_) => panic!("a stranger reserved on a contacts-only relay"),
    }
    // Nobody holds a reservation for key 5.
    assert_eq!(
        refused(client::connect(addr, PeerId::of(&sk(5))).await),
        StatusCode::NoReservation
    );
    // An Accept for a circuit never offered.
    assert_eq!(
        refused(client::accept(addr, CircuitId([1; 16])).await),
        StatusCode::NoCircuit
    );
    // A gateway refuses to sign a challenge from another relay key than the one it meant.
    let wrong = reserve(addr, &friend, PeerId::of(&sk(8))).await;
    assert!(
        matches!(wrong, Err(RelayIoError::Proof(_))),
        "{:?}",
        wrong.err()
    );
    // The friend is served.
    assert!(reserve(addr, &friend, relay_key).await.is_ok());
    stop.cancel();
}

#[tokio::test]
async fn a_flood_from_one_prefix_leaves_the_relay_serving_its_contacts() {
    // Everything here comes from 127.0.0.1: one prefix.
    let friend = sk(3);
    let (relay, addr, stop) = start_relay(Serve::Anyone, vec![PeerId::of(&friend)]).await;
    let relay_key = relay_key();
    let mut held = Vec::new();
    let mut refusals = Vec::new();
    for seed in 100..120 {
        match reserve(addr, &sk(seed), relay_key).await {
            Ok(r) => held.push(r),
            Err(e) => refusals.push(refused::<()>(Err(e))),
        }
    }
    assert_eq!(held.len(), disims::policy::relay::RESERVATIONS_PER_PREFIX);
    assert!(refusals.iter().all(|c| *c == StatusCode::ResourceLimit));
    // The friend, from the same prefix, is served, and reached through the relay.
    let mut reservation = reserve(addr, &friend, relay_key).await.unwrap();
    let friend_key = friend.clone();
    let responder = tokio::spawn(async move {
        let (circuit, _) = incoming(&mut reservation).await.unwrap();
        let mut stream = client::accept(addr, circuit).await.unwrap();
        transport::respond(&mut stream, &friend_key, Default::default())
            .await
            .unwrap()
    });
    let mut stream = client::connect(addr, PeerId::of(&friend)).await.unwrap();
    let keys = tokio::time::timeout(
        LIMIT,
        transport::initiate(&mut stream, &sk(2), PeerId::of(&friend)),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(keys.peer, friend.verifying_key());
    tokio::time::timeout(LIMIT, responder)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        relay.counts().0,
        disims::policy::relay::RESERVATIONS_PER_PREFIX + 1
    );
    stop.cancel();
}

#[tokio::test]
async fn a_renewal_after_a_ping_keeps_the_reservation_until_the_connection_closes() {
    let (relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let target = sk(1);
    let mut reservation = reserve(addr, &target, relay_key()).await.unwrap();
    reservation.ping(7).await.unwrap();
    tokio::time::timeout(LIMIT, reservation.renew(&target))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(relay.counts(), (1, 0));
    // Dropping the control connection ends the reservation.
    drop(reservation);
    tokio::time::timeout(LIMIT, async {
        while relay.counts().0 != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        refused(client::connect(addr, PeerId::of(&target)).await),
        StatusCode::NoReservation
    );
    stop.cancel();
}

#[tokio::test]
async fn a_ping_crossing_the_challenge_is_answered_and_a_proof_by_another_key_refused() {
    use disims::relay::io::{read_message, write_message};
    use disims::relay::proof::prove;
    use disims::relay::wire::RelayMessage;
    let (_relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let (target, relay_key) = (sk(1), relay_key());
    let mut s = TcpStream::connect(addr).await.unwrap();
    let me = PeerId::of(&target);
    write_message(&mut s, &RelayMessage::Reserve { target: me })
        .await
        .unwrap();
    let RelayMessage::Challenge { relay, nonce } = read_message(&mut s).await.unwrap() else {
        panic!("no challenge");
    };
    assert_eq!(relay, relay_key);
    write_message(&mut s, &RelayMessage::Ping(5)).await.unwrap();
    assert_eq!(read_message(&mut s).await.unwrap(), RelayMessage::Pong(5));
    let signature = prove(&target, &relay, &relay, &nonce).unwrap();
    write_message(&mut s, &RelayMessage::Proof { signature })
        .await
        .unwrap();
    assert!(matches!(
        read_message(&mut s).await.unwrap(),
        RelayMessage::Reserved(_)
    ));

    // A proof by another key for the same challenge shape is refused.
    let mut s = TcpStream::connect(addr).await.unwrap();
    write_message(
        &mut s,
        &RelayMessage::Reserve {
            target: PeerId::of(&sk(6)),
        },
    )
    .await
    .unwrap();
    let RelayMessage::Challenge { relay, nonce } = read_message(&mut s).await.unwrap() else {
        panic!("no challenge");
    };
    let signature = prove(&sk(7), &relay, &relay, &nonce).unwrap();
    write_message(&mut s, &RelayMessage::Proof { signature })
        .await
        .unwrap();
    assert_eq!(
        read_message(&mut s).await.unwrap(),
        RelayMessage::Status {
            code: StatusCode::BadProof,
            retry_after_s: 0
        }
    );
    stop.cancel();
}

#[tokio::test]
async fn a_sweep_ends_idle_circuits_and_expired_reservations() {
    use tokio::io::AsyncReadExt;
    let (relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let target = sk(1);
    let mut reservation = reserve(addr, &target, relay_key()).await.unwrap();
    let accepted = tokio::spawn(async move {
        let (circuit, _) = incoming(&mut reservation).await.unwrap();
        (client::accept(addr, circuit).await.unwrap(), reservation)
    });
    let mut dialler = client::connect(addr, PeerId::of(&target)).await.unwrap();
    let (mut at_target, mut reservation) = tokio::time::timeout(LIMIT, accepted)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(relay.counts(), (1, 1));
    // Nothing at all for longer than the circuit's idle time (the clock is passed in).
    let limits = RelayLimits::default();
    let later = std::time::Instant::now() + limits.circuit_idle + Duration::from_secs(1);
    relay.sweep(later);
    let mut byte = [0u8; 1];
    let eof = tokio::time::timeout(LIMIT, dialler.read(&mut byte))
        .await
        .unwrap();
    assert!(matches!(eof, Ok(0) | Err(_)));
    let eof = tokio::time::timeout(LIMIT, at_target.read(&mut byte))
        .await
        .unwrap();
    assert!(matches!(eof, Ok(0) | Err(_)));
    // The reservation went silent too (no Ping for 300 s): it is gone, its connection closed.
    assert_eq!(relay.counts(), (0, 0));
    let ended = tokio::time::timeout(LIMIT, reservation.next_event())
        .await
        .unwrap();
    assert!(ended.is_err());
    stop.cancel();
}
