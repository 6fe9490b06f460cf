//! Peers: the messages inside a session ([`wire`]), the handshake over a stream
//! ([`transport`]), the session task ([`session`]), and here the two ways a session
//! starts: dialling a peer found in the directory, and accepting a connection.

mod accept;
mod codec;
pub use accept::InboundGate;
mod dial;
pub use dial::DialRules;
pub(crate) mod padding;
pub use padding::{DEFAULT_FRAME_PADDING, MAX_FRAME_PADDING};
pub mod session;
mod session_api;
pub mod transport;
pub mod upgrade;
mod upgrade_book;
pub mod wire;
#[cfg(test)]
mod wire_vectors;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::crypto::{FrameError, HandshakeError, SessionKeys};
use crate::directory::Directory;
use crate::identity::{IdentityError, PeerId};
use crate::policy::SourcePrefix;
use crate::policy::inbound::{self, InboundLimits, SessionKind, SessionLimits, SessionRegistry};
use crate::router::{RouterHandle, RouterInput};
pub use session::{SessionCommand, SessionHandle, SessionTimers};

/// A handshake must complete within this time, or the connection is closed (the default of
/// [`SessionTimers::handshake`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to one address may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many handshakes in progress at once (a flood of silent connections
/// must not exhaust memory or file descriptors); see [`inbound`] for the others.
pub const MAX_PENDING_HANDSHAKES: usize = inbound::PENDING_TOTAL;
/// At most this many handshakes in progress from one IP address.
pub const MAX_PENDING_PER_IP: usize = inbound::PENDING_PER_ADDRESS;

/// Errors of the peer layer; each closes one connection and nothing else.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("frame: {0}")]
    Frame(#[from] FrameError),
    #[error("message: {0}")]
    Wire(#[from] wire::WireError),
    #[error("no message from the peer for too long")]
    IdleTimeout,
    #[error("the peer does not read what we send")]
    WriteStalled,
    #[error("received messages could not be stored; not acknowledged")]
    NotStored,
    #[error("handshake timed out")]
    HandshakeTimeout,
    #[error("no msg1 in time")]
    Msg1Timeout,
    #[error("msg1 over the handshake budget (under load)")]
    OverBudget,
    #[error("{0}")]
    Identity(#[from] IdentityError),
}

/// Why a dial failed, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("no address published for this nick in the DHT (is the peer's gateway running?)")]
    NotFound,
    /// The lookup failed on our side (our DHT node is offline, see
    /// [`crate::directory::DirectoryError::Offline`]): it says nothing about the peer.
    #[error("not looked up, our side is offline: {0}")]
    Directory(String),
    #[error(
        "SECURITY: the gateway at {addr} proved key {found}, not the key of the nick you wrote; \
         nothing was sent to it (the DHT record or the address may be hijacked)"
    )]
    WrongPeer { addr: SocketAddr, found: String },
    #[error("unreachable at {addrs}: {last_error}{skipped}")]
    Unreachable {
        addrs: String,
        last_error: String,
        /// "; not tried: ..." (addresses the dial rules skipped), or empty.
        skipped: String,
    },
    #[error("the peer's record lists no address this gateway dials: {skipped}")]
    NoDialableAddress { skipped: String },
    #[error("you blocked this peer")]
    Blocked,
    /// The peer's record says it cannot be reached directly; none of its relays joined us
    /// (or it lists none).
    #[error("{}", behind_nat_text(*relays, last_error))]
    BehindNat { relays: usize, last_error: String },
}

fn behind_nat_text(relays: usize, last_error: &str) -> String {
    match relays {
        0 => format!(
            "its gateway is behind a NAT and has found no relay (it is not offline: nobody can reach it until it finds one; a friend with a reachable gateway can relay for it, see [relay] serve){}",
            if last_error.is_empty() || last_error == "no address" {
                String::new()
            } else {
                format!("; {last_error}")
            }
        ),
        n => format!(
            "its gateway is behind a NAT and none of its {n} relay(s) joined us ({last_error})"
        ),
    }
}

/// A set of peers the hub keeps up to date for the peer layer.
#[derive(Clone, Default, Debug)]
pub struct PeerSet(Arc<RwLock<HashSet<PeerId>>>);

/// Peers the user blocked: the peer layer refuses their connections as soon as the
/// handshake has proved who they are, and never dials them.
pub type Blocklist = PeerSet;

