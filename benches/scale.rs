//! Scale benchmark (issue 4, item 4): one gateway, run as its own process (`disims run`),
//! holding 1,000 and then 10,000 concurrent authenticated peer sessions.
//!
//! For each size it measures the gateway process's resident memory per session, its CPU
//! while the sessions idle (keepalives only), and the latency of a message from one peer to
//! the gateway's IRC client while every other session sends one message per second.
//!
//! Run: `cargo bench --bench scale`. Options (environment): `SCALE_SIZES` (default
//! "1000,10000"), `SCALE_IDLE_SECS` (default 35: longer than the 30 s keepalive, so the idle
//! window includes every session's pings), `SCALE_LOAD_SECS` (default 10),
//! `SCALE_SETUP_RATE` (handshakes a second while setting up; default [`SETUP_RATE`]).
//!
//! The peers live in this process, each a real session (`disims::peer::session::run`) over
//! its own TCP connection. They are strangers to the gateway and meet its budgets against
//! strangers (issue 11), so the bench sets up as peers on the internet would: each from its
//! own source address, at most [`PER_PREFIX`] per /24 of 127.0.0.0/8 (the gateway caps
//! strangers' sessions per prefix), at a pace under the gateway's msg1 budget under load
//! ([`SETUP_RATE`]), retrying with a backoff a handshake it closes unanswered. The probe
//! peer is made a contact first (`add` on the IRC client): strangers beyond the new-sender
//! budget (20 a minute) are held, not shown. "Acknowledged" counts the messages the gateway
//! acknowledged (stored, shown or held; held ones beyond its cap on held messages are
//! acknowledged and dropped); "shown" the peers' messages its IRC client got; "own lines"
//! the gateway's announcements and notices to it during the load. The file-descriptor limit is raised to the hard limit first (the
//! gateway inherits it); with too few descriptors the gateway's accept loop logs the error
//! and retries every 100 ms while existing sessions go on.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use disims::crypto::SessionKeys;
use disims::identity::PeerId;
use disims::message::{ChatMessage, MessageId, MessageKind};
use disims::peer::session::{self, SessionCommand, SessionHandle, SessionTimers};
use disims::router::{self, RouterInput};
use ed25519_dalek::SigningKey;
use support::GatewayProcess;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
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

/// Sessions from one source /24 at most. The gateway lets strangers hold up to 32 sessions
/// per prefix (a sixteenth of their share of the session cap, clamped to 1..=32), so the
/// peers are spread over many /24s of 127.0.0.0/8, as peers on the internet would be.
const PER_PREFIX: usize = 20;

/// Set-up pace: msg1s a second, a tenth under the gateway's total msg1 budget under load
/// (`policy::inbound::MSG1_TOTAL_RATE`); the set-up is past the load threshold
/// (`LOAD_RATE`), so faster would only get more handshakes refused and retried.
const SETUP_RATE: f64 = disims::policy::inbound::MSG1_TOTAL_RATE * 0.9;

/// The key of peer `i` of a run whose first seed is `first_seed`.
fn peer_key(first_seed: u64, i: u64) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(first_seed + i).to_be_bytes());
    seed[31] = 0x5c;
    SigningKey::from_bytes(&seed)
}

/// The source address of peer `i` of `n`: consecutive peers in different /24s
/// (127.1.0.x, 127.1.1.x, ...), at most [`PER_PREFIX`] in each.
fn source_ip(i: usize, n: usize) -> Ipv4Addr {
    let prefixes = n.div_ceil(PER_PREFIX).max(1);
    let (prefix, host) = (i % prefixes, i / prefixes + 1);
    Ipv4Addr::new(
        127,
        1 + (prefix / 256) as u8,
        (prefix % 256) as u8,
        host as u8,
    )
}

