//! Wires a gateway together: identity, listeners, directory, hub, publisher; and takes it
//! down again. [`Gateway::start`] returns once everything listens, so tests can bind port 0
//! and read the addresses back.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::config::Serve;
use crate::control::Settings;
use crate::crypto::PROTOCOL_VERSION;
use crate::directory::bootstrap::{Resolve, SystemResolver};
use crate::directory::mainline::MainlineDirectory;
use crate::directory::node::HealTimers;
use crate::directory::{Directory, DirectoryError, DirectoryInfo, PublishedRecord};
use crate::identity::{self, IdentityError, PeerId};
use crate::irc::{self, ClientSettings};
use crate::net::portmap;
use crate::peer::{DialRules, PeerContext, SessionTimers};
use crate::policy::relay::RelayLimits;
use crate::reach::ReachState;
use crate::reach::keeper::Keeper;
use crate::relay::server::RelayServer;
use crate::router::{Router, RouterHandle, RouterInput};
use crate::store::{Store, StoreError};

/// Republish the address record this often (a random point in 30..60 minutes, so that
/// gateways started together do not publish together).
pub const REPUBLISH_MIN: Duration = Duration::from_secs(30 * 60);
/// How often the publisher checks whether the reachable address changed.
pub const ADDRESS_CHECK: Duration = Duration::from_secs(60);
/// Retry a failed publish after this long, doubling up to [`PUBLISH_BACKOFF_MAX`].
pub const PUBLISH_BACKOFF_MIN: Duration = Duration::from_secs(5);
pub const PUBLISH_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);
/// How long shutdown waits for tasks to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Errors starting a gateway.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Lock(#[from] crate::datadir_lock::LockError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error("cannot listen for IRC clients on {addr}: {error}")]
    IrcListen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot listen for peers on {addr}: {error}")]
    PeerListen {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("{0}")]
    Directory(#[from] DirectoryError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// Knobs for embedding a gateway (tests, the demo); `Default` is what `disims run` uses.
#[derive(Default)]
pub struct Options {
    /// Use this directory instead of starting a mainline DHT node.
    pub directory: Option<Arc<dyn Directory>>,
    pub timers: SessionTimers,
    pub irc: irc::conn::IrcLimits,
    /// Sessions at most before inbound connections are refused; `None`: what the open-file
    /// limit allows ([`crate::peer::default_max_sessions`]).
    pub max_sessions: Option<usize>,
    /// Budgets of the peer port (handshakes in progress, msg1s answered, session shares).
    pub inbound: crate::policy::inbound::InboundLimits,
    /// How the gateway's own DHT node resolves names and heals (unused with `directory`).
    pub dht: DhtOptions,
    /// Budgets of the relay this gateway runs (`[relay] serve`).
    pub relay_limits: RelayLimits,
}

/// How the gateway's own DHT node resolves bootstrap names and heals; tests fake the
/// resolver and shorten the timers.
#[derive(Clone)]
pub struct DhtOptions {
    pub resolver: Arc<dyn Resolve>,
    pub heal: HealTimers,
}

impl Default for DhtOptions {
    fn default() -> Self {
        Self {
            resolver: Arc::new(SystemResolver),
            heal: HealTimers::default(),
        }
    }
}

/// A running gateway.
pub struct Gateway {
    pub peer_id: PeerId,
    pub irc_addr: SocketAddr,
    pub peer_addr: SocketAddr,
    /// True when this start created the identity.
    pub created_identity: bool,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    router: RouterHandle,
    /// Held until the gateway is stopped (dropped at the end of [`Gateway::shutdown`]).
    _data_lock: crate::datadir_lock::DataDirLock,
}

impl Gateway {
    /// Starts every task of a gateway and returns once it listens.
    pub async fn start(config: Config, options: Options) -> Result<Gateway, DaemonError> {
        // First: a second gateway on this data dir would share the identity and the store
        // (after the dir's permissions check, so nothing is written into an open dir).
        identity::check_private_dir(&config.data_dir)?;
        let data_lock = crate::datadir_lock::DataDirLock::acquire(&config.data_dir)?;
        let (signing_key, created_identity) = identity::load_or_create(&config.data_dir)?;
        let identity = Arc::new(signing_key);
        let store = Store::open(&config.data_dir)?;
        let peer_id = PeerId::of(&identity);

        let (irc_listener, irc_addr) =
            bind(config.irc.listen, false)
                .await
                .map_err(|error| DaemonError::IrcListen {
                    addr: config.irc.listen,
                    error,
                })?;
        let (peer_listener, peer_addr) =
            bind(config.peer.listen, true)
                .await
                .map_err(|error| DaemonError::PeerListen {
                    addr: config.peer.listen,
                    error,
                })?;

        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let directory: Arc<dyn Directory> = match options.directory {
            Some(directory) => directory,
            None => {
                let dht_config = config.dht.clone();
                let data_dir = config.data_dir.clone();
                let DhtOptions { resolver, heal } = options.dht;
                let signer = (*identity).clone();
                // Starting resolves the bootstrap host names: blocking work.
                let directory = tokio::task::spawn_blocking(move || {
                    MainlineDirectory::start(&dht_config, Some(data_dir), resolver, heal, signer)
                })
                .await
                .map_err(|e| DirectoryError::Start(std::io::Error::other(e)))??;
                tracker.spawn(directory.node().run(shutdown.clone()));
                Arc::new(directory)
            }
        };

        let router_handle = RouterHandle::hub();
        let mut ctx = PeerContext::new(
            identity.clone(),
            directory.clone(),
            router_handle.clone(),
            options.timers,
            shutdown.clone(),
            tracker.clone(),
        );
        if let Some(max) = options.max_sessions {
            ctx.max_sessions = max;
        }
        // The dialler never connects to this gateway itself, whatever a record says.
        ctx.dial_rules = DialRules::new(config.peer.dial, vec![peer_addr, irc_addr]);
        ctx.dial_rules.set_published(&config.peer.advertise);
        ctx.set_inbound(options.inbound);
        ctx.obfs = config.transport.obfs();
        if config.relay.serve != Serve::Off {
            let contacts = ctx.contacts.clone();
            let server = RelayServer::new(
                peer_id,
                options.relay_limits,
                config.relay.serve,
                Box::new(move |key| contacts.contains(key)),
            );
            server.set_plain_control(config.relay.plain_control);
            tracker.spawn(sweep_loop(server.clone(), shutdown.clone()));
            ctx.relay = Some(server);
        }
        router_handle.install(Router::open(
            ctx.clone(),
            store,
            Settings::from_config(&config),
        ));
        // Messages accepted before a restart go out first.
        router_handle.dispatch(RouterInput::Resume);
        tracker.spawn(ctx.clone().accept_loop(peer_listener));
        let settings = Arc::new(ClientSettings {
            own: peer_id,
            password: config.irc.password.clone(),
            server_name: "disims".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        });
        tracker.spawn(irc::conn::accept_loop(
            irc_listener,
            settings,
            router_handle.clone(),
            shutdown.clone(),
            tracker.clone(),
            irc::conn::IrcLimits {
                lines_per_second: config.irc.lines_per_second,
                line_burst: config.irc.line_burst,
                ..options.irc
            },
        ));
        tracker.spawn(maintenance_loop(
            router_handle.clone(),
            config.store.expire_after,
            shutdown.clone(),
        ));
        let (mapping_tx, mapping) = tokio::sync::watch::channel(portmap::State::Idle);
        // A router is asked only where it could help: addresses set by hand are the user's
        // choice, a loopback listener is not reachable through any router, and a host with
        // a public IPv4 address of its own is not behind one.
        let mapping_asked = config.peer.port_mapping
            && config.peer.advertise.is_empty()
            && !peer_addr.ip().is_loopback()
            && portmap::needed(&portmap::interface_addresses());
        if mapping_asked {
            tracker.spawn(portmap::run(peer_addr.port(), mapping_tx, shutdown.clone()));
        }
        // Reachability and relays matter only where the published address is derived
        // (not set by hand, not a specific listen address).
        let (reach_tx, reach) = tokio::sync::watch::channel(ReachState::default());
        if config.peer.advertise.is_empty() && peer_addr.ip().is_unspecified() {
            tracker.spawn(
                Keeper {
                    ctx: ctx.clone(),
                    config: config.relay.clone(),
                    port: peer_addr.port(),
                    mapping: mapping.clone(),
                    mapping_asked,
                    state: reach_tx,
                }
                .run(),
            );
        }
        tracker.spawn(publish_loop(
            directory,
            ctx.dial_rules.clone(),
            Addresses {
                configured: config.peer.advertise.clone(),
                bound: peer_addr,
                mapping,
                reach,
            },
            router_handle.clone(),
            shutdown.clone(),
        ));
        tracing::info!(nick = %peer_id, irc = %irc_addr, peer = %peer_addr, "gateway started");
        Ok(Gateway {
            peer_id,
            irc_addr,
            peer_addr,
            created_identity,
            shutdown,
            tracker,
            router: router_handle,
            _data_lock: data_lock,
        })
    }

    /// A handle on the gateway's hub: front ends attach through it (tests drive the hub
    /// with it, without IRC).
    pub fn router(&self) -> RouterHandle {
        self.router.clone()
    }

    /// A token that stops the gateway when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops every task: IRC clients get an ERROR line, peers a Close message.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        self.tracker.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within {SHUTDOWN_GRACE:?}");
        }
        // The hub holds handles on itself (through the peer context): take it down.
        self.router.close();
        tracing::info!(nick = %self.peer_id.short(), "gateway stopped");
    }
}