/// The user's contacts (not blocked): their sessions are not counted against strangers'
/// shares, and one arriving at a full session cap evicts the least active stranger.
pub type ContactSet = PeerSet;

impl PeerSet {
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(peer)
    }

    /// The peers in the set now.
    pub fn list(&self) -> Vec<PeerId> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        guard.iter().copied().collect()
    }

    /// Replaces the whole list.
    pub fn set(&self, peers: impl IntoIterator<Item = PeerId>) {
        let mut guard = self.0.write().unwrap_or_else(|p| p.into_inner());
        *guard = peers.into_iter().collect();
    }
}

/// What dialling and accepting need, shared by every task of a gateway.
#[derive(Clone)]
pub struct PeerContext {
    pub identity: Arc<SigningKey>,
    pub own: PeerId,
    pub directory: Arc<dyn Directory>,
    pub router: RouterHandle,
    pub timers: SessionTimers,
    pub shutdown: CancellationToken,
    pub tracker: TaskTracker,
    /// Peers whose connections are refused (shared with the hub, which updates it).
    pub blocked: Blocklist,
    /// The user's contacts (shared with the hub, which updates it).
    pub contacts: ContactSet,
    /// The other members of the groups the user is in (not blocked; shared with the hub,
    /// which updates it): their sessions count as contacts' in the session shares, since
    /// the user chose to talk with them, though they are not contacts elsewhere (relay
    /// service, rate budgets).
    pub co_members: PeerSet,
    /// Sessions up at most (each holds a file descriptor: without a cap, fresh keys could
    /// use them all up, IRC's too); strangers get a share of it ([`SessionLimits`]).
    pub max_sessions: usize,
    /// What the dialler may connect to (`[peer] dial`, our own addresses).
    pub dial_rules: DialRules,
    /// Budgets of the peer port: handshakes in progress, msg1s answered, session shares
    /// (set with [`PeerContext::set_inbound`]).
    pub inbound: InboundLimits,
    /// Version 2's handshake and frame padding, and whether version 1 is still answered.
    pub obfs: transport::Obfs,
    /// Handshakes in progress and the msg1 budget, by those limits.
    gate: Arc<InboundGate>,
    /// The relay this gateway runs for others (`[relay] serve`), if any.
    pub relay: Option<Arc<crate::relay::server::RelayServer>>,
    /// Dial-backs we asked a relay for, awaited as probes on the peer port.
    pub probes: crate::relay::probe::Probes,
    /// Sessions up now.
    sessions: Arc<Mutex<SessionRegistry<LiveSession>>>,
    /// Direct upgrades of relayed sessions: in flight, backoffs ([`upgrade::Book`]).
    upgrades: Arc<Mutex<upgrade::Book>>,
    next_conn_id: Arc<AtomicU64>,
}

/// When a session last carried a chat, either way (Unix ms; its start until then): the
/// least active stranger is evicted first. The session task updates it.
#[derive(Clone, Debug, Default)]
pub struct Activity(Arc<AtomicU64>);

impl Activity {
    fn at(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }

    /// Traffic now.
    pub fn touch(&self) {
        self.0.store(crate::router::now_ms(), Ordering::Relaxed);
    }

