//! Tests of the mainline directory and its self-healing node, on local testnets (127.0.0.1
//! only; resolvers are fakes, so no name is ever looked up for real).

use super::*;
use crate::directory::AddressRecord;
use crate::directory::bootstrap::{Resolve, SystemResolver};
use crate::directory::node::{HealTimers, HealingNode, Health};
use crate::directory::nodes_file;
use ::mainline::Testnet;
use std::net::SocketAddrV4;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;

fn config(bootstrap: Vec<String>, timeout_ms: u64) -> DhtConfig {
    DhtConfig {
        bootstrap,
        listen: "127.0.0.1:0".parse().unwrap(),
        server_mode: DhtServerMode::Server,
        request_timeout: Duration::from_millis(timeout_ms),
    }
}

fn quick() -> HealTimers {
    HealTimers {
        retry_min: Duration::from_millis(100),
        retry_max: Duration::from_millis(400),
        grace: Duration::from_millis(1500),
        save_every: Duration::from_millis(200),
    }
}

fn start(config: &DhtConfig, resolver: Arc<dyn Resolve>, seed: u8) -> MainlineDirectory {
    MainlineDirectory::start(
        config,
        None,
        resolver,
        quick(),
        SigningKey::from_bytes(&[seed; 32]),
    )
    .unwrap()
}

fn client(testnet: &Testnet, seed: u8) -> MainlineDirectory {
    start(
        &config(testnet.bootstrap.clone(), 500),
        Arc::new(SystemResolver),
        seed,
    )
}

async fn testnet(n: usize) -> Testnet {
    tokio::task::spawn_blocking(move || Testnet::builder(n).build().unwrap())
        .await
        .unwrap()
}

fn record(port: u16) -> PublishedRecord {
    AddressRecord {
        protocol_version: 1,
        addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
    }
    .into()
}

/// A resolver whose names fail `failures` times, then answer `addrs` (DNS coming back).
struct FlakyResolver {
    failures: AtomicUsize,
    addrs: Vec<SocketAddrV4>,
    calls: AtomicUsize,
}

impl Resolve for FlakyResolver {
    fn resolve(&self, host_port: &str) -> std::io::Result<Vec<SocketAddrV4>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(std::io::Error::other(format!(
                "failed to lookup address information for {host_port}"
            )));
        }
        Ok(self.addrs.clone())
    }
}

