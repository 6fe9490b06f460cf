//! Relay benchmarks (issue 13), over 127.0.0.1, the relay ([`RelayServer`]) run as a process
//! of its own (this bench binary started again as a child) on a current-thread runtime, so
//! that it uses at most one core and its resident memory is its own:
//!
//! 1. round trip, direct TCP against a relay circuit and against a bare splice process (the
//!    floor of the shape: `copy_bidirectional`, nothing else): the DiSIMS handshake, then sealed
//!    session frames (64 B and 1 KiB plaintexts) echoed by the target, p50 and p99;
//! 2. throughput of one circuit against one direct TCP connection, raw bytes one way (the
//!    relay copies bytes; sealing is measured in section 1 of docs/performance.md), with the
//!    relay's rates raised so that they do not bind; then one circuit at the default rates;
//! 3. capacity: circuits set up per second (Connect, Incoming, Accept) from 16 targets'
//!    reservations, the relay's resident memory per idle circuit at [`RELAY_CIRCUITS`],
//!    and messages a second (64-byte ping-pong, raw) through [`RELAY_BUSY`] circuits at
//!    once, against the same load through the splice process.
//!
//! Control connections are sealed (version 2), as a gateway makes them; `RELAY_PLAIN=1`
//! measures the plain (version 1) form instead, for the set-up cost of each.
//!
//! Run: `cargo bench --bench relay` (about a minute). Options (environment): `RELAY_PINGS`
//! (default 2000 round trips after 200 warm-up ones), `RELAY_ROUNDS` (default 5: the three
//! paths take turns, and a ratio is the median of the per-round ratios), `RELAY_MIB` (default
//! 256 MiB per throughput run), `RELAY_CIRCUITS` (default 10000), `RELAY_BUSY` (default 1000).
//!
//! File descriptors: the relay holds two per circuit and this process two (the dialler's
//! and the target's ends), so 10,000 circuits need more than 20,000 in each process. Both
//! raise `RLIMIT_NOFILE` to what they need, hard limit included where that is allowed
//! (`CAP_SYS_RESOURCE`); where it is not, the bench measures as many circuits as fit (9,872
//! under a hard limit of 20,000) and says so, and the memory per circuit is extrapolated
//! linearly (the table shows it after each quarter of the set-up: it is flat). The relay's
//! figure is its own process's; the clients' sockets are in this one.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use disims::crypto::{MAX_DATA_RECORD, SessionKeys};
use disims::identity::PeerId;
use disims::peer::transport;
use disims::policy::relay::{CIRCUIT_RATE, RelayLimits, Serve, TOTAL_RATE};
use disims::relay::client::{self, Reservation};
use disims::relay::io::RelayIoError;
use disims::relay::server::RelayServer;
use disims::relay::wire::CircuitId;
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

