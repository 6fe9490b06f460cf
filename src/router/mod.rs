//! The hub between front ends (IRC today) and peer sessions. It owns no sockets and knows
//! nothing of IRC: its vocabulary is peers and messages ([`crate::message`]), so that another
//! front end can plug in beside `irc/`. The hub's state sits behind a lock that callers'
//! tasks take briefly (`handle.rs`).
//!
//! Beside this file: `deliver.rs` (events to front ends, bounded queues), `outbox.rs`
//! (durable sending), `inbox.rs` (screening, storing and showing received messages,
//! playback), `contacts.rs` (the contact book, the
//! blocklist, unknown senders and held messages), `presence.rs` (presence, watches, away,
//! peer info, what a front end gets when it attaches), `redial.rs` (how soon a peer is
//! dialled again) and `control.rs` (the service commands).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};

use crate::config::{StoreConfig, UnknownSenders};
use crate::contacts::ContactBook;
use crate::control::Settings;
use crate::group::{GroupId, OpId};
use crate::identity::{PeerId, random_bytes};
use crate::message::{FrontendEvent, FrontendRequest, MessageId, PeerMessage, Presence};
use crate::peer::{PeerContext, SessionCommand, SessionHandle};
use crate::store::SenderState;
use crate::store::{Store, Ticket};

/// Events kept for front ends while none is attached (then replayed on attach).
pub const BACKLOG_LIMIT: usize = 10_000;
/// Stored messages played back to a front end when it attaches, at most.
pub const PLAYBACK_LIMIT: usize = 10_000;
/// Events waiting for one front end; a front end that falls this far behind is dropped.
/// Larger than the backlog, so that replaying a full backlog to a new client fits.
pub const FRONTEND_QUEUE: usize = BACKLOG_LIMIT + PLAYBACK_LIMIT + 1024;
/// Per-peer state kept for at most this many peers; idle ones beyond it are forgotten
/// (anyone can make new keys for free, so this must be bounded).
pub const MAX_PEER_STATES: usize = 10_000;
/// A peer's clock may run this far ahead of ours; later timestamps are clamped to our time.
const CLOCK_SKEW_MS: u64 = 60_000;
/// Message ids remembered per peer to drop resent duplicates.
const SEEN_IDS_PER_PEER: usize = 4096;
/// Messages waiting for a dial to finish, per peer.
const PENDING_LIMIT: usize = 1000;

pub use crate::message::FrontendId;

