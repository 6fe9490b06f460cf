//! End-to-end benchmarks (issue 4, items 2 and 3), side by side in one run:
//!
//! - ping-pong latency (p50, p99) and one-way throughput (100-byte messages) between two
//!   scripted IRC clients, relayed by two DiSIMS gateways on loopback, by a central IRC
//!   server (ngircd, flood throttling off) when it is installed, and by a raw TCP relay;
//! - first contact: PRIVMSG to a never-contacted peer until it reaches the peer's client,
//!   against a bare `get_mutable(..).next()` of the same record, on a 20-node DHT testnet.
//!
//! Run: `cargo bench --bench e2e` (install ngircd first: `apt-get install ngircd`).
//! Options (environment): `E2E_MESSAGES` (default 100000), `E2E_PINGS` (default 2000),
//! `E2E_CONTACTS` (default 10), `E2E_ROUNDS` (default 3: every relay is measured once per
//! round, and the table gives medians and the median of the per-round ratios). Each gateway
//! and ngircd run as processes of their own; the clients share this process's runtime.
//! Prints a markdown table for docs/performance.md.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use disims::daemon::{Gateway, Options};
use disims::demo::private_config;
use disims::directory::ADDRESS_SALT;
use support::GatewayProcess;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

mod support;

const TEXT_LEN: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(120);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A scripted IRC client.
struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: BufWriter<OwnedWriteHalf>,
    line: String,
    last: String,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).await.expect("connect"))
    }

    fn from_stream(stream: TcpStream) -> Client {
        stream.set_nodelay(true).expect("nodelay");
        let (r, w) = stream.into_split();
        Client {
            reader: BufReader::with_capacity(1 << 16, r),
            writer: BufWriter::with_capacity(1 << 16, w),
            line: String::new(),
            last: String::new(),
        }
    }

    /// Connects and registers; returns the nick the server gave us (from 001).
    async fn register(addr: SocketAddr, nick: &str) -> (Client, String) {
        let mut c = Client::connect(addr).await;
        c.send(&format!("NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n"))
            .await;
        let welcome = c.until(|l| l.contains(" 001 ")).await;
        let given = welcome.split(' ').nth(2).unwrap_or(nick).to_string();
        c.until(|l| l.contains(" 376 ") || l.contains(" 422 "))
            .await;
        (c, given)
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.expect("write");
        self.writer.flush().await.expect("flush");
    }

    /// Reads until a line matches (answering server PINGs on the way).
    async fn until(&mut self, pred: impl Fn(&str) -> bool) -> String {
        loop {
            self.line.clear();
            let n = tokio::time::timeout(TIMEOUT, self.reader.read_line(&mut self.line))
                .await
                .expect("timed out")
                .expect("read");
            assert!(n > 0, "connection closed; last line: {}", self.last);
            if self.line.starts_with("PING ") {
                let pong = self.line.replacen("PING", "PONG", 1);
                self.send(&pong).await;
                continue;
            }
            self.last.clone_from(&self.line);
            if pred(&self.line) {
                return self.line.clone();
            }
        }
    }
}

/// Two connected clients and the names they address each other by.
struct Pair {
    a: Client,
    b: Client,
    a_name: String,
    b_name: String,
}

fn text(tag: &str, i: usize) -> String {
    let mut t = format!("{tag}{i} ");
    while t.len() < TEXT_LEN {
        t.push('x');
    }
    t
}

/// Ping-pong round trips; returns sorted round-trip times.
async fn latency(pair: &mut Pair, n: usize) -> Vec<Duration> {
    let mut rtts = Vec::with_capacity(n);
    for i in 0..(n + n / 10) {
        let (ping, pong) = (text("ping", i), text("pong", i));
        let started = Instant::now();
        pair.a
            .send(&format!("PRIVMSG {} :{ping}\r\n", pair.b_name))
            .await;
        pair.b.until(|l| l.ends_with(&format!(":{ping}\r\n"))).await;
        pair.b
            .send(&format!("PRIVMSG {} :{pong}\r\n", pair.a_name))
            .await;
        pair.a.until(|l| l.ends_with(&format!(":{pong}\r\n"))).await;
        if i >= n / 10 {
            rtts.push(started.elapsed()); // the first tenth warms up
        }
    }
    rtts.sort();
    rtts
}

