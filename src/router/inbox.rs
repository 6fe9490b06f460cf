//! The receiving side of durable delivery: messages from peers are screened (contacts,
//! blocked peers, unknown senders), stored before they are acknowledged (deduplicated by
//! peer and id, across restarts), shown to the front ends attached, and played back to the
//! next one that attaches when no front end reported them written to its client (contacts'
//! messages first).

use std::time::Duration;

use super::{CLOCK_SKEW_MS, PLAYBACK_LIMIT, Router, RouterInput, now_ms};
use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent, FrontendId, PeerMessage, StoredRow};
use crate::store::Ticket;

/// Marks of shown messages wait at most this long for a write to take them along: a
/// crash within it shows those messages again (never loses them).
pub const SHOWN_FLUSH_DELAY: Duration = Duration::from_millis(100);

/// What became of received messages handed to the hub ([`Router::receive_open`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Receipt {
    /// Stored (or nothing to store): acknowledge them.
    Stored,
    /// Written in the store's open write: acknowledge them once the ticket is durable
    /// ([`super::RouterHandle::durable`]), after letting the front ends show them.
    Pending(Ticket),
    /// Not stored: do not acknowledge them (the peer sends them again).
    NotStored,
}

/// What happens to a received message, by who sent it.
pub(super) enum Screen {
    Show,
    /// Stored but not shown until the user accepts the sender; `announce`: say so first.
    Hold {
        announce: bool,
    },
    /// Acknowledged and discarded.
    Drop,
}

impl Router {
    /// Stores received messages (deduplicating resends) and shows the new ones, and commits
    /// them; returns false when they could not be stored, so that they are not acknowledged.
    pub fn receive<M: Into<PeerMessage>>(&mut self, peer: PeerId, messages: Vec<M>) -> bool {
        match self.receive_open(peer, messages) {
            Receipt::Stored => true,
            Receipt::NotStored => false,
            Receipt::Pending(ticket) => self.is_durable(ticket),
        }
    }

    /// Writes received messages to the store's open write (deduplicating resends) and
    /// shows the new ones at once: the commit waits until the caller has let the front
    /// ends write them out, and the messages are acknowledged only after it. (Should the
    /// gateway die in between, the peer sends them again and they show twice.) They are
    /// stored unshown, and marked shown only once a front end reports them written to its
    /// client ([`Router::shown`]): a front end that goes away, or is dropped for falling
    /// behind, loses nothing.
    pub fn receive_open<M: Into<PeerMessage>>(
        &mut self,
        peer: PeerId,
        messages: Vec<M>,
    ) -> Receipt {
        // In order: a run of private chats at a time, each group message on its own.
        let mut receipt = Receipt::Stored;
        let mut chats = Vec::new();
        for message in messages {
            match message.into() {
                PeerMessage::Chat(chat) => chats.push(chat),
                other => {
                    if !chats.is_empty() {
                        let got = self.receive_chats_open(peer, std::mem::take(&mut chats));
                        receipt = self.both(receipt, got);
                    }
                    let got = self.receive_group(peer, other);
                    receipt = self.both(receipt, got);
                }
            }
        }
        if !chats.is_empty() {
            let got = self.receive_chats_open(peer, chats);
            receipt = self.both(receipt, got);
        }
        receipt
    }

    /// What two receipts of one frame's messages make: acknowledged only when both are.
    fn both(&mut self, first: Receipt, then: Receipt) -> Receipt {
        match (first, then) {
            (Receipt::NotStored, _) | (_, Receipt::NotStored) => Receipt::NotStored,
            (Receipt::Stored, r) | (r, Receipt::Stored) => r,
            // An earlier write was committed in between (naming a group commits): it must
            // have been durable.
            (Receipt::Pending(a), Receipt::Pending(b)) if a != b && !self.is_durable(a) => {
                Receipt::NotStored
            }
            (Receipt::Pending(_), r) => r,
        }
    }

    /// [`Router::receive_open`] for private chats.
    fn receive_chats_open(&mut self, peer: PeerId, mut messages: Vec<ChatMessage>) -> Receipt {
        self.settle();
        // The sender's clock dates a message (it may have waited offline), but a time in our
        // future is a wrong clock or a lie: show our own time instead.
        let now = now_ms();
        for message in &mut messages {
            if message.sent_at_ms > now + CLOCK_SKEW_MS {
                message.sent_at_ms = now;
            }
        }
        match self.screen(peer) {
            Screen::Show => {}
            Screen::Drop => return Receipt::Stored,
            Screen::Hold { announce } => {
                return match self.hold(peer, &messages, now, announce) {
                    true => Receipt::Stored,
                    false => Receipt::NotStored,
                };
            }
        }
        if self.store.is_none() {
            for message in messages {
                if self.peer(peer).first_sight(message.id) {
                    self.broadcast(FrontendEvent::Received {
                        from: peer,
                        message,
                        played_back: false,
                        stored: None,
                    });
                }
            }
            return Receipt::Stored;
        }
        // Strangers' messages fit under their quota (their oldest rows go first).
        if self.is_stranger(&peer) && !self.make_room(&peer, &messages) {
            return Receipt::NotStored;
        }
        let Some(store) = self.store.as_mut() else {
            return Receipt::NotStored;
        };
        // Stored as shown when a front end is attached to show them: the live path costs no
        // second write. A front end reports what it wrote to its client (`shown`); what it had
        // not written when it goes away goes back to unshown (`forget_in_flight`), and what
        // no front end took is unshown at once, in the same open write: the next front end
        // that attaches plays it back.
        let live = !self.frontends.is_empty();
        let (rows, ticket) = match store.receive_open(&peer, &messages, now, live) {
            Ok(written) => written,
            Err(e) => {
                tracing::error!(peer = %peer.short(), error = %e, "cannot store received messages; not acknowledging them");
                return Receipt::NotStored;
            }
        };
        self.peer(peer);
        let mut not_taken = Vec::new();
        for (message, row) in messages.into_iter().zip(rows) {
            // A row only for a message not stored before: a resend after a lost ack has none.
            if let Some(row) = row {
                let event = FrontendEvent::Received {
                    from: peer,
                    message,
                    played_back: false,
                    stored: Some(row),
                };
                if self.deliver_stored(event, row, live).is_err() && live {
                    not_taken.push(row);
                }
            }
        }
        if let (false, Some(store)) = (not_taken.is_empty(), self.store.as_mut())
            && let Err(e) = store.mark_unshown(&not_taken)
        {
            // The whole open write is rolled back: the messages are not acknowledged.
            tracing::error!(error = %e, "cannot mark messages for playback");
            return Receipt::NotStored;
        }
        Receipt::Pending(ticket)
    }