/// Everything the hub reacts to.
#[derive(Debug)]
pub enum RouterInput {
    Attach {
        events: mpsc::Sender<FrontendEvent>,
        reply: oneshot::Sender<FrontendId>,
    },
    Detach(FrontendId),
    /// A request from the front end `from`.
    Request {
        from: FrontendId,
        request: FrontendRequest,
    },
    /// Requests from the front end `from` that arrived together (one read from its socket),
    /// in order: consecutive sends are committed to the outbox in one transaction.
    Requests {
        from: FrontendId,
        requests: Vec<FrontendRequest>,
    },
    SessionUp(SessionHandle),
    /// Messages from a peer to store (the ones one frame carried).
    Received {
        peer: PeerId,
        messages: Vec<PeerMessage>,
    },
    /// A peer's heads of a group (GroupHeads): answer with the ops it lacks.
    GroupHeads {
        peer: PeerId,
        group: GroupId,
        heads: Vec<OpId>,
    },
    SessionEnded {
        peer: PeerId,
        conn_id: u64,
        unsent: Vec<PeerMessage>,
        error: Option<String>,
    },
    DialFailed {
        peer: PeerId,
        error: notices::Unreached,
    },
    /// A line about the gateway's own state (DHT reachability...), shown to front ends.
    Status(String),
    /// The peer acknowledged these messages.
    Acknowledged {
        peer: PeerId,
        ids: Vec<MessageId>,
    },
    /// Time to delete acknowledged messages from the outbox, if no write took them along.
    FlushAcks,
    /// Time to mark shown what front ends wrote, if no write took the marks along.
    FlushShown,
    /// Time to try a peer with queued messages again.
    Retry(PeerId),
    /// Load the outbox (at start) and deliver what it holds.
    Resume,
    /// Expire old outgoing messages and prune the history (periodically).
    Maintain,
    /// Prune the next batch of the history: rows after `after` received before `before_ms`.
    PruneHistory {
        before_ms: u64,
        after: i64,
    },
    /// Time to show the coalesced announcements of new senders.
    AnnounceSenders,
    /// The peer told us its user is away (`Some`) or back (`None`).
    PeerAway {
        peer: PeerId,
        reason: Option<String>,
    },
    /// Time to probe a watched peer's presence again.
    Probe(PeerId),
    /// The publisher put our address record in the directory.
    Published(Vec<SocketAddr>),
    /// Where the router's port mapping stands (a line for `status`).
    PortMapping(String),
    /// Whether we are reachable, and the relays held (for `status`).
    Reachability(crate::reach::ReachState),
    /// A reply for one front end, prepared by a task the hub spawned (`status`, which asks
    /// the directory), for the place `slot` it reserved in the front end's line of replies.
    Reply {
        to: FrontendId,
        slot: u64,
        event: FrontendEvent,
    },
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct PeerState {
    active: Option<SessionHandle>,
    /// When anything last happened with this peer, on the hub's input counter (for
    /// eviction; a counter, not a clock, to keep clock reads off the per-message path).
    last_activity: u64,
    /// Messages waiting for a session, oldest first.
    pending: VecDeque<PeerMessage>,
    dialing: bool,
    /// Next retry delay after a failed dial.
    retry_delay: std::time::Duration,
    /// What the user was told about messages waiting for this peer (`None`: nothing, or
    /// they were delivered since).
    offline: Option<notices::Offline>,
    /// Next presence probe delay after a failed dial (watched peers).
    probe_delay: Duration,
    /// A presence probe is scheduled.
    probe_scheduled: bool,
    /// What the peer did in the current session (decides how soon to redial: `redial.rs`).
    traffic: redial::Traffic,
    /// A duplicate session we sent on was retired, and has not yet handed back what the
    /// peer did not acknowledge: nothing more is sent until it has, so that those messages
    /// go out again before the ones after them (per-peer order across the handover).
    retiring: Option<u64>,
    /// Messages expired while a session may have had them in flight: not sent again when it
    /// hands them back (cleared once no session is left).
    expired: HashSet<MessageId>,
    seen: HashSet<MessageId>,
    seen_order: VecDeque<MessageId>,
}

impl PeerState {
    fn new() -> Self {
        Self {
            active: None,
            last_activity: 0,
            pending: VecDeque::new(),
            dialing: false,
            retry_delay: Duration::ZERO,
            offline: None,
            probe_delay: Duration::ZERO,
            probe_scheduled: false,
            traffic: redial::Traffic::default(),
            retiring: None,
            expired: HashSet::new(),
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
        }
    }

    /// Nothing in flight: the state holds only the ids seen, which may be forgotten.
    fn is_idle(&self) -> bool {
        self.active.is_none() && self.pending.is_empty() && !self.dialing && self.retiring.is_none()
    }