/// Connects from `source` and completes the handshake. Under load the gateway closes a
/// msg1 it does not answer (its per-prefix and total budgets): retried with a backoff.
async fn handshake(
    gateway: SocketAddr,
    source: Ipv4Addr,
    key: &SigningKey,
    id: PeerId,
) -> (TcpStream, SessionKeys, u64) {
    let mut backoff = Duration::from_millis(20);
    for attempt in 1.. {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(source.into(), 0))
            .expect("bind the source address");
        let result = match socket.connect(gateway).await {
            Ok(mut stream) => {
                stream.set_nodelay(true).ok();
                let initiate = disims::peer::transport::initiate(&mut stream, key, id);
                match tokio::time::timeout(Duration::from_secs(10), initiate).await {
                    Ok(Ok(keys)) => Ok((stream, keys)),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(_) => Err("no msg2 within 10 s".to_string()),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok((stream, keys)) => return (stream, keys, attempt - 1),
            Err(e) if attempt >= 60 => panic!("handshake from {source}: {e}"),
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    unreachable!("the loop returns or panics")
}

async fn connect_peers(
    gateway: &GatewayProcess,
    n: usize,
    first_seed: u64,
    counts: Counts,
    shutdown: &CancellationToken,
) -> (Vec<Peer>, u64) {
    let limit = Arc::new(Semaphore::new(8));
    let retries = Arc::new(AtomicU64::new(0));
    let rate = std::env::var("SCALE_SETUP_RATE")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|r| *r > 0.0)
        .unwrap_or(SETUP_RATE);
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n as u64 {
        pace.tick().await;
        let permit = limit.clone().acquire_owned().await.expect("semaphore");
        let (addr, id, counts, shutdown, retries) = (
            gateway.peer_addr,
            gateway.id,
            counts.clone(),
            shutdown.clone(),
            retries.clone(),
        );
        let source = source_ip(i as usize, n);
        tasks.push(tokio::spawn(async move {
            let key = peer_key(first_seed, i);
            let (stream, keys, retried) = handshake(addr, source, &key, id).await;
            retries.fetch_add(retried, Ordering::Relaxed);
            drop(permit);
            let (tx, rx) = mpsc::unbounded_channel();
            let (router, mut inputs) = router::channel();
            tokio::spawn(async move {
                while let Some(input) = inputs.recv().await {
                    match input {
                        RouterInput::Received { messages, .. } => {
                            counts
                                .received
                                .fetch_add(messages.len() as u64, Ordering::Relaxed);
                        }
                        RouterInput::Acknowledged { ids, .. } => {
                            counts.acked.fetch_add(ids.len() as u64, Ordering::Relaxed);
                        }
                        _ => {}
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
                via: None,
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
    (peers, retries.load(Ordering::Relaxed))
}

/// What the peers' sessions report: chats received from the gateway, and chats the
/// gateway acknowledged (stored in its history, shown or held).
#[derive(Clone, Default)]
struct Counts {
    received: Arc<AtomicU64>,
    acked: Arc<AtomicU64>,
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

/// What the IRC client saw: peers' messages (`shown`), and the gateway's own lines (`said`,
/// from `disims`: announcements and notices), of which `held_full` say a sender has too many
/// held messages.
#[derive(Clone, Default)]
struct Seen {
    shown: Arc<AtomicU64>,
    said: Arc<AtomicU64>,
    held_full: Arc<AtomicU64>,
}

/// An IRC client on the gateway that counts messages and reports the marked ones. It first
/// adds `contact` (the probe peer) as a contact: a stranger's messages beyond the gateway's
/// new-sender budget (20 a minute) are held, not shown, and people chat with contacts.
async fn irc_observer(
    addr: SocketAddr,
    contact: PeerId,
) -> (mpsc::UnboundedReceiver<String>, Seen) {
    let stream = TcpStream::connect(addr).await.expect("irc");
    let (r, mut w) = stream.into_split();
    w.write_all(b"NICK observer\r\nUSER o 0 * :o\r\n")
        .await
        .expect("register");
    let (tx, rx) = mpsc::unbounded_channel();
    let (gateway_tx, mut gateway_lines) = mpsc::unbounded_channel();
    let seen = Seen::default();
    let counter = seen.shown.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(r).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with(":disims!") || line.contains(" 001 ") {
                let _ = gateway_tx.send(line);
            } else if line.contains(" PRIVMSG ") {
                counter.fetch_add(1, Ordering::Relaxed);
                if let Some(mark) = line.rsplit_once(":probe-").map(|(_, m)| m.to_string()) {
                    let _ = tx.send(mark);
                }
            }
        }
    });
    until(&mut gateway_lines, "welcome", |l| l.contains(" 001 ")).await;
    w.write_all(format!("PRIVMSG disims :add {} marker\r\n", contact.nick()).as_bytes())
        .await
        .expect("add");
    until(&mut gateway_lines, "reply to add", |l| {
        l.starts_with(":disims!") && l.contains("Added")
    })
    .await;
    // Keep the writer open (a closed client would be detached) and count the gateway's lines.
    let said = seen.clone();
    tokio::spawn(async move {
        let _keep_writer = w;
        while let Some(line) = gateway_lines.recv().await {
            said.said.fetch_add(1, Ordering::Relaxed);
            if line.contains("too many held messages") {
                said.held_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    (rx, seen)
}

/// Waits (10 s at most) for a line from the gateway that `pred` accepts.
async fn until(
    lines: &mut mpsc::UnboundedReceiver<String>,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), lines.recv()).await {
            Ok(Some(line)) if pred(&line) => return line,
            Ok(Some(_)) => continue,
            _ => panic!("no {what} from the gateway's IRC listener"),
        }
    }
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
            let first_seed = 1 + n as u64 * 1000;
            let probe_id = PeerId::of(&peer_key(first_seed, 0));
            let (mut probes, seen) = irc_observer(gateway.irc, probe_id).await;
            let irc_count = seen.shown.clone();
            tokio::time::sleep(Duration::from_millis(500)).await;
            let base_rss = gateway.rss_kib();
            let shutdown = CancellationToken::new();
            let counts = Counts::default();
            let started = Instant::now();
            let (peers, retried) = connect_peers(&gateway, n, first_seed, counts.clone(), &shutdown).await;
            let setup = started.elapsed();
            // Let allocations settle, then measure idle memory and CPU.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let idle_rss = gateway.rss_kib();
            eprintln!("{n} sessions up in {:.1} s; idle for {idle_secs} s...", setup.as_secs_f64());
            let cpu0 = gateway.cpu_ticks();
            tokio::time::sleep(Duration::from_secs(idle_secs)).await;
            let idle_cpu = (gateway.cpu_ticks() - cpu0) as f64 / ticks_per_sec / idle_secs as f64 * 100.0;

            // Load: every session sends one message per second; a probe peer measures latency.
            eprintln!("load for {load_secs} s...");
            let load_cpu0 = gateway.cpu_ticks();
            let load_started = Instant::now();
            let before = irc_count.load(Ordering::Relaxed);
            let acked_before = counts.acked.load(Ordering::Relaxed);
            let said_before = seen.said.load(Ordering::Relaxed);
            let held_full_before = seen.held_full.load(Ordering::Relaxed);
            let mut latencies = Vec::new();
            let probe = &peers[0];
            let mut seq = 0u64;
            for second in 0..load_secs {
                let tick = Instant::now();
                for (i, peer) in peers.iter().enumerate().skip(1) {
                    seq += 1;
                    let _ = peer.commands.send(SessionCommand::Send(chat(seq, &format!("load {second} {i}")).into()));
                }
                // Ten probes spread over the second.
                for p in 0..10u64 {
                    seq += 1;
                    let sent = Instant::now();
                    let mark = format!("{second}-{p}");
                    let _ = probe.commands.send(SessionCommand::Send(chat(seq, &format!("probe-{mark}")).into()));
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
            // Over the time the load took: slow probes stretch it beyond `load_secs`.
            let load_took = load_started.elapsed().as_secs_f64();
            let load_cpu = (gateway.cpu_ticks() - load_cpu0) as f64 / ticks_per_sec / load_took * 100.0;
            let expected = (n as u64 - 1) * load_secs;
            // Every message is acknowledged (stored in the gateway's history, or held); the probe's
            // (a contact's) and the first strangers' (within the new-sender budget) are
            // shown, the other strangers' are held.
            let deadline = Instant::now() + Duration::from_secs(60);
            while counts.acked.load(Ordering::Relaxed) - acked_before < expected + 10 * load_secs && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let acked = counts.acked.load(Ordering::Relaxed) - acked_before;
            let mut shown = irc_count.load(Ordering::Relaxed) - before;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now_shown = irc_count.load(Ordering::Relaxed) - before;
                if now_shown == shown || Instant::now() >= deadline {
                    break;
                }
                shown = now_shown;
            }
            let said = seen.said.load(Ordering::Relaxed) - said_before;
            let held_full = seen.held_full.load(Ordering::Relaxed) - held_full_before;
            latencies.sort();
            let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
            rows.push(format!(
                "| {n} | {:.1} s ({retried} retried) | {:.1} KiB | {:.2}% | {:.1}% over {load_took:.1} s | {:.2} ms | {:.2} ms | {acked}/{} | {shown} | {said} ({held_full}) |",
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
        "| sessions | set-up time | memory per idle session | CPU idle (one core) | CPU under load | latency p50 under load | latency p99 | messages acknowledged | messages shown | gateway's own lines (of which \"too many held\") |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in rows {
        println!("{row}");
    }
}
