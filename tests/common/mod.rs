//! Shared helpers for integration tests: a scripted IRC client and gateway set-up on a
//! local mainline testnet. Everything binds port 0 and uses temp dirs.
#![allow(dead_code)]

pub mod clients;

pub mod crawler;

pub mod krpc;

pub mod lab_gateway;

pub mod lab_helper;

pub mod lab_talk;

pub mod nat;

pub mod netns;

pub mod process;

pub mod raw_peer;

pub mod relay;

pub mod tap;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use disims::config::Config;
use disims::daemon::{Gateway, Options};
use disims::demo::private_config;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How long a test waits for an expected line before failing.
pub const WAIT: Duration = Duration::from_secs(20);

/// A local mainline DHT of `n` server-mode nodes on 127.0.0.1 (built off the async runtime).
pub async fn testnet(n: usize) -> mainline::Testnet {
    tokio::task::spawn_blocking(move || mainline::Testnet::builder(n).build().expect("testnet"))
        .await
        .expect("testnet task")
}

/// A gateway config on loopback, port 0 everywhere, bootstrapping from `testnet`; it dials
/// loopback addresses (`[peer] dial = "loopback"`): the test's gateways are all on this
/// machine.
pub fn config(dir: &Path, testnet: &mainline::Testnet) -> Config {
    let bootstrap: SocketAddr = testnet.bootstrap[0].parse().expect("bootstrap address");
    let mut config = private_config(dir, "127.0.0.1:0".parse().unwrap(), bootstrap);
    config.dht.bootstrap = testnet.bootstrap.clone();
    config
}

/// Logs to the test's output when RUST_LOG is set (e.g. RUST_LOG=disims=debug).
pub fn init_tracing() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub async fn gateway(dir: &Path, testnet: &mainline::Testnet) -> Gateway {
    init_tracing();
    Gateway::start(config(dir, testnet), Options::default())
        .await
        .expect("gateway starts")
}

/// Attaches a client until the gateway says it has published its address, then leaves, so
/// that the gateway has no client attached while the test sends to it.
pub async fn wait_published_then_detach(irc: SocketAddr) {
    let mut client = IrcClient::register(irc, "leaving").await;
    client.expect(|l| l.contains("DHT: published")).await;
    client.send("QUIT :bye").await;
    assert!(client.expect_closed().await);
}

/// Whether a line is a chat message (a PRIVMSG from a peer, or an echo), not one from the
/// gateway's service `disims` (announcements and replies in &disims).
pub fn chat(line: &str) -> bool {
    line.contains(" PRIVMSG ") && !line.starts_with(":disims!")
}

/// A scripted IRC client over real TCP.
pub struct IrcClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// Every line received so far, in order.
    pub seen: Vec<String>,
}

impl IrcClient {
    pub async fn connect(addr: SocketAddr) -> IrcClient {
        let stream = TcpStream::connect(addr).await.expect("connect to IRC");
        let (r, w) = stream.into_split();
        IrcClient {
            reader: BufReader::new(r),
            writer: w,
            seen: Vec::new(),
        }
    }

    /// Connects and registers like irssi does; returns once the MOTD has ended.
    pub async fn register(addr: SocketAddr, nick: &str) -> IrcClient {
        let mut c = Self::connect(addr).await;
        c.send("CAP LS 302").await;
        c.send(&format!("NICK {nick}")).await;
        c.send("USER tester 0 * :Test User").await;
        c.expect(|l| l.contains(" CAP * LS")).await;
        c.send("CAP END").await;
        c.expect(|l| l.contains(" 376 ") || l.contains(" 422 "))
            .await;
        c
    }

    pub async fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).await.expect("write");
        self.writer.write_all(b"\r\n").await.expect("write");
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write");
    }

    /// Next line, or None at EOF; panics after [`WAIT`].
    pub async fn next_line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        let n = tokio::time::timeout(WAIT, self.reader.read_until(b'\n', &mut buf))
            .await
            .expect("timed out waiting for a line")
            .expect("read");
        if n == 0 {
            return None;
        }
        let line = String::from_utf8_lossy(&buf)
            .trim_end_matches(['\r', '\n'])
            .to_string();
        self.seen.push(line.clone());
        Some(line)
    }

    /// Reads until a line matches; panics on EOF or after [`WAIT`] (listing what was seen).
    pub async fn expect(&mut self, pred: impl Fn(&str) -> bool) -> String {
        self.expect_within(WAIT, pred).await
    }

    /// [`IrcClient::expect`] with a wait of its own (for what takes longer than [`WAIT`]
    /// by design, such as finding a relay).
    pub async fn expect_within(&mut self, wait: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let line = tokio::time::timeout(remaining, self.next_line()).await;
            match line {
                Ok(Some(line)) if pred(&line) => return line,
                Ok(Some(_)) => continue,
                Ok(None) => panic!("connection closed; seen: {:#?}", self.seen),
                Err(_) => panic!("no matching line; seen: {:#?}", self.seen),
            }
        }
    }

    /// Reads until EOF; returns true if the server closed the connection within [`WAIT`].
    pub async fn expect_closed(&mut self) -> bool {
        loop {
            match tokio::time::timeout(WAIT, self.next_line()).await {
                Ok(None) => return true,
                Ok(Some(_)) => continue,
                Err(_) => return false,
            }
        }
    }
}

