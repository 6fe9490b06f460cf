//! Issue 13, NAT lab scenario 6: a relay under a flood of reservations and circuits from
//! one prefix keeps serving its own users. A public gateway relays for anyone; an attacker
//! with two hosts in one /24 of its own (11.0.114.0/24, [`Lab::public_host_in`]) floods it
//! with reservations by fresh keys, circuits to those keys and to random ones, and Reserves
//! whose challenge it never answers ([`common::lab_helper::relay_flood`]), and holds what it
//! got. Alice and bob, each behind a port-randomising home router (in 11.0.113.0/24, the
//! routers' own prefix), with default settings, still get reservations and talk through the
//! relay, before and after the second host's flood; the attacker gets no more than the
//! per-prefix caps of `disims::policy::relay`. A third attacker host, in a third /24, then
//! dials alice herself through the relay and holds the circuits open and silent: it gets
//! at most its prefix's share of them, and their slots come back once alice's gateway has
//! dropped them.
//!
//! Why the attacker has a /24 of its own: budgets count per [`disims::policy::SourcePrefix`]
//! (an IPv4 /24), and the lab puts every router's WAN address in 11.0.113.0/24, so an
//! attacker there would share the users' prefix, which no real flood does (and the per-prefix
//! caps are meant to lump together exactly such neighbours).
//!
//! Needs root, iproute2 and nftables. Elsewhere it prints `SKIPPED: ...` to stderr and
//! passes, except when `CI=true`, where it fails.
//!
//! Run: `cargo test --test nat_flood` (as root).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::lab_gateway;
use common::lab_helper::start;
use common::lab_talk::{SERVE_ANYONE, status_until};
use common::nat::{Lab, Nat};
use common::netns::skip;
use disims::policy::relay::{CHALLENGES_PER_PREFIX, CIRCUITS_PER_PREFIX, RESERVATIONS_PER_PREFIX};

/// The attacker's /24: another prefix than the routers' and the public hosts' (11.0.113.0/24).
const ATTACKER: [u8; 3] = [11, 0, 114];
/// A third attacker host's /24, for the flood of circuits at alice.
const OTHER_ATTACKER: [u8; 3] = [11, 0, 115];
/// What the flood asks for: ten times the reservations one prefix may hold, more circuits
/// than one prefix may dial (and as many to random keys), and Reserves never proved.
const RESERVATIONS: usize = 10 * RESERVATIONS_PER_PREFIX;
const CIRCUITS: usize = CIRCUITS_PER_PREFIX + 16;
const STALLS: usize = 100;
/// Finding a relay in the DHT, reserving and publishing takes a gateway behind a NAT a
/// while (the router mapping is given up first).
const RELAY_WAIT: Duration = Duration::from_secs(150);

/// Not a test: the lab's helper services (here the flood) when this binary is run again
/// inside a namespace; does nothing otherwise.
#[test]
fn lab_helper() {
    common::lab_helper::helper_main();
}

/// The flood's summary, `reserve ok=4 11=36 | connect ... | stall ...`: per part, the
/// count of each outcome.
fn parse_flood(line: &str) -> BTreeMap<String, BTreeMap<String, usize>> {
    let body = line
        .strip_prefix("flood ")
        .unwrap_or_else(|| panic!("not a flood summary: {line:?}"));
    let mut parts = BTreeMap::new();
    for part in body.split(" | ") {
        let mut words = part.split_whitespace();
        let name = words.next().expect("a part's name").to_string();
        let mut counts = BTreeMap::new();
        for word in words.filter(|w| *w != "none") {
            let (outcome, n) = word
                .split_once('=')
                .unwrap_or_else(|| panic!("bad count {word:?} in {line:?}"));
            counts.insert(outcome.to_string(), n.parse::<usize>().expect("a count"));
        }
        parts.insert(name, counts);
    }
    for name in ["reserve", "connect", "stall"] {
        assert!(parts.contains_key(name), "no {name} in {line:?}");
    }
    parts
}

fn count(parts: &BTreeMap<String, BTreeMap<String, usize>>, part: &str, outcome: &str) -> usize {
    parts[part].get(outcome).copied().unwrap_or(0)
}

