//! A whole conversation at `trace` log level, captured: no secret key, session key or
//! message plaintext may appear in the log output. One test per binary, because it
//! installs the process-wide log subscriber.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::IrcClient;
use disims::crypto::{Initiator, Responder};
use disims::message::{ChatMessage, MessageId, MessageKind};
use disims::peer::session::{self, SessionCommand, SessionHandle, SessionTimers};
use disims::router::{self, RouterInput};
use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Collects everything logged.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every form a 32-byte secret could take in a log line.
fn forms(secret: &[u8; 32]) -> Vec<String> {
    let debug = format!("{:?}", &secret[..6]);
    vec![
        hex(secret),
        hex(secret).to_uppercase(),
        debug.trim_end_matches(']').to_string(),
        disims::identity::encode_zbase32(secret),
    ]
}

fn identity_seed(salt: u8) -> [u8; 32] {
    std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(salt))
}

fn install_key(dir: &std::path::Path, seed: &[u8; 32]) {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .unwrap();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dir.join(disims::identity::KEY_FILE))
        .unwrap();
    f.write_all(seed).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_at_trace_level_logs_no_secret() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    // 1. Two gateways with known identity keys, on a DHT testnet, chatting both ways.
    let net = common::testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let (seed_a, seed_b) = (identity_seed(11), identity_seed(97));
    install_key(&dir.path().join("a"), &seed_a);
    install_key(&dir.path().join("b"), &seed_b);
    let a = common::gateway(&dir.path().join("a"), &net).await;
    let b = common::gateway(&dir.path().join("b"), &net).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    alice.expect(|l| l.contains("DHT: published")).await;
    bob.expect(|l| l.contains("DHT: published")).await;
    alice
        .send(&format!("PRIVMSG {} :canary-plaintext-a7f3", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":canary-plaintext-a7f3")).await;
    bob.send(&format!("PRIVMSG {} :canary-plaintext-9c1e", a.peer_id))
        .await;
    alice
        .expect(|l| l.ends_with(":canary-plaintext-9c1e"))
        .await;
    a.shutdown().await;
    b.shutdown().await;

    // 2. A session with known session keys (the documented test vectors), also at trace.
    let (ki, kr) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (init, msg1) = Initiator::new(&ki, &kr.verifying_key(), [3; 32]);
    let (wait, msg2) = Responder::new(&kr, [4; 32]).read_msg1(&msg1).unwrap();
    let (msg3, keys_i) = init.read_msg2(&msg2).unwrap();
    let keys_r = wait.read_msg3(&msg3).unwrap();
    let (si, sr) = tokio::io::duplex(1 << 16);
    let shutdown = CancellationToken::new();
    let (router_i, _inputs_i) = router::channel();
    let (router_r, mut inputs_r) = router::channel();
    let (tx_i, rx_i) = mpsc::unbounded_channel();
    let (tx_r, rx_r) = mpsc::unbounded_channel();
    let peer_i = disims::identity::PeerId::of(&ki);
    let peer_r = disims::identity::PeerId::of(&kr);
    let handle_i = SessionHandle {
        peer: peer_r,
        conn_id: 1,
        initiator: peer_i,
        session_id: [0; 32],
        commands: tx_i.clone(),
        remote: None,
        via: None,
        started_ms: 0,
        activity: Default::default(),
    };
    let handle_r = SessionHandle {
        peer: peer_i,
        conn_id: 2,
        initiator: peer_i,
        session_id: [0; 32],
        commands: tx_r,
        remote: None,
        via: None,
        started_ms: 0,
        activity: Default::default(),
    };
    let timers = SessionTimers::default();
    tokio::spawn(session::run(
        si,
        keys_i,
        handle_i,
        rx_i,
        router_i,
        timers,
        shutdown.clone(),
    ));
    tokio::spawn(session::run(
        sr,
        keys_r,
        handle_r,
        rx_r,
        router_r,
        timers,
        shutdown.clone(),
    ));
    let text = "canary-plaintext-55d0".to_string();
    let message = ChatMessage {
        id: MessageId([9; 16]),
        kind: MessageKind::Text,
        text,
        sent_at_ms: 0,
    };
    tx_i.send(SessionCommand::Send(message.into())).unwrap();
    assert!(matches!(
        inputs_r.recv().await,
        Some(RouterInput::Received { .. })
    ));
    shutdown.cancel();

    let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).to_string();
    assert!(log.contains("gateway started"), "the capture works");
    assert!(log.lines().count() > 20, "trace level logs plenty");
    let k_i2r: [u8; 32] =
        decode("5e4191435216b711ae7610c2e18f84f7643a7076c83d92d0bfad49098ff87ec0");
    let k_r2i: [u8; 32] =
        decode("8d08a08c89cd7f34b3a2b17a34c95eddc0c7bf94bbd17a85629b33644e16569d");
    let mut forbidden = Vec::new();
    for secret in [
        seed_a, seed_b, [1; 32], [2; 32], [3; 32], [4; 32], k_i2r, k_r2i,
    ] {
        forbidden.extend(forms(&secret));
    }
    forbidden.extend(
        [
            "canary-plaintext-a7f3",
            "canary-plaintext-9c1e",
            "canary-plaintext-55d0",
        ]
        .map(String::from),
    );
    for needle in forbidden {
        assert!(!log.contains(&needle), "the log contains {needle:?}");
    }
}

fn decode(hex: &str) -> [u8; 32] {
    std::array::from_fn(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
}
