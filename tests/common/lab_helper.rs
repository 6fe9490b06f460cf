//! The NAT lab's helper services (tests/common/nat.rs): the test binary, run again inside
//! a lab namespace with [`HELPER_ENV`] set, becomes a small service there (a `whoami`
//! server, a client, a STUN server, a port-mapping client, a bridge for a gateway's IRC
//! port). Each test file of the lab has a test named `lab_helper` that calls
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
///   new TCP connection to ADDR (in the namespace): see [`tcp_into`].
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