/// One-way throughput: messages per second until the last arrives.
async fn throughput(pair: Pair, n: usize) -> f64 {
    let Pair {
        mut a,
        mut b,
        b_name,
        ..
    } = pair;
    // The lines are made before the clock starts: only the relay is measured.
    let mut batches = Vec::new();
    let mut batch = String::with_capacity(1 << 16);
    for i in 0..n {
        batch.push_str(&format!("PRIVMSG {b_name} :{}\r\n", text("m", i)));
        if batch.len() > 60_000 || i == n - 1 {
            batches.push(std::mem::take(&mut batch));
        }
    }
    let last = format!(":{}\r\n", text("m", n - 1));
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut count = 0;
        loop {
            let line = b.until(|l| l.contains("PRIVMSG")).await;
            count += 1;
            if line.ends_with(&last) {
                return count;
            }
        }
    });
    for batch in &batches {
        a.writer.write_all(batch.as_bytes()).await.expect("write");
    }
    a.writer.flush().await.expect("flush");
    let received = reader.await.expect("reader");
    let elapsed = started.elapsed();
    assert_eq!(received, n, "every message arrives");
    n as f64 / elapsed.as_secs_f64()
}

// --- The relays -----------------------------------------------------------------

/// Two gateways, each its own `disims run` process (as ngircd is its own process).
async fn disims_pair(bootstrap: SocketAddr) -> (Pair, GatewayProcess, GatewayProcess) {
    let ga = GatewayProcess::start(bootstrap);
    let gb = GatewayProcess::start(bootstrap);
    let (mut a, a_name) = Client::register(ga.irc, "a").await;
    let (mut b, b_name) = Client::register(gb.irc, "b").await;
    a.until(|l| l.contains("DHT: published")).await;
    b.until(|l| l.contains("DHT: published")).await;
    // People chat with their contacts: strangers would meet the budgets of issue 11 (a
    // rate per stranger, new senders held beyond a per-minute budget).
    a.send(&format!("PRIVMSG disims :add {b_name} b\r\n")).await;
    a.until(|l| l.starts_with(":disims!") && l.contains("Added"))
        .await;
    b.send(&format!("PRIVMSG disims :add {a_name} a\r\n")).await;
    b.until(|l| l.starts_with(":disims!") && l.contains("Added"))
        .await;
    // Warm the session up so that the measurements see an established session.
    a.send(&format!("PRIVMSG {b_name} :hello\r\n")).await;
    b.until(|l| l.ends_with(":hello\r\n")).await;
    (
        Pair {
            a,
            b,
            a_name,
            b_name,
        },
        ga,
        gb,
    )
}

