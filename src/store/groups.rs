//! Groups in the store (schema 6; docs/plans/groups.md, sections 5 and 11): the local
//! channel name of each group the user is in or invited to (`groups`), every op the
//! gateway took for it (`group_ops`, in arrival order: a group is rebuilt at start with
//! `Group::apply_all`), group chats and group ops in the outbox, and received group chats
//! in the history.
//!
//! A group chat is one message id in N outbox rows, one per member it goes to: a row is
//! named by (peer, id), and an Ack from a peer deletes that peer's row only (`write.rs`).
//! Received group chats share the history with private ones (deduplicated by sender and
//! id, played back in arrival order, now with their group); one whose causal context has
//! not arrived is kept as *waiting* (`shown = 3`) with its context, and neither shown nor
//! played back until the hub decides it ([`Store::decide_waiting`]).

use std::borrow::Cow;

use rusqlite::{Connection, params};

use super::write::Ticket;
use super::{Store, StoreError, id_of, kind_code, kind_of, peer_of};
use crate::group::{GroupId, OpId, SignedOp};
use crate::identity::PeerId;
use crate::message::{ChatMessage, MessageId, PeerMessage};

/// Schema step 5 -> 6. Outbox rows gain the group and an `extra` blob (a group chat's
/// causal context; a group op's bytes, with `kind` 3); history rows gain the group and the
/// context of a chat waiting for ops (`shown = 3`, found by group through a partial index).
pub(super) const MIGRATION_6: &str = "ALTER TABLE outbox ADD COLUMN grp BLOB;
     ALTER TABLE outbox ADD COLUMN extra BLOB;
     ALTER TABLE received ADD COLUMN grp BLOB;
     ALTER TABLE received ADD COLUMN extra BLOB;
     CREATE INDEX received_waiting ON received(grp) WHERE shown = 3;
     CREATE TABLE groups (
        grp BLOB PRIMARY KEY,
        channel TEXT NOT NULL UNIQUE COLLATE NOCASE,
        joined_at_ms INTEGER NOT NULL
     );
     CREATE TABLE group_ops (
        seq INTEGER PRIMARY KEY,
        grp BLOB NOT NULL,
        id BLOB NOT NULL,
        bytes BLOB NOT NULL,
        UNIQUE(grp, id)
     );";

/// `outbox.kind` of a group op (0 to 2 are the chat kinds).
const KIND_GROUP_OP: i64 = 3;
/// `received.shown` of a group chat waiting for ops of its causal context.
pub const WAITING: i64 = 3;

/// What becomes of a received group chat, now or once its context has arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupChatState {
    /// Shown to a front end now (stored as shown, as a live private chat).
    Shown,
    /// For the next playback.
    Unshown,
    /// Its causal context has not arrived: kept, not shown.
    Waiting,
    /// Not to be shown (its sender was no member): its row stays, without its text, to
    /// recognise a resend until retention deletes it.
    Dropped,
}

/// A received group chat kept while its context is missing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingChat {
    pub row: i64,
    pub from: PeerId,
    pub deps: Vec<OpId>,
    pub message: ChatMessage,
}

/// The columns of one outbox row, borrowed from the message.
pub(super) struct OutboxRow<'a> {
    pub id: MessageId,
    pub kind: i64,
    pub text: &'a str,
    pub sent_at_ms: u64,
    pub grp: Option<&'a [u8]>,
    pub extra: Option<Cow<'a, [u8]>>,
}

