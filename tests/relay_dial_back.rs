//! Dial-back over real TCP on loopback: the relay connects to the port a reservation
//! holder names, at the address it holds the reservation from, and writes a probe that the
//! holder's accept loop hands to `Probes`; refusals (no reservation, a privileged port, a
//! second request within the minute) come back as codes. Also the reservation's
//! cancel-safe `next_event` and events that cross a renewal (a scripted relay).

mod common;

use std::time::Duration;

use common::relay::{relay_key, reserve, sk, start_relay};
use disims::policy::relay::Serve;
use disims::relay::client::{self, RelayEvent};
use disims::relay::probe::{Probes, Verdict};
use disims::relay::wire::{CircuitId, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

const LIMIT: Duration = Duration::from_secs(20);

/// A gateway's accept loop, as far as probes go: the first record of each connection, a
/// Probe handed to `probes`.
async fn accept_probes(listener: TcpListener, probes: Probes) {
    use disims::relay::io::read_message;
    use disims::relay::wire::RelayMessage;
    while let Ok((mut stream, from)) = listener.accept().await {
        let first = tokio::time::timeout(LIMIT, read_message(&mut stream)).await;
        if let Ok(Ok(RelayMessage::Probe { token })) = first {
            probes.arrived(token, from);
        }
    }
}

/// The next event, which must be the result of the dial-back with `nonce`.
async fn dial_back_result(
    reservation: &mut client::Reservation,
    nonce: [u8; 16],
) -> (StatusCode, u16) {
    let event = tokio::time::timeout(LIMIT, reservation.next_event())
        .await
        .unwrap()
        .unwrap();
    match event {
        RelayEvent::DialBackResult {
            nonce: n,
            code,
            retry_after_s,
        } if n == nonce => (code, retry_after_s),
        other => panic!("expected the dial-back's result, got {other:?}"),
    }
}

#[tokio::test]
async fn a_listening_port_is_dialled_back_and_a_second_request_within_a_minute_refused() {
    let (relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let target = sk(1);
    let mut reservation = reserve(addr, &target, relay_key()).await.unwrap();
    let probes = Probes::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = tokio::spawn(accept_probes(listener, probes.clone()));

    let (nonce, waiter) = probes.expect().unwrap();
    reservation.request_dial_back(port, nonce).await.unwrap();
    let (code, _) = dial_back_result(&mut reservation, nonce).await;
    assert_eq!(code, StatusCode::Ok);
    let from = tokio::time::timeout(LIMIT, waiter).await.unwrap();
    // The relay's own connection, from the relay's address.
    assert_eq!(from.map(|f| f.ip()), Some(addr.ip()));
    assert_eq!(Verdict::of(Some(code), from.is_some()), Verdict::Reachable);
    assert_eq!(probes.pending(), 0);

    // A second dial-back within the minute is refused, with when to try again.
    let (again, second) = probes.expect().unwrap();
    reservation.request_dial_back(port, again).await.unwrap();
    let (code, retry_after_s) = dial_back_result(&mut reservation, again).await;
    assert_eq!(code, StatusCode::ResourceLimit);
    assert!((1..=60).contains(&retry_after_s), "{retry_after_s}");
    assert_eq!(Verdict::of(Some(code), false), Verdict::Unknown);
    drop(second);
    // The reservation still serves circuits, and the dial's slot was freed.
    assert_eq!(relay.dial_backs_in_flight(), 0);
    reservation.ping(1).await.unwrap();
    assert_eq!(relay.counts(), (1, 0));
    accepting.abort();
    stop.cancel();
}

#[tokio::test]
async fn a_port_with_nothing_listening_is_reported_failed_and_no_probe_arrives() {
    let (_relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let target = sk(1);
    let mut reservation = reserve(addr, &target, relay_key()).await.unwrap();
    // A port that was just free: nothing listens there now.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let probes = Probes::new();
    let (nonce, mut waiter) = probes.expect().unwrap();
    reservation.request_dial_back(port, nonce).await.unwrap();
    let (code, _) = dial_back_result(&mut reservation, nonce).await;
    assert_eq!(code, StatusCode::DialBackFailed);
    // The probe never came: the nonce is still awaited and its waiter unresolved.
    assert_eq!(probes.pending(), 1);
    assert!(futures_util::poll!(&mut waiter).is_pending());
    assert_eq!(Verdict::of(Some(code), false), Verdict::Unreachable);
    stop.cancel();
}

#[tokio::test]
async fn a_dial_back_needs_a_reservation_and_an_unprivileged_port() {
    use disims::relay::io::{read_message, write_message};
    use disims::relay::wire::RelayMessage;
    let (relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    // As the first record of a connection: no reservation, nothing dialled.
    let mut s = TcpStream::connect(addr).await.unwrap();
    let ask = RelayMessage::DialBack {
        port: 7667,
        nonce: [3; 16],
    };
    write_message(&mut s, &ask).await.unwrap();
    let answer = tokio::time::timeout(LIMIT, read_message(&mut s))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        answer,
        RelayMessage::Status {
            code: StatusCode::NoReservation,
            retry_after_s: 0
        }
    );
    assert_eq!(relay.dial_backs_in_flight(), 0);
    // On a reservation: ports 0 and below 1024 are refused, and that does not spend the
    // key's one dial-back a minute.
    let mut reservation = reserve(addr, &sk(1), relay_key()).await.unwrap();
    for port in [0, 80] {
        reservation.request_dial_back(port, [4; 16]).await.unwrap();
        let (code, _) = dial_back_result(&mut reservation, [4; 16]).await;
        assert_eq!(code, StatusCode::BadPort);
    }
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    reservation.request_dial_back(port, [5; 16]).await.unwrap();
    let (code, _) = dial_back_result(&mut reservation, [5; 16]).await;
    assert_eq!(code, StatusCode::DialBackFailed);
    stop.cancel();
}

#[tokio::test]
async fn events_crossing_a_renewal_are_kept_for_next_event() {
    use disims::relay::io::{read_message, write_message};
    use disims::relay::wire::{Grant, RelayMessage};
    // A scripted relay, so that the crossing happens every time: during the renewal it
    // sends a dial-back result, an offer and a Ping before its Challenge.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay_key = relay_key();
    let grant = Grant {
        ttl_s: 3600,
        rate: 1,
        idle_s: 180,
        observed: addr,
    };
    let result = RelayMessage::DialBackResult {
        nonce: [6; 16],
        code: StatusCode::Ok,
        retry_after_s: 0,
    };
    let offer = RelayMessage::Incoming {
        circuit: CircuitId([8; 16]),
        from: "192.0.2.1:5000".parse().unwrap(),
    };
    let script = {
        let (result, offer) = (result.clone(), offer.clone());
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            for crossing in [vec![], vec![result, offer, RelayMessage::Ping(3)]] {
                let reserve = read_message(&mut s).await.unwrap();
                assert!(matches!(reserve, RelayMessage::Reserve { .. }));
                for m in crossing {
                    write_message(&mut s, &m).await.unwrap();
                }
                let challenge = RelayMessage::Challenge {
                    relay: relay_key,
                    nonce: [1; 32],
                };
                write_message(&mut s, &challenge).await.unwrap();
                let mut answer = read_message(&mut s).await.unwrap();
                if answer == RelayMessage::Pong(3) {
                    answer = read_message(&mut s).await.unwrap();
                }
                assert!(matches!(answer, RelayMessage::Proof { .. }), "{answer:?}");
                write_message(&mut s, &RelayMessage::Reserved(grant))
                    .await
                    .unwrap();
            }
            s
        })
    };
    let target = sk(1);
    let mut reservation = tokio::time::timeout(LIMIT, reserve(addr, &target, relay_key))
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(LIMIT, reservation.renew(&target))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reservation.grant, grant);
    let _relay_side = tokio::time::timeout(LIMIT, script).await.unwrap().unwrap();
    assert_eq!(
        reservation.next_event().await.unwrap(),
        RelayEvent::DialBackResult {
            nonce: [6; 16],
            code: StatusCode::Ok,
            retry_after_s: 0
        }
    );
    assert_eq!(
        reservation.next_event().await.unwrap(),
        RelayEvent::Incoming {
            circuit: CircuitId([8; 16]),
            from: "192.0.2.1:5000".parse().unwrap()
        }
    );
}

