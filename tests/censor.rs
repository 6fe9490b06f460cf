//! The censor's view (issue 14): a tap on the path records the first kilobytes of many
//! version 2 connections to a real gateway, both ways, and finds no fixed byte at any
//! offset, bytes that pass randomness checks, and first packets of varying sizes; the same
//! checks catch version 1 at once. A prober that does not know the nick gets no byte back
//! and is closed after a random delay; a replayed first message gets no answer either.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::tap::{
    assert_first_packets_vary, captured, chi_square, fixed_bytes, monobit_sigma, probe, tap,
};
use common::{memory_gateway, raw_peer, redirect, redirect_blinded};
use disims::crypto::obfs::ProberKey;
use disims::daemon::Options;
use disims::directory::memory::SharedRecords;
use disims::identity::PeerId;
use disims::message::{ChatMessage, MessageId, MessageKind};
use disims::peer::SessionTimers;
use disims::peer::session::SessionCommand;
use disims::peer::transport::{self, DEFAULT_PAD_MAX};
use disims::router::RouterInput;
use ed25519_dalek::SigningKey;
use tokio::net::TcpStream;

fn chat(n: u64, len: usize) -> ChatMessage {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    ChatMessage {
        id: MessageId(id),
        kind: MessageKind::Text,
        text: "x".repeat(len),
        sent_at_ms: n,
    }
}

/// A gateway that lets one address run many handshakes quickly (the tap is one address).
async fn gateway(dir: &std::path::Path, records: &SharedRecords) -> disims::daemon::Gateway {
    let mut options = Options::default();
    options.inbound.msg1_per_prefix_rate = 1000.0;
    options.inbound.msg1_per_prefix_burst = 1000.0;
    options.inbound.load_rate = 1000.0;
    options.inbound.load_burst = 1000.0;
    options.inbound.msg1_wait = Duration::from_millis(400);
    memory_gateway(dir, records, options).await
}

