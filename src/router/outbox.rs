//! The sending side of durable delivery: every accepted message is committed to the
//! outbox before anything else happens to it, leaves it only when the peer acknowledges it,
//! and waits there (with retries and one notice) while the peer is offline.

use std::time::Duration;

use super::notices::{self, Offline, Unreached};
use super::redial::{self, Outcome};
use super::{Router, RouterInput, now_ms};
use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent, MessageId, PeerMessage};
use crate::message::{FrontendId, FrontendRequest, MessageKind};
use crate::peer::wire::MAX_TEXT;
use crate::store::{Durability, Ticket};

/// First retry after a failed dial (the default of `SessionTimers::retry`); doubles up to
/// [`RETRY_MAX`].
pub const RETRY_MIN: Duration = Duration::from_secs(5);
pub const RETRY_MAX: Duration = Duration::from_secs(5 * 60);
/// Acknowledged messages leave the outbox with the next write of the store, or at the
/// latest this long after the ack.
pub const ACK_FLUSH_DELAY: Duration = Duration::from_millis(50);

impl Router {
    /// Handles a front end's requests in order. Consecutive sends are committed to the
    /// outbox together, in one transaction: a burst pasted into a client costs one commit,
    /// not one per line. The last run of sends is left in the store's open write, for the
    /// caller to commit ([`super::RouterHandle::commit`]) once the sessions have sent it.
    pub(super) fn requests(&mut self, from: FrontendId, requests: Vec<FrontendRequest>) {
        let mut sends = Vec::new();
        for request in requests {
            match request {
                FrontendRequest::Send { to, kind, text } => {
                    if let Some(message) = self.outgoing(to, kind, text) {
                        sends.push((to, message));
                    }
                }
                other => {
                    self.accept_outgoing(from, std::mem::take(&mut sends));
                    self.settle();
                    self.request(from, other);
                }
            }
        }
        self.accept_outgoing(from, sends);
    }

    /// A message the user asked to send, or `None` when it goes nowhere: too long, or to a
    /// blocked peer (the user is told), or a note to self (shown at once).
    fn outgoing(&mut self, to: PeerId, kind: MessageKind, text: String) -> Option<ChatMessage> {
        let message = ChatMessage {
            id: self.next_message_id(),
            kind,
            text,
            sent_at_ms: now_ms(),
        };
        if message.text.len() > MAX_TEXT {
            let text = format!("not sent: longer than {MAX_TEXT} bytes");
            self.broadcast(FrontendEvent::PeerNotice { peer: to, text });
        } else if to == self.ctx.own {
            // A note to self: no network involved.
            self.broadcast(FrontendEvent::Received {
                from: to,
                message,
                played_back: false,
                stored: None,
            });
        } else if self.book.is_blocked(&to) {
            let nick = self.book.display_nick(&to);
            let text = format!("not sent: you blocked {nick}; \"unblock {nick}\" first");
            self.broadcast(FrontendEvent::PeerNotice { peer: to, text });
        } else {
            self.wrote_to(to);
            return Some(message);
        }
        None
    }

    /// Writes messages the user sent to the outbox (the store's open write, committed by
    /// the caller after it has let the sessions send them: see `store/write.rs`), queues
    /// each for its peer, and echoes it to every front end attached now (never into the
    /// backlog) once it is committed. Without a store (tests), they are only queued. When
    /// they cannot be written, nothing is sent and the user is told.
    fn accept_outgoing(&mut self, from: FrontendId, sends: Vec<(PeerId, ChatMessage)>) {
        if sends.is_empty() {
            return;
        }
        let ticket = match self.store.as_mut().map(|s| s.enqueue_open(&sends)) {
            None => None,
            Some(Ok(ticket)) => Some(ticket),
            Some(Err(e)) => {
                tracing::error!(error = %e, count = sends.len(), "cannot store outgoing messages");
                for (to, _) in sends {
                    let text = format!("not sent: the message could not be stored ({e})");
                    self.broadcast(FrontendEvent::PeerNotice { peer: to, text });
                }
                return;
            }
        };
        let echoes = self.wants_echoes();
        for (to, message) in sends {
            let echo = echoes.then(|| FrontendEvent::Sent {
                to,
                message: message.clone(),
                origin: from,
            });
            self.send_to(to, message.into());
            match ticket {
                Some(ticket) => self.unsettled.push((ticket, Some(to), echo)),
                None => {
                    if let Some(echo) = echo {
                        self.deliver_echo(echo);
                    }
                }
            }
        }
    }

