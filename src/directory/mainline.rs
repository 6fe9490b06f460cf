//! The [`Directory`] in the BitTorrent mainline DHT. Our address record is a BEP 44 mutable
//! item under a key blinded from the identity key for the day ([`super::blind`]: a crawler
//! sees unlinkable random-looking items; whoever knows the nick finds and reads it), `seq`
//! = Unix time in microseconds (so no read-before-write is needed). Lookups also read the
//! item gateways published before blinding (identity key, salt [`ADDRESS_SALT`]).

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
use futures_util::stream::FuturesUnordered;

use super::blind::{self, BlindedLocation, BlindedSigner};
use super::bootstrap::Resolve;
use super::node::{HealTimers, HealingNode, build_checked, pick_port};
use super::{
    ADDRESS_SALT, BoxFuture, Directory, DirectoryError, DirectoryInfo, Found, PublishedRecord,
};
use crate::config::{DhtConfig, DhtServerMode};
use crate::identity::PeerId;

/// The BEP 5 info hash under which relays that serve anyone announce themselves on `day`
/// (days since the Unix epoch, UTC): the first 20 bytes of
/// SHA-256([`RELAY_TOPIC`] || day as u64 BE). It changes every day, so that no constant
/// value marks DiSIMS traffic on the DHT's UDP path; anyone with the code can still compute
/// it (docs/threat-model.md).
pub fn relay_info_hash(day: u64) -> ::mainline::Id {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(RELAY_TOPIC)
        .chain_update(day.to_be_bytes())
        .finalize();
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest[..20]);
    ::mainline::Id::from(id)
}

/// The info hash of the version 1 relays (plain control), SHA-256([`RELAY_TOPIC_V1`])'s
/// first 20 bytes: announced too while `[relay] plain_control` is on, for old gateways;
/// never searched.
pub fn legacy_relay_info_hash() -> ::mainline::Id {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(RELAY_TOPIC_V1);
    let mut id = [0u8; 20];
    id.copy_from_slice(&digest[..20]);
    ::mainline::Id::from(id)
}

/// What relays announce under, with the day ([`relay_info_hash`]).
pub const RELAY_TOPIC: &[u8] = b"disims relays v2";
/// What version 1 relays announce under ([`legacy_relay_info_hash`]).
pub const RELAY_TOPIC_V1: &[u8] = b"disims relays v1";

