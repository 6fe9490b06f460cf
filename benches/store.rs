//! Outbox throughput (issue 5): messages accepted into the durable outbox per second, with
//! one transaction (one fsync) per batch of 1, 10, 100 and 1000 messages, in a temp dir on
//! this machine's disk. Run: `cargo bench --bench store`.

use std::time::{Duration, Instant};

use disims::identity::PeerId;
use disims::message::{ChatMessage, MessageId, MessageKind};
use disims::store::Store;
use ed25519_dalek::SigningKey;

fn main() {
    let peer = PeerId::of(&SigningKey::from_bytes(&[1; 32]));
    let text = "x".repeat(100);
    let mut next = 0u64;
    println!("\n## Outbox throughput (synchronous = FULL, WAL)\n");
    println!("| messages per transaction | messages/s |");
    println!("| --- | --- |");
    for batch in [1usize, 10, 100, 1000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("store");
        let started = Instant::now();
        let mut accepted = 0u64;
        while started.elapsed() < Duration::from_secs(2) {
            let messages: Vec<_> = (0..batch)
                .map(|_| {
                    next += 1;
                    let mut id = [0u8; 16];
                    id[8..].copy_from_slice(&next.to_be_bytes());
                    let m = ChatMessage {
                        id: MessageId(id),
                        kind: MessageKind::Text,
                        text: text.clone(),
                        sent_at_ms: next,
                    };
                    (peer, m)
                })
                .collect();
            store.enqueue(&messages).expect("enqueue");
            accepted += batch as u64;
        }
        println!(
            "| {batch} | {:.0} |",
            accepted as f64 / started.elapsed().as_secs_f64()
        );
    }
}
