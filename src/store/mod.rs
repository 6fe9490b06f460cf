//! The durable store in the data dir (SQLite, WAL mode, file mode 0600): the outbox of
//! accepted messages not yet acknowledged by their peer, and the history of received
//! messages, which also remembers which ones a front end has shown (playback) and which ids
//! were seen (deduplication across restarts). The history is plaintext, kept for
//! `[store] history_days`; with 0 a message's text is deleted once shown (`shown.rs`).
//!
//! Every write that belongs together is one transaction (group commit): a burst of messages
//! costs one fsync, not one each. Rows are ordered by an autoincrement sequence, so per peer
//! the outbox gives messages back in the order they were accepted.
//!
//! The hub stores received messages here before they are acknowledged and plays back
//! unshown ones. The user's contacts, runtime settings, announced senders and held
//! messages are in [`contacts`]; groups (their names, ops, group chats in the outbox and
//! the history) in [`groups`].

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::group::GroupId;
use crate::identity::PeerId;
use crate::message::{ChatMessage, MessageId, MessageKind, PeerMessage};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "disims.db";
/// The schema version this code writes; older databases are migrated on open.
pub const SCHEMA_VERSION: i64 = 6;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error(
        "database schema version {0} is newer than this gateway understands ({SCHEMA_VERSION})"
    )]
    TooNew(i64),
    #[error("database holds a malformed row: {0}")]
    Corrupt(&'static str),
}

/// One received message, as kept in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// Position in the history (playback marks up to here as shown).
    pub row: i64,
    pub from: PeerId,
    pub message: ChatMessage,
    pub received_at_ms: u64,
    /// The group it was sent to; `None` for a private message.
    pub group: Option<GroupId>,
}

/// Acknowledged messages kept in memory at most this many before their rows are deleted
/// in a transaction of their own.
pub const MAX_PENDING_ACKS: usize = 4096;

/// History rows one batch of pruning reads at most. Each batch is a transaction of its
/// own, and the hub's lock is held for one batch, not for the whole prune: measured on a
/// 400,000-row history (129 MB), a batch of 256 took about 4 ms, where one statement over
/// the whole table took 0.13 s with nothing to prune and 1.2-1.8 s deleting half of it.
pub const PRUNE_BATCH: usize = 256;

/// The store; one per gateway.
pub struct Store {
    db: Connection,
    /// The open write (group commit) and the acknowledged messages whose deletes ride
    /// along with it.
    write: write::WriteState,
    /// Bytes of history per peer, and who is exempt from the strangers' quota.
    ledger: quota::Ledger,
    /// Held messages per sender, kept in memory (loaded at open): counting them in SQL for
    /// every held frame scanned the whole held index, a cost strangers could multiply.
    held: contacts::HeldCounts,
    /// Declared after `db`, so dropped after it: the last checkpoint sees every commit.
    _checkpointer: checkpoint::Checkpointer,
}

/// Each step takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        peer BLOB NOT NULL,
        id BLOB NOT NULL UNIQUE,
        kind INTEGER NOT NULL,
        text TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL
     );
     CREATE INDEX outbox_by_peer ON outbox(peer, seq);
     CREATE TABLE received (
        row INTEGER PRIMARY KEY AUTOINCREMENT,
        peer BLOB NOT NULL,
        id BLOB NOT NULL,
        kind INTEGER NOT NULL,
        text TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        shown INTEGER NOT NULL DEFAULT 0,
        UNIQUE(peer, id)
     );
     CREATE INDEX received_unshown ON received(shown, row);",
    // 1 -> 2
    contacts::MIGRATION_2,
    // 2 -> 3
    MIGRATION_3,
    // 3 -> 4
    MIGRATION_4,
    // 4 -> 5
    contacts::MIGRATION_5,
    // 5 -> 6
    groups::MIGRATION_6,
];

