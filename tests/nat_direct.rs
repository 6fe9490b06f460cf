//! NAT lab scenario 2 (issue 13; the lab is tests/common/nat.rs): alice and bob each behind
//! an endpoint-independent (port-preserving) home router, a public gateway that relays for
//! anyone. Their first session goes through the relay; over it the gateways upgrade to a
//! direct connection by TCP simultaneous open (`peer::upgrade`), and the conversation
//! moves to it with nothing lost or doubled. Behind port-randomising routers the upgrade
//! fails and the session stays relayed, messages still flowing. Both users' gateways run
//! with the defaults a user gets, apart from the DHT bootstrap.
//!
//! Needs root, iproute2 and nftables (`.ci/run` installs them). Elsewhere each test prints
//! `SKIPPED: ...` to stderr and passes, except when `CI=true`, where it fails.
//!
//! Run: `cargo test --test nat_direct` (as root).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::IrcClient;
use common::lab_gateway::{self, LabGateway};
use common::lab_talk::{FIND_RELAY, SERVE_ANYONE, send_all, session_path, texts_until};
use common::nat::{Host, Lab, Nat};
use common::netns::skip;

/// Not a test: the lab's helper services (the IRC bridge into a namespace) when this
/// binary is run again inside a namespace; does nothing otherwise.
#[test]
fn lab_helper() {
    common::lab_helper::helper_main();
}

/// What the upgrade task logs when it succeeds, and when an attempt fails.
const UPGRADED: &str = "relayed session upgraded to a direct connection";
const FAILED: &str = "direct upgrade failed";

/// The lab of the scenarios: a DHT node, a relay for anyone, alice behind a router of kind
/// `alice_nat` (on the internet with `None`), bob behind one of kind `bob_nat`; those
/// behind a router have published their relays.
struct Scene {
    alice: IrcClient,
    bob: IrcClient,
    relay: LabGateway,
    alice_gw: LabGateway,
    bob_gw: LabGateway,
    _dht: common::process::Process,
    dir: tempfile::TempDir,
    /// Last: the namespaces go when everything in them has stopped.
    _lab: Lab,
}

async fn scene(alice_nat: Option<Nat>, bob_nat: Nat) -> Scene {
    let lab = Lab::new().expect("lab");
    let srv = lab.public_host("srv").expect("public host");
    let relay_host = lab.public_host("relay").expect("public host");
    let alice_host: Host = match alice_nat {
        Some(nat) => {
            let home_a = lab.router("a", nat).expect("router");
            lab.lan_host(&home_a, "alice").expect("lan host")
        }
        None => lab.public_host("alice").expect("public host"),
    };
    let home_b = lab.router("b", bob_nat).expect("router");
    let bob_host: Host = lab.lan_host(&home_b, "bob").expect("lan host");
    let dir = tempfile::tempdir().unwrap();
    let (dht_process, dht) = lab_gateway::dht_node(&srv, dir.path());
    let relay = lab_gateway::start(&relay_host, &dht, dir.path(), "relay", SERVE_ANYONE).await;
    let alice_gw = lab_gateway::start(&alice_host, &dht, dir.path(), "alice", "").await;
    let bob_gw = lab_gateway::start(&bob_host, &dht, dir.path(), "bob", "").await;
    let mut alice = alice_gw.client("alice").await;
    let mut bob = bob_gw.client("bob").await;
    let behind_nat = [alice_nat.is_some(), true];
    for (client, nat) in [&mut alice, &mut bob].into_iter().zip(behind_nat) {
        let what = match nat {
            true => "DHT: published our relays",
            false => "DHT: published",
        };
        client.expect_within(FIND_RELAY, |l| l.contains(what)).await;
    }
    Scene {
        _lab: lab,
        _dht: dht_process,
        relay,
        alice_gw,
        bob_gw,
        alice,
        bob,
        dir,
    }
}

/// The gateway's log lines that contain `what`.
fn log_lines(dir: &Path, name: &str, what: &str) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("{name}.stderr")))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .map(str::to_owned)
        .collect()
}

