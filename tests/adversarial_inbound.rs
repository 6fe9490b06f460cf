//! Issue 11, "inbound slots cannot be monopolised", against running gateways: silent
//! connections from many addresses and prefixes, a msg1 flood from one prefix, and
//! fresh-key sessions from one prefix. Each test asserts the honest peer's outcome (its
//! handshake completes, its messages arrive, nothing is lost) and the bounded resource
//! (connections held, msg2s answered, sessions held). Source addresses are loopback
//! addresses other than 127.0.0.1 (the client socket is bound before connecting).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{IrcClient, WAIT, memory_gateway};
use disims::crypto::{Initiator, MAX_HANDSHAKE_RECORD, MSG2_LEN, encode_record};
use disims::daemon::Options;
use disims::directory::memory::SharedRecords;
use disims::identity::{PeerId, random_bytes};
use disims::peer::{SessionTimers, transport};
use disims::policy::SourcePrefix;
use disims::policy::inbound::InboundLimits;
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(format!("{from}:0").parse().expect("source address"))?;
    socket.connect(to).await
}

/// Whether the gateway closed `s` (EOF or reset once what it sent is read).
async fn is_closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Polls `conns` until at most `bound` are open; returns how many are (panics after WAIT).
async fn settle(conns: &mut [(String, TcpStream)], bound: usize) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut open = Vec::new();
        for (from, s) in conns.iter_mut() {
            if !is_closed(s).await {
                open.push(from.clone());
            }
        }
        if open.len() <= bound {
            return open;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} connections still open, expected at most {bound}",
            open.len()
        );
    }
}

fn fresh_key() -> SigningKey {
    SigningKey::from_bytes(&random_bytes().expect("random"))
}

/// A full handshake from `from` with a fresh key: the stream on success.
async fn handshake_from(from: &str, to: SocketAddr, peer: PeerId) -> Option<TcpStream> {
    let mut s = connect_from(from, to).await.ok()?;
    let done = tokio::time::timeout(WAIT, transport::initiate(&mut s, &fresh_key(), peer)).await;
    matches!(done, Ok(Ok(_))).then_some(s)
}

/// Silent connections (no msg1, ever) from 10 prefixes, 8 addresses each, 6 connections
/// per address (480, where 256 filled the old table): the table holds at most its total
/// and each prefix at most its share, and a peer that speaks always gets in and delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_from_many_prefixes_do_not_keep_peers_out() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    // Long timeouts: only the table's eviction can explain closes.
    let options = Options {
        timers: SessionTimers {
            handshake: Duration::from_secs(120),
            ..SessionTimers::default()
        },
        inbound: InboundLimits {
            msg1_wait: Duration::from_secs(120),
            ..InboundLimits::default()
        },
        ..Options::default()
    };
    let limits = options.inbound;
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let b = memory_gateway(&dir.path().join("b"), &records, options).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;

    // 127.0.0.x is the honest peers' own /24 (they dial from 127.0.0.1).
    let prefixes: Vec<String> = std::iter::once("127.0.0".to_string())
        .chain((1..10).map(|p| format!("127.0.{p}")))
        .collect();
    let mut silent = Vec::new();
    for prefix in &prefixes {
        for host in 2..10 {
            let from = format!("{prefix}.{host}");
            for _ in 0..6 {
                let s = connect_from(&from, b.peer_addr).await.expect("connect");
                silent.push((from.clone(), s));
            }
        }
    }
    let open = settle(&mut silent, limits.pending_total).await;
    let per_prefix = |open: &[String], prefix: &str| {
        open.iter()
            .filter(|a| {
                SourcePrefix::of(a.parse().unwrap())
                    == SourcePrefix::of(format!("{prefix}.1").parse().unwrap())
            })
            .count()
    };
    for prefix in &prefixes {
        let n = per_prefix(&open, prefix);
        assert!(
            n <= limits.pending_per_prefix,
            "{prefix}.0/24 holds {n} slots"
        );
    }
    eprintln!(
        "silent connections held: {} of {} (at most {} per /24)",
        open.len(),
        silent.len(),
        prefixes
            .iter()
            .map(|p| per_prefix(&open, p))
            .max()
            .unwrap_or(0)
    );
    assert!(!open.is_empty(), "the table holds silent connections too");

    // Honest handshakes from the attacked /24 and from a fresh one: none refused.
    let mut refused = 0;
    const HONEST: usize = 20;
    for i in 0..HONEST {
        let from = if i % 2 == 0 {
            "127.0.0.1"
        } else {
            "127.0.42.1"
        };
        if handshake_from(from, b.peer_addr, b.peer_id).await.is_none() {
            refused += 1;
        }
    }
    eprintln!("honest handshakes refused under the flood: {refused}/{HONEST}");
    assert_eq!(refused, 0, "honest handshakes refused");

    // A real peer's messages get through, all of them, in order.
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    for i in 0..5 {
        alice
            .send(&format!("PRIVMSG {} :through the squatters {i}", b.peer_id))
            .await;
    }
    for i in 0..5 {
        let line = bob.expect(common::chat).await;
        assert!(
            line.ends_with(&format!(":through the squatters {i}")),
            "{line}"
        );
    }
    // The table is still bounded after all that.
    let open = settle(&mut silent, limits.pending_total).await;
    assert!(open.len() <= limits.pending_total);
    a.shutdown().await;
    b.shutdown().await;
}