impl<'a> OutboxRow<'a> {
    pub fn of_chat(m: &'a ChatMessage) -> OutboxRow<'a> {
        OutboxRow {
            id: m.id,
            kind: kind_code(m.kind),
            text: &m.text,
            sent_at_ms: m.sent_at_ms,
            grp: None,
            extra: None,
        }
    }

    pub fn of(message: &'a PeerMessage) -> OutboxRow<'a> {
        match message {
            PeerMessage::Chat(m) => OutboxRow::of_chat(m),
            PeerMessage::GroupChat {
                group,
                deps,
                message,
            } => OutboxRow {
                grp: Some(&group.0),
                extra: Some(Cow::Owned(ids_bytes(deps))),
                ..OutboxRow::of_chat(message)
            },
            PeerMessage::GroupOp { id, op } => OutboxRow {
                id: *id,
                kind: KIND_GROUP_OP,
                text: "",
                // Authored now: its time dates the row for expiry.
                sent_at_ms: op.op().created_at_ms,
                grp: Some(&op.op().group.0),
                extra: Some(Cow::Borrowed(op.bytes())),
            },
        }
    }
}

/// Inserts one outbox row; returns its `seq`.
pub(super) fn insert_outbox(
    db: &Connection,
    peer: &PeerId,
    row: &OutboxRow<'_>,
) -> Result<i64, StoreError> {
    let mut insert = db.prepare_cached(
        "INSERT INTO outbox (peer, id, kind, text, sent_at_ms, grp, extra)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    insert.execute(params![
        &peer.as_bytes()[..],
        &row.id.0[..],
        row.kind,
        row.text,
        row.sent_at_ms as i64,
        row.grp,
        row.extra.as_deref(),
    ])?;
    Ok(db.last_insert_rowid())
}

/// The columns an outbox read selects, after `seq` and `peer`: see [`outbox_message`].
pub(super) const OUTBOX_COLUMNS: &str = "id, kind, text, sent_at_ms, grp, extra";

/// The message of an outbox row read with [`OUTBOX_COLUMNS`] starting at column `at`.
pub(super) fn outbox_message(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        id: r.get(at)?,
        kind: r.get(at + 1)?,
        text: r.get(at + 2)?,
        sent_at_ms: r.get(at + 3)?,
        grp: r.get(at + 4)?,
        extra: r.get(at + 5)?,
    })
}

/// An outbox row as read, before it is checked.
pub(super) struct RawRow {
    id: Vec<u8>,
    kind: i64,
    text: String,
    sent_at_ms: i64,
    grp: Option<Vec<u8>>,
    extra: Option<Vec<u8>>,
}

impl RawRow {
    pub fn decode(self) -> Result<PeerMessage, StoreError> {
        let id = id_of(self.id)?;
        if self.kind == KIND_GROUP_OP {
            let op = SignedOp::decode(&self.extra.unwrap_or_default())
                .map_err(|_| StoreError::Corrupt("group op in the outbox"))?;
            return Ok(PeerMessage::GroupOp { id, op });
        }
        let message = ChatMessage {
            id,
            kind: kind_of(self.kind)?,
            text: self.text,
            sent_at_ms: self.sent_at_ms as u64,
        };
        Ok(match self.grp {
            None => PeerMessage::Chat(message),
            Some(grp) => PeerMessage::GroupChat {
                group: group_of(grp)?,
                deps: ids_of(&self.extra.unwrap_or_default())?,
                message,
            },
        })
    }
}

pub(super) fn group_of(bytes: Vec<u8>) -> Result<GroupId, StoreError> {
    bytes
        .try_into()
        .map(GroupId)
        .map_err(|_| StoreError::Corrupt("group id length"))
}

fn ids_bytes(ids: &[OpId]) -> Vec<u8> {
    ids.iter().flat_map(|id| id.0).collect()
}

fn ids_of(bytes: &[u8]) -> Result<Vec<OpId>, StoreError> {
    let chunks = bytes.chunks_exact(32);
    if !chunks.remainder().is_empty() {
        return Err(StoreError::Corrupt("op id list length"));
    }
    Ok(chunks
        .map(|c| OpId(c.try_into().unwrap_or([0; 32])))
        .collect())
}