/// Idle circuits held for the memory figure.
const RELAY_CIRCUITS: usize = 10_000;
/// Circuits carrying ping-pong at once for the messages-a-second figure.
const RELAY_BUSY: usize = 1000;
/// Targets holding a reservation in the capacity part (circuits go to them in turn).
const TARGETS: usize = 16;
/// Connects in flight at once while setting up circuits (the relay queues up to
/// `circuits_per_target` offers per target; 64 over 16 targets stays well under it).
const SETUP_CONCURRENCY: usize = 64;
/// Ports the relay listens on. Every connection here comes from 127.0.0.1; with one port,
/// 20,000 of them to one address and port leave the kernel searching the ephemeral range
/// for a free 4-tuple at each connect (set-up fell from ~1,700 to ~500 a second). Relays
/// on the internet see many source addresses; several ports give the same spread.
const PORTS: usize = 8;
/// Descriptors kept for everything but circuits (as `disims run` keeps 256).
const SPARE_FDS: u64 = 256;
const TIMEOUT: Duration = Duration::from_secs(60);
const RELAY_SEED: u8 = 9;
/// The environment variable that makes this binary the relay.
const CHILD: &str = "RELAY_BENCH_CHILD";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Raises `RLIMIT_NOFILE` to `want` (hard limit too, if allowed), else to the hard limit;
/// returns the soft limit now in force.
fn raise_fd_limit(want: u64) -> u64 {
    let (soft, hard) = rlimit::Resource::NOFILE.get().expect("getrlimit");
    if want > hard && rlimit::Resource::NOFILE.set(want, want).is_ok() {
        return want;
    }
    if soft < hard {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
    rlimit::Resource::NOFILE.get().expect("getrlimit").0
}

/// The relay's limits: circuits and rates out of the way ("raised"), or the defaults.
fn limits(kind: &str, circuits: usize) -> RelayLimits {
    match kind {
        "default" => RelayLimits::default(),
        _ => RelayLimits {
            reservations_total: 1024,
            reservations_per_prefix: 1024,
            circuits_total: circuits + 64,
            circuits_per_prefix: circuits + 64,
            circuits_per_target: circuits + 64,
            circuit_rate: 1e12,
            circuit_burst: 1e12,
            total_rate: 1e12,
            total_burst: 1e12,
            ..RelayLimits::default()
        },
    }
}

// --- The relay, as a child process ---------------------------------------------------------

/// The child: a relay on a current-thread runtime, its address on stdout, until stdin closes.
fn relay_child(kind: &str) {
    let circuits = env_or("RELAY_CIRCUITS", RELAY_CIRCUITS);
    raise_fd_limit(2 * circuits as u64 + SPARE_FDS);
    std::thread::spawn(|| {
        // The parent holds our stdin: when it goes, so do we.
        let _ = std::io::stdin().lock().read_line(&mut String::new());
        std::process::exit(0);
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if kind == "splice" {
        runtime.block_on(splice_child());
        return;
    }
    runtime.block_on(async {
        let relay = RelayServer::new(
            PeerId::of(&sk(RELAY_SEED)),
            limits(kind, circuits),
            Serve::Anyone,
            Box::new(|_| true),
        );
        // Several ports, one `serve` each (see [`PORTS`]).
        let mut addrs = Vec::new();
        for _ in 0..PORTS {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            addrs.push(listener.local_addr().expect("addr").to_string());
            tokio::spawn(
                relay
                    .clone()
                    .serve(listener, sk(RELAY_SEED), CancellationToken::new()),
            );
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", addrs.join(" ")).expect("stdout");
        out.flush().expect("stdout");
        drop(out);
        std::future::pending::<()>().await;
    });
}

/// The floor of the relay's shape: a process that joins each connection to a new one to
/// `RELAY_SPLICE_TO` and copies both ways (`tokio::io::copy_bidirectional`), nothing else.
async fn splice_child() {
    let to: SocketAddr = std::env::var("RELAY_SPLICE_TO")
        .ok()
        .and_then(|a| a.parse().ok())
        .expect("RELAY_SPLICE_TO");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", listener.local_addr().expect("addr")).expect("stdout");
    out.flush().expect("stdout");
    drop(out);
    while let Ok((mut a, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut b = TcpStream::connect(to).await.expect("connect");
            let _ = (a.set_nodelay(true), b.set_nodelay(true));
            let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
        });
    }
}

struct RelayProcess {
    child: Child,
    addr: SocketAddr,
    /// Every port it listens on (the relay: [`PORTS`]; the splice process: one).
    addrs: Vec<SocketAddr>,
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RelayProcess {
    fn start(kind: &str, circuits: usize) -> RelayProcess {
        Self::start_with(kind, circuits, "")
    }

    fn start_with(kind: &str, circuits: usize, splice_to: &str) -> RelayProcess {
        let mut child = Command::new(std::env::current_exe().expect("current_exe"))
            .env(CHILD, kind)
            .env("RELAY_SPLICE_TO", splice_to)
            .env("RELAY_CIRCUITS", circuits.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the relay");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the relay's address");
        let addrs: Vec<SocketAddr> = line
            .split_whitespace()
            .map(|a| a.parse().expect("an address"))
            .collect();
        RelayProcess {
            child,
            addr: addrs[0],
            addrs,
        }
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id())).unwrap_or_default()
    }

    /// Resident memory in KiB (`/proc/<pid>/statm`, resident pages of 4 KiB).
    fn rss_kib(&self) -> u64 {
        let statm = self.proc_file("statm");
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|f| f.parse().ok())
            .unwrap_or(0);
        pages * 4
    }

    /// Open file descriptors.
    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// CPU time used so far (user + system), in clock ticks (100 a second).
    fn cpu_ticks(&self) -> u64 {
        let stat = self.proc_file("stat");
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let get = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        get(11).unwrap_or(0) + get(12).unwrap_or(0)
    }
}

// --- Targets and circuits ------------------------------------------------------------------

/// The one call that waits for the relay's next offer (the client API for it may change).
async fn next_circuit(r: &mut Reservation) -> Result<(CircuitId, SocketAddr), RelayIoError> {
    loop {
        if let disims::relay::client::RelayEvent::Incoming { circuit, from } =
            r.next_event().await?
        {
            return Ok((circuit, from));
        }
    }
}

/// Whether control connections are plain (`RELAY_PLAIN=1`) rather than sealed.
fn plain() -> bool {
    std::env::var_os("RELAY_PLAIN").is_some_and(|v| v == "1")
}

fn relay_id() -> PeerId {
    PeerId::of(&sk(RELAY_SEED))
}

/// A Connect to `target` at `addr`, sealed or plain ([`plain`]).
async fn connect(addr: SocketAddr, target: PeerId) -> Result<TcpStream, RelayIoError> {
    match plain() {
        true => client::connect(addr, target).await,
        false => client::connect_sealed(addr, relay_id(), target, Default::default()).await,
    }
}

/// A target: reserves at the relay with `key` and accepts every circuit offered, passing on
/// its end of each one.
async fn target(addrs: &[SocketAddr], key: SigningKey) -> mpsc::UnboundedReceiver<TcpStream> {
    let (addr, addrs) = (addrs[0], addrs.to_vec());
    let stream = TcpStream::connect(addr)
        .await
        .expect("connect to the relay");
    let mut reservation = match plain() {
        true => client::reserve(stream, &key, Some(relay_id())).await,
        false => client::reserve_sealed(stream, &key, Some(relay_id()), Default::default()).await,
    }
    .expect("reserve");
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut port = 0;
        while let Ok((circuit, _)) = next_circuit(&mut reservation).await {
            let tx = tx.clone();
            // The Accept goes to any of the relay's ports, in turn.
            let addr = addrs[port % addrs.len()];
            port += 1;
            let key = key.clone();
            tokio::spawn(async move {
                let stream = match plain() {
                    true => client::accept(addr, circuit).await,
                    false => {
                        let obfs = Default::default();
                        client::accept_sealed(addr, relay_id(), &key, circuit, obfs).await
                    }
                }
                .expect("accept");
                let _ = tx.send(stream);
            });
        }
    });
    rx
}

