//! Peers: the messages inside a session ([`wire`]), the handshake over a stream
//! ([`transport`]), the session task ([`session`]), and here the two ways a session
//! starts: dialling a peer found in the directory, and accepting a connection.

mod accept;
mod dial;
pub use dial::DialRules;
pub mod session;
pub mod transport;
pub mod wire;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::crypto::{FrameError, HandshakeError, SessionKeys};
use crate::directory::Directory;
use crate::identity::{IdentityError, PeerId};
use crate::router::{RouterHandle, RouterInput};
pub use session::{SessionCommand, SessionHandle, SessionTimers};

/// A handshake must complete within this time, or the connection is closed (the default of
/// [`SessionTimers::handshake`]).
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to one address may take this long.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// At most this many handshakes in progress at once (a flood of silent connections
/// must not exhaust memory or file descriptors).
pub const MAX_PENDING_HANDSHAKES: usize = 256;
/// At most this many handshakes in progress from one IP address.
pub const MAX_PENDING_PER_IP: usize = 16;

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
    #[error("{0}")]
    Identity(#[from] IdentityError),
}

/// Why a dial failed, in words for the user.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("no address published for this nick in the DHT (is the peer's gateway running?)")]
    NotFound,
    #[error("DHT lookup failed: {0}")]
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
}

/// Peers the user blocked: the hub keeps it up to date, the peer layer refuses their
/// connections as soon as the handshake has proved who they are, and never dials them.
#[derive(Clone, Default, Debug)]
pub struct Blocklist(Arc<RwLock<HashSet<PeerId>>>);

impl Blocklist {
    pub fn contains(&self, peer: &PeerId) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(peer)
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
    /// Inbound connections are refused while this many sessions are up (each holds a file
    /// descriptor: without a cap, fresh keys could use them all up, IRC's too).
    pub max_sessions: usize,
    /// What the dialler may connect to (`[peer] dial`, our own addresses).
    pub dial_rules: DialRules,
    /// Sessions up now.
    sessions: Arc<AtomicUsize>,
    next_conn_id: Arc<AtomicU64>,
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
        Self {
            identity,
            own,
            directory,
            router,
            timers,
            shutdown,
            tracker,
            blocked: Blocklist::default(),
            max_sessions: default_max_sessions(),
            dial_rules: DialRules::default(),
            sessions: Arc::default(),
            next_conn_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Registers an established session with the router and runs it in a task.
    fn start_session<S>(
        &self,
        stream: S,
        keys: SessionKeys,
        initiator: PeerId,
        remote: Option<SocketAddr>,
    ) where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
    {
        let peer = match PeerId::from_bytes(keys.peer.to_bytes()) {
            Ok(peer) => peer,
            Err(_) => return, // the handshake verified a signature with it: unreachable
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = SessionHandle {
            peer,
            conn_id: self.next_conn_id.fetch_add(1, Ordering::Relaxed),
            initiator,
            session_id: keys.transcript_hash,
            commands: tx,
            remote,
            started_ms: crate::router::now_ms(),
        };
        let ctx = self.clone();
        self.sessions.fetch_add(1, Ordering::Relaxed);
        self.tracker.spawn(async move {
            // Counted down however the task ends.
            let _count = SessionCount(ctx.sessions.clone());
            ctx.router.dispatch(RouterInput::SessionUp(handle.clone()));
            session::run(
                stream,
                keys,
                handle,
                rx,
                ctx.router.clone(),
                ctx.timers,
                ctx.shutdown.clone(),
            )
            .await;
        });
    }
}

/// One live session in [`PeerContext::sessions`], counted down on drop.
struct SessionCount(Arc<AtomicUsize>);

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
