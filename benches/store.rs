//! Store throughput (issues 4 and 5), in a temp dir on this machine's disk (WAL,
//! `synchronous = NORMAL`, as the gateway runs it). Run: `cargo bench --bench store`.
//!
//! 1. Outbox: messages accepted into the durable outbox per second, with one transaction
//!    per batch of 1, 10, 100 and 1000 messages.
//! 2. The store's share of one message's trip: the sender commits it to its outbox, the
//!    receiver stores it, the sender deletes it when the ack comes; batches of 1 (the
//!    ping-pong latency case) and 100 (a burst). Two stores, one per gateway.

use std::time::{Duration, Instant};

use disims::identity::PeerId;
use disims::message::{ChatMessage, MessageId, MessageKind};
use disims::store::Store;
use ed25519_dalek::SigningKey;

fn message(next: &mut u64, text: &str) -> ChatMessage {
    *next += 1;
    let mut id = [7u8; 16];
    id[8..].copy_from_slice(&next.to_be_bytes());
    ChatMessage {
        id: MessageId(id),
        kind: MessageKind::Text,
        text: text.to_string(),
        sent_at_ms: *next,
    }
}

fn main() {
    let peer = PeerId::of(&SigningKey::from_bytes(&[1; 32]));
    let text = "x".repeat(100);
    let mut next = 0u64;
    println!("\n## Outbox throughput (synchronous = NORMAL, WAL)\n");
    println!("| messages per transaction | messages/s |");
    println!("| --- | --- |");
    for batch in [1usize, 10, 100, 1000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("store");
        let started = Instant::now();
        let mut accepted = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            let messages: Vec<_> = (0..batch)
                .map(|_| (peer, message(&mut next, &text)))
                .collect();
            store.enqueue(&messages).expect("enqueue");
            accepted += batch as u64;
        }
        println!(
            "| {batch} | {:.0} |",
            accepted as f64 / started.elapsed().as_secs_f64()
        );
    }

    println!("\n## One message's trip through both stores (enqueue, receive, acknowledge)\n");
    println!("| messages per batch | µs per message | messages/s |");
    println!("| --- | --- | --- |");
    for batch in [1usize, 100] {
        let (sdir, rdir) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        let mut sender = Store::open(sdir.path()).expect("store");
        let mut receiver = Store::open(rdir.path()).expect("store");
        let started = Instant::now();
        let mut done = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            let sends: Vec<_> = (0..batch)
                .map(|_| (peer, message(&mut next, &text)))
                .collect();
            sender.enqueue(&sends).expect("enqueue");
            let messages: Vec<_> = sends.iter().map(|(_, m)| m.clone()).collect();
            receiver
                .receive(&peer, &messages, next, true)
                .expect("receive");
            let ids: Vec<_> = messages.iter().map(|m| m.id).collect();
            sender.acknowledged(&peer, &ids).expect("ack");
            done += batch as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "| {batch} | {:.1} | {:.0} |",
            secs * 1e6 / done as f64,
            done as f64 / secs
        );
    }
}
