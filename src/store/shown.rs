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
//!
//! With `[store] history_days = 0` ([`Store::keep_shown`]) the mark also deletes the text:
//! every row a front end reports written is marked (live ones too), and the row keeps only
//! its sender, id and times, to recognise a resend until retention deletes it.

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
    "SELECT row, peer, id, kind, text, sent_at_ms, received_at_ms, grp
     FROM received WHERE shown = 0
     AND +peer IN (SELECT peer FROM contacts WHERE blocked = 0) ORDER BY row LIMIT ?1";
pub(super) const OTHERS_UNSHOWN: &str =
    "SELECT row, peer, id, kind, text, sent_at_ms, received_at_ms, grp
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
                r.get::<_, Option<Vec<u8>>>(7)?,
            ))
        })?;
        rows.map(|row| {
            let (row, peer, id, kind, text, sent_at_ms, received_at_ms, grp) = row?;
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
                group: grp.map(super::groups::group_of).transpose()?,
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
        let forget = self.write.forget_shown;
        self.write_history(|db| {
            // A row whose text was deleted was shown by another front end: not played back.
            let mut update = db.prepare_cached(
                "UPDATE received SET shown = 0 WHERE row = ?1 AND shown = 1
                 AND (?2 = 0 OR text <> '')",
            )?;
            for row in rows {
                update.execute(rusqlite::params![row, forget])?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Whether the text of received messages is kept once shown (`[store] history_days`
    /// above 0) or deleted as soon as a front end has written it to its client (0). When it
    /// is not kept, the rows already shown lose their text now, except `in_flight` ones (a
    /// front end has them on its way, and may give them back unwritten); and SQLite
    /// overwrites deleted content with zeros (`secure_delete`) instead of leaving it in free
    /// pages. A row keeps its sender, id and times either way, so that a resend is still
    /// recognised; retention deletes it later (see `quota.rs`). Returns how many rows lost
    /// their text.
    pub fn keep_shown(&mut self, keep: bool, in_flight: &[i64]) -> Result<usize, StoreError> {
        self.db
            .pragma_update(None, "secure_delete", if keep { "OFF" } else { "ON" })?;
        self.write.forget_shown = !keep;
        if keep {
            return Ok(0);
        }
        let skip: std::collections::HashSet<i64> = in_flight.iter().copied().collect();
        let (forgotten, _) = self.write_history(|db| {
            let mut select =
                db.prepare_cached("SELECT row FROM received WHERE shown = 1 AND text <> ''")?;
            let rows = select
                .query_map([], |r| r.get::<_, i64>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let mut update = db.prepare_cached(FORGET_SHOWN_ROW)?;
            let mut n = 0;
            for row in rows.into_iter().filter(|row| !skip.contains(row)) {
                n += update.execute([row])?;
            }
            Ok(n)
        })?;
        self.commit()?;
        Ok(forgotten)
    }
}

/// Marks one row shown and deletes its text (`[store] history_days = 0`).
const FORGET_SHOWN_ROW: &str =
    "UPDATE received SET shown = 1, text = '' WHERE row = ?1 AND shown IN (0, 1)";

/// Marks, inside the open write, the rows noted shown that it has not marked yet; when the
/// history is not kept, their text is deleted with the mark (held rows are left as they are).
pub(super) fn mark_pending(db: &Connection, state: &mut WriteState) -> Result<(), StoreError> {
    if state.shown_in_open == state.shown.len() {
        return Ok(());
    }
    let mut update = db.prepare_cached(if state.forget_shown {
        FORGET_SHOWN_ROW
    } else {
        "UPDATE received SET shown = 1 WHERE row = ?1 AND shown = 0"
    })?;
    for row in &state.shown[state.shown_in_open..] {
        update.execute([row])?;
    }
    state.shown_in_open = state.shown.len();
    Ok(())
}
