//! The gateway dials only what it should (issue 11, item 3, and item 8's own addresses in a
//! record and peer that never acks): hostile DHT records and peers that end every session,
//! against running gateways on real sockets. Every listener a record points at is one the
//! test holds, counting what reaches it.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{IrcClient, WAIT, memory_gateway, memory_gateway_with};
use disims::config::DialScope;
use disims::daemon::Options;
use disims::directory::AddressRecord;
use disims::directory::memory::{MemoryDirectory, SharedRecords};
use disims::identity::PeerId;
use disims::peer::SessionTimers;
use ed25519_dalek::SigningKey;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// How long the redial tests watch a peer that ends every session.
const WINDOW: Duration = Duration::from_secs(12);

/// A listener on `addr` that adds each connection it accepts to `count` and closes it.
async fn counting_listener(addr: &str, count: Arc<AtomicUsize>) -> Option<SocketAddr> {
    let listener = TcpListener::bind(addr).await.ok()?;
    let local = listener.local_addr().ok()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    Some(local)
}

/// A fake peer with `key`: completes the handshake on each connection (counted), reads
/// whatever comes for `hold` without ever acknowledging it, then closes.
async fn closing_peer(key: SigningKey, hold: Duration) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handshakes = Arc::new(AtomicUsize::new(0));
    let count = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (key, count) = (key.clone(), count.clone());
            tokio::spawn(async move {
                if disims::peer::transport::respond(&mut stream, &key, Default::default())
                    .await
                    .is_err()
                {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
                let mut sink = vec![0u8; 4096];
                let _ = tokio::time::timeout(hold, async {
                    while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
                })
                .await;
            });
        }
    });
    (addr, handshakes)
}

