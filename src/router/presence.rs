//! Presence, away and what a front end learns about peers. A watched peer (every contact
//! that is not blocked, and every peer a front end watches) is online when a session with
//! it is up; without one the hub dials it, and dials again with backoff while it stays
//! unreachable or its sessions prove nothing (`redial.rs`), so that presence is real and a
//! peer cannot make us dial in a loop. Away reasons travel both ways in sessions.

use std::collections::HashSet;
use std::time::Duration;

use super::{FrontendId, Router, RouterInput, now_ms};
use crate::control::duration;
use crate::identity::PeerId;
use crate::message::{FrontendEvent, FrontendRequest, PeerInfo, Presence};
use crate::peer::SessionCommand;
use crate::peer::wire::clip_away;
use tokio::sync::mpsc;

/// Longest wait between two presence probes of an unreachable watched peer; the first
/// wait is `SessionTimers::probe`, doubling up to this.
pub const PROBE_MAX: Duration = Duration::from_secs(10 * 60);
/// Peers one front end may watch (each one may be dialled).
pub const MAX_WATCHES: usize = 1000;

impl Router {
    /// Handles a front end's request other than `Send`.
    pub(super) fn request(&mut self, from: FrontendId, request: FrontendRequest) {
        match request {
            // Handled in `handle` (the hot path).
            FrontendRequest::Send { .. } => {}
            FrontendRequest::Control { line, reply } => {
                let lines = self.control(from, &line, reply);
                if !lines.is_empty() {
                    self.reply_to(
                        from,
                        FrontendEvent::ControlReply {
                            lines,
                            target: reply,
                        },
                    );
                }
            }
            FrontendRequest::PeerInfo { peer } => {
                let info = self.peer_info(peer);
                self.reply_to(from, FrontendEvent::PeerInfo(Box::new(info)));
            }
            FrontendRequest::SetAway { reason } => self.set_away(from, reason),
            FrontendRequest::Echoes(wanted) => {
                if wanted {
                    self.no_echoes.remove(&from);
                } else {
                    self.no_echoes.insert(from);
                }
            }
            FrontendRequest::Shown(rows) => self.shown(from, &rows),
            FrontendRequest::GroupSend {
                channel,
                kind,
                text,
            } => self.group_send(from, channel, kind, text),
            FrontendRequest::Group { channel, action } => self.group_request(from, channel, action),
            FrontendRequest::Watch { peers } => self.watch(from, peers),
            FrontendRequest::Unwatch { peers } => {
                if let Some(watched) = self.watches.get_mut(&from) {
                    for peer in &peers {
                        watched.remove(peer);
                    }
                }
                for peer in peers {
                    if !self.is_watched(&peer) {
                        self.presence.remove(&peer);
                    }
                }
            }
        }
    }

    /// What a front end gets first when it attaches: the contacts, the presence of every
    /// watched peer, the user's away state and the peers known to be away.
    pub(super) fn greet(&mut self, events: &mpsc::Sender<FrontendEvent>) {
        let _ = events.try_send(FrontendEvent::Contacts(self.book.clone()));
        let mut watched: Vec<PeerId> = self.watched_peers().into_iter().collect();
        watched.sort_by_key(|p| self.book.display_nick(p).to_ascii_lowercase());
        for peer in watched {
            let presence = self.current_presence(&peer);
            self.presence.insert(peer, presence);
            let _ = events.try_send(FrontendEvent::Presence { peer, presence });
        }
        if let Some(reason) = &self.own_away {
            let _ = events.try_send(FrontendEvent::OwnAway {
                reason: Some(reason.clone()),
            });
        }
        for (peer, reason) in &self.peer_away {
            let _ = events.try_send(FrontendEvent::PeerAway {
                peer: *peer,
                reason: Some(reason.clone()),
            });
        }
        self.greet_groups(events);
    }

    /// A front end went away: its watches go with it.
    pub(super) fn unwatch_all(&mut self, id: FrontendId) {
        let Some(peers) = self.watches.remove(&id) else {
            return;
        };
        for peer in peers {
            if !self.is_watched(&peer) {
                self.presence.remove(&peer);
            }
        }
    }

