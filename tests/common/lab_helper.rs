//! The NAT lab's helper services (tests/common/nat.rs): the test binary, run again inside
//! a lab namespace with [`HELPER_ENV`] set, becomes a small service there (a `whoami`
//! server, a client, a STUN server, a port-mapping client, a bridge for a gateway's IRC
//! port, a flood of a relay). Each test file of the lab has a test named `lab_helper` that calls
//! [`helper_main`] and does nothing otherwise.

use std::process::Command;

/// The environment variable that turns the test binary, run again inside a namespace by
/// [`helper`], into a small lab service (see [`helper_main`]).
pub const HELPER_ENV: &str = "DISIMS_LAB_HELPER";

/// This test binary, run inside `host`'s namespace as the helper `role` (the test file
/// must have a test named `lab_helper` that calls [`helper_main`]):
/// - `whoami ADDR`: a TCP server on ADDR that writes each client's address and closes;
/// - `ask ADDR`: connects to ADDR, prints `local=L seen=S` and exits;
/// - `stun ADDR`: a STUN server (RFC 5389 binding responses) on UDP ADDR;
/// - `portmap PORT [natpmp|upnp]`: maps TCP PORT on the default gateway with DiSIMS's
///   client (PCP, else NAT-PMP, else UPnP-IGD; only the one named if asked), prints `mapped EXTERNAL PROTOCOL` (or
///   `failed ERROR`) and stays until killed;
/// - `bridge PATH ADDR`: listens on the Unix socket PATH and joins each connection to a
///   new TCP connection to ADDR (in the namespace): see [`tcp_into`];
/// - `relayflood ADDR RESERVATIONS CIRCUITS STALLS [KEY...]`: floods the relay at ADDR
///   from this host (and its users KEY, nicks), holds what it was granted and prints a
///   summary: see [`relay_flood`].
///
/// Each prints its first line (`lab: ready ...`, or the answer) on stdout; [`start`] waits
/// for it.
pub fn helper(host_ns: &str, role: &str) -> Command {
    let exe = std::env::current_exe().expect("the test binary");
    let mut c = Command::new("ip");
    c.args(["netns", "exec", host_ns])
        .arg(exe)
        .args(["--exact", "lab_helper", "--nocapture", "--test-threads=1"])
        .env(HELPER_ENV, role);
    c
}

/// Starts [`helper`] `role` in `host_ns` and returns it (killed on drop) with its first
/// line, `lab: ` removed.
pub fn start(
    host_ns: &str,
    role: &str,
    stderr: &std::path::Path,
) -> (super::process::Process, String) {
    let (process, line) =
        super::process::Process::start_at(helper(host_ns, role), stderr, |l| l.contains("lab: "));
    // The harness may print `test lab_helper ... ` on the same line first.
    let answer = line.split_once("lab: ").map(|(_, a)| a).unwrap_or_default();
    (process, answer.to_string())
}

/// What the `lab_helper` test runs: nothing unless [`HELPER_ENV`] is set.
pub fn helper_main() {
    let Ok(role) = std::env::var(HELPER_ENV) else {
        return;
    };
    let mut words = role.split_whitespace();
    let (kind, addr) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    match kind {
        "whoami" => whoami(addr),
        "ask" => ask(addr),
        "stun" => stun(addr),
        "portmap" => portmap(addr, words.next().unwrap_or("")),
        "bridge" => bridge(addr, words.next().unwrap_or("")),
        "relayflood" => {
            let mut number = |what: &str| -> usize {
                let word = words.next().unwrap_or("");
                word.parse()
                    .unwrap_or_else(|_| panic!("relayflood: {what}: {word:?}"))
            };
            let reservations = number("reservations");
            let circuits = number("circuits");
            let stalls = number("stalls");
            let victims = words
                .map(|nick| {
                    disims::identity::PeerId::from_nick(nick)
                        .unwrap_or_else(|e| panic!("relayflood: key {nick:?}: {e}"))
                })
                .collect();
            relay_flood(addr, reservations, circuits, stalls, victims)
        }
        other => panic!("unknown lab helper {other:?}"),
    }
}

