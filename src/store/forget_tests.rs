//! Tests of `[store] history_days = 0` in the store: a shown message loses its text (and
//! the database file loses it too), a resend is still recognised, and what is not shown
//! yet, held or in flight keeps its text.

use super::tests::{chat, peer};
use super::*;

fn text_of(store: &Store, row: i64) -> String {
    store
        .db
        .query_row("SELECT text FROM received WHERE row = ?1", [row], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Checkpoints the log into the database file and empties it, then reads both files.
fn files(store: &Store, dir: &std::path::Path) -> Vec<u8> {
    store
        .db
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    let mut bytes = std::fs::read(dir.join(DB_FILE)).unwrap();
    if let Ok(wal) = std::fs::read(dir.join(format!("{DB_FILE}-wal"))) {
        bytes.extend(wal);
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn a_shown_message_loses_its_text_and_a_resend_is_still_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.keep_shown(false, &[]).unwrap(), 0);
    let a = peer(1);
    // Shown live (stored as shown, then reported written) and played back.
    let live = store.receive(&a, &[chat(1, 10)], 100, true).unwrap()[0].unwrap();
    let later = store.receive(&a, &[chat(2, 20)], 100, false).unwrap()[0].unwrap();
    assert_eq!(
        text_of(&store, live),
        chat(1, 10).text,
        "kept until written"
    );
    assert_eq!(store.unshown(10).unwrap()[0].message, chat(2, 20));
    store.note_shown(&[live, later]).unwrap();
    store.flush_shown().unwrap();
    assert_eq!(text_of(&store, live), "");
    assert_eq!(text_of(&store, later), "");
    assert!(store.unshown(10).unwrap().is_empty());
    // The row stays (sender and id), so a resend is not shown again.
    let again = store
        .receive(&a, &[chat(1, 10), chat(2, 20)], 200, true)
        .unwrap();
    assert_eq!(again, vec![None, None]);
    // Nor is the text anywhere in the database file or its log.
    let bytes = files(&store, dir.path());
    assert!(!contains(&bytes, &chat(1, 10).text));
    assert!(!contains(&bytes, &chat(2, 20).text));
}

#[test]
fn turning_the_history_off_forgets_what_was_shown_but_not_what_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = peer(1);
    let rows: Vec<i64> = store
        .receive(&a, &[chat(1, 1), chat(2, 2), chat(3, 3)], 100, true)
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let unshown = store.receive(&a, &[chat(4, 4)], 100, false).unwrap()[0].unwrap();
    store.hold(&peer(2), &[chat(5, 5)], 100).unwrap();
    assert_eq!(
        store.keep_shown(true, &[]).unwrap(),
        0,
        "kept: nothing goes"
    );
    // Row 2 is on its way to a client, which may give it back unwritten.
    assert_eq!(store.keep_shown(false, &[rows[1]]).unwrap(), 2);
    assert_eq!(text_of(&store, rows[0]), "");
    assert_eq!(text_of(&store, rows[1]), chat(2, 2).text);
    assert_eq!(text_of(&store, rows[2]), "");
    assert_eq!(text_of(&store, unshown), chat(4, 4).text, "not shown yet");
    let held: i64 = store
        .db
        .query_row(
            "SELECT COUNT(*) FROM received WHERE shown = 2 AND text <> ''",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(held, 1, "held messages were never shown");
    let bytes = files(&store, dir.path());
    assert!(!contains(&bytes, &chat(1, 1).text));
    assert!(contains(&bytes, &chat(4, 4).text));
}

#[test]
fn a_message_shown_by_one_client_is_not_played_back_empty_to_another() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.keep_shown(false, &[]).unwrap();
    let row = store.receive(&peer(1), &[chat(1, 1)], 100, true).unwrap()[0].unwrap();
    store.note_shown(&[row]).unwrap();
    store.flush_shown().unwrap();
    // A second client that had it on its way goes away without writing it.
    store.mark_unshown(&[row]).unwrap();
    store.commit().unwrap();
    assert!(store.unshown(10).unwrap().is_empty());
    // With the history kept, the same give-back plays the message back.
    store.keep_shown(true, &[]).unwrap();
    let row = store.receive(&peer(1), &[chat(2, 2)], 100, true).unwrap()[0].unwrap();
    store.mark_unshown(&[row]).unwrap();
    store.commit().unwrap();
    assert_eq!(store.unshown(10).unwrap()[0].message, chat(2, 2));
}

#[test]
fn without_history_an_acknowledged_message_leaves_no_text_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.keep_shown(false, &[]).unwrap();
    let a = peer(1);
    store.enqueue(&[(a, chat(7, 7))]).unwrap();
    store.acknowledged(&a, &[chat(7, 7).id]).unwrap();
    store.flush_acknowledged().unwrap();
    assert!(store.outbox(&a).unwrap().is_empty());
    assert!(!contains(&files(&store, dir.path()), &chat(7, 7).text));
}