/// Checks `node` until it has joined, or fails after a generous bound (no timing asserted).
async fn until_joined(node: &HealingNode) -> usize {
    for _ in 0..300 {
        if let Health::Joined(n) = node.check().await {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the node did not join; problem: {:?}", node.problem());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_then_lookup_on_a_testnet() {
    let testnet = testnet(10).await;
    let alice = client(&testnet, 1);
    let bob = client(&testnet, 2);
    alice.publish(&record(4000)).await.unwrap();
    let found = bob
        .lookup(PeerId::of(&SigningKey::from_bytes(&[1; 32])))
        .await
        .unwrap();
    let found = found.expect("record found");
    assert_eq!(found.record, record(4000));
    assert!(!found.from_cache);
    // The second lookup is served from the cache; forget() makes it ask again.
    let peer = PeerId::of(&SigningKey::from_bytes(&[1; 32]));
    assert!(bob.lookup(peer).await.unwrap().unwrap().from_cache);
    alice.publish(&record(4001)).await.unwrap();
    bob.forget(&peer);
    assert_eq!(
        bob.lookup(peer).await.unwrap().unwrap().record,
        record(4001)
    );
    // Nobody published for key 3: "not found", not "our DHT is down".
    assert_eq!(
        bob.lookup(PeerId::of(&SigningKey::from_bytes(&[3; 32])))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_read_as_not_found() {
    let testnet = testnet(5).await;
    let reader = client(&testnet, 2);
    let writer = client(&testnet, 9);
    let signer = SigningKey::from_bytes(&[9; 32]);
    // Unknown version: a valid BEP 44 item whose value we cannot read.
    let item = MutableItem::new(signer, &[7, 0, 1], seq_now(), Some(ADDRESS_SALT));
    writer.dht().unwrap().put_mutable(item, None).await.unwrap();
    assert_eq!(
        reader
            .lookup(PeerId::of(&SigningKey::from_bytes(&[9; 32])))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_bootstrap_is_our_side_offline_not_a_missing_record() {
    // A port on loopback where nothing listens: requests go unanswered.
    let dir = start(
        &config(vec!["127.0.0.1:9".to_string()], 100),
        Arc::new(SystemResolver),
        4,
    );
    let published = dir.publish(&record(1)).await;
    assert!(
        matches!(published, Err(DirectoryError::Offline(_))),
        "{published:?}"
    );
    let looked_up = dir
        .lookup(PeerId::of(&SigningKey::from_bytes(&[5; 32])))
        .await;
    let Err(DirectoryError::Offline(why)) = looked_up else {
        panic!("expected our side offline, got {looked_up:?}");
    };
    assert!(why.starts_with("DHT unreachable"), "{why}");
    // Once the grace period is over, the node says why, in words for the user.
    let node = dir.node();
    let mut problem = None;
    for _ in 0..200 {
        if let Health::Unreachable(p) = node.check().await {
            problem = node.problem();
            if problem.is_some() {
                assert_eq!(Some(p), problem.clone());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        problem.as_deref(),
        Some("DHT unreachable: no bootstrap node answered (tried 1 address)")
    );
    assert_eq!(dir.info().await.problem, problem);
    let Err(e) = dir
        .lookup(PeerId::of(&SigningKey::from_bytes(&[5; 32])))
        .await
    else {
        panic!("lookup succeeded");
    };
    assert_eq!(
        e.to_string(),
        "DHT unreachable: no bootstrap node answered (tried 1 address)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_resolved_again_until_dns_answers() {
    let testnet = testnet(5).await;
    let resolver = Arc::new(FlakyResolver {
        failures: AtomicUsize::new(3),
        addrs: testnet
            .bootstrap
            .iter()
            .map(|s| s.parse().unwrap())
            .collect(),
        calls: AtomicUsize::new(0),
    });
    let dir = start(
        &config(vec!["dht.test.invalid:6881".to_string()], 300),
        resolver.clone(),
        6,
    );
    let node = dir.node();
    // The first resolution failed: nothing to try, and the cause is known at once.
    assert_eq!(
        node.problem().as_deref(),
        Some(
            "DHT unreachable: DNS failed for dht.test.invalid:6881: \
             failed to lookup address information for dht.test.invalid:6881"
        )
    );
    assert!(matches!(
        dir.lookup(PeerId::of(&SigningKey::from_bytes(&[7; 32])))
            .await,
        Err(DirectoryError::Offline(_))
    ));
    let port = node.port();
    until_joined(&node).await;
    assert!(resolver.calls.load(Ordering::SeqCst) >= 4, "resolved again");
    assert_eq!(node.problem(), None);
    assert_eq!(dir.info().await.local_addr.map(|a| a.port()), Some(port));
    // Joined: publishing works without a restart.
    dir.publish(&record(4100)).await.unwrap();
    let reader = client(&testnet, 8);
    let found = reader
        .lookup(PeerId::of(&SigningKey::from_bytes(&[6; 32])))
        .await
        .unwrap();
    assert_eq!(found.map(|f| f.record), Some(record(4100)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saved_nodes_bootstrap_the_next_run_without_dns() {
    let testnet = testnet(5).await;
    let data = tempfile::tempdir().unwrap();
    // First run: joins through the names and saves its routing table at shutdown.
    let first = HealingNode::start(
        &config(testnet.bootstrap.clone(), 300),
        Some(data.path().to_path_buf()),
        Arc::new(SystemResolver),
        quick(),
    )
    .unwrap();
    let first = Arc::new(first);
    until_joined(&first).await;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(first.clone().run(shutdown.clone()));
    shutdown.cancel();
    running.await.unwrap();
    let saved = nodes_file::load(data.path());
    assert!(!saved.is_empty(), "routing table saved");
    drop(first);
    // Second run: its only name never resolves; the saved nodes are enough.
    let never = Arc::new(FlakyResolver {
        failures: AtomicUsize::new(usize::MAX),
        addrs: Vec::new(),
        calls: AtomicUsize::new(0),
    });
    let second = HealingNode::start(
        &config(vec!["poisoned.test.invalid:6881".to_string()], 300),
        Some(data.path().to_path_buf()),
        never,
        quick(),
    )
    .unwrap();
    assert_eq!(second.problem(), None, "saved nodes are something to try");
    until_joined(&second).await;
    // A corrupt file does not stop a start.
    std::fs::write(nodes_file::path(data.path()), b"\xff\xfe garbage\n").unwrap();
    let third = HealingNode::start(
        &config(testnet.bootstrap.clone(), 300),
        Some(data.path().to_path_buf()),
        Arc::new(SystemResolver),
        quick(),
    )
    .unwrap();
    until_joined(&third).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_zero_picks_a_free_port_not_6881() {
    let dir = start(&config(Vec::new(), 100), Arc::new(SystemResolver), 10);
    let port = dir.info().await.local_addr.unwrap().port();
    assert_ne!(port, 0);
    // mainline alone binds 6881 when it is free; port 0 in our config means any free port
    // (the OS never hands out 6881 from its ephemeral range).
    assert_ne!(port, 6881);
    let plain = build_dht(&config(Vec::new(), 100)).unwrap().as_async();
    assert_ne!(plain.info().await.local_addr().port(), 6881);
}

/// A `MakeWriter` into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged_under(filter: &str) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        // What mainline 8.0.1 logs (rpc.rs, socket.rs), with its targets and levels.
        tracing::error!(target: "mainline::rpc", "Could not bootstrap the routing table");
        tracing::warn!(target: "mainline::rpc::socket", "IO error socket gone");
        tracing::error!(target: "disims::directory::node", "our own error");
        tracing::warn!(target: "disims::daemon", "DHT unreachable: no bootstrap node answered");
    });
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn the_log_filter_silences_only_mainlines_bootstrap_error() {
    let before = logged_under("disims=info,mainline=warn");
    assert!(before.contains("Could not bootstrap"), "{before}");
    let after = logged_under(&format!("disims=info,{LOG_DIRECTIVES}"));
    assert!(!after.contains("Could not bootstrap"), "{after}");
    for kept in ["IO error socket gone", "our own error", "DHT unreachable"] {
        assert!(after.contains(kept), "{kept} missing from {after}");
    }
}

/// Answers its name with two addresses, in the other order each time (round-robin DNS).
struct Rotating {
    addrs: [SocketAddrV4; 2],
    calls: AtomicUsize,
}

impl Resolve for Rotating {
    fn resolve(&self, _host_port: &str) -> std::io::Result<Vec<SocketAddrV4>> {
        let [a, b] = self.addrs;
        Ok(
            if self.calls.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                vec![a, b]
            } else {
                vec![b, a]
            },
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotating_dns_answer_does_not_restart_the_node_forever() {
    // Two UDP sockets that never answer: bootstrap nodes that are down.
    let silent: Vec<std::net::UdpSocket> = (0..2)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let addr = |s: &std::net::UdpSocket| match s.local_addr().unwrap() {
        SocketAddr::V4(v4) => v4,
        SocketAddr::V6(_) => unreachable!("bound on 127.0.0.1"),
    };
    let resolver = Arc::new(Rotating {
        addrs: [addr(&silent[0]), addr(&silent[1])],
        calls: AtomicUsize::new(0),
    });
    let timers = HealTimers {
        grace: Duration::from_millis(300),
        ..quick()
    };
    let node = HealingNode::start(
        &config(vec!["pool.test.invalid:6881".to_string()], 100),
        None,
        resolver.clone(),
        timers,
    )
    .unwrap();
    let mut problem = None;
    for _ in 0..200 {
        if let Health::Unreachable(_) = node.check().await
            && let Some(p) = node.problem()
        {
            problem = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        problem.as_deref(),
        Some("DHT unreachable: no bootstrap node answered (tried 2 addresses)"),
        "after {} resolutions",
        resolver.calls.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_a_plain_error() {
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut config = config(Vec::new(), 100);
    config.listen = taken.local_addr().unwrap();
    for _ in 0..20 {
        let started = MainlineDirectory::start(
            &config,
            None,
            Arc::new(SystemResolver),
            quick(),
            SigningKey::from_bytes(&[13; 32]),
        );
        let Err(DirectoryError::Start(e)) = started else {
            panic!("started on a port in use");
        };
        assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    }
}

/// During the transition a gateway that still publishes under its identity key (the form
/// before blinding) is found; a newer gateway's blinded record wins over an older legacy
/// one of the same peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_published_before_blinding_is_still_found() {
    let testnet = testnet(10).await;
    let alice = client(&testnet, 1);
    let bob = client(&testnet, 2);
    let key = SigningKey::from_bytes(&[1; 32]);
    let peer = PeerId::of(&key);
    let legacy = ::mainline::MutableItem::new(
        key.clone(),
        &record(4200).encode().unwrap(),
        seq_now(),
        Some(ADDRESS_SALT),
    );
    alice
        .dht()
        .unwrap()
        .put_mutable(legacy, None)
        .await
        .unwrap();
    assert_eq!(
        bob.lookup(peer).await.unwrap().unwrap().record,
        record(4200)
    );
    alice.publish(&record(4201)).await.unwrap();
    bob.forget(&peer);
    assert_eq!(
        bob.lookup(peer).await.unwrap().unwrap().record,
        record(4201)
    );
}

#[test]
fn a_record_is_published_for_tomorrow_too_in_the_last_two_hours_of_a_day() {
    let day = 20_000 * blind::PERIOD_SECS;
    assert_eq!(publish_periods(day), vec![20_000]);
    assert_eq!(publish_periods(day + 21 * 3600), vec![20_000]);
    assert_eq!(publish_periods(day + 22 * 3600), vec![20_000, 20_001]);
    assert_eq!(
        publish_periods(day + blind::PERIOD_SECS - 1),
        vec![20_000, 20_001]
    );
}

#[test]
fn the_relay_topic_changes_every_day_and_seekers_overlap_the_change() {
    use super::{legacy_relay_info_hash, relay_days, relay_info_hash};
    let day = 20_421u64;
    assert_ne!(relay_info_hash(day), relay_info_hash(day + 1));
    assert_ne!(relay_info_hash(day), legacy_relay_info_hash());
    let midnight = day * 86_400;
    assert_eq!(relay_days(midnight), vec![day, day - 1]);
    assert_eq!(relay_days(midnight + 3599), vec![day, day - 1]);
    assert_eq!(relay_days(midnight + 3600), vec![day]);
    assert_eq!(relay_days(midnight + 86_399), vec![day]);
}
