//! The gateway's mainline DHT node, kept alive: it bootstraps from the configured names
//! (resolved again on every try), the nodes saved by the last run and, on the public DHT, a
//! built-in list ([`super::bootstrap`]); while its routing table stays empty it resolves the
//! names again and, when they now give other addresses, starts a fresh node on the same port
//! with them (mainline 8 fixes a node's bootstrap list when it is built). It keeps one
//! sentence about what is wrong ([`HealingNode::problem`]), which the daemon's publisher
//! logs and shows in `&disims` once (here it is logged at debug level only, so that the log
//! says it once), and saves the routing table to the data dir periodically and at shutdown.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ::mainline::async_dht::AsyncDht;
use ::mainline::{Dht, DhtBuilder};
use tokio_util::sync::CancellationToken;

use super::DirectoryError;
use super::bootstrap::{self, Resolve, Resolved};
use super::nodes_file;
use crate::config::{DEFAULT_BOOTSTRAP, DhtConfig, DhtServerMode};

/// Tried addresses remembered at most (then forgotten, so that all count as new again).
const MAX_TRIED: usize = 4096;

/// How often the node is checked and healed.
#[derive(Clone, Copy, Debug)]
pub struct HealTimers {
    /// First re-check after a failed bootstrap; doubles up to `retry_max` while it fails.
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How long a fresh node may take to fill its routing table before it counts as failed.
    pub grace: Duration,
    /// How often the routing table is saved (and the node checked) while all is well.
    pub save_every: Duration,
}

impl Default for HealTimers {
    fn default() -> Self {
        Self {
            retry_min: Duration::from_secs(5),
            retry_max: Duration::from_secs(5 * 60),
            grace: Duration::from_secs(10),
            save_every: Duration::from_secs(10 * 60),
        }
    }
}

/// What the node is built from (fixed for its life; the port is never 0 here).
#[derive(Clone, Debug)]
struct Settings {
    names: Vec<String>,
    builtin: bool,
    bind: Ipv4Addr,
    port: u16,
    server_mode: bool,
    request_timeout: Duration,
    data_dir: Option<PathBuf>,
}

struct State {
    dht: Option<AsyncDht>,
    /// The addresses the current node was given.
    bootstrap: Vec<SocketAddrV4>,
    /// Every address a node of this run was given: a node is replaced only for addresses
    /// not tried yet (DNS answers in a rotating order, or a subset of a larger pool).
    tried: HashSet<SocketAddrV4>,
    built_at: Instant,
    resolved: Resolved,
    saved: Vec<SocketAddrV4>,
    problem: Option<String>,
}

/// The health of the node after a check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Nodes in the routing table.
    Joined(usize),
    /// A fresh node, still within its grace period.
    Starting,
    /// The routing table is empty; the sentence says why.
    Unreachable(String),
}

/// A self-healing mainline DHT node.
pub struct HealingNode {
    settings: Settings,
    resolver: Arc<dyn Resolve>,
    timers: HealTimers,
    state: Mutex<State>,
}

/// Picks the UDP port: the configured one, or for port 0 one the OS says is free (mainline
/// would try 6881 first, which is not what "port 0" means).
pub fn pick_port(listen: SocketAddrV4) -> std::io::Result<u16> {
    if listen.port() != 0 {
        return Ok(listen.port());
    }
    let probe = UdpSocket::bind(SocketAddr::V4(SocketAddrV4::new(*listen.ip(), 0)))?;
    Ok(probe.local_addr()?.port())
}

fn build(settings: &Settings, bootstrap: &[SocketAddrV4]) -> std::io::Result<Dht> {
    let mut builder = Dht::builder();
    builder
        .request_timeout(settings.request_timeout)
        .bind_address(settings.bind)
        .port(settings.port);
    if bootstrap.is_empty() {
        builder.no_bootstrap();
    } else {
        builder.bootstrap(bootstrap);
    }
    if settings.server_mode {
        builder.server_mode();
    }
    build_checked(&builder, SocketAddrV4::new(settings.bind, settings.port))
}

