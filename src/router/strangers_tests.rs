//! Tests of the hub's budgets for strangers: the history pruned a batch per turn, new
//! senders beyond the per-minute budget held until accepted, the quota told once.

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;

use super::super::control_tests::{attach, chat, drain, peer, run, texts};
use super::super::tests::next_input;
use super::super::*;
use crate::config::StoreConfig;
use crate::message::ChatMessage;
use crate::policy::strangers::{Quota, row_bytes};

/// A hub on a store in `dir` whose own inputs (scheduled batches, announcements) come out
/// of the returned channel.
fn hub(
    dir: &std::path::Path,
    store: StoreConfig,
    per_minute: u32,
) -> (Router, mpsc::UnboundedReceiver<RouterInput>) {
    let (ctx, inputs) = super::super::tests::context_with_inputs();
    let mut settings = Settings::new(UnknownSenders::Accept, &store);
    settings.strangers.new_senders_per_minute = per_minute;
    (
        Router::open(ctx, Store::open(dir).unwrap(), settings),
        inputs,
    )
}

fn announces(events: &[FrontendEvent], what: &str) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, FrontendEvent::ControlAnnounce { text } if text.contains(what)))
        .count()
}

#[tokio::test]
async fn the_history_is_pruned_one_batch_per_turn_of_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let (mut r, mut inputs) = hub(dir.path(), StoreConfig::default(), 20);
    let n = 2 * crate::store::PRUNE_BATCH + 100;
    let old: Vec<ChatMessage> = (0..n as u32)
        .map(|i| {
            let mut m = chat(0);
            m.id.0[..4].copy_from_slice(&i.to_be_bytes());
            m
        })
        .collect();
    let store = r.store.as_mut().unwrap();
    // Received long ago (1 ms after the epoch), shown.
    store.receive(&peer(1), &old, 1, true).unwrap();
    let each = row_bytes(old[0].text.len());
    let left = |r: &Router| r.store.as_ref().unwrap().history_bytes(&peer(1)) / each;
    r.handle(RouterInput::Maintain);
    // One batch in this turn; the next is an input of its own.
    assert_eq!(left(&r), n as u64 - crate::store::PRUNE_BATCH as u64);
    let mut turns = 1;
    while left(&r) > 0 {
        let next = next_input(
            &mut inputs,
            |i| matches!(i, RouterInput::PruneHistory { .. }),
            "the next batch is scheduled",
        )
        .await;
        let before = left(&r);
        r.handle(next);
        assert!(before - left(&r) <= crate::store::PRUNE_BATCH as u64);
        turns += 1;
    }
    assert_eq!(turns, 3);
}

#[tokio::test]
async fn new_senders_beyond_the_budget_are_held_in_order_until_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut r, _inputs) = hub(dir.path(), StoreConfig::default(), 2);
    let (id, mut rx) = attach(&mut r);
    for n in 1..=5 {
        assert!(r.receive(peer(n), vec![chat(n)]));
    }
    // Still held, in order, though `unknown` is "accept".
    assert!(r.receive(peer(5), vec![chat(15)]));
    let events = drain(&mut rx);
    assert_eq!(texts(&events), ["m1", "m2"], "two a minute shown");
    assert_eq!(announces(&events, "New sender"), 2, "announced at once");
    let held = run(&mut r, id, &mut rx, "held");
    assert_eq!(held.len(), 4, "{held:?}");
    assert!(held[1].contains(&format!("{}: 1 message", peer(3).nick())));
    assert!(held[3].contains(&format!("{}: 2 message", peer(5).nick())));
    r.handle(RouterInput::Request {
        from: id,
        request: FrontendRequest::Control {
            line: format!("accept {}", peer(5).nick()),
            reply: crate::message::ControlTarget::Channel,
        },
    });
    assert_eq!(
        texts(&drain(&mut rx)),
        ["m5", "m15"],
        "after accept, in order"
    );
    // A contact now: shown at once, whatever the budget.
    assert!(r.receive(peer(5), vec![chat(25)]));
    assert_eq!(texts(&drain(&mut rx)), ["m25"]);
}

#[tokio::test]
async fn strangers_over_the_quota_lose_their_oldest_and_the_user_is_told_once() {
    let dir = tempfile::tempdir().unwrap();
    let each = row_bytes(chat(1).text.len());
    let store = StoreConfig {
        stranger_quota: Quota {
            per_sender: 20 * each,
            total: 20 * each,
        },
        ..StoreConfig::default()
    };
    let (mut r, _inputs) = hub(dir.path(), store, 1000);
    let (id, mut rx) = attach(&mut r);
    run(
        &mut r,
        id,
        &mut rx,
        &format!("add {} friend", peer(0).nick()),
    );
    for round in 0..10u8 {
        assert!(r.receive(peer(0), vec![chat(round)]));
        for n in 1..=5 {
            let mut m = chat(round);
            m.id.0[15] = n;
            assert!(r.receive(peer(n), vec![m]));
        }
    }
    let events = drain(&mut rx);
    assert_eq!(announces(&events, "reached their share"), 1, "told once");
    let store = r.store.as_ref().unwrap();
    assert!(store.stranger_bytes() <= 20 * each);
    assert_eq!(
        store.history_bytes(&peer(0)),
        10 * each,
        "a contact's rows stay"
    );
}

#[tokio::test]
async fn held_messages_full_in_all_are_told_once_not_once_per_further_sender() {
    use super::super::contacts::{MAX_HELD, MAX_HELD_PER_SENDER};
    let dir = tempfile::tempdir().unwrap();
    let (mut r, _inputs) = hub(dir.path(), StoreConfig::default(), 20);
    let (id, mut rx) = attach(&mut r);
    run(&mut r, id, &mut rx, "set unknown ask");
    let batch = |sender: u32, from: u32, n: u32| -> Vec<ChatMessage> {
        (from..from + n)
            .map(|i| {
                let mut m = chat(0);
                m.id.0[..4].copy_from_slice(&sender.to_be_bytes());
                m.id.0[4..8].copy_from_slice(&i.to_be_bytes());
                m
            })
            .collect()
    };
    // Enough senders fill their own shares to fill the whole.
    let fillers = (MAX_HELD / MAX_HELD_PER_SENDER) as u32;
    for sender in 0..fillers {
        for from in (0..MAX_HELD_PER_SENDER as u32).step_by(250) {
            assert!(r.receive(peer(100 + sender as u8), batch(sender, from, 250)));
        }
    }
    drain(&mut rx);
    // Then fifty fresh keys each send a message: all dropped, and the user told once.
    for sender in 0..50u32 {
        let key = SigningKey::from_bytes(&[200u8.wrapping_add(sender as u8); 32]);
        let fresh = PeerId::of(&key);
        assert!(r.receive(fresh, batch(1000 + sender, 0, 1)), "acknowledged");
    }
    let events = drain(&mut rx);
    assert_eq!(announces(&events, "held messages are full"), 1);
    assert_eq!(announces(&events, "too many held"), 0);
}
