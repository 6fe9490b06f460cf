//! Strangers (peers that are not contacts, with keys made for free) against a running
//! gateway, over real sockets: their chats are budgeted per peer (no ack over budget, then
//! the session closes), their history is kept under a quota, and new senders beyond a
//! per-minute budget are held; contacts are never throttled nor evicted (issue 11).
//!
//! Each stranger is a raw peer: a TCP connection, the real handshake with a fresh key and a
//! real session task, whose acknowledgements and end the test observes.

mod common;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;

use common::{IrcClient, WAIT, memory_gateway_with, raw_peer};
use disims::config::Config;
use disims::daemon::{Gateway, Options};
use disims::directory::memory::SharedRecords;
use disims::identity::PeerId;
use disims::message::{ChatMessage, MessageId, MessageKind, PeerMessage};
use disims::peer::session::{SessionCommand, SessionTimers};
use disims::policy::inbound::InboundLimits;
use disims::policy::strangers::{Quota, RateBudget, row_bytes};
use disims::router::RouterInput;
use ed25519_dalek::SigningKey;
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A gateway on the in-memory directory with `tweak` applied to its config. The peer
/// port's own budgets (msg1s answered under load, sessions per prefix) are lifted: this file
/// is about what the hub and the sessions let strangers do once connected, and the floods
/// here would otherwise be cut at the handshake (tests/adversarial_inbound.rs covers that).
async fn gateway(dir: &Path, records: &SharedRecords, tweak: impl FnOnce(&mut Config)) -> Gateway {
    let inbound = InboundLimits {
        load_rate: 1e9,
        load_burst: 1e9,
        ..InboundLimits::default()
    };
    let options = Options {
        inbound,
        ..Options::default()
    };
    memory_gateway_with(dir, records, options, tweak).await
}

/// A key from a number (`tag` keeps the tests' keys apart).
fn key(tag: u8, n: u32) -> SigningKey {
    let mut seed = [tag; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    SigningKey::from_bytes(&seed)
}

fn chat(sender: u32, n: u32, len: usize) -> ChatMessage {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&sender.to_be_bytes());
    id[4..8].copy_from_slice(&n.to_be_bytes());
    let head = format!("s{sender}m{n} ");
    ChatMessage {
        id: MessageId(id),
        kind: MessageKind::Text,
        text: format!("{head}{}", "x".repeat(len.saturating_sub(head.len()))),
        sent_at_ms: 1,
    }
}

/// A peer of our own making, in session with a gateway.
struct Raw {
    commands: mpsc::UnboundedSender<SessionCommand>,
    inputs: mpsc::UnboundedReceiver<RouterInput>,
    shutdown: CancellationToken,
}

/// What became of the chats a [`Raw`] peer sent.
struct Outcome {
    acked: Vec<MessageId>,
    /// `Some`: the gateway closed the session, and these were handed back unacknowledged.
    ended: Option<Vec<PeerMessage>>,
}

impl Raw {
    /// Connects from `source` (a loopback address) and runs the handshake with `key`.
    async fn connect(to: &Gateway, key: &SigningKey, source: SocketAddr) -> Raw {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(source).unwrap();
        let mut stream = socket.connect(to.peer_addr).await.expect("connect");
        let keys = tokio::time::timeout(
            WAIT,
            disims::peer::transport::initiate(&mut stream, key, to.peer_id),
        )
        .await
        .expect("handshake in time")
        .expect("handshake");
        let peer = raw_peer::run(
            stream,
            keys,
            to.peer_id,
            PeerId::of(key),
            SessionTimers::default(),
        );
        Raw {
            commands: peer.commands,
            inputs: peer.inputs,
            shutdown: peer.shutdown,
        }
    }

    fn send(&self, chats: impl IntoIterator<Item = ChatMessage>) {
        for c in chats {
            let _ = self.commands.send(SessionCommand::Send(c.into()));
        }
    }

