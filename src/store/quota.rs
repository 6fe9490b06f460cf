//! How many bytes of history each peer holds, and strangers' share of it kept under a
//! quota ([`crate::policy::strangers::Quota`]); and the history's retention, pruned in
//! small batches.
//!
//! The bytes are counted as [`row_bytes`] counts them (the text and a fixed row overhead),
//! per peer, in memory: loaded once when the store opens, then kept up to date by every
//! write that adds or removes history rows (not a scan per message). A write rolled back
//! leaves the count a little high until the next start: the quota errs on the safe side.
//!
//! Contacts (and our own key) are *exempt*: their rows are never evicted nor counted
//! against the quota. When strangers hold too much, their oldest rows go first, found in
//! row order from a cursor below which only exempt rows are left (so each eviction reads
//! only the rows it deletes, plus the contacts' rows it passes once).
//!
//! Retention ([`Store::prune_history_batch`]) walks the history by its primary key (rows
//! are numbered in the order they arrive, so by time) a batch at a time, each batch its own
//! short transaction: the caller (the hub) takes its lock once per batch, not for a scan of
//! the whole table.

use std::collections::{HashMap, HashSet};

use rusqlite::{Connection, params};

use super::{Store, StoreError, peer_of};
use crate::identity::PeerId;
use crate::policy::strangers::{Quota, row_bytes};

/// Rows read at a time while evicting.
const EVICT_BATCH: i64 = 256;

/// Bytes of history per peer.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    per_peer: HashMap<PeerId, u64>,
    total: u64,
    exempt: HashSet<PeerId>,
    /// Every row up to here is exempt (or gone): eviction resumes after it.
    cursor: i64,
}

/// What an eviction deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Evicted {
    pub rows: u64,
    pub bytes: u64,
}

/// What one batch of pruning did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneStep {
    pub deleted: usize,
    /// Where the next batch starts (after this row); `None`: done.
    pub next: Option<i64>,
}

impl Ledger {
    /// Counts the history's bytes per peer (one scan, when the store opens).
    pub(super) fn load(db: &Connection) -> Result<Ledger, StoreError> {
        let mut select = db.prepare(
            "SELECT peer, COUNT(*), SUM(length(CAST(text AS BLOB))) FROM received GROUP BY peer",
        )?;
        let rows = select.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Option<i64>>(2)?,
            ))
        })?;
        let mut ledger = Ledger::default();
        for row in rows {
            let (peer, count, text) = row?;
            let bytes = count.max(0) as u64 * row_bytes(0) + text.unwrap_or(0).max(0) as u64;
            ledger.add(peer_of(peer)?, bytes);
        }
        Ok(ledger)
    }

    pub(super) fn add(&mut self, peer: PeerId, bytes: u64) {
        *self.per_peer.entry(peer).or_default() += bytes;
        self.total += bytes;
    }

    pub(super) fn sub(&mut self, peer: &PeerId, bytes: u64) {
        if let Some(held) = self.per_peer.get_mut(peer) {
            let bytes = bytes.min(*held);
            *held -= bytes;
            self.total -= bytes;
            if *held == 0 {
                self.per_peer.remove(peer);
            }
        }
    }

    fn of(&self, peer: &PeerId) -> u64 {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Bytes held by peers that are not exempt.
    fn strangers(&self) -> u64 {
        let exempt: u64 = self.exempt.iter().map(|p| self.of(p)).sum();
        self.total - exempt.min(self.total)
    }
}

impl Store {
    /// The peers whose history is never evicted (the contacts, our own key); the hub calls
    /// this at start and whenever the contacts change.
    pub fn set_exempt(&mut self, peers: impl IntoIterator<Item = PeerId>) {
        self.ledger.exempt = peers.into_iter().collect();
        // A peer no longer exempt may have rows below the cursor.
        self.ledger.cursor = 0;
    }

    /// Bytes of history held by peers that are not exempt (as [`row_bytes`] counts them).
    pub fn stranger_bytes(&self) -> u64 {
        self.ledger.strangers()
    }

    /// Bytes of history held by `peer`.
    pub fn history_bytes(&self, peer: &PeerId) -> u64 {
        self.ledger.of(peer)
    }

