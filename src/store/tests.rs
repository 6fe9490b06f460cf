//! Tests of the store: persistence across reopening, order, acknowledgement, expiry,
//! deduplication, playback marks, file modes and migrations.

use std::os::unix::fs::PermissionsExt;

use ed25519_dalek::SigningKey;

use super::*;

pub(super) fn peer(seed: u8) -> PeerId {
    PeerId::of(&SigningKey::from_bytes(&[seed; 32]))
}

pub(super) fn chat(n: u64, sent_at_ms: u64) -> ChatMessage {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    let kind = [MessageKind::Text, MessageKind::Notice, MessageKind::Action][(n % 3) as usize];
    ChatMessage {
        id: MessageId(id),
        kind,
        text: format!("m{n} grüße"),
        sent_at_ms,
    }
}

#[test]
fn outbox_keeps_order_per_peer_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (peer(1), peer(2));
    {
        let mut store = Store::open(dir.path()).unwrap();
        let batch: Vec<_> = (0..10)
            .map(|n| (if n % 2 == 0 { a } else { b }, chat(n, 100 + n)))
            .collect();
        store.enqueue(&batch).unwrap();
    }
    let mut store = Store::open(dir.path()).unwrap();
    let for_a: Vec<u64> = store
        .outbox(&a)
        .unwrap()
        .iter()
        .map(|m| m.sent_at_ms - 100)
        .collect();
    assert_eq!(for_a, vec![0, 2, 4, 6, 8]);
    assert_eq!(store.outbox(&b).unwrap()[0], chat(1, 101));
    assert_eq!(store.outbox_peers().unwrap(), vec![a, b]);
}

#[test]
fn acknowledged_messages_leave_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = peer(1);
    store
        .enqueue(&(0..5).map(|n| (a, chat(n, n))).collect::<Vec<_>>())
        .unwrap();
    let ids = [chat(1, 0).id, chat(3, 0).id, chat(99, 0).id];
    store.acknowledged(&a, &ids).unwrap();
    assert!(store.has_pending_acks());
    assert_eq!(store.flush_acknowledged().unwrap(), 2);
    assert!(!store.has_pending_acks());
    // An ack from another peer for the same id removes nothing.
    store.acknowledged(&peer(2), &[chat(0, 0).id]).unwrap();
    assert_eq!(store.flush_acknowledged().unwrap(), 0);
    let left: Vec<_> = store
        .outbox(&a)
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, vec![chat(0, 0).id, chat(2, 0).id, chat(4, 0).id]);
    assert!(store.has_outbox(&a).unwrap());
    assert!(!store.has_outbox(&peer(2)).unwrap());
}

#[test]
fn old_messages_expire_and_are_returned() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = peer(1);
    store
        .enqueue(&[
            (a, chat(1, 1_000)),
            (a, chat(2, 5_000)),
            (a, chat(3, 2_000)),
        ])
        .unwrap();
    let expired = store.expire(3_000).unwrap();
    assert_eq!(
        expired,
        vec![(a, chat(1, 1_000).into()), (a, chat(3, 2_000).into())]
    );
    assert_eq!(store.outbox(&a).unwrap(), vec![chat(2, 5_000)]);
}

#[test]
fn received_messages_are_deduplicated_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (peer(1), peer(2));
    {
        let mut store = Store::open(dir.path()).unwrap();
        let rows = store
            .receive(&a, &[chat(1, 10), chat(2, 20)], 99, false)
            .unwrap();
        assert!(rows.iter().all(|row| row.is_some()), "{rows:?}");
    }
    let mut store = Store::open(dir.path()).unwrap();
    // A resend after a lost ack, and the same id from another peer (a different message).
    let fresh = store
        .receive(&a, &[chat(1, 10), chat(3, 30)], 100, false)
        .unwrap();
    let fresh: Vec<bool> = fresh.iter().map(|row| row.is_some()).collect();
    assert_eq!(fresh, vec![false, true]);
    let other = store.receive(&b, &[chat(1, 10)], 100, false).unwrap();
    assert!(
        other[0].is_some(),
        "the same id from another peer is another message"
    );
}

#[test]
fn playback_gives_unshown_messages_in_order_until_marked() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = peer(1);
    store
        .receive(
            &a,
            &(0..4).map(|n| chat(n, n)).collect::<Vec<_>>(),
            500,
            false,
        )
        .unwrap();
    let unshown = store.unshown(100).unwrap();
    assert_eq!(unshown.len(), 4);
    assert!(unshown.windows(2).all(|w| w[0].row < w[1].row));
    assert_eq!(unshown[2].message, chat(2, 2));
    assert_eq!(unshown[2].received_at_ms, 500);
    // Marks wait for the next write (or a flush), then apply to exactly the rows noted.
    store.note_shown(&[unshown[0].row, unshown[1].row]).unwrap();
    assert_eq!(store.unshown(100).unwrap().len(), 4);
    store.flush_shown().unwrap();
    let rest: Vec<_> = store
        .unshown(100)
        .unwrap()
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(rest, vec![chat(2, 2), chat(3, 3)]);
    // Retention forgets only shown messages.
    assert_eq!(store.prune_history(1_000).unwrap(), 2);
    assert_eq!(store.unshown(100).unwrap().len(), 2);
}

