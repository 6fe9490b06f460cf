//! The user's side of the store: contacts (petname, blocked, added, last seen), runtime
//! settings changed with `set` (they override the config at the next start), the senders
//! already announced, and messages held from unknown senders (`[contacts] unknown = "ask"`).
//!
//! Held messages live in the `received` table with `shown = 2`: they keep their order and
//! their ids (a resend is still recognised), playback (`shown = 0`) skips them, and history
//! pruning (`shown = 1`) leaves them alone. Accepting them makes them unshown (played back
//! next); rejecting them erases their text and marks them shown, so that only the ids stay,
//! for deduplication, until the history retention forgets them.

use rusqlite::params;

use super::{Store, StoreError, insert_received, peer_of};
use crate::contacts::Contact;
use crate::identity::PeerId;
use crate::message::ChatMessage;

/// Schema step 1 -> 2.
pub(super) const MIGRATION_2: &str = "CREATE TABLE contacts (
        peer BLOB PRIMARY KEY,
        petname TEXT COLLATE NOCASE UNIQUE,
        blocked INTEGER NOT NULL DEFAULT 0,
        added_ms INTEGER NOT NULL,
        last_seen_ms INTEGER
     );
     CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
     );
     CREATE TABLE senders (
        peer BLOB PRIMARY KEY,
        first_seen_ms INTEGER NOT NULL,
        asked INTEGER NOT NULL DEFAULT 0
     );
     CREATE INDEX received_held ON received(peer, shown);";

/// Schema step 4 -> 5: peers the user blocked that are not contacts (before, blocking a
/// stranger made it a contact; such rows stay contacts).
pub(super) const MIGRATION_5: &str = "CREATE TABLE blocked (
        peer BLOB PRIMARY KEY,
        blocked_ms INTEGER NOT NULL
     );";

/// `received.shown` of a held message. (The queries below spell it `shown = 2`: a literal,
/// so that SQLite can use the partial index of held rows, `received_held`.)
pub(super) const HELD: i64 = 2;

/// What the gateway remembers of a sender who is not a contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SenderState {
    /// Announced as a new sender (its messages were shown).
    Announced,
    /// Announced as asking to talk (its messages are held until accepted).
    Asked,
}

impl Store {
    /// The peers the user blocked that are not contacts.
    pub fn blocked_strangers(&self) -> Result<Vec<PeerId>, StoreError> {
        let mut select = self.db.prepare_cached("SELECT peer FROM blocked")?;
        let rows = select.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        rows.map(|row| peer_of(row?)).collect()
    }

    /// Remembers that the user blocked `peer`, which is not a contact.
    pub fn block_stranger(&mut self, peer: &PeerId, at_ms: u64) -> Result<(), StoreError> {
        self.settle();
        self.db.execute(
            "INSERT OR REPLACE INTO blocked (peer, blocked_ms) VALUES (?1, ?2)",
            params![&peer.as_bytes()[..], at_ms as i64],
        )?;
        Ok(())
    }

    /// Forgets a blocked stranger (unblocked, or now a contact).
    pub fn unblock_stranger(&mut self, peer: &PeerId) -> Result<(), StoreError> {
        self.settle();
        self.db.execute(
            "DELETE FROM blocked WHERE peer = ?1",
            [&peer.as_bytes()[..]],
        )?;
        Ok(())
    }

