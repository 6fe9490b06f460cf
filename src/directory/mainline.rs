//! The [`Directory`] in the BitTorrent mainline DHT: our address record is a BEP 44
//! mutable item signed by the identity key, salted with [`ADDRESS_SALT`], `seq` = Unix
//! time in microseconds (so no read-before-write is needed).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::mainline::async_dht::AsyncDht;
use ::mainline::errors::{PutMutableError, PutQueryError};
use ::mainline::{Dht, MutableItem};
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;

use super::bootstrap::Resolve;
use super::node::{HealTimers, HealingNode, build_checked, pick_port};
use super::{
    ADDRESS_SALT, BoxFuture, Directory, DirectoryError, DirectoryInfo, Found, PublishedRecord,
};
use crate::config::{DhtConfig, DhtServerMode};
use crate::identity::PeerId;

/// The BEP 5 info hash under which relays that serve anyone announce themselves: the
/// first 20 bytes of SHA-256 of [`RELAY_TOPIC`].
pub fn relay_info_hash() -> ::mainline::Id {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(RELAY_TOPIC);
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest[..20]);
    ::mainline::Id::from(id)
}
/// What relays announce under ([`relay_info_hash`]).
pub const RELAY_TOPIC: &[u8] = b"disims relays v1";
/// Relay addresses read from one `get_peers` query at most.
pub const MAX_FOUND_RELAYS: usize = 32;

/// How long a looked-up record is used without asking the DHT again.
pub const CACHE_TTL: Duration = Duration::from_secs(10 * 60);
/// Upper bound on one lookup (the DHT's own query may take longer to finish).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// Log directives for the `mainline` crate: its warnings, but not the ERROR "Could not
/// bootstrap the routing table" it logs (target `mainline::rpc`) after every failed bootstrap
/// query, every request timeout (2 s) for as long as no bootstrap node answers; the gateway
/// says once what is wrong instead ([`HealingNode::problem`]). mainline 8 logs nothing else
/// above debug under `mainline::rpc` except the socket's IO warnings, kept.
pub const LOG_DIRECTIVES: &str = "mainline=warn,mainline::rpc=off,mainline::rpc::socket=warn";

/// The mainline DHT directory.
pub struct MainlineDirectory {
    node: Arc<HealingNode>,
    signer: SigningKey,
    cache: Mutex<HashMap<PeerId, (PublishedRecord, Instant)>>,
}

/// Builds a plain mainline DHT node from the config (no healing: benches and probes).
/// Blocking: it resolves the bootstrap host names, so call it from `spawn_blocking` in async
/// code. Port 0 in `listen` means a free port, as in the config (mainline alone would take
/// 6881 when it is free).
pub fn build_dht(config: &DhtConfig) -> Result<Dht, DirectoryError> {
    let mut builder = Dht::builder();
    let SocketAddr::V4(listen) = config.listen else {
        return Err(DirectoryError::Start(std::io::Error::other(
            "the DHT is IPv4 only",
        )));
    };
    let port = pick_port(listen).map_err(DirectoryError::Start)?;
    builder
        .bootstrap(&config.bootstrap)
        .request_timeout(config.request_timeout)
        .bind_address(*listen.ip())
        .port(port);
    if config.server_mode == DhtServerMode::Server {
        builder.server_mode();
    }
    if config.bootstrap.is_empty() {
        builder.no_bootstrap();
    }
    build_checked(&builder, SocketAddrV4::new(*listen.ip(), port)).map_err(DirectoryError::Start)
}

/// The ways a query ended without a valid record.
enum Query {
    Found(PublishedRecord),
    /// The query ran; `responded` nodes answered it.
    NotFound {
        responded: u32,
    },
    TimedOut,
}