    /// Waits until `n` chats are acknowledged or the gateway ends the session.
    async fn outcome(&mut self, n: usize) -> Outcome {
        let mut acked = Vec::new();
        while acked.len() < n {
            match tokio::time::timeout(WAIT, self.inputs.recv())
                .await
                .expect("acks or an end in time")
            {
                Some(RouterInput::Acknowledged { ids, .. }) => acked.extend(ids),
                Some(RouterInput::SessionEnded { unsent, .. }) => {
                    return Outcome {
                        acked,
                        ended: Some(unsent),
                    };
                }
                Some(_) => {}
                None => panic!("the session task went away"),
            }
        }
        Outcome { acked, ended: None }
    }

    fn close(&self) {
        self.shutdown.cancel();
    }
}

/// Source address number `i` in 127.0.0.0/8 (several prefixes, as an attacker would).
fn source(i: u32) -> SocketAddr {
    SocketAddr::from(([127, 0, (i / 200) as u8, (i % 200 + 2) as u8], 0))
}

/// Makes `peer` a contact of the gateway's user, through the IRC client.
async fn add_contact(client: &mut IrcClient, peer: PeerId) {
    client
        .send(&format!("PRIVMSG disims :add {}", peer.nick()))
        .await;
    client
        .expect(|l| l.starts_with(":disims!") && l.contains("Added"))
        .await;
}

/// Reads every line already sent to the client (a PING's PONG marks the end).
async fn drain(client: &mut IrcClient, tag: &str) {
    client.send(&format!("PING :{tag}")).await;
    client
        .expect(|l| l.contains("PONG") && l.contains(tag))
        .await;
}

/// Chat lines the client got from `peer`.
fn lines_from(client: &IrcClient, peer: &PeerId) -> usize {
    let prefix = format!(":{}!", peer.nick());
    client
        .seen
        .iter()
        .filter(|l| l.starts_with(&prefix) && common::chat(l))
        .count()
}

/// (b) One stranger over its rate budget: acknowledged up to the budget and not beyond,
/// its session closed, nothing unacknowledged stored (what the client saw is exactly what
/// was acknowledged), and after reconnecting it has no fresh budget; a contact sending the
/// same, faster, is taken in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_over_its_rate_is_not_acknowledged_and_closed_but_a_contact_is_not() {
    const LEN: usize = 100;
    const BUDGET: usize = 20;
    const SENT: u32 = 200;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let b = gateway(dir.path(), &records, |c| {
        // Twenty chats' worth, then a byte a second (nothing more within the test).
        c.contacts.strangers.rate = Some(RateBudget {
            bytes_per_second: 1,
            burst_bytes: BUDGET as u64 * row_bytes(LEN),
        });
    })
    .await;
    let mut user = IrcClient::register(b.irc_addr, "user").await;
    user.expect(|l| l.contains("DHT: published")).await;

    let mut stranger = Raw::connect(&b, &key(1, 1), source(1)).await;
    stranger.send((0..SENT).map(|n| chat(1, n, LEN)));
    let out = stranger.outcome(SENT as usize).await;
    let unsent = out.ended.expect("the gateway closed the session");
    assert_eq!(
        out.acked.len(),
        BUDGET,
        "acknowledged up to the budget only"
    );
    let expected: Vec<_> = (0..BUDGET as u32).map(|n| chat(1, n, LEN).id).collect();
    assert_eq!(out.acked, expected);
    assert_eq!(
        unsent.len(),
        SENT as usize - BUDGET,
        "the rest stays with the sender"
    );
    // Reconnecting does not refill the budget.
    let mut again = Raw::connect(&b, &key(1, 1), source(1)).await;
    again.send([chat(1, 999, LEN)]);
    let out = again.outcome(1).await;
    assert!(out.acked.is_empty(), "{:?}", out.acked);
    assert_eq!(out.ended.map(|u| u.len()), Some(1));

    // A contact sends the same, faster (all at once), twice over: all taken.
    let contact_key = key(2, 1);
    add_contact(&mut user, PeerId::of(&contact_key)).await;
    let mut contact = Raw::connect(&b, &contact_key, source(2)).await;
    contact.send((0..2 * SENT).map(|n| chat(2, n, LEN)));
    let out = contact.outcome(2 * SENT as usize).await;
    assert_eq!(out.acked.len(), 2 * SENT as usize);
    assert!(
        out.ended.is_none(),
        "a contact is never closed for its rate"
    );
    for _ in 0..2 * SENT {
        user.expect(|l| common::chat(l) && l.contains(":s2m")).await;
    }
    drain(&mut user, "end").await;
    // Exactly once: the client saw what was acknowledged, nothing more.
    assert_eq!(lines_from(&user, &PeerId::of(&key(1, 1))), BUDGET);
    assert_eq!(
        lines_from(&user, &PeerId::of(&contact_key)),
        2 * SENT as usize
    );
    contact.close();
    b.shutdown().await;
}