/// A connection that sends no msg1 is closed after the msg1 wait, long before the
/// handshake timeout, and is sent nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_msg1_is_closed_after_the_short_wait() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        timers: SessionTimers {
            handshake: Duration::from_secs(600),
            ..SessionTimers::default()
        },
        inbound: InboundLimits {
            msg1_wait: Duration::from_millis(300),
            ..InboundLimits::default()
        },
        ..Options::default()
    };
    let b = memory_gateway(dir.path(), &records, options).await;
    let mut silent = connect_from("127.0.3.3", b.peer_addr).await.unwrap();
    // Half a msg1 is not a msg1 either.
    silent.write_all(&[0, 0, 0, 38, b'D', b'S']).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, silent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "still open after the msg1 wait");
    assert!(rest.is_empty(), "the gateway sent {} bytes", rest.len());
    b.shutdown().await;
}

/// One attacker's msg1 flood: fresh msg1s as fast as 16 connections from one /24 can send
/// them, each read until msg2 or close. Returns (msg1s sent, msg2s received).
async fn msg1_flood(
    to: SocketAddr,
    peer: PeerId,
    prefix: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> (usize, usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let stop = stop.clone();
        tasks.spawn(async move {
            let (mut sent, mut answered) = (0, 0);
            let mut n = 0;
            while !*stop.borrow() {
                n += 1;
                let from = format!("{prefix}.{}", 1 + (worker * 16 + n) % 250);
                let Ok(mut s) = connect_from(&from, to).await else {
                    continue;
                };
                let key = fresh_key();
                let (_, msg1) =
                    Initiator::new(&key, &peer.verifying_key(), random_bytes().unwrap());
                let mut record = Vec::new();
                encode_record(&msg1, &mut record);
                if s.write_all(&record).await.is_err() {
                    continue;
                }
                sent += 1;
                let mut buf = Vec::new();
                let read = tokio::time::timeout(
                    WAIT,
                    transport::read_record(&mut s, MAX_HANDSHAKE_RECORD, &mut buf),
                )
                .await;
                if matches!(read, Ok(Ok(()))) && buf.len() == MSG2_LEN {
                    answered += 1;
                }
            }
            (sent, answered)
        });
    }
    let (mut sent, mut answered) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        let (s, a) = done.expect("flood task");
        sent += s;
        answered += a;
    }
    (sent, answered)
}