    /// Remembers `id`; false when it was already seen (a resend after a lost ack).
    fn first_sight(&mut self, id: MessageId) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > SEEN_IDS_PER_PEER
            && let Some(old) = self.seen_order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// The hub's state, behind the lock in [`RouterHandle`].
pub struct Router {
    ctx: PeerContext,
    frontends: HashMap<FrontendId, mpsc::Sender<FrontendEvent>>,
    next_frontend: FrontendId,
    backlog: VecDeque<FrontendEvent>,
    backlog_dropped: usize,
    peers: HashMap<PeerId, PeerState>,
    status: Option<String>,
    /// Message ids are this run's random prefix and a counter: unique without asking the
    /// OS for randomness on every message.
    id_prefix: [u8; 8],
    id_counter: u64,
    /// Inputs handled so far: the hub's logical clock.
    inputs_seen: u64,
    /// The durable store; without one (tests), received messages live in memory.
    store: Option<Store>,
    /// Expiry and retention (from `settings`).
    limits: StoreConfig,
    /// The settings `set` changes live (persisted in the store).
    settings: Settings,
    /// The user's contacts; front ends get a snapshot whenever it changes.
    book: Arc<ContactBook>,
    /// Senders who are not contacts and were announced already.
    senders: HashMap<PeerId, SenderState>,
    /// Peers who are not contacts that the user wrote to (this run, or with messages still
    /// in the outbox): their messages are shown as replies, never announced nor held.
    wrote_to: HashSet<PeerId>,
    /// Senders told about once because their held messages hit the bound (at most
    /// `MAX_SENDERS`; cleared by `accept` and `reject`).
    held_full: HashSet<PeerId>,
    /// The user was told that held messages are full in all (told once until there is room).
    held_total_full: bool,
    /// The peers each front end watches (beside the contacts, which are always watched).
    watches: HashMap<FrontendId, HashSet<PeerId>>,
    /// The last presence front ends were told, per watched peer.
    presence: HashMap<PeerId, Presence>,
    /// The user's away reason.
    own_away: Option<String>,
    /// Peers (with a session) that told us they are away.
    peer_away: HashMap<PeerId, String>,
    /// Our addresses as last published, and when.
    published: Option<(Vec<SocketAddr>, u64)>,
    /// The port mapping's line for `status` (None: mapping not tried).
    port_mapping: Option<String>,
    reachability: Option<crate::reach::ReachState>,
    /// A [`RouterInput::FlushAcks`] is on its way.
    acks_flush_due: bool,
    /// Sent messages in the store's open write (group commit): each is echoed to the
    /// front ends (the event, when any was attached) once its ticket is durable; the peer
    /// it went to (`None`: a group's members) is told about when the write is lost.
    unsettled: Vec<(Ticket, Option<PeerId>, Option<FrontendEvent>)>,
    /// Front ends that show no echoes of sent messages ([`FrontendRequest::Echoes`]).
    no_echoes: HashSet<FrontendId>,
    /// The groups we are in or invited to (`groups.rs`).
    groups: groups::Groups,
    /// Budgets of peers that are not contacts: new senders, the history quota.
    strangers: strangers::Strangers,
    /// Stored received messages each front end has taken but not yet reported written
    /// ([`FrontendRequest::Shown`]), each with whether the store holds it as shown already
    /// (a live message) or not (a played-back one): a playback skips them (they are on their
    /// way), and when the front end goes away, its live ones go back to unshown.
    in_flight: HashMap<FrontendId, HashMap<crate::message::StoredRow, bool>>,
    /// A [`RouterInput::FlushShown`] is on its way.
    shown_flush_due: bool,
    /// Replies waiting behind one still being prepared, per front end (`replies.rs`).
    waiting: replies::Waiting,
    /// The last place reserved in a line of replies.
    next_slot: u64,
}

impl Router {
    pub fn new(ctx: PeerContext) -> Self {
        Self {
            ctx,
            frontends: HashMap::new(),
            next_frontend: 1,
            backlog: VecDeque::new(),
            backlog_dropped: 0,
            peers: HashMap::new(),
            status: None,
            acks_flush_due: false,
            unsettled: Vec::new(),
            groups: groups::Groups::default(),
            no_echoes: HashSet::new(),
            strangers: strangers::Strangers::new(
                crate::policy::strangers::DEFAULT_NEW_SENDERS_PER_MINUTE,
            ),
            in_flight: HashMap::new(),
            shown_flush_due: false,
            waiting: replies::Waiting::new(),
            next_slot: 0,
            // Should the OS have no randomness, the clock still makes runs distinct.
            id_prefix: random_bytes().unwrap_or_else(|_| now_ms().to_be_bytes()),
            id_counter: 0,
            inputs_seen: 0,
            store: None,
            limits: StoreConfig::default(),
            settings: Settings::new(UnknownSenders::default(), &StoreConfig::default()),
            book: Arc::default(),
            senders: HashMap::new(),
            wrote_to: HashSet::new(),
            held_full: HashSet::new(),
            held_total_full: false,
            watches: HashMap::new(),
            presence: HashMap::new(),
            own_away: None,
            peer_away: HashMap::new(),
            published: None,
            port_mapping: None,
            reachability: None,
        }
    }

    /// A hub that keeps messages in `store`: the outbox until peers acknowledge them,
    /// received ones until a front end has shown them (and as history, per `limits`).
    pub fn with_store(ctx: PeerContext, store: Store, limits: StoreConfig) -> Self {
        Self::open(
            ctx,
            store,
            Settings::new(UnknownSenders::default(), &limits),
        )
    }

    /// A hub on `store` with the configured `settings`; the settings changed with `set`
    /// and saved in the store override them. Loads the contacts and remembered senders.
    pub fn open(ctx: PeerContext, store: Store, settings: Settings) -> Self {
        let mut router = Self {
            store: Some(store),
            ..Self::new(ctx)
        };
        router.load(settings);
        router.load_groups();
        router
    }

    fn next_message_id(&mut self) -> MessageId {
        self.id_counter += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.id_prefix);
        id[8..].copy_from_slice(&self.id_counter.to_be_bytes());
        MessageId(id)
    }