fn portmap(port: &str, only: &str) {
    let port: u16 = port.parse().expect("portmap: port");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("portmap: runtime");
    runtime.block_on(async {
        let result = match disims::net::portmap::Client::for_default_gateway() {
            Ok(client) if only == "natpmp" => client.natpmp_only().map(port).await,
            Ok(client) if only == "upnp" => client.upnp_only().map(port).await,
            Ok(mut client) => client.map(port).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(m) => println!("lab: mapped {} {}", m.external, m.protocol),
            Err(e) => println!("lab: failed {e}"),
        }
    });
    loop {
        std::thread::park();
    }
}

fn bridge(path: &str, target: &str) {
    let listener = std::os::unix::net::UnixListener::bind(path).expect("bridge: bind");
    println!("lab: ready {path}");
    for unix in listener.incoming().flatten() {
        let Ok(tcp) = std::net::TcpStream::connect(target) else {
            continue;
        };
        let (Ok(mut unix_r), Ok(mut tcp_w)) = (unix.try_clone(), tcp.try_clone()) else {
            continue;
        };
        let (mut unix_w, mut tcp_r) = (unix, tcp);
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut unix_r, &mut tcp_w);
            let _ = tcp_w.shutdown(std::net::Shutdown::Write);
        });
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut tcp_r, &mut unix_w);
            let _ = unix_w.shutdown(std::net::Shutdown::Write);
        });
    }
}

/// A TCP address on this (root) namespace's loopback that leads to `target` inside
/// `host_ns` (e.g. a gateway's IRC listener on the namespace's own 127.0.0.1): through a
/// Unix socket in `dir` (the file system is shared across network namespaces) and a
/// [`helper`] `bridge` inside. Keep the returned process (the bridge) alive while needed.
pub async fn tcp_into(
    host_ns: &str,
    target: std::net::SocketAddr,
    dir: &std::path::Path,
    name: &str,
) -> (super::process::Process, std::net::SocketAddr) {
    let path = dir.join(format!("{name}.sock"));
    let (process, _) = start(
        host_ns,
        &format!("bridge {} {target}", path.display()),
        &dir.join(format!("{name}.bridge.err")),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bridge listener");
    let addr = listener.local_addr().expect("bridge address");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let path = path.clone();
            tokio::spawn(async move {
                if let Ok(mut unix) = tokio::net::UnixStream::connect(&path).await {
                    let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                }
            });
        }
    });
    (process, addr)
}

fn whoami(addr: &str) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind(addr).expect("whoami: bind");
    println!(
        "lab: ready {}",
        listener.local_addr().expect("whoami: address")
    );
    for mut stream in listener.incoming().flatten() {
        if let Ok(peer) = stream.peer_addr() {
            let _ = writeln!(stream, "{peer}");
        }
    }
}

fn ask(addr: &str) {
    use std::io::Read;
    let addr: std::net::SocketAddr = addr.parse().expect("ask: address");
    let mut stream = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3))
        .expect("ask: connect");
    let local = stream.local_addr().expect("ask: local address");
    let mut seen = String::new();
    let _ = stream.read_to_string(&mut seen);
    println!("lab: local={local} seen={}", seen.trim());
}

/// A STUN server that answers every Binding request with XOR-MAPPED-ADDRESS and
/// MAPPED-ADDRESS (miniupnpd 2.3.1 reads either) for its source address.
fn stun(addr: &str) {
    let socket = std::net::UdpSocket::bind(addr).expect("stun: bind");
    println!("lab: ready {}", socket.local_addr().expect("stun: address"));
    let mut buf = [0u8; 1500];
    while let Ok((n, from)) = socket.recv_from(&mut buf) {
        if let Some(reply) = stun_reply(&buf[..n], from) {
            let _ = socket.send_to(&reply, from);
        }
    }
}