/// A circuit to `target_key`: the dialler's end and the target's end.
async fn circuit(
    addr: SocketAddr,
    target_key: PeerId,
    accepted: &mut mpsc::UnboundedReceiver<TcpStream>,
) -> (TcpStream, TcpStream) {
    let dialler = connect(addr, target_key).await.expect("connect");
    let target = accepted.recv().await.expect("the target's end");
    (dialler, target)
}

/// A direct TCP connection on loopback: both ends, `TCP_NODELAY` as the relay's.
async fn direct() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (a, (b, _)) = (a.expect("connect"), b.expect("accept"));
    a.set_nodelay(true).expect("nodelay");
    b.set_nodelay(true).expect("nodelay");
    (a, b)
}

/// Through the splice process: the dialler's end and the target's end.
async fn spliced() -> (TcpStream, TcpStream, RelayProcess) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let to = listener.local_addr().expect("addr").to_string();
    let splice = RelayProcess::start_with("splice", 0, &to);
    let a = TcpStream::connect(splice.addr).await.expect("connect");
    a.set_nodelay(true).expect("nodelay");
    let (b, _) = listener.accept().await.expect("accept");
    b.set_nodelay(true).expect("nodelay");
    (a, b, splice)
}

// --- 1. Round trips: handshake and sealed frames -------------------------------------------

struct Session {
    stream: TcpStream,
    keys: SessionKeys,
    body: Vec<u8>,
    out: Vec<u8>,
}

