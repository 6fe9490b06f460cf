//! The censor's view of relay connections (issue 14): a tap in front of a relay records
//! every reservation, Connect and Accept connection (and the circuits' inner handshakes
//! that follow them), and the dial-back probes the relay writes to its users' ports; none
//! has a fixed byte, a magic or a key in it, the bytes pass the randomness checks, and the
//! first packets vary in size. A scanner's plain records and its first messages under the
//! open relays' key get no answer where they should not, and a replayed relay control
//! first message gets none either.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::relay::{relay_key, sk, start_relay_with};
use common::tap::{
    Seen, assert_first_packets_vary, captured, chi_square, fixed_bytes, monobit_sigma, probe, tap,
};
use disims::crypto::obfs::{Ephemeral, ProberKey};
use disims::crypto::{InitiatorV2, MSG1_HEAD_LEN};
use disims::identity::PeerId;
use disims::peer::transport::{self, Obfs};
use disims::policy::relay::{RelayLimits, Serve};
use disims::relay::client::{self, RelayEvent};
use ed25519_dalek::SigningKey;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

const LIMIT: Duration = Duration::from_secs(20);
/// Targets holding a reservation through the tap, by key and as an open relay's users.
const BY_KEY: u8 = 16;
const OPEN: u8 = 8;
/// Circuits to each target known by key.
const DIALS: u8 = 2;

/// A reservation through the tap for the key of seed `seed`, whose offers are accepted
/// (sealed) and answered with the inner handshake, as a gateway does.
async fn target(tap: SocketAddr, seed: u8, by_key: bool) -> client::Reservation {
    let stream = TcpStream::connect(tap).await.unwrap();
    let relay = by_key.then(relay_key);
    client::reserve_sealed(stream, &sk(seed), relay, Obfs::default())
        .await
        .unwrap()
}

fn serve_circuits(tap: SocketAddr, seed: u8, mut reservation: client::Reservation) {
    tokio::spawn(async move {
        while let Ok(RelayEvent::Incoming { circuit, .. }) = reservation.next_event().await {
            tokio::spawn(async move {
                let obfs = Obfs::default();
                let mut stream = client::accept_sealed(tap, relay_key(), &sk(seed), circuit, obfs)
                    .await
                    .unwrap();
                transport::respond(&mut stream, &sk(seed), obfs)
                    .await
                    .unwrap();
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest).await;
            });
        }
    });
}

/// What would name a target or the relay, or say DiSIMS: the magics, the topics, and
/// every 8 bytes of each key.
fn needles() -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("DSRL".to_string(), b"DSRL".to_vec()),
        ("DSMS".to_string(), b"DSMS".to_vec()),
    ];
    let keys = (1..=BY_KEY + OPEN + 40).map(|s| PeerId::of(&sk(s)));
    for key in keys.chain([relay_key()]) {
        let bytes = key.verifying_key().to_bytes();
        for w in bytes.windows(8).step_by(4) {
            out.push((format!("8 bytes of {}", key.short()), w.to_vec()));
        }
    }
    out
}

