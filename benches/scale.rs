//! Scale benchmark (issue 4, item 4): one gateway, run as its own process (`disims run`),
//! holding 1,000 and then 10,000 concurrent authenticated peer sessions.
//!
//! For each size it measures the gateway process's resident memory per session, its CPU
//! while the sessions idle (keepalives only), and the latency of a message from one peer to
//! the gateway's IRC client while every other session sends one message per second.
//!
//! Run: `cargo bench --bench scale`. Options (environment): `SCALE_SIZES` (default
//! "1000,10000"), `SCALE_IDLE_SECS` (default 35: longer than the 30 s keepalive, so the idle
//! window includes every session's pings), `SCALE_LOAD_SECS` (default 10).
//!
//! The peers live in this process, each a real session (`disims::peer::session::run`) over
//! its own TCP connection. The file-descriptor limit is raised to the hard limit first (the
//! gateway inherits it); with too few descriptors the gateway's accept loop logs the error
//! and retries every 100 ms while existing sessions go on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use disims::identity::PeerId;
use disims::message::{ChatMessage, MessageId, MessageKind};
use disims::peer::session::{self, SessionCommand, SessionHandle, SessionTimers};
use disims::router::{self, RouterInput};
use ed25519_dalek::SigningKey;
use support::GatewayProcess;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

mod support;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One simulated peer: its command channel into a real session.
struct Peer {
    commands: mpsc::UnboundedSender<SessionCommand>,
}

async fn connect_peers(
    gateway: &GatewayProcess,
    n: usize,
    first_seed: u64,
    received: Arc<AtomicU64>,
    shutdown: &CancellationToken,
) -> Vec<Peer> {
    // The gateway allows 16 handshakes in progress per source IP.
    let limit = Arc::new(Semaphore::new(8));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n as u64 {
        let permit = limit.clone().acquire_owned().await.expect("semaphore");
        let (addr, id, received, shutdown) = (
            gateway.peer_addr,
            gateway.id,
            received.clone(),
            shutdown.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(first_seed + i).to_be_bytes());
            seed[31] = 0x5c;
            let key = SigningKey::from_bytes(&seed);
            // The gateway frees a handshake slot a moment after we finish ours: retry the
            // rare connection refused for being over the per-IP cap.
            let mut attempt = 0;
            let (stream, keys) = loop {
                attempt += 1;
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                stream.set_nodelay(true).ok();
                match disims::peer::transport::initiate(&mut stream, &key, id).await {
                    Ok(keys) => break (stream, keys),
                    Err(e) if attempt < 20 => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("handshake: {e}"),
                }
            };
            drop(permit);
            let (tx, rx) = mpsc::unbounded_channel();
            let (router, mut inputs) = router::channel();
            tokio::spawn(async move {
                while let Some(input) = inputs.recv().await {
                    if let RouterInput::Received { messages, .. } = input {
                        received.fetch_add(messages.len() as u64, Ordering::Relaxed);
                    }
                }
            });
            let handle = SessionHandle {
                peer: id,
                conn_id: i,
                initiator: PeerId::of(&key),
                session_id: keys.transcript_hash,
                commands: tx.clone(),
                remote: None,
                started_ms: 0,
                activity: Default::default(),
            };
            tokio::spawn(session::run(
                stream,
                keys,
                handle,
                rx,
                router,
                SessionTimers::default(),
                shutdown,
            ));
            Peer { commands: tx }
        }));
    }
    let mut peers = Vec::with_capacity(n);
    for t in tasks {
        peers.push(t.await.expect("peer"));
    }
    peers
}

fn chat(n: u64, text: &str) -> ChatMessage {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    id[0] = 0xbe;
    ChatMessage {
        id: MessageId(id),
        kind: MessageKind::Text,
        text: text.to_string(),
        sent_at_ms: router::now_ms(),
    }
}

/// An IRC client on the gateway that counts messages and reports the marked ones.
async fn irc_observer(addr: SocketAddr) -> (mpsc::UnboundedReceiver<String>, Arc<AtomicU64>) {
    let stream = TcpStream::connect(addr).await.expect("irc");
    let (r, mut w) = stream.into_split();
    w.write_all(b"NICK observer\r\nUSER o 0 * :o\r\n")
        .await
        .expect("register");
    let (tx, rx) = mpsc::unbounded_channel();
    let count = Arc::new(AtomicU64::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        let _keep_writer = w;
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains(" PRIVMSG ") && !line.starts_with(":disims!") {
                counter.fetch_add(1, Ordering::Relaxed);
                if let Some(mark) = line.rsplit_once(":probe-").map(|(_, m)| m.to_string()) {
                    let _ = tx.send(mark);
                }
            }
        }
    });
    (rx, count)
}