impl Session {
    async fn send(&mut self, plaintext: &[u8]) {
        self.out.clear();
        self.keys
            .sealer
            .seal_into(plaintext, &mut self.out)
            .expect("seal");
        self.stream.write_all(&self.out).await.expect("write");
    }

    /// The next frame's plaintext length; `None` at the end of the stream.
    async fn recv(&mut self, into: &mut Vec<u8>) -> Option<usize> {
        transport::read_record(&mut self.stream, MAX_DATA_RECORD, &mut self.body)
            .await
            .ok()?;
        let plain = self.keys.opener.open(&mut self.body).expect("open");
        into.clear();
        into.extend_from_slice(plain);
        Some(plain.len())
    }
}

/// The DiSIMS handshake over both ends of a stream pair (dialler initiates).
async fn handshake(a: TcpStream, b: TcpStream) -> (Session, Session) {
    let (dialler, target) = (sk(2), sk(1));
    let (mut a, mut b) = (a, b);
    let (ka, kb) = tokio::join!(
        transport::initiate(&mut a, &dialler, PeerId::of(&target)),
        transport::respond(&mut b, &target, Default::default()),
    );
    let session = |stream, keys| Session {
        stream,
        keys,
        body: Vec::new(),
        out: Vec::new(),
    };
    (
        session(a, ka.expect("initiate")),
        session(b, kb.expect("respond")),
    )
}

/// Ping-pong of `size`-byte plaintexts, the target echoing; sorted round-trip times.
async fn round_trips(a: TcpStream, b: TcpStream, size: usize, n: usize) -> Vec<Duration> {
    let (mut dialler, mut target) = handshake(a, b).await;
    let echo = tokio::spawn(async move {
        let mut plain = Vec::new();
        while target.recv(&mut plain).await.is_some() {
            target.send(&plain).await;
        }
    });
    let payload = vec![0x5a; size];
    let mut back = Vec::new();
    let mut rtts = Vec::with_capacity(n);
    for i in 0..(n + n / 10) {
        let started = Instant::now();
        dialler.send(&payload).await;
        assert_eq!(dialler.recv(&mut back).await, Some(size));
        if i >= n / 10 {
            rtts.push(started.elapsed()); // the first tenth warms up
        }
    }
    drop(dialler);
    let _ = echo.await;
    rtts.sort();
    rtts
}

// --- 2. Throughput -------------------------------------------------------------------------