    fn watched_peers(&self) -> HashSet<PeerId> {
        let mut all: HashSet<PeerId> = self.watches.values().flatten().copied().collect();
        all.extend(
            self.book
                .iter_sorted()
                .into_iter()
                .filter(|c| !c.blocked)
                .map(|c| c.peer),
        );
        all
    }

    pub(super) fn is_watched(&self, peer: &PeerId) -> bool {
        self.book.get(peer).is_some_and(|c| !c.blocked)
            || self.watches.values().any(|w| w.contains(peer))
    }

    fn current_presence(&self, peer: &PeerId) -> Presence {
        if self.peers.get(peer).is_some_and(|s| s.active.is_some()) {
            Presence::Online
        } else {
            Presence::Offline
        }
    }

    /// Tells every front end a watched peer's presence when it changed.
    fn set_presence(&mut self, peer: PeerId, presence: Presence) {
        if !self.is_watched(&peer) {
            self.presence.remove(&peer);
            return;
        }
        if self.presence.insert(peer, presence) != Some(presence) {
            let _ = self.deliver(FrontendEvent::Presence { peer, presence });
        }
    }

    fn watch(&mut self, from: FrontendId, peers: Vec<PeerId>) {
        for peer in peers {
            let watched = self.watches.entry(from).or_default();
            if watched.len() >= MAX_WATCHES && !watched.contains(&peer) {
                let text = format!("cannot watch more than {MAX_WATCHES} peers");
                self.reply_to(from, FrontendEvent::ServerNotice { text });
                return;
            }
            if peer == self.ctx.own {
                continue;
            }
            watched.insert(peer);
            let presence = self.current_presence(&peer);
            self.presence.insert(peer, presence);
            self.reply_to(from, FrontendEvent::Presence { peer, presence });
            if presence == Presence::Offline {
                self.probe(peer);
            }
        }
    }

    /// A peer just became watched (a new contact, an unblock): front ends learn its
    /// presence now, and it is dialled if it has no session.
    pub(super) fn start_watching(&mut self, peer: PeerId) {
        let presence = self.current_presence(&peer);
        self.set_presence(peer, presence);
        if presence == Presence::Offline {
            self.probe(peer);
        }
    }

    /// Dials a watched peer without a session (unless a dial is under way or blocked).
    pub(super) fn probe(&mut self, peer: PeerId) {
        if !self.is_watched(&peer) || self.book.is_blocked(&peer) {
            return;
        }
        let state = self.peer(peer);
        if state.active.is_some() || state.dialing {
            return;
        }
        self.start_dial(peer);
    }

    /// At start: every contact's presence is found out.
    pub(super) fn probe_contacts(&mut self) {
        for peer in self.watched_peers() {
            self.probe(peer);
        }
    }

    pub(super) fn probe_due(&mut self, peer: PeerId) {
        self.peer(peer).probe_scheduled = false;
        self.probe(peer);
    }

    /// A session came up.
    pub(super) fn presence_up(&mut self, peer: PeerId) {
        self.touch_last_seen(peer);
        self.set_presence(peer, Presence::Online);
    }

    /// The last session with `peer` ended after it proved the peer works (`redial.rs`): a
    /// watched peer is dialled again at once (it may just have moved); it is offline if
    /// that fails. An unwatched one forgets its away.
    pub(super) fn session_lost(&mut self, peer: PeerId) {
        self.touch_last_seen(peer);
        self.forget_away(peer);
        if self.is_watched(&peer) {
            if !self.peers.get(&peer).is_some_and(|s| s.dialing) {
                self.probe(peer);
            }
            if !self.peers.get(&peer).is_some_and(|s| s.dialing) {
                self.set_presence(peer, Presence::Offline);
            }
        }
    }

