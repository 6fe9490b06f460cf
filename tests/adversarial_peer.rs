//! Attacks on the peer port and on the encrypted stream, against running gateways. Each
//! test shows that the attack fails and that honest peers keep working.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{IrcClient, WAIT, memory_gateway, redirect, tampering_proxy};
use disims::daemon::Options;
use disims::directory::memory::SharedRecords;
use disims::peer::SessionTimers;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Sends `n` messages from alice to bob through a proxy that applies `mutate` to the
/// first connection's records; bob must see every message exactly once, in order, and
/// the tampered connection must have been replaced by a new one.
async fn tampered_stream_delivers_exactly_once_in_order<F>(mutate: F)
where
    F: Fn(usize, Vec<u8>) -> Vec<u8> + Send + Sync + 'static,
{
    const N: usize = 10;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    // The proxy says which data frames of the first connection it has handled.
    let (frames_tx, mut frames_rx) = tokio::sync::mpsc::unbounded_channel();
    let proxy = tampering_proxy(b.peer_addr, move |conn, index, record| {
        seen.fetch_max(conn + 1, Ordering::SeqCst);
        // Records 0 and 1 are the handshake; tamper with data frames of the first connection.
        if conn == 0 && index >= 2 {
            let _ = frames_tx.send(index - 2);
            mutate(index - 2, record)
        } else {
            record
        }
    })
    .await;
    redirect(&records, b.peer_id, proxy);

    // m0..m2 one at a time (one frame each: data frames 0 to 2), then m3 alone (frame 3,
    // the one tampered with), then a burst (frame 4 and on) that reveals the tampering.
    for i in 0..3 {
        alice.send(&format!("PRIVMSG {} :m{i}", b.peer_id)).await;
        tokio::time::timeout(WAIT, async { while frames_rx.recv().await != Some(i) {} })
            .await
            .expect("frame seen");
    }
    alice.send(&format!("PRIVMSG {} :m3", b.peer_id)).await;
    tokio::time::timeout(WAIT, async { while frames_rx.recv().await != Some(3) {} })
        .await
        .expect("frame 3 seen");
    let burst: String = (4..N)
        .map(|i| format!("PRIVMSG {} :m{i}\r\n", b.peer_id))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    for i in 0..N {
        let line = bob.expect(common::chat).await;
        assert!(
            line.ends_with(&format!(" :m{i}")),
            "expected m{i}, got {line}"
        );
    }
    // Nothing more trails behind (a duplicate would arrive before the PONG).
    bob.send("PING :end").await;
    let next = bob.expect(|l| l.contains("PONG") || common::chat(l)).await;
    assert!(next.contains("PONG"), "unexpected: {next}");
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the tampered connection was not closed"
    );
    assert!(
        !alice
            .seen
            .iter()
            .any(|l| l.contains("not delivered") || l.contains("is offline")),
        "{:#?}",
        alice.seen
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_data_frame_closes_the_connection_and_nothing_shows_twice() {
    tampered_stream_delivers_exactly_once_in_order(|frame, record| {
        if frame == 3 {
            [record.clone(), record].concat()
        } else {
            record
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reordered_data_frames_close_the_connection_and_order_holds() {
    let held = Mutex::new(None::<Vec<u8>>);
    tampered_stream_delivers_exactly_once_in_order(move |frame, record| match frame {
        3 => {
            *held.lock().unwrap() = Some(record);
            Vec::new()
        }
        4 => [record, held.lock().unwrap().take().unwrap_or_default()].concat(),
        _ => record,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_data_frame_closes_the_connection_and_the_message_is_resent() {
    tampered_stream_delivers_exactly_once_in_order(
        |frame, record| if frame == 3 { Vec::new() } else { record },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_data_frame_closes_the_connection_and_the_message_is_resent() {
    tampered_stream_delivers_exactly_once_in_order(|frame, mut record| {
        if frame == 3 {
            // One byte shorter, with a header that says so: it cannot authenticate.
            record.pop();
            let len = (record.len() - 4) as u32;
            record[..4].copy_from_slice(&len.to_be_bytes());
        }
        record
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_initiator_handshake_establishes_no_session() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    let b_id = b.peer_id;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    // Record everything alice's gateway sends on its first connection to bob.
    let recorded = Arc::new(Mutex::new(Vec::<u8>::new()));
    let tape = recorded.clone();
    let proxy = tampering_proxy(b.peer_addr, move |conn, _, record| {
        if conn == 0 {
            tape.lock().unwrap().extend_from_slice(&record);
        }
        record
    })
    .await;
    redirect(&records, b_id, proxy);
    alice
        .send(&format!("PRIVMSG {b_id} :recorded message"))
        .await;
    bob.expect(|l| l.ends_with(":recorded message")).await;

    // Bob's gateway restarts (forgetting which message ids it has seen), then the recording
    // is replayed to it: a new handshake needs a new signature over a new transcript.
    drop(bob);
    b.shutdown().await;
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    assert_eq!(b.peer_id, b_id);
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    let tape = recorded.lock().unwrap().clone();
    assert!(
        tape.len() > 4 + 38 + 4 + 112,
        "the recording holds the handshake and a frame"
    );
    let mut replay = TcpStream::connect(b.peer_addr).await.unwrap();
    replay.write_all(&tape).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, replay.read_to_end(&mut answer))
        .await
        .expect("closed in time");
    // Bob answered msg1 with a fresh msg2 (4 + 144 bytes) and then closed: nothing more.
    assert!(
        read.is_err() || answer.len() == 4 + 144,
        "{} bytes came back",
        answer.len()
    );
    bob.send("PING :sync").await;
    let next = bob.expect(|l| l.contains("PONG") || common::chat(l)).await;
    assert!(
        next.contains("PONG"),
        "the replayed message was shown: {next}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_length_prefix_after_the_handshake_closes_the_connection() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    // An authenticated peer (its own identity) that then announces a 4 GiB frame.
    let mallory = ed25519_dalek::SigningKey::from_bytes(&[66; 32]);
    let mut stream = TcpStream::connect(b.peer_addr).await.unwrap();
    disims::peer::transport::initiate(&mut stream, &mallory, b.peer_id)
        .await
        .expect("handshake");
    stream
        .write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection was not closed");
    // Honest peers are unaffected.
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    alice
        .send(&format!("PRIVMSG {} :still fine", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":still fine")).await;
    a.shutdown().await;
    b.shutdown().await;
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_silent_connections_do_not_stop_honest_peers() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    // Long handshake and msg1 timeouts, so that only the caps can explain early closes.
    let timers = SessionTimers {
        handshake: Duration::from_secs(60),
        ..SessionTimers::default()
    };
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let b = memory_gateway(
        &dir.path().join("b"),
        &records,
        Options {
            timers,
            inbound: disims::policy::inbound::InboundLimits {
                msg1_wait: Duration::from_secs(60),
                ..Default::default()
            },
            ..Options::default()
        },
    )
    .await;
    let before = rss_kib();
    // The attacker connects from another loopback address and never speaks.
    let mut silent = Vec::new();
    for _ in 0..1000 {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        silent.push(socket.connect(b.peer_addr).await.unwrap());
    }
    // All but the per-IP cap are closed at once; wait until that shows.
    let cap = disims::peer::MAX_PENDING_PER_IP;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut open = 0;
        for s in &mut silent {
            let mut byte = [0u8; 1];
            // Nothing to read within a moment: still open. EOF or reset: closed by the gateway.
            if tokio::time::timeout(Duration::from_millis(1), s.read(&mut byte))
                .await
                .is_err()
            {
                open += 1;
            }
        }
        if open <= cap {
            assert!(open > 0, "the per-IP cap keeps some handshakes waiting");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open} silent connections still open"
        );
    }
    // Honest peers (from 127.0.0.1) still talk through the flood.
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    alice
        .send(&format!("PRIVMSG {} :through the flood", b.peer_id))
        .await;
    bob.expect(|l| l.ends_with(":through the flood")).await;
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "resident memory grew by {grown} KiB");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let timers = SessionTimers {
        handshake: Duration::from_millis(300),
        ..SessionTimers::default()
    };
    let b = memory_gateway(
        dir.path(),
        &records,
        Options {
            timers,
            ..Options::default()
        },
    )
    .await;
    let mut silent = TcpStream::connect(b.peer_addr).await.unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, silent.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "still open after the handshake timeout");
    assert!(
        rest.is_empty(),
        "the gateway sent {} bytes to a silent peer",
        rest.len()
    );
    b.shutdown().await;
}

/// Sessions are capped (each holds a file descriptor, and keys are free): beyond the cap,
/// inbound connections are refused and the dialling peer queues its message; when a
/// session ends, the next peer gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_sessions_beyond_the_cap_are_refused_until_one_ends() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let timers = SessionTimers {
        retry: Duration::from_millis(200),
        ..SessionTimers::default()
    };
    let capped = Options {
        max_sessions: Some(1),
        ..Options::default()
    };
    let target = memory_gateway(&dir.path().join("t"), &records, capped).await;
    let first = memory_gateway(
        &dir.path().join("p1"),
        &records,
        Options {
            timers,
            ..Options::default()
        },
    )
    .await;
    let second = memory_gateway(
        &dir.path().join("p2"),
        &records,
        Options {
            timers,
            ..Options::default()
        },
    )
    .await;
    let mut t = IrcClient::register(target.irc_addr, "t").await;
    t.expect(|l| l.contains("DHT: published")).await;
    let mut c1 = IrcClient::register(first.irc_addr, "one").await;
    let mut c2 = IrcClient::register(second.irc_addr, "two").await;

    c1.send(&format!("PRIVMSG {} :from the first", target.peer_id))
        .await;
    let line = t.expect(common::chat).await;
    assert!(line.ends_with(":from the first"), "{line}");
    // The cap is reached: the second peer's dial is refused, its message waits.
    c2.send(&format!("PRIVMSG {} :from the second", target.peer_id))
        .await;
    let notice = c2
        .expect(|l| l.contains(" NOTICE ") && l.contains("offline"))
        .await;
    assert!(notice.contains("; 1 message queued"), "{notice}");
    // The first peer leaves; the second gets in on its next retry.
    first.shutdown().await;
    let line = t.expect(common::chat).await;
    assert!(line.ends_with(":from the second"), "{line}");

    tokio::join!(target.shutdown(), second.shutdown());
}