/// Schema step 2 -> 3: fewer b-trees to update per message (docs/performance.md). Every
/// message written to the outbox or the history used to update five: the table, its unique
/// index, a second index, and `sqlite_sequence` (AUTOINCREMENT). Now:
/// - no AUTOINCREMENT: a plain `INTEGER PRIMARY KEY` is already one more than the largest
///   key in the table, so rows still come back in the order they were written;
/// - the outbox has no `(peer, seq)` index: it only holds what is not yet acknowledged, and
///   it is read by peer only at start, on `status` and when an offline peer's queue drains;
/// - `received`'s indexes of unshown and held rows are partial: most rows are inserted
///   shown (`shown = 1`) and never enter them.
const MIGRATION_3: &str = "CREATE TABLE outbox_v3 (
        seq INTEGER PRIMARY KEY,
        peer BLOB NOT NULL,
        id BLOB NOT NULL UNIQUE,
        kind INTEGER NOT NULL,
        text TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL
     );
     INSERT INTO outbox_v3 (seq, peer, id, kind, text, sent_at_ms)
        SELECT seq, peer, id, kind, text, sent_at_ms FROM outbox;
     DROP TABLE outbox;
     ALTER TABLE outbox_v3 RENAME TO outbox;
     CREATE TABLE received_v3 (
        row INTEGER PRIMARY KEY,
        peer BLOB NOT NULL,
        id BLOB NOT NULL,
        kind INTEGER NOT NULL,
        text TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL,
        shown INTEGER NOT NULL DEFAULT 0,
        UNIQUE(peer, id)
     );
     INSERT INTO received_v3 (row, peer, id, kind, text, sent_at_ms, received_at_ms, shown)
        SELECT row, peer, id, kind, text, sent_at_ms, received_at_ms, shown FROM received;
     DROP TABLE received;
     ALTER TABLE received_v3 RENAME TO received;
     CREATE INDEX received_unshown ON received(row) WHERE shown = 0;
     CREATE INDEX received_held ON received(peer) WHERE shown = 2;";

/// Schema step 3 -> 4: the outbox loses its unique index on `id`, one more b-tree per
/// message written and per message acknowledged. Ids are unique by construction (a random
/// per-run prefix and a counter); an acknowledged message's row is found by its `seq`, which
/// the store keeps in memory for every message in the outbox (`write.rs`).
const MIGRATION_4: &str = "CREATE TABLE outbox_v4 (
        seq INTEGER PRIMARY KEY,
        peer BLOB NOT NULL,
        id BLOB NOT NULL,
        kind INTEGER NOT NULL,
        text TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL
     );
     INSERT INTO outbox_v4 (seq, peer, id, kind, text, sent_at_ms)
        SELECT seq, peer, id, kind, text, sent_at_ms FROM outbox;
     DROP TABLE outbox;
     ALTER TABLE outbox_v4 RENAME TO outbox;";

pub(super) fn kind_code(kind: MessageKind) -> i64 {
    match kind {
        MessageKind::Text => 0,
        MessageKind::Notice => 1,
        MessageKind::Action => 2,
    }
}

fn kind_of(code: i64) -> Result<MessageKind, StoreError> {
    match code {
        0 => Ok(MessageKind::Text),
        1 => Ok(MessageKind::Notice),
        2 => Ok(MessageKind::Action),
        _ => Err(StoreError::Corrupt("unknown message kind")),
    }
}

fn peer_of(bytes: Vec<u8>) -> Result<PeerId, StoreError> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("peer key length"))?;
    PeerId::from_bytes(bytes).map_err(|_| StoreError::Corrupt("peer key"))
}

fn id_of(bytes: Vec<u8>) -> Result<MessageId, StoreError> {
    bytes
        .try_into()
        .map(MessageId)
        .map_err(|_| StoreError::Corrupt("message id length"))
}

