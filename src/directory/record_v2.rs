//! The DHT address record, version 2: direct addresses and the relays that hold a
//! reservation for the publisher (pure; docs/protocol.md, "Record version 2").
//!
//! ```text
//! offset size  field
//! 0      1     record version (2)
//! 1      2     highest peer protocol version the publisher speaks
//! 3      1     N, direct addresses, 0..=16
//! 4      ...   N addresses: family (1: 4 or 6), IP (4 or 16), port u16
//! .      1     M, relays, 0..=4 (0: not reachable directly, no relay held now)
//! .      ...   M relays: relay key (32) | K addresses (1: 1..=4) | K addresses
//! ```
//! A publisher reachable directly writes version 1 ([`crate::directory::record`],
//! unchanged), which every gateway reads; version 2 only when it is known not to be
//! reachable directly (it lists its relays, or none to say that it holds none now), so a
//! gateway that reads only version 1 loses nothing it could have reached.
//! [`PublishedRecord`] reads either version.
//!
//! The v1 rules hold for every address (one that cannot stand in a record refuses the
//! whole record); unlike version 1, an IPv4-mapped IPv6 address is refused (a writer
//! writes family 4), so that a decoded record re-encodes to the same bytes; a relay key
//! must be a valid identity key and appear once.

use std::net::SocketAddr;

use crate::directory::record::{
    AddrError, AddressRecord, MAX_ADDRS, MAX_RECORD_LEN, Mapped, RECORD_VERSION, RecordError,
    is_dialable, push_addr, read_addr,
};
use crate::identity::PeerId;

/// Version of this layout.
pub const RECORD_V2: u8 = 2;
/// Relays listed at most (a gateway keeps 2 by default).
pub const MAX_RELAYS: usize = 4;
/// Addresses per relay at most.
pub const MAX_RELAY_ADDRS: usize = 4;

/// One relay in a record: its key and where to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayEntry {
    pub key: PeerId,
    pub addrs: Vec<SocketAddr>,
}

/// A record that lists relays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordV2 {
    pub protocol_version: u16,
    /// Direct addresses, possibly none (still worth a try: a port-preserving NAT).
    pub addrs: Vec<SocketAddr>,
    pub relays: Vec<RelayEntry>,
}

/// A record of either version, as read from the DHT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublishedRecord {
    V1(AddressRecord),
    V2(RecordV2),
}

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordV2Error {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("record lists {0} relays; at most {MAX_RELAYS} are allowed")]
    RelayCount(usize),
    #[error("a relay is listed with {0} addresses; 1 to {MAX_RELAY_ADDRS} are allowed")]
    RelayAddressCount(usize),
    #[error("a relay key is not a valid identity key")]
    BadRelayKey,
    #[error("a relay is listed twice")]
    DuplicateRelay,
    #[error("an IPv4-mapped IPv6 address (version 2 writes IPv4 as family 4)")]
    MappedAddress,
}

fn check_addrs(addrs: &[SocketAddr]) -> Result<(), RecordV2Error> {
    match addrs.iter().find(|a| !is_dialable(a)) {
        Some(bad) => Err(RecordError::Unusable(*bad).into()),
        None => Ok(()),
    }
}

impl RecordV2 {
    fn check(&self) -> Result<(), RecordV2Error> {
        if self.addrs.len() > MAX_ADDRS {
            return Err(RecordError::AddressCount(self.addrs.len()).into());
        }
        if self.relays.len() > MAX_RELAYS {
            return Err(RecordV2Error::RelayCount(self.relays.len()));
        }
        check_addrs(&self.addrs)?;
        for (i, relay) in self.relays.iter().enumerate() {
            if relay.addrs.is_empty() || relay.addrs.len() > MAX_RELAY_ADDRS {
                return Err(RecordV2Error::RelayAddressCount(relay.addrs.len()));
            }
            check_addrs(&relay.addrs)?;
            if self.relays[..i].iter().any(|r| r.key == relay.key) {
                return Err(RecordV2Error::DuplicateRelay);
            }
        }
        Ok(())
    }

    /// Encodes the record, refusing what a reader would refuse. (At most
    /// 4 + 16 * 19 + 1 + 4 * (33 + 4 * 19) = 745 bytes, under the 1000-byte limit.)
    pub fn encode(&self) -> Result<Vec<u8>, RecordV2Error> {
        self.check()?;
        let mut out = Vec::with_capacity(256);
        out.push(RECORD_V2);
        out.extend_from_slice(&self.protocol_version.to_be_bytes());
        out.push(self.addrs.len() as u8);
        self.addrs.iter().for_each(|a| push_addr(&mut out, a));
        out.push(self.relays.len() as u8);
        for relay in &self.relays {
            out.extend_from_slice(relay.key.as_bytes());
            out.push(relay.addrs.len() as u8);
            relay.addrs.iter().for_each(|a| push_addr(&mut out, a));
        }
        Ok(out)
    }

