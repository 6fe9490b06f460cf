//! Private ranges are dialled with the default `[peer] dial = "public"` only where the
//! gateway is on such a network itself (issue 11, item 3). A gateway in this test process
//! (root namespace) gets a veth link 10.79.L.1/24 to a namespace holding a `disims run`
//! peer; the peer also answers on 192.168.L.2, routed through the link, a private network
//! the dialler has no address in.
//!
//! ```text
//!   root namespace: this test, alice's gateway (memory directory)
//!   dh<pid> 10.79.L.1/24, route 192.168.L.0/24 via 10.79.L.2
//!        |  veth
//!   dn<pid> 10.79.L.2/24 + 192.168.L.2/24       ns disims-d<pid>: bob's `disims run`
//! ```
//!
//! Bob's record lists first only 192.168.L.2 (reachable, but not on a network alice's host
//! is on): not dialled, and alice is told why. Then 10.79.L.2: dialled, delivered.
//!
//! Needs root and iproute2 (`ip netns`). Elsewhere it prints `SKIPPED: ...` to stderr and
//! passes, except when `CI=true`, where it fails.

mod common;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::IrcClient;
use common::netns::{ip, is_root, skip};
use common::process::{self, GatewayToml, Process};
use disims::config::DialScope;
use disims::daemon::Options;
use disims::directory::AddressRecord;
use disims::directory::memory::{MemoryDirectory, SharedRecords};
use disims::identity::PeerId;
use disims::peer::SessionTimers;

const TEST: &str = "dial_namespace::a_private_range_is_dialled_only_where_the_gateway_is_on_it";
const IRC_PASSWORD: &str = "dial-namespace-test";

/// The namespace and its link; deleted on drop (the route goes with the link).
struct Network {
    pid: u32,
    lan: u8,
}

impl Network {
    fn ns(&self) -> String {
        format!("disims-d{}", self.pid)
    }
    fn near(&self) -> String {
        format!("10.79.{}.2", self.lan)
    }
    fn far(&self) -> String {
        format!("192.168.{}.2", self.lan)
    }

    fn create() -> Result<Network, String> {
        let pid = std::process::id();
        let net = Network {
            pid,
            lan: 1 + (pid % 250) as u8,
        };
        net.remove();
        let (ns, host_end, ns_end) = (net.ns(), format!("dh{pid}"), format!("dn{pid}"));
        let lan = net.lan;
        ip(&["netns", "add", &ns])?;
        ip(&["netns", "exec", &ns, "true"])?;
        ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", &ns_end, "netns", &ns,
        ])?;
        ip(&[
            "addr",
            "add",
            &format!("10.79.{lan}.1/24"),
            "dev",
            &host_end,
        ])?;
        ip(&["link", "set", &host_end, "up"])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{}/24", net.near()),
            "dev",
            &ns_end,
        ])?;
        ip(&[
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{}/24", net.far()),
            "dev",
            &ns_end,
        ])?;
        ip(&["-n", &ns, "link", "set", &ns_end, "up"])?;
        let far_net = format!("192.168.{lan}.0/24");
        ip(&[
            "route",
            "add",
            &far_net,
            "via",
            &net.near(),
            "dev",
            &host_end,
        ])?;
        Ok(net)
    }

    fn remove(&self) {
        let _ = ip(&["link", "del", &format!("dh{}", self.pid)]);
        let _ = ip(&["netns", "del", &self.ns()]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.remove();
    }
}

fn plant(records: &SharedRecords, peer: PeerId, addr: SocketAddr) {
    let record = AddressRecord {
        protocol_version: 1,
        addrs: vec![addr],
    };
    MemoryDirectory::insert_raw(records, peer, record.encode().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_range_is_dialled_only_where_the_gateway_is_on_it() {
    if !is_root() {
        return skip(TEST, "not running as root");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return skip(TEST, "the `ip` command (iproute2) is not installed");
    }
    let on_192_168 = if_addrs::get_if_addrs()
        .map(|all| {
            all.iter().any(
                |i| matches!(i.ip(), std::net::IpAddr::V4(v4) if v4.octets()[..2] == [192, 168]),
            )
        })
        .unwrap_or(true);
    if on_192_168 {
        return skip(TEST, "this host has an address in 192.168.0.0/16 already");
    }
    let net = match Network::create() {
        Ok(net) => net,
        Err(e) => return skip(TEST, &format!("cannot build the network namespace: {e}")),
    };
    let dir = tempfile::tempdir().unwrap();

    // Bob: a real gateway in the namespace, listening for peers on every address there.
    let bob_dir = dir.path().join("bob");
    std::fs::create_dir_all(&bob_dir).unwrap();
    let bob_data = bob_dir.join("data");
    let bob_irc: SocketAddr = format!("{}:6667", net.near()).parse().unwrap();
    let config = bob_dir.join("gateway.toml");
    GatewayToml {
        data_dir: &bob_data,
        irc_listen: bob_irc,
        irc_password: Some(IRC_PASSWORD),
        peer_listen: "0.0.0.0:7667".parse().unwrap(),
        advertise: Vec::new(),
        dht_bootstrap: vec![format!("10.79.{}.1:9", net.lan)],
        dht_listen: format!("{}:0", net.near()).parse().unwrap(),
    }
    .write(&config);
    let (_bob_process, nick) = Process::start(
        process::run_command(&["ip", "netns", "exec", &net.ns()], &config),
        &bob_dir.join("stderr"),
    );
    let bob = PeerId::from_nick(&nick).expect("the gateway prints its nick");

    // Alice: this process, root namespace, the default dial scope.
    let records = SharedRecords::default();
    let options = Options {
        timers: SessionTimers {
            retry: Duration::from_millis(200),
            ..SessionTimers::default()
        },
        ..Options::default()
    };
    let a = common::memory_gateway_with(&dir.path().join("alice"), &records, options, |c| {
        c.peer.dial = DialScope::Public
    })
    .await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob_client = IrcClient::connect(bob_irc).await;
    bob_client.send(&format!("PASS {IRC_PASSWORD}")).await;
    bob_client.send("NICK bob").await;
    bob_client.send("USER tester 0 * :Test User").await;
    bob_client
        .expect(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;

    // Reachable through the route, but on no network alice's host has an address in.
    let far: SocketAddr = format!("{}:7667", net.far()).parse().unwrap();
    plant(&records, bob, far);
    alice.send(&format!("PRIVMSG {bob} :first")).await;
    let notice = alice
        .expect(|l| l.contains(" NOTICE ") && l.starts_with(&format!(":{bob}!")))
        .await;
    assert!(
        notice.contains(&format!(
            "{far} (private address on a network this gateway is not on"
        )),
        "{notice}"
    );

    // On the link alice's host is on: the retry dials it and the message arrives.
    plant(
        &records,
        bob,
        format!("{}:7667", net.near()).parse().unwrap(),
    );
    let line = bob_client.expect(common::chat).await;
    assert!(line.ends_with(" :first"), "{line}");
    let chats = bob_client.seen.iter().filter(|l| common::chat(l)).count();
    assert_eq!(chats, 1, "{:#?}", bob_client.seen);
    a.shutdown().await;
}