fn assert_looks_random(what: &str, seen: &[Seen], n_fixed: usize) {
    let up: Vec<&[u8]> = seen.iter().map(|s| s.up.as_slice()).collect();
    let down: Vec<&[u8]> = seen.iter().map(|s| s.down.as_slice()).collect();
    for (dir, samples) in [("up", &up), ("down", &down)] {
        let fixed = fixed_bytes(samples, 512, n_fixed);
        assert!(fixed.is_empty(), "{what} {dir}: fixed bytes {fixed:?}");
        let bytes = samples.concat();
        let (chi, sigma) = (chi_square(&bytes), monobit_sigma(&bytes));
        println!(
            "{what} {dir}: {} connections, {} bytes, chi-square {chi:.1}, monobit {sigma:.2} sigma",
            samples.len(),
            bytes.len()
        );
        assert!(chi < 360.0, "{what} {dir}: chi-square {chi}");
        assert!(sigma < 5.0, "{what} {dir}: monobit {sigma} sigma");
        for (name, needle) in needles() {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{what} {dir}: {name} is in the bytes"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_connections_look_random_too() {
    let limits = RelayLimits {
        reservations_per_prefix: 64,
        challenges_per_prefix: 64,
        circuits_per_prefix: 256,
        ..RelayLimits::default()
    };
    let (relay, addr, stop) = start_relay_with(Serve::Anyone, vec![], limits).await;
    let (tap_addr, log) = tap(addr).await;
    for seed in 1..=BY_KEY + OPEN {
        let reservation = target(tap_addr, seed, seed <= BY_KEY).await;
        serve_circuits(tap_addr, seed, reservation);
    }
    // Each target known by key is dialled through the relay, under throwaway keys for
    // the relay and the diallers' own keys end to end.
    let mut dials = Vec::new();
    for seed in 1..=BY_KEY {
        for d in 0..DIALS {
            dials.push(tokio::spawn(async move {
                let obfs = Obfs::default();
                let target = PeerId::of(&sk(seed));
                let mut stream = client::connect_sealed(tap_addr, relay_key(), target, obfs)
                    .await
                    .unwrap();
                let dialler = sk(100 + d);
                transport::initiate_v2(&mut stream, &dialler, target, obfs.pad_max)
                    .await
                    .unwrap();
            }));
        }
    }
    for dial in dials {
        tokio::time::timeout(LIMIT, dial).await.unwrap().unwrap();
    }
    let total = usize::from(BY_KEY + OPEN) + 2 * usize::from(BY_KEY * DIALS);
    tokio::time::timeout(LIMIT, async {
        while captured(&log).iter().filter(|s| !s.down.is_empty()).count() < total {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every connection was answered");
    assert_eq!(relay.counts().0, usize::from(BY_KEY + OPEN));
    let seen = captured(&log);
    assert_eq!(seen.len(), total, "reservations, Connects and Accepts");
    assert_looks_random("relay connections", &seen, 12);
    assert_first_packets_vary(&seen);
    stop.cancel();
}

/// A listener on `ip` that records the bytes of every connection until its close.
async fn recorder(ip: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dial_back_probes_look_like_any_first_message() {
    let (_relay, addr, stop) =
        start_relay_with(Serve::Anyone, vec![], RelayLimits::default()).await;
    // Four prefixes of loopback, four targets each (a relay dials one prefix back four
    // times in a burst): the relay dials back the address each reservation came from.
    let mut probes = Vec::new();
    for prefix in 1..=4u8 {
        for i in 0..4u8 {
            let seed = 40 + prefix * 4 + i;
            let ip = format!("127.0.{prefix}.1");
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
            let stream = socket.connect(addr).await.unwrap();
            let mut reservation =
                client::reserve_sealed(stream, &sk(seed), Some(relay_key()), Obfs::default())
                    .await
                    .unwrap();
            let (listener, at) = recorder(&ip).await;
            let nonce = [seed; 16];
            reservation
                .request_dial_back(at.port(), nonce)
                .await
                .unwrap();
            let (mut s, _) = tokio::time::timeout(LIMIT, listener.accept())
                .await
                .unwrap()
                .unwrap();
            let mut bytes = Vec::new();
            tokio::time::timeout(LIMIT, s.read_to_end(&mut bytes))
                .await
                .unwrap()
                .unwrap();
            // The probe is a first message under the dial-back key of this target and
            // nonce: the target tells it from any other, nobody else can.
            let key = ProberKey::dial_back(&sk(seed).verifying_key(), &nonce);
            let head = disims::crypto::read_msg1_head(&key, &bytes, transport::hour_now())
                .expect("the probe is MACed for the target and its nonce");
            assert_eq!(bytes.len(), MSG1_HEAD_LEN + head.pad_len);
            let other = ProberKey::dial_back(&sk(seed).verifying_key(), &[0; 16]);
            assert!(disims::crypto::read_msg1_head(&other, &bytes, transport::hour_now()).is_err());
            match tokio::time::timeout(LIMIT, reservation.next_event())
                .await
                .unwrap()
            {
                Ok(RelayEvent::DialBackResult { nonce: n, code, .. }) => {
                    assert_eq!((n, code), (nonce, disims::relay::wire::StatusCode::Ok))
                }
                other => panic!("expected the dial-back's result, got {other:?}"),
            }
            probes.push(Seen {
                first_down: bytes.len(),
                down: bytes,
                ..Seen::default()
            });
        }
    }
    // 16 probes: a value at one offset 6 times or more has odds of about 1e-4.
    let down: Vec<&[u8]> = probes.iter().map(|s| s.down.as_slice()).collect();
    let fixed = fixed_bytes(&down, MSG1_HEAD_LEN, 6);
    assert!(fixed.is_empty(), "probes: fixed bytes {fixed:?}");
    let mut sizes: Vec<usize> = probes.iter().map(|s| s.first_down).collect();
    sizes.sort_unstable();
    sizes.dedup();
    assert!(sizes.len() >= 8, "probe sizes {sizes:?}");
    for (name, needle) in needles() {
        assert!(
            !down
                .concat()
                .windows(needle.len())
                .any(|w| w == needle.as_slice()),
            "probes: {name}"
        );
    }
    stop.cancel();
}

/// Sends `bytes` to `addr` and counts the bytes of the answer (msg2 comes at once; the
/// responder then waits for msg3, so this does not read to the end).
async fn answer(addr: SocketAddr, bytes: &[u8]) -> usize {
    use tokio::io::AsyncWriteExt;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 512];
    match tokio::time::timeout(LIMIT, stream.read(&mut buf)).await {
        Ok(Ok(n)) => n,
        _ => 0,
    }
}

/// What a scanner can send a relay gateway: plain records (silenced with
/// `plain_control = false`), a first message under the open relays' key (answered only by
/// a relay for anyone), a replay of a real relay control first message (silenced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanner_gets_no_answer_from_relays_it_should_not_find() {
    use disims::daemon::Options;
    use disims::directory::memory::SharedRecords;
    use disims::relay::wire::RelayMessage;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let mut gateways = Vec::new();
    for (name, serve) in [("anyone", Serve::Anyone), ("contacts", Serve::Contacts)] {
        let mut options = Options::default();
        options.inbound.msg1_wait = Duration::from_millis(400);
        let gateway = common::memory_gateway_with(&dir.path().join(name), &records, options, |c| {
            c.relay.serve = serve;
            c.relay.plain_control = false;
        })
        .await;
        gateways.push(gateway);
    }
    let scanner = PeerId::of(&SigningKey::from_bytes(&[40; 32]));
    let plain = |m: RelayMessage| {
        let mut out = Vec::new();
        disims::crypto::encode_record(&m.encode(), &mut out);
        out
    };
    let open_msg1 = |seed: u8| {
        let (_, msg1) = InitiatorV2::with_prober_key(
            &SigningKey::from_bytes(&[41; 32]),
            &ProberKey::open(),
            None,
            Ephemeral::from_seed([seed; 32]),
            &[7; 20],
            transport::hour_now(),
        );
        msg1
    };
    for gateway in &gateways {
        for bytes in [
            plain(RelayMessage::Reserve { target: scanner }),
            plain(RelayMessage::Connect { target: scanner }),
            plain(RelayMessage::Probe { token: [1; 16] }),
        ] {
            let (back, _) = probe(gateway.peer_addr, &bytes).await;
            assert!(back.is_empty(), "a plain relay record got {back:?}");
        }
    }
    // The open relays' key: a relay for anyone answers (msg2), once; a contacts-only
    // relay does not.
    let msg1 = open_msg1(1);
    let back = answer(gateways[0].peer_addr, &msg1).await;
    assert!(
        back >= disims::crypto::MSG2_HEAD_LEN,
        "a relay for anyone answers its open key"
    );
    let (replayed, _) = probe(gateways[0].peer_addr, &msg1).await;
    assert!(
        replayed.is_empty(),
        "a replayed first message got {replayed:?}"
    );
    let (back, _) = probe(gateways[1].peer_addr, &open_msg1(2)).await;
    assert!(
        back.is_empty(),
        "a contacts-only relay answered the open key"
    );
    for gateway in gateways {
        gateway.shutdown().await;
    }
}