#[test]
fn database_files_are_private_and_the_schema_is_current() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    store.enqueue(&[(peer(1), chat(1, 1))]).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o077, 0, "{:?} is {mode:o}", entry.file_name());
    }
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    drop(store);
    // Opening again runs no migration twice.
    assert_eq!(
        Store::open(dir.path()).unwrap().schema_version().unwrap(),
        SCHEMA_VERSION
    );
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
    db.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(db);
    assert!(
        matches!(Store::open(dir.path()), Err(StoreError::TooNew(v)) if v == SCHEMA_VERSION + 1)
    );
}

#[test]
fn shown_marks_ride_along_with_the_next_write_survive_a_reopen_and_skip_held_rows() {
    let dir = tempfile::tempdir().unwrap();
    let a = peer(1);
    {
        let mut store = Store::open(dir.path()).unwrap();
        let rows = store
            .receive(&a, &[chat(1, 1), chat(2, 2), chat(3, 3)], 5, false)
            .unwrap();
        let rows: Vec<i64> = rows.into_iter().map(Option::unwrap).collect();
        store.note_shown(&rows[..1]).unwrap();
        assert!(store.has_pending_shown());
        // The next write of the history takes the mark along, in its own transaction.
        store.receive(&a, &[chat(4, 4)], 6, false).unwrap();
        assert!(!store.has_pending_shown());
        assert_eq!(store.unshown(100).unwrap().len(), 3);
        // A held message (row 5) stays held whatever a front end reports.
        let b = peer(2);
        assert_eq!(store.hold(&b, &[chat(9, 9)], 7).unwrap(), 1);
        store.note_shown(&[5]).unwrap();
        store.flush_shown().unwrap();
        assert_eq!(store.held_count(&b).unwrap(), 1);
        // Pending when the store closes: written on drop.
        store.note_shown(&rows[1..2]).unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let left: Vec<_> = store
        .unshown(100)
        .unwrap()
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(left, vec![chat(3, 3), chat(4, 4)]);
}

#[test]
fn playback_puts_contacts_first_so_strangers_cannot_push_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let (friend, stranger) = (peer(1), peer(2));
    store
        .put_contact(&crate::contacts::Contact {
            peer: friend,
            petname: Some("friend".into()),
            blocked: false,
            added_ms: 1,
            last_seen_ms: None,
        })
        .unwrap();
    // A stranger's flood, a contact's message in the middle of it, then more flood.
    let flood = |from: u64| (from..from + 50).map(|n| chat(n, n)).collect::<Vec<_>>();
    store.receive(&stranger, &flood(100), 5, false).unwrap();
    store
        .receive(&friend, &[chat(1, 1), chat(2, 2)], 6, false)
        .unwrap();
    store.receive(&stranger, &flood(200), 7, false).unwrap();
    // A limit the flood alone would fill: the contact's messages come first, in order.
    let played: Vec<_> = store.unshown(10).unwrap();
    assert_eq!(played.len(), 10);
    assert_eq!(played[0].message, chat(1, 1));
    assert_eq!(played[1].message, chat(2, 2));
    assert!(played[2..].iter().all(|r| r.from == stranger));
    assert!(played[2..].windows(2).all(|w| w[0].row < w[1].row));
    assert_eq!(played[2].message, chat(100, 100));
    assert_eq!(store.unshown(1000).unwrap().len(), 102);
}

#[test]
fn the_log_is_checkpointed_by_the_store_thread_not_by_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let db_len = || std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len();
    let before = db_len();
    // A few hundred pages: far below the fallback threshold, so no commit checkpoints.
    for n in 0..200 {
        let batch: Vec<_> = (0..10).map(|i| (peer(1), chat(n * 10 + i, 1))).collect();
        store.enqueue(&batch).unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while db_len() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file never received the log's pages"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(store.outbox(&peer(1)).unwrap().len(), 2000);
}

