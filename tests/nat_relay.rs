//! NAT lab scenarios with relays (issue 13; the lab is tests/common/nat.rs): users behind
//! port-randomising home routers talk through a public gateway that relays for anyone
//! (scenario 1), the conversation survives the relay's death by moving to another one
//! (scenario 4), and with no relay anywhere the sender is told why messages wait, not that
//! the peer is offline (scenario 5). The users' gateways run with the defaults a user gets,
//! apart from the DHT bootstrap: they find the relay in the DHT, learn from a dial-back that
//! they cannot be reached directly, and publish their relays.
//!
//! Needs root, iproute2 and nftables (`.ci/run` installs them). Elsewhere each test prints
//! `SKIPPED: ...` to stderr and passes, except when `CI=true`, where it fails.
//!
//! Run: `cargo test --test nat_relay` (as root).

mod common;

use std::time::Duration;

use common::lab_gateway::{LabGateway, Scene};
use common::lab_talk::{
    FIND_RELAY, SERVE_ANYONE, published_relays, say, session_path, status, status_until,
    texts_until,
};
use common::nat::{Lab, Nat};
use common::netns::skip;

/// Not a test: the lab's helper services (the IRC bridge into a namespace) when this
/// binary is run again inside a namespace; does nothing otherwise.
#[test]
fn lab_helper() {
    common::lab_helper::helper_main();
}

/// Issue 13, lab scenario 1: alice and bob each behind a port-randomising home router,
/// a gateway on the internet that relays for anyone. Both find it in the DHT, hold a
/// reservation, publish it; messages go both ways through it; WHOIS and `status` say
/// so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_behind_port_randomising_nats_talk_through_a_public_relay() {
    const TEST: &str = "nat_relay::users_behind_port_randomising_nats_talk_through_a_public_relay";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let scene = Scene::new(&["relay"], Nat::PortRandomising);
    let relay_host = &scene.publics[0];
    let relay = scene.gateway(relay_host, "relay", SERVE_ANYONE).await;
    let started = std::time::Instant::now();
    let alice_gw = scene.gateway(&scene.alice, "alice", "").await;
    let bob_gw = scene.gateway(&scene.bob, "bob", "").await;
    let mut alice = alice_gw.client("alice").await;
    let mut bob = bob_gw.client("bob").await;

    let line = published_relays(&mut alice).await;
    let relay_short = relay.peer.short();
    assert!(line.contains(&relay_short), "{line}");
    published_relays(&mut bob).await;
    let lines = status(&mut alice).await;
    assert!(
        lines.iter().any(|l| l
            .contains("Reachability: not reachable directly; peers reach us via")
            && l.contains(&format!("{}:7667", relay_host.addr))),
        "{lines:#?}"
    );

    let published = started.elapsed();
    let (alice_id, bob_id) = (alice_gw.peer.to_string(), bob_gw.peer.to_string());
    say(&mut bob, &mut alice, &alice_id, "hello through the relay").await;
    // A measurement for docs/performance.md, not an assertion.
    eprintln!(
        "MEASURE nat_relay: behind a NAT, start to relays published {:.1} s, to the first relayed message {:.1} s",
        published.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    say(&mut alice, &mut bob, &bob_id, "hello back, also relayed").await;
    for i in 0..5 {
        say(&mut bob, &mut alice, &alice_id, &format!("burst {i}")).await;
    }

    let line = session_path(&mut alice, &bob_id).await;
    assert!(line.contains("relayed via"), "{line}");
    drop(relay);
}

/// A friend's gateway on a VPS relays for its contacts (the default, `serve = "contacts"`):
/// alice, behind a port-randomising router, is its owner's contact and adds it as hers;
/// her gateway finds it among her contacts and holds a reservation there. Bob adds it too,
/// but is a stranger to its owner: he is refused a reservation (so he has no relay), yet
/// reaches alice through it: anyone may dial a contact through the relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_friends_gateway_relays_for_its_contacts_only() {
    const TEST: &str = "nat_relay::a_friends_gateway_relays_for_its_contacts_only";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let scene = Scene::new(&["vps"], Nat::PortRandomising);
    let vps = scene.gateway(&scene.publics[0], "vps", "").await;
    let alice_gw = scene.gateway(&scene.alice, "alice", "").await;
    let bob_gw = scene.gateway(&scene.bob, "bob", "").await;
    let mut owner = vps.client("owner").await;
    let mut alice = alice_gw.client("alice").await;
    let mut bob = bob_gw.client("bob").await;
    owner
        .send(&format!("PRIVMSG &disims :add {} alice", alice_gw.peer))
        .await;
    owner
        .expect(|l| l.contains("&disims") && l.contains("alice"))
        .await;
    for client in [&mut alice, &mut bob] {
        client
            .send(&format!("PRIVMSG &disims :add {} vps", vps.peer))
            .await;
    }

    let line = published_relays(&mut alice).await;
    assert!(line.contains(&vps.peer.short()), "{line}");
    // Bob, a stranger to the VPS, finds no relay that serves him.
    bob.expect_within(FIND_RELAY, |l| {
        l.contains("DHT: published that we are behind a NAT with no relay")
    })
    .await;
    // The VPS gives a stranger's Reserve no answer at all (a challenge would name it to any
    // scanner): bob's status says no relay would take him.
    status_until(&mut bob, FIND_RELAY, |l| {
        l.contains("Reachability:")
            && (l.contains("last relay tried") || l.contains("no relay found"))
    })
    .await;

    let (alice_id, bob_id) = (alice_gw.peer.to_string(), bob_gw.peer.to_string());
    say(
        &mut bob,
        &mut alice,
        &alice_id,
        "hello via your friend's relay",
    )
    .await;
    say(&mut alice, &mut bob, &bob_id, "got it").await;
}

