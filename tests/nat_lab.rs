//! The NAT lab (issue 13, tests/common/nat.rs): home routers made of network namespaces
//! and nftables, checked here as the other lab tests rely on them.
//!
//! Needs root, iproute2 and nftables (`.ci/run` installs them). Elsewhere each test prints
//! `SKIPPED: ...` to stderr and passes, except when `CI=true`, where it fails.
//!
//! Run: `cargo test --test nat_lab` (as root).

mod common;

use common::nat::{Lab, Nat, helper, start};
use common::netns::skip;

/// Not a test: the lab's helper services (a `whoami` server, a client, a STUN server) when
/// this binary is run again inside a namespace; does nothing otherwise.
#[test]
fn lab_helper() {
    common::nat::helper_main();
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

/// miniupnpd on a lab router grants DiSIMS's NAT-PMP client a mapping (after learning a
/// public-looking address by STUN), and a host on the internet reaches the LAN host's
/// listener through it.
#[test]
fn miniupnpd_maps_a_port_for_the_natpmp_client() {
    const TEST: &str = "nat_lab::miniupnpd_maps_a_port_for_the_natpmp_client";
    if let Some(why) = Lab::unavailable() {
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
    let (_listener, _) = start(&alice.ns, "whoami 0.0.0.0:7002", &dir.path().join("w.err"));
    let (_mapper, line) = start(&alice.ns, "natpmp 7002", &dir.path().join("m.err"));
    let external = line
        .strip_prefix("mapped ")
        .unwrap_or_else(|| panic!("no mapping: {line}"));
    let external: std::net::SocketAddrV4 = external.parse().expect("mapped address");
    assert_eq!(*external.ip(), home.wan, "{line}");
    assert_eq!(external.port(), 7002, "{line}");
    let (_ask, answer) = start(
        &server.ns,
        &format!("ask {}:7002", home.wan),
        &dir.path().join("a.err"),
    );
    assert!(
        answer.contains(&format!("seen={}", server.addr)),
        "{answer}"
    );
}
