//! The hub's contact book: loading it (with the saved settings) at start, keeping the
//! store, the peer layer's blocklist and the front ends' snapshot in step with it, and
//! deciding what happens to a message from someone who is not a contact
//! (`[contacts] unknown`): shown and announced once, held until the user accepts the
//! sender, or dropped.

use std::sync::Arc;

use super::inbox::Screen;
use super::strangers::Verdict;
use super::{Router, now_ms};
use crate::config::UnknownSenders;
use crate::contacts::Contact;
use crate::control::{Settings, hex};
use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent};
use crate::store::{SenderState, StoreError};

/// Senders who are not contacts remembered (announced, or asked about) at most.
pub const MAX_SENDERS: usize = 10_000;
/// Messages held (`unknown = "ask"`) per sender, at most.
pub const MAX_HELD_PER_SENDER: usize = 1000;
/// Messages held from all senders together, at most.
pub const MAX_HELD: usize = 10_000;

impl Router {
    /// Loads the contacts, the remembered senders and the saved settings (which override
    /// the configured `settings`).
    pub(super) fn load(&mut self, mut settings: Settings) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        match store.settings() {
            Ok(mut saved) => {
                // Saved values were valid together: one may only fit once another is applied
                // (history_days before expire_after_hours), so go round while that helps.
                loop {
                    let before = saved.len();
                    saved.retain(|(key, value)| settings.set(key, value).is_err());
                    if saved.is_empty() || saved.len() == before {
                        break;
                    }
                }
                for (key, value) in saved {
                    if let Err(e) = settings.set(&key, &value) {
                        tracing::warn!(%key, error = %e, "ignoring a saved setting");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the saved settings"),
        }
        match store.contacts() {
            Ok(contacts) => self.book = Arc::new(crate::contacts::ContactBook::new(contacts)),
            Err(e) => tracing::error!(error = %e, "cannot read the contacts"),
        }
        match store.blocked_strangers() {
            Ok(blocked) => {
                let book = Arc::make_mut(&mut self.book);
                for peer in blocked {
                    book.block_stranger(peer);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the blocked peers"),
        }
        match store.senders() {
            Ok(senders) => self.senders = senders.into_iter().collect(),
            Err(e) => tracing::error!(error = %e, "cannot read the remembered senders"),
        }
        self.limits = settings.store();
        self.apply_retention();
        self.strangers =
            super::strangers::Strangers::new(settings.strangers.new_senders_per_minute);
        self.settings = settings;
        self.ctx.blocked.set(self.blocked_peers());
        self.ctx.contacts.set(self.contact_peers());
        self.sync_co_members();
        self.sync_strangers();
    }

    fn blocked_peers(&self) -> Vec<PeerId> {
        self.book.blocked().collect()
    }

    /// Contacts not blocked: the peer layer keeps room for their sessions.
    fn contact_peers(&self) -> Vec<PeerId> {
        let contacts = self.book.iter_sorted().into_iter();
        contacts.filter(|c| !c.blocked).map(|c| c.peer).collect()
    }

    /// Saves a contact (new or changed) and updates the book; the caller then calls
    /// [`Self::contacts_changed`].
    pub(super) fn put_contact(&mut self, contact: Contact) -> Result<(), StoreError> {
        if let Some(store) = self.store.as_mut() {
            // (Also forgets it as a sender and as a blocked stranger, in one transaction.)
            store.put_contact(&contact)?;
        }
        self.senders.remove(&contact.peer);
        Arc::make_mut(&mut self.book).insert(contact);
        Ok(())
    }

    pub(super) fn remove_contact(&mut self, peer: &PeerId) -> Result<Option<Contact>, StoreError> {
        if let Some(store) = self.store.as_mut() {
            store.remove_contact(peer)?;
        }
        Ok(Arc::make_mut(&mut self.book).remove(peer))
    }

    /// The book changed: the blocklist follows, and every front end gets the new book (not
    /// kept for later: a front end gets the book when it attaches).
    pub(super) fn contacts_changed(&mut self) {
        self.ctx.blocked.set(self.blocked_peers());
        self.ctx.contacts.set(self.contact_peers());
        self.sync_co_members();
        self.sync_strangers();
        let _ = self.deliver(FrontendEvent::Contacts(self.book.clone()));
    }

    /// Records when a session with a contact was last up (in the book and the store).
    pub(super) fn touch_last_seen(&mut self, peer: PeerId) {
        let Some(contact) = self.book.get(&peer) else {
            return;
        };
        let now = now_ms();
        let mut contact = contact.clone();
        contact.last_seen_ms = Some(now);
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.set_last_seen(&peer, now)
        {
            tracing::warn!(error = %e, "cannot save when a contact was last seen");
        }
        Arc::make_mut(&mut self.book).insert(contact);
    }

    /// What to do with messages from `peer`, by who it is and the `unknown` setting.
    pub(super) fn screen(&mut self, peer: PeerId) -> Screen {
        if self.book.is_blocked(&peer) {
            return Screen::Drop;
        }
        if self.book.get(&peer).is_some() {
            return Screen::Show;
        }
        if peer == self.ctx.own || self.wrote_to.contains(&peer) {
            // A peer the user wrote to first answers: not a new sender.
            return Screen::Show;
        }
        let known = self.senders.get(&peer).copied();
        let verdict = |v: Verdict| match v {
            Verdict::Show => Screen::Show,
            Verdict::Hold { announce } => Screen::Hold { announce },
        };
        match (self.settings.unknown, known) {
            // Without a store there is nowhere to hold them: shown.
            (UnknownSenders::Accept | UnknownSenders::Ask, _) if self.store.is_none() => {
                if known.is_none() {
                    self.new_sender(peer, false);
                }
                Screen::Show
            }
            (UnknownSenders::Accept, Some(SenderState::Announced)) => Screen::Show,
            // Held before (asked, or over the new-sender budget): held until accepted, so
            // that its messages show in order.
            (UnknownSenders::Accept, Some(SenderState::Asked)) => Screen::Hold { announce: false },
            (UnknownSenders::Accept, None) => verdict(self.new_sender(peer, false)),
            (UnknownSenders::Ask, None) => verdict(self.new_sender(peer, true)),
            (UnknownSenders::Ask, Some(state)) => Screen::Hold {
                announce: state != SenderState::Asked,
            },
            (UnknownSenders::Drop, _) => Screen::Drop,
        }
    }

    /// The user writes to `peer`: unless it is a contact (or blocked), what it sends back
    /// is a reply, shown without announcing it as a new sender, whatever `unknown` says
    /// (and what it sent before, held as asking to talk, is shown now). Remembered as
    /// announced too, so that after a restart `unknown = "accept"` does not announce it
    /// either.
    pub(super) fn wrote_to(&mut self, peer: PeerId) {
        if self.book.get(&peer).is_some() || self.book.is_blocked(&peer) || peer == self.ctx.own {
            return;
        }
        if self.wrote_to.len() < MAX_SENDERS {
            self.wrote_to.insert(peer);
        }
        match self.senders.get(&peer) {
            Some(SenderState::Announced) => {}
            None => self.remember_sender(peer, SenderState::Announced),
            // It asked to talk and the user answers: what it sent is shown first, in order.
            Some(SenderState::Asked) => {
                if let Err(e) = self.release_held(&peer) {
                    tracing::warn!(peer = %peer.short(), error = %e, "cannot show held messages");
                }
                self.remember_sender(peer, SenderState::Announced);
            }
        }
    }

    pub(super) fn remember_sender(&mut self, peer: PeerId, state: SenderState) {
        if self.senders.len() >= MAX_SENDERS && !self.senders.contains_key(&peer) {
            self.forget_oldest_senders();
        }
        self.senders.insert(peer, state);
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.set_sender(&peer, state, now_ms())
        {
            tracing::warn!(error = %e, "cannot remember a sender");
        }
    }

    /// Keeps the remembered senders bounded (anyone can make keys for free): the tenth seen
    /// first is forgotten. Should one of them write again, it is announced again; messages
    /// it has held stay held (`accept` and `reject` still find them).
    fn forget_oldest_senders(&mut self) {
        let n = MAX_SENDERS / 10;
        let mut forgotten = match self.store.as_mut().map(|s| s.forget_oldest_senders(n)) {
            Some(Ok(peers)) => peers,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot forget old senders");
                Vec::new()
            }
            None => Vec::new(),
        };
        if forgotten.is_empty() {
            // No store (or it failed): memory stays bounded all the same.
            forgotten = self.senders.keys().take(n).copied().collect();
        }
        for peer in forgotten {
            self.senders.remove(&peer);
        }
    }

    /// Stores messages from an unknown sender without showing them (`unknown = "ask"`),
    /// announcing the sender the first time; false when they could not be stored.
    pub(super) fn hold(
        &mut self,
        peer: PeerId,
        messages: &[ChatMessage],
        now: u64,
        announce: bool,
    ) -> bool {
        let Some(store) = self.store.as_mut() else {
            return false;
        };
        // Held messages are bounded, per sender and in all (keys are free): beyond that, they
        // are acknowledged and dropped. The user hears so once per sender that fills its own
        // share (at most MAX_HELD / MAX_HELD_PER_SENDER of them), and once when all are full
        // (not once per further sender: fresh keys would flood the user with notices).
        let (mine, all) = match (store.held_count(&peer), store.held_total()) {
            (Ok(mine), Ok(all)) => (mine, all),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot count held messages; not acknowledging them");
                return false;
            }
        };
        let own_room = MAX_HELD_PER_SENDER.saturating_sub(mine);
        let total_room = MAX_HELD.saturating_sub(all);
        let room = own_room.min(total_room);
        if total_room > messages.len() {
            self.held_total_full = false;
        }
        let kept = &messages[..messages.len().min(room)];
        let dropped = messages.len() - kept.len();
        if !self.make_room(&peer, kept) {
            return false;
        }
        let Some(store) = self.store.as_mut() else {
            return false;
        };
        if let Err(e) = store.hold(&peer, kept, now) {
            tracing::error!(peer = %peer.short(), error = %e, "cannot store held messages; not acknowledging them");
            return false;
        }
        if announce {
            self.remember_sender(peer, SenderState::Asked);
            let nick = peer.nick();
            let text = format!(
                "{nick} (key {}) wants to talk to you; its messages are held. \"accept {nick}\" shows them and adds it as a contact, \"reject {nick}\" deletes them",
                hex(peer.as_bytes())
            );
            self.broadcast(FrontendEvent::ControlAnnounce { text });
        }
        if dropped > 0 && total_room < own_room {
            if !self.held_total_full {
                self.held_total_full = true;
                let text = format!(
                    "held messages are full ({MAX_HELD} in all): messages from senders you have not accepted are dropped until you \"accept\" or \"reject\" some (\"held\" lists them)"
                );
                self.broadcast(FrontendEvent::ControlAnnounce { text });
            }
        } else if dropped > 0 && self.held_full.len() < MAX_SENDERS && self.held_full.insert(peer) {
            let nick = peer.nick();
            let text = format!(
                "{nick} has too many held messages (at most {MAX_HELD_PER_SENDER} per sender, {MAX_HELD} in all): its later messages are dropped until you \"accept {nick}\" or \"reject {nick}\""
            );
            self.broadcast(FrontendEvent::ControlAnnounce { text });
        }
        if dropped > 0 {
            tracing::info!(peer = %peer.short(), dropped, "held messages full; dropped");
        }
        true
    }

    /// Shows `peer`'s held messages (played back, in order, with their times); returns
    /// how many there were.
    pub(super) fn release_held(&mut self, peer: &PeerId) -> Result<usize, StoreError> {
        let Some(store) = self.store.as_mut() else {
            return Ok(0);
        };
        let released = store.release_held(peer)?;
        self.held_full.remove(peer);
        if released > 0 {
            self.play_back();
        }
        Ok(released)
    }

    /// Deletes `peer`'s held messages; its next message is announced again.
    pub(super) fn reject_held(&mut self, peer: &PeerId) -> Result<usize, StoreError> {
        let Some(store) = self.store.as_mut() else {
            return Ok(0);
        };
        let rejected = store.reject_held(peer)?;
        store.forget_sender(peer)?;
        self.senders.remove(peer);
        self.held_full.remove(peer);
        Ok(rejected)
    }

    /// How many messages from `peer` are held.
    pub(super) fn held_count(&self, peer: &PeerId) -> usize {
        self.store
            .as_ref()
            .and_then(|s| s.held_count(peer).ok())
            .unwrap_or(0)
    }
}