/// A TCP proxy in front of `target` that parses the initiator -> responder direction into
/// records (u32 length + body) and lets `mutate` rewrite them: it gets the connection's
/// number (0 for the first), the record's number (0 = msg1, 1 = msg3, 2.. = data frames)
/// and the record (header included), and returns the bytes to forward. The other
/// direction is copied unchanged. Returns the proxy's address.
pub async fn tampering_proxy<F>(target: SocketAddr, mutate: F) -> SocketAddr
where
    F: Fn(usize, usize, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
{
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mutate = Arc::new(mutate);
    tokio::spawn(async move {
        let mut conn = 0;
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else {
                continue;
            };
            let (mut in_r, mut in_w) = inbound.into_split();
            let (mut out_r, mut out_w) = outbound.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut out_r, &mut in_w).await;
                let _ = in_w.shutdown().await;
            });
            let mutate = mutate.clone();
            let this = conn;
            tokio::spawn(async move {
                let mut index = 0;
                loop {
                    let mut header = [0u8; 4];
                    if in_r.read_exact(&mut header).await.is_err() {
                        break;
                    }
                    let len = u32::from_be_bytes(header) as usize;
                    let mut record = header.to_vec();
                    record.resize(4 + len.min(1 << 20), 0);
                    if in_r.read_exact(&mut record[4..]).await.is_err() {
                        break;
                    }
                    let out = mutate(this, index, record);
                    index += 1;
                    if out_w.write_all(&out).await.is_err() {
                        break;
                    }
                }
                let _ = out_w.shutdown().await;
            });
            conn += 1;
        }
    });
    addr
}

/// A gateway whose directory is the shared in-memory map `records` (no DHT at all). Like
/// every test gateway, it dials loopback addresses (`[peer] dial = "loopback"`, set by
/// [`private_config`]): its peers are on this machine.
pub async fn memory_gateway(
    dir: &Path,
    records: &disims::directory::memory::SharedRecords,
    options: Options,
) -> Gateway {
    memory_gateway_with(dir, records, options, |_| {}).await
}

/// [`memory_gateway`] with its config changed by `edit` first (e.g. `[peer] dial`).
pub async fn memory_gateway_with(
    dir: &Path,
    records: &disims::directory::memory::SharedRecords,
    mut options: Options,
    edit: impl FnOnce(&mut Config),
) -> Gateway {
    init_tracing();
    let (key, _) = disims::identity::load_or_create(dir).expect("identity");
    let directory = disims::directory::memory::MemoryDirectory::new(&key, records.clone());
    options.directory = Some(std::sync::Arc::new(directory));
    // The bootstrap address is unused: the memory directory replaces the DHT.
    let mut config = private_config(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:9".parse().unwrap(),
    );
    edit(&mut config);
    Gateway::start(config, options)
        .await
        .expect("gateway starts")
}

/// Points `peer`'s directory record at `addr` (a proxy, or somebody else), as an old
/// gateway's unblinded record: dials to it run handshake version 1, whose records a proxy
/// can parse ([`tampering_proxy`]).
pub fn redirect(
    records: &disims::directory::memory::SharedRecords,
    peer: disims::identity::PeerId,
    addr: SocketAddr,
) {
    redirect_as(records, peer, addr, false);
}

/// [`redirect`] as a blinded record: dials to it run handshake version 2.
pub fn redirect_blinded(
    records: &disims::directory::memory::SharedRecords,
    peer: disims::identity::PeerId,
    addr: SocketAddr,
) {
    redirect_as(records, peer, addr, true);
}

fn redirect_as(
    records: &disims::directory::memory::SharedRecords,
    peer: disims::identity::PeerId,
    addr: SocketAddr,
    blinded: bool,
) {
    use disims::directory::memory::MemoryDirectory;
    let record = disims::directory::AddressRecord {
        protocol_version: 1,
        addrs: vec![addr],
    }
    .encode()
    .unwrap();
    if blinded {
        MemoryDirectory::insert_raw_blinded(records, peer, record);
    } else {
        MemoryDirectory::insert_raw(records, peer, record);
    }
}
