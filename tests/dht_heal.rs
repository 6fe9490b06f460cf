//! The gateway's DHT node heals itself and says what is wrong: a bootstrap name that does
//! not resolve at start (laptop before Wi-Fi, VPS at boot) is resolved again until it does,
//! and the gateway joins and publishes without a restart, telling `&disims` once what was
//! wrong and once that it recovered. The "DNS" is a fake resolver; the DHT is one local
//! `disims dht-node`-style node on 127.0.0.1.

mod common;

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::IrcClient;
use disims::daemon::{DhtOptions, Gateway, Options};
use disims::directory::AddressRecord;
use disims::directory::blind::{self, BlindedLocation};
use disims::directory::bootstrap::Resolve;
use disims::directory::node::HealTimers;
use futures_util::StreamExt;

/// Resolves every name to `answer`, after failing `failures` times.
struct FailsThenAnswers {
    failures: AtomicUsize,
    answer: SocketAddrV4,
}

impl Resolve for FailsThenAnswers {
    fn resolve(&self, host_port: &str) -> std::io::Result<Vec<SocketAddrV4>> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(std::io::Error::other(format!(
                "failed to lookup address information: Temporary failure in name resolution ({host_port})"
            )));
        }
        Ok(vec![self.answer])
    }
}

fn quick_heal() -> HealTimers {
    HealTimers {
        retry_min: Duration::from_millis(200),
        retry_max: Duration::from_secs(1),
        grace: Duration::from_secs(2),
        save_every: Duration::from_secs(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_resolves_only_later_lets_the_gateway_join_and_publish() {
    common::init_tracing();
    let (node, node_addr) =
        disims::directory::mainline::standalone_node("127.0.0.1:0".parse().unwrap(), &[])
            .await
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = disims::demo::private_config(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:9".parse().unwrap(),
    );
    let name = "dht-node.test.invalid:6881";
    config.dht.bootstrap = vec![name.to_string()];
    let resolver = Arc::new(FailsThenAnswers {
        failures: AtomicUsize::new(3),
        answer: node_addr,
    });
    let options = Options {
        dht: DhtOptions {
            resolver: resolver.clone(),
            heal: quick_heal(),
        },
        ..Options::default()
    };
    let gateway = Gateway::start(config, options).await.unwrap();
    let mut alice = IrcClient::register(gateway.irc_addr, "alice").await;
    let problem = alice
        .expect(|l| l.contains("NOTICE") && l.contains("DHT unreachable"))
        .await;
    assert!(
        problem.contains(&format!(
            "DHT unreachable: DNS failed for {name}: failed to lookup"
        )),
        "{problem}"
    );
    // Said once: the next DHT line is the recovery, then the publication.
    let next = alice
        .expect(|l| l.contains("NOTICE") && l.contains("DHT"))
        .await;
    assert!(next.contains("DHT: reachable again"), "{next}");
    let published = alice
        .expect(|l| l.contains("NOTICE") && l.contains("DHT"))
        .await;
    assert!(
        published.contains("DHT: published our address"),
        "{published}"
    );
    assert_eq!(
        resolver.failures.load(Ordering::SeqCst),
        0,
        "resolved again"
    );
    // The record is in the DHT, as a BEP 44 item under the gateway's blinded key of today.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let location = BlindedLocation::of(&gateway.peer_id, blind::period_of(now)).unwrap();
    let mut items = node.get_mutable(&location.key, Some(&location.salt), None);
    let item = tokio::time::timeout(common::WAIT, items.next())
        .await
        .expect("lookup in time")
        .expect("the record is published");
    let record = AddressRecord::decode(&location.open(item.value()).unwrap()).unwrap();
    assert_eq!(record.addrs, vec![gateway.peer_addr]);
    gateway.shutdown().await;
    // The routing table was saved for the next start.
    let saved = disims::directory::nodes_file::load(dir.path());
    assert!(saved.contains(&node_addr), "{saved:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dial_while_our_dht_is_down_blames_our_side() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let mut config = disims::demo::private_config(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        // Nothing answers DHT queries on the discard port.
        "127.0.0.1:9".parse().unwrap(),
    );
    config.dht.request_timeout = Duration::from_millis(100);
    let options = Options {
        dht: DhtOptions {
            heal: quick_heal(),
            ..DhtOptions::default()
        },
        ..Options::default()
    };
    let gateway = Gateway::start(config, options).await.unwrap();
    let mut alice = IrcClient::register(gateway.irc_addr, "alice").await;
    alice
        .expect(|l| {
            l.contains("NOTICE") && l.contains("DHT unreachable: no bootstrap node answered")
        })
        .await;
    let peer = disims::identity::PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[3; 32]));
    alice.send(&format!("PRIVMSG {peer} :hello")).await;
    let notice = alice
        .expect(|l| l.contains("NOTICE") && l.contains("queued"))
        .await;
    assert!(
        notice.contains(&format!(
            "cannot look {} up: our DHT connection is down (DHT unreachable",
            peer.nick()
        )) && notice.contains("DHT unreachable: no bootstrap node answered")
            && !notice.contains("is the peer's gateway running"),
        "{notice}"
    );
    gateway.shutdown().await;
}