#[tokio::test]
async fn next_event_keeps_half_a_record_when_a_timeout_drops_it() {
    use disims::relay::io::{read_message, write_message};
    use disims::relay::wire::{Grant, RelayMessage};
    use tokio::sync::oneshot;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay_key = relay_key();
    let result = RelayMessage::DialBackResult {
        nonce: [6; 16],
        code: StatusCode::DialBackFailed,
        retry_after_s: 0,
    };
    let (go_on, resume) = oneshot::channel::<()>();
    let script = {
        let result = result.clone();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            read_message(&mut s).await.unwrap();
            let challenge = RelayMessage::Challenge {
                relay: relay_key,
                nonce: [1; 32],
            };
            write_message(&mut s, &challenge).await.unwrap();
            read_message(&mut s).await.unwrap();
            let grant = Grant {
                ttl_s: 3600,
                rate: 1,
                idle_s: 180,
                observed: addr,
            };
            write_message(&mut s, &RelayMessage::Reserved(grant))
                .await
                .unwrap();
            // The result in two writes, the second once the reader has given up once.
            let body = result.encode();
            let mut record = (body.len() as u32).to_be_bytes().to_vec();
            record.extend_from_slice(&body);
            s.write_all(&record[..10]).await.unwrap();
            resume.await.unwrap();
            s.write_all(&record[10..]).await.unwrap();
            s
        })
    };
    let mut reservation = tokio::time::timeout(LIMIT, reserve(addr, &sk(1), relay_key))
        .await
        .unwrap()
        .unwrap();
    // The first half arrives, then the wait is given up (a keeper's timer won the select).
    let first = tokio::time::timeout(Duration::from_millis(200), reservation.next_event()).await;
    assert!(first.is_err(), "{first:?}");
    go_on.send(()).unwrap();
    let event = tokio::time::timeout(LIMIT, reservation.next_event())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        event,
        RelayEvent::DialBackResult {
            nonce: [6; 16],
            code: StatusCode::DialBackFailed,
            retry_after_s: 0
        }
    );
    drop(script);
}