/// Polls the log of gateway `name` until a line contains `what`.
async fn wait_log(dir: &Path, name: &str, what: &str, within: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Some(line) = log_lines(dir, name, what).pop() {
            return line;
        }
        assert!(
            start.elapsed() < within,
            "{name} never logged {what:?} in {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks both ends for WHOIS until each says its session is direct, within 30 s.
async fn direct_at_both_ends(s: &mut Scene, alice_id: &str, bob_id: &str) {
    let poll_start = Instant::now();
    loop {
        let a = session_path(&mut s.alice, bob_id).await;
        let b = session_path(&mut s.bob, alice_id).await;
        if a.contains("direct") && b.contains("direct") {
            return;
        }
        assert!(
            poll_start.elapsed() < Duration::from_secs(30),
            "not direct at both ends: {a} / {b}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn batch(who: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{who} {i}")).collect()
}

/// Issue 13, lab scenario 2: behind port-preserving routers the relayed session becomes
/// direct, and messages both ways before, during and after the move arrive exactly once
/// and in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_port_preserving_nats_the_relayed_session_becomes_direct() {
    const TEST: &str = "nat_direct::behind_port_preserving_nats_the_relayed_session_becomes_direct";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let mut s = scene(Some(Nat::PortPreserving), Nat::PortPreserving).await;
    let (alice_id, bob_id) = (s.alice_gw.peer.to_string(), s.bob_gw.peer.to_string());

    // Alice writes first: her gateway reaches bob's through the relay, and both start
    // the upgrade at once; the messages keep coming meanwhile (before and during).
    let started = Instant::now();
    let from_alice = batch("alice", 0..10);
    send_all(&mut s.alice, &bob_id, &from_alice).await;
    let got = texts_until(&mut s.bob, "alice 9").await;
    assert_eq!(
        got, from_alice,
        "bob got alice's messages once each, in order"
    );
    let from_bob = batch("bob", 0..10);
    send_all(&mut s.bob, &alice_id, &from_bob).await;
    let got = texts_until(&mut s.alice, "bob 9").await;
    assert_eq!(
        got, from_bob,
        "alice got bob's messages once each, in order"
    );

    // The first session was relayed (alice's log says it was upgraded), and the path is
    // now direct at both ends.
    let line = wait_log(s.dir.path(), "alice", UPGRADED, Duration::from_secs(60)).await;
    let direct_after = started.elapsed();
    let attempts = log_lines(s.dir.path(), "alice", FAILED).len() + 1;
    eprintln!("{TEST}: direct after {direct_after:?} ({attempts} attempt(s)): {line}");
    direct_at_both_ends(&mut s, &alice_id, &bob_id).await;

    // After the move, both ways.
    let from_alice = batch("alice", 10..20);
    let from_bob = batch("bob", 10..20);
    send_all(&mut s.alice, &bob_id, &from_alice).await;
    send_all(&mut s.bob, &alice_id, &from_bob).await;
    assert_eq!(texts_until(&mut s.bob, "alice 19").await, from_alice);
    assert_eq!(texts_until(&mut s.alice, "bob 19").await, from_bob);
    // Still direct: the relay carries none of it.
    assert!(session_path(&mut s.alice, &bob_id).await.contains("direct"));
    for name in ["alice", "bob"] {
        eprintln!(
            "{TEST}: {name}: {:?}",
            log_lines(s.dir.path(), name, "upgrade")
        );
    }
    drop(s.relay);
}

/// Behind port-randomising routers the simultaneous open cannot meet: the attempt fails,
/// the session stays relayed and messages still flow both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_port_randomising_nats_the_session_stays_relayed() {
    const TEST: &str = "nat_direct::behind_port_randomising_nats_the_session_stays_relayed";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let mut s = scene(Some(Nat::PortRandomising), Nat::PortRandomising).await;
    let (alice_id, bob_id) = (s.alice_gw.peer.to_string(), s.bob_gw.peer.to_string());

    let first = batch("alice", 0..5);
    send_all(&mut s.alice, &bob_id, &first).await;
    assert_eq!(texts_until(&mut s.bob, "alice 4").await, first);
    // The attempt fails (both ends log it), and is not retried at once (backoff).
    let line = wait_log(s.dir.path(), "alice", FAILED, Duration::from_secs(60)).await;
    assert!(line.contains("failures=1"), "{line}");
    wait_log(s.dir.path(), "bob", FAILED, Duration::from_secs(30)).await;
    assert!(log_lines(s.dir.path(), "alice", UPGRADED).is_empty());

    let a = session_path(&mut s.alice, &bob_id).await;
    assert!(a.contains("relayed via"), "{a}");
    let b = session_path(&mut s.bob, &alice_id).await;
    assert!(b.contains("relayed via"), "{b}");
    let from_bob = batch("bob", 0..5);
    send_all(&mut s.bob, &alice_id, &from_bob).await;
    assert_eq!(texts_until(&mut s.alice, "bob 4").await, from_bob);
    let more = batch("alice", 5..10);
    send_all(&mut s.alice, &bob_id, &more).await;
    assert_eq!(texts_until(&mut s.bob, "alice 9").await, more);
    assert_eq!(
        log_lines(s.dir.path(), "alice", FAILED).len(),
        1,
        "backed off"
    );
    for name in ["alice", "bob"] {
        eprintln!(
            "{TEST}: {name}: {:?}",
            log_lines(s.dir.path(), name, "upgrade")
        );
    }
    drop(s.relay);
}

/// Alice on the internet, bob behind a port-preserving router: alice reaches bob through
/// his relay, and the upgrade makes the session direct (bob's SYN may reach alice's
/// listener, or meet her connect: both end in one direct session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reachable_dialler_and_a_nat_ted_peer_go_direct_too() {
    const TEST: &str = "nat_direct::a_reachable_dialler_and_a_nat_ted_peer_go_direct_too";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let mut s = scene(None, Nat::PortPreserving).await;
    let (alice_id, bob_id) = (s.alice_gw.peer.to_string(), s.bob_gw.peer.to_string());
    let from_alice = batch("alice", 0..5);
    send_all(&mut s.alice, &bob_id, &from_alice).await;
    assert_eq!(texts_until(&mut s.bob, "alice 4").await, from_alice);
    // Bob's side of the upgrade succeeds (alice's connect may find the connection taken by
    // her listener: her log may say it failed).
    let line = wait_log(s.dir.path(), "bob", UPGRADED, Duration::from_secs(60)).await;
    eprintln!("{TEST}: {line}");
    direct_at_both_ends(&mut s, &alice_id, &bob_id).await;
    let from_bob = batch("bob", 0..5);
    send_all(&mut s.bob, &alice_id, &from_bob).await;
    assert_eq!(texts_until(&mut s.alice, "bob 4").await, from_bob);
    let more = batch("alice", 5..10);
    send_all(&mut s.alice, &bob_id, &more).await;
    assert_eq!(texts_until(&mut s.bob, "alice 9").await, more);
    for name in ["alice", "bob"] {
        eprintln!(
            "{TEST}: {name}: {:?}",
            log_lines(s.dir.path(), name, "upgrade")
        );
    }
    drop(s.relay);
}
