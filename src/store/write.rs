//! Group commit across a yield. The hub writes each message it sends to the outbox and
//! each message it receives to the history, and a commit costs far more than an insert
//! (docs/performance.md). So those writes go into one *open write*: a transaction that
//! stays open after the hub returns, until the caller commits it, and the caller first
//! lets the tasks it woke run. The session seals and sends the message while the sender's
//! commit waits; the client shows a received message while the receiver's commit waits.
//!
//! What the durability contract needs still holds, because nothing that depends on a
//! commit happens before it: a received message is acknowledged only once its
//! [`Ticket`] is [`Durability::Durable`], and a sent message is echoed to the user only
//! then. Every other write (contacts, settings, expiry...) first commits the open write
//! ([`Store::settle`]), so no other transaction ever starts inside it, and whoever commits
//! it records the outcome under its ticket for the task that waits on it.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use rusqlite::Connection;

use super::{Store, StoreError};
use crate::identity::PeerId;
use crate::message::MessageId;

/// Commit outcomes remembered for failed tickets. A waiter asks about its ticket right
/// after one yield, so a handful is plenty; older failures count as lost too (see
/// [`Store::durability`]).
const FAILED_KEPT: usize = 64;

/// Names one open write, to ask later whether it was committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ticket(u64);

/// What became of the writes of one [`Ticket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Committed.
    Durable,
    /// Still in the open write: commit it ([`Store::commit`]) to know.
    Open,
    /// Its commit failed and the writes were rolled back.
    Lost,
}

/// The state of the open write, kept in the [`Store`].
#[derive(Default)]
pub(super) struct WriteState {
    /// The open write's ticket number, if one is open.
    open: Option<u64>,
    last_ticket: u64,
    /// Tickets whose commit failed, oldest first (at most [`FAILED_KEPT`]).
    failed: VecDeque<u64>,
    /// The oldest ticket number whose outcome is still known (see `FAILED_KEPT`).
    known_from: u64,
    /// The outbox row (`seq`) of every (message, peer) this store wrote to or read from the
    /// outbox and that is not acknowledged yet: an ack from that peer deletes the row by it
    /// (the outbox has no index on ids). A group message is one id in a row per member.
    pub(super) outbox_rows: HashMap<(MessageId, PeerId), i64, BuildHasherDefault<IdHasher>>,
    /// The rows the open write added to `outbox_rows`: should it be rolled back, their rows
    /// never existed, and a later row may get the same `seq`.
    pub(super) rows_in_open: Vec<(MessageId, PeerId)>,
    /// Outbox rows of acknowledged messages, not deleted yet: the deletes ride along with
    /// the next write of the outbox, so that an ack costs no commit of its own. Lost in a crash, they
    /// only make the messages go out again, and the receiver drops what it has.
    pub(super) acked: Vec<i64>,
    /// Of `acked`, how many the open write has deleted (they leave the list when it
    /// commits; should it fail, they are deleted again by the next one).
    acked_in_open: usize,
    /// History rows a front end has written to its client, not yet marked shown: the
    /// updates ride along with the next write, as acks do (`shown.rs`).
    pub(super) shown: Vec<i64>,
    /// Of `shown`, how many the open write has marked.
    pub(super) shown_in_open: usize,
    /// `[store] history_days = 0`: a row marked shown loses its text in the same update
    /// (`shown.rs`).
    pub(super) forget_shown: bool,
}