/// Sends `bytes` one way from `a` to `b` in 64 KiB writes; MiB/s until the last arrives.
async fn throughput(a: TcpStream, b: TcpStream, bytes: usize) -> f64 {
    let (mut a, mut b) = (a, b);
    let started = Instant::now();
    let sender = tokio::spawn(async move {
        let chunk = vec![0xa5u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            a.write_all(&chunk[..n]).await.expect("write");
            left -= n;
        }
        a
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0;
    while got < bytes {
        let n = b.read(&mut buf).await.expect("read");
        assert!(n > 0, "the stream ended early");
        got += n;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(sender.await);
    bytes as f64 / secs / (1024.0 * 1024.0)
}

/// Bytes a second one circuit carries for `window` when the sender never pauses.
async fn paced(a: TcpStream, b: TcpStream, window: Duration) -> f64 {
    let (mut a, mut b) = (a, b);
    let sender = tokio::spawn(async move {
        let chunk = vec![0xa5u8; 64 * 1024];
        while a.write_all(&chunk).await.is_ok() {}
    });
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    let started = Instant::now();
    let _ = tokio::time::timeout(window, async {
        while let Ok(n @ 1..) = b.read(&mut buf).await {
            got += n as u64;
        }
    })
    .await;
    let rate = got as f64 / started.elapsed().as_secs_f64();
    sender.abort();
    rate
}

// --- 3. Capacity ---------------------------------------------------------------------------

/// Echoes whatever arrives until the stream ends.
async fn echo_raw(mut s: TcpStream) {
    let mut buf = [0u8; 256];
    while let Ok(n @ 1..) = s.read(&mut buf).await {
        if s.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// 64-byte ping-pong on every stream at once (echoed at the other end) for 3 s after 0.5 s
/// of warm-up: messages a second (two a round trip) and the CPU share of `through`.
async fn ping_pong_load(streams: Vec<TcpStream>, through: &RelayProcess) -> (f64, f64) {
    let stop = CancellationToken::new();
    let round_trips = Arc::new(AtomicU64::new(0));
    let mut pingers = Vec::new();
    for mut s in streams {
        let (stop, round_trips) = (stop.clone(), round_trips.clone());
        pingers.push(tokio::spawn(async move {
            let (ping, mut pong) = ([7u8; 64], [0u8; 64]);
            while !stop.is_cancelled() {
                s.write_all(&ping).await.expect("write");
                s.read_exact(&mut pong).await.expect("read");
                round_trips.fetch_add(1, Ordering::Relaxed);
            }
            // Closed with a reset: no TIME_WAIT holding an ephemeral port for a minute.
            let _ = s.set_zero_linger();
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (started, ticks, before) = (
        Instant::now(),
        through.cpu_ticks(),
        round_trips.load(Ordering::Relaxed),
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let trips = round_trips.load(Ordering::Relaxed) - before;
    let (secs, ticks) = (started.elapsed().as_secs_f64(), through.cpu_ticks() - ticks);
    stop.cancel();
    for p in pingers {
        p.await.expect("pinger");
    }
    (2.0 * trips as f64 / secs, cpu_share(ticks, secs))
}

/// The same load through the bare splice process: the floor for messages a second.
async fn splice_load(busy: usize) -> (f64, f64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let to = listener.local_addr().expect("addr").to_string();
    let splice = RelayProcess::start_with("splice", 0, &to);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(echo_raw(s));
        }
    });
    let mut streams = Vec::with_capacity(busy);
    for _ in 0..busy {
        let s = TcpStream::connect(splice.addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        streams.push(s);
    }
    ping_pong_load(streams, &splice).await
}

struct Capacity {
    circuits: usize,
    setup_secs: f64,
    setup_cpu: f64,
    /// (circuits held, relay RSS in KiB, seconds the quarter took to set up).
    rss: Vec<(usize, u64, f64)>,
    rss_closed: u64,
    /// The relay's descriptors with every circuit held, and after all closed.
    fds: (usize, usize),
    busy: usize,
    messages_per_sec: f64,
    busy_cpu: f64,
    /// Messages a second and CPU share of the bare splice process under the same load.
    splice: (f64, f64),
}

fn cpu_share(ticks: u64, secs: f64) -> f64 {
    ticks as f64 / 100.0 / secs
}

async fn capacity(circuits: usize, busy: usize) -> Capacity {
    let relay = RelayProcess::start("raised", circuits);
    let addrs = relay.addrs.clone();
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut keys = Vec::new();
    for t in 0..TARGETS {
        let key = sk(100 + t as u8);
        keys.push(PeerId::of(&key));
        let mut ends = target(&addrs, key).await;
        let accepted = accepted.clone();
        tokio::spawn(async move {
            while let Some(s) = ends.recv().await {
                accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(echo_raw(s));
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut rss = vec![(0, relay.rss_kib(), 0.0)];
    let limit = Arc::new(Semaphore::new(SETUP_CONCURRENCY));
    let mut diallers: Vec<TcpStream> = Vec::with_capacity(circuits);
    let (mut setup, mut setup_ticks) = (Duration::ZERO, 0);
    // Four quarters, the relay's memory measured after each.
    for quarter in 1..=4 {
        let upto = circuits * quarter / 4;
        let (started, ticks) = (Instant::now(), relay.cpu_ticks());
        let mut tasks = Vec::new();
        for i in diallers.len()..upto {
            let permit = limit.clone().acquire_owned().await.expect("semaphore");
            let (target_key, addr) = (keys[i % TARGETS], addrs[i % addrs.len()]);
            tasks.push(tokio::spawn(async move {
                let s = connect(addr, target_key).await.expect("connect");
                drop(permit);
                s
            }));
        }
        for t in tasks {
            diallers.push(t.await.expect("dialler"));
        }
        while accepted.load(Ordering::Relaxed) < upto {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let took = started.elapsed();
        setup += took;
        setup_ticks += relay.cpu_ticks() - ticks;
        tokio::time::sleep(Duration::from_millis(300)).await;
        rss.push((upto, relay.rss_kib(), took.as_secs_f64()));
    }
    let fds_held = relay.fds();
    // Ping-pong through `busy` circuits at once.
    let busy = busy.min(diallers.len());
    let load: Vec<TcpStream> = diallers.drain(..busy).collect();
    let (messages_per_sec, busy_cpu) = ping_pong_load(load, &relay).await;
    // Close every circuit; what the relay keeps afterwards.
    for d in &diallers {
        let _ = d.set_zero_linger();
    }
    drop(diallers);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let setup_secs = setup.as_secs_f64();
    Capacity {
        circuits,
        setup_secs,
        setup_cpu: cpu_share(setup_ticks, setup_secs),
        rss,
        rss_closed: relay.rss_kib(),
        fds: (fds_held, relay.fds()),
        busy,
        messages_per_sec,
        busy_cpu,
        splice: splice_load(busy).await,
    }
}

// --- Report --------------------------------------------------------------------------------

fn pct(v: &[Duration], p: f64) -> Duration {
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const PATHS: [&str; 3] = [
    "direct TCP",
    "RelayServer circuit",
    "bare splice process (floor)",
];

fn main() {
    if let Ok(kind) = std::env::var(CHILD) {
        relay_child(&kind);
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is understood.
    let pings = env_or("RELAY_PINGS", 2000);
    let rounds = env_or("RELAY_ROUNDS", 5).max(1);
    let mib = env_or("RELAY_MIB", 256);
    let wanted = env_or("RELAY_CIRCUITS", RELAY_CIRCUITS);
    let busy = env_or("RELAY_BUSY", RELAY_BUSY);
    let fds = raise_fd_limit(2 * wanted as u64 + SPARE_FDS);
    let circuits = wanted.min((fds.saturating_sub(SPARE_FDS) / 2) as usize);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async move {
        let relay = RelayProcess::start("raised", 64);
        let addr = relay.addr;
        let target_key = PeerId::of(&sk(1));
        let mut ends = target(&[addr], sk(1)).await;

        // 1 and 2: direct, relayed and spliced in turn, `rounds` times.
        let sizes = [64usize, 1024];
        // [size][path] -> per-round sorted round trips; [path] -> per-round MiB/s.
        let mut rtts = vec![[Vec::new(), Vec::new(), Vec::new()]; sizes.len()];
        let mut tput = [Vec::new(), Vec::new(), Vec::new()];
        for round in 0..rounds {
            eprintln!("round {}: round trips and throughput...", round + 1);
            for (s, &size) in sizes.iter().enumerate() {
                let (a, b) = direct().await;
                rtts[s][0].push(round_trips(a, b, size, pings).await);
                let (a, b) = circuit(addr, target_key, &mut ends).await;
                rtts[s][1].push(round_trips(a, b, size, pings).await);
                let (a, b, _splice) = spliced().await;
                rtts[s][2].push(round_trips(a, b, size, pings).await);
            }
            let (a, b) = direct().await;
            tput[0].push(throughput(a, b, mib << 20).await);
            let (a, b) = circuit(addr, target_key, &mut ends).await;
            tput[1].push(throughput(a, b, mib << 20).await);
            let (a, b, _splice) = spliced().await;
            tput[2].push(throughput(a, b, mib << 20).await);
        }
        drop(relay);

        eprintln!("one circuit at the default rates (3 s)...");
        let relay = RelayProcess::start("default", 64);
        let mut ends_default = target(&[relay.addr], sk(1)).await;
        let (a, b) = circuit(relay.addr, target_key, &mut ends_default).await;
        let default_rate = paced(a, b, Duration::from_secs(3)).await;
        drop(relay);

        eprintln!("capacity: {circuits} circuits...");
        let cap = tokio::time::timeout(TIMEOUT * 5, capacity(circuits, busy))
            .await
            .expect("the capacity part took too long");

        // The tables.
        let per_round = |v: &[f64], unit: &str| {
            v.iter()
                .map(|x| format!("{x:.2}{unit}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!();
        println!(
            "Round trips (handshake, then sealed frames echoed), {pings} per run, median of {rounds} rounds:"
        );
        println!();
        println!("| plaintext | path | p50 | p99 | p50 / direct p50 | per round |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for (s, &size) in sizes.iter().enumerate() {
            for (path, name) in PATHS.iter().enumerate() {
                let mid = |p: f64| {
                    let v: Vec<f64> = rtts[s][path]
                        .iter()
                        .map(|r| pct(r, p).as_secs_f64())
                        .collect();
                    us(Duration::from_secs_f64(median(v)))
                };
                let ratios: Vec<f64> = (0..rounds)
                    .map(|r| {
                        pct(&rtts[s][path][r], 0.5).as_secs_f64()
                            / pct(&rtts[s][0][r], 0.5).as_secs_f64()
                    })
                    .collect();
                println!(
                    "| {size} B | {name} | {} | {} | **{:.2}x** | {} |",
                    mid(0.5),
                    mid(0.99),
                    median(ratios.clone()),
                    per_round(&ratios, "x")
                );
            }
        }
        println!();
        println!("Throughput, raw bytes one way in 64 KiB writes, {mib} MiB per run:");
        println!();
        println!("| path | MiB/s | / direct | MiB/s per round |");
        println!("| --- | --- | --- | --- |");
        for (path, name) in PATHS.iter().enumerate() {
            let ratios: Vec<f64> = (0..rounds).map(|r| tput[path][r] / tput[0][r]).collect();
            println!(
                "| {name}{} | {:.0} | {:.2}x | {} |",
                if path == 1 { " (rates raised)" } else { "" },
                median(tput[path].clone()),
                median(ratios),
                per_round(&tput[path], "")
            );
        }
        println!(
            "| RelayServer circuit, default limits (3 s, burst included) | {:.3} | | per-circuit rate {} KiB/s, all circuits {} MiB/s |",
            default_rate / (1024.0 * 1024.0),
            CIRCUIT_RATE / 1024.0,
            TOTAL_RATE / (1024.0 * 1024.0)
        );
        println!();
        let extrapolated = cap.circuits < wanted;
        println!(
            "Capacity ({} circuits{}; the relay on one thread, the clients in this process):",
            cap.circuits,
            if extrapolated {
                format!(", not {wanted}: RLIMIT_NOFILE is {fds}")
            } else {
                String::new()
            }
        );
        println!();
        println!("| measure | value |");
        println!("| --- | --- |");
        println!(
            "| circuits set up | {:.0} a second ({:.2} s; relay CPU {:.0}% of one core, {:.1} µs a circuit) |",
            cap.circuits as f64 / cap.setup_secs,
            cap.setup_secs,
            cap.setup_cpu * 100.0,
            cap.setup_cpu * cap.setup_secs / cap.circuits as f64 * 1e6
        );
        let base = cap.rss[0].1;
        for &(n, kib, secs) in &cap.rss[1..] {
            println!(
                "| relay RSS with {n} idle circuits, minus before | {:.1} MiB ({:.1} KiB a circuit; this quarter set up in {secs:.2} s) |",
                (kib - base) as f64 / 1024.0,
                (kib - base) as f64 / n as f64
            );
        }
        let (n, kib, _) = *cap.rss.last().expect("rss");
        if extrapolated {
            println!(
                "| extrapolated to {wanted} circuits | {:.1} MiB |",
                (kib - base) as f64 / n as f64 * wanted as f64 / 1024.0
            );
        }
        println!(
            "| relay RSS before any circuit / after all closed | {:.1} / {:.1} MiB ({} / {} descriptors open) |",
            base as f64 / 1024.0,
            cap.rss_closed as f64 / 1024.0,
            cap.fds.0,
            cap.fds.1
        );
        println!(
            "| messages through {} circuits at once (64 B ping-pong, 3 s) | {:.0} a second (relay CPU {:.0}% of one core, {:.1} µs a message) |",
            cap.busy,
            cap.messages_per_sec,
            cap.busy_cpu * 100.0,
            cap.busy_cpu / cap.messages_per_sec * 1e6
        );
        println!(
            "| the same through the bare splice process (floor) | {:.0} a second (its CPU {:.0}% of one core, {:.1} µs a message) |",
            cap.splice.0,
            cap.splice.1 * 100.0,
            cap.splice.1 / cap.splice.0 * 1e6
        );
    });
}
