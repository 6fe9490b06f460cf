//! Where peers can be reached. The [`Directory`] trait publishes our address record and
//! looks up a peer's; [`mainline::MainlineDirectory`] does it in the BitTorrent mainline DHT
//! and [`memory::MemoryDirectory`] in a shared map (tests, and fakes that fail or hang).

pub mod blind;
pub mod bootstrap;
pub mod mainline;
pub mod memory;
pub mod node;
pub mod nodes_file;
pub mod record;
pub mod record_v2;

use std::future::Future;
use std::net::{SocketAddr, SocketAddrV4};
use std::pin::Pin;

use crate::identity::PeerId;
pub use record::{AddressRecord, RecordError};
pub use record_v2::{PublishedRecord, RecordV2Error, RelayEntry};

/// A boxed, sendable future (the trait is used as `Arc<dyn Directory>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// BEP 44 salt of the address record, so that other record kinds can share the key later.
pub const ADDRESS_SALT: &[u8] = b"disims-addr";

/// Errors of the directory layer.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Our own DHT node has no other node to ask: the problem is on this side, and says
    /// nothing about the peer looked up.
    /// The text is the node's own sentence, "DHT unreachable: ...".
    #[error("{0}")]
    Offline(String),
    #[error("the DHT refused the record: {0}")]
    PutFailed(String),
    #[error("invalid record: {0}")]
    Record(#[from] RecordV2Error),
    #[error("blinded record: {0}")]
    Blind(#[from] blind::BlindError),
    #[error("cannot start the DHT node: {0}")]
    Start(#[source] std::io::Error),
}

/// A lookup's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub record: PublishedRecord,
    /// True when the answer came from the local cache without asking the network; a dialler
    /// that fails on such an address should [`Directory::forget`] it and look again.
    pub from_cache: bool,
    /// The record was published blinded, which only gateways that speak handshake version 2
    /// do: dial it with version 2 (never falling back to version 1, which a censor could
    /// force by breaking version 2 connections). False: an old gateway's unblinded record.
    pub blinded: bool,
}

/// What the directory can say about itself, for status displays.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectoryInfo {
    /// Our IPv4 address as other DHT nodes see it, once they have told us.
    pub public_addr: Option<SocketAddrV4>,
    /// The local UDP address of the DHT node, if there is one.
    pub local_addr: Option<SocketAddrV4>,
    /// DHT nodes in our routing table; `None` without a DHT node (a fixed directory).
    /// Zero means not bootstrapped (yet).
    pub nodes: Option<usize>,
    /// What keeps the node off the DHT, in one sentence ("DHT unreachable: ..."), while its
    /// routing table is empty and the cause is known.
    pub problem: Option<String>,
}

/// Publishing and finding address records.
pub trait Directory: Send + Sync + 'static {
    /// Publishes our own address record, signed by our identity.
    fn publish(&self, record: &PublishedRecord) -> BoxFuture<'_, Result<(), DirectoryError>>;
    /// Finds a peer's address record; `Ok(None)` when there is none (or none valid).
    fn lookup(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<Found>, DirectoryError>>;
    /// Drops what is cached about `peer`, so that the next lookup asks the network.
    fn forget(&self, peer: &PeerId);
    /// What the directory knows about its own place in the network.
    fn info(&self) -> BoxFuture<'_, DirectoryInfo>;
    /// Says that this gateway relays for anyone, at `port` of the address the DHT sees
    /// (`[relay] serve = "anyone"`), to gateways of this version, and with `plain` to old
    /// ones too (`[relay] plain_control`). A directory that cannot announce does nothing.
    fn announce_relay(&self, port: u16, plain: bool) -> BoxFuture<'_, Result<(), DirectoryError>> {
        let _ = (port, plain);
        Box::pin(async { Ok(()) })
    }
    /// Addresses of gateways that announced they relay for anyone (none where the
    /// directory has no such list).
    fn find_relays(&self) -> BoxFuture<'_, Vec<SocketAddr>> {
        Box::pin(async { Vec::new() })
    }
}

impl From<AddressRecord> for PublishedRecord {
    fn from(record: AddressRecord) -> Self {
        Self::V1(record)
    }
}