impl MainlineDirectory {
    /// Starts a self-healing DHT node for `config` (see [`HealingNode::start`]: blocking,
    /// call it from `spawn_blocking`); records are signed with `signer`. The routing table is
    /// saved in `data_dir` when there is one; names are resolved through `resolver`.
    pub fn start(
        config: &DhtConfig,
        data_dir: Option<PathBuf>,
        resolver: Arc<dyn Resolve>,
        timers: HealTimers,
        signer: SigningKey,
    ) -> Result<Self, DirectoryError> {
        let node = HealingNode::start(config, data_dir, resolver, timers)?;
        Ok(Self {
            node: Arc::new(node),
            signer,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The node behind the directory (the daemon runs its [`HealingNode::run`]).
    pub fn node(&self) -> Arc<HealingNode> {
        self.node.clone()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, (PublishedRecord, Instant)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The node, or the error that says our side of the DHT is down.
    fn dht(&self) -> Result<AsyncDht, DirectoryError> {
        self.node.handle().ok_or_else(|| self.offline())
    }

    fn offline(&self) -> DirectoryError {
        DirectoryError::Offline(
            self.node
                .problem()
                .unwrap_or_else(|| "DHT unreachable: our node has not joined it yet".into()),
        )
    }

    async fn query(&self, dht: &AsyncDht, peer: PeerId) -> Query {
        let detailed = dht.get_mutable_detailed(peer.as_bytes(), Some(ADDRESS_SALT), None);
        let mut items = detailed.items;
        let outcome = detailed.outcome;
        let first_valid = async {
            while let Some(item) = items.next().await {
                // mainline has checked the signature against the key and salt we asked for.
                match PublishedRecord::decode(item.value()) {
                    Ok(record) => return Query::Found(record),
                    Err(e) => tracing::warn!(
                        peer = %peer.short(), seq = item.seq(), error = %e,
                        "ignoring an invalid address record from the DHT"
                    ),
                }
            }
            // The query is done: how many nodes answered it? (mainline's receiver panics
            // if its query is dropped: kept in a task of its own.)
            match tokio::spawn(outcome.recv()).await {
                Ok(outcome) => Query::NotFound {
                    responded: outcome.responded(),
                },
                Err(_) => Query::TimedOut,
            }
        };
        tokio::time::timeout(LOOKUP_TIMEOUT, first_valid)
            .await
            .unwrap_or(Query::TimedOut)
    }
}

/// Unix time in microseconds: the BEP 44 `seq` of our records.
pub fn seq_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Directory for MainlineDirectory {
    fn publish(&self, record: &PublishedRecord) -> BoxFuture<'_, Result<(), DirectoryError>> {
        // Checked before the put: mainline does not, and an oversized put only times out.
        let encoded = record.encode();
        Box::pin(async move {
            let item = MutableItem::new(
                self.signer.clone(),
                &encoded?,
                seq_now(),
                Some(ADDRESS_SALT),
            );
            match self.dht()?.put_mutable(item, None).await {
                Ok(_) => Ok(()),
                Err(PutMutableError::Query(PutQueryError::NoClosestNodes)) => Err(self.offline()),
                Err(e) => Err(DirectoryError::PutFailed(e.to_string())),
            }
        })
    }

    fn lookup(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<Found>, DirectoryError>> {
        Box::pin(async move {
            if let Some((record, at)) = self.cache().get(&peer)
                && at.elapsed() < CACHE_TTL
            {
                return Ok(Some(Found {
                    record: record.clone(),
                    from_cache: true,
                }));
            }
            let dht = self.dht();
            let outcome = match &dht {
                Ok(dht) => self.query(dht, peer).await,
                Err(_) => Query::NotFound { responded: 0 },
            };
            let our_side_down = match outcome {
                Query::Found(record) => {
                    self.cache().insert(peer, (record.clone(), Instant::now()));
                    return Ok(Some(Found {
                        record,
                        from_cache: false,
                    }));
                }
                Query::NotFound { responded } => responded == 0,
                Query::TimedOut => match &dht {
                    Ok(dht) => dht.to_bootstrap().await.is_empty(),
                    Err(_) => true,
                },
            };
            // Nothing from the DHT (unreachable, or the record expired): an old address
            // is still worth a try. Not marked `from_cache`: the network was just asked,
            // so asking it again would not help.
            if let Some((record, _)) = self.cache().get(&peer) {
                return Ok(Some(Found {
                    record: record.clone(),
                    from_cache: false,
                }));
            }
            if our_side_down {
                // No DHT node answered us: that says nothing about the peer.
                return Err(self.offline());
            }
            Ok(None)
        })
    }

    fn forget(&self, peer: &PeerId) {
        self.cache().remove(peer);
    }

    fn announce_relay(&self, port: u16) -> BoxFuture<'_, Result<(), DirectoryError>> {
        Box::pin(async move {
            match self
                .dht()?
                .announce_peer(relay_info_hash(), Some(port))
                .await
            {
                Ok(_) => Ok(()),
                Err(PutQueryError::NoClosestNodes) => Err(self.offline()),
                Err(e) => Err(DirectoryError::PutFailed(e.to_string())),
            }
        })
    }

    fn find_relays(&self) -> BoxFuture<'_, Vec<SocketAddr>> {
        Box::pin(async move {
            let Ok(dht) = self.dht() else {
                return Vec::new();
            };
            let mut found: Vec<SocketAddr> = Vec::new();
            let mut stream = dht.get_peers(relay_info_hash());
            let collect = async {
                while let Some(peers) = stream.next().await {
                    for peer in peers {
                        let peer = SocketAddr::V4(peer);
                        if !found.contains(&peer) && found.len() < MAX_FOUND_RELAYS {
                            found.push(peer);
                        }
                    }
                }
            };
            // The stream ends with the query; a slow query still gives what came in time.
            let _ = tokio::time::timeout(LOOKUP_TIMEOUT, collect).await;
            found
        })
    }

    fn info(&self) -> BoxFuture<'_, DirectoryInfo> {
        Box::pin(async move {
            let problem = self.node.problem();
            let Ok(dht) = self.dht() else {
                return DirectoryInfo {
                    nodes: Some(0),
                    problem,
                    ..DirectoryInfo::default()
                };
            };
            let info = dht.info().await;
            let nodes = dht.to_bootstrap().await.len();
            DirectoryInfo {
                public_addr: info.public_address(),
                local_addr: Some(info.local_addr()),
                nodes: Some(nodes),
                problem: if nodes == 0 { problem } else { None },
            }
        })
    }
}

/// Runs a standalone DHT node in server mode (for `disims dht-node`); returns the node and
/// the address it serves on.
pub async fn standalone_node(
    listen: std::net::SocketAddrV4,
    bootstrap: &[String],
) -> Result<(AsyncDht, std::net::SocketAddrV4), DirectoryError> {
    let mut builder = Dht::builder();
    let port = pick_port(listen).map_err(DirectoryError::Start)?;
    builder.server_mode().bind_address(*listen.ip()).port(port);
    if bootstrap.is_empty() {
        builder.no_bootstrap();
    } else {
        builder.bootstrap(bootstrap);
    }
    let dht = build_checked(&builder, SocketAddrV4::new(*listen.ip(), port))
        .map_err(DirectoryError::Start)?
        .as_async();
    let mut addr = dht.info().await.local_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(Ipv4Addr::LOCALHOST);
    }
    Ok((dht, addr))
}

#[cfg(test)]
#[path = "mainline_tests.rs"]
mod tests;
