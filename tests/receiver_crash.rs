//! Issue 5, test 3: the receiver's gateway is killed (SIGKILL) after it has stored a burst
//! and before any of its acks reached the sender; restarted on the same data dir, it gets
//! the burst again from the sender's outbox, stores nothing twice, and its IRC client shows
//! each message exactly once, in order; the sender's outbox empties.
//!
//! The receiver is a `disims run` process (so that it can be killed for real); the sender
//! is an in-process gateway with a short retry delay. A proxy in front of the receiver's
//! peer port (the address the receiver advertises) forwards the handshake and then
//! swallows every byte the receiver sends after it, i.e. its acks, so every run hits that
//! exact moment; connections accepted after the restart are forwarded whole.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::process::{self, GatewayToml, Process};
use common::{IrcClient, WAIT, testnet};
use disims::daemon::{Gateway, Options};
use disims::identity::PeerId;
use disims::peer::SessionTimers;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Messages in the burst.
const N: usize = 50;
/// An identity box without padding (key, signature, tag).
const MSG2_BOX: usize = disims::crypto::MAX_BOX - disims::crypto::MAX_PAD;

/// A proxy that lets the receiver's acks through or not.
struct AckSwallower {
    addr: SocketAddr,
    /// Read when a connection is accepted: while set, that connection forwards only
    /// handshake msg2 from the target and drops the rest.
    swallow: Arc<AtomicBool>,
    /// Reads dropped so far.
    swallowed: Arc<AtomicUsize>,
}

/// A TCP proxy in front of `target`. Client -> target is copied as is. Target -> client:
/// the handshake reply (msg2, of a known size: the receiver pads nothing) passes, and while
/// swallowing, every byte after it (the receiver's acks) is dropped. When the target
/// cannot be reached, the client's connection is closed at once (the dial fails).
async fn ack_swallowing_proxy(target: SocketAddr) -> AckSwallower {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = AckSwallower {
        addr: listener.local_addr().unwrap(),
        swallow: Arc::new(AtomicBool::new(true)),
        swallowed: Arc::new(AtomicUsize::new(0)),
    };
    let (swallow, swallowed) = (proxy.swallow.clone(), proxy.swallowed.clone());
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let swallowing = swallow.load(Ordering::SeqCst);
            let Ok(outbound) = TcpStream::connect(target).await else {
                continue;
            };
            let (mut in_r, mut in_w) = inbound.into_split();
            let (mut out_r, mut out_w) = outbound.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut in_r, &mut out_w).await;
                let _ = out_w.shutdown().await;
            });
            let swallowed = swallowed.clone();
            tokio::spawn(async move {
                // msg2 passes (version 2 with no padding: its head and an unpadded box),
                // every byte after it (the receiver's acks) is dropped.
                let mut msg2 = [0u8; disims::crypto::MSG2_HEAD_LEN + MSG2_BOX];
                if out_r.read_exact(&mut msg2).await.is_err()
                    || in_w.write_all(&msg2).await.is_err()
                {
                    let _ = in_w.shutdown().await;
                    return;
                }
                let mut buf = [0u8; 4096];
                loop {
                    let n = match out_r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if swallowing {
                        swallowed.fetch_add(1, Ordering::SeqCst);
                    } else if in_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                // The receiver is gone: the sender's session sees the end of the stream.
                let _ = in_w.shutdown().await;
            });
        }
    });
    proxy
}

/// The receiving gateway, as a process that can be killed and started again on the same
/// data dir and peer port.
struct Receiver {
    dir: PathBuf,
    data: PathBuf,
    peer_port: u16,
    advertise: SocketAddr,
    bootstrap: Vec<String>,
    process: Option<Process>,
    starts: usize,
}

impl Receiver {
    /// Starts the gateway; returns its IRC address once it listens.
    fn start(&mut self) -> SocketAddr {
        let irc: SocketAddr = ([127, 0, 0, 1], process::free_port()).into();
        let config = self.dir.join("gateway.toml");
        GatewayToml {
            data_dir: &self.data,
            irc_listen: irc,
            irc_password: None,
            peer_listen: ([127, 0, 0, 1], self.peer_port).into(),
            advertise: vec![self.advertise],
            dht_bootstrap: self.bootstrap.clone(),
            dht_listen: "127.0.0.1:0".parse().unwrap(),
        }
        .write(&config);
        // No handshake padding: msg2 then has a fixed size, which the proxy lets through
        // (version 2's lengths are masked: it cannot find records).
        let mut toml = std::fs::read_to_string(&config).unwrap();
        toml.push_str("\n[transport]\npadding = 0\n");
        std::fs::write(&config, toml).unwrap();
        self.starts += 1;
        let stderr = self.dir.join(format!("stderr.{}", self.starts));
        let (process, _nick) = Process::start(process::run_command(&[], &config), &stderr);
        self.process = Some(process);
        irc
    }

    /// SIGKILL.
    fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    fn stderr(&self) -> String {
        self.process
            .as_ref()
            .map(Process::stderr_text)
            .unwrap_or_default()
    }
}

/// The texts in the receiver's history, in the order stored (read-only: the gateway keeps
/// writing; WAL lets a reader in). Empty while there is no database yet.
fn stored_texts(data_dir: &Path) -> Vec<String> {
    let path = data_dir.join(disims::store::DB_FILE);
    let Ok(db) =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    db.prepare("SELECT text FROM received ORDER BY row")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .unwrap_or_default()
}