/// Hashes (message id, peer) for `outbox_rows`. Only our own ids go in (a random per-run
/// prefix and a counter: nothing a peer chooses), with the keys of peers the user sends to,
/// so a multiply-fold with a final mix is enough;
/// with the default SipHash, the map took a seventh of the sending gateway's time in a
/// long e2e burst.
#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(26) ^ u64::from_le_bytes(word))
                .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn finish(&self) -> u64 {
        // The fold carries a byte's bits only upwards, and a counter's low byte lands in the
        // top byte of its word: mix the high bits down (splitmix64's finalizer), or ids that
        // differ only there would share their low bits, and so their bucket.
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Store {
    /// Runs `f`, a write of the outbox, inside the open write (beginning one if none is
    /// open), after deleting the acknowledged messages still pending (their rows are
    /// usually on the pages `f` writes anyway); returns `f`'s result and the write's ticket.
    /// On an error the whole open write is rolled back (its ticket is then lost).
    pub(super) fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(T, Ticket), StoreError> {
        self.write_with(true, f)
    }

    /// [`Store::write`] for a write of the history only: the acknowledged deletes wait for
    /// a write of the outbox (or [`Store::flush_acknowledged`]), rather than add outbox pages
    /// to the commit of a received message.
    pub(super) fn write_history<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(T, Ticket), StoreError> {
        self.write_with(false, f)
    }

    fn write_with<T>(
        &mut self,
        with_acks: bool,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<(T, Ticket), StoreError> {
        let ticket = match self.write.open {
            Some(open) => open,
            None => {
                // IMMEDIATE: the write lock is taken here, waiting (busy timeout) with no
                // snapshot held. A deferred BEGIN whose first statement reads (the history's
                // prune and eviction do) holds a snapshot while it waits to write, and the
                // checkpoint thread's RESTART waits for that reader while it holds writers
                // back: both waited out their busy timeouts, again and again ("database is
                // locked"), in a prune of 200,000 rows.
                self.db.execute_batch("BEGIN IMMEDIATE")?;
                self.write.last_ticket += 1;
                self.write.open = Some(self.write.last_ticket);
                self.write.last_ticket
            }
        };
        let done = match with_acks {
            true => delete_acked(&self.db, &mut self.write),
            false => Ok(0),
        }
        .and_then(|_| super::shown::mark_pending(&self.db, &mut self.write))
        .and_then(|_| f(&self.db));
        match done {
            Ok(value) => Ok((value, Ticket(ticket))),
            Err(e) => {
                self.abandon_open();
                Err(e)
            }
        }
    }

    /// Commits the open write, if any. On failure its writes are rolled back and its
    /// ticket is [`Durability::Lost`].
    pub fn commit(&mut self) -> Result<(), StoreError> {
        if self.write.open.is_none() {
            return Ok(());
        }
        match self.db.execute_batch("COMMIT") {
            Ok(()) => {
                self.write.open = None;
                self.write.rows_in_open.clear();
                let deleted = std::mem::take(&mut self.write.acked_in_open);
                self.write.acked.drain(..deleted);
                let marked = std::mem::take(&mut self.write.shown_in_open);
                self.write.shown.drain(..marked);
                Ok(())
            }
            Err(e) => {
                self.abandon_open();
                Err(e.into())
            }
        }
    }

    /// Commits the open write before anything else touches the database; a failure is
    /// logged, and reported to whoever waits on the ticket.
    pub fn settle(&mut self) {
        if let Err(e) = self.commit() {
            tracing::error!(error = %e, "cannot commit stored messages");
        }
    }

    /// Whether the writes of `ticket` are committed.
    pub fn durability(&self, ticket: Ticket) -> Durability {
        if self.write.open == Some(ticket.0) {
            Durability::Open
        } else if ticket.0 < self.write.known_from || self.write.failed.contains(&ticket.0) {
            Durability::Lost
        } else {
            Durability::Durable
        }
    }

    /// Whether a write is open (uncommitted).
    pub fn has_open_write(&self) -> bool {
        self.write.open.is_some()
    }

    /// Rolls the open write back and remembers its ticket as lost.
    fn abandon_open(&mut self) {
        let Some(ticket) = self.write.open.take() else {
            return;
        };
        if !self.db.is_autocommit() {
            let _ = self.db.execute_batch("ROLLBACK");
        }
        self.write.acked_in_open = 0;
        self.write.shown_in_open = 0;
        for key in std::mem::take(&mut self.write.rows_in_open) {
            self.write.outbox_rows.remove(&key);
        }
        self.write.failed.push_back(ticket);
        if self.write.failed.len() > FAILED_KEPT {
            self.write.failed.pop_front();
            // Everything up to the oldest failure still listed is known.
            self.write.known_from = self.write.failed[0];
        }
    }

    /// Deletes the acknowledged messages now; returns how many were still in the outbox.
    /// Inside an open write they join it (and this connection's reads see them gone);
    /// otherwise they are committed at once.
    pub(super) fn apply_acks(&mut self) -> Result<usize, StoreError> {
        if self.write.acked_in_open == self.write.acked.len() {
            return Ok(0);
        }
        let joined = self.write.open.is_some();
        // Opens a write if none is open; the deletes are done here, to count them.
        self.write_history(|_| Ok(()))?;
        let removed = match delete_acked(&self.db, &mut self.write) {
            Ok(removed) => removed,
            Err(e) => {
                self.abandon_open();
                return Err(e);
            }
        };
        if !joined {
            self.commit()?;
        }
        Ok(removed)
    }
}

/// Deletes, inside the open write, the acknowledged messages it has not deleted yet;
/// returns how many rows went.
fn delete_acked(db: &Connection, state: &mut WriteState) -> Result<usize, StoreError> {
    if state.acked_in_open == state.acked.len() {
        return Ok(0);
    }
    let mut delete = db.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?;
    let mut removed = 0;
    for seq in &state.acked[state.acked_in_open..] {
        removed += delete.execute([seq])?;
    }
    state.acked_in_open = state.acked.len();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use rusqlite::OpenFlags;

    use super::super::tests::peer;
    use super::*;
    use crate::message::ChatMessage;

    fn chat(n: u64) -> ChatMessage {
        super::super::tests::chat(n, 1000 + n)
    }

    /// What another process (a second connection) sees: only committed rows.
    fn committed_rows(dir: &std::path::Path, table: &str) -> i64 {
        let db = Connection::open_with_flags(
            dir.join(super::super::DB_FILE),
            OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn open_writes_are_invisible_to_others_until_committed_and_share_one_ticket() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let sent = store.enqueue_open(&[(peer(2), chat(1))]).unwrap();
        let (rows, received) = store.receive_open(&peer(3), &[chat(7)], 5, true).unwrap();
        assert_eq!(rows.len(), 1);
        // One open write: both writes commit together (group commit).
        assert_eq!(sent, received);
        assert_eq!(store.durability(sent), Durability::Open);
        assert!(store.has_open_write());
        // This connection reads its own writes; nobody else sees them yet.
        assert_eq!(store.outbox(&peer(2)).unwrap(), vec![chat(1)]);
        assert_eq!(committed_rows(dir.path(), "outbox"), 0);
        assert_eq!(committed_rows(dir.path(), "received"), 0);
        store.commit().unwrap();
        assert_eq!(store.durability(sent), Durability::Durable);
        assert_eq!(committed_rows(dir.path(), "outbox"), 1);
        assert_eq!(committed_rows(dir.path(), "received"), 1);
        // The next write is a new ticket.
        let next = store.enqueue_open(&[(peer(2), chat(2))]).unwrap();
        assert_ne!(next, sent);
    }

    #[test]
    fn a_failed_write_rolls_the_whole_open_write_back_and_its_ticket_is_lost() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let ticket = store.enqueue_open(&[(peer(2), chat(1))]).unwrap();
        let failed = store.write(|db| {
            db.execute("INSERT INTO no_such_table VALUES (1)", [])?;
            Ok(())
        });
        assert!(failed.is_err());
        assert_eq!(store.durability(ticket), Durability::Lost);
        assert!(!store.has_open_write());
        assert!(store.outbox(&peer(2)).unwrap().is_empty());
        // The store goes on: the next write is durable once committed.
        let next = store.enqueue_open(&[(peer(2), chat(3))]).unwrap();
        store.settle();
        assert_eq!(store.durability(next), Durability::Durable);
        assert_eq!(store.durability(ticket), Durability::Lost);
        assert_eq!(committed_rows(dir.path(), "outbox"), 1);
    }

    #[test]
    fn any_other_write_commits_the_open_write_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let ticket = store.enqueue_open(&[(peer(2), chat(1))]).unwrap();
        store.set_setting("unknown", "ask").unwrap();
        assert_eq!(store.durability(ticket), Durability::Durable);
        assert_eq!(committed_rows(dir.path(), "outbox"), 1);
        assert_eq!(committed_rows(dir.path(), "settings"), 1);
        // Expiry too: it commits what it does at once.
        let ticket = store.enqueue_open(&[(peer(2), chat(2))]).unwrap();
        assert_eq!(store.expire(0).unwrap(), vec![]);
        assert_eq!(store.durability(ticket), Durability::Durable);
        assert_eq!(committed_rows(dir.path(), "outbox"), 2);
    }

    #[test]
    fn acknowledged_deletes_ride_along_and_survive_a_rolled_back_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .enqueue(&[(peer(2), chat(1)), (peer(2), chat(2))])
            .unwrap();
        store.acknowledged(&peer(2), &[chat(1).id]).unwrap();
        // The delete rides along with the next write...
        store.enqueue_open(&[(peer(2), chat(3))]).unwrap();
        // ...which fails: the delete is rolled back with it and stays pending.
        assert!(store.write(|db| Ok(db.execute("BOGUS", [])?)).is_err());
        assert!(store.has_pending_acks());
        assert_eq!(committed_rows(dir.path(), "outbox"), 2);
        // The next write deletes it for good.
        store.enqueue(&[(peer(2), chat(4))]).unwrap();
        assert!(!store.has_pending_acks());
        assert_eq!(store.outbox(&peer(2)).unwrap(), vec![chat(2), chat(4)]);
        assert_eq!(committed_rows(dir.path(), "outbox"), 2);
    }

    #[test]
    fn dropping_the_store_commits_the_open_write() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = Store::open(dir.path()).unwrap();
            store.enqueue_open(&[(peer(2), chat(1))]).unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.outbox(&peer(2)).unwrap(), vec![chat(1)]);
    }

    #[test]
    fn an_ack_for_a_rolled_back_message_cannot_delete_the_row_that_took_its_seq() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.enqueue_open(&[(peer(2), chat(1))]).unwrap();
        assert!(store.write(|db| Ok(db.execute("BOGUS", [])?)).is_err());
        // The next message gets the same seq (the rolled-back row never existed).
        store.enqueue(&[(peer(2), chat(2))]).unwrap();
        // The first one was sent from memory meanwhile, and the peer acknowledges it.
        store.acknowledged(&peer(2), &[chat(1).id]).unwrap();
        store.flush_acknowledged().unwrap();
        assert_eq!(store.outbox(&peer(2)).unwrap(), vec![chat(2)]);
    }

    #[test]
    fn acks_find_rows_written_by_an_earlier_run_and_only_from_their_peer() {
        let dir = tempfile::tempdir().unwrap();
        Store::open(dir.path())
            .unwrap()
            .enqueue(&[(peer(2), chat(1)), (peer(2), chat(2))])
            .unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        // The hub reads the outbox at start (`resume`): that tells the store their rows.
        assert_eq!(store.outbox(&peer(2)).unwrap().len(), 2);
        store.acknowledged(&peer(3), &[chat(1).id]).unwrap();
        assert_eq!(store.flush_acknowledged().unwrap(), 0);
        store.acknowledged(&peer(2), &[chat(1).id]).unwrap();
        assert_eq!(store.flush_acknowledged().unwrap(), 1);
        assert_eq!(committed_rows(dir.path(), "outbox"), 1);
    }

    #[test]
    fn ids_of_one_run_spread_over_the_buckets() {
        use std::hash::BuildHasher;
        let build = BuildHasherDefault::<IdHasher>::default();
        // 4096 consecutive ids of one run: their low 12 bits of hash (the bucket of a
        // table that size) must not pile up.
        let mut buckets = vec![0u32; 4096];
        for n in 0..4096u64 {
            buckets[(build.hash_one(chat(n).id) & 4095) as usize] += 1;
        }
        let fullest = buckets.iter().max().copied().unwrap();
        assert!(fullest <= 8, "{fullest} ids in one bucket");
    }
}