    /// Makes room, in the open write, for `incoming` bytes from `from` under `quota`: its
    /// own oldest rows first when it is over its share, then strangers' oldest rows when
    /// they are over the total. Nothing for an exempt peer.
    pub fn make_room(
        &mut self,
        from: &PeerId,
        incoming: u64,
        quota: &Quota,
    ) -> Result<Evicted, StoreError> {
        if self.ledger.exempt.contains(from) {
            return Ok(Evicted::default());
        }
        let (from_sender, from_all) =
            quota.to_free(self.ledger.of(from), self.ledger.strangers(), incoming);
        if from_sender == 0 && from_all == 0 {
            return Ok(Evicted::default());
        }
        let (mut evicted, _) = self.write_history(|db| evict_sender(db, from, from_sender))?;
        if from_all > 0 {
            let ledger = std::mem::take(&mut self.ledger);
            let done = self.write_history(|db| evict_oldest(db, &ledger, from_all));
            self.ledger = ledger;
            let (more, _) = done?;
            self.ledger.cursor = more.1;
            evicted.extend(more.0);
        }
        for gone in &evicted {
            self.ledger.sub(&gone.peer, gone.bytes);
            if gone.held {
                self.held.sub_one(&gone.peer);
            }
        }
        Ok(Evicted {
            rows: evicted.len() as u64,
            bytes: evicted.iter().map(|g| g.bytes).sum(),
        })
    }

    /// Prunes one batch of the history: of the `batch` rows after `after`, deletes the shown
    /// ones received before `before_ms`, in a transaction of its own. Stops at the first row
    /// received since (rows are numbered in the order they arrive).
    pub fn prune_history_batch(
        &mut self,
        before_ms: u64,
        after: i64,
        batch: usize,
    ) -> Result<PruneStep, StoreError> {
        self.settle();
        let before = i64::try_from(before_ms).unwrap_or(i64::MAX);
        let (step, _) = self.write_history(|db| {
            let mut select = db.prepare_cached(
                "SELECT row, peer, shown, received_at_ms, length(CAST(text AS BLOB))
                 FROM received WHERE row > ?1 ORDER BY row LIMIT ?2",
            )?;
            let rows = select
                .query_map(params![after, batch as i64], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, i64>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut delete = db.prepare_cached("DELETE FROM received WHERE row = ?1")?;
            let mut gone = Vec::new();
            let mut next = (rows.len() == batch)
                .then(|| rows.last().map(|r| r.0))
                .flatten();
            for (row, peer, shown, received_at_ms, text) in rows {
                if received_at_ms >= before {
                    next = None;
                    break;
                }
                if shown == 1 {
                    delete.execute([row])?;
                    gone.push((peer_of(peer)?, row_bytes(text.max(0) as usize)));
                }
            }
            Ok((gone, next))
        })?;
        self.commit()?;
        let (gone, next) = step;
        for (peer, bytes) in &gone {
            self.ledger.sub(peer, *bytes);
        }
        Ok(PruneStep {
            deleted: gone.len(),
            next,
        })
    }
}

/// A row eviction deleted: whose, its bytes as the ledger counts them, whether it was held.
struct Gone {
    peer: PeerId,
    bytes: u64,
    held: bool,
}

/// Deletes `from`'s oldest rows until `bytes` are freed.
fn evict_sender(db: &Connection, from: &PeerId, bytes: u64) -> Result<Vec<Gone>, StoreError> {
    let mut gone = Vec::new();
    if bytes == 0 {
        return Ok(gone);
    }
    let mut select = db.prepare_cached(
        "SELECT row, length(CAST(text AS BLOB)), shown FROM received WHERE peer = ?1 AND row > ?2
         ORDER BY row LIMIT ?3",
    )?;
    let mut delete = db.prepare_cached("DELETE FROM received WHERE row = ?1")?;
    let (mut freed, mut after) = (0u64, 0i64);
    while freed < bytes {
        let rows = select
            .query_map(params![&from.as_bytes()[..], after, EVICT_BATCH], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            break;
        }
        for (row, text, shown) in rows {
            if freed >= bytes {
                break;
            }
            delete.execute([row])?;
            let size = row_bytes(text.max(0) as usize);
            freed += size;
            gone.push(Gone {
                peer: *from,
                bytes: size,
                held: shown == super::contacts::HELD,
            });
            after = row;
        }
    }
    Ok(gone)
}

/// Deletes the oldest rows of peers that are not exempt until `bytes` are freed; returns
/// them and the new cursor.
fn evict_oldest(
    db: &Connection,
    ledger: &Ledger,
    bytes: u64,
) -> Result<(Vec<Gone>, i64), StoreError> {
    let mut select = db.prepare_cached(
        "SELECT row, peer, length(CAST(text AS BLOB)), shown FROM received WHERE row > ?1
         ORDER BY row LIMIT ?2",
    )?;
    let mut delete = db.prepare_cached("DELETE FROM received WHERE row = ?1")?;
    let (mut gone, mut freed, mut cursor) = (Vec::new(), 0u64, ledger.cursor);
    'scan: while freed < bytes {
        let rows = select
            .query_map(params![cursor, EVICT_BATCH], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            break;
        }
        for (row, peer, text, shown) in rows {
            if freed >= bytes {
                break 'scan;
            }
            let peer = peer_of(peer)?;
            if !ledger.exempt.contains(&peer) {
                delete.execute([row])?;
                let size = row_bytes(text.max(0) as usize);
                freed += size;
                gone.push(Gone {
                    peer,
                    bytes: size,
                    held: shown == super::contacts::HELD,
                });
            }
            cursor = row;
        }
    }
    Ok((gone, cursor))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{chat, peer};
    use super::*;