impl Store {
    /// Writes messages (private chats, group chats, group ops) to the outbox in the open
    /// write, one row per (peer, message): a group chat to N members is N rows with one id.
    pub fn enqueue_messages_open(
        &mut self,
        messages: &[(PeerId, PeerMessage)],
    ) -> Result<Ticket, StoreError> {
        self.enqueue_rows(
            messages
                .iter()
                .map(|(peer, m)| (*peer, OutboxRow::of(m)))
                .collect(),
        )
    }

    /// [`Store::enqueue_messages_open`], committed.
    pub fn enqueue_messages(
        &mut self,
        messages: &[(PeerId, PeerMessage)],
    ) -> Result<(), StoreError> {
        self.enqueue_messages_open(messages)?;
        self.commit()
    }

    /// Stores a received group chat in the open write; its history row when it is new
    /// (`None` for a resend of one already stored from this sender).
    pub fn receive_group_chat_open(
        &mut self,
        from: &PeerId,
        group: &GroupId,
        deps: &[OpId],
        message: &ChatMessage,
        now_ms: u64,
        state: GroupChatState,
    ) -> Result<(Option<i64>, Ticket), StoreError> {
        let (shown, text, extra) = match state {
            GroupChatState::Shown => (1, message.text.as_str(), None),
            GroupChatState::Unshown => (0, message.text.as_str(), None),
            GroupChatState::Waiting => (WAITING, message.text.as_str(), Some(ids_bytes(deps))),
            GroupChatState::Dropped => (1, "", None),
        };
        let (row, ticket) = self.write_history(|db| {
            let mut insert = db.prepare_cached(
                "INSERT OR IGNORE INTO received
                 (peer, id, kind, text, sent_at_ms, received_at_ms, shown, grp, extra)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let n = insert.execute(params![
                &from.as_bytes()[..],
                &message.id.0[..],
                kind_code(message.kind),
                text,
                message.sent_at_ms as i64,
                now_ms as i64,
                shown,
                &group.0[..],
                extra,
            ])?;
            Ok((n == 1).then(|| db.last_insert_rowid()))
        })?;
        if row.is_some() {
            self.ledger
                .add(*from, crate::policy::strangers::row_bytes(text.len()));
        }
        Ok((row, ticket))
    }

    /// The chats of `group` waiting for their context, in arrival order.
    pub fn waiting_chats(&self, group: &GroupId) -> Result<Vec<WaitingChat>, StoreError> {
        let mut select = self.db.prepare_cached(
            "SELECT row, peer, id, kind, text, sent_at_ms, extra FROM received
             WHERE shown = 3 AND grp = ?1 ORDER BY row",
        )?;
        let rows = select.query_map([&group.0[..]], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, i64>(5)?,
                r.get::<_, Option<Vec<u8>>>(6)?,
            ))
        })?;
        rows.map(|row| {
            let (row, peer, id, kind, text, sent_at_ms, extra) = row?;
            Ok(WaitingChat {
                row,
                from: peer_of(peer)?,
                deps: ids_of(&extra.unwrap_or_default())?,
                message: ChatMessage {
                    id: id_of(id)?,
                    kind: kind_of(kind)?,
                    text,
                    sent_at_ms: sent_at_ms as u64,
                },
            })
        })
        .collect()
    }

    /// How many chats of `group` wait for their context.
    pub fn waiting_count(&self, group: &GroupId) -> Result<usize, StoreError> {
        let mut select = self
            .db
            .prepare_cached("SELECT COUNT(*) FROM received WHERE shown = 3 AND grp = ?1")?;
        let n: i64 = select.query_row([&group.0[..]], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Decides waiting chats in the open write: each becomes shown, unshown (played back)
    /// or dropped (its text deleted). Rows that are not waiting are left alone.
    pub fn decide_waiting(
        &mut self,
        decisions: &[(i64, GroupChatState)],
    ) -> Result<Ticket, StoreError> {
        let (_, ticket) = self.write_history(|db| {
            let mut update = db.prepare_cached(
                "UPDATE received SET shown = ?2, extra = NULL,
                 text = CASE WHEN ?3 THEN '' ELSE text END
                 WHERE row = ?1 AND shown = 3",
            )?;
            for (row, state) in decisions {
                let (shown, forget) = match state {
                    GroupChatState::Shown => (1, false),
                    GroupChatState::Unshown => (0, false),
                    GroupChatState::Waiting => continue,
                    GroupChatState::Dropped => (1, true),
                };
                update.execute(params![row, shown, forget])?;
            }
            Ok(())
        })?;
        Ok(ticket)
    }

    /// Writes ops of `group` in the open write, in the order given; ops already stored
    /// are skipped (an op is one whatever message carried it).
    pub fn store_group_ops_open(
        &mut self,
        group: &GroupId,
        ops: &[&SignedOp],
    ) -> Result<Ticket, StoreError> {
        let (_, ticket) = self.write_history(|db| {
            let mut insert = db.prepare_cached(
                "INSERT OR IGNORE INTO group_ops (grp, id, bytes) VALUES (?1, ?2, ?3)",
            )?;
            for op in ops {
                insert.execute(params![&group.0[..], &op.id().0[..], op.bytes()])?;
            }
            Ok(())
        })?;
        Ok(ticket)
    }

    /// Every stored op of `group`, in the order they were stored (parents first, but for
    /// ops that waited for theirs).
    pub fn group_ops(&self, group: &GroupId) -> Result<Vec<SignedOp>, StoreError> {
        let mut select = self
            .db
            .prepare_cached("SELECT bytes FROM group_ops WHERE grp = ?1 ORDER BY seq")?;
        let rows = select.query_map([&group.0[..]], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|bytes| {
            SignedOp::decode(&bytes?).map_err(|_| StoreError::Corrupt("stored group op"))
        })
        .collect()
    }

    /// Gives `group` the local channel name `channel` (committed at once); false when
    /// another group has that name (names compare ASCII case-insensitively).
    pub fn add_group(
        &mut self,
        group: &GroupId,
        channel: &str,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.settle();
        let n = self.db.execute(
            "INSERT OR IGNORE INTO groups (grp, channel, joined_at_ms) VALUES (?1, ?2, ?3)",
            params![&group.0[..], channel, now_ms as i64],
        )?;
        Ok(n == 1)
    }

    /// Forgets a group that never got a name (an invitation whose log never came): its
    /// ops go, in the open write.
    pub fn forget_unnamed_group(&mut self, group: &GroupId) -> Result<Ticket, StoreError> {
        let (_, ticket) = self.write_history(|db| {
            db.execute(
                "DELETE FROM group_ops WHERE grp = ?1 AND grp NOT IN (SELECT grp FROM groups)",
                [&group.0[..]],
            )?;
            Ok(())
        })?;
        Ok(ticket)
    }

    /// Groups with stored ops but no local channel name yet (an invitation whose Create op
    /// had not come when the gateway stopped), in the order their first op was stored.
    pub fn unnamed_groups(&self) -> Result<Vec<GroupId>, StoreError> {
        let mut select = self.db.prepare_cached(
            "SELECT grp FROM group_ops WHERE grp NOT IN (SELECT grp FROM groups)
             GROUP BY grp ORDER BY MIN(seq)",
        )?;
        let rows = select.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|grp| group_of(grp?)).collect()
    }

    /// The groups and their local channel names, in the order they were added.
    pub fn groups(&self) -> Result<Vec<(GroupId, String)>, StoreError> {
        let mut select = self
            .db
            .prepare_cached("SELECT grp, channel FROM groups ORDER BY rowid")?;
        let rows = select.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get(1)?)))?;
        rows.map(|row| {
            let (grp, channel) = row?;
            Ok((group_of(grp)?, channel))
        })
        .collect()
    }
}

#[cfg(test)]
#[path = "groups_tests.rs"]
mod tests;
