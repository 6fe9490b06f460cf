//! The hub's side of the sessions to peers: a message sent to a peer (queued, and on its
//! session when one is up), a dial when none is, and one session per pair when both ends
//! dialled (or a direct one came up beside a relayed one): the tie-break both ends agree
//! on, the other retired loss-free.

use super::*;

impl Router {
    pub(super) fn send_to(&mut self, to: PeerId, message: PeerMessage) {
        let durable = self.store.is_some();
        let state = self.peer(to);
        // With a store the outbox holds the message anyway; the bound is for memory only.
        if !durable && state.pending.len() >= PENDING_LIMIT {
            let text =
                format!("not sent: {PENDING_LIMIT} messages are already waiting for this peer");
            self.broadcast(FrontendEvent::PeerNotice { peer: to, text });
            return;
        }
        let chat = message.as_chat().is_some();
        state.pending.push_back(message);
        if chat
            && state.active.is_none()
            && let Some(offline) = state.offline.as_mut()
        {
            // The user knows it is offline: the figure the back notice gives grows.
            offline.queued += 1;
        }
        self.flush(to);
    }

    /// Hands pending messages to the active session, or starts a dial.
    pub(super) fn flush(&mut self, peer: PeerId) {
        let state = self.peer(peer);
        if state.pending.is_empty() || state.retiring.is_some() {
            return;
        }
        if let Some(session) = &state.active {
            while let Some(message) = state.pending.pop_front() {
                if let Err(mpsc::error::SendError(SessionCommand::Send(message))) =
                    session.commands.send(SessionCommand::Send(message))
                {
                    // The session is ending: hold the queue until it hands back what the
                    // peer did not acknowledge (so that goes out first), then re-dial.
                    state.pending.push_front(message);
                    state.retiring = Some(session.conn_id);
                    state.active = None;
                    break;
                }
            }
            return;
        }
        if state.dialing {
            return;
        }
        self.start_dial(peer);
    }

    /// Dials `peer` in a task (a session comes up, or the dial fails); the caller has
    /// checked that no session is up and no dial is under way.
    pub(super) fn start_dial(&mut self, peer: PeerId) {
        let ctx = self.ctx.clone();
        self.peer(peer).dialing = true;
        ctx.tracker.clone().spawn(async move {
            let result = tokio::select! {
                _ = ctx.shutdown.cancelled() => return,
                result = ctx.dial(peer) => result,
            };
            if let Err(e) = result {
                ctx.router.dispatch(RouterInput::DialFailed {
                    peer,
                    error: notices::Unreached::of(&e),
                });
            }
        });
    }

    /// A new session: keep one per peer. When both ends dialled at once, both keep the
    /// connection dialled by the smaller key, so both pick the same one.
    pub(super) fn session_up(&mut self, handle: SessionHandle) {
        let peer = handle.peer;
        if self.book.is_blocked(&peer) {
            // Blocked after the handshake checked the blocklist: no session after all.
            if handle.initiator == self.ctx.own {
                self.peer(peer).dialing = false;
            }
            let _ = handle.commands.send(SessionCommand::Retire);
            return;
        }
        if let Some(reason) = &self.own_away {
            let _ = handle.commands.send(SessionCommand::Away(reason.clone()));
        }
        let own = self.ctx.own;
        let state = self.peer(peer);
        if handle.initiator == own {
            // Our own dial finished; an inbound session says nothing about a dial of ours.
            state.dialing = false;
        }
        // Backoffs are reset when a session proves itself (`redial.rs`), not here.
        match state.active.take() {
            None => {
                state.active = Some(handle);
                state.traffic = redial::Traffic::default();
            }
            Some(existing) => {
                let existing_conn = existing.conn_id;
                // Both ends order the two sessions the same way: a direct one before a
                // relayed one (both know which is relayed: the direct upgrade, `peer::upgrade`),
                // then by initiator key, then (two dials by the same side) by the
                // transcript hash both ends share.
                let rank = |h: &SessionHandle| (h.via.is_some(), h.initiator, h.session_id);
                let (keep, retire) = if rank(&handle) < rank(&existing) {
                    (handle, existing)
                } else {
                    (existing, handle)
                };
                tracing::debug!(peer = %peer.short(), keep = keep.conn_id, retire = retire.conn_id, "duplicate session");
                if retire.conn_id == existing_conn {
                    // We may have sent on it: hold the queue until it hands back the rest.
                    state.retiring = Some(retire.conn_id);
                }
                let _ = retire.commands.send(SessionCommand::Retire);
                state.active = Some(keep);
            }
        }
        self.flush(peer);
        self.presence_up(peer);
        self.groups_session_up(peer);
    }
}