/// Binds a TCP listener; returns it with the address actually bound (port 0 resolved).
/// The peer listener shares its port with the direct upgrade's connects
/// (`SO_REUSEPORT`, [`crate::peer::upgrade::reuse_listener`]).
async fn bind(addr: SocketAddr, shared: bool) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = match shared {
        true => crate::peer::upgrade::reuse_listener(addr)?,
        false => TcpListener::bind(addr).await?,
    };
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

/// Expires old outgoing messages and prunes the history, every minute (more often when the
/// expiry itself is short, as in tests).
async fn maintenance_loop(
    router: RouterHandle,
    expire_after: Duration,
    shutdown: CancellationToken,
) {
    let every = (expire_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => router.dispatch(RouterInput::Maintain),
        }
    }
}

/// Ends the relay's expired reservations and idle circuits, every second.
async fn sweep_loop(server: Arc<RelayServer>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => server.sweep(std::time::Instant::now()),
        }
    }
}

/// What the publisher derives our addresses from.
struct Addresses {
    /// `[peer] advertise`.
    configured: Vec<SocketAddr>,
    /// The peer listener's address.
    bound: SocketAddr,
    /// The router's port mapping ([`portmap::run`]), if it is asked for one.
    mapping: tokio::sync::watch::Receiver<portmap::State>,
    /// Reachability and the relays held ([`Keeper`]).
    reach: tokio::sync::watch::Receiver<ReachState>,
}