#[tokio::test]
async fn next_event_loses_nothing_when_a_select_drops_it() {
    let (_relay, addr, stop) = start_relay(Serve::Anyone, vec![]).await;
    let target = sk(1);
    let mut reservation = reserve(addr, &target, relay_key()).await.unwrap();
    let probes = Probes::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepting = tokio::spawn(accept_probes(listener, probes.clone()));
    let (nonce, mut waiter) = probes.expect().unwrap();
    reservation.request_dial_back(port, nonce).await.unwrap();
    // A keeper's loop: next_event raced against the probe's waiter and a timer, dropped
    // whenever another branch wins; the result still arrives whole.
    let (mut result, mut arrived) = (None, None);
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tokio::time::timeout(LIMIT, async {
        while result.is_none() || arrived.is_none() {
            tokio::select! {
                event = reservation.next_event() => match event.unwrap() {
                    RelayEvent::DialBackResult { nonce: n, code, .. } if n == nonce => {
                        result = Some(code)
                    }
                    other => panic!("unexpected {other:?}"),
                },
                from = &mut waiter, if arrived.is_none() => arrived = Some(from),
                _ = tick.tick() => {}
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(result, Some(StatusCode::Ok));
    assert_eq!(
        Verdict::of(result, arrived.flatten().is_some()),
        Verdict::Reachable
    );
    accepting.abort();
    stop.cancel();
}

#[tokio::test]
async fn a_reservation_reads_nothing_past_reserved_and_takes_the_shown_key_when_none_is_known() {
    use disims::relay::io::{read_message, write_message};
    use disims::relay::wire::{Grant, RelayMessage};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let relay_key = relay_key();
    let offer = RelayMessage::Incoming {
        circuit: CircuitId([8; 16]),
        from: "192.0.2.1:5000".parse().unwrap(),
    };
    let script = {
        let offer = offer.clone();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            read_message(&mut s).await.unwrap();
            let challenge = RelayMessage::Challenge {
                relay: relay_key,
                nonce: [1; 32],
            };
            write_message(&mut s, &challenge).await.unwrap();
            read_message(&mut s).await.unwrap();
            // Reserved and an offer in one write.
            let mut both = Vec::new();
            let grant = Grant {
                ttl_s: 3600,
                rate: 1,
                idle_s: 180,
                observed: addr,
            };
            for m in [RelayMessage::Reserved(grant), offer] {
                let body = m.encode();
                both.extend_from_slice(&(body.len() as u32).to_be_bytes());
                both.extend_from_slice(&body);
            }
            s.write_all(&both).await.unwrap();
            s
        })
    };
    let stream = TcpStream::connect(addr).await.unwrap();
    let reservation = tokio::time::timeout(LIMIT, client::reserve(stream, &sk(1), None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(reservation.relay(), relay_key);
    let _relay_side = tokio::time::timeout(LIMIT, script).await.unwrap().unwrap();
    // A caller that runs the connection itself finds the offer still in the stream.
    let (mut control, relay, _) = reservation.into_parts();
    assert_eq!(relay, relay_key);
    assert!(!control.is_sealed());
    let next = tokio::time::timeout(LIMIT, control.read())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, offer);
}