    pub fn last_ms(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the peer layer keeps of a running session, to evict it. (A weak sender: the
/// session still ends when the hub drops its handles, as before.)
struct LiveSession {
    commands: mpsc::WeakUnboundedSender<SessionCommand>,
    activity: Activity,
}

/// File descriptors kept for everything but peer sessions (IRC clients, the store, the DHT).
pub const FD_RESERVE: u64 = 256;

/// The default session cap: what the open-file limit leaves after [`FD_RESERVE`].
pub fn default_max_sessions() -> usize {
    match rlimit::Resource::NOFILE.get() {
        Ok((soft, _)) => soft.saturating_sub(FD_RESERVE).max(16) as usize,
        Err(_) => 1000,
    }
}

impl PeerContext {
    pub fn new(
        identity: Arc<SigningKey>,
        directory: Arc<dyn Directory>,
        router: RouterHandle,
        timers: SessionTimers,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> Self {
        let own = PeerId::of(&identity);
        // One set with the sessions' rate gate: the hub updates it once for both.
        let contacts = router.gate().contacts().clone();
        Self {
            identity,
            own,
            directory,
            router,
            timers,
            shutdown,
            tracker,
            blocked: Blocklist::default(),
            contacts,
            co_members: PeerSet::default(),
            max_sessions: default_max_sessions(),
            dial_rules: DialRules::default(),
            inbound: InboundLimits::default(),
            obfs: transport::Obfs::default(),
            gate: InboundGate::new(&InboundLimits::default()),
            relay: None,
            probes: crate::relay::probe::Probes::new(),
            sessions: Arc::default(),
            upgrades: Arc::default(),
            next_conn_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Sets the peer port's budgets (before the accept loop starts).
    pub fn set_inbound(&mut self, limits: InboundLimits) {
        self.gate = InboundGate::new(&limits);
        self.inbound = limits;
    }

    /// The session cap and its shares.
    pub fn session_limits(&self) -> SessionLimits {
        SessionLimits::derive(
            self.max_sessions,
            self.inbound.reserved_for_contacts,
            self.inbound.sessions_per_prefix,
        )
    }

    /// Sessions up now.
    pub fn sessions_up(&self) -> usize {
        self.registry().len()
    }

    fn registry(&self) -> MutexGuard<'_, SessionRegistry<LiveSession>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an established session with the router and runs it in a task; an inbound
    /// one is first given a place under the session cap ([`SessionRegistry::admit`]), or
    /// closed at once.
    fn start_session<S>(
        &self,
        stream: S,
        keys: SessionKeys,
        initiator: PeerId,
        remote: Option<SocketAddr>,
        via: Option<PeerId>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let peer = match PeerId::from_bytes(keys.peer.to_bytes()) {
            Ok(peer) => peer,
            Err(_) => return, // the handshake verified a signature with it: unreachable
        };
        let kind = match remote {
            _ if initiator == self.own => SessionKind::Outbound,
            _ if self.contacts.contains(&peer) || self.co_members.contains(&peer) => {
                SessionKind::Contact
            }
            Some(addr) => SessionKind::Stranger(SourcePrefix::of(addr.ip())),
            // Not TCP (tests' in-memory streams): nothing to share out.
            None => SessionKind::Outbound,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let started_ms = crate::router::now_ms();
        let activity = Activity::at(started_ms);
        let conn_id = self.next_conn_id.fetch_add(1, Ordering::Relaxed);
        let live = LiveSession {
            commands: tx.downgrade(),
            activity: activity.clone(),
        };
        let limits = self.session_limits();
        let admitted = self
            .registry()
            .admit(conn_id, kind, live, &limits, |s| s.activity.last_ms());
        match admitted {
            Ok(None) => {}
            Ok(Some(evicted)) => {
                tracing::debug!(peer = %peer.short(), "session cap reached: evicting the least active stranger");
                if let Some(commands) = evicted.commands.upgrade() {
                    let _ = commands.send(SessionCommand::Evict);
                }
            }
            Err(why) => {
                tracing::debug!(peer = %peer.short(), ?remote, %why, "no room for this session; closing");
                return;
            }
        }
        // A relayed session tries to become direct ([`upgrade`]).
        let upgrade = via.and_then(|_| {
            let role = match initiator == self.own {
                true => upgrade::Role::Initiator,
                false => upgrade::Role::Responder,
            };
            self.spawn_upgrade(
                peer,
                role,
                remote.filter(|_| role == upgrade::Role::Responder),
                &tx,
            )
        });
        let handle = SessionHandle {
            peer,
            conn_id,
            initiator,
            session_id: keys.transcript_hash,
            commands: tx,
            remote,
            via,
            started_ms,
            activity,
        };
        let ctx = self.clone();
        self.tracker.spawn(async move {
            // Forgotten however the task ends.
            let _slot = SessionSlot(ctx.sessions.clone(), conn_id);
            ctx.router.dispatch(RouterInput::SessionUp(handle.clone()));
            let ends = session::Ends {
                commands: rx,
                router: ctx.router.clone(),
                upgrade,
                frame_padding: ctx.obfs.frame_padding,
            };
            session::run_with(stream, keys, handle, ends, ctx.timers, ctx.shutdown.clone()).await;
        });
    }
}

/// One live session in [`PeerContext::sessions`], forgotten on drop.
struct SessionSlot(Arc<Mutex<SessionRegistry<LiveSession>>>, u64);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        let mut registry = self.0.lock().unwrap_or_else(|p| p.into_inner());
        registry.remove(self.1);
    }
}
