//! Issue 5, test 7: two `disims run` gateways in separate network namespaces, joined by a
//! veth pair that is the only path between their peer addresses. The link is cut while
//! alice sends bursts to bob, and restored later: bob's IRC client shows every message
//! exactly once, in order, and alice's outbox empties. Two cuts: one before any session
//! exists (the dials fail: "offline; queued", then "delivered" after the retry), one under
//! a running session (TCP holds the frames until the link is back).
//!
//! The network, per run (names carry the test's pid; everything is removed on drop, also
//! when the test panics):
//!
//! ```text
//!   ns A: alice's gateway          ns B: bob's gateway
//!   pa<pid> 10.77.0.1/24 ===veth=== pb<pid> 10.77.0.2/24      peer link (the one cut)
//!   la<pid> 10.78.L.2/24           lb<pid> 10.78.L.3/24       DHT and IRC
//!        \                            /
//!        ra<pid> -- br<pid> 10.78.L.1/24 -- rb<pid>           root namespace: this test,
//!                                                             `disims dht-node`
//! ```
//!
//! Peers listen (and so publish) on the 10.77.0.0/24 link only, and no namespace has a
//! default route, so with the link down their traffic has no other way: a dial fails with
//! "network unreachable". The DHT and IRC (with a password: it is not loopback) go over the
//! bridge, which stays up. `L` is derived from the pid.
//!
//! Needs root and iproute2 (`ip netns`). Elsewhere it prints `SKIPPED: ...` to stderr and
//! passes, except when `CI=true`, where it fails: CI runs it for real (`.ci/run`).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::netns::{ip, is_root, skip};
use common::process::{self, GatewayToml, Process};
use common::{IrcClient, WAIT};
use disims::identity::PeerId;

const TEST: &str = "partition::a_cut_link_loses_nothing_and_duplicates_nothing";
const IRC_PASSWORD: &str = "partition-test-Qv8Lk2";
/// Messages per burst, bursts per cut.
const BURST: usize = 10;
const BURSTS: usize = 5;

/// The namespaces, links and bridge of one run; deleted on drop.
struct Network {
    pid: u32,
    /// Third octet of the bridge subnet 10.78.L.0/24.
    lan: u8,
}

impl Network {
    fn ns_a(&self) -> String {
        format!("disims-a-{}", self.pid)
    }
    fn ns_b(&self) -> String {
        format!("disims-b-{}", self.pid)
    }
    /// Alice's end of the peer link (the one cut).
    fn link_a(&self) -> String {
        format!("pa{}", self.pid)
    }
    fn lan_addr(&self, host: u8) -> String {
        format!("10.78.{}.{host}", self.lan)
    }