    /// Commits the store's open write if it is still open; true when `ticket`'s writes are
    /// durable.
    pub(super) fn is_durable(&mut self, ticket: Ticket) -> bool {
        self.settle();
        self.store
            .as_ref()
            .is_some_and(|s| s.durability(ticket) == Durability::Durable)
    }

    /// Commits the store's open write, then echoes the sent messages it held (or, should
    /// the commit have failed, tells the user they were not stored).
    pub(super) fn settle(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        store.settle();
        if self.unsettled.is_empty() {
            return;
        }
        let mut echoes = Vec::new();
        let mut lost: Vec<(Option<PeerId>, usize)> = Vec::new();
        for (ticket, to, echo) in std::mem::take(&mut self.unsettled) {
            match store.durability(ticket) {
                Durability::Durable => echoes.extend(echo),
                Durability::Lost => match lost.iter_mut().find(|(p, _)| *p == to) {
                    Some((_, n)) => *n += 1,
                    None => lost.push((to, 1)),
                },
                Durability::Open => self.unsettled.push((ticket, to, echo)),
            }
        }
        for echo in echoes {
            self.deliver_echo(echo);
        }
        for (peer, n) in lost {
            match peer {
                Some(peer) => {
                    let text = notices::not_stored(&self.book.display_nick(&peer), n);
                    self.broadcast(FrontendEvent::PeerNotice { peer, text });
                }
                None => {
                    let text = notices::not_stored("the group's members", n);
                    self.broadcast(FrontendEvent::ServerNotice { text });
                }
            }
        }
    }

