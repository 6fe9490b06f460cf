//! Tampering with a version 2 stream. Its records cannot be found without the session keys
//! (the lengths are masked), so the attacker here flips one bit at a byte offset past the
//! handshake: the connection closes, and every message still arrives exactly once, in order,
//! over the next one (version 1's record-level attacks are in adversarial_peer.rs).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{IrcClient, memory_gateway, redirect_blinded};
use disims::daemon::Options;
use disims::directory::memory::SharedRecords;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Past the largest handshake the initiator sends with the default padding (msg1 at most
/// 306 bytes, msg3 at most 370): the flipped bit falls in a data frame.
const FLIP_AT: usize = 1500;

/// A proxy in front of `target` that flips one bit at upstream byte `FLIP_AT` of its first
/// connection; `upstream` counts that connection's bytes, `connections` the connections.
async fn bit_flipper(
    target: std::net::SocketAddr,
) -> (std::net::SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let upstream = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let (up, conns) = (upstream.clone(), connections.clone());
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else {
                continue;
            };
            let first = conns.fetch_add(1, Ordering::SeqCst) == 0;
            let (mut in_r, mut in_w) = inbound.into_split();
            let (mut out_r, mut out_w) = outbound.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut out_r, &mut in_w).await;
                let _ = in_w.shutdown().await;
            });
            let up = up.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let mut seen = 0;
                loop {
                    let n = match in_r.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if first {
                        if (seen..seen + n).contains(&FLIP_AT) {
                            buf[FLIP_AT - seen] ^= 0x10;
                        }
                        up.fetch_add(n, Ordering::SeqCst);
                    }
                    seen += n;
                    if out_w.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                let _ = out_w.shutdown().await;
            });
        }
    });
    (addr, upstream, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_bit_in_a_version_2_stream_closes_it_and_nothing_is_lost_or_doubled() {
    const N: usize = 40;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = memory_gateway(&dir.path().join("a"), &records, Options::default()).await;
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    let (proxy, upstream, connections) = bit_flipper(b.peer_addr).await;
    redirect_blinded(&records, b.peer_id, proxy);

    // One at a time until the flipped byte has passed, then the rest in a burst.
    let padding = "p".repeat(100);
    let mut sent = 0;
    while sent < N && upstream.load(Ordering::SeqCst) <= FLIP_AT {
        alice
            .send(&format!("PRIVMSG {} :m{sent} {padding}", b.peer_id))
            .await;
        sent += 1;
        // Each one shown (or the connection cut) before the next, so that the flip lands
        // in a frame with messages after it.
        let _ = tokio::time::timeout(common::WAIT, bob.expect(common::chat)).await;
    }
    assert!(
        sent < N,
        "the stream passed byte {FLIP_AT} within {N} messages"
    );
    let burst: String = (sent..N)
        .map(|i| format!("PRIVMSG {} :m{i} {padding}\r\n", b.peer_id))
        .collect();
    alice.send_raw(burst.as_bytes()).await;
    let mut shown = bob
        .seen
        .iter()
        .filter(|l| common::chat(l))
        .cloned()
        .collect::<Vec<_>>();
    while shown.len() < N {
        shown.push(bob.expect(common::chat).await);
    }
    for (i, line) in shown.iter().enumerate() {
        assert!(
            line.ends_with(&format!(" :m{i} {padding}")),
            "expected m{i}, got {line}"
        );
    }
    bob.send("PING :end").await;
    let next = bob.expect(|l| l.contains("PONG") || common::chat(l)).await;
    assert!(next.contains("PONG"), "a duplicate trailed: {next}");
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the tampered connection was replaced"
    );
    a.shutdown().await;
    b.shutdown().await;
}
