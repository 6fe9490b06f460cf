//! The NAT lab (issue 13; tests/common/nat.rs builds it): home routers made of network
//! namespaces and nftables, checked as the other lab tests rely on them; miniupnpd as a
//! real PCP / NAT-PMP router; and lab scenario 3, a gateway behind such a router reached
//! directly through the port it mapped.
//!
//! Needs root, iproute2, nftables and miniupnpd (`.ci/run` installs them). Elsewhere each
//! test prints `SKIPPED: ...` to stderr and passes, except when `CI=true`, where it fails.
//!
//! Run: `cargo test --test nat_lab` (as root).

mod common;

use common::lab_gateway;
use common::lab_helper::{helper, start};
use common::nat::{Lab, Nat};
use common::netns::skip;

/// Not a test: the lab's helper services (a `whoami` server, a client, a STUN server) when
/// this binary is run again inside a namespace; does nothing otherwise.
#[test]
fn lab_helper() {
    common::lab_helper::helper_main();
}

/// `local=L seen=S` from the `ask` helper: (L, S).
fn parse_ask(line: &str) -> (std::net::SocketAddr, std::net::SocketAddr) {
    let mut local = None;
    let mut seen = None;
    for word in line.split_whitespace() {
        if let Some(v) = word.strip_prefix("local=") {
            local = v.parse().ok();
        }
        if let Some(v) = word.strip_prefix("seen=") {
            seen = v.parse().ok();
        }
    }
    match (local, seen) {
        (Some(l), Some(s)) => (l, s),
        _ => panic!("unexpected answer from the ask helper: {line:?}"),
    }
}

/// A LAN host reaches a public host through its router, seen from outside as the router's
/// WAN address: with the source port kept by a port-preserving router. The LAN host's own
/// listener is not reachable from the internet at the router's address (input dropped).
#[test]
fn routers_masquerade_and_filter() {
    const TEST: &str = "nat_lab::routers_masquerade_and_filter";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let lab = Lab::new().expect("lab");
    let server = lab.public_host("srv").expect("public host");
    let home = lab.router("home", Nat::PortPreserving).expect("router");
    let random = lab.router("rand", Nat::PortRandomising).expect("router");
    let alice = lab.lan_host(&home, "alice").expect("lan host");
    let bob = lab.lan_host(&random, "bob").expect("lan host");
    let dir = tempfile::tempdir().unwrap();

    let (_whoami, ready) = start(&server.ns, "whoami 0.0.0.0:7000", &dir.path().join("w.err"));
    assert!(ready.starts_with("ready"), "{ready}");
    let target = format!("ask {}:7000", server.addr);

    let (_a, line) = start(&alice.ns, &target, &dir.path().join("a.err"));
    let (local, seen) = parse_ask(&line);
    assert_eq!(local.ip(), alice.addr, "{line}");
    assert_eq!(
        seen.ip(),
        home.wan,
        "masqueraded to the WAN address: {line}"
    );
    assert_eq!(seen.port(), local.port(), "port kept: {line}");

    let (_b, line) = start(&bob.ns, &target, &dir.path().join("b.err"));
    let (local, seen) = parse_ask(&line);
    assert_eq!(local.ip(), bob.addr, "{line}");
    assert_eq!(
        seen.ip(),
        random.wan,
        "masqueraded to the WAN address: {line}"
    );

    // Alice listens on 7001; from the internet, the router's 7001 is closed (filtered).
    let (_alice_server, _) = start(&alice.ns, "whoami 0.0.0.0:7001", &dir.path().join("aw.err"));
    let out = helper(&server.ns, &format!("ask {}:7001", home.wan))
        .output()
        .expect("ask from outside");
    assert!(
        !out.status.success(),
        "the router let an unsolicited connection in: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(home.ruleset().contains("masquerade"), "{}", home.ruleset());
    assert!(random.ruleset().contains("masquerade random"));
}

/// miniupnpd on a lab router grants DiSIMS's client a mapping over PCP, and over NAT-PMP
/// and UPnP-IGD when asked that way (after learning a public-looking address by STUN), and a host on
/// the internet reaches the LAN host's listener through each.
#[test]
fn miniupnpd_maps_ports_over_pcp_natpmp_and_upnp() {
    const TEST: &str = "nat_lab::miniupnpd_maps_ports_over_pcp_natpmp_and_upnp";
    if let Some(why) = Lab::unavailable_with_miniupnpd() {
        return skip(TEST, &why);
    }
    let lab = Lab::new().expect("lab");
    let server = lab.public_host("srv").expect("public host");
    let home = lab.router("home", Nat::PortPreserving).expect("router");
    let alice = lab.lan_host(&home, "alice").expect("lan host");
    let dir = tempfile::tempdir().unwrap();
    let (_stun, _) = start(&server.ns, "stun 0.0.0.0:3478", &dir.path().join("s.err"));
    let _miniupnpd =
        home.start_miniupnpd(std::net::SocketAddrV4::new(server.addr, 3478), dir.path());
    let mut keep = Vec::new();
    for (port, ask, protocol) in [
        (7002, "", "PCP"),
        (7003, " natpmp", "NAT-PMP"),
        (7004, " upnp", "UPnP"),
    ] {
        let (listener, _) = start(
            &alice.ns,
            &format!("whoami 0.0.0.0:{port}"),
            &dir.path().join(format!("w{port}.err")),
        );
        let (mapper, line) = start(
            &alice.ns,
            &format!("portmap {port}{ask}"),
            &dir.path().join(format!("m{port}.err")),
        );
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words.first(), Some(&"mapped"), "no mapping: {line}");
        let external: std::net::SocketAddrV4 = words[1].parse().expect("mapped address");
        assert_eq!(*external.ip(), home.wan, "{line}");
        assert_eq!(external.port(), port, "{line}");
        assert_eq!(words.get(2), Some(&protocol), "{line}");
        let (_ask, answer) = start(
            &server.ns,
            &format!("ask {external}"),
            &dir.path().join(format!("a{port}.err")),
        );
        assert!(
            answer.contains(&format!("seen={}", server.addr)),
            "{answer}"
        );
        keep.push((listener, mapper));
    }
}

