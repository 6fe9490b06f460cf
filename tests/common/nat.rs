//! A NAT lab for tests (issue 13): an "internet" made of one bridge in a namespace of its
//! own with addresses in 11.0.113.0/24 ([`INTERNET`]), public hosts on it, and home
//! routers: namespaces with nftables masquerade between their WAN address on the internet
//! and a LAN bridge with LAN hosts behind it. Every address on the bridge is on-link in
//! 11.0.0.0/16, so a public host may also be put in another /24 of it
//! ([`Lab::public_host_in`]): a source prefix of its own, as budgets count them.
//!
//! ```text
//!   public host 11.0.113.10 ----+
//!   public host 11.0.113.11 ----+-- br0 (ns "...-inet")
//!   router 11.0.113.101 (wan) --+
//!      | masquerade (or `masquerade random`), input: drop but established / from the LAN
//!   lan bridge 10.R.0.1/24
//!      +-- LAN host 10.R.0.10 (default route via 10.R.0.1)
//! ```
//!
//! A router's ruleset has the chains miniupnpd's nftables back end fills (table `inet
//! filter`: `miniupnpd`, `prerouting_miniupnpd`, `postrouting_miniupnpd`), so miniupnpd
//! can run on any router of the lab. Names are unique per [`Lab`] (process id + counter),
//! so tests can run in parallel; every namespace is deleted when the lab is dropped (the
//! veths and bridges inside go with them).
//!
//! Needs root, iproute2 and nftables: see [`Lab::unavailable`].

use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use super::netns::{ip, is_root};

static LABS: AtomicU32 = AtomicU32::new(0);

/// The lab internet's /24. A globally routed range, so that gateways in the lab dial it
/// with their default `[peer] dial = "public"` (a documentation range such as
/// 203.0.113.0/24 is not dialled from a home LAN, by design): what is tested is what a user
/// gets. It exists only inside the lab's namespaces, which have no route out, so nothing
/// ever reaches the real hosts of that range.
pub const INTERNET: [u8; 3] = [11, 0, 113];

/// How a router maps its LAN hosts' source ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    /// Plain `masquerade`: keeps a source port when it can (endpoint-independent mapping).
    PortPreserving,
    /// `masquerade random`: a random source port per connection.
    PortRandomising,
}

/// A namespace with one address (a public host or a LAN host).
#[derive(Clone, Debug)]
pub struct Host {
    pub ns: String,
    pub addr: Ipv4Addr,
}

impl Host {
    /// `ip netns exec NS`: a prefix for [`super::process::run_command`].
    pub fn prefix(&self) -> [&str; 4] {
        ["ip", "netns", "exec", &self.ns]
    }

    /// A command run inside this host's namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }
}

/// A home router: its namespace, WAN address and LAN.
#[derive(Clone, Debug)]
pub struct Router {
    pub ns: String,
    pub wan: Ipv4Addr,
    /// The router's address on its LAN (10.R.0.1).
    pub lan: Ipv4Addr,
    pub nat: Nat,
    index: u8,
}

impl Router {
    /// A command run inside the router's namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }

    /// Starts miniupnpd (UPnP-IGD, NAT-PMP and PCP) on this router, its files in `dir`.
    /// Our WAN address is in TEST-NET-3, which miniupnpd calls reserved and will not map
    /// on: it learns a public-looking address by STUN from `stun` instead (a STUN helper
    /// on a public host); its replies pass the input filter as established traffic.
    /// Returns once it listens for NAT-PMP; killed on drop.
    pub fn start_miniupnpd(
        &self,
        stun: std::net::SocketAddrV4,
        dir: &std::path::Path,
    ) -> super::process::Process {
        let conf = dir.join(format!("miniupnpd-{}.conf", self.index));
        let text = format!(
            "ext_ifname=wan\nlistening_ip=lan\nhttp_port=0\nenable_natpmp=yes\nenable_upnp=yes\n\
             ext_perform_stun=yes\next_stun_host={ip}\next_stun_port={port}\n\
             secure_mode=yes\nsystem_uptime=yes\nuuid=3e3b0ae2-6a5c-4c6e-9a4c-00000000000{index}\n\
             allow 1024-65535 10.0.0.0/8 1024-65535\ndeny 0-65535 0.0.0.0/0 0-65535\n",
            ip = stun.ip(),
            port = stun.port(),
            index = self.index % 10,
        );
        std::fs::write(&conf, text).expect("write miniupnpd.conf");
        let pid = dir.join(format!("miniupnpd-{}.pid", self.index));
        let mut c = self.command("sh");
        c.arg("-c").arg(format!(
            "exec miniupnpd -d -f '{}' -P '{}' 2>&1",
            conf.display(),
            pid.display()
        ));
        let (process, _) = super::process::Process::start_at(
            c,
            &dir.join(format!("miniupnpd-{}.stderr", self.index)),
            |l| l.contains("Listening for NAT-PMP"),
        );
        process
    }

