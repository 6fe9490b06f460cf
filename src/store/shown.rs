//! Which received messages have been shown: the rows for playback, and the marks that
//! front ends earn by writing a message to the user's client.
//!
//! A received message is stored shown (`received.shown = 1`) when a front end is there to
//! show it, else unshown (`0`). A front end that goes away before it wrote some of its
//! messages to its client gives them back ([`Store::mark_unshown`]), and a played-back
//! message becomes shown once a front end reports it written ([`Store::note_shown`]). The mark
//! is not a transaction of its own: like an acknowledgement (`write.rs`), it waits in memory
//! and rides along with the next write, or is committed by [`Store::flush_shown`] shortly
//! after. Lost in a crash, a mark only makes the message play back again: shown twice,
//! never lost.

use rusqlite::Connection;

use super::write::WriteState;
use super::{Received, Store, StoreError, id_of, kind_of, peer_of};
use crate::message::ChatMessage;

/// Marks kept in memory at most this many before they are committed on their own.
pub const MAX_PENDING_SHOWN: usize = 4096;

/// Unshown rows from contacts (not blocked), then from everyone else; each oldest first.
/// `+peer` keeps SQLite on the index of unshown rows (`received_unshown`) rather than the
/// `(peer, id)` index, which would walk a contact's whole history.
pub(super) const CONTACTS_UNSHOWN: &str =
    "SELECT row, peer, id, kind, text, sent_at_ms, received_at_ms
     FROM received WHERE shown = 0
     AND +peer IN (SELECT peer FROM contacts WHERE blocked = 0) ORDER BY row LIMIT ?1";
pub(super) const OTHERS_UNSHOWN: &str =
    "SELECT row, peer, id, kind, text, sent_at_ms, received_at_ms
     FROM received WHERE shown = 0
     AND +peer NOT IN (SELECT peer FROM contacts WHERE blocked = 0) ORDER BY row LIMIT ?1";

impl Store {
    /// Received messages no front end has shown yet, at most `limit`: the contacts' first,
    /// then the others' (strangers'), each in the order they arrived. So a flood from
    /// strangers cannot push a contact's message out of a playback of `limit` messages.
    /// Marks still pending ([`Store::note_shown`]) are not applied here: the hub flushes
    /// them ([`Store::flush_shown`]) before a playback.
    pub fn unshown(&self, limit: usize) -> Result<Vec<Received>, StoreError> {
        let mut unshown = self.unshown_by(CONTACTS_UNSHOWN, limit)?;
        if unshown.len() < limit {
            unshown.extend(self.unshown_by(OTHERS_UNSHOWN, limit - unshown.len())?);
        }
        Ok(unshown)
    }

    fn unshown_by(&self, sql: &str, limit: usize) -> Result<Vec<Received>, StoreError> {
        let mut select = self.db.prepare_cached(sql)?;
        let rows = select.query_map([limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, i64>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (row, peer, id, kind, text, sent_at_ms, received_at_ms) = row?;
            Ok(Received {
                row,
                from: peer_of(peer)?,
                message: ChatMessage {
                    id: id_of(id)?,
                    kind: kind_of(kind)?,
                    text,
                    sent_at_ms: sent_at_ms as u64,
                },
                received_at_ms: received_at_ms as u64,
            })
        })
        .collect()
    }

    /// Records that these rows were written to a client: they are marked shown with the
    /// next write (or [`Store::flush_shown`]), not in a transaction of their own. Held rows
    /// and rows already shown or gone are left as they are.
    pub fn note_shown(&mut self, rows: &[i64]) -> Result<(), StoreError> {
        self.write.shown.extend_from_slice(rows);
        if self.write.shown.len() >= MAX_PENDING_SHOWN {
            self.flush_shown()?;
        }
        Ok(())
    }

    /// Whether marks wait to be written.
    pub fn has_pending_shown(&self) -> bool {
        self.write.shown_in_open < self.write.shown.len()
    }

    /// Writes the pending marks and commits (with the open write, if one is open).
    pub fn flush_shown(&mut self) -> Result<(), StoreError> {
        if !self.has_pending_shown() && !self.has_open_write() {
            return Ok(());
        }
        // Any write takes the pending marks along (`mark_pending`).
        self.write_history(|_| Ok(()))?;
        self.commit()
    }
}

impl Store {
    /// Marks these rows as not shown, in the open write (the caller commits): they were
    /// stored as shown because a front end was there to show them, but it went away before
    /// writing them to its client (or none took them), so they play back to the next one.
    /// Held rows are left as they are.
    pub fn mark_unshown(&mut self, rows: &[i64]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.write_history(|db| {
            let mut update =
                db.prepare_cached("UPDATE received SET shown = 0 WHERE row = ?1 AND shown = 1")?;
            for row in rows {
                update.execute([row])?;
            }
            Ok(())
        })?;
        Ok(())
    }
}

/// Marks, inside the open write, the rows noted shown that it has not marked yet.
pub(super) fn mark_pending(db: &Connection, state: &mut WriteState) -> Result<(), StoreError> {
    if state.shown_in_open == state.shown.len() {
        return Ok(());
    }
    let mut update =
        db.prepare_cached("UPDATE received SET shown = 1 WHERE row = ?1 AND shown = 0")?;
    for row in &state.shown[state.shown_in_open..] {
        update.execute([row])?;
    }
    state.shown_in_open = state.shown.len();
    Ok(())
}