impl Store {
    /// Opens (creating, mode 0600) the database in `data_dir` and migrates its schema.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let path = data_dir.join(DB_FILE);
        // Create the file ourselves first, so that it is 0600 from its first byte; SQLite
        // creates the WAL and shared-memory files with the same mode as the database.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let mut db = Connection::open(&path)?;
        // WAL: readers do not block the writer. NORMAL: a commit is written to the WAL before
        // it returns, so it survives a crash or `kill -9` of the gateway; only a crash of the
        // whole machine can lose the last commits (fsync happens at checkpoints). FULL would
        // fsync every commit: about 0.7 ms per message received here, which multiplied the
        // end-to-end latency by five (docs/performance.md).
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        // Checkpoints run on their own thread (see `checkpoint`), not inside our commits;
        // the hook (which replaces SQLite's automatic checkpoints) wakes it.
        let _checkpointer = checkpoint::Checkpointer::start(&path)?;
        db.wal_hook(Some(_checkpointer.hook()))?;
        let mut store = Store {
            db,
            write: write::WriteState::default(),
            ledger: quota::Ledger::default(),
            held: contacts::HeldCounts::default(),
            _checkpointer,
        };
        store.migrate()?;
        store.ledger = quota::Ledger::load(&store.db)?;
        store.held = contacts::HeldCounts::load(&store.db)?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let version: i64 = self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::TooNew(version));
        }
        for (from, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            let tx = self.db.transaction()?;
            tx.execute_batch(step)?;
            tx.pragma_update(None, "user_version", from as i64 + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// Commits accepted messages to the outbox, all in one transaction (with the deletes of
    /// acknowledged messages still pending).
    pub fn enqueue(&mut self, messages: &[(PeerId, ChatMessage)]) -> Result<(), StoreError> {
        self.enqueue_open(messages)?;
        self.commit()
    }

    /// Writes accepted messages to the outbox in the open write, left open for a group
    /// commit (see `write.rs`): they are durable once the ticket is.
    pub fn enqueue_open(
        &mut self,
        messages: &[(PeerId, ChatMessage)],
    ) -> Result<Ticket, StoreError> {
        self.enqueue_rows(
            messages
                .iter()
                .map(|(peer, m)| (*peer, groups::OutboxRow::of_chat(m)))
                .collect(),
        )
    }

    /// Writes outbox rows in the open write and remembers each by (id, peer) for its ack.
    fn enqueue_rows(
        &mut self,
        rows: Vec<(PeerId, groups::OutboxRow<'_>)>,
    ) -> Result<Ticket, StoreError> {
        let (seqs, ticket) = self.write(|db| {
            rows.iter()
                .map(|(peer, row)| groups::insert_outbox(db, peer, row))
                .collect::<Result<Vec<_>, _>>()
        })?;
        for ((peer, row), seq) in rows.iter().zip(seqs) {
            self.write.outbox_rows.insert((row.id, *peer), seq);
            self.write.rows_in_open.push((row.id, *peer));
        }
        Ok(ticket)
    }

    /// The private messages waiting for `peer`, in the order they were accepted (what
    /// [`Store::queued`] gives, without the group messages).
    pub fn outbox(&mut self, peer: &PeerId) -> Result<Vec<ChatMessage>, StoreError> {
        Ok(self
            .queued(peer)?
            .into_iter()
            .filter_map(PeerMessage::into_chat)
            .collect())
    }

    /// Everything waiting for `peer` (private chats, group chats, group ops), in the order
    /// it was accepted.
    pub fn queued(&mut self, peer: &PeerId) -> Result<Vec<PeerMessage>, StoreError> {
        self.apply_acks()?;
        let mut select = self.db.prepare_cached(&format!(
            "SELECT seq, {} FROM outbox WHERE peer = ?1 ORDER BY seq",
            groups::OUTBOX_COLUMNS
        ))?;
        let rows = select.query_map([&peer.as_bytes()[..]], |r| {
            Ok((r.get::<_, i64>(0)?, groups::outbox_message(r, 1)?))
        })?;
        let outbox_rows = &mut self.write.outbox_rows;
        rows.map(|row| {
            let (seq, raw) = row?;
            let message = raw.decode()?;
            // Written by an earlier run: its ack will find the row by this.
            outbox_rows.insert((message.id(), *peer), seq);
            Ok(message)
        })
        .collect()
    }

    /// Whether any message waits for `peer` (without reading them).
    pub fn has_outbox(&mut self, peer: &PeerId) -> Result<bool, StoreError> {
        self.apply_acks()?;
        let mut select = self
            .db
            .prepare_cached("SELECT EXISTS(SELECT 1 FROM outbox WHERE peer = ?1)")?;
        Ok(select.query_row([&peer.as_bytes()[..]], |r| r.get(0))?)
    }

    /// Every peer with messages waiting, in the order of their oldest message.
    pub fn outbox_peers(&mut self) -> Result<Vec<PeerId>, StoreError> {
        self.apply_acks()?;
        let mut select = self
            .db
            .prepare_cached("SELECT peer FROM outbox GROUP BY peer ORDER BY MIN(seq)")?;
        let rows = select.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|row| peer_of(row?)).collect()
    }

    /// Records that `peer` acknowledged these messages. Their rows are deleted with the next
    /// write (or by [`Store::flush_acknowledged`], which the hub calls shortly after), not in
    /// a transaction of their own; every read of the outbox applies them first. Ids the peer
    /// did not have waiting are ignored.
    pub fn acknowledged(&mut self, peer: &PeerId, ids: &[MessageId]) -> Result<(), StoreError> {
        for id in ids {
            if let Some(seq) = self.write.outbox_rows.remove(&(*id, *peer)) {
                self.write.acked.push(seq);
            }
        }
        if self.write.acked.len() >= MAX_PENDING_ACKS {
            self.flush_acknowledged()?;
        }
        Ok(())
    }

    /// Whether acknowledged messages wait to be deleted.
    pub fn has_pending_acks(&self) -> bool {
        !self.write.acked.is_empty()
    }

    /// Deletes the acknowledged messages now, for good; returns how many were still in the
    /// outbox.
    pub fn flush_acknowledged(&mut self) -> Result<usize, StoreError> {
        let removed = self.apply_acks()?;
        self.commit()?;
        Ok(removed)
    }

    /// Removes and returns the messages accepted before `before_ms` (they expire undelivered).
    pub fn expire(&mut self, before_ms: u64) -> Result<Vec<(PeerId, PeerMessage)>, StoreError> {
        let (expired, _) = self.write(|db| {
            let mut select = db.prepare_cached(&format!(
                "SELECT peer, {} FROM outbox WHERE sent_at_ms < ?1 ORDER BY seq",
                groups::OUTBOX_COLUMNS
            ))?;
            let rows = select.query_map([before_ms as i64], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, groups::outbox_message(r, 1)?))
            })?;
            let expired = rows
                .map(|row| {
                    let (peer, raw) = row?;
                    Ok((peer_of(peer)?, raw.decode()?))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            db.execute(
                "DELETE FROM outbox WHERE sent_at_ms < ?1",
                [before_ms as i64],
            )?;
            Ok(expired)
        })?;
        self.commit()?;
        for (peer, message) in &expired {
            self.write.outbox_rows.remove(&(message.id(), *peer));
        }
        Ok(expired)
    }

    /// Stores received messages in one transaction; for each, its history row when it is new
    /// (`None` for a message already stored from the same peer with the same id: a resend).
    /// `shown` records them as shown already (the hub stores them unshown, and marks them
    /// shown once a front end has written them: [`Store::note_shown`]).
    pub fn receive(
        &mut self,
        from: &PeerId,
        messages: &[ChatMessage],
        now_ms: u64,
        shown: bool,
    ) -> Result<Vec<Option<i64>>, StoreError> {
        let (rows, _) = self.receive_open(from, messages, now_ms, shown)?;
        self.commit()?;
        Ok(rows)
    }

    /// [`Store::receive`] in the open write, left open for a group commit (see
    /// `write.rs`): the messages are durable, and may be acknowledged, once the ticket is.
    pub fn receive_open(
        &mut self,
        from: &PeerId,
        messages: &[ChatMessage],
        now_ms: u64,
        shown: bool,
    ) -> Result<(Vec<Option<i64>>, Ticket), StoreError> {
        let (rows, ticket) =
            self.write_history(|db| insert_received(db, from, messages, now_ms, i64::from(shown)))?;
        self.count_received(from, messages, &rows);
        Ok((rows, ticket))
    }

    /// Counts the bytes of the rows just written (see `quota`).
    fn count_received(&mut self, from: &PeerId, messages: &[ChatMessage], rows: &[Option<i64>]) {
        let bytes = messages
            .iter()
            .zip(rows)
            .filter(|(_, row)| row.is_some())
            .map(|(m, _)| crate::policy::strangers::row_bytes(m.text.len()))
            .sum();
        if bytes > 0 {
            self.ledger.add(*from, bytes);
        }
    }

    /// Forgets shown messages received before `before_ms` (history retention), all at once
    /// (the hub prunes a batch at a time instead: [`Store::prune_history_batch`]). Their ids
    /// go too, so a resend older than the retention would show again: keep the retention
    /// longer than the outbox expiry.
    pub fn prune_history(&mut self, before_ms: u64) -> Result<usize, StoreError> {
        let (mut pruned, mut after) = (0, 0);
        loop {
            let step = self.prune_history_batch(before_ms, after, PRUNE_BATCH)?;
            pruned += step.deleted;
            match step.next {
                Some(next) => after = next,
                None => return Ok(pruned),
            }
        }
    }

    /// The newest schema version this database has been migrated to.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .db
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .optional()?
            .unwrap_or(0))
    }
}