    /// The router's nftables ruleset, as `nft list ruleset` prints it.
    pub fn ruleset(&self) -> String {
        self.command("nft")
            .args(["list", "ruleset"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

/// The lab; every namespace it made is deleted on drop.
pub struct Lab {
    prefix: String,
    inet: String,
    namespaces: Mutex<Vec<String>>,
    next_public: Mutex<u8>,
    routers: Mutex<u8>,
    lan_hosts: Mutex<u8>,
}

impl Lab {
    /// Why the lab cannot be made here (not root, no `ip`, no `nft`), if it cannot.
    pub fn unavailable() -> Option<String> {
        if !is_root() {
            return Some("not running as root".into());
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Some("the `ip` command (iproute2) is not installed".into());
        }
        if Command::new("nft").arg("--version").output().is_err() {
            return Some("the `nft` command (nftables) is not installed".into());
        }
        None
    }

    /// [`Lab::unavailable`], or miniupnpd (Debian's `miniupnpd-nftables`) is not installed.
    pub fn unavailable_with_miniupnpd() -> Option<String> {
        Lab::unavailable().or_else(|| {
            Command::new("miniupnpd")
                .arg("--version")
                .output()
                .is_err()
                .then(|| "miniupnpd (miniupnpd-nftables) is not installed".to_string())
        })
    }

    /// An empty internet: the namespace with its bridge `br0`.
    pub fn new() -> Result<Lab, String> {
        let n = LABS.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("disims-nat{}-{n}", std::process::id());
        let lab = Lab {
            inet: format!("{prefix}-inet"),
            prefix,
            namespaces: Mutex::new(Vec::new()),
            next_public: Mutex::new(10),
            routers: Mutex::new(0),
            lan_hosts: Mutex::new(0),
        };
        let inet = lab.inet.clone();
        lab.namespace(&inet)?;
        ip(&["-n", &inet, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &inet, "link", "set", "br0", "up"])?;
        Ok(lab)
    }

    /// Makes a namespace (removed on drop) with its loopback up.
    fn namespace(&self, ns: &str) -> Result<(), String> {
        let _ = ip(&["netns", "del", ns]);
        ip(&["netns", "add", ns])?;
        lock(&self.namespaces).push(ns.to_string());
        ip(&["-n", ns, "link", "set", "lo", "up"])
    }

    /// A veth from `ns` (named `inside`, given `addr`) to the internet's bridge.
    fn plug_into_internet(&self, ns: &str, inside: &str, addr: Ipv4Addr) -> Result<(), String> {
        let port = format!("p{}", lock(&self.namespaces).len());
        ip(&[
            "-n", ns, "link", "add", inside, "type", "veth", "peer", "name", &port, "netns",
            &self.inet,
        ])?;
        ip(&["-n", &self.inet, "link", "set", &port, "master", "br0"])?;
        ip(&["-n", &self.inet, "link", "set", &port, "up"])?;
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/16"),
            "dev",
            inside,
        ])?;
        ip(&["-n", ns, "link", "set", inside, "up"])
    }

    /// The next free host number, in `prefix` (a /24 of the lab's 11.0.0.0/16).
    fn next_public_addr_in(&self, prefix: [u8; 3]) -> Result<Ipv4Addr, String> {
        let mut next = lock(&self.next_public);
        if *next >= 250 {
            return Err("the lab's internet is full".into());
        }
        let addr = Ipv4Addr::new(prefix[0], prefix[1], prefix[2], *next);
        *next += 1;
        Ok(addr)
    }

    fn next_public_addr(&self) -> Result<Ipv4Addr, String> {
        self.next_public_addr_in(INTERNET)
    }

    /// A host on the internet with a public address (no NAT, no filter).
    pub fn public_host(&self, name: &str) -> Result<Host, String> {
        self.public_host_in(name, INTERNET)
    }

    /// [`Lab::public_host`] in another /24 of the lab's 11.0.0.0/16 (`prefix`, e.g.
    /// `[11, 0, 114]`): on the same bridge, but another source prefix to a budget than
    /// every other host and router (which are in [`INTERNET`]).
    pub fn public_host_in(&self, name: &str, prefix: [u8; 3]) -> Result<Host, String> {
        assert_eq!(
            prefix[..2],
            INTERNET[..2],
            "the lab's internet is 11.0.0.0/16"
        );
        let ns = format!("{}-{name}", self.prefix);
        self.namespace(&ns)?;
        let addr = self.next_public_addr_in(prefix)?;
        self.plug_into_internet(&ns, "eth0", addr)?;
        Ok(Host { ns, addr })
    }

    /// A home router with a public WAN address and an empty LAN 10.R.0.0/24.
    pub fn router(&self, name: &str, nat: Nat) -> Result<Router, String> {
        let index = {
            let mut routers = lock(&self.routers);
            *routers += 1;
            *routers
        };
        let ns = format!("{}-{name}", self.prefix);
        self.namespace(&ns)?;
        let wan = self.next_public_addr()?;
        self.plug_into_internet(&ns, "wan", wan)?;
        let lan = Ipv4Addr::new(10, index, 0, 1);
        ip(&["-n", &ns, "link", "add", "lan", "type", "bridge"])?;
        ip(&["-n", &ns, "addr", "add", &format!("{lan}/24"), "dev", "lan"])?;
        ip(&["-n", &ns, "link", "set", "lan", "up"])?;
        let router = Router {
            ns,
            wan,
            lan,
            nat,
            index,
        };
        run(router
            .command("sysctl")
            .args(["-q", "-w", "net.ipv4.ip_forward=1"]))?;
        let mut nft = router.command("nft");
        nft.args(["-f", "-"]);
        run_with_input(nft, &ruleset(nat))?;
        Ok(router)
    }

    /// A host on `router`'s LAN (10.R.0.H), its default route through the router.
    pub fn lan_host(&self, router: &Router, name: &str) -> Result<Host, String> {
        let h = {
            let mut hosts = lock(&self.lan_hosts);
            *hosts += 1;
            *hosts
        };
        let ns = format!("{}-{name}", self.prefix);
        self.namespace(&ns)?;
        let addr = Ipv4Addr::new(10, router.index, 0, 9 + h);
        let port = format!("h{h}");
        ip(&[
            "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port, "netns",
            &router.ns,
        ])?;
        ip(&["-n", &router.ns, "link", "set", &port, "master", "lan"])?;
        ip(&["-n", &router.ns, "link", "set", &port, "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
        ip(&[
            "-n",
            &ns,
            "route",
            "add",
            "default",
            "via",
            &router.lan.to_string(),
        ])?;
        Ok(Host { ns, addr })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in lock(&self.namespaces).iter().rev() {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// A home router's nftables ruleset: masquerade out of `wan`; input and forwarding from the
/// internet dropped except established connections and what miniupnpd maps (its chains,
/// empty until it runs).
pub fn ruleset(nat: Nat) -> String {
    let masquerade = match nat {
        Nat::PortPreserving => "masquerade",
        Nat::PortRandomising => "masquerade random",
    };
    format!(
        "table inet filter {{
    chain input {{
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iifname \"lo\" accept
        iifname \"lan\" accept
    }}
    chain forward {{
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname \"lan\" oifname \"wan\" accept
        jump miniupnpd
    }}
    chain miniupnpd {{
    }}
    chain prerouting {{
        type nat hook prerouting priority -100; policy accept;
        jump prerouting_miniupnpd
    }}
    chain postrouting {{
        type nat hook postrouting priority 100; policy accept;
        jump postrouting_miniupnpd
        oifname \"wan\" {masquerade}
    }}
    chain prerouting_miniupnpd {{
    }}
    chain postrouting_miniupnpd {{
    }}
}}
"
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a command; the error has its stderr.
pub fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs a command with `input` on its stdin.
fn run_with_input(mut command: Command, input: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| format!("{command:?}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}
