//! Issue 11, item 6 and the long-line part of item 8, on real sockets against running
//! gateways: a slow IRC client (one that stops reading) is dropped during a flood from
//! strangers (raw peers with fresh keys) while a contact also sends, and every message the
//! gateway acknowledged to the contact is shown to a client, once: what the slow client was
//! never written goes to the next client that attaches, the contact's first. And a peer's
//! 8 KiB text reaches the client as lines of at most 512 bytes that give the text back.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{IrcClient, WAIT, memory_gateway, memory_gateway_with, raw_peer};
use disims::daemon::Options;
use disims::directory::memory::SharedRecords;
use disims::identity::PeerId;
use disims::irc::conn::IrcLimits;
use disims::message::{ChatMessage, MessageId, MessageKind};
use disims::peer::session::{SessionCommand, SessionTimers};
use disims::router::{self, RouterInput};
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// A stranger: a fresh key with a real session to the gateway; counts the messages the
/// gateway acknowledged.
struct Stranger {
    commands: mpsc::UnboundedSender<SessionCommand>,
    acked: Arc<AtomicU64>,
}

async fn stranger(seed: u8, addr: SocketAddr, gateway: PeerId) -> Stranger {
    let key = SigningKey::from_bytes(&[seed; 32]);
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let keys = disims::peer::transport::initiate(&mut stream, &key, gateway)
        .await
        .expect("handshake");
    let mut peer = raw_peer::run(
        stream,
        keys,
        gateway,
        PeerId::of(&key),
        SessionTimers::default(),
    );
    let acked = Arc::new(AtomicU64::new(0));
    let count = acked.clone();
    tokio::spawn(async move {
        while let Some(input) = peer.inputs.recv().await {
            if let RouterInput::Acknowledged { ids, .. } = input {
                count.fetch_add(ids.len() as u64, Ordering::SeqCst);
            }
        }
    });
    let commands = peer.commands;
    Stranger { commands, acked }
}

fn chat(seed: u8, n: u64, text: String) -> ChatMessage {
    let mut id = [seed; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    ChatMessage {
        id: MessageId(id),
        kind: MessageKind::Text,
        text,
        sent_at_ms: router::now_ms(),
    }
}

/// Polls `done` every 20 ms until it holds; panics after `limit`.
async fn until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The contact messages ("contact <i>") among lines.
fn contact_texts(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| common::chat(l))
        .filter_map(|l| l.rsplit_once(" :").map(|(_, text)| text))
        .filter(|text| text.contains("contact "))
        .map(|text| text.rsplit("contact ").next().unwrap_or("").to_string())
        .map(|n| format!("contact {n}"))
        .collect()
}

