//! The [`Directory`] in the BitTorrent mainline DHT: our address record is a BEP 44
//! mutable item signed by the identity key, salted with [`ADDRESS_SALT`], `seq` = Unix
//! time in microseconds (so no read-before-write is needed).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ::mainline::async_dht::AsyncDht;
use ::mainline::errors::{PutMutableError, PutQueryError};
use ::mainline::{Dht, MutableItem};
use ed25519_dalek::SigningKey;
use futures_util::StreamExt;

use super::{
    ADDRESS_SALT, AddressRecord, BoxFuture, Directory, DirectoryError, DirectoryInfo, Found,
};
use crate::config::{DhtConfig, DhtServerMode};
use crate::identity::PeerId;

/// How long a looked-up record is used without asking the DHT again.
pub const CACHE_TTL: Duration = Duration::from_secs(10 * 60);
/// Upper bound on one lookup (the DHT's own query may take longer to finish).
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(15);

/// The mainline DHT directory.
pub struct MainlineDirectory {
    dht: AsyncDht,
    signer: SigningKey,
    cache: Mutex<HashMap<PeerId, (AddressRecord, Instant)>>,
}

/// Builds a mainline DHT node from the config. Blocking: it resolves the bootstrap host
/// names, so call it from `spawn_blocking` in async code.
pub fn build_dht(config: &DhtConfig) -> Result<Dht, DirectoryError> {
    let mut builder = Dht::builder();
    let SocketAddr::V4(listen) = config.listen else {
        return Err(DirectoryError::Start(std::io::Error::other(
            "the DHT is IPv4 only",
        )));
    };
    builder
        .bootstrap(&config.bootstrap)
        .request_timeout(config.request_timeout)
        .bind_address(*listen.ip());
    if listen.port() != 0 {
        builder.port(listen.port());
    }
    if config.server_mode == DhtServerMode::Server {
        builder.server_mode();
    }
    if config.bootstrap.is_empty() {
        builder.no_bootstrap();
    }
    builder.build().map_err(DirectoryError::Start)
}