/// The Binding success response to a Binding request `req` from `from` (IPv4 only).
pub fn stun_reply(req: &[u8], from: std::net::SocketAddr) -> Option<Vec<u8>> {
    const MAGIC: u32 = 0x2112_A442;
    if req.len() < 20 || req[0..2] != [0x00, 0x01] {
        return None;
    }
    let std::net::SocketAddr::V4(from) = from else {
        return None;
    };
    let transaction = &req[4..20];
    let mut attrs = Vec::new();
    // MAPPED-ADDRESS
    attrs.extend_from_slice(&[0x00, 0x01, 0x00, 0x08, 0x00, 0x01]);
    attrs.extend_from_slice(&from.port().to_be_bytes());
    attrs.extend_from_slice(&from.ip().octets());
    // XOR-MAPPED-ADDRESS
    attrs.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
    attrs.extend_from_slice(&(from.port() ^ (MAGIC >> 16) as u16).to_be_bytes());
    attrs.extend_from_slice(&(u32::from(*from.ip()) ^ MAGIC).to_be_bytes());
    let mut reply = vec![0x01, 0x01];
    reply.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    reply.extend_from_slice(transaction);
    reply.extend_from_slice(&attrs);
    Some(reply)
}

/// How long [`relay_flood`] may take before it prints its summary (each step has a shorter
/// timeout of its own; [`super::process::Process::start_at`] waits [`super::WAIT`]).
const FLOOD_TIME: std::time::Duration = std::time::Duration::from_secs(15);
/// How long one connection of the flood may wait for the relay's answer (a circuit waits
/// at most the relay's Accept wait, 10 s).
const FLOOD_ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(12);
/// How long the flood holds what it got after its summary, unless killed sooner.
const FLOOD_HOLD: std::time::Duration = std::time::Duration::from_secs(600);

/// Outcomes of one kind of request: how many of each answer (`ok`, a status code's
/// number, or `io` when the connection failed without a status).
#[derive(Default)]
struct Tally(std::collections::BTreeMap<String, usize>);

impl Tally {
    fn add(&mut self, outcome: String) {
        *self.0.entry(outcome).or_insert(0) += 1;
    }

    fn of_error(e: &disims::relay::io::RelayIoError) -> String {
        use disims::relay::io::RelayIoError;
        match e {
            RelayIoError::Refused(code, _) => code.to_byte().to_string(),
            RelayIoError::Timeout => "timeout".into(),
            RelayIoError::Unexpected => "unexpected".into(),
            _ => "io".into(),
        }
    }

    fn show(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        let words: Vec<String> = self.0.iter().map(|(k, n)| format!("{k}={n}")).collect();
        words.join(" ")
    }
}

/// A flood of the relay at `addr` from this host (lab scenario 6):
/// 1. `reservations` reservations, one after the other, each by a fresh key (Reserve,
///    Challenge, Proof); those granted are held (pinged, their offered circuits accepted);
/// 2. `circuits` Connects to the keys it holds (spread over them), and as many to random
///    keys, one after the other; the circuits joined are held open (idle);
/// 3. `stalls` connections that send a Reserve and never answer the Challenge;
/// 4. for each of `victims` (users of the relay): `circuits` Connects, one after the
///    other, each joined circuit held open and silent (the user's gateway gives up on it:
///    no handshake comes); once the relay has passed each end on (`ended`), Connects again
///    every 250 ms until one is joined (`again`) or 10 s have passed (`never`): the
///    circuits the user closed are freed, not held while the flood keeps its side open.
///
/// Then it prints one line, each part `OUTCOME=N` with the outcome `ok` (`challenged` for a
/// stall), a status code's number, `io` (no status) or `timeout`, e.g. `lab: flood reserve
/// 11=36 ok=4 | connect 11=16 20=48 ok=32 | stall 11=92 challenged=8 | victim ok=32 11=16
/// ended=32 again=1` (the last part only with victims; `flood timed out`
/// after [`FLOOD_TIME`]), and holds everything until killed (at most [`FLOOD_HOLD`]).
pub fn relay_flood(
    addr: &str,
    reservations: usize,
    circuits: usize,
    stalls: usize,
    victims: Vec<disims::identity::PeerId>,
) {
    let relay: std::net::SocketAddr = addr.parse().expect("relayflood: address");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("relayflood: runtime");
    runtime.block_on(async move {
        let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let summary = tokio::time::timeout(
            FLOOD_TIME,
            flood(relay, reservations, circuits, stalls, victims, held.clone()),
        )
        .await
        .unwrap_or_else(|_| "timed out".into());
        println!("lab: flood {summary}");
        tokio::time::sleep(FLOOD_HOLD).await;
        drop(held);
    });
}