/// Bytes of history held by peers other than `contact`, counted as the store counts them,
/// and the contact's rows, read from the database after the gateway stopped.
fn history_of(dir: &Path, contact: &PeerId) -> (u64, u64) {
    let db = rusqlite::Connection::open_with_flags(
        dir.join("disims.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let count = |sql: &str| -> u64 {
        db.query_row(sql, [&contact.as_bytes()[..]], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    };
    (
        count(
            "SELECT COALESCE(SUM(length(CAST(text AS BLOB)) + 200), 0) FROM received WHERE peer != ?1",
        ),
        count("SELECT COUNT(*) FROM received WHERE peer = ?1"),
    )
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// (a) Many fresh keys flood chats: strangers' history stays under the quota (the
/// database file too), the user is told once, and a contact's messages sent during the
/// flood are all delivered and still in the history afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_fresh_keys_stays_under_the_quota_and_a_contacts_messages_stay() {
    const STRANGERS: u32 = 200;
    const EACH: u32 = 25;
    const LEN: usize = 1000;
    const QUOTA: u64 = 256 * 1024;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let b = gateway(dir.path(), &records, |c| {
        c.store.stranger_quota = Quota {
            per_sender: QUOTA / 4,
            total: QUOTA,
        };
        // The rate is not what this test is about.
        c.contacts.strangers.rate = None;
    })
    .await;
    let mut user = IrcClient::register(b.irc_addr, "user").await;
    user.expect(|l| l.contains("DHT: published")).await;
    let contact_key = key(4, 1);
    let contact_id = PeerId::of(&contact_key);
    add_contact(&mut user, contact_id).await;
    let mut contact = Raw::connect(&b, &contact_key, source(0)).await;

    let mut flooded = 0u64;
    let mut contact_sent = 0u32;
    for wave in 0..STRANGERS / 8 {
        let mut peers = Vec::new();
        for i in wave * 8..wave * 8 + 8 {
            let raw = Raw::connect(&b, &key(3, i), source(i + 1)).await;
            raw.send((0..EACH).map(|n| chat(i, n, LEN)));
            flooded += EACH as u64 * row_bytes(LEN);
            peers.push(raw);
        }
        // The contact writes during the flood.
        contact.send([chat(1_000_000, contact_sent, 50)]);
        contact_sent += 1;
        for mut raw in peers {
            let out = raw.outcome(EACH as usize).await;
            assert_eq!(
                out.acked.len(),
                EACH as usize,
                "stored (and then maybe evicted)"
            );
            raw.close();
        }
    }
    let out = contact.outcome(contact_sent as usize).await;
    assert_eq!(out.acked.len(), contact_sent as usize);
    for _ in 0..contact_sent {
        user.expect(|l| common::chat(l) && l.contains(":s1000000m"))
            .await;
    }
    drain(&mut user, "end").await;
    let told = user
        .seen
        .iter()
        .filter(|l| l.starts_with(":disims!") && l.contains("reached their share"))
        .count();
    assert_eq!(told, 1, "told once");
    assert_eq!(lines_from(&user, &contact_id), contact_sent as usize);
    contact.close();
    b.shutdown().await;

    let (stranger_bytes, contact_rows) = history_of(dir.path(), &contact_id);
    let db = file_len(&dir.path().join("disims.db")) + file_len(&dir.path().join("disims.db-wal"));
    eprintln!(
        "flooded {flooded} bytes (as counted); strangers hold {stranger_bytes}; database file + WAL {db} bytes"
    );
    assert!(flooded > 16 * QUOTA, "the flood is far over the quota");
    assert!(stranger_bytes <= QUOTA, "{stranger_bytes} > {QUOTA}");
    assert_eq!(
        contact_rows, contact_sent as u64,
        "no contact's row evicted"
    );
    // The file holds the quota, the contact's rows and SQLite's pages, not the flood.
    assert!(
        db < 8 * QUOTA,
        "database file {db} bytes after {flooded} flooded"
    );
}

/// (c) A thousand fresh keys each send one message: the client sees a bounded number of
/// announcement lines and of strangers' messages (the new-sender budget), the rest are held,
/// and a held one shows after `accept`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_new_senders_give_a_bounded_number_of_lines_and_the_rest_are_held() {
    const SENDERS: u32 = 1000;
    const PER_MINUTE: u32 = 20;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let b = gateway(dir.path(), &records, |c| {
        c.contacts.strangers.new_senders_per_minute = PER_MINUTE;
    })
    .await;
    let mut user = IrcClient::register(b.irc_addr, "user").await;
    user.expect(|l| l.contains("DHT: published")).await;
    let started = std::time::Instant::now();
    let mut next = 0u32;
    while next < SENDERS {
        let mut peers = Vec::new();
        for i in next..(next + 8).min(SENDERS) {
            let raw = Raw::connect(&b, &key(5, i), source(i)).await;
            raw.send([chat(i, 0, 20)]);
            peers.push(raw);
        }
        next += 8;
        for mut raw in peers {
            let out = raw.outcome(1).await;
            assert_eq!(out.acked.len(), 1, "held or shown, acknowledged");
            raw.close();
        }
    }
    let minutes = started.elapsed().as_secs() / 60 + 1;
    // The coalesced lines come shortly after the last sender.
    user.expect(|l| l.starts_with(":disims!") && l.contains("their messages are held"))
        .await;
    drain(&mut user, "end").await;
    let shown: HashSet<_> = user
        .seen
        .iter()
        .filter(|l| common::chat(l))
        .filter_map(|l| l.strip_prefix(':')?.split('!').next().map(str::to_string))
        .collect();
    let announcements = user
        .seen
        .iter()
        .filter(|l| l.starts_with(":disims!") && l.to_lowercase().contains("new sender"))
        .count();
    eprintln!(
        "{SENDERS} new senders in {minutes} minute(s): {} shown, {announcements} announcement lines",
        shown.len()
    );
    assert!(!shown.is_empty());
    assert!(
        shown.len() as u64 <= PER_MINUTE as u64 * minutes,
        "{}",
        shown.len()
    );
    // At most a few at once and two coalesced lines per two seconds; far fewer than one
    // per sender.
    assert!(announcements <= 100, "{announcements} announcement lines");
    // A held one appears after `accept`.
    let held = (0..SENDERS)
        .map(|i| PeerId::of(&key(5, i)))
        .find(|p| !shown.contains(&p.nick()))
        .expect("some sender was held");
    user.send(&format!("PRIVMSG disims :accept {}", held.nick()))
        .await;
    let prefix = format!(":{}!", held.nick());
    user.expect(|l| l.starts_with(&prefix) && common::chat(l))
        .await;
    b.shutdown().await;
}
