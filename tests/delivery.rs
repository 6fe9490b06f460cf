//! Durable delivery (issue 5): messages to an offline peer wait in the outbox and arrive
//! exactly once, in order, when it is back; accepted messages survive a restart.

mod common;

use std::time::Duration;

use common::process::{self, GatewayToml, Process};
use common::{IrcClient, testnet};
use disims::daemon::{Gateway, Options};
use disims::peer::SessionTimers;

/// Quick retries, so that a peer coming back is found within the test's patience.
fn options() -> Options {
    let timers = SessionTimers {
        retry: Duration::from_millis(200),
        ..SessionTimers::default()
    };
    Options {
        timers,
        ..Options::default()
    }
}

async fn gateway(dir: &std::path::Path, net: &mainline::Testnet) -> Gateway {
    common::init_tracing();
    Gateway::start(common::config(dir, net), options())
        .await
        .expect("gateway starts")
}

async fn published(client: &mut IrcClient) {
    client.expect(|l| l.contains("DHT: published")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_to_an_offline_peer_arrive_once_in_order_when_it_is_back() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    // Bob's identity exists (alice knows his nick) but his gateway is not running.
    let (b_key, _) = disims::identity::load_or_create(&b_dir).unwrap();
    let b_nick = disims::identity::PeerId::of(&b_key).nick();
    let a = gateway(&a_dir, &net).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    published(&mut alice).await;
    let burst: String = (0..100)
        .map(|i| format!("PRIVMSG {b_nick} :q{i}\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    let queued = alice
        .expect(|l| l.contains(" NOTICE ") && l.contains("is offline"))
        .await;
    assert!(queued.contains("queued"), "{queued}");

    let b = gateway(&b_dir, &net).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    for i in 0..100 {
        let line = bob.expect(common::chat).await;
        assert!(
            line.ends_with(&format!(" :q{i}")),
            "expected q{i}, got {line}"
        );
    }
    alice
        .expect(|l| l.contains(" NOTICE ") && l.contains("were delivered"))
        .await;
    // Exactly one notice of each kind, and nothing shown twice.
    let count = |needle: &str| alice.seen.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("is offline"), 1, "{:#?}", alice.seen);
    assert_eq!(count("were delivered"), 1, "{:#?}", alice.seen);
    bob.send("PING :end").await;
    let next = bob.expect(|l| l.contains("PONG") || common::chat(l)).await;
    assert!(next.contains("PONG"), "a message showed twice: {next}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_messages_survive_a_restart_of_the_sender() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let (b_key, _) = disims::identity::load_or_create(&b_dir).unwrap();
    let b_id = disims::identity::PeerId::of(&b_key);
    let a = gateway(&a_dir, &net).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    published(&mut alice).await;
    let burst: String = (0..20)
        .map(|i| format!("PRIVMSG {b_id} :r{i}\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    alice.expect(|l| l.contains("is offline")).await;
    // All twenty are in the outbox on disk; the sender stops.
    assert_eq!(
        disims::store::Store::open(&a_dir)
            .unwrap()
            .outbox(&b_id)
            .unwrap()
            .len(),
        20
    );
    drop(alice);
    a.shutdown().await;

    // Bob comes up, then alice's gateway again: it delivers what it had accepted.
    let b = gateway(&b_dir, &net).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    published(&mut bob).await;
    let a = gateway(&a_dir, &net).await;
    for i in 0..20 {
        let line = bob.expect(common::chat).await;
        assert!(
            line.ends_with(&format!(" :r{i}")),
            "expected r{i}, got {line}"
        );
    }
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while !disims::store::Store::open(&a_dir)
        .unwrap()
        .outbox(&b_id)
        .unwrap()
        .is_empty()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the outbox was not emptied by the acks"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// Starts `disims run` on `irc_port` with its data in `dir/data`; returns once it listens.
fn run_process(dir: &std::path::Path, irc_port: u16, net: &mainline::Testnet) -> Process {
    let config = dir.join("gateway.toml");
    GatewayToml {
        data_dir: &dir.join("data"),
        irc_listen: ([127, 0, 0, 1], irc_port).into(),
        irc_password: None,
        peer_listen: "127.0.0.1:0".parse().unwrap(),
        advertise: Vec::new(),
        dht_bootstrap: net.bootstrap.clone(),
        dht_listen: "127.0.0.1:0".parse().unwrap(),
    }
    .write(&config);
    Process::start(process::run_command(&[], &config), &dir.join("stderr")).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_with_sigkill_loses_nothing_it_accepted() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a_dir).unwrap();
    let (b_key, _) = disims::identity::load_or_create(&b_dir).unwrap();
    let b_id = disims::identity::PeerId::of(&b_key);
    let irc_port = process::free_port();
    let mut sender = run_process(&a_dir, irc_port, &net);
    let mut alice = IrcClient::register(([127, 0, 0, 1], irc_port).into(), "alice").await;
    let burst: String = (0..100)
        .map(|i| format!("PRIVMSG {b_id} :k{i}\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    // Once the last is accepted (in the outbox on disk), kill the gateway without warning.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let stored = disims::store::Store::open(&a_dir.join("data"))
            .unwrap()
            .outbox(&b_id)
            .unwrap()
            .len();
        if stored == 100 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {stored} accepted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sender.kill(); // SIGKILL
    drop(alice);

    let b = gateway(&b_dir, &net).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    published(&mut bob).await;
    let _restarted = run_process(&a_dir, process::free_port(), &net);
    for i in 0..100 {
        let line = bob.expect(common::chat).await;
        assert!(
            line.ends_with(&format!(" :k{i}")),
            "expected k{i}, got {line}"
        );
    }
    bob.send("PING :end").await;
    let next = bob.expect(|l| l.contains("PONG") || common::chat(l)).await;
    assert!(next.contains("PONG"), "a message showed twice: {next}");
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undeliverable_message_expires_with_a_notice() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(&dir.path().join("a"), &net);
    config.store.expire_after = Duration::from_millis(400);
    let a = Gateway::start(config, options()).await.unwrap();
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    published(&mut alice).await;
    let nobody = disims::identity::PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[61; 32]));
    alice
        .send(&format!("PRIVMSG {nobody} :into the void"))
        .await;
    alice.expect(|l| l.contains("is offline")).await;
    let notice = alice
        .expect(|l| l.contains("was not delivered within"))
        .await;
    assert!(notice.starts_with(&format!(":{nobody}!")), "{notice}");
    assert!(
        notice.contains("1 message to") && notice.contains("into the void"),
        "{notice}"
    );
    assert!(
        disims::store::Store::open(&dir.path().join("a"))
            .unwrap()
            .outbox(&nobody)
            .unwrap()
            .is_empty()
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_back_on_another_port_is_found_again_through_the_dht() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let a = gateway(&a_dir, &net).await;
    let b = gateway(&b_dir, &net).await;
    let b_id = b.peer_id;
    let old_port = b.peer_addr.port();
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    published(&mut alice).await;
    published(&mut bob).await;
    alice.send(&format!("PRIVMSG {b_id} :before")).await;
    bob.expect(|l| l.ends_with(":before")).await;

    // Bob's gateway restarts on another port (port 0 again) and publishes the new address.
    drop(bob);
    b.shutdown().await;
    let b = gateway(&b_dir, &net).await;
    assert_ne!(b.peer_addr.port(), old_port);
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    published(&mut bob).await;
    // Alice's cached address is stale: the dial fails there, she looks bob up again.
    alice.send(&format!("PRIVMSG {b_id} :after")).await;
    bob.expect(|l| l.ends_with(":after")).await;
    a.shutdown().await;
    b.shutdown().await;
}
