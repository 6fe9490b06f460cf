//! Relay control over sealed (version 2) connections, as gateways use it: a reservation
//! with no challenge, a circuit asked for under a throwaway key and accepted by the target,
//! the inner handshake and a frame end to end; what the handshake with the relay makes
//! checkable is checked (a Reserve for another key, an Accept by another key); an open
//! relay is found by its address alone, a contacts-only one answers nothing to that.

mod common;

use std::time::Duration;

use common::relay::{relay_key, reserve_sealed, sk, start_relay};
use disims::crypto::MAX_DATA_RECORD;
use disims::identity::PeerId;
use disims::peer::transport::{self, Obfs};
use disims::policy::relay::Serve;
use disims::relay::client::{self, RelayEvent};
use disims::relay::io::{Control, RelayIoError};
use disims::relay::wire::{RelayMessage, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const LIMIT: Duration = Duration::from_secs(20);

fn refused<T>(r: Result<T, RelayIoError>) -> StatusCode {
    match r {
        Err(RelayIoError::Refused(code, _)) => code,
        Err(e) => panic!("expected a refusal, got {e}"),
        Ok(_) => panic!("expected a refusal, got success"),
    }
}

#[tokio::test]
async fn a_sealed_reservation_and_circuit_carry_a_session_end_to_end() {
    let (relay, addr, stop) = start_relay(Serve::Contacts, vec![PeerId::of(&sk(1))]).await;
    let (target, dialler) = (sk(1), sk(2));
    let mut reservation =
        tokio::time::timeout(LIMIT, reserve_sealed(addr, &target, Some(relay_key())))
            .await
            .unwrap()
            .unwrap();
    assert!(reservation.is_sealed());
    assert_eq!(reservation.relay(), relay_key());
    assert_eq!(reservation.grant.observed.ip(), addr.ip());
    assert_eq!(relay.counts(), (1, 0));

    let target_key = target.clone();
    let responder = tokio::spawn(async move {
        let RelayEvent::Incoming { circuit, .. } = reservation.next_event().await.unwrap() else {
            panic!("expected an offer");
        };
        // Someone else who saw the offer cannot take the circuit: the relay checks the
        // key the handshake proved.
        let thief =
            client::accept_sealed(addr, relay_key(), &sk(7), circuit, Obfs::default()).await;
        assert_eq!(refused(thief), StatusCode::NoCircuit);
        let mut stream =
            client::accept_sealed(addr, relay_key(), &target_key, circuit, Obfs::default())
                .await
                .unwrap();
        let keys = transport::respond(&mut stream, &target_key, Obfs::default())
            .await
            .unwrap();
        (keys, stream, reservation)
    });
    let dialled = client::connect_sealed(addr, relay_key(), PeerId::of(&target), Obfs::default());
    let mut stream = tokio::time::timeout(LIMIT, dialled).await.unwrap().unwrap();
    let handshake = transport::initiate_v2(&mut stream, &dialler, PeerId::of(&target), 64);
    let mut keys = tokio::time::timeout(LIMIT, handshake)
        .await
        .unwrap()
        .unwrap();
    let (mut their, mut their_stream, _reservation) = tokio::time::timeout(LIMIT, responder)
        .await
        .unwrap()
        .unwrap();
    // The inner handshake proved the real keys end to end; the relay never saw the
    // dialler's (it was dialled under a throwaway key).
    assert_eq!(keys.peer, target.verifying_key());
    assert_eq!(their.peer, dialler.verifying_key());
    assert_eq!(relay.counts(), (1, 1));
    let mut mask = their.opener.take_length_mask().expect("version 2");
    let mut out = Vec::new();
    keys.sealer
        .seal_into(b"hello, sealed relay", &mut out)
        .unwrap();
    stream.write_all(&out).await.unwrap();
    let mut header = [0u8; 4];
    tokio::io::AsyncReadExt::read_exact(&mut their_stream, &mut header)
        .await
        .unwrap();
    mask.apply(&mut header);
    let len = u32::from_be_bytes(header) as usize;
    assert!(len <= MAX_DATA_RECORD);
    let mut body = vec![0u8; len];
    tokio::io::AsyncReadExt::read_exact(&mut their_stream, &mut body)
        .await
        .unwrap();
    assert_eq!(
        their.opener.open(&mut body).unwrap(),
        b"hello, sealed relay"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_sealed_reserve_must_be_for_the_proved_key_and_renews_without_a_challenge() {
    let (relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    // The handshake proves sk(1); a Reserve for sk(2) on it is refused.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let key = disims::crypto::obfs::ProberKey::relay(&relay_key().verifying_key());
    let expected = relay_key().verifying_key();
    let keys = transport::initiate_v2_with(&mut stream, &sk(1), &key, Some(&expected), 0)
        .await
        .unwrap();
    let mut control = Control::sealed(stream, keys, 0).unwrap();
    control
        .write(&RelayMessage::Reserve {
            target: PeerId::of(&sk(2)),
        })
        .await
        .unwrap();
    assert_eq!(refused(control.expect_ok().await), StatusCode::Unexpected);
    assert_eq!(relay.counts().0, 0);
    // A real one, renewed twice on its connection.
    let mut reservation = reserve_sealed(addr, &sk(1), Some(relay_key()))
        .await
        .unwrap();
    for _ in 0..2 {
        tokio::time::timeout(LIMIT, reservation.renew(&sk(1)))
            .await
            .unwrap()
            .unwrap();
    }
    assert_eq!(relay.counts().0, 1);
    stop.cancel();
}

#[tokio::test]
async fn an_open_relay_is_found_by_address_and_a_contacts_relay_answers_strangers_nothing() {
    let (open, open_addr, stop_open) = start_relay(Serve::Anyone, vec![]).await;
    let reservation = tokio::time::timeout(LIMIT, reserve_sealed(open_addr, &sk(3), None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reservation.relay(), relay_key(), "the proved key is taken");
    assert_eq!(open.counts().0, 1);

    let (_, addr, stop) = start_relay(Serve::Contacts, vec![PeerId::of(&sk(1))]).await;
    // By address only: the open relays' key gets no answer at all (no handshake).
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let key = disims::crypto::obfs::ProberKey::open();
    let scanner = sk(3);
    let attempt = transport::initiate_v2_with(&mut stream, &scanner, &key, None, 0);
    let silent = tokio::time::timeout(LIMIT, attempt).await.unwrap();
    assert!(
        silent.is_err(),
        "a contacts-only relay answered the open relays' key"
    );
    // Knowing its key: the handshake runs, and a stranger's Reserve is refused in a
    // sealed status (nothing a scanner without the key could see).
    let stranger = reserve_sealed(addr, &sk(3), Some(relay_key())).await;
    assert_eq!(refused(stranger), StatusCode::PermissionDenied);
    let contact = reserve_sealed(addr, &sk(1), Some(relay_key())).await;
    assert!(contact.is_ok());
    stop.cancel();
    stop_open.cancel();
}