    /// Decodes a version 2 record (untrusted input; never panics).
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordV2Error> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLong(bytes.len()).into());
        }
        let (&version, rest) = bytes.split_first().ok_or(RecordError::Empty)?;
        if version != RECORD_V2 {
            return Err(RecordError::UnknownVersion(version).into());
        }
        let mut r = Reader(rest);
        let protocol_version = u16::from_be_bytes(r.take()?);
        let [n] = r.take::<1>()?;
        if usize::from(n) > MAX_ADDRS {
            return Err(RecordError::AddressCount(n.into()).into());
        }
        let addrs = r.addrs(n.into())?;
        let [m] = r.take::<1>()?;
        if usize::from(m) > MAX_RELAYS {
            return Err(RecordV2Error::RelayCount(m.into()));
        }
        let mut relays: Vec<RelayEntry> = Vec::with_capacity(m.into());
        for _ in 0..m {
            let key = PeerId::from_bytes(r.take()?).map_err(|_| RecordV2Error::BadRelayKey)?;
            let [k] = r.take::<1>()?;
            if k == 0 || usize::from(k) > MAX_RELAY_ADDRS {
                return Err(RecordV2Error::RelayAddressCount(k.into()));
            }
            if relays.iter().any(|e| e.key == key) {
                return Err(RecordV2Error::DuplicateRelay);
            }
            relays.push(RelayEntry {
                key,
                addrs: r.addrs(k.into())?,
            });
        }
        if !r.0.is_empty() {
            return Err(RecordError::TrailingBytes(r.0.len()).into());
        }
        Ok(Self {
            protocol_version,
            addrs,
            relays,
        })
    }
}

impl PublishedRecord {
    /// What a gateway publishes: version 1 when it is reachable directly (readable by every
    /// gateway), version 2 when it is not (`relays`: the relays it holds, possibly none).
    pub fn new(
        protocol_version: u16,
        addrs: Vec<SocketAddr>,
        relays: Option<Vec<RelayEntry>>,
    ) -> Self {
        match relays {
            None => Self::V1(AddressRecord {
                protocol_version,
                addrs,
            }),
            Some(relays) => Self::V2(RecordV2 {
                protocol_version,
                addrs,
                relays,
            }),
        }
    }

    pub fn protocol_version(&self) -> u16 {
        match self {
            Self::V1(r) => r.protocol_version,
            Self::V2(r) => r.protocol_version,
        }
    }

    /// True for a version 2 record: the publisher knows it is not reachable directly.
    pub fn behind_nat(&self) -> bool {
        matches!(self, Self::V2(_))
    }

    pub fn encode(&self) -> Result<Vec<u8>, RecordV2Error> {
        match self {
            Self::V1(r) => Ok(r.encode()?),
            Self::V2(r) => r.encode(),
        }
    }

    /// Reads a record of either version by its first byte.
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordV2Error> {
        match bytes.first() {
            Some(&RECORD_VERSION) => Ok(Self::V1(AddressRecord::decode(bytes)?)),
            Some(&RECORD_V2) => Ok(Self::V2(RecordV2::decode(bytes)?)),
            Some(&other) => Err(RecordError::UnknownVersion(other).into()),
            None => Err(RecordError::Empty.into()),
        }
    }

    /// The direct addresses.
    pub fn addrs(&self) -> &[SocketAddr] {
        match self {
            Self::V1(r) => &r.addrs,
            Self::V2(r) => &r.addrs,
        }
    }

    /// The relays listed (none in version 1).
    pub fn relays(&self) -> &[RelayEntry] {
        match self {
            Self::V1(_) => &[],
            Self::V2(r) => &r.relays,
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(RecordError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    fn addrs(&mut self, n: usize) -> Result<Vec<SocketAddr>, RecordV2Error> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let addr = read_addr(&mut self.0, Mapped::Refuse).map_err(|e| match e {
                AddrError::Truncated => RecordError::Truncated.into(),
                AddrError::UnknownFamily(f) => RecordError::UnknownFamily(f).into(),
                AddrError::Mapped => RecordV2Error::MappedAddress,
            })?;
            if !is_dialable(&addr) {
                return Err(RecordError::Unusable(addr).into());
            }
            out.push(addr);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "record_v2_tests.rs"]
mod tests;