    /// Shows stored messages no front end has shown yet (after an attach, or when held
    /// ones are released): the contacts' first, then the others', each in arrival order
    /// (see [`crate::store::Store::unshown`]), skipping those in flight to a front end.
    pub(super) fn play_back(&mut self) {
        // Marks not yet written would let what was shown come again.
        self.flush_shown();
        let skip: usize = self.in_flight.values().map(|rows| rows.len()).sum();
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let unshown = match store.unshown(PLAYBACK_LIMIT + skip + 1) {
            Ok(unshown) => unshown,
            Err(e) => {
                tracing::error!(error = %e, "cannot read stored messages for playback");
                return;
            }
        };
        let mut unshown: Vec<_> = unshown
            .into_iter()
            .filter(|stored| !self.is_in_flight(stored.row))
            .collect();
        if unshown.is_empty() {
            return;
        }
        let more = unshown.len() > PLAYBACK_LIMIT;
        unshown.truncate(PLAYBACK_LIMIT);
        let _ = self.deliver(FrontendEvent::PlaybackStart);
        for stored in unshown {
            let event = match stored.group.map(|g| self.groups.channel(&g)) {
                None => FrontendEvent::Received {
                    from: stored.from,
                    message: stored.message,
                    played_back: true,
                    stored: Some(stored.row),
                },
                Some(Some(channel)) => FrontendEvent::GroupReceived {
                    channel,
                    from: stored.from,
                    message: stored.message,
                    played_back: true,
                    stored: Some(stored.row),
                },
                // A group without a name has shown nothing yet.
                Some(None) => continue,
            };
            if self.deliver_stored(event, stored.row, false).is_err() {
                break;
            }
        }
        let _ = self.deliver(FrontendEvent::PlaybackEnd);
        if more {
            let text = format!(
                "more than {PLAYBACK_LIMIT} messages arrived while no client was attached; reconnect to see the rest"
            );
            self.broadcast(FrontendEvent::ServerNotice { text });
        }
    }

    /// Front end `from` wrote these stored messages to its client: they are shown. The marks
    /// ride along with the next write of the store, or are written within
    /// [`SHOWN_FLUSH_DELAY`]; never a commit per message.
    pub(super) fn shown(&mut self, from: FrontendId, rows: &[StoredRow]) {
        // Live messages are stored as shown already: only played-back ones need a mark,
        // unless the history is not kept (`history_days = 0`): the mark deletes the text.
        let forget = self.limits.history.is_zero();
        let mut marks = Vec::new();
        match self.in_flight.get_mut(&from) {
            Some(in_flight) => {
                for row in rows {
                    match in_flight.remove(row) {
                        Some(false) => marks.push(*row),
                        Some(true) if forget => marks.push(*row),
                        _ => {}
                    }
                }
            }
            // A front end dropped for falling behind may still write out some of its queue:
            // what it wrote was given back to playback when it was dropped; take it back.
            None => marks.extend_from_slice(rows),
        }
        if marks.is_empty() {
            return;
        }
        let rows = &marks[..];
        let Some(store) = self.store.as_mut() else {
            return;
        };
        if let Err(e) = store.note_shown(rows) {
            // Worst case they show again: better than lost.
            tracing::warn!(error = %e, "cannot mark messages as shown");
        }
        if store.has_pending_shown() && !self.shown_flush_due {
            self.shown_flush_due = true;
            let (router, shutdown) = (self.ctx.router.clone(), self.ctx.shutdown.clone());
            self.ctx.tracker.spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(SHOWN_FLUSH_DELAY) => router.dispatch(RouterInput::FlushShown),
                }
            });
        }
    }

    /// Writes the marks of shown messages that no write has taken along yet.
    pub(super) fn flush_shown(&mut self) {
        self.shown_flush_due = false;
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.flush_shown()
        {
            // Worst case they show again after a restart: better than lost.
            tracing::warn!(error = %e, "cannot mark messages as shown");
        }
    }
}
