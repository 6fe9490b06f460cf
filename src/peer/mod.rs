//! Peers: the messages inside a session ([`wire`]), the handshake over a stream
//! ([`transport`]), the session task ([`session`]), and here the two ways a session
//! starts: dialling a peer found in the directory, and accepting a connection.

pub mod session;
pub mod transport;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ed25519_dalek::SigningKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
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
    #[error("unreachable at {addrs}: {last_error}")]
    Unreachable { addrs: String, last_error: String },
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

    /// Finds `peer` in the directory, connects, authenticates it, and starts a session.
    pub async fn dial(&self, peer: PeerId) -> Result<(), DialError> {
        if self.blocked.contains(&peer) {
            return Err(DialError::Blocked);
        }
        let mut fresh_lookup_done = false;
        loop {
            let found = self
                .directory
                .lookup(peer)
                .await
                .map_err(|e| DialError::Directory(e.to_string()))?
                .ok_or(DialError::NotFound)?;
            fresh_lookup_done |= !found.from_cache;
            let mut last_error = String::from("no address");
            for &addr in &found.record.addrs {
                match self.connect(peer, addr).await {
                    Ok((stream, keys)) => {
                        // Blocked while the dial was under way: close before any session.
                        if self.blocked.contains(&peer) {
                            return Err(DialError::Blocked);
                        }
                        self.start_session(stream, keys, self.own, Some(addr));
                        return Ok(());
                    }
                    Err(PeerError::Handshake(HandshakeError::WrongPeer { found, .. })) => {
                        let found = PeerId::from_bytes(found)
                            .map(|p| p.nick())
                            .unwrap_or_else(|_| "?".into());
                        tracing::warn!(peer = %peer.short(), %addr, %found, "peer at the published address proved another key");
                        self.directory.forget(&peer);
                        return Err(DialError::WrongPeer { addr, found });
                    }
                    Err(e) => {
                        tracing::debug!(peer = %peer.short(), %addr, error = %e, "dial failed");
                        last_error = e.to_string();
                    }
                }
            }
            // A cached address may be stale: ask the network once before giving up.
            if found.from_cache && !fresh_lookup_done {
                self.directory.forget(&peer);
                fresh_lookup_done = true;
                continue;
            }
            let addrs = found
                .record
                .addrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            return Err(DialError::Unreachable { addrs, last_error });
        }
    }

    async fn connect(
        &self,
        peer: PeerId,
        addr: SocketAddr,
    ) -> Result<(TcpStream, SessionKeys), PeerError> {
        let mut stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr))
            .await
            .map_err(|_| PeerError::Io(std::io::ErrorKind::TimedOut.into()))??;
        stream.set_nodelay(true)?;
        let keys = tokio::time::timeout(
            self.timers.handshake,
            transport::initiate(&mut stream, &self.identity, peer),
        )
        .await
        .map_err(|_| PeerError::HandshakeTimeout)??;
        Ok((stream, keys))
    }

    /// Accepts peer connections until shutdown, bounding handshakes in progress.
    pub async fn accept_loop(self, listener: TcpListener) {
        let global = Arc::new(Semaphore::new(MAX_PENDING_HANDSHAKES));
        let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let (stream, from) = match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors, most likely: back off instead of spinning.
                    tracing::warn!(error = %e, "accepting a peer connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if self.sessions.load(Ordering::Relaxed) >= self.max_sessions {
                tracing::debug!(%from, max = self.max_sessions, "session cap reached; dropping connection");
                continue;
            }
            let Ok(permit) = global.clone().try_acquire_owned() else {
                tracing::debug!(%from, "too many handshakes in progress; dropping connection");
                continue;
            };
            let Some(ip_slot) = IpSlot::take(&per_ip, from.ip()) else {
                tracing::debug!(%from, "too many handshakes from this address; dropping connection");
                continue;
            };
            let ctx = self.clone();
            self.tracker.spawn(async move {
                let mut stream = stream;
                let _ = stream.set_nodelay(true);
                let result = tokio::select! {
                    _ = ctx.shutdown.cancelled() => return,
                    r = tokio::time::timeout(ctx.timers.handshake, transport::respond(&mut stream, &ctx.identity)) => r,
                };
                drop(ip_slot);
                drop(permit);
                match result {
                    Ok(Ok(keys)) => {
                        let initiator = PeerId::from_bytes(keys.peer.to_bytes());
                        match initiator {
                            // The handshake has just proved who dialled: a blocked peer's
                            // connection is closed here, before any session exists.
                            Ok(initiator) if ctx.blocked.contains(&initiator) => {
                                tracing::debug!(%from, peer = %initiator.short(), "refusing a blocked peer");
                            }
                            Ok(initiator) => ctx.start_session(stream, keys, initiator, Some(from)),
                            Err(_) => {}
                        }
                    }
                    Ok(Err(e)) => tracing::debug!(%from, error = %e, "inbound handshake failed"),
                    Err(_) => tracing::debug!(%from, "inbound handshake timed out"),
                }
            });
        }
    }
}

/// One live session in [`PeerContext::sessions`], counted down on drop.
struct SessionCount(Arc<AtomicUsize>);

impl Drop for SessionCount {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A per-IP count of handshakes in progress, released on drop.
struct IpSlot {
    map: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl IpSlot {
    fn take(map: &Arc<Mutex<HashMap<IpAddr, usize>>>, ip: IpAddr) -> Option<Self> {
        let mut guard = map.lock().unwrap_or_else(|p| p.into_inner());
        let count = guard.entry(ip).or_insert(0);
        if *count >= MAX_PENDING_PER_IP {
            return None;
        }
        *count += 1;
        Some(Self {
            map: map.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut guard = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = guard.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                guard.remove(&self.ip);
            }
        }
    }
}
