//! The receiving side of durable delivery: messages from peers are screened (contacts,
//! blocked peers, unknown senders), stored before they are acknowledged (deduplicated by
//! peer and id, across restarts), shown to the front ends attached, and played back to the
//! next one that attaches when nobody took them.

use super::{CLOCK_SKEW_MS, PLAYBACK_LIMIT, Router, now_ms};
use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent};
use crate::store::Ticket;

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
    pub fn receive(&mut self, peer: PeerId, messages: Vec<ChatMessage>) -> bool {
        match self.receive_open(peer, messages) {
            Receipt::Stored => true,
            Receipt::NotStored => false,
            Receipt::Pending(ticket) => self.is_durable(ticket),
        }
    }

    /// Writes received messages to the store's open write (deduplicating resends) and
    /// shows the new ones at once: the commit waits until the caller has let the front
    /// ends write them out, and the messages are acknowledged only after it. (Should the
    /// gateway die in between, the peer sends them again and they show twice.)
    pub fn receive_open(&mut self, peer: PeerId, mut messages: Vec<ChatMessage>) -> Receipt {
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
        // Stored as shown when a client is attached to show them (one transaction); the
        // ones no client took are marked unshown again, for playback.
        let live = !self.frontends.is_empty();
        let (rows, ticket) = match store.receive_open(&peer, &messages, now, live) {
            Ok(written) => written,
            Err(e) => {
                tracing::error!(peer = %peer.short(), error = %e, "cannot store received messages; not acknowledging them");
                return Receipt::NotStored;
            }
        };
        self.peer(peer);
        let mut not_shown = Vec::new();
        for (message, row) in messages.into_iter().zip(rows) {
            // A row only for a message not stored before: a resend after a lost ack has none.
            if let Some(row) = row
                && self
                    .deliver(FrontendEvent::Received {
                        from: peer,
                        message,
                        played_back: false,
                    })
                    .is_err()
                && live
            {
                not_shown.push(row);
            }
        }
        if let (false, Some(store)) = (not_shown.is_empty(), self.store.as_mut())
            && let Err(e) = store.mark_unshown(&not_shown)
        {
            // The whole open write is rolled back: the messages are not acknowledged.
            tracing::error!(error = %e, "cannot mark messages for playback");
            return Receipt::NotStored;
        }
        Receipt::Pending(ticket)
    }

    /// Shows stored messages no front end has shown yet (after an attach).
    pub(super) fn play_back(&mut self) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let unshown = match store.unshown(PLAYBACK_LIMIT + 1) {
            Ok(unshown) => unshown,
            Err(e) => {
                tracing::error!(error = %e, "cannot read stored messages for playback");
                return;
            }
        };
        if unshown.is_empty() {
            return;
        }
        let more = unshown.len() > PLAYBACK_LIMIT;
        let mut shown = None;
        let _ = self.deliver(FrontendEvent::PlaybackStart);
        for stored in unshown.into_iter().take(PLAYBACK_LIMIT) {
            let event = FrontendEvent::Received {
                from: stored.from,
                message: stored.message,
                played_back: true,
            };
            if self.deliver(event).is_err() {
                break;
            }
            shown = Some(stored.row);
        }
        let _ = self.deliver(FrontendEvent::PlaybackEnd);
        self.mark_shown(shown);
        if more {
            let text = format!(
                "more than {PLAYBACK_LIMIT} messages arrived while no client was attached; reconnect to see the rest"
            );
            self.broadcast(FrontendEvent::ServerNotice { text });
        }
    }

    fn mark_shown(&mut self, up_to: Option<i64>) {
        if let (Some(row), Some(store)) = (up_to, self.store.as_mut())
            && let Err(e) = store.mark_shown(row)
        {
            // Worst case they show again after a restart: better than lost.
            tracing::warn!(error = %e, "cannot mark messages as shown");
        }
    }
}