/// Issue 13, lab scenario 5: alice and bob behind port-randomising routers and no relay
/// anywhere. Bob's gateway says it is probably behind a NAT and publishes so; alice's
/// message waits, and alice is told that bob cannot be reached because his gateway is
/// behind a NAT with no relay, not that bob is offline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_relay_anywhere_the_sender_is_told_why_messages_wait() {
    const TEST: &str = "nat_relay::with_no_relay_anywhere_the_sender_is_told_why_messages_wait";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let scene = Scene::new(&[], Nat::PortRandomising);
    let alice_gw = scene.gateway(&scene.alice, "alice", "").await;
    let bob_gw = scene.gateway(&scene.bob, "bob", "").await;
    let mut alice = alice_gw.client("alice").await;
    let mut bob = bob_gw.client("bob").await;
    bob.expect_within(FIND_RELAY, |l| {
        l.contains("DHT: published that we are behind a NAT with no relay")
    })
    .await;
    let lines = status(&mut bob).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Reachability: probably behind a NAT")),
        "{lines:#?}"
    );

    let bob_id = bob_gw.peer.to_string();
    alice
        .send(&format!("PRIVMSG {bob_id} :are you there?"))
        .await;
    let notice = alice
        .expect_within(Duration::from_secs(60), |l| {
            l.contains("NOTICE") && l.contains("queued")
        })
        .await;
    assert!(
        notice.contains("behind a NAT and has found no relay") && !notice.contains("is offline"),
        "{notice}"
    );
    let lines = status(&mut alice).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("Outbox: 1 message waiting")),
        "{lines:#?}"
    );
}

/// Issue 13, lab scenario 4: three public relays; alice and bob behind port-randomising
/// routers each hold two reservations (the default). Mid-conversation the relay that
/// carries it is killed (SIGKILL): alice's gateway reserves at the third relay and
/// republishes, bob's messages (sent before, while and after) reach alice exactly once
/// and in order, and alice's replies reach bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_relay_dies_the_conversation_moves_to_another_and_nothing_is_lost() {
    const TEST: &str =
        "nat_relay::when_the_relay_dies_the_conversation_moves_to_another_and_nothing_is_lost";
    if let Some(why) = Lab::unavailable() {
        return skip(TEST, &why);
    }
    let scene = Scene::new(&["r1", "r2", "r3"], Nat::PortRandomising);
    let mut relays: Vec<LabGateway> = Vec::new();
    for (host, name) in scene.publics.iter().zip(["r1", "r2", "r3"]) {
        relays.push(scene.gateway(host, name, SERVE_ANYONE).await);
    }
    let alice_gw = scene.gateway(&scene.alice, "alice", "").await;
    let bob_gw = scene.gateway(&scene.bob, "bob", "").await;
    let mut alice = alice_gw.client("alice").await;
    let mut bob = bob_gw.client("bob").await;
    let (alice_id, bob_id) = (alice_gw.peer.to_string(), bob_gw.peer.to_string());

    // Two relays each (the DHT may show the relays one by one: wait for a record of two).
    let shorts: Vec<String> = relays.iter().map(|r| r.peer.short()).collect();
    let held = |line: &str| shorts.iter().filter(|s| line.contains(s.as_str())).count();
    let line = alice
        .expect_within(FIND_RELAY, |l| {
            l.contains("DHT: published our relays") && held(l) == 2
        })
        .await;
    bob.expect_within(FIND_RELAY, |l| {
        l.contains("DHT: published our relays") && held(l) == 2
    })
    .await;

    say(&mut bob, &mut alice, &alice_id, "before 0").await;
    say(&mut alice, &mut bob, &bob_id, "reply 0").await;
    // The relay that carries the conversation, as alice's WHOIS tells it.
    let whois = session_path(&mut alice, &bob_id).await;
    let carrying = relays
        .iter()
        .position(|r| whois.contains(&r.peer.to_string()) || whois.contains(&r.peer.short()))
        .unwrap_or_else(|| panic!("WHOIS names no relay of the lab: {whois}"));
    let dead = relays[carrying].peer.short();
    // Bob dialled alice through one of the relays she published.
    assert!(line.contains(&dead), "{line}");
    let mark = alice.seen.len();
    relays[carrying].process.kill();

    // Bob keeps writing; the messages queue while his gateway finds its way again.
    for i in 1..=5 {
        bob.send(&format!("PRIVMSG {alice_id} :after {i}")).await;
    }
    let got = texts_until(&mut alice, "after 5").await;
    let want: Vec<String> = (1..=5).map(|i| format!("after {i}")).collect();
    assert_eq!(got, want, "each message exactly once, in order");
    say(&mut alice, &mut bob, &bob_id, "reply after the move").await;

    // Alice moved to the third relay and published it (maybe while the messages came in).
    let moved =
        |l: &str| l.contains("DHT: published our relays") && held(l) == 2 && !l.contains(&dead);
    if !alice.seen[mark..].iter().any(|l| moved(l)) {
        alice.expect_within(FIND_RELAY, moved).await;
    }
    let whois = session_path(&mut alice, &bob_id).await;
    assert!(whois.contains("relayed via"), "{whois}");
}