/// The most a TCP send buffer may grow to here (`net.ipv4.tcp_wmem`, third field).
fn max_send_buffer() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_dropped_in_a_stranger_flood_loses_no_acknowledged_contact_message() {
    const CONTACT_MESSAGES: usize = 20;
    const STRANGERS: u64 = 8;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let a = memory_gateway(&a_dir, &records, Options::default()).await;
    // A write blocked this long ends the connection (30 s by default).
    let irc = IrcLimits {
        write_timeout: Duration::from_secs(10),
        ..IrcLimits::default()
    };
    let options = Options {
        irc,
        ..Options::default()
    };
    // The flood must be taken in and shown to get the client dropped: this test is about
    // what is shown, so the strangers' rate and new-sender budgets (tests/strangers.rs) are
    // lifted here.
    let b = memory_gateway_with(&b_dir, &records, options, |config| {
        config.contacts.strangers.rate = None;
        config.contacts.strangers.new_senders_per_minute = 1000;
    })
    .await;

    // Bob makes alice a contact, and leaves.
    let mut setup = IrcClient::register(b.irc_addr, "bob").await;
    setup.expect(|l| l.contains("DHT: published")).await;
    setup
        .send(&format!("PRIVMSG disims :add {} alice", a.peer_id))
        .await;
    setup.expect(|l| l.contains("alice")).await;
    setup.send("QUIT :bye").await;
    assert!(setup.expect_closed().await);
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    alice.expect(|l| l.contains("DHT: published")).await;

    // Bob's slow client registers, then stops reading. Its receive buffer is fixed (the
    // kernel would otherwise grow it to megabytes on loopback).
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let slow = socket.connect(b.irc_addr).await.expect("connect");
    let (slow_r, mut slow_w) = slow.into_split();
    let mut slow_r = BufReader::new(slow_r);
    slow_w
        .write_all(b"NICK bob\r\nUSER b 0 * :b\r\n")
        .await
        .unwrap();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, slow_r.read_line(&mut line))
            .await
            .expect("registration")
            .unwrap();
        assert!(n > 0, "closed while registering");
        if line.contains(" 376 ") || line.contains(" 422 ") {
            break;
        }
    }

    // The flood: strangers send as fast as the gateway takes them...
    let mut strangers = Vec::new();
    for seed in 0..STRANGERS as u8 {
        strangers.push(stranger(100 + seed, b.peer_addr, b.peer_id).await);
    }
    let send_flood = |strangers: &[Stranger], from: u64, to: u64, pad: &str| {
        for (s, stranger) in strangers.iter().enumerate() {
            for n in from..to {
                let text = format!("flood {s}/{n} {pad}");
                let _ = stranger
                    .commands
                    .send(SessionCommand::Send(chat(100 + s as u8, n, text).into()));
            }
        }
    };
    let acked = |strangers: &[Stranger]| -> u64 {
        strangers
            .iter()
            .map(|s| s.acked.load(Ordering::SeqCst))
            .sum()
    };
    // ...first twice what the sockets can buffer (the gateway's send buffer, the client's
    // receive buffer, one batch of the gateway's), in messages of 4 KB: from then on the
    // gateway's writes to the slow client block...
    let big = "x".repeat(4000);
    let buffered = max_send_buffer() + 2 * 64 * 1024 + 64 * 1024;
    let first = (2 * buffered / big.len()) as u64 / STRANGERS + 1;
    send_flood(&strangers, 0, first, &big);
    until("the first flood acknowledged", 6 * WAIT, || {
        acked(&strangers) == STRANGERS * first
    })
    .await;
    // ...then the contact sends, to a client that no longer reads...
    for i in 0..CONTACT_MESSAGES {
        alice
            .send(&format!("PRIVMSG {} :contact {i}", b.peer_id))
            .await;
    }
    let outbox_empty = || common::process::outbox_len(&a_dir, &b.peer_id) == 0;
    until("alice's messages acknowledged", 4 * WAIT, outbox_empty).await;
    // ...and the flood goes on, in short messages, past what a front end's queue holds.
    let more = (disims::router::FRONTEND_QUEUE as u64 + 1000) / STRANGERS + 1;
    send_flood(&strangers, first, first + more, "x");
    let total = STRANGERS * (first + more);
    until("the flood acknowledged", 12 * WAIT, || {
        acked(&strangers) == total
    })
    .await;

    // The gateway drops the slow client (its queue overflowed, or a write blocked for too
    // long): lines written to it now fail once the gateway has closed the connection.
    let dropped = async {
        loop {
            if slow_w.write_all(b"PING :alive\r\n").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(3 * WAIT, dropped)
        .await
        .expect("the slow client was not dropped");
    // Whatever its socket still holds, it reads (a reset may have discarded it).
    let mut slow_seen = Vec::new();
    let mut line = String::new();
    while let Ok(Ok(n)) = tokio::time::timeout(WAIT, slow_r.read_line(&mut line)).await {
        if n == 0 {
            break;
        }
        slow_seen.push(line.trim_end().to_string());
        line.clear();
    }
    let shown_before = contact_texts(&slow_seen);

    // The next client gets every acknowledged contact message the slow one was not shown,
    // before any stranger's, and none twice.
    let mut next = IrcClient::register(b.irc_addr, "bob").await;
    let owed = CONTACT_MESSAGES - shown_before.len();
    let mut first_chat = None;
    let mut played = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while played.len() < owed {
        let line = tokio::time::timeout_at(deadline, next.expect(common::chat)).await;
        let Ok(line) = line else {
            panic!(
                "acked {CONTACT_MESSAGES}, displayed {} (slow client {}, played back {})",
                shown_before.len() + played.len(),
                shown_before.len(),
                played.len()
            );
        };
        first_chat.get_or_insert(line.clone());
        played.extend(contact_texts(std::slice::from_ref(&line)));
    }
    next.send("PING :end").await;
    next.expect(|l| l.contains("PONG")).await;
    let extra = contact_texts(&next.seen).len() - played.len();
    assert_eq!(extra, 0, "contact messages shown twice");
    let mut all: Vec<_> = shown_before.iter().chain(&played).cloned().collect();
    all.sort();
    all.dedup();
    println!(
        "acked {CONTACT_MESSAGES}, displayed {} (slow client {}, played back {}); flood of {total} messages",
        all.len(),
        shown_before.len(),
        played.len()
    );
    assert_eq!(all.len(), CONTACT_MESSAGES);
    assert_eq!(shown_before.len() + played.len(), CONTACT_MESSAGES);
    // The loss path was taken: they were queued for the slow client, never written to it.
    assert!(owed > 0, "the slow client was shown every contact message");
    assert!(
        contact_texts(&[first_chat.unwrap()]).len() == 1,
        "contacts' messages are played back first"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_8_kib_message_arrives_as_lines_within_512_bytes_that_give_the_text_back() {
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let b = memory_gateway(&dir.path().join("b"), &records, Options::default()).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    let peer = stranger(7, b.peer_addr, b.peer_id).await;
    // Words, and a run of multi-byte characters without a space.
    let mut text: String = (0..700).map(|i| format!("word{i} ")).collect();
    text.push_str(&"é€😀".repeat(400));
    let text = {
        let mut end = disims::peer::wire::MAX_TEXT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text[..end].to_string()
    };
    let _ = peer
        .commands
        .send(SessionCommand::Send(chat(7, 1, text.clone()).into()));
    let mut parts = String::new();
    let mut lines = 0;
    while parts.len() < text.len() {
        let line = bob.expect(common::chat).await;
        assert!(line.len() + 2 <= 512, "{} bytes", line.len() + 2);
        parts.push_str(line.split_once(" :").map_or("", |(_, t)| t));
        lines += 1;
    }
    assert_eq!(parts, text);
    assert!(lines >= 17, "{lines} lines");
    println!("an 8 KiB message ({} bytes): {lines} lines", text.len());
    b.shutdown().await;
}