/// How many received messages the receiver has marked shown (read-only, as above).
fn shown_count(data_dir: &Path) -> usize {
    let path = data_dir.join(disims::store::DB_FILE);
    let Ok(db) =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    db.query_row("SELECT COUNT(*) FROM received WHERE shown = 1", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(0, |n| n as usize)
}

/// Polls `check` until it holds; panics with `what` after [`WAIT`].
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The message texts of the PRIVMSG lines seen (the last word: played-back lines carry
/// their date in front of the text).
fn privmsg_texts(client: &IrcClient) -> Vec<String> {
    client
        .seen
        .iter()
        .filter(|l| common::chat(l))
        .map(|l| {
            l.rsplit(' ')
                .next()
                .unwrap_or_default()
                .trim_start_matches(':')
                .to_string()
        })
        .collect()
}

/// Reads `n` PRIVMSG lines, then makes sure nothing else trails behind: a duplicate would
/// arrive before the answer to a PING sent now.
async fn expect_exactly(client: &mut IrcClient, n: usize) {
    for _ in 0..n {
        client.expect(common::chat).await;
    }
    client.send("PING :end").await;
    let next = client
        .expect(|l| l.contains(" PONG ") || common::chat(l))
        .await;
    assert!(next.contains(" PONG "), "a message showed twice: {next}");
}

/// The whole scenario. With `attached`, the receiver's user has a client attached before
/// the kill (it shows the burst live; a new client after the restart must show nothing,
/// neither a live duplicate nor a playback); without, nobody is attached until the resend
/// is over, and then the playback must show the burst exactly once.
async fn killed_between_storing_and_acking(attached: bool) {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let b_data = b_dir.join("data");
    let (b_key, _) = disims::identity::load_or_create(&b_data).unwrap();
    let b_id = PeerId::of(&b_key);
    let peer_port = process::free_port();
    let proxy = ack_swallowing_proxy(([127, 0, 0, 1], peer_port).into()).await;
    let mut receiver = Receiver {
        dir: b_dir.clone(),
        data: b_data.clone(),
        peer_port,
        advertise: proxy.addr,
        bootstrap: net.bootstrap.clone(),
        process: None,
        starts: 0,
    };
    let b_irc = receiver.start();
    let mut bob = IrcClient::register(b_irc, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    if !attached {
        bob.send("QUIT :bye").await;
        assert!(bob.expect_closed().await);
    }

    common::init_tracing();
    let options = Options {
        timers: SessionTimers {
            retry: Duration::from_millis(200),
            ..SessionTimers::default()
        },
        ..Options::default()
    };
    let a = Gateway::start(common::config(&a_dir, &net), options)
        .await
        .expect("the sender starts");
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    alice.expect(|l| l.contains("DHT: published")).await;
    let burst: String = (0..N)
        .map(|i| format!("PRIVMSG {b_id} :c{i}\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    let expected: Vec<String> = (0..N).map(|i| format!("c{i}")).collect();

    // The moment: all N stored by the receiver (and shown, when attached), its acks sent
    // and swallowed, the sender still holding all N.
    if attached {
        for i in 0..N {
            let line = bob.expect(common::chat).await;
            assert!(line.ends_with(&format!(" :c{i}")), "expected c{i}: {line}");
        }
    }
    eventually(
        "the receiver stored the burst and its acks were swallowed",
        || stored_texts(&b_data).len() == N && proxy.swallowed.load(Ordering::SeqCst) >= 1,
    )
    .await;
    assert_eq!(stored_texts(&b_data), expected);
    if attached {
        // Shown: the client wrote them, and the marks (which ride along with a later write,
        // or are committed within 100 ms) are in. A kill before that would play them back
        // once more after the restart: shown twice, never lost (docs/protocol.md).
        eventually("the receiver marked the burst shown", || {
            shown_count(&b_data) == N
        })
        .await;
    }
    assert_eq!(
        process::outbox_len(&a_dir, &b_id),
        N,
        "an ack reached the sender; the proxy let it through"
    );
    receiver.kill();

    // The sender's session ends; its next dial fails (the proxy finds nobody behind it).
    alice.expect(|l| l.contains("is offline")).await;
    proxy.swallow.store(false, Ordering::SeqCst);
    let b_irc = receiver.start();
    let mut bob_again = if attached {
        Some(IrcClient::register(b_irc, "bob").await)
    } else {
        None
    };

    let delivered = alice.expect(|l| l.contains("were delivered")).await;
    assert!(delivered.contains(&format!(" {N} queued")), "{delivered}");
    eventually("the sender's outbox is empty", || {
        process::outbox_len(&a_dir, &b_id) == 0
    })
    .await;
    assert_eq!(
        stored_texts(&b_data),
        expected,
        "the resend was stored twice; receiver's stderr:\n{}",
        receiver.stderr()
    );
    match bob_again.as_mut() {
        // Shown live before the kill, once (the old client reads to its end); nothing
        // shown again after the restart, live or played back.
        Some(bob_again) => {
            assert!(bob.expect_closed().await);
            assert_eq!(privmsg_texts(&bob), expected, "{:#?}", bob.seen);
            expect_exactly(bob_again, 0).await;
            assert_eq!(privmsg_texts(bob_again), Vec::<String>::new());
        }
        // Nobody attached until now: the playback shows each message once.
        None => {
            let mut bob = IrcClient::register(b_irc, "bob").await;
            expect_exactly(&mut bob, N).await;
            assert_eq!(privmsg_texts(&bob), expected, "{:#?}", bob.seen);
        }
    }
    let count = |needle: &str| alice.seen.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("is offline"), 1, "{:#?}", alice.seen);
    assert_eq!(count("were delivered"), 1, "{:#?}", alice.seen);
    receiver.kill();
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_killed_after_storing_before_acking_shows_each_message_once() {
    killed_between_storing_and_acking(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receiver_killed_before_its_user_attached_plays_each_message_back_once() {
    killed_between_storing_and_acking(false).await;
}