struct Ngircd {
    child: Child,
    port: u16,
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_ngircd(dir: &Path) -> Option<Ngircd> {
    let binary = ["/usr/sbin/ngircd", "/usr/bin/ngircd"]
        .into_iter()
        .find(|p| Path::new(p).exists())?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        l.local_addr().ok()?.port()
    };
    let conf = dir.join("ngircd.conf");
    let motd = dir.join("motd");
    std::fs::write(&motd, "bench\n").ok()?;
    std::fs::write(
        &conf,
        format!(
            "[Global]\nName = bench.local\nInfo = bench\nPorts = {port}\nListen = 127.0.0.1\n\
             AdminInfo1 = bench\nAdminInfo2 = bench\nAdminEMail = bench@localhost\nMotdFile = {}\n\
             [Limits]\nMaxPenaltyTime = 0\nMaxConnectionsIP = 0\nPingTimeout = 600\n\
             [Options]\nPAM = no\nIdent = no\nDNS = no\n",
            motd.display()
        ),
    )
    .ok()?;
    let child = Command::new(binary)
        .args(["-n", "-f"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let server = Ngircd { child, port };
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(server);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

async fn ngircd_pair(port: u16, tag: &str) -> Pair {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let (a, a_name) = Client::register(addr, &format!("alice{tag}")).await;
    let (b, b_name) = Client::register(addr, &format!("bob{tag}")).await;
    Pair {
        a,
        b,
        a_name,
        b_name,
    }
}

/// Pipes everything between two connections, both ways.
fn pipe(x: TcpStream, y: TcpStream) {
    x.set_nodelay(true).ok();
    y.set_nodelay(true).ok();
    let (mut xr, mut xw) = x.into_split();
    let (mut yr, mut yw) = y.into_split();
    tokio::spawn(async move { tokio::io::copy(&mut xr, &mut yw).await });
    tokio::spawn(async move { tokio::io::copy(&mut yr, &mut xw).await });
}

/// Two raw relays in a row: three TCP connections between the clients, as with two
/// gateways; the floor for any design in which each user has their own gateway.
async fn relay_chain_pair() -> Pair {
    let first = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let second = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (first_addr, second_addr) = (
        first.local_addr().expect("addr"),
        second.local_addr().expect("addr"),
    );
    let a = Client::connect(first_addr).await;
    let (x, _) = first.accept().await.expect("accept");
    let middle = TcpStream::connect(second_addr).await.expect("connect");
    let (inner, _) = second.accept().await.expect("accept");
    pipe(x, middle);
    let b = Client::connect(second_addr).await;
    let (y, _) = second.accept().await.expect("accept");
    pipe(inner, y);
    Pair {
        a,
        b,
        a_name: "a".into(),
        b_name: "b".into(),
    }
}

/// Two `socat` processes in a row, each forwarding one port to the next: client a -> socat
/// -> socat -> client b (accepted by a listener here). Three TCP connections and two relay
/// processes between the clients, as with two gateways.
struct SocatChain {
    children: Vec<Child>,
    entry: u16,
    exit: TcpListener,
}

impl SocatChain {
    fn start() -> Option<SocatChain> {
        let binary = ["/usr/bin/socat", "/bin/socat"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let exit = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        let exit_port = exit.local_addr().ok()?.port();
        exit.set_nonblocking(true).ok()?;
        let exit = TcpListener::from_std(exit).ok()?;
        let (entry, middle) = (support::free_port(), support::free_port());
        let spawn = |listen: u16, to: u16| {
            Command::new(binary)
                .arg(format!(
                    "TCP-LISTEN:{listen},bind=127.0.0.1,reuseaddr,fork,nodelay"
                ))
                .arg(format!("TCP:127.0.0.1:{to},nodelay"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()
        };
        let children = vec![spawn(middle, exit_port)?, spawn(entry, middle)?];
        std::thread::sleep(Duration::from_millis(300));
        Some(SocatChain {
            children,
            entry,
            exit,
        })
    }

    /// Client a connects through both socats; the second socat's outgoing connection is
    /// accepted here and becomes client b.
    async fn pair(&self) -> Pair {
        let a = Client::connect(([127, 0, 0, 1], self.entry).into()).await;
        let (through, _) = self.exit.accept().await.expect("accept");
        let b = Client::from_stream(through);
        Pair {
            a,
            b,
            a_name: "a".into(),
            b_name: "b".into(),
        }
    }
}

impl Drop for SocatChain {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A raw relay: two connections piped into each other, no parsing at all.
async fn relay_pair() -> Pair {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (x, _) = listener.accept().await.expect("accept");
        let (y, _) = listener.accept().await.expect("accept");
        pipe(x, y);
    });
    let a = Client::connect(addr).await;
    let b = Client::connect(addr).await;
    Pair {
        a,
        b,
        a_name: "a".into(),
        b_name: "b".into(),
    }
}

// --- First contact ----------------------------------------------------------------------

/// Median time of a first message to a never-contacted peer, and of a bare DHT lookup of
/// the same record, over `trials` fresh pairs of gateways on `testnet`.
async fn first_contact(testnet: &mainline::Testnet, trials: usize) -> (Duration, Duration) {
    let bootstrap: SocketAddr = testnet.bootstrap[0].parse().expect("bootstrap");
    let mut config = private_config(
        Path::new("/nonexistent"),
        "127.0.0.1:0".parse().unwrap(),
        bootstrap,
    );
    config.dht.bootstrap = testnet.bootstrap.clone();
    // Flood control off, as ngircd's `MaxPenaltyTime = 0`: the benchmark bursts lines.
    config.irc.lines_per_second = 0;
    let probe = disims::directory::mainline::build_dht(&config.dht)
        .expect("dht")
        .as_async();
    let (mut contact, mut bare) = (Vec::new(), Vec::new());
    for trial in 0..trials {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut ca = config.clone();
        ca.data_dir = dir.path().join("a");
        let mut cb = config.clone();
        cb.data_dir = dir.path().join("b");
        let ga = Gateway::start(ca, Options::default())
            .await
            .expect("gateway");
        let gb = Gateway::start(cb, Options::default())
            .await
            .expect("gateway");
        let (mut a, _) = Client::register(ga.irc_addr, "a").await;
        let (mut b, b_name) = Client::register(gb.irc_addr, "b").await;
        a.until(|l| l.contains("DHT: published")).await;
        b.until(|l| l.contains("DHT: published")).await;
        // Alternate the order so that neither measurement always goes first.
        if trial % 2 == 0 {
            bare.push(bare_lookup(&probe, &gb.peer_id).await);
        }
        let started = Instant::now();
        a.send(&format!("PRIVMSG {b_name} :first contact\r\n"))
            .await;
        b.until(|l| l.ends_with(":first contact\r\n")).await;
        contact.push(started.elapsed());
        if trial % 2 == 1 {
            bare.push(bare_lookup(&probe, &gb.peer_id).await);
        }
        ga.shutdown().await;
        gb.shutdown().await;
    }
    contact.sort();
    bare.sort();
    (contact[contact.len() / 2], bare[bare.len() / 2])
}

async fn bare_lookup(
    probe: &mainline::async_dht::AsyncDht,
    peer: &disims::identity::PeerId,
) -> Duration {
    let started = Instant::now();
    let mut items = probe.get_mutable(peer.as_bytes(), Some(ADDRESS_SALT), None);
    futures_util::StreamExt::next(&mut items)
        .await
        .expect("record found");
    started.elapsed()
}

// --- Report -------------------------------------------------------------------------------

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// One relay's figures from one round.
struct Figures {
    name: &'static str,
    latencies: Vec<Duration>,
    throughput: f64,
}

/// A relay's latency on one pair of clients, then its throughput on a fresh pair; `pair`
/// is given a suffix that tells the two pairs' nicks apart.
async fn measure(
    name: &'static str,
    pings: usize,
    messages: usize,
    pair: impl AsyncFn(&'static str) -> Pair,
) -> Figures {
    let latencies = latency(&mut pair("1").await, pings).await;
    let throughput = throughput(pair("2").await, messages).await;
    Figures {
        name,
        latencies,
        throughput,
    }
}

/// One round: every relay in turn, DiSIMS first (each with a fresh pair of clients).
async fn round(bootstrap: SocketAddr, dir: &Path, pings: usize, messages: usize) -> Vec<Figures> {
    let mut rows = Vec::new();
    eprintln!("DiSIMS latency...");
    let (mut pair, ga, gb) = disims_pair(bootstrap).await;
    let latencies = latency(&mut pair, pings).await;
    drop((pair, ga, gb));
    eprintln!("DiSIMS throughput...");
    let (pair, ga, gb) = disims_pair(bootstrap).await;
    let tput = throughput(pair, messages).await;
    drop((ga, gb));
    rows.push(Figures {
        name: "DiSIMS (2 gateways)",
        latencies,
        throughput: tput,
    });
    match start_ngircd(dir).await {
        Some(server) => {
            eprintln!("ngircd...");
            let pair = async |n| ngircd_pair(server.port, n).await;
            rows.push(measure("ngircd (central server)", pings, messages, pair).await);
        }
        None => eprintln!(
            "ngircd not found: install it (apt-get install ngircd) for the central-server baseline"
        ),
    }
    eprintln!("raw relays...");
    // The floor with the same shape as DiSIMS: three connections and two relay processes.
    if let Some(chain) = SocatChain::start() {
        let name = "2 socat relay processes in a row (3 connections)";
        rows.push(measure(name, pings, messages, async |_| chain.pair().await).await);
    } else {
        eprintln!("socat not found: install it (apt-get install socat) for the two-process floor");
    }
    let name = "2 raw TCP relays in a row (3 connections)";
    rows.push(measure(name, pings, messages, async |_| relay_chain_pair().await).await);
    let name = "raw TCP relay";
    rows.push(measure(name, pings, messages, async |_| relay_pair().await).await);
    rows
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let messages = env_or("E2E_MESSAGES", 100_000);
    let pings = env_or("E2E_PINGS", 2000);
    let contacts = env_or("E2E_CONTACTS", 10);
    let rounds = env_or("E2E_ROUNDS", 3).max(1);
    let runtime = if std::env::var("E2E_RUNTIME").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    };
    runtime.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_node, dht) = disims::directory::mainline::standalone_node("127.0.0.1:0".parse().unwrap(), &[])
            .await
            .expect("dht node");
        let bootstrap = SocketAddr::V4(dht);

        // The machine's speed drifts by half within minutes: the relays are measured in
        // rounds, one after the other, and each ratio is the median of its per-round ratios.
        let mut all: Vec<Vec<Figures>> = Vec::new();
        for r in 0..rounds {
            eprintln!("round {} of {rounds}", r + 1);
            all.push(round(bootstrap, dir.path(), pings, messages).await);
        }

        // E2E_CONTACTS=0 skips first contact (for profiling the rest).
        let first = if contacts > 0 {
            eprintln!("first contact...");
            let testnet = tokio::task::spawn_blocking(|| mainline::Testnet::builder(20).build().expect("testnet"))
                .await
                .expect("testnet");
            Some(first_contact(&testnet, contacts).await)
        } else {
            None
        };

        println!(
            "\n## End to end ({pings} round trips, {messages} one-way messages of {TEXT_LEN} bytes; median of {rounds} rounds)\n"
        );
        println!("| relay | latency p50 | latency p99 | throughput (msg/s) | p50 per round | msg/s per round |");
        println!("| --- | --- | --- | --- | --- | --- |");
        let p50 = |f: &Figures| pct(&f.latencies, 0.5).as_secs_f64();
        for (i, first) in all[0].iter().enumerate() {
            let runs: Vec<&Figures> = all.iter().map(|round| &round[i]).collect();
            let per_p50: Vec<String> = runs.iter().map(|f| ms(pct(&f.latencies, 0.5))).collect();
            let per_tput: Vec<String> = runs.iter().map(|f| format!("{:.0}", f.throughput)).collect();
            println!(
                "| {} | {:.3} ms | {:.3} ms | {:.0} | {} | {} |",
                first.name,
                median(runs.iter().map(|f| p50(f)).collect()) * 1e3,
                median(runs.iter().map(|f| pct(&f.latencies, 0.99).as_secs_f64()).collect()) * 1e3,
                median(runs.iter().map(|f| f.throughput).collect()),
                per_p50.join(", "),
                per_tput.join(", "),
            );
        }
        if let Some(base) = all[0].iter().position(|f| f.name.starts_with("ngircd")) {
            let lat: Vec<f64> = all.iter().map(|r| p50(&r[0]) / p50(&r[base])).collect();
            let tput: Vec<f64> = all.iter().map(|r| r[0].throughput / r[base].throughput).collect();
            let list = |v: &[f64]| v.iter().map(|x| format!("{x:.2}x")).collect::<Vec<_>>().join(", ");
            println!(
                "\nDiSIMS vs ngircd, median of the per-round ratios: latency p50 {:.2}x (target <= 1.0x; rounds: {}), throughput {:.2}x (target >= 1.0x; rounds: {})",
                median(lat.clone()),
                list(&lat),
                median(tput.clone()),
                list(&tput)
            );
        }
        let Some((contact, bare)) = first else { return };
        println!("\n## First contact (20-node testnet, median of {contacts})\n");
        println!("| measure | time |");
        println!("| --- | --- |");
        println!("| PRIVMSG to a never-contacted peer until its client shows it | {} |", ms(contact));
        println!("| bare `get_mutable(..).next()` of the same record | {} |", ms(bare));
        println!("\nfirst contact vs bare lookup: {:.2}x (target <= 1.5x)", contact.as_secs_f64() / bare.as_secs_f64());
    });
}
