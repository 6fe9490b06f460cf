//! An in-memory [`Directory`]: a map shared by every gateway that holds a clone. Used by
//! tests that are not about the DHT, and as a base for fakes that fail or hang.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;

use super::{BoxFuture, Directory, DirectoryError, DirectoryInfo, Found, PublishedRecord};
use crate::identity::PeerId;

/// The shared map behind [`MemoryDirectory`] handles: each peer's record bytes, and whether
/// they stand for a blinded record (published by a gateway that speaks handshake version 2)
/// or an old gateway's unblinded one (dialled with version 1).
pub type SharedRecords = Arc<Mutex<HashMap<PeerId, (Vec<u8>, bool)>>>;

/// One gateway's handle on a shared in-memory directory.
#[derive(Clone)]
pub struct MemoryDirectory {
    own: PeerId,
    records: SharedRecords,
}

impl MemoryDirectory {
    /// A handle publishing as `identity` into `records`.
    pub fn new(identity: &SigningKey, records: SharedRecords) -> Self {
        Self {
            own: PeerId::of(identity),
            records,
        }
    }

    /// Stores raw record bytes for `peer`, bypassing validation (to test hostile records),
    /// as an old gateway's unblinded record: it is dialled with handshake version 1.
    pub fn insert_raw(records: &SharedRecords, peer: PeerId, value: Vec<u8>) {
        lock(records).insert(peer, (value, false));
    }

    /// [`MemoryDirectory::insert_raw`] as a blinded record: dialled with version 2.
    pub fn insert_raw_blinded(records: &SharedRecords, peer: PeerId, value: Vec<u8>) {
        lock(records).insert(peer, (value, true));
    }
}

fn lock(records: &SharedRecords) -> std::sync::MutexGuard<'_, HashMap<PeerId, (Vec<u8>, bool)>> {
    // A panic elsewhere while holding the lock leaves the map usable: recover it.
    records
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Directory for MemoryDirectory {
    fn publish(&self, record: &PublishedRecord) -> BoxFuture<'_, Result<(), DirectoryError>> {
        let encoded = record.encode();
        Box::pin(async move {
            lock(&self.records).insert(self.own, (encoded?, true));
            Ok(())
        })
    }

    fn lookup(&self, peer: PeerId) -> BoxFuture<'_, Result<Option<Found>, DirectoryError>> {
        Box::pin(async move {
            let Some((bytes, blinded)) = lock(&self.records).get(&peer).cloned() else {
                return Ok(None);
            };
            match PublishedRecord::decode(&bytes) {
                Ok(record) => Ok(Some(Found {
                    record,
                    from_cache: false,
                    blinded,
                })),
                Err(e) => {
                    tracing::warn!(peer = %peer.short(), error = %e, "ignoring invalid address record");
                    Ok(None)
                }
            }
        })
    }

    fn forget(&self, _peer: &PeerId) {}

    fn info(&self) -> BoxFuture<'_, DirectoryInfo> {
        Box::pin(async { DirectoryInfo::default() })
    }
}