/// Issue 13, lab scenario 3: alice's gateway is behind a miniupnpd home router, bob's on
/// the internet, both with default settings (apart from the DHT bootstrap). Alice's
/// gateway maps its peer port over NAT-PMP and publishes the mapped address; bob's
/// gateway dials it directly (the router forwards nothing else) and messages flow both
/// ways; when alice's gateway stops, the mapping is gone from the router.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_behind_a_upnp_router_maps_its_port_and_is_reached_directly() {
    const TEST: &str =
        "nat_lab::a_gateway_behind_a_upnp_router_maps_its_port_and_is_reached_directly";
    if let Some(why) = Lab::unavailable_with_miniupnpd() {
        return skip(TEST, &why);
    }
    let lab = Lab::new().expect("lab");
    let srv = lab.public_host("srv").expect("public host");
    let bob_host = lab.public_host("bob").expect("public host");
    let home = lab.router("home", Nat::PortPreserving).expect("router");
    let alice_host = lab.lan_host(&home, "alice").expect("lan host");
    let dir = tempfile::tempdir().unwrap();
    let (_stun, _) = start(&srv.ns, "stun 0.0.0.0:3478", &dir.path().join("stun.err"));
    let _miniupnpd = home.start_miniupnpd(std::net::SocketAddrV4::new(srv.addr, 3478), dir.path());
    let (_dht, dht_addr) = lab_gateway::dht_node(&srv, dir.path());

    let mut alice_gw = lab_gateway::start(&alice_host, &dht_addr, dir.path(), "alice", "").await;
    let bob_gw = lab_gateway::start(&bob_host, &dht_addr, dir.path(), "bob", "").await;
    let (alice_id, bob_id) = (alice_gw.peer, bob_gw.peer);
    let mut alice = alice_gw.client("alice").await;
    let mut bob = bob_gw.client("bob").await;

    // Alice publishes the router's mapping: its WAN address and her peer port.
    let mapped = format!("{}:7667", home.wan);
    alice
        .expect(|l| l.contains("DHT: published") && l.contains(&mapped))
        .await;
    bob.expect(|l| l.contains("DHT: published")).await;
    assert!(
        home.ruleset().contains("dport 7667"),
        "no mapping on the router: {}",
        home.ruleset()
    );
    alice.send("PRIVMSG &disims :status").await;
    alice
        .expect(|l| {
            l.contains(&format!(
                "Port mapping: PCP on the router, reachable at {mapped}"
            ))
        })
        .await;

    // Bob writes first: his gateway dials alice's published (mapped) address.
    bob.send(&format!("PRIVMSG {alice_id} :hello through your router"))
        .await;
    let line = alice.expect(common::chat).await;
    assert!(line.ends_with(" :hello through your router"), "{line}");
    alice.send(&format!("PRIVMSG {bob_id} :hello back")).await;
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :hello back"), "{line}");

    // A graceful stop removes the mapping from the router.
    assert!(
        alice_gw.process.terminate(),
        "alice's gateway did not stop cleanly"
    );
    let ruleset = home.ruleset();
    assert!(
        !ruleset.contains("dport 7667"),
        "the mapping outlived the gateway: {ruleset}"
    );
}