/// Asks `client`'s gateway for `status` until its reachability line names a relay at
/// `relay` (the keeper may still be settling), within [`RELAY_WAIT`].
async fn wait_relayed_via(client: &mut common::IrcClient, relay: &str) -> String {
    status_until(client, RELAY_WAIT, |l| {
        l.contains("Reachability:") && l.contains("via ") && l.contains(relay)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_flooded_from_one_prefix_keeps_serving_its_users() {
    const TEST: &str = "nat_flood::a_relay_flooded_from_one_prefix_keeps_serving_its_users";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let lab = Lab::new().expect("lab");
    let srv = lab.public_host("srv").expect("public host");
    let relay_host = lab.public_host("relay").expect("public host");
    let flood_a = lab
        .public_host_in("flooda", ATTACKER)
        .expect("attacker host");
    let flood_b = lab
        .public_host_in("floodb", ATTACKER)
        .expect("attacker host");
    let flood_c = lab
        .public_host_in("floodc", OTHER_ATTACKER)
        .expect("attacker host");
    let alice_router = lab.router("ahome", Nat::PortRandomising).expect("router");
    let bob_router = lab.router("bhome", Nat::PortRandomising).expect("router");
    let alice_host = lab.lan_host(&alice_router, "alice").expect("lan host");
    let bob_host = lab.lan_host(&bob_router, "bob").expect("lan host");
    assert_ne!(
        disims::policy::SourcePrefix::of(flood_a.addr.into()),
        disims::policy::SourcePrefix::of(alice_router.wan.into()),
        "the attacker must not share the users' prefix"
    );
    let dir = tempfile::tempdir().unwrap();
    let (_dht, dht_addr) = lab_gateway::dht_node(&srv, dir.path());
    let relay_gw =
        lab_gateway::start(&relay_host, &dht_addr, dir.path(), "relay", SERVE_ANYONE).await;
    let relay_addr = format!("{}:7667", relay_host.addr);

    // The flood, from the first attacker host, before the users come.
    let flood = |host: &common::nat::Host, name: &str| {
        start(
            &host.ns,
            &format!("relayflood {relay_addr} {RESERVATIONS} {CIRCUITS} {STALLS}"),
            &dir.path().join(format!("{name}.err")),
        )
    };
    let (_flood_a, line) = flood(&flood_a, "flooda");
    eprintln!("first attacker host: {line}");
    let a = parse_flood(&line);
    // Reservations: exactly the prefix's share (the relay was empty), the rest refused.
    assert_eq!(
        count(&a, "reserve", "ok"),
        RESERVATIONS_PER_PREFIX,
        "{line}"
    );
    assert_eq!(
        count(&a, "reserve", "11"),
        RESERVATIONS - RESERVATIONS_PER_PREFIX,
        "{line}"
    );
    // Circuits: some, at most the prefix's share, the rest refused for it (none failed
    // otherwise); random keys hold no reservation.
    let circuits = count(&a, "connect", "ok");
    assert!(0 < circuits && circuits <= CIRCUITS_PER_PREFIX, "{line}");
    assert_eq!(circuits + count(&a, "connect", "11"), CIRCUITS, "{line}");
    assert_eq!(count(&a, "connect", "20"), CIRCUITS, "{line}");
    // Reserves never proved: only the prefix's challenge slots, the rest refused at once.
    let challenged = count(&a, "stall", "challenged");
    assert!(
        0 < challenged && challenged <= CHALLENGES_PER_PREFIX,
        "{line}"
    );
    assert_eq!(challenged + count(&a, "stall", "11"), STALLS, "{line}");

    // The users, with default settings, behind port-randomising routers.
    let alice_gw = lab_gateway::start(&alice_host, &dht_addr, dir.path(), "alice", "").await;
    let bob_gw = lab_gateway::start(&bob_host, &dht_addr, dir.path(), "bob", "").await;
    let (alice_id, bob_id) = (alice_gw.peer, bob_gw.peer);
    let mut alice = alice_gw.client("alice").await;
    let mut bob = bob_gw.client("bob").await;
    let published = |l: &str| l.contains("DHT: published our relays") && l.contains(&relay_addr);
    alice.expect_within(RELAY_WAIT, published).await;
    bob.expect_within(RELAY_WAIT, published).await;
    let line = wait_relayed_via(&mut alice, &relay_addr).await;
    eprintln!("alice: {line}");
    wait_relayed_via(&mut bob, &relay_addr).await;

    // Messages both ways, through the relay (neither router lets anything else in).
    bob.send(&format!(
        "PRIVMSG {alice_id} :hello through a flooded relay"
    ))
    .await;
    let line = alice.expect(common::chat).await;
    assert!(line.ends_with(" :hello through a flooded relay"), "{line}");
    alice.send(&format!("PRIVMSG {bob_id} :hello back")).await;
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :hello back"), "{line}");

    // A second host of the same /24 floods while they talk: the prefix's share is
    // already held, so it gets no reservation at all, and no circuit (it holds no key).
    let (_flood_b, line) = flood(&flood_b, "floodb");
    eprintln!("second attacker host: {line}");
    let b = parse_flood(&line);
    assert_eq!(count(&b, "reserve", "ok"), 0, "{line}");
    assert_eq!(count(&b, "reserve", "11"), RESERVATIONS, "{line}");
    assert_eq!(count(&b, "connect", "ok"), 0, "{line}");
    assert!(
        count(&b, "stall", "challenged") <= CHALLENGES_PER_PREFIX,
        "{line}"
    );

    // The users are still served.
    alice
        .send(&format!(
            "PRIVMSG {bob_id} :still here after the second flood"
        ))
        .await;
    let line = bob.expect(common::chat).await;
    assert!(
        line.ends_with(" :still here after the second flood"),
        "{line}"
    );
    bob.send(&format!("PRIVMSG {alice_id} :so am I")).await;
    let line = alice.expect(common::chat).await;
    assert!(line.ends_with(" :so am I"), "{line}");

    // A third attacker prefix dials alice through the relay and holds every circuit open
    // and silent: it gets at most its prefix's share of alice's circuits (the rest of
    // alice's are left to others), her gateway drops them (no handshake comes), and the
    // relay frees their slots although the attacker keeps its side open.
    let (_flood_c, line) = start(
        &flood_c.ns,
        &format!("relayflood {relay_addr} 0 {CIRCUITS} 0 {alice_id}"),
        &dir.path().join("floodc.err"),
    );
    eprintln!("third attacker host: {line}");
    let c = parse_flood(&line);
    let at_alice = count(&c, "victim", "ok");
    assert!(0 < at_alice && at_alice <= CIRCUITS_PER_PREFIX, "{line}");
    assert_eq!(at_alice + count(&c, "victim", "11"), CIRCUITS, "{line}");
    assert_eq!(count(&c, "victim", "ended"), at_alice, "{line}");
    assert_eq!(count(&c, "victim", "again"), 1, "{line}");
    wait_relayed_via(&mut alice, &relay_addr).await;
    drop(relay_gw);
}