fn main() {
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
    let nofile = rlimit::Resource::NOFILE
        .get()
        .map(|(soft, _)| soft)
        .unwrap_or(0);
    let sizes: Vec<usize> = std::env::var("SCALE_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let idle_secs = env_or("SCALE_IDLE_SECS", 35);
    let load_secs = env_or("SCALE_LOAD_SECS", 10);
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut rows = Vec::new();
    runtime.block_on(async {
        let (_dht, dht_addr) = disims::directory::mainline::standalone_node("127.0.0.1:0".parse().unwrap(), &[])
            .await
            .expect("dht node");
        for &n in &sizes {
            // Each process (this one, the gateway) holds one descriptor per session.
            if n as u64 + 200 > nofile {
                eprintln!("skipping {n} sessions: the descriptor limit is {nofile}");
                continue;
            }
            eprintln!("{n} sessions...");
            let gateway = GatewayProcess::start(SocketAddr::V4(dht_addr));
            let (mut probes, irc_count) = irc_observer(gateway.irc).await;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let base_rss = gateway.rss_kib();
            let shutdown = CancellationToken::new();
            let received = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            let peers = connect_peers(&gateway, n, 1 + n as u64 * 1000, received.clone(), &shutdown).await;
            let setup = started.elapsed();
            // Let allocations settle, then measure idle memory and CPU.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let idle_rss = gateway.rss_kib();
            let cpu0 = gateway.cpu_ticks();
            tokio::time::sleep(Duration::from_secs(idle_secs)).await;
            let idle_cpu = (gateway.cpu_ticks() - cpu0) as f64 / ticks_per_sec / idle_secs as f64 * 100.0;

            // Load: every session sends one message per second; a probe peer measures latency.
            let load_cpu0 = gateway.cpu_ticks();
            let before = irc_count.load(Ordering::Relaxed);
            let mut latencies = Vec::new();
            let probe = &peers[0];
            let mut seq = 0u64;
            for second in 0..load_secs {
                let tick = Instant::now();
                for (i, peer) in peers.iter().enumerate().skip(1) {
                    seq += 1;
                    let _ = peer.commands.send(SessionCommand::Send(chat(seq, &format!("load {second} {i}"))));
                }
                // Ten probes spread over the second.
                for p in 0..10u64 {
                    seq += 1;
                    let sent = Instant::now();
                    let mark = format!("{second}-{p}");
                    let _ = probe.commands.send(SessionCommand::Send(chat(seq, &format!("probe-{mark}"))));
                    loop {
                        match tokio::time::timeout(Duration::from_secs(30), probes.recv()).await {
                            Ok(Some(m)) if m == mark => break,
                            Ok(Some(_)) => continue,
                            _ => panic!("probe {mark} lost"),
                        }
                    }
                    latencies.push(sent.elapsed());
                    let next = tick + Duration::from_millis(100 * (p + 1));
                    tokio::time::sleep_until(next.into()).await;
                }
            }
            let load_cpu = (gateway.cpu_ticks() - load_cpu0) as f64 / ticks_per_sec / load_secs as f64 * 100.0;
            let expected = (n as u64 - 1) * load_secs;
            let deadline = Instant::now() + Duration::from_secs(60);
            while irc_count.load(Ordering::Relaxed) - before < expected + 10 * load_secs && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let delivered = irc_count.load(Ordering::Relaxed) - before;
            latencies.sort();
            let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
            rows.push(format!(
                "| {n} | {:.1} s | {:.1} KiB | {:.2}% | {:.1}% | {:.2} ms | {:.2} ms | {delivered}/{} |",
                setup.as_secs_f64(),
                (idle_rss.saturating_sub(base_rss)) as f64 / n as f64,
                idle_cpu,
                load_cpu,
                p(0.5).as_secs_f64() * 1000.0,
                p(0.99).as_secs_f64() * 1000.0,
                expected + 10 * load_secs,
            ));
            shutdown.cancel();
            drop(peers);
            drop(gateway);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    println!("\n## Scale (one gateway process; descriptor limit {nofile})\n");
    println!(
        "| sessions | set-up time | memory per idle session | CPU idle (one core) | CPU under load | latency p50 under load | latency p99 | messages delivered |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}