#[test]
fn a_long_burst_does_not_grow_the_log_without_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let wal = dir.path().join(format!("{DB_FILE}-wal"));
    let page = 4096u64;
    let busy = checkpoint::BUSY_PAGES as u64 * page;
    // Four times the size that wakes the checkpoint thread, a page per message, with acks
    // deleting what went.
    let text = "x".repeat(4000);
    let total = 4 * busy / page;
    let mut largest = 0;
    for n in 0..total / 50 {
        let batch: Vec<_> = (0..50)
            .map(|i| {
                let mut m = chat(n * 50 + i, 1);
                m.text = text.clone();
                (peer(1), m)
            })
            .collect();
        store.enqueue(&batch).unwrap();
        let ids: Vec<_> = batch.iter().map(|(_, m)| m.id).collect();
        store.acknowledged(&peer(1), &ids).unwrap();
        largest = largest.max(std::fs::metadata(&wal).unwrap().len());
    }
    // The thread, woken by the commits, kept up and the log was started over again and
    // again (with a checkpoint every half second only, it grew to the whole 256 MiB here).
    assert!(largest < 2 * busy, "log grew to {largest} bytes");
}

#[test]
fn a_version_2_database_is_migrated_and_keeps_its_rows_and_order() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (peer(1), peer(2));
    {
        let db = Connection::open(dir.path().join(DB_FILE)).unwrap();
        db.execute_batch(MIGRATIONS[0]).unwrap();
        db.execute_batch(MIGRATIONS[1]).unwrap();
        db.pragma_update(None, "user_version", 2).unwrap();
        for (n, to) in [(1u64, a), (2, b), (3, a)] {
            let m = chat(n, n);
            db.execute(
                "INSERT INTO outbox (peer, id, kind, text, sent_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    &to.as_bytes()[..],
                    &m.id.0[..],
                    kind_code(m.kind),
                    m.text,
                    n as i64
                ],
            )
            .unwrap();
        }
        // Shown, unshown, held (2) and another unshown, from two peers.
        for (n, from, shown) in [(10u64, a, 1), (11, a, 0), (12, b, 2), (13, b, 0)] {
            let m = chat(n, n);
            db.execute(
                "INSERT INTO received (peer, id, kind, text, sent_at_ms, received_at_ms, shown)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![
                    &from.as_bytes()[..],
                    &m.id.0[..],
                    kind_code(m.kind),
                    m.text,
                    n as i64,
                    shown
                ],
            )
            .unwrap();
        }
    }
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.outbox(&a).unwrap(), vec![chat(1, 1), chat(3, 3)]);
    assert_eq!(store.outbox_peers().unwrap(), vec![a, b]);
    let unshown: Vec<_> = store.unshown(10).unwrap();
    assert_eq!(
        unshown
            .iter()
            .map(|r| (r.row, r.message.id))
            .collect::<Vec<_>>(),
        vec![(2, chat(11, 0).id), (4, chat(13, 0).id)]
    );
    assert_eq!(store.held_count(&b).unwrap(), 1);
    // The ids are still known (a resend is dropped) and new rows come after the old ones.
    let rows = store
        .receive(&a, &[chat(10, 10), chat(20, 20)], 30, false)
        .unwrap();
    assert_eq!(rows, vec![None, Some(5)]);
    store.enqueue(&[(b, chat(4, 4))]).unwrap();
    assert_eq!(store.outbox(&b).unwrap(), vec![chat(2, 2), chat(4, 4)]);
    assert_eq!(store.release_held(&b).unwrap(), 1);
    assert_eq!(store.unshown(10).unwrap().len(), 4);
}

#[test]
fn hot_queries_use_the_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let plan = |sql: &str| -> String {
        let mut s = store
            .db
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = s.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    assert!(
        plan("SELECT row FROM received WHERE shown = 0 ORDER BY row LIMIT 5")
            .contains("received_unshown")
    );
    // Playback walks the unshown rows, not a contact's whole history.
    for sql in [super::shown::CONTACTS_UNSHOWN, super::shown::OTHERS_UNSHOWN] {
        let plan = plan(&sql.replace("?1", "5"));
        assert!(plan.contains("received_unshown"), "{plan}");
    }
    assert!(
        plan("SELECT COUNT(*) FROM received WHERE peer = x'00' AND shown = 2")
            .contains("received_held")
    );
    // An ack deletes its row by `seq`; the outbox has no index to update.
    assert!(plan("DELETE FROM outbox WHERE seq = 5").contains("INTEGER PRIMARY KEY"));
    let indexes: i64 = store
        .db
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexes, 0);
}