    /// The peer acknowledged these messages: they leave the outbox (with the store's next
    /// write, or within [`ACK_FLUSH_DELAY`]: an ack costs no commit of its own). When it was
    /// offline and its queue is now empty, the user hears that the queued messages were
    /// delivered.
    pub(super) fn acknowledged(&mut self, peer: PeerId, ids: &[MessageId]) {
        self.note_traffic(peer, false, true);
        let Some(store) = self.store.as_mut() else {
            return;
        };
        if let Err(e) = store.acknowledged(&peer, ids) {
            // They stay in the outbox and go out again after a restart; the receiver drops
            // what it has already seen.
            tracing::warn!(error = %e, "cannot remove acknowledged messages from the outbox");
            return;
        }
        if store.has_pending_acks() && !self.acks_flush_due {
            self.acks_flush_due = true;
            let (router, shutdown) = (self.ctx.router.clone(), self.ctx.shutdown.clone());
            self.ctx.tracker.spawn(async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = tokio::time::sleep(ACK_FLUSH_DELAY) => router.dispatch(RouterInput::FlushAcks),
                }
            });
        }
        let Some(queued) = self
            .peers
            .get(&peer)
            .and_then(|s| s.offline)
            .map(|o| o.queued)
        else {
            return;
        };
        let drained = self.peers.get(&peer).is_some_and(|s| s.pending.is_empty())
            && self
                .store
                .as_mut()
                .and_then(|s| s.has_outbox(&peer).ok())
                .is_some_and(|waiting| !waiting);
        if drained {
            self.peer(peer).offline = None;
            let text = notices::back(&self.book.display_nick(&peer), queued);
            self.broadcast(FrontendEvent::PeerNotice { peer, text });
        }
    }

    /// Deletes acknowledged messages no write has taken along yet.
    pub(super) fn flush_acks(&mut self) {
        self.acks_flush_due = false;
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.flush_acknowledged()
        {
            tracing::warn!(error = %e, "cannot remove acknowledged messages from the outbox");
        }
    }

    /// A session ended: what it did not get acknowledged goes back to the front of the
    /// queue (unless it expired meanwhile), and the peer is dialled again: at once after a
    /// session that lasted and carried traffic, else with backoff (`redial.rs`).
    pub(super) fn session_ended(
        &mut self,
        peer: PeerId,
        conn_id: u64,
        unsent: Vec<PeerMessage>,
        error: Option<String>,
    ) {
        let state = self.peer(peer);
        if state.retiring == Some(conn_id) {
            state.retiring = None;
        }
        let mut outcome = None;
        if let Some(s) = state.active.as_ref().filter(|s| s.conn_id == conn_id) {
            let lasted = Duration::from_millis(now_ms().saturating_sub(s.started_ms));
            outcome = Some(redial::outcome(lasted, state.traffic, unsent.len()));
            state.active = None;
            if outcome != Some(Outcome::Unproductive) {
                // The peer proved reachable: backoffs start over.
                state.retry_delay = Duration::ZERO;
                state.probe_delay = Duration::ZERO;
            }
        }
        tracing::debug!(peer = %peer.short(), conn_id, unsent = unsent.len(), ?error, ?outcome, "session ended");
        // Not acknowledged: send again (the receiver drops what it has already seen),
        // unless it expired meanwhile (the user was told it was dropped).
        for message in unsent.into_iter().rev() {
            if !state.expired.contains(&message.id()) {
                state.pending.push_front(message);
            }
        }
        if state.active.is_none() && state.retiring.is_none() {
            state.expired.clear();
        }
        if matches!(outcome, Some(Outcome::Working | Outcome::Unproductive)) {
            // Not proved working for a while (the peer may have blocked us, or never
            // acknowledges): try again with backoff, as after a failed dial, not in a loop.
            self.forget_away(peer);
            let error = match outcome {
                Some(Outcome::Unproductive) => {
                    "the session ended before the peer acknowledged anything"
                }
                _ => "the session ended",
            };
            self.presence_dial_failed(peer);
            self.dial_failed(peer, Unreached::Other(error.to_string()));
        } else {
            self.flush(peer);
            if self.peers.get(&peer).is_some_and(|s| s.active.is_none()) {
                self.session_lost(peer);
            }
        }
        if outcome.is_some() {
            // The session that had front ends show the peer online ended.
            self.groups_presence(peer);
        }
    }

    /// A dial failed. With a store, the messages stay queued: the user is told (once, and
    /// again when more are queued or the side at fault changed: `notices.rs`), and the
    /// gateway tries again later (looking the peer up again). Without one, they are dropped
    /// with a notice.
    pub(super) fn dial_failed(&mut self, peer: PeerId, error: Unreached) {
        let durable = self.store.is_some();
        let first_retry = self.ctx.timers.retry;
        let name = self.book.display_nick(&peer);
        let state = self.peer(peer);
        state.dialing = false;
        if state.pending.is_empty() {
            return;
        }
        if !durable {
            let failed = std::mem::take(&mut state.pending);
            let text = notices::dropped(failed.len(), &error);
            self.broadcast(FrontendEvent::PeerNotice { peer, text });
            return;
        }
        let (delay, next) = redial::step(
            state.retry_delay,
            first_retry,
            RETRY_MAX,
            redial::random_jitter(),
        );
        state.retry_delay = next;
        // The notice tells of private messages: group messages are the channel's.
        let queued = state
            .pending
            .iter()
            .filter(|m| m.as_chat().is_some())
            .count();
        if queued > 0 {
            let notice = notices::offline(&name, &error, queued, state.offline.as_ref());
            state.offline = Some(Offline {
                told: queued,
                ours: error.ours(),
                queued,
            });
            if let Some(text) = notice {
                self.broadcast(FrontendEvent::PeerNotice { peer, text });
            }
        }
        let (router, shutdown) = (self.ctx.router.clone(), self.ctx.shutdown.clone());
        self.ctx.tracker.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => router.dispatch(RouterInput::Retry(peer)),
            }
        });
    }

    /// Loads what the outbox holds (after a restart) and starts delivering it.
    pub(super) fn resume(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let waiting = store.outbox_peers().and_then(|peers| {
            peers
                .into_iter()
                .map(|p| store.queued(&p).map(|m| (p, m)))
                .collect::<Result<Vec<_>, _>>()
        });
        let waiting = match waiting {
            Ok(waiting) => waiting,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                return;
            }
        };
        for (peer, messages) in waiting {
            self.wrote_to(peer);
            tracing::info!(peer = %peer.short(), count = messages.len(), "delivering messages queued before the restart");
            self.peer(peer).pending.extend(messages);
            self.flush(peer);
        }
    }

    /// Drops messages that waited longer than the configured expiry, telling the user which,
    /// and forgets history older than the retention.
    pub(super) fn maintain(&mut self) {
        let expire_after = self.limits.expire_after;
        // A batch at a time, each a turn of the hub of its own (`strangers.rs`).
        self.prune_history(self.history_cutoff(), 0);
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let now = super::now_ms();
        let expired = match store.expire(now.saturating_sub(expire_after.as_millis() as u64)) {
            Ok(expired) => expired,
            Err(e) => {
                tracing::error!(error = %e, "cannot expire old messages");
                return;
            }
        };
        let mut by_peer: Vec<(PeerId, Vec<PeerMessage>)> = Vec::new();
        for (peer, message) in expired {
            match by_peer.iter_mut().find(|(p, _)| *p == peer) {
                Some((_, messages)) => messages.push(message),
                None => by_peer.push((peer, vec![message])),
            }
        }
        self.tell_expired_group_chats(&by_peer, expire_after);
        for (peer, messages) in by_peer {
            let state = self.peer(peer);
            state
                .pending
                .retain(|m| !messages.iter().any(|e| e.id() == m.id()));
            if state.active.is_some() || state.retiring.is_some() {
                // Some may be in flight: should the session hand them back, they stay dropped.
                state.expired.extend(messages.iter().map(PeerMessage::id));
            }
            // The peer's notices count its private messages; group chats that expired are
            // told per group (`tell_expired_group_chats`).
            let chats: Vec<&ChatMessage> =
                messages.iter().filter_map(PeerMessage::as_chat).collect();
            if let Some(offline) = state.offline.as_mut() {
                offline.told = offline.told.saturating_sub(chats.len());
                offline.queued = offline.queued.saturating_sub(chats.len());
                if offline.queued == 0 {
                    // Nothing left to be delivered: the next offline notice is a whole one.
                    state.offline = None;
                }
            }
            let Some(first) = chats.first() else {
                continue;
            };
            let name = self.book.display_nick(&peer);
            let text = notices::expired(&name, chats.len(), &first.text, &describe(expire_after));
            self.broadcast(FrontendEvent::PeerNotice { peer, text });
        }
    }
}