/// Stores a record listing `addrs` as written: an IPv6 address stays family 6 even in the
/// IPv4-mapped form (which this gateway's encoder writes as family 4, and another writer may
/// not).
fn plant(records: &SharedRecords, peer: PeerId, addrs: Vec<SocketAddr>) {
    let record = AddressRecord {
        protocol_version: 1,
        addrs: addrs.clone(),
    };
    let mut bytes = vec![1, 0, 1, addrs.len() as u8];
    for addr in &addrs {
        match addr.ip() {
            IpAddr::V4(ip) => {
                bytes.push(4);
                bytes.extend_from_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                bytes.push(6);
                bytes.extend_from_slice(&ip.octets());
            }
        }
        bytes.extend_from_slice(&addr.port().to_be_bytes());
    }
    assert_eq!(AddressRecord::decode(&bytes).unwrap(), record);
    MemoryDirectory::insert_raw(records, peer, bytes);
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn notice_from(peer: PeerId) -> impl Fn(&str) -> bool {
    move |l: &str| l.contains(" NOTICE ") && l.starts_with(&format!(":{peer}!"))
}

/// An address in a private range this host has no address in (so `dial = "public"` must
/// not dial it), if there is such a range.
fn private_range_we_are_not_on() -> Option<IpAddr> {
    let ours: Vec<IpAddr> = if_addrs::get_if_addrs()
        .ok()?
        .iter()
        .map(|i| i.ip())
        .collect();
    let in_range = |ip: &IpAddr, net: [u8; 4], len: u32| match ip {
        IpAddr::V4(v4) => u32::from(*v4) >> (32 - len) == u32::from_be_bytes(net) >> (32 - len),
        IpAddr::V6(_) => false,
    };
    [
        ([10, 0, 0, 0], 8, [10, 255, 255, 1]),
        ([172, 16, 0, 0], 12, [172, 31, 255, 1]),
        ([192, 168, 0, 0], 16, [192, 168, 255, 1]),
    ]
    .into_iter()
    .find(|(net, len, _)| !ours.iter().any(|ip| in_range(ip, *net, *len)))
    .map(|(_, _, probe)| IpAddr::from(probe))
}

/// Waits until `count` reaches `at_least`; panics after [`WAIT`].
async fn until(count: &AtomicUsize, at_least: usize) {
    tokio::time::timeout(WAIT, async {
        while count.load(Ordering::SeqCst) < at_least {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the count did not grow");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_record_reaches_no_listener_and_the_user_is_told_why() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    // The default `dial = "public"`: a gateway on the internet, not a test's.
    let a = memory_gateway_with(dir.path(), &records, Options::default(), |c| {
        c.peer.dial = DialScope::Public
    })
    .await;
    let accepts = Arc::new(AtomicUsize::new(0));
    let held = counting_listener("127.0.0.1:0", accepts.clone())
        .await
        .unwrap();
    let port = held.port();
    let mapped = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
        v6 => v6,
    };
    let mut addrs = vec![
        held,
        SocketAddr::new(mapped(held.ip()), port),
        "169.254.169.254:80".parse().unwrap(),
        SocketAddr::from(([100, 64, 0, 1], port)),
        a.irc_addr,
        a.peer_addr,
    ];
    let v6 = counting_listener("[::1]:0", accepts.clone()).await;
    addrs.extend(v6);
    let private = private_range_we_are_not_on().map(|ip| SocketAddr::new(ip, port));
    addrs.extend(private);
    let mallory = PeerId::of(&key(31));
    plant(&records, mallory, addrs);
    // A record whose one address is `::ffff:0.0.0.0`, which connects to this host.
    let zero = PeerId::of(&key(32));
    let mut raw = vec![1, 0, 1, 1, 6];
    raw.extend_from_slice(&std::net::Ipv4Addr::UNSPECIFIED.to_ipv6_mapped().octets());
    raw.extend_from_slice(&port.to_be_bytes());
    MemoryDirectory::insert_raw(&records, zero, raw);

    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    alice.send(&format!("PRIVMSG {mallory} :hello")).await;
    let notice = alice.expect(notice_from(mallory)).await;
    let mut expected = vec![
        format!("{held} (loopback, not dialled"),
        format!("[::ffff:127.0.0.1]:{port} (loopback, not dialled"),
        "169.254.169.254:80 (link-local address, never dialled)".to_string(),
        format!("100.64.0.1:{port} (carrier-grade NAT address, never dialled)"),
        format!("{} (this gateway's own address)", a.irc_addr),
        format!("{} (this gateway's own address)", a.peer_addr),
    ];
    expected.extend(v6.map(|v6| format!("{v6} (loopback, not dialled")));
    expected.extend(
        private.map(|p| format!("{p} (private address on a network this gateway is not on")),
    );
    for needle in &expected {
        assert!(notice.contains(needle.as_str()), "{needle:?} in {notice}");
    }
    assert!(notice.contains("no address this gateway dials"), "{notice}");

    alice.send(&format!("PRIVMSG {zero} :hello")).await;
    let notice = alice.expect(notice_from(zero)).await;
    assert!(
        notice.contains("is offline (no address in the DHT)"),
        "{notice}"
    );
    // Both dials are over (each ended in its notice): nothing reached the test's listeners.
    assert_eq!(accepts.load(Ordering::SeqCst), 0);
    assert!(!alice.seen.iter().any(|l| l.contains("SECURITY")));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_own_addresses_in_a_record_get_an_honest_note_and_the_peer_is_still_reached() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    // An address this gateway publishes (a port forwarded to it, say): held by the test.
    let accepts = Arc::new(AtomicUsize::new(0));
    let published = counting_listener("127.0.0.1:0", accepts.clone())
        .await
        .unwrap();
    let a = memory_gateway_with(&dir.path().join("a"), &records, Options::default(), |c| {
        c.peer.advertise = vec![published]
    })
    .await;
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    alice.expect(|l| l.contains("DHT: published")).await;
    bob.expect(|l| l.contains("DHT: published")).await;

    // Bob's record lists Alice's own addresses before his own: they are skipped.
    plant(
        &records,
        b.peer_id,
        vec![a.irc_addr, a.peer_addr, published, b.peer_addr],
    );
    alice
        .send(&format!("PRIVMSG {} :hello bob", b.peer_id))
        .await;
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(":hello bob"), "{line}");

    // A record of nothing but our own addresses: an honest note, no SECURITY warning.
    let mallory = PeerId::of(&key(33));
    plant(&records, mallory, vec![a.peer_addr, a.irc_addr, published]);
    alice.send(&format!("PRIVMSG {mallory} :hello")).await;
    let notice = alice.expect(notice_from(mallory)).await;
    for own in [a.peer_addr, a.irc_addr, published] {
        let needle = format!("{own} (this gateway's own address)");
        assert!(notice.contains(&needle), "{needle:?} in {notice}");
    }
    assert!(
        !alice.seen.iter().any(|l| l.contains("SECURITY")),
        "{:#?}",
        alice.seen
    );
    assert_eq!(accepts.load(Ordering::SeqCst), 0);
    tokio::join!(a.shutdown(), b.shutdown());
}

/// Timers as a test's, with one second as the first backoff step.
fn one_second_backoff() -> Options {
    Options {
        timers: SessionTimers {
            retry: Duration::from_secs(1),
            probe: Duration::from_secs(1),
            ..SessionTimers::default()
        },
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_peer_that_ends_every_session_is_redialled_with_backoff() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = memory_gateway(dir.path(), &records, one_second_backoff()).await;
    // Its record: three third parties, the peer, then twelve more third parties.
    let third = Arc::new(AtomicUsize::new(0));
    let beyond = Arc::new(AtomicUsize::new(0));
    let mut thirds = Vec::new();
    for i in 0..15 {
        let count = if i < 3 { &third } else { &beyond };
        thirds.push(
            counting_listener("127.0.0.1:0", count.clone())
                .await
                .unwrap(),
        );
    }
    let mallory_key = key(34);
    let mallory = PeerId::of(&mallory_key);
    // Each session lasts longer than the old 0.5 s "short session" and carries nothing.
    let (addr, handshakes) = closing_peer(mallory_key, Duration::from_millis(700)).await;
    let mut addrs = thirds[..3].to_vec();
    addrs.push(addr);
    addrs.extend_from_slice(&thirds[3..]);
    plant(&records, mallory, addrs);

    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    alice.send(&format!("MONITOR + {mallory}")).await;
    until(&handshakes, 1).await;
    tokio::time::sleep(WINDOW).await;
    let (h, t, b) = (
        handshakes.load(Ordering::SeqCst),
        third.load(Ordering::SeqCst),
        beyond.load(Ordering::SeqCst),
    );
    eprintln!(
        "in {WINDOW:?}: {h} handshakes with the peer, {t} connections to the third parties before it, {b} beyond the first four"
    );
    // Before: a redial at once after each 0.7 s session (about 17 in 12 s, each with a
    // connection to every address before the peer's). Now: 1 s, 2 s, 4 s, 8 s apart.
    assert!(h <= 6, "{h} handshakes in {WINDOW:?}");
    assert!(t <= 3 * (h + 1), "{t} connections to third parties");
    assert_eq!(b, 0, "addresses beyond the first four were dialled");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_never_acks_is_redialled_with_backoff_and_nothing_is_lost() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = memory_gateway(dir.path(), &records, one_second_backoff()).await;
    let mallory_key = key(35);
    let mallory = PeerId::of(&mallory_key);
    // Takes our message, never acknowledges it, closes after a second.
    let (addr, handshakes) = closing_peer(mallory_key, Duration::from_secs(1)).await;
    plant(&records, mallory, vec![addr]);

    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    alice
        .send(&format!("PRIVMSG {mallory} :are you there"))
        .await;
    until(&handshakes, 1).await;
    tokio::time::sleep(WINDOW).await;
    let h = handshakes.load(Ordering::SeqCst);
    eprintln!("in {WINDOW:?}: {h} handshakes with a peer that never acks");
    // Before: a redial at once after each 1 s session (about 12 in 12 s, 107 in 108 s).
    assert!(h <= 6, "{h} handshakes in {WINDOW:?}");
    // The message still waits in the outbox for a peer that acknowledges it.
    assert_eq!(common::process::outbox_len(dir.path(), &mallory), 1);
    a.shutdown().await;
}

/// A listener that accepts and holds each connection open without a word.
async fn silent_listener(count: Arc<AtomicUsize>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_peer_is_reached_does_not_depend_on_the_other_addresses_of_its_record() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    // A handshake may take a minute: a dial that waited for each address to fail before
    // trying the next would reach bob only after the silent one's minute.
    let options = Options {
        timers: SessionTimers {
            handshake: Duration::from_secs(60),
            ..SessionTimers::default()
        },
        ..Options::default()
    };
    let a = memory_gateway(&dir.path().join("a"), &records, options).await;
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    let silent = Arc::new(AtomicUsize::new(0));
    let closed = {
        // A port that was open a moment ago: connecting to it is refused at once.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let record = vec![silent_listener(silent.clone()).await, closed, b.peer_addr];
    plant(&records, b.peer_id, record);

    alice
        .send(&format!("PRIVMSG {} :through the noise", b.peer_id))
        .await;
    // Within WAIT (20 s), far less than the silent address's 60 s handshake timeout.
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(":through the noise"), "{line}");
    assert_eq!(silent.load(Ordering::SeqCst), 1);
    tokio::join!(a.shutdown(), b.shutdown());
}