    /// Handles one input. Never blocks: it runs under the hub's lock in the caller's task.
    pub fn handle(&mut self, input: RouterInput) {
        self.inputs_seen += 1;
        // Nothing else happens inside the open write of an earlier input.
        self.settle();
        match input {
            RouterInput::Attach { events, reply } => {
                let id = self.next_frontend;
                self.next_frontend += 1;
                self.greet(&events);
                if let Some(status) = &self.status {
                    let _ = events.try_send(FrontendEvent::ServerNotice {
                        text: status.clone(),
                    });
                }
                if self.backlog_dropped > 0 {
                    let text = match self.backlog_dropped {
                        1 => "1 older event was dropped while no client was attached".into(),
                        n => format!("{n} older events were dropped while no client was attached"),
                    };
                    let _ = events.try_send(FrontendEvent::ServerNotice { text });
                    self.backlog_dropped = 0;
                }
                self.frontends.insert(id, events);
                let backlog = std::mem::take(&mut self.backlog);
                for event in backlog {
                    self.broadcast(event);
                }
                self.play_back();
                let _ = reply.send(id);
            }
            RouterInput::Detach(id) => {
                self.frontends.remove(&id);
                self.waiting.remove(&id);
                self.forget_in_flight(id);
                self.no_echoes.remove(&id);
                self.unwatch_all(id);
            }
            RouterInput::Request {
                from,
                request: FrontendRequest::Shown(rows),
            } => self.shown(from, &rows),
            RouterInput::Request { from, request } => self.requests(from, vec![request]),
            RouterInput::Requests { from, requests } => self.requests(from, requests),
            RouterInput::SessionUp(handle) => self.session_up(handle),
            RouterInput::Received { peer, messages } => {
                self.note_traffic(peer, true, false);
                self.receive(peer, messages);
            }
            RouterInput::SessionEnded {
                peer,
                conn_id,
                unsent,
                error,
            } => self.session_ended(peer, conn_id, unsent, error),
            RouterInput::DialFailed { peer, error } => {
                self.presence_dial_failed(peer);
                self.dial_failed(peer, error);
            }
            RouterInput::PeerAway { peer, reason } => self.peer_away(peer, reason),
            RouterInput::GroupHeads { peer, group, heads } => self.group_heads(peer, group, heads),
            RouterInput::Probe(peer) => self.probe_due(peer),
            RouterInput::Published(addrs) => self.published = Some((addrs, now_ms())),
            RouterInput::PortMapping(line) => self.port_mapping = Some(line),
            RouterInput::Reachability(state) => self.reachability = Some(state),
            RouterInput::Reply { to, slot, event } => self.fill_reply(to, slot, event),
            RouterInput::Acknowledged { peer, ids } => self.acknowledged(peer, &ids),
            RouterInput::FlushAcks => self.flush_acks(),
            RouterInput::FlushShown => self.flush_shown(),
            RouterInput::Retry(peer) => self.flush(peer),
            RouterInput::Resume => {
                self.resume();
                self.probe_contacts();
            }
            RouterInput::Maintain => self.maintain(),
            RouterInput::PruneHistory { before_ms, after } => self.prune_history(before_ms, after),
            RouterInput::AnnounceSenders => self.announce_senders(),
            RouterInput::Status(text) => {
                // Kept as the current state, which every front end gets when it attaches;
                // so it goes only to those attached now, never into the backlog.
                self.status = Some(text.clone());
                if !self.frontends.is_empty() {
                    self.broadcast(FrontendEvent::ServerNotice { text });
                }
            }
        }
    }

    fn peer(&mut self, peer: PeerId) -> &mut PeerState {
        if self.peers.len() >= MAX_PEER_STATES && !self.peers.contains_key(&peer) {
            self.evict_idle_peers();
        }
        let state = self.peers.entry(peer).or_insert_with(PeerState::new);
        state.last_activity = self.inputs_seen;
        state
    }

    /// Forgets the least recently active tenth of the idle peers. Their remembered message
    /// ids go too, so a very late resend from one of them could show twice; acks make such
    /// resends rare, and the durable store will keep ids for good.
    fn evict_idle_peers(&mut self) {
        let mut idle: Vec<(u64, PeerId)> = self
            .peers
            .iter()
            .filter(|(_, s)| s.is_idle())
            .map(|(id, s)| (s.last_activity, *id))
            .collect();
        idle.sort_unstable();
        for (_, id) in idle.iter().take((MAX_PEER_STATES / 10).max(1)) {
            self.peers.remove(id);
        }
    }
}

mod contacts;
mod control;
mod deliver;
mod group_inbox;
mod group_views;
mod groups;
mod handle;
mod inbox;
pub use handle::{RouterHandle, channel};
mod notices;
mod outbox;
mod presence;
mod redial;
mod replies;
mod sessions;
mod strangers;
pub use inbox::Receipt;
pub use outbox::{RETRY_MAX, RETRY_MIN};
pub use presence::{MAX_WATCHES, PROBE_MAX};
#[cfg(test)]
mod block_tests;
#[cfg(test)]
mod control_tests;
#[cfg(test)]
mod group_net;
#[cfg(test)]
mod groups_tests;
#[cfg(test)]
mod notice_tests;
#[cfg(test)]
mod reply_tests;
#[cfg(test)]
mod shown_tests;
#[cfg(test)]
mod tests;