    /// A peer without a session is not away any more, as far as we know: front ends hear so.
    pub(super) fn forget_away(&mut self, peer: PeerId) {
        if self.peer_away.remove(&peer).is_some() {
            let _ = self.deliver(FrontendEvent::PeerAway { peer, reason: None });
        }
    }

    /// A dial failed: a watched peer is offline, and is probed again later.
    pub(super) fn presence_dial_failed(&mut self, peer: PeerId) {
        if !self.is_watched(&peer) {
            return;
        }
        self.set_presence(peer, Presence::Offline);
        let first = self.ctx.timers.probe;
        let state = self.peer(peer);
        if state.probe_scheduled {
            return;
        }
        let (delay, next) = super::redial::step(
            state.probe_delay,
            first,
            PROBE_MAX,
            super::redial::random_jitter(),
        );
        state.probe_delay = next;
        state.probe_scheduled = true;
        let (router, shutdown) = (self.ctx.router.clone(), self.ctx.shutdown.clone());
        self.ctx.tracker.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(delay) => router.dispatch(RouterInput::Probe(peer)),
            }
        });
    }

    /// The user is away (or back): every front end and every peer with a session is told.
    fn set_away(&mut self, from: FrontendId, reason: Option<String>) {
        let reason = reason.map(|r| clip_away(&r)).filter(|r| !r.is_empty());
        if reason == self.own_away {
            // Nothing changes, but the asker gets its answer (305/306) all the same.
            self.reply_to(from, FrontendEvent::OwnAway { reason });
            return;
        }
        self.own_away = reason.clone();
        let wire = reason.clone().unwrap_or_default();
        for state in self.peers.values() {
            if let Some(session) = &state.active {
                let _ = session.commands.send(SessionCommand::Away(wire.clone()));
            }
        }
        let _ = self.deliver(FrontendEvent::OwnAway { reason });
    }

    /// A peer told us it is away or back.
    pub(super) fn peer_away(&mut self, peer: PeerId, reason: Option<String>) {
        // Kept only while a session is up: that bounds it.
        if self.peers.get(&peer).is_none_or(|s| s.active.is_none()) {
            return;
        }
        let changed = match &reason {
            Some(r) => self.peer_away.insert(peer, r.clone()).as_ref() != Some(r),
            None => self.peer_away.remove(&peer).is_some(),
        };
        if changed {
            let _ = self.deliver(FrontendEvent::PeerAway { peer, reason });
        }
    }

    /// Everything known about a peer (WHOIS).
    pub(super) fn peer_info(&mut self, peer: PeerId) -> PeerInfo {
        let own = self.ctx.own;
        let now = now_ms();
        let queued = self
            .store
            .as_mut()
            .and_then(|s| s.outbox_count(&peer).ok())
            .unwrap_or_else(|| self.peers.get(&peer).map_or(0, |s| s.pending.len()));
        let session = self.peers.get(&peer).and_then(|s| s.active.as_ref());
        PeerInfo {
            peer: Some(peer),
            online: session.is_some(),
            session: session.map(|h| {
                let role = if h.initiator == own {
                    "initiator"
                } else {
                    "responder"
                };
                let up = duration(now.saturating_sub(h.started_ms));
                match (h.via, h.remote) {
                    (Some(relay), Some(at)) if h.initiator == own => format!(
                        "{role}, up {up}, relayed via {} at {at}",
                        self.book.display_nick(&relay)
                    ),
                    (Some(relay), _) => {
                        format!(
                            "{role}, up {up}, relayed via {}",
                            self.book.display_nick(&relay)
                        )
                    }
                    (None, _) => format!("{role}, up {up}, direct"),
                }
            }),
            // The peer's own address, when the connection shows it (a relay's is not).
            address: session
                .filter(|h| h.via.is_none() || h.initiator != own)
                .and_then(|h| h.remote)
                .map(|a| a.to_string()),
            last_seen_ms: if session.is_some() {
                Some(now)
            } else {
                self.book.get(&peer).and_then(|c| c.last_seen_ms)
            },
            away: self.peer_away.get(&peer).cloned(),
            queued,
        }
    }
}