    fn texts(store: &Store) -> Vec<(PeerId, String)> {
        store
            .unshown(1000)
            .unwrap()
            .into_iter()
            .map(|r| (r.from, r.message.text))
            .collect()
    }

    #[test]
    fn strangers_oldest_rows_go_first_and_contacts_rows_never() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let (contact, a, b) = (peer(1), peer(2), peer(3));
        store.set_exempt([contact]);
        let each = row_bytes(chat(0, 0).text.len());
        let quota = Quota {
            per_sender: 100 * each,
            total: 8 * each,
        };
        for n in 0..6 {
            store.receive(&contact, &[chat(n, 1)], 1, false).unwrap();
            store.make_room(&a, each, &quota).unwrap();
            store.receive(&a, &[chat(n, 2)], 1, false).unwrap();
        }
        assert_eq!(store.stranger_bytes(), 6 * each);
        // b's two messages push the total over 8: a's oldest go, down to 7.5 (a 16th below).
        let evicted = store.make_room(&b, 4 * each, &quota).unwrap();
        store
            .receive(
                &b,
                &[chat(0, 3), chat(1, 3), chat(2, 3), chat(3, 3)],
                1,
                false,
            )
            .unwrap();
        assert_eq!(evicted.rows, 3);
        assert_eq!(store.stranger_bytes(), 7 * each);
        let left = texts(&store);
        assert_eq!(
            left.iter().filter(|(p, _)| *p == contact).count(),
            6,
            "contacts' rows stay"
        );
        let of_a: Vec<_> = left
            .iter()
            .filter(|(p, _)| *p == a)
            .map(|(_, t)| t.clone())
            .collect();
        let expected: Vec<_> = (3..6).map(|n| chat(n, 2).text).collect();
        assert_eq!(of_a, expected, "the oldest went");
        // The count survives a restart (loaded from the database).
        drop(store);
        let mut store = Store::open(dir.path()).unwrap();
        store.set_exempt([contact]);
        assert_eq!(store.stranger_bytes(), 7 * each);
        assert_eq!(store.history_bytes(&contact), 6 * each);
        // A contact is never made room for.
        assert_eq!(
            store.make_room(&contact, 1 << 30, &quota).unwrap(),
            Evicted::default()
        );
    }

    #[test]
    fn one_sender_over_its_share_loses_its_own_oldest_rows() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let each = row_bytes(chat(0, 0).text.len());
        let quota = Quota {
            per_sender: 4 * each,
            total: 1000 * each,
        };
        store.receive(&peer(3), &[chat(0, 3)], 1, false).unwrap();
        for n in 0..10 {
            store.make_room(&peer(2), each, &quota).unwrap();
            store.receive(&peer(2), &[chat(n, 2)], 1, false).unwrap();
        }
        assert!(store.history_bytes(&peer(2)) <= 4 * each);
        assert_eq!(store.history_bytes(&peer(3)), each, "others keep theirs");
        let of_2: Vec<_> = texts(&store)
            .into_iter()
            .filter(|(p, _)| *p == peer(2))
            .map(|(_, t)| t)
            .collect();
        assert_eq!(of_2.last(), Some(&chat(9, 2).text), "the newest stays");
    }

    #[test]
    fn the_history_is_pruned_in_batches_that_stop_at_the_first_recent_row() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        let old: Vec<_> = (0..25).map(|n| chat(n, 1)).collect();
        store.receive(&peer(1), &old, 100, true).unwrap();
        store.receive(&peer(2), &[chat(99, 2)], 100, false).unwrap();
        store.receive(&peer(1), &[chat(50, 1)], 500, true).unwrap();
        let before = store.history_bytes(&peer(1));
        let mut steps = Vec::new();
        let mut after = 0;
        loop {
            let step = store.prune_history_batch(200, after, 10).unwrap();
            steps.push(step.deleted);
            match step.next {
                Some(next) => after = next,
                None => break,
            }
        }
        // 25 old rows and an unshown one in batches of at most 10; the recent row stops it.
        assert_eq!(steps, [10, 10, 5]);
        let old_bytes: u64 = old.iter().map(|m| row_bytes(m.text.len())).sum();
        assert_eq!(before - store.history_bytes(&peer(1)), old_bytes);
        assert_eq!(texts(&store).len(), 1, "the unshown row stays");
        assert_eq!(store.prune_history(u64::MAX).unwrap(), 1);
    }
}