    /// Every contact.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        let mut select = self.db.prepare_cached(
            "SELECT peer, petname, blocked, added_ms, last_seen_ms FROM contacts",
        )?;
        let rows = select.query_map([], |r| {
            Ok((
                r.get::<_, Vec<u8>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })?;
        rows.map(|row| {
            let (peer, petname, blocked, added_ms, last_seen_ms) = row?;
            Ok(Contact {
                peer: peer_of(peer)?,
                petname,
                blocked,
                added_ms: added_ms as u64,
                last_seen_ms: last_seen_ms.map(|t| t as u64),
            })
        })
        .collect()
    }

    /// Adds or replaces a contact. A petname another contact has (case-insensitively) is
    /// refused by the database too.
    pub fn put_contact(&mut self, contact: &Contact) -> Result<(), StoreError> {
        self.settle();
        // One transaction: a contact is no longer a remembered sender nor a blocked
        // stranger, whatever happens (a crash between separate commits left both a contact
        // and a stranger's block, which came back once the contact was removed).
        let tx = self.db.transaction()?;
        let peer = &contact.peer.as_bytes()[..];
        tx.execute(
            "INSERT INTO contacts (peer, petname, blocked, added_ms, last_seen_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(peer) DO UPDATE SET petname = ?2, blocked = ?3, added_ms = ?4,
                last_seen_ms = ?5",
            params![
                peer,
                contact.petname,
                contact.blocked,
                contact.added_ms as i64,
                contact.last_seen_ms.map(|t| t as i64)
            ],
        )?;
        tx.execute("DELETE FROM senders WHERE peer = ?1", [peer])?;
        tx.execute("DELETE FROM blocked WHERE peer = ?1", [peer])?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a contact; true when there was one.
    pub fn remove_contact(&mut self, peer: &PeerId) -> Result<bool, StoreError> {
        self.settle();
        let n = self.db.execute(
            "DELETE FROM contacts WHERE peer = ?1",
            [&peer.as_bytes()[..]],
        )?;
        Ok(n > 0)
    }

    /// Records when a session with a contact was last up.
    pub fn set_last_seen(&mut self, peer: &PeerId, at_ms: u64) -> Result<(), StoreError> {
        self.settle();
        self.db.execute(
            "UPDATE contacts SET last_seen_ms = ?2 WHERE peer = ?1",
            params![&peer.as_bytes()[..], at_ms as i64],
        )?;
        Ok(())
    }

    /// Every runtime setting, sorted by key.
    pub fn settings(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut select = self
            .db
            .prepare_cached("SELECT key, value FROM settings ORDER BY key")?;
        let rows = select.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_setting(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.settle();
        self.db.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    /// Every sender remembered as announced or asked.
    pub fn senders(&self) -> Result<Vec<(PeerId, SenderState)>, StoreError> {
        let mut select = self.db.prepare_cached("SELECT peer, asked FROM senders")?;
        let rows = select.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, bool>(1)?)))?;
        rows.map(|row| {
            let (peer, asked) = row?;
            let state = if asked {
                SenderState::Asked
            } else {
                SenderState::Announced
            };
            Ok((peer_of(peer)?, state))
        })
        .collect()
    }

    /// Remembers that `peer` was announced (so a restart does not announce it again).
    pub fn set_sender(
        &mut self,
        peer: &PeerId,
        state: SenderState,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        self.settle();
        self.db.execute(
            "INSERT INTO senders (peer, first_seen_ms, asked) VALUES (?1, ?2, ?3)
             ON CONFLICT(peer) DO UPDATE SET asked = ?3",
            params![
                &peer.as_bytes()[..],
                now_ms as i64,
                state == SenderState::Asked
            ],
        )?;
        Ok(())
    }

    /// Forgets the `n` senders seen first; returns who they were.
    pub fn forget_oldest_senders(&mut self, n: usize) -> Result<Vec<PeerId>, StoreError> {
        self.settle();
        let tx = self.db.transaction()?;
        let oldest = {
            let mut select =
                tx.prepare("SELECT peer FROM senders ORDER BY first_seen_ms, rowid LIMIT ?1")?;
            let rows = select.query_map([n as i64], |r| r.get::<_, Vec<u8>>(0))?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        {
            let mut delete = tx.prepare("DELETE FROM senders WHERE peer = ?1")?;
            for peer in &oldest {
                delete.execute([peer])?;
            }
        }
        tx.commit()?;
        oldest.into_iter().map(peer_of).collect()
    }

    /// Forgets a sender (it became a contact, or was rejected).
    pub fn forget_sender(&mut self, peer: &PeerId) -> Result<(), StoreError> {
        self.settle();
        self.db.execute(
            "DELETE FROM senders WHERE peer = ?1",
            [&peer.as_bytes()[..]],
        )?;
        Ok(())
    }

    /// Stores received messages as held, in one transaction; returns how many were new
    /// (a resend of a message already stored is not stored twice).
    pub fn hold(
        &mut self,
        from: &PeerId,
        messages: &[ChatMessage],
        now_ms: u64,
    ) -> Result<usize, StoreError> {
        self.settle();
        let tx = self.db.transaction()?;
        let fresh = insert_received(&tx, from, messages, now_ms, HELD)?;
        tx.commit()?;
        self.count_received(from, messages, &fresh);
        let n = fresh.iter().filter(|row| row.is_some()).count();
        self.held.add(from, n);
        Ok(n)
    }

    /// How many messages from `peer` are held.
    pub fn held_count(&self, peer: &PeerId) -> Result<usize, StoreError> {
        Ok(self.held.of(peer))
    }

    /// The senders with held messages and how many each, oldest first, at most `limit`.
    pub fn held_senders(&self, limit: usize) -> Result<Vec<(PeerId, usize)>, StoreError> {
        let mut select = self.db.prepare_cached(
            "SELECT peer, COUNT(*) FROM received WHERE shown = 2
             GROUP BY peer ORDER BY MIN(row) LIMIT ?1",
        )?;
        let rows = select.query_map([limit as i64], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
        })?;
        rows.map(|row| {
            let (peer, n) = row?;
            Ok((peer_of(peer)?, n as usize))
        })
        .collect()
    }

    /// How many messages are held, from everyone.
    pub fn held_total(&self) -> Result<usize, StoreError> {
        Ok(self.held.total)
    }

    /// Releases `peer`'s held messages for playback (they become unshown); returns how many.
    pub fn release_held(&mut self, peer: &PeerId) -> Result<usize, StoreError> {
        self.settle();
        let n = self.db.execute(
            "UPDATE received SET shown = 0 WHERE peer = ?1 AND shown = 2",
            [&peer.as_bytes()[..]],
        )?;
        self.held.forget(peer);
        Ok(n)
    }

    /// Erases the text of `peer`'s held messages (their ids stay, for deduplication, until
    /// the history retention); returns how many.
    pub fn reject_held(&mut self, peer: &PeerId) -> Result<usize, StoreError> {
        self.settle();
        let key = &peer.as_bytes()[..];
        let tx = self.db.transaction()?;
        let text: i64 = tx.query_row(
            "SELECT COALESCE(SUM(length(CAST(text AS BLOB))), 0) FROM received
             WHERE peer = ?1 AND shown = 2",
            [key],
            |r| r.get(0),
        )?;
        let n = tx.execute(
            "UPDATE received SET shown = 1, text = '' WHERE peer = ?1 AND shown = 2",
            [key],
        )?;
        tx.commit()?;
        self.ledger.sub(peer, text.max(0) as u64);
        self.held.forget(peer);
        Ok(n)
    }

    /// How many messages wait in the outbox for `peer`.
    pub fn outbox_count(&mut self, peer: &PeerId) -> Result<usize, StoreError> {
        self.apply_acks()?;
        let mut select = self
            .db
            .prepare_cached("SELECT COUNT(*) FROM outbox WHERE peer = ?1")?;
        let n: i64 = select.query_row([&peer.as_bytes()[..]], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Messages waiting in the outbox, per peer.
    pub fn outbox_counts(&mut self) -> Result<Vec<(PeerId, usize)>, StoreError> {
        self.apply_acks()?;
        let mut select = self
            .db
            .prepare_cached("SELECT peer, COUNT(*) FROM outbox GROUP BY peer ORDER BY MIN(seq)")?;
        let rows = select.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
        rows.map(|row| {
            let (peer, n) = row?;
            Ok((peer_of(peer)?, n as usize))
        })
        .collect()
    }
}

/// Held messages per sender and in all, kept in memory by the store: every write that holds,
/// releases, rejects or evicts held rows updates it.
#[derive(Default, Debug)]
pub(super) struct HeldCounts {
    by_peer: std::collections::HashMap<PeerId, usize>,
    pub(super) total: usize,
}

impl HeldCounts {
    pub(super) fn load(db: &rusqlite::Connection) -> Result<Self, StoreError> {
        let mut select =
            db.prepare("SELECT peer, COUNT(*) FROM received WHERE shown = 2 GROUP BY peer")?;
        let rows = select.query_map([], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?)))?;
        let mut counts = Self::default();
        for row in rows {
            let (peer, n) = row?;
            counts.add(&super::peer_of(peer)?, n.max(0) as usize);
        }
        Ok(counts)
    }

    pub(super) fn of(&self, peer: &PeerId) -> usize {
        self.by_peer.get(peer).copied().unwrap_or(0)
    }

    pub(super) fn add(&mut self, peer: &PeerId, n: usize) {
        if n > 0 {
            *self.by_peer.entry(*peer).or_insert(0) += n;
            self.total += n;
        }
    }

    /// One held row of `peer` is gone (evicted).
    pub(super) fn sub_one(&mut self, peer: &PeerId) {
        if let Some(n) = self.by_peer.get_mut(peer) {
            *n -= 1;
            self.total -= 1;
            if *n == 0 {
                self.by_peer.remove(peer);
            }
        }
    }

    /// `peer` holds nothing any more (released or rejected).
    pub(super) fn forget(&mut self, peer: &PeerId) {
        if let Some(n) = self.by_peer.remove(peer) {
            self.total -= n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageId, MessageKind};
    use crate::store::{DB_FILE, MIGRATIONS, SCHEMA_VERSION};
    use ed25519_dalek::SigningKey;

    fn peer(n: u8) -> PeerId {
        PeerId::of(&SigningKey::from_bytes(&[n; 32]))
    }

    fn chat(n: u8) -> ChatMessage {
        ChatMessage {
            id: MessageId([n; 16]),
            kind: MessageKind::Text,
            text: format!("m{n}"),
            sent_at_ms: u64::from(n),
        }
    }

    fn contact(n: u8, petname: Option<&str>) -> Contact {
        Contact {
            peer: peer(n),
            petname: petname.map(str::to_string),
            blocked: false,
            added_ms: 100,
            last_seen_ms: None,
        }
    }

    #[test]
    fn a_version_1_database_is_migrated_and_keeps_its_messages() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
            db.execute_batch(MIGRATIONS[0]).unwrap();
            db.pragma_update(None, "user_version", 1).unwrap();
            db.execute(
                "INSERT INTO received (peer, id, kind, text, sent_at_ms, received_at_ms)
                 VALUES (?1, ?2, 0, 'old', 1, 1)",
                params![&peer(1).as_bytes()[..], &[9u8; 16][..]],
            )
            .unwrap();
        }
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        assert_eq!(store.unshown(10).unwrap()[0].message.text, "old");
        assert!(store.contacts().unwrap().is_empty());
        store.put_contact(&contact(2, Some("bob"))).unwrap();
        assert_eq!(store.contacts().unwrap().len(), 1);
    }

    #[test]
    fn contacts_round_trip_and_petnames_are_unique_ignoring_case() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.put_contact(&contact(1, Some("Alice"))).unwrap();
        store.put_contact(&contact(2, None)).unwrap();
        store.put_contact(&contact(3, None)).unwrap();
        assert!(store.put_contact(&contact(2, Some("aLiCe"))).is_err());
        let mut renamed = contact(1, Some("ally"));
        renamed.blocked = true;
        store.put_contact(&renamed).unwrap();
        store.set_last_seen(&peer(1), 5_000).unwrap();
        assert!(store.remove_contact(&peer(3)).unwrap());
        assert!(!store.remove_contact(&peer(3)).unwrap());
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        let mut all = store.contacts().unwrap();
        all.sort_by_key(|c| c.petname.clone());
        renamed.last_seen_ms = Some(5_000);
        assert_eq!(all, vec![contact(2, None), renamed]);
    }

    #[test]
    fn settings_and_senders_persist() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store.set_setting("unknown", "ask").unwrap();
        store.set_setting("history_days", "30").unwrap();
        store.set_setting("unknown", "drop").unwrap();
        store
            .set_sender(&peer(1), SenderState::Announced, 1)
            .unwrap();
        store
            .set_sender(&peer(2), SenderState::Announced, 1)
            .unwrap();
        store.set_sender(&peer(2), SenderState::Asked, 2).unwrap();
        store.set_sender(&peer(3), SenderState::Asked, 2).unwrap();
        store.forget_sender(&peer(3)).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(
            store.settings().unwrap(),
            [
                ("history_days".to_string(), "30".to_string()),
                ("unknown".to_string(), "drop".to_string())
            ]
        );
        let mut senders = store.senders().unwrap();
        senders.sort_by_key(|(_, s)| *s == SenderState::Asked);
        assert_eq!(
            senders,
            [
                (peer(1), SenderState::Announced),
                (peer(2), SenderState::Asked)
            ]
        );
    }

    #[test]
    fn held_messages_wait_then_are_released_or_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        assert_eq!(store.hold(&peer(1), &[chat(1), chat(2)], 10).unwrap(), 2);
        assert_eq!(store.hold(&peer(1), &[chat(2), chat(3)], 10).unwrap(), 1);
        assert_eq!(store.hold(&peer(2), &[chat(4)], 10).unwrap(), 1);
        assert!(
            store.unshown(10).unwrap().is_empty(),
            "held is not played back"
        );
        assert_eq!(store.prune_history(u64::MAX).unwrap(), 0, "nor pruned");
        assert_eq!(store.held_count(&peer(1)).unwrap(), 3);
        assert_eq!(
            store.held_senders(10).unwrap(),
            [(peer(1), 3), (peer(2), 1)]
        );
        assert_eq!(store.held_senders(1).unwrap(), [(peer(1), 3)]);
        assert_eq!(store.release_held(&peer(1)).unwrap(), 3);
        let texts: Vec<_> = store
            .unshown(10)
            .unwrap()
            .into_iter()
            .map(|r| r.message.text)
            .collect();
        assert_eq!(texts, ["m1", "m2", "m3"]);
        assert_eq!(store.reject_held(&peer(2)).unwrap(), 1);
        assert_eq!(store.held_count(&peer(2)).unwrap(), 0);
        // The id is still known: a resend is not held again.
        assert_eq!(store.hold(&peer(2), &[chat(4)], 10).unwrap(), 0);
    }

    #[test]
    fn outbox_counts_per_peer() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path()).unwrap();
        store
            .enqueue(&[(peer(1), chat(1)), (peer(2), chat(2)), (peer(1), chat(3))])
            .unwrap();
        assert_eq!(store.outbox_counts().unwrap(), [(peer(1), 2), (peer(2), 1)]);
    }
}