/// Dials `target` through the tap `n` times, with version `v2` or 1, sending a few chats
/// of random sizes each time (and waiting a moment for the acks), then closing.
async fn connections(tap: SocketAddr, target: PeerId, n: u64, v2: bool) {
    let timers = SessionTimers {
        linger: Duration::from_millis(20),
        ..SessionTimers::default()
    };
    for i in 0..n {
        let key = SigningKey::from_bytes(&[(i % 200) as u8 + 20; 32]);
        let mut stream = TcpStream::connect(tap).await.unwrap();
        let keys = if v2 {
            transport::initiate_v2(&mut stream, &key, target, DEFAULT_PAD_MAX).await
        } else {
            transport::initiate(&mut stream, &key, target).await
        }
        .expect("the handshake through the tap");
        let me = PeerId::of(&key);
        let mut peer = raw_peer::run(stream, keys, target, me, timers);
        for m in 0..4 {
            let len = 20 + ((i * 7 + m * 13) % 200) as usize;
            peer.commands
                .send(SessionCommand::Send(chat(i * 10 + m, len).into()))
                .unwrap();
        }
        // The acks, if the gateway takes the stranger's chats (it may not: no matter).
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(input) = peer.inputs.recv().await {
                if matches!(input, RouterInput::Acknowledged { .. }) {
                    return;
                }
            }
        })
        .await;
        peer.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(input) = peer.inputs.recv().await {
                if matches!(input, RouterInput::SessionEnded { .. }) {
                    return;
                }
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_censor_on_the_path_sees_random_bytes_of_random_sizes() {
    const N: u64 = 120;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let bob = gateway(&dir.path().join("bob"), &records).await;
    let (tap_addr, log) = tap(bob.peer_addr).await;
    redirect_blinded(&records, bob.peer_id, tap_addr);
    connections(tap_addr, bob.peer_id, N, true).await;
    let seen = captured(&log);
    assert_eq!(seen.len() as u64, N, "one tapped connection a dial");

    let up: Vec<&[u8]> = seen.iter().map(|s| s.up.as_slice()).collect();
    let down: Vec<&[u8]> = seen.iter().map(|s| s.down.as_slice()).collect();
    let (up_bytes, down_bytes) = (up.concat(), down.concat());
    // Both ways there is something to judge: msg1, msg3 and chats; msg2 and acks.
    assert!(
        up_bytes.len() as u64 >= N * 400,
        "{} bytes up",
        up_bytes.len()
    );
    assert!(
        down_bytes.len() as u64 >= N * 146,
        "{} bytes down",
        down_bytes.len()
    );

    // No fixed byte at any offset: with 120 uniform samples, one value at one offset
    // 12 times or more has odds of about 1e-4 over every offset checked.
    for (name, samples) in [("up", &up), ("down", &down)] {
        let fixed = fixed_bytes(samples, 512, 12);
        assert!(fixed.is_empty(), "{name}: fixed bytes {fixed:?}");
    }
    // The byte values and bits are those of uniform random bytes (chi-square with 255
    // degrees of freedom: 360 has odds of about 1e-5; 5 sigma for the bits).
    for (name, bytes) in [("up", &up_bytes), ("down", &down_bytes)] {
        let chi = chi_square(bytes);
        let sigma = monobit_sigma(bytes);
        println!(
            "{name}: {} bytes, chi-square {chi:.1}, monobit {sigma:.2} sigma",
            bytes.len()
        );
        assert!(chi < 360.0, "{name}: chi-square {chi}");
        assert!(sigma < 5.0, "{name}: monobit {sigma} sigma");
    }
    // The first packets' sizes vary (msg1: 50 to 306 bytes; msg2: 146 to 402).
    assert_first_packets_vary(&seen);

    // The same checks catch version 1 at once: its first bytes are fixed.
    let (tap_v1, log_v1) = tap(bob.peer_addr).await;
    redirect(&records, bob.peer_id, tap_v1);
    connections(tap_v1, bob.peer_id, 20, false).await;
    let seen_v1 = captured(&log_v1);
    let up_v1: Vec<&[u8]> = seen_v1.iter().map(|s| s.up.as_slice()).collect();
    let fixed = fixed_bytes(&up_v1, 512, 12);
    assert!(
        fixed.iter().map(|f| f.0).take(10).eq(0..10),
        "version 1's magic is seen: {fixed:?}"
    );
    bob.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prober_without_the_nick_and_a_replayed_first_message_get_no_answer() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let bob = gateway(&dir.path().join("bob"), &records).await;
    let msg1_wait = Duration::from_millis(400);

    // Probers: nothing, a few bytes, a head's worth, a first message for another key,
    // and a lot of random-looking bytes.
    let other = SigningKey::from_bytes(&[9; 32]);
    let mut for_other = TcpStream::connect(bob.peer_addr).await.unwrap();
    let forged = tokio::spawn(async move {
        let key = SigningKey::from_bytes(&[8; 32]);
        transport::initiate_v2(&mut for_other, &key, PeerId::of(&other), 0).await
    });
    let noise: Vec<u8> = (0..1000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut closes = Vec::new();
    for bytes in [&[][..], &noise[..10], &noise[..50], &noise[..]] {
        let (back, after) = probe(bob.peer_addr, bytes).await;
        assert!(
            back.is_empty(),
            "a prober sending {} bytes got {back:?}",
            bytes.len()
        );
        assert!(
            after >= msg1_wait,
            "closed after {after:?}: too soon to be the silence"
        );
        closes.push(after);
    }
    assert!(
        forged.await.unwrap().is_err(),
        "a dial of another key at bob's address gets no handshake"
    );
    println!("probers closed after {closes:?}");

    // A replay: the first message of a real connection, sent again.
    let (tap_addr, log) = tap(bob.peer_addr).await;
    redirect_blinded(&records, bob.peer_id, tap_addr);
    connections(tap_addr, bob.peer_id, 1, true).await;
    let up = captured(&log)[0].up.clone();
    let key = ProberKey::of(&bob.peer_id.verifying_key());
    let head = disims::crypto::read_msg1_head(&key, &up, transport::hour_now()).expect("a msg1");
    let msg1 = &up[..disims::crypto::MSG1_HEAD_LEN + head.pad_len];
    for replay in [msg1, &up[..]] {
        let (back, after) = probe(bob.peer_addr, replay).await;
        assert!(back.is_empty(), "a replay got {} bytes", back.len());
        assert!(after >= msg1_wait);
    }
    // The gateway still answers honest dials.
    connections(tap_addr, bob.peer_id, 1, true).await;
    assert!(captured(&log)[1].down.len() >= 146, "msg2 came back");
    bob.shutdown().await;
}

/// The transition: by default a gateway still answers version 1 (peers that have not
/// upgraded reach it); told `accept_v1 = false`, it gives a version 1 first message the
/// silence a prober gets, and still answers version 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_is_answered_during_the_transition_and_silenced_when_refused() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let both = gateway(&dir.path().join("both"), &records).await;
    let mut options = Options::default();
    options.inbound.msg1_wait = Duration::from_millis(400);
    let v2_only = common::memory_gateway_with(&dir.path().join("v2"), &records, options, |c| {
        c.transport.accept_v1 = false;
    })
    .await;
    let key = SigningKey::from_bytes(&[30; 32]);
    for (gateway, answers_v1) in [(&both, true), (&v2_only, false)] {
        let mut stream = TcpStream::connect(gateway.peer_addr).await.unwrap();
        let v1 = tokio::time::timeout(
            Duration::from_secs(10),
            transport::initiate(&mut stream, &key, gateway.peer_id),
        )
        .await
        .expect("answered or closed in time");
        assert_eq!(v1.is_ok(), answers_v1, "version 1: {v1:?}");
        // The refused dial saw no byte: the silence (its first message was whole, so the
        // close comes after the random delay).
        let (_, msg1) =
            disims::crypto::Initiator::new(&key, &gateway.peer_id.verifying_key(), [5; 32]);
        let mut record = Vec::new();
        disims::crypto::encode_record(&msg1, &mut record);
        if !answers_v1 {
            let (back, after) = probe(gateway.peer_addr, &record).await;
            assert!(
                back.is_empty() && after >= Duration::from_millis(400),
                "{back:?} {after:?}"
            );
        }
        let mut stream = TcpStream::connect(gateway.peer_addr).await.unwrap();
        transport::initiate_v2(&mut stream, &key, gateway.peer_id, DEFAULT_PAD_MAX)
            .await
            .expect("version 2 is answered");
    }
    both.shutdown().await;
    v2_only.shutdown().await;
}

/// A relay control record from a scanner (a `Reserve` for a made-up key, or garbage after
/// the relay magic) gets no byte back: not from a gateway that relays for its contacts only
/// (the default: a challenge would name it), nor from one that relays for nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scanners_relay_record_gets_no_answer() {
    use disims::config::Serve;
    use disims::relay::wire::RelayMessage;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let mut gateways = Vec::new();
    for (name, serve) in [("contacts", Serve::Contacts), ("off", Serve::Off)] {
        let mut options = Options::default();
        options.inbound.msg1_wait = Duration::from_millis(400);
        let gateway = common::memory_gateway_with(&dir.path().join(name), &records, options, |c| {
            c.relay.serve = serve;
        })
        .await;
        gateways.push(gateway);
    }
    let scanner = PeerId::of(&SigningKey::from_bytes(&[40; 32]));
    let record = |body: Vec<u8>| {
        let mut out = Vec::new();
        disims::crypto::encode_record(&body, &mut out);
        out
    };
    let reserve = record(RelayMessage::Reserve { target: scanner }.encode());
    let mut garbage = RelayMessage::Reserve { target: scanner }.encode();
    garbage.truncate(7);
    let garbage = record(garbage);
    for gateway in &gateways {
        for bytes in [&reserve, &garbage] {
            let (back, _) = probe(gateway.peer_addr, bytes).await;
            assert!(back.is_empty(), "a scanner's relay record got {back:?}");
        }
    }
    for gateway in gateways {
        gateway.shutdown().await;
    }
}