/// A msg1 flood from one /24: the msg2s (each an X25519 and a signature of the gateway)
/// it gets are bounded by the budget, while a peer from another /24 completes its
/// handshake and delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_msg1_flood_from_one_prefix_gets_few_answers_and_others_get_through() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    // Small numbers, so that the bound does not depend on how fast this machine floods.
    let limits = InboundLimits {
        load_rate: 5.0,
        load_burst: 5.0,
        msg1_per_prefix_rate: 1.0,
        msg1_per_prefix_burst: 2.0,
        msg1_total_rate: 50.0,
        msg1_total_burst: 50.0,
        ..InboundLimits::default()
    };
    let options = Options {
        inbound: limits,
        ..Options::default()
    };
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let b = memory_gateway(&dir.path().join("b"), &records, options).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;

    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let started = tokio::time::Instant::now();
    let flood = tokio::spawn(msg1_flood(b.peer_addr, b.peer_id, "127.0.5", stop));
    // Let the flood put the gateway under load.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Under the flood: honest handshakes from other prefixes, and a real peer's messages.
    let mut refused = 0;
    let mut took = Vec::new();
    const HONEST: usize = 10;
    for i in 0..HONEST {
        let from = format!("127.0.{}.1", 10 + i);
        let begun = std::time::Instant::now();
        if handshake_from(&from, b.peer_addr, b.peer_id)
            .await
            .is_none()
        {
            refused += 1;
        }
        took.push(begun.elapsed());
    }
    // For the record only (not asserted): what an honest handshake took under the flood.
    took.sort();
    eprintln!(
        "honest handshake under the flood, median {:?}",
        took[HONEST / 2]
    );
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    alice
        .send(&format!("PRIVMSG {} :through the flood", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":through the flood")).await;

    // A window of a few seconds, so that the rates (not only the bursts) show.
    tokio::time::sleep_until(started + Duration::from_secs(4)).await;
    stop_tx.send(true).unwrap();
    let (sent, answered) = flood.await.unwrap();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "msg1 flood: {sent} msg1s in {secs:.1} s, {answered} answered; honest handshakes refused: {refused}/{HONEST}"
    );
    assert_eq!(refused, 0, "honest handshakes from other prefixes refused");
    // Before load: the detector's burst (and its rate while it refills); under load: the
    // prefix's burst and rate.
    let bound = limits.load_burst
        + limits.msg1_per_prefix_burst
        + (limits.load_rate + limits.msg1_per_prefix_rate) * secs
        + 1.0;
    assert!(
        (answered as f64) <= bound,
        "{answered} msg2s for {sent} msg1s in {secs:.1} s (bound {bound:.0})"
    );
    assert!(
        sent > 4 * answered,
        "the flood was too slow to say anything: {sent} msg1s"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// Waits for the service's answer to `add NICK name` in &disims.
async fn add_contact(client: &mut IrcClient, peer: PeerId, name: &str) {
    client
        .send(&format!("PRIVMSG &disims :add {peer} {name}"))
        .await;
    client
        .expect(|l| l.contains(&format!("Added {peer} as {name}")))
        .await;
}

/// Fresh-key sessions from one /24 fill only that prefix's share; a stranger from another
/// prefix still gets a session, strangers cannot take the part kept for contacts, a
/// contact gets in, and a contact arriving at a full cap evicts the least active stranger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_key_sessions_cannot_keep_contacts_out() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    // 4 sessions: 1 kept for contacts, 2 per prefix for strangers.
    let options = Options {
        max_sessions: Some(4),
        inbound: InboundLimits {
            reserved_for_contacts: Some(1),
            sessions_per_prefix: Some(2),
            ..InboundLimits::default()
        },
        ..Options::default()
    };
    let b = memory_gateway(&dir.path().join("b"), &records, options).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    // Alice and dave are bob's contacts; their gateways start later (bob's presence probe
    // finds nobody, so that every session in this test is inbound).
    let (alice_key, _) = disims::identity::load_or_create(&dir.path().join("a")).unwrap();
    let (dave_key, _) = disims::identity::load_or_create(&dir.path().join("d")).unwrap();
    add_contact(&mut bob, PeerId::of(&alice_key), "alice").await;
    add_contact(&mut bob, PeerId::of(&dave_key), "dave").await;

    // Ten fresh keys from one /24: two sessions stay.
    let mut attackers = Vec::new();
    for host in 1..=10 {
        let from = format!("127.0.7.{host}");
        if let Some(s) = handshake_from(&from, b.peer_addr, b.peer_id).await {
            attackers.push((from, s));
        }
    }
    let held = settle(&mut attackers, 2).await;
    eprintln!("fresh-key sessions from one /24 held: {} of 10", held.len());
    assert_eq!(held.len(), 2, "the prefix holds its share: {held:?}");
    attackers.retain(|(from, _)| held.contains(from));

    // A stranger from another prefix (127.0.0.1) gets a session and delivers.
    let c = memory_gateway(&dir.path().join("c"), &records, Options::default()).await;
    let mut carol = IrcClient::register(c.irc_addr, "carol").await;
    carol
        .send(&format!("PRIVMSG {} :from a stranger", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":from a stranger")).await;

    // Strangers now hold all they may (3 of 4): one more, from a third prefix, is closed.
    let mut late = handshake_from("127.0.9.1", b.peer_addr, b.peer_id)
        .await
        .map(|s| vec![("127.0.9.1".to_string(), s)])
        .unwrap_or_default();
    assert!(settle(&mut late, 0).await.is_empty());

    // A contact takes the kept place: the cap is full now.
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    alice
        .send(&format!("PRIVMSG {} :from a contact", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":from a contact")).await;

    // Another contact arrives at the full cap: the least active stranger (the first
    // attacker: it never carried a chat) is evicted, and the contact delivers.
    let d = memory_gateway(&dir.path().join("d"), &records, Options::default()).await;
    let mut dave = IrcClient::register(d.irc_addr, "dave").await;
    dave.send(&format!("PRIVMSG {} :from another contact", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":from another contact")).await;
    let still = settle(&mut attackers, 1).await;
    assert_eq!(
        still,
        [attackers[1].0.clone()],
        "the oldest idle stranger went"
    );
    // The stranger who chatted keeps its session: its next message needs no new one.
    carol
        .send(&format!("PRIVMSG {} :still here", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":still here")).await;
    for client in [&alice, &dave, &carol] {
        assert!(
            !client
                .seen
                .iter()
                .any(|l| l.contains("offline") || l.contains("not delivered")),
            "{:#?}",
            client.seen
        );
    }
    for g in [a, b, c, d] {
        g.shutdown().await;
    }
}