/// Inserts received messages with the given `shown` state; for each, its new row, or `None`
/// for a message already stored from the same peer with the same id (a resend).
fn insert_received(
    db: &Connection,
    from: &PeerId,
    messages: &[ChatMessage],
    now_ms: u64,
    shown: i64,
) -> Result<Vec<Option<i64>>, StoreError> {
    let mut insert = db.prepare_cached(
        "INSERT OR IGNORE INTO received (peer, id, kind, text, sent_at_ms, received_at_ms, shown)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    let mut rows = Vec::with_capacity(messages.len());
    for m in messages {
        let n = insert.execute(params![
            &from.as_bytes()[..],
            &m.id.0[..],
            kind_code(m.kind),
            m.text,
            m.sent_at_ms as i64,
            now_ms as i64,
            shown
        ])?;
        rows.push((n == 1).then(|| db.last_insert_rowid()));
    }
    Ok(rows)
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Err(e) = self.flush_shown() {
            tracing::warn!(error = %e, "cannot mark messages as shown");
        }
        if let Err(e) = self.apply_acks() {
            tracing::warn!(error = %e, "cannot remove acknowledged messages from the outbox");
        }
    }
}

mod checkpoint;
pub mod contacts;
pub mod groups;
mod quota;
mod shown;
mod write;
pub use contacts::SenderState;
pub use quota::{Evicted, PruneStep};
pub use write::{Durability, Ticket};

#[cfg(test)]
mod forget_tests;
#[cfg(test)]
mod tests;