impl Router {
    /// Tells the user which group chats expired before reaching which members: one
    /// notice per group.
    fn tell_expired_group_chats(
        &mut self,
        by_peer: &[(PeerId, Vec<PeerMessage>)],
        expire_after: Duration,
    ) {
        let mut by_group: Vec<(crate::group::GroupId, Vec<MessageId>, Vec<PeerId>)> = Vec::new();
        for (peer, messages) in by_peer {
            for message in messages {
                let PeerMessage::GroupChat { group, message, .. } = message else {
                    continue;
                };
                let at = match by_group.iter().position(|(g, ..)| g == group) {
                    Some(at) => at,
                    None => {
                        by_group.push((*group, Vec::new(), Vec::new()));
                        by_group.len() - 1
                    }
                };
                let (_, ids, peers) = &mut by_group[at];
                if !ids.contains(&message.id) {
                    ids.push(message.id);
                }
                if !peers.contains(peer) {
                    peers.push(*peer);
                }
            }
        }
        for (group, ids, peers) in by_group {
            let count = ids.len();
            let Some(channel) = self.groups.channel(&group) else {
                continue;
            };
            let mut nicks: Vec<String> = peers.iter().map(|p| self.book.display_nick(p)).collect();
            nicks.sort();
            let text = format!(
                "{count} of your message{} to {channel} expired after {} before reaching {}: not delivered there",
                if count == 1 { "" } else { "s" },
                describe(expire_after),
                nicks.join(", ")
            );
            self.broadcast(FrontendEvent::ServerNotice { text });
        }
    }
}

/// "7 days", "5 hours", "3 minutes", "2 seconds": for notices.
fn describe(d: Duration) -> String {
    let secs = d.as_secs();
    let (n, unit) = match secs {
        s if s >= 86_400 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s >= 3600 && s % 3600 == 0 => (s / 3600, "hour"),
        s if s >= 60 && s % 60 == 0 => (s / 60, "minute"),
        s => (s.max(1), "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