#[test]
fn acknowledged_deletes_ride_along_with_the_next_write_and_every_read_sees_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = peer(1);
    {
        let mut store = Store::open(dir.path()).unwrap();
        store
            .enqueue(&(0..4).map(|n| (a, chat(n, n))).collect::<Vec<_>>())
            .unwrap();
        // Pending: a read applies them first.
        store.acknowledged(&a, &[chat(0, 0).id]).unwrap();
        assert_eq!(store.outbox(&a).unwrap().len(), 3);
        // Pending: the next write takes them in its transaction.
        store.acknowledged(&a, &[chat(1, 0).id]).unwrap();
        store.enqueue(&[(a, chat(9, 9))]).unwrap();
        assert!(!store.has_pending_acks());
        // A write of the history only leaves them for the next write of the outbox.
        store.acknowledged(&a, &[chat(2, 0).id]).unwrap();
        store.receive(&peer(2), &[chat(50, 50)], 50, true).unwrap();
        assert!(store.has_pending_acks());
        store.enqueue(&[(a, chat(10, 10))]).unwrap();
        assert!(!store.has_pending_acks());
        // Pending when the store closes: applied on drop.
        store.acknowledged(&a, &[chat(3, 0).id]).unwrap();
    }
    let mut store = Store::open(dir.path()).unwrap();
    assert_eq!(store.outbox(&a).unwrap(), vec![chat(9, 9), chat(10, 10)]);
}

#[test]
fn many_pending_acknowledgements_are_flushed_on_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let a = peer(1);
    let n = MAX_PENDING_ACKS as u64;
    store
        .enqueue(&(0..n).map(|i| (a, chat(i, i))).collect::<Vec<_>>())
        .unwrap();
    let ids: Vec<_> = (0..n).map(|i| chat(i, 0).id).collect();
    store.acknowledged(&a, &ids).unwrap();
    assert!(!store.has_pending_acks());
}

#[test]
fn showing_a_message_per_frame_costs_no_commit_of_its_own() {
    // The e2e path: one message per frame, committed before its ack (`durable`), then
    // reported written by the front end. The marks ride along with the next frame's write.
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let commits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = commits.clone();
    store
        .db
        .commit_hook(Some(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            false
        }))
        .unwrap();
    let a = peer(1);
    for n in 0..100 {
        let (rows, _) = store.receive_open(&a, &[chat(n, n)], n, false).unwrap();
        store.commit().unwrap();
        store.note_shown(&[rows[0].unwrap()]).unwrap();
    }
    assert_eq!(commits.load(std::sync::atomic::Ordering::SeqCst), 100);
    // The last mark is written by the flush that follows within SHOWN_FLUSH_DELAY.
    store.flush_shown().unwrap();
    assert_eq!(commits.load(std::sync::atomic::Ordering::SeqCst), 101);
    assert!(store.unshown(1000).unwrap().is_empty());
}

#[test]
fn held_counts_kept_in_memory_match_the_table_through_hold_evict_release_and_reopen() {
    use crate::policy::strangers::{Quota, row_bytes};
    let dir = tempfile::tempdir().unwrap();
    let counted = |s: &Store| -> (usize, usize) {
        let sql: i64 =
            s.db.query_row("SELECT COUNT(*) FROM received WHERE shown = 2", [], |r| {
                r.get(0)
            })
            .unwrap();
        (s.held_total().unwrap(), sql as usize)
    };
    let (a, b) = (peer(1), peer(2));
    {
        let mut s = Store::open(dir.path()).unwrap();
        let batch = |from: u64| (from..from + 10).map(|n| chat(n, n)).collect::<Vec<_>>();
        assert_eq!(s.hold(&a, &batch(0), 1).unwrap(), 10);
        assert_eq!(s.hold(&b, &batch(100), 2).unwrap(), 10);
        // A resend is not held twice.
        assert_eq!(s.hold(&a, &batch(0), 3).unwrap(), 0);
        assert_eq!(counted(&s), (20, 20));
        assert_eq!(s.held_count(&a).unwrap(), 10);
        // The quota evicts the oldest strangers' rows, held ones too.
        let one = row_bytes(chat(0, 0).text.len());
        let quota = Quota {
            per_sender: 1 << 20,
            total: 15 * one,
        };
        let evicted = s.make_room(&b, one, &quota).unwrap();
        s.commit().unwrap();
        assert!(evicted.rows > 0);
        let (mine, all) = counted(&s);
        assert_eq!(mine, all, "the counts follow the eviction");
        assert_eq!(s.held_count(&a).unwrap() + s.held_count(&b).unwrap(), all);
    }
    let mut s = Store::open(dir.path()).unwrap();
    let (mine, all) = counted(&s);
    assert_eq!(mine, all, "loaded at open");
    s.release_held(&b).unwrap();
    assert_eq!(s.held_count(&b).unwrap(), 0);
    assert_eq!(counted(&s).0, counted(&s).1);
    s.reject_held(&a).unwrap();
    assert_eq!(counted(&s), (0, 0));
}