/// Builds a node that binds `addr`, which must be free. mainline 8's `Dht::new` panics
/// ("actor thread unexpectedly shutdown") instead of returning the error when its actor
/// thread fails to bind before the start message is sent; so the port is tried here first
/// (an in-use port is a plain error), and a panic left in that short race is caught.
pub fn build_checked(builder: &DhtBuilder, addr: SocketAddrV4) -> std::io::Result<Dht> {
    drop(UdpSocket::bind(SocketAddr::V4(addr))?);
    std::panic::catch_unwind(AssertUnwindSafe(|| builder.build())).unwrap_or_else(|_| {
        Err(std::io::Error::other(format!(
            "the DHT node could not start on {addr} (its UDP port may be in use)"
        )))
    })
}

impl HealingNode {
    /// Resolves the names, reads the saved nodes and starts the node. Blocking (DNS): call it
    /// from `spawn_blocking` in async code. Fails only when the UDP port cannot be bound; a
    /// DNS failure is reported by [`Self::problem`] and healed later.
    pub fn start(
        config: &DhtConfig,
        data_dir: Option<PathBuf>,
        resolver: Arc<dyn Resolve>,
        timers: HealTimers,
    ) -> Result<Self, DirectoryError> {
        let SocketAddr::V4(listen) = config.listen else {
            return Err(DirectoryError::Start(std::io::Error::other(
                "the DHT is IPv4 only",
            )));
        };
        let settings = Settings {
            names: config.bootstrap.clone(),
            builtin: config.bootstrap.len() == DEFAULT_BOOTSTRAP.len()
                && config
                    .bootstrap
                    .iter()
                    .zip(DEFAULT_BOOTSTRAP)
                    .all(|(a, b)| a == b),
            bind: *listen.ip(),
            port: pick_port(listen).map_err(DirectoryError::Start)?,
            server_mode: config.server_mode == DhtServerMode::Server,
            request_timeout: config.request_timeout,
            data_dir,
        };
        let saved = settings
            .data_dir
            .as_deref()
            .map(nodes_file::load)
            .unwrap_or_default();
        let resolved =
            bootstrap::resolve_names(&settings.names, &resolver, bootstrap::RESOLVE_WITHIN);
        let candidates = bootstrap::candidates(&resolved, &saved, settings.builtin);
        let dht = build(&settings, &candidates).map_err(DirectoryError::Start)?;
        // With nothing to try, the cause is known at once; otherwise the node gets its grace.
        let problem = (candidates.is_empty() && !settings.names.is_empty())
            .then(|| bootstrap::problem(&resolved, 0));
        if let Some(problem) = &problem {
            tracing::debug!("{problem}");
        }
        Ok(Self {
            settings,
            resolver,
            timers,
            state: Mutex::new(State {
                dht: Some(dht.as_async()),
                tried: candidates.iter().copied().collect(),
                bootstrap: candidates,
                built_at: Instant::now(),
                resolved,
                saved,
                problem,
            }),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The running node; `None` for the moment a replacement is being built.
    pub fn handle(&self) -> Option<AsyncDht> {
        self.state().dht.clone()
    }

    /// What is wrong, in one sentence; `None` while the node is joined or still starting.
    pub fn problem(&self) -> Option<String> {
        self.state().problem.clone()
    }

    /// The UDP port the node uses (kept across replacements).
    pub fn port(&self) -> u16 {
        self.settings.port
    }

    /// One check: reads the routing table; when it is empty past the grace period, resolves
    /// the names again and replaces the node if that gives addresses no node of this run was
    /// given yet; otherwise the node keeps asking its own (mainline retries them) and the
    /// problem is set.
    pub async fn check(&self) -> Health {
        if let Some(dht) = self.handle() {
            let nodes = dht.to_bootstrap().await;
            if !nodes.is_empty() {
                if self.state().problem.take().is_some() {
                    tracing::debug!(nodes = nodes.len(), "DHT reachable again");
                }
                return Health::Joined(nodes.len());
            }
            let state = self.state();
            if state.problem.is_none()
                && !state.bootstrap.is_empty()
                && state.built_at.elapsed() < self.timers.grace
            {
                return Health::Starting;
            }
        }
        let resolver = self.resolver.clone();
        let names = self.settings.names.clone();
        let resolved = tokio::task::spawn_blocking(move || {
            bootstrap::resolve_names(&names, &resolver, bootstrap::RESOLVE_WITHIN)
        })
        .await
        .unwrap_or_default();
        let (candidates, replace) = {
            let mut state = self.state();
            let candidates = bootstrap::candidates(&resolved, &state.saved, self.settings.builtin);
            let replace =
                state.dht.is_none() || candidates.iter().any(|c| !state.tried.contains(c));
            if !replace {
                // The node had its chance with these addresses: say what is wrong, once.
                let problem = bootstrap::problem(&resolved, candidates.len());
                if state.problem.as_ref() != Some(&problem) {
                    tracing::debug!("{problem}");
                    state.problem = Some(problem);
                }
            }
            state.resolved = resolved;
            (candidates, replace)
        };
        if replace {
            self.replace(candidates).await;
        }
        let state = self.state();
        Health::Unreachable(
            state
                .problem
                .clone()
                .unwrap_or_else(|| bootstrap::problem(&state.resolved, state.bootstrap.len())),
        )
    }

    /// Stops the current node and starts one bootstrapping from `candidates`, on the same
    /// port (retried for a while: the old node lets go of it once its last handle is gone).
    async fn replace(&self, candidates: Vec<SocketAddrV4>) {
        let old = self.state().dht.take();
        drop(old);
        tracing::info!(
            addresses = candidates.len(),
            "DHT: starting a fresh node with the bootstrap addresses resolved now"
        );
        let settings = self.settings.clone();
        let tried = candidates.clone();
        let built = tokio::task::spawn_blocking(move || {
            let mut last = None;
            for _ in 0..50 {
                match build(&settings, &tried) {
                    Ok(dht) => return Ok(dht),
                    Err(e) => last = Some(e),
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(last.unwrap_or_else(|| std::io::Error::other("cannot build the DHT node")))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        let mut state = self.state();
        match built {
            Ok(dht) => {
                state.dht = Some(dht.as_async());
                if state.tried.len() > MAX_TRIED {
                    state.tried.clear();
                }
                state.tried.extend(candidates.iter().copied());
                state.bootstrap = candidates;
                state.built_at = Instant::now();
            }
            Err(e) => {
                tracing::warn!(error = %e, port = self.settings.port, "cannot restart the DHT node; retrying later");
            }
        }
    }

    /// Saves the routing table's nodes to the data dir (when there is one and the table is
    /// not empty), and keeps them as this run's saved nodes: a node whose table empties later
    /// is replaced by one that bootstraps from them.
    pub async fn save_nodes(&self) {
        let (Some(dir), Some(dht)) = (self.settings.data_dir.clone(), self.handle()) else {
            return;
        };
        let nodes: Vec<SocketAddrV4> = dht
            .to_bootstrap()
            .await
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect();
        if nodes.is_empty() {
            return;
        }
        // Also what this run bootstraps from if its table empties later (a long outage).
        self.state().saved = nodes
            .iter()
            .copied()
            .take(nodes_file::MAX_SAVED_NODES)
            .collect();
        let result = tokio::task::spawn_blocking(move || nodes_file::save(&dir, &nodes)).await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot save the DHT nodes"),
            Err(e) => tracing::warn!(error = %e, "cannot save the DHT nodes"),
        }
    }

    /// Checks and heals until `shutdown`, then saves the routing table.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut retry = self.timers.retry_min;
        let mut last_save = tokio::time::Instant::now();
        loop {
            let wait = match self.check().await {
                Health::Joined(_) => {
                    retry = self.timers.retry_min;
                    if last_save.elapsed() >= self.timers.save_every {
                        self.save_nodes().await;
                        last_save = tokio::time::Instant::now();
                    }
                    // Checked often enough to notice a loss within a minute.
                    self.timers.save_every.min(Duration::from_secs(60))
                }
                Health::Starting => self.timers.retry_min,
                Health::Unreachable(_) => {
                    let wait = retry;
                    retry = (retry * 2).min(self.timers.retry_max);
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        self.save_nodes().await;
    }
}