/// The addresses to publish: configured ones; else the router's mapping while there is
/// one; else the listen IP when it is specific; else the public IPv4 address the DHT
/// sees, with our peer port.
fn advertised(
    info: &DirectoryInfo,
    configured: &[SocketAddr],
    mapped: Option<SocketAddr>,
    bound: SocketAddr,
) -> Vec<SocketAddr> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    if let Some(mapped) = mapped {
        return vec![mapped];
    }
    if !bound.ip().is_unspecified() {
        return vec![bound];
    }
    match info.public_addr {
        Some(public) => vec![SocketAddr::new(IpAddr::V4(*public.ip()), bound.port())],
        None => Vec::new(),
    }
}

/// Tells the log and the front ends a new DHT status; a status equal to the last one is
/// not repeated.
fn announce(router: &RouterHandle, last: &mut String, status: String, problem: bool) {
    if status == *last {
        return;
    }
    if problem {
        tracing::warn!("{status}");
    } else {
        tracing::info!("{status}");
    }
    router.dispatch(RouterInput::Status(status.clone()));
    *last = status;
}

/// Publishes our record at start, whenever the address changes, and every 30-60 minutes;
/// retries with backoff while the DHT is unreachable, and tells the front ends its state:
/// what is wrong once, and once when it recovers.
async fn publish_loop(
    directory: Arc<dyn Directory>,
    dial_rules: DialRules,
    mut addresses: Addresses,
    router: RouterHandle,
    shutdown: CancellationToken,
) {
    let (configured, bound) = (addresses.configured.clone(), addresses.bound);
    let mut mapping_state = portmap::State::Idle;
    let mut reach = ReachState::default();
    let mut published: Option<(PublishedRecord, tokio::time::Instant)> = None;
    let mut backoff = PUBLISH_BACKOFF_MIN;
    let mut last_status = String::new();
    let mut down = false;
    let republish = REPUBLISH_MIN
        + Duration::from_secs(
            u64::from(
                identity::random_bytes::<2>()
                    .map(u16::from_be_bytes)
                    .unwrap_or(0),
            ) % (30 * 60),
        );
    loop {
        let state = addresses.mapping.borrow_and_update().clone();
        if state != mapping_state {
            router.dispatch(RouterInput::PortMapping(state.to_string()));
            mapping_state = state;
        }
        let state = addresses.reach.borrow_and_update().clone();
        if state != reach {
            router.dispatch(RouterInput::Reachability(state.clone()));
            reach = state;
        }
        let mapped = mapping_state.mapped().map(|m| SocketAddr::V4(m.external));
        let info = directory.info().await;
        let mut wait = ADDRESS_CHECK;
        if let Some(problem) = info.problem {
            // Our node is off the DHT and knows why: say it (once), publish nothing.
            announce(&router, &mut last_status, problem, true);
            down = true;
            wait = PUBLISH_BACKOFF_MIN;
        } else {
            if std::mem::take(&mut down) {
                let nodes = crate::control::count(info.nodes.unwrap_or(0), "node");
                announce(
                    &router,
                    &mut last_status,
                    format!("DHT: reachable again ({nodes} known)"),
                    false,
                );
            }
            let addrs = advertised(&info, &configured, mapped, bound);
            if !addrs.is_empty() {
                // Ours, published or about to be: the dialler must recognise them.
                dial_rules.set_published(&addrs);
            }
            let record = reach.record_for(PROTOCOL_VERSION, addrs);
            if info.nodes == Some(0) {
                // A fresh node, still asking its bootstrap nodes: too early to blame anyone.
                wait = Duration::from_secs(1);
                announce(
                    &router,
                    &mut last_status,
                    "DHT: joining the network".to_string(),
                    false,
                );
            } else if !record.behind_nat() && record.addrs().is_empty() {
                wait = PUBLISH_BACKOFF_MIN;
                announce(
                    &router,
                    &mut last_status,
                    "DHT: waiting to learn our public address before publishing it".to_string(),
                    false,
                );
            } else if published
                .as_ref()
                .is_none_or(|(r, at)| *r != record || at.elapsed() >= republish)
            {
                match directory.publish(&record).await {
                    Ok(()) => {
                        backoff = PUBLISH_BACKOFF_MIN;
                        router.dispatch(RouterInput::Published(record.addrs().to_vec()));
                        announce(&router, &mut last_status, published_line(&record), false);
                        published = Some((record, tokio::time::Instant::now()));
                    }
                    Err(e) => {
                        wait = backoff;
                        backoff = (backoff * 2).min(PUBLISH_BACKOFF_MAX);
                        announce(
                            &router,
                            &mut last_status,
                            format!("DHT: cannot publish our address: {e}; retrying"),
                            true,
                        );
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
            // A new mapping (or none any more), or new relays, are published at once.
            Ok(()) = addresses.mapping.changed() => {}
            Ok(()) = addresses.reach.changed() => {}
        }
    }
}

/// What the gateway says once a record is published.
fn published_line(record: &PublishedRecord) -> String {
    let list = |addrs: &[SocketAddr]| {
        addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match record {
        PublishedRecord::V1(r) => format!(
            "DHT: published our address ({}); peers can reach us",
            list(&r.addrs)
        ),
        PublishedRecord::V2(r) if r.relays.is_empty() => format!(
            "DHT: published that we are behind a NAT with no relay ({}); peers may not reach us",
            list(&r.addrs)
        ),
        PublishedRecord::V2(r) => format!(
            "DHT: published our relays ({}); peers reach us through them",
            r.relays
                .iter()
                .map(|e| format!("{} at {}", e.key.short(), list(&e.addrs)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_mapping_is_published_before_the_address_the_dht_sees() {
        let info = DirectoryInfo {
            public_addr: Some("198.51.100.7:40000".parse().unwrap()),
            ..DirectoryInfo::default()
        };
        let any: SocketAddr = "0.0.0.0:7667".parse().unwrap();
        let mapped: SocketAddr = "198.51.100.7:7668".parse().unwrap();
        let by_hand: SocketAddr = "192.0.2.1:7667".parse().unwrap();
        assert_eq!(advertised(&info, &[], Some(mapped), any), vec![mapped]);
        assert_eq!(
            advertised(&info, &[], None, any),
            vec!["198.51.100.7:7667".parse().unwrap()]
        );
        assert_eq!(
            advertised(&info, &[by_hand], Some(mapped), any),
            vec![by_hand]
        );
    }
}