impl MainlineDirectory {
    /// Wraps a running DHT node; records are signed with `signer`.
    pub fn new(dht: Dht, signer: SigningKey) -> Self {
        Self {
            dht: dht.as_async(),
            signer,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<PeerId, (AddressRecord, Instant)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn query(&self, peer: PeerId) -> Option<AddressRecord> {
        let mut items = self
            .dht
            .get_mutable(peer.as_bytes(), Some(ADDRESS_SALT), None);
        let first_valid = async {
            while let Some(item) = items.next().await {
                // mainline has checked the signature against the key and salt we asked for.
                match AddressRecord::decode(item.value()) {
                    Ok(record) => return Some(record),
                    Err(e) => tracing::warn!(
                        peer = %peer.short(), seq = item.seq(), error = %e,
                        "ignoring an invalid address record from the DHT"
                    ),
                }
            }
            None
        };
        tokio::time::timeout(LOOKUP_TIMEOUT, first_valid)
            .await
            .ok()
            .flatten()
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
    fn publish(&self, record: &AddressRecord) -> BoxFuture<'_, Result<(), DirectoryError>> {
        // Checked before the put: mainline does not, and an oversized put only times out.
        let encoded = record.encode();
        Box::pin(async move {
            let item = MutableItem::new(
                self.signer.clone(),
                &encoded?,
                seq_now(),
                Some(ADDRESS_SALT),
            );
            match self.dht.put_mutable(item, None).await {
                Ok(_) => Ok(()),
                Err(PutMutableError::Query(PutQueryError::NoClosestNodes)) => {
                    Err(DirectoryError::Unreachable)
                }
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
            match self.query(peer).await {
                Some(record) => {
                    self.cache().insert(peer, (record.clone(), Instant::now()));
                    Ok(Some(Found {
                        record,
                        from_cache: false,
                    }))
                }
                // Nothing from the DHT (unreachable, or the record expired): an old address
                // is still worth a try. Not marked `from_cache`: the network was just asked,
                // so asking it again would not help.
                None => Ok(self.cache().get(&peer).map(|(record, _)| Found {
                    record: record.clone(),
                    from_cache: false,
                })),
            }
        })
    }

    fn forget(&self, peer: &PeerId) {
        self.cache().remove(peer);
    }

    fn info(&self) -> BoxFuture<'_, DirectoryInfo> {
        Box::pin(async move {
            let info = self.dht.info().await;
            let nodes = self.dht.to_bootstrap().await.len();
            DirectoryInfo {
                public_addr: info.public_address(),
                local_addr: Some(info.local_addr()),
                nodes: Some(nodes),
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
    builder.server_mode().bind_address(*listen.ip());
    if listen.port() != 0 {
        builder.port(listen.port());
    }
    if bootstrap.is_empty() {
        builder.no_bootstrap();
    } else {
        builder.bootstrap(bootstrap);
    }
    let dht = builder.build().map_err(DirectoryError::Start)?.as_async();
    let mut addr = dht.info().await.local_addr();
    if addr.ip().is_unspecified() {
        addr.set_ip(Ipv4Addr::LOCALHOST);
    }
    Ok((dht, addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::mainline::Testnet;

    fn client(testnet: &Testnet, seed: u8) -> MainlineDirectory {
        let config = DhtConfig {
            bootstrap: testnet.bootstrap.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            server_mode: DhtServerMode::Server,
            request_timeout: Duration::from_millis(500),
        };
        MainlineDirectory::new(
            build_dht(&config).unwrap(),
            SigningKey::from_bytes(&[seed; 32]),
        )
    }

    fn record(port: u16) -> AddressRecord {
        AddressRecord {
            protocol_version: 1,
            addrs: vec![SocketAddr::from(([127, 0, 0, 1], port))],
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn publish_then_lookup_on_a_testnet() {
        let testnet = tokio::task::spawn_blocking(|| Testnet::builder(10).build().unwrap())
            .await
            .unwrap();
        let alice = client(&testnet, 1);
        let bob = client(&testnet, 2);
        alice.publish(&record(4000)).await.unwrap();
        let started = Instant::now();
        let found = bob
            .lookup(PeerId::of(&SigningKey::from_bytes(&[1; 32])))
            .await
            .unwrap();
        let found = found.expect("record found");
        assert_eq!(found.record, record(4000));
        assert!(!found.from_cache);
        tracing::info!(elapsed = ?started.elapsed(), "lookup");
        // The second lookup is served from the cache; forget() makes it ask again.
        let peer = PeerId::of(&SigningKey::from_bytes(&[1; 32]));
        assert!(bob.lookup(peer).await.unwrap().unwrap().from_cache);
        alice.publish(&record(4001)).await.unwrap();
        bob.forget(&peer);
        assert_eq!(
            bob.lookup(peer).await.unwrap().unwrap().record,
            record(4001)
        );
        // Nobody published for key 3.
        assert_eq!(
            bob.lookup(PeerId::of(&SigningKey::from_bytes(&[3; 32])))
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn invalid_records_read_as_not_found() {
        let testnet = tokio::task::spawn_blocking(|| Testnet::builder(5).build().unwrap())
            .await
            .unwrap();
        let reader = client(&testnet, 2);
        let writer = client(&testnet, 9);
        let signer = SigningKey::from_bytes(&[9; 32]);
        // Unknown version: a valid BEP 44 item whose value we cannot read.
        let item = MutableItem::new(signer, &[7, 0, 1], seq_now(), Some(ADDRESS_SALT));
        writer.dht.put_mutable(item, None).await.unwrap();
        assert_eq!(
            reader
                .lookup(PeerId::of(&SigningKey::from_bytes(&[9; 32])))
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_bootstrap_reachable_is_reported_as_unreachable() {
        let config = DhtConfig {
            // A port on loopback where nothing listens: requests go unanswered.
            bootstrap: vec!["127.0.0.1:9".to_string()],
            listen: "127.0.0.1:0".parse().unwrap(),
            server_mode: DhtServerMode::Server,
            request_timeout: Duration::from_millis(100),
        };
        let dir = MainlineDirectory::new(
            build_dht(&config).unwrap(),
            SigningKey::from_bytes(&[4; 32]),
        );
        assert!(matches!(
            dir.publish(&record(1)).await,
            Err(DirectoryError::Unreachable)
        ));
    }
}