/// What the flood keeps open: its joined circuits and stalled Reserves (each reservation is
/// held by a task of its own, [`hold_reservation`]).
type Held = std::sync::Arc<std::sync::Mutex<Vec<tokio::net::TcpStream>>>;

/// Held by a connection of the flood from its connect until its first record is written,
/// so that they reach the relay one at a time up to there: the gateway's accept loop keeps
/// few connections per address waiting for a first record (evicting the oldest), and this
/// flood is about the relay's budgets, not that one. (Requests are also sent one after the
/// other, each answered first: a concurrent flood from one address loses connections to
/// that eviction under load, which only blurs the relay's figures.)
type Gate = std::sync::Arc<tokio::sync::Mutex<()>>;

/// A new connection to `relay` whose first record is `first`, written under `gate`.
async fn open_with(
    relay: std::net::SocketAddr,
    first: &disims::relay::wire::RelayMessage,
    gate: &Gate,
) -> Result<tokio::net::TcpStream, disims::relay::io::RelayIoError> {
    let _one_at_a_time = gate.lock().await;
    let mut stream = tokio::net::TcpStream::connect(relay).await?;
    let _ = stream.set_nodelay(true);
    disims::relay::io::write_message(&mut stream, first).await?;
    Ok(stream)
}

async fn flood(
    relay: std::net::SocketAddr,
    reservations: usize,
    circuits: usize,
    stalls: usize,
    victims: Vec<disims::identity::PeerId>,
    held: Held,
) -> String {
    use disims::identity::{PeerId, random_bytes};
    use disims::relay::io::{expect_ok, read_message};
    use disims::relay::wire::RelayMessage;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpStream;

    let gate = Gate::default();

    let fresh = || {
        ed25519_dalek::SigningKey::from_bytes(&random_bytes::<32>().expect("relayflood: random"))
    };
    let keep = |stream: TcpStream| held.lock().unwrap_or_else(|p| p.into_inner()).push(stream);

    // 1. Reservations by fresh keys, held.
    let mut reserve = Tally::default();
    let mut targets = Vec::new();
    for _ in 0..reservations {
        let key = fresh();
        let attempt = async {
            let _one_at_a_time = gate.lock().await;
            let stream = TcpStream::connect(relay).await?;
            disims::relay::client::reserve(stream, &key, None).await
        };
        match tokio::time::timeout(FLOOD_ANSWER_WAIT, attempt).await {
            Ok(Ok(reservation)) => {
                reserve.add("ok".into());
                targets.push(PeerId::of(&key));
                let (held, gate) = (held.clone(), gate.clone());
                tokio::spawn(hold_reservation(relay, reservation, held, gate));
            }
            Ok(Err(e)) => reserve.add(Tally::of_error(&e)),
            Err(_) => reserve.add("timeout".into()),
        }
    }

    // A Connect, answered before the next (the relay's budgets bind, not the accept loop's:
    // see [`Gate`]; the flood's own Accepts come in between): the joined stream, or the
    // outcome as tallied.
    let connect_to = |target: PeerId| {
        let gate = gate.clone();
        async move {
            let message = RelayMessage::Connect { target };
            let attempt = async {
                let mut stream = open_with(relay, &message, &gate).await?;
                expect_ok(&mut stream).await?;
                Ok::<_, disims::relay::io::RelayIoError>(stream)
            };
            match tokio::time::timeout(FLOOD_ANSWER_WAIT, attempt).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(e)) => Err(Tally::of_error(&e)),
                Err(_) => Err("timeout".to_string()),
            }
        }
    };

    // 2. Circuits to the keys held (the flood's own targets accept), and to random keys.
    let mut connect = Tally::default();
    for i in 0..circuits * 2 {
        let target = match targets.get(i % targets.len().max(1)) {
            Some(t) if i < circuits => *t,
            _ => PeerId::of(&fresh()),
        };
        match connect_to(target).await {
            Ok(stream) => {
                connect.add("ok".into());
                keep(stream);
            }
            Err(outcome) => connect.add(outcome),
        }
    }

    // 3. Reserves whose Challenge is never answered.
    let mut stall = Tally::default();
    for _ in 0..stalls {
        let target = PeerId::of(&fresh());
        let attempt = async {
            let mut stream = open_with(relay, &RelayMessage::Reserve { target }, &gate).await?;
            let answer = read_message(&mut stream).await?;
            Ok::<_, disims::relay::io::RelayIoError>((stream, answer))
        };
        match tokio::time::timeout(FLOOD_ANSWER_WAIT, attempt).await {
            Ok(Ok((stream, RelayMessage::Challenge { .. }))) => {
                stall.add("challenged".into());
                keep(stream);
            }
            Ok(Ok((_, RelayMessage::Status { code, .. }))) => stall.add(code.to_byte().to_string()),
            Ok(Ok(_)) => stall.add("unexpected".into()),
            Ok(Err(e)) => stall.add(Tally::of_error(&e)),
            Err(_) => stall.add("timeout".into()),
        }
    }

    // 4. Circuits at the relay's users, held silent; then whether their slots come back.
    let mut victim = Tally::default();
    for target in victims {
        let mut joined = Vec::new();
        for _ in 0..circuits {
            match connect_to(target).await {
                Ok(stream) => {
                    victim.add("ok".into());
                    joined.push(stream);
                }
                Err(outcome) => victim.add(outcome),
            }
        }
        // Read to their end, and kept open: the flood never closes its side.
        for stream in joined.iter_mut() {
            let mut sink = Vec::new();
            let end = tokio::time::timeout(FLOOD_ANSWER_WAIT, stream.read_to_end(&mut sink));
            if end.await.is_ok() {
                victim.add("ended".into());
            }
        }
        joined.into_iter().for_each(keep);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Ok(stream) = connect_to(target).await {
                victim.add("again".into());
                keep(stream);
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                victim.add("never".into());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    let mut summary = format!(
        "reserve {} | connect {} | stall {}",
        reserve.show(),
        connect.show(),
        stall.show()
    );
    if !victim.0.is_empty() {
        summary.push_str(&format!(" | victim {}", victim.show()));
    }
    summary
}

/// Holds a reservation of the flood: pings it, and accepts every circuit offered on it
/// (the joined streams are kept in `held`, idle).
async fn hold_reservation(
    relay: std::net::SocketAddr,
    mut reservation: disims::relay::client::Reservation,
    held: Held,
    gate: Gate,
) {
    use disims::relay::client::RelayEvent;
    use disims::relay::wire::RelayMessage;
    let mut ping = tokio::time::interval(std::time::Duration::from_secs(60));
    let mut nonce = 0u64;
    loop {
        tokio::select! {
            _ = ping.tick() => {
                nonce += 1;
                if reservation.ping(nonce).await.is_err() {
                    return;
                }
            }
            event = reservation.next_event() => match event {
                Ok(RelayEvent::Incoming { circuit, .. }) => {
                    let (held, gate) = (held.clone(), gate.clone());
                    tokio::spawn(async move {
                        let accept = RelayMessage::Accept { circuit };
                        let Ok(mut stream) = open_with(relay, &accept, &gate).await else {
                            return;
                        };
                        if disims::relay::io::expect_ok(&mut stream).await.is_ok() {
                            held.lock().unwrap_or_else(|p| p.into_inner()).push(stream);
                        }
                    });
                }
                Ok(RelayEvent::DialBackResult { .. }) => {}
                Err(_) => return,
            },
        }
    }
}