    /// Builds the network; on error, what exists so far is removed when the value drops.
    fn create() -> Result<Network, String> {
        let pid = std::process::id();
        let net = Network {
            pid,
            lan: 1 + (pid % 250) as u8,
        };
        net.remove(); // leftovers of an earlier run killed with the same pid
        let (a, b) = (net.ns_a(), net.ns_b());
        let (br, ra, rb) = (format!("br{pid}"), format!("ra{pid}"), format!("rb{pid}"));
        let (pa, pb, la, lb) = (
            format!("pa{pid}"),
            format!("pb{pid}"),
            format!("la{pid}"),
            format!("lb{pid}"),
        );
        let bridge_addr = format!("{}/24", net.lan_addr(1));
        ip(&["netns", "add", &a])?;
        ip(&["netns", "add", &b])?;
        // `ip netns exec` also needs to mount (a container may allow one and not the other).
        ip(&["netns", "exec", &a, "true"])?;
        for ns in [&a, &b] {
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // The peer link, created with its ends already in place.
        ip(&[
            "link", "add", &pa, "netns", &a, "type", "veth", "peer", "name", &pb, "netns", &b,
        ])?;
        ip(&["-n", &a, "addr", "add", "10.77.0.1/24", "dev", &pa])?;
        ip(&["-n", &b, "addr", "add", "10.77.0.2/24", "dev", &pb])?;
        ip(&["-n", &a, "link", "set", &pa, "up"])?;
        ip(&["-n", &b, "link", "set", &pb, "up"])?;
        // The bridge in the root namespace, for the DHT and IRC.
        ip(&["link", "add", &br, "type", "bridge"])?;
        ip(&["addr", "add", &bridge_addr, "dev", &br])?;
        ip(&["link", "set", &br, "up"])?;
        for (ns, root_end, ns_end, host) in [(&a, &ra, &la, 2), (&b, &rb, &lb, 3)] {
            ip(&[
                "link", "add", root_end, "type", "veth", "peer", "name", ns_end, "netns", ns,
            ])?;
            ip(&["link", "set", root_end, "master", &br])?;
            ip(&["link", "set", root_end, "up"])?;
            let addr = format!("{}/24", net.lan_addr(host));
            ip(&["-n", ns, "addr", "add", &addr, "dev", ns_end])?;
            ip(&["-n", ns, "link", "set", ns_end, "up"])?;
        }
        Ok(net)
    }

    fn cut(&self) {
        ip(&["-n", &self.ns_a(), "link", "set", &self.link_a(), "down"]).expect("cut the link");
    }

    fn restore(&self) {
        ip(&["-n", &self.ns_a(), "link", "set", &self.link_a(), "up"]).expect("restore the link");
    }

    /// Deletes everything this run may have created; errors (already gone) are ignored.
    fn remove(&self) {
        let pid = self.pid;
        for link in [format!("ra{pid}"), format!("rb{pid}"), format!("br{pid}")] {
            let _ = ip(&["link", "del", &link]);
        }
        for ns in [self.ns_a(), self.ns_b()] {
            let _ = ip(&["netns", "del", &ns]);
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Starts `disims run` inside `ns`; returns the process and the gateway's nick.
fn gateway_in(ns: &str, dir: &Path, config: GatewayToml) -> (Process, PeerId) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("gateway.toml");
    config.write(&path);
    let command = process::run_command(&["ip", "netns", "exec", ns], &path);
    let (process, nick) = Process::start(command, &dir.join("stderr"));
    let peer = PeerId::from_nick(&nick).expect("the gateway prints its nick");
    (process, peer)
}

/// Connects and registers with the IRC password (the gateways listen beyond loopback).
async fn register(addr: SocketAddr, nick: &str) -> IrcClient {
    let mut c = IrcClient::connect(addr).await;
    c.send(&format!("PASS {IRC_PASSWORD}")).await;
    c.send(&format!("NICK {nick}")).await;
    c.send("USER tester 0 * :Test User").await;
    c.expect(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;
    c
}

/// Polls the sender's outbox until it holds `n` messages for `peer`.
async fn outbox_reaches(data_dir: &Path, peer: &PeerId, n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let len = process::outbox_len(data_dir, peer);
        if len == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox holds {len} messages, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends messages `n<from>`.. in bursts while the link is down (the outbox was empty): each
/// burst goes once the one before is accepted, i.e. committed to alice's outbox (nothing
/// leaves it while no ack can come back).
async fn send_bursts(alice: &mut IrcClient, to: &PeerId, from: usize, data_dir: &Path) {
    for burst in 0..BURSTS {
        let start = from + burst * BURST;
        let lines: String = (start..start + BURST)
            .map(|i| format!("PRIVMSG {to} :n{i}\r\n"))
            .collect();
        alice.send_raw(lines.as_bytes()).await;
        outbox_reaches(data_dir, to, (burst + 1) * BURST).await;
    }
}

/// Reads bob's next `count` messages; they must be `n<from>`, `n<from + 1>`, ...
async fn expect_in_order(bob: &mut IrcClient, from: usize, count: usize) {
    for i in from..from + count {
        let line = bob.expect(common::chat).await;
        assert!(line.ends_with(&format!(" :n{i}")), "expected n{i}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_loses_nothing_and_duplicates_nothing() {
    if !is_root() {
        return skip(TEST, "not running as root");
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return skip(TEST, "the `ip` command (iproute2) is not installed");
    }
    // Dropped last (declared first): the processes in the namespaces die before it goes.
    let net = match Network::create() {
        Ok(net) => net,
        Err(e) => return skip(TEST, &format!("cannot build the network namespaces: {e}")),
    };
    let dir = tempfile::tempdir().unwrap();
    let (dht, dht_addr) = Process::start(
        {
            let mut c = Command::new(process::disims());
            c.args(["dht-node", "--listen", &format!("{}:0", net.lan_addr(1))]);
            c
        },
        &dir.path().join("dht.stderr"),
    );
    let irc_a: SocketAddr = format!("{}:6667", net.lan_addr(2)).parse().unwrap();
    let irc_b: SocketAddr = format!("{}:6667", net.lan_addr(3)).parse().unwrap();
    let (a_data, b_data) = (dir.path().join("a/data"), dir.path().join("b/data"));
    let toml = |data_dir, irc, peer: &str, host| GatewayToml {
        data_dir,
        irc_listen: irc,
        irc_password: Some(IRC_PASSWORD),
        peer_listen: peer.parse().unwrap(),
        advertise: Vec::new(), // the specific listen address is published
        dht_bootstrap: vec![dht_addr.clone()],
        dht_listen: format!("{}:0", net.lan_addr(host)).parse().unwrap(),
    };
    let (_a, alice_id) = gateway_in(
        &net.ns_a(),
        &dir.path().join("a"),
        toml(&a_data, irc_a, "10.77.0.1:7667", 2),
    );
    let (_b, bob_id) = gateway_in(
        &net.ns_b(),
        &dir.path().join("b"),
        toml(&b_data, irc_b, "10.77.0.2:7667", 3),
    );
    let mut alice = register(irc_a, "alice").await;
    let mut bob = register(irc_b, "bob").await;
    alice.expect(|l| l.contains("DHT: published")).await;
    bob.expect(|l| l.contains("DHT: published")).await;
    let total = 2 * BURSTS * BURST;

    // Cut 1, before any session: every dial fails at once (no route), the bursts wait in
    // the outbox, and the retry 5 s after the first failure delivers them (or, in some
    // runs, the dial the last burst started, when its lookup ends after the restore).
    net.cut();
    send_bursts(&mut alice, &bob_id, 0, &a_data).await;
    alice.expect(|l| l.contains("is offline")).await;
    net.restore();
    expect_in_order(&mut bob, 0, total / 2).await;
    alice.expect(|l| l.contains("were delivered")).await;
    outbox_reaches(&a_data, &bob_id, 0).await;
    let count = |c: &IrcClient, needle: &str| c.seen.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count(&alice, "is offline"), 1, "{:#?}", alice.seen);
    assert_eq!(count(&alice, "were delivered"), 1, "{:#?}", alice.seen);

    // Cut 2, under the session now up: the frames wait in TCP until the link is back.
    net.cut();
    // Bob answers during the cut too: both directions wait.
    send_bursts(&mut alice, &bob_id, total / 2, &a_data).await;
    let replies: String = (0..BURST)
        .map(|i| format!("PRIVMSG {alice_id} :r{i}\r\n"))
        .collect();
    bob.send_raw(replies.as_bytes()).await;
    outbox_reaches(&b_data, &alice_id, BURST).await;
    net.restore();
    expect_in_order(&mut bob, total / 2, total / 2).await;
    for i in 0..BURST {
        let line = alice.expect(common::chat).await;
        assert!(line.ends_with(&format!(" :r{i}")), "expected r{i}: {line}");
    }
    outbox_reaches(&a_data, &bob_id, 0).await;
    outbox_reaches(&b_data, &alice_id, 0).await;

    // Nothing trails behind: a duplicate would arrive before the answer to this PING.
    bob.send("PING :end").await;
    let next = bob
        .expect(|l| l.contains(" PONG ") || common::chat(l))
        .await;
    assert!(next.contains(" PONG "), "a message showed twice: {next}");
    alice.send("PING :end").await;
    let next = alice
        .expect(|l| l.contains(" PONG ") || common::chat(l))
        .await;
    assert!(next.contains(" PONG "), "a reply showed twice: {next}");
    drop(dht);
}