/// The days whose relay info hash a seeker asks at `unix_s`: today's, and during the first
/// hour of a day also yesterday's (relays re-announce every 20 minutes; announcements of
/// the day before are still held then).
pub fn relay_days(unix_s: u64) -> Vec<u64> {
    let day = unix_s / 86_400;
    match unix_s % 86_400 < 3600 {
        true => vec![day, day.saturating_sub(1)],
        false => vec![day],
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

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
    cache: Mutex<HashMap<PeerId, (PublishedRecord, bool, Instant)>>,
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
    /// A valid record, with its BEP 44 `seq`, and whether it was published blinded.
    Found(PublishedRecord, i64, bool),
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

    fn cache(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<PeerId, (PublishedRecord, bool, Instant)>> {
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

    /// Looks `peer` up: its blinded record of today, yesterday and tomorrow (clocks and the
    /// day's change), and the record under the identity key and [`ADDRESS_SALT`] that
    /// gateways published before blinding (read during the transition). Today's blinded
    /// record is taken as soon as it comes; otherwise the newest found (highest `seq`).
    async fn query(&self, dht: &AsyncDht, peer: PeerId) -> Query {
        let today = blind::period_of(unix_secs());
        let mut queries: FuturesUnordered<_> = [today, today.saturating_sub(1), today + 1]
            .into_iter()
            .filter_map(|period| BlindedLocation::of(&peer, period).ok())
            .enumerate()
            .map(|(i, location)| {
                let key = location.key;
                let salt = location.salt;
                Box::pin(async move {
                    let open = move |v: &[u8]| -> Result<PublishedRecord, String> {
                        let record = location.open(v).map_err(|e| e.to_string())?;
                        PublishedRecord::decode(&record).map_err(|e| e.to_string())
                    };
                    (i, self.query_item(dht, peer, &key, &salt, open, true).await)
                }) as BoxFuture<'_, (usize, Query)>
            })
            .collect();
        queries.push(Box::pin(async move {
            let open = |v: &[u8]| PublishedRecord::decode(v).map_err(|e| e.to_string());
            (
                9,
                self.query_item(dht, peer, peer.as_bytes(), ADDRESS_SALT, open, false)
                    .await,
            )
        }));
        let mut best: Option<(PublishedRecord, i64, bool)> = None;
        let mut responded = 0;
        let mut timed_out = false;
        while let Some((i, outcome)) = queries.next().await {
            match outcome {
                Query::Found(record, _, b) if i == 0 => return Query::Found(record, 0, b),
                Query::Found(record, seq, b) if best.as_ref().is_none_or(|(_, s, _)| seq > *s) => {
                    best = Some((record, seq, b));
                }
                Query::Found(..) => {}
                Query::NotFound { responded: n } => responded = responded.max(n),
                Query::TimedOut => timed_out = true,
            }
        }
        match best {
            Some((record, seq, b)) => Query::Found(record, seq, b),
            None if responded == 0 && timed_out => Query::TimedOut,
            None => Query::NotFound { responded },
        }
    }

    /// One BEP 44 query: the first item `open` accepts (mainline has checked its signature
    /// against the key and salt asked for), else how the query ended.
    async fn query_item(
        &self,
        dht: &AsyncDht,
        peer: PeerId,
        key: &[u8; 32],
        salt: &[u8],
        open: impl Fn(&[u8]) -> Result<PublishedRecord, String>,
        blinded: bool,
    ) -> Query {
        let detailed = dht.get_mutable_detailed(key, Some(salt), None);
        let mut items = detailed.items;
        let outcome = detailed.outcome;
        let first_valid = async {
            while let Some(item) = items.next().await {
                match open(item.value()) {
                    Ok(record) => return Query::Found(record, item.seq(), blinded),
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

    /// Puts our record, blinded, for `period`.
    async fn put_blinded(
        &self,
        dht: &AsyncDht,
        record: &[u8],
        period: u64,
    ) -> Result<(), DirectoryError> {
        let signer = BlindedSigner::new(&self.signer, period)?;
        let location = signer.location();
        let nonce = crate::identity::random_bytes::<24>()
            .map_err(|e| DirectoryError::PutFailed(e.to_string()))?;
        let value = location.seal(record, nonce)?;
        let seq = seq_now();
        let signature = signer.sign(&blind::bep44_signable(seq, &value, Some(&location.salt)));
        let item = MutableItem::new_signed_unchecked(
            location.key,
            signature.to_bytes(),
            &value,
            seq,
            Some(&location.salt),
        );
        match dht.put_mutable(item, None).await {
            Ok(_) => Ok(()),
            Err(PutMutableError::Query(PutQueryError::NoClosestNodes)) => Err(self.offline()),
            Err(e) => Err(DirectoryError::PutFailed(e.to_string())),
        }
    }
}

/// Unix time in seconds.
fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// In the last this-much of a period, a record is also published for the next one, so
/// that it is found across the day's change (longer than the republish interval, 30 to
/// 60 minutes, so that one republish at least falls in it).
pub const PERIOD_OVERLAP_SECS: u64 = 2 * 3600;

/// The periods to publish for at `unix_secs`: the current one, and the next near its end.
pub fn publish_periods(unix_secs: u64) -> Vec<u64> {
    let period = blind::period_of(unix_secs);
    let into = unix_secs % blind::PERIOD_SECS;
    if into >= blind::PERIOD_SECS - PERIOD_OVERLAP_SECS {
        vec![period, period + 1]
    } else {
        vec![period]
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
            let encoded = encoded?;
            let dht = self.dht()?;
            // Blinded only: under the identity key a crawler could list the user.
            for period in publish_periods(unix_secs()) {
                self.put_blinded(&dht, &encoded, period).await?;
            }
            Ok(())
        })
    }

    fn lookup(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<Found>, DirectoryError>> {
        Box::pin(async move {
            if let Some((record, blinded, at)) = self.cache().get(&peer)
                && at.elapsed() < CACHE_TTL
            {
                return Ok(Some(Found {
                    record: record.clone(),
                    from_cache: true,
                    blinded: *blinded,
                }));
            }
            let dht = self.dht();
            let outcome = match &dht {
                Ok(dht) => self.query(dht, peer).await,
                Err(_) => Query::NotFound { responded: 0 },
            };
            let our_side_down = match outcome {
                Query::Found(record, _, blinded) => {
                    self.cache()
                        .insert(peer, (record.clone(), blinded, Instant::now()));
                    return Ok(Some(Found {
                        record,
                        from_cache: false,
                        blinded,
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
            if let Some((record, blinded, _)) = self.cache().get(&peer) {
                return Ok(Some(Found {
                    record: record.clone(),
                    from_cache: false,
                    blinded: *blinded,
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

    fn announce_relay(&self, port: u16, plain: bool) -> BoxFuture<'_, Result<(), DirectoryError>> {
        Box::pin(async move {
            let dht = self.dht()?;
            let today = unix_now() / 86_400;
            let mut topics = vec![relay_info_hash(today)];
            if plain {
                topics.push(legacy_relay_info_hash());
            }
            for topic in topics {
                match dht.announce_peer(topic, Some(port)).await {
                    Ok(_) => {}
                    Err(PutQueryError::NoClosestNodes) => return Err(self.offline()),
                    Err(e) => return Err(DirectoryError::PutFailed(e.to_string())),
                }
            }
            Ok(())
        })
    }

    fn find_relays(&self) -> BoxFuture<'_, Vec<SocketAddr>> {
        Box::pin(async move {
            let Ok(dht) = self.dht() else {
                return Vec::new();
            };
            let mut found: Vec<SocketAddr> = Vec::new();
            for day in relay_days(unix_now()) {
                let mut stream = dht.get_peers(relay_info_hash(day));
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
            }
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
