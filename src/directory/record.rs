//! The value of a DiSIMS address record in the DHT: a compact, versioned, length-checked
//! binary encoding of the socket addresses a peer can be dialled on (pure, no IO).
//!
//! Layout (all integers big-endian), at most [`MAX_RECORD_LEN`] bytes:
//!
//! ```text
//! offset size  field
//! 0      1     record version (1)
//! 1      2     highest peer protocol version the publisher speaks
//! 3      1     address count N (1..=MAX_ADDRS)
//! 4      ...   N addresses: family (1 byte: 4 or 6), IP (4 or 16 bytes), port (2 bytes)
//! ```
//! Nothing may follow the last address. IPv4 addresses are written as family 4, also when
//! given in IPv4-mapped form (`::ffff:a.b.c.d`); a reader accepts a mapped address in family
//! 6, which every rule reads as the IPv4 address it maps. One address that cannot stand in a record refuses the whole
//! record (docs/protocol.md, "DHT address record").
//!
//! What a dialler does with the addresses is not decided here: see [`crate::policy::address`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::policy::canonical_ip;

/// Version of this record layout.
pub const RECORD_VERSION: u8 = 1;
/// BEP 44 limits a mutable item's value to 1000 bytes; the DHT client does not check it
/// before a put (an oversized put only times out), so we check here.
pub const MAX_RECORD_LEN: usize = 1000;
/// At most this many addresses per record (16 IPv6 addresses take 308 bytes).
pub const MAX_ADDRS: usize = 16;

/// A peer's published reachability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressRecord {
    /// Highest peer protocol version the publisher speaks.
    pub protocol_version: u16,
    /// Where to dial, in the publisher's order of preference.
    pub addrs: Vec<SocketAddr>,
}

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("record is empty")]
    Empty,
    #[error("record version {0} is not supported (this gateway reads version {RECORD_VERSION})")]
    UnknownVersion(u8),
    #[error("record is {0} bytes, more than the {MAX_RECORD_LEN}-byte limit")]
    TooLong(usize),
    #[error("record is truncated")]
    Truncated,
    #[error("record has {0} trailing bytes")]
    TrailingBytes(usize),
    #[error("record lists {0} addresses; 1 to {MAX_ADDRS} are allowed")]
    AddressCount(usize),
    #[error("record has an unknown address family {0}")]
    UnknownFamily(u8),
    #[error("record address {0} cannot be dialled")]
    Unusable(SocketAddr),
}

/// Whether an address can stand in a record at all (port 0, unspecified, multicast and
/// broadcast cannot, in any form, `::ffff:0.0.0.0` included). A record may still list
/// addresses a gateway will not dial (loopback, private ranges, its own address): the
/// dialler sorts those out ([`crate::policy::address::DialPlan`]), so that the rules live in
/// one place and a record that is good for one reader is good for every reader.
pub use crate::policy::address::is_well_formed as is_dialable;

/// Appends one address as every DiSIMS layout writes it (records v1 and v2, relay
/// messages): family (4 or 6), IP (4 or 16 bytes), port u16; an IPv4-mapped IPv6 address
/// is written as the IPv4 address it maps (family 4).
pub(crate) fn push_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match canonical_ip(addr.ip()) {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Why [`read_addr`] could not read an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AddrError {
    /// The bytes end inside the address.
    Truncated,
    /// A family other than 4 or 6.
    UnknownFamily(u8),
    /// An IPv4-mapped IPv6 address where only family 4 may carry IPv4.
    Mapped,
}

/// Whether an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) in family 6 is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mapped {
    /// Record version 1 accepts it as written (older writers may have used it).
    Keep,
    /// Record version 2 and relay messages refuse it, so that what decodes re-encodes to
    /// the same bytes ([`push_addr`] writes IPv4 as family 4).
    Refuse,
}

/// Reads one address written by [`push_addr`] from the front of `bytes`, advancing it.
pub(crate) fn read_addr(bytes: &mut &[u8], mapped: Mapped) -> Result<SocketAddr, AddrError> {
    fn take<const N: usize>(bytes: &mut &[u8]) -> Result<[u8; N], AddrError> {
        let (head, rest) = bytes.split_first_chunk::<N>().ok_or(AddrError::Truncated)?;
        *bytes = rest;
        Ok(*head)
    }
    let [family] = take::<1>(bytes)?;
    let ip = match family {
        4 => IpAddr::V4(Ipv4Addr::from(take::<4>(bytes)?)),
        6 => {
            let v6 = Ipv6Addr::from(take::<16>(bytes)?);
            if mapped == Mapped::Refuse && v6.to_ipv4_mapped().is_some() {
                return Err(AddrError::Mapped);
            }
            IpAddr::V6(v6)
        }
        other => return Err(AddrError::UnknownFamily(other)),
    };
    Ok(SocketAddr::new(ip, u16::from_be_bytes(take(bytes)?)))
}

impl AddressRecord {
    /// Encodes the record, refusing what a reader would refuse.
    pub fn encode(&self) -> Result<Vec<u8>, RecordError> {
        if self.addrs.is_empty() || self.addrs.len() > MAX_ADDRS {
            return Err(RecordError::AddressCount(self.addrs.len()));
        }
        if let Some(bad) = self.addrs.iter().find(|a| !is_dialable(a)) {
            return Err(RecordError::Unusable(*bad));
        }
        let mut out = Vec::with_capacity(4 + self.addrs.len() * 19);
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.protocol_version.to_be_bytes());
        out.push(self.addrs.len() as u8);
        for addr in &self.addrs {
            push_addr(&mut out, addr);
        }
        if out.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLong(out.len()));
        }
        Ok(out)
    }

    /// Decodes and validates a record value from the DHT (untrusted input).
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        if bytes.len() > MAX_RECORD_LEN {
            return Err(RecordError::TooLong(bytes.len()));
        }
        let (&version, rest) = bytes.split_first().ok_or(RecordError::Empty)?;
        if version != RECORD_VERSION {
            return Err(RecordError::UnknownVersion(version));
        }
        let mut reader = Reader(rest);
        let protocol_version = u16::from_be_bytes(reader.take()?);
        let [count] = reader.take::<1>()?;
        let count = usize::from(count);
        if count == 0 || count > MAX_ADDRS {
            return Err(RecordError::AddressCount(count));
        }
        let mut addrs = Vec::with_capacity(count);
        for _ in 0..count {
            // A mapped `::ffff:a.b.c.d` is kept as written (the user's notices show it so);
            // every rule reads it as `a.b.c.d` (`crate::policy::canonical_ip`).
            let addr = read_addr(&mut reader.0, Mapped::Keep).map_err(|e| match e {
                AddrError::UnknownFamily(f) => RecordError::UnknownFamily(f),
                AddrError::Truncated | AddrError::Mapped => RecordError::Truncated,
            })?;
            if !is_dialable(&addr) {
                return Err(RecordError::Unusable(addr));
            }
            addrs.push(addr);
        }
        if !reader.0.is_empty() {
            return Err(RecordError::TrailingBytes(reader.0.len()));
        }
        Ok(Self {
            protocol_version,
            addrs,
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(addrs: &[&str]) -> AddressRecord {
        AddressRecord {
            protocol_version: 1,
            addrs: addrs.iter().map(|a| a.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn round_trip_v4_and_v6() {
        let r = record(&["203.0.113.7:7667", "[2001:db8::1]:7667"]);
        let bytes = r.encode().unwrap();
        assert_eq!(bytes.len(), 4 + 7 + 19);
        assert_eq!(AddressRecord::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn known_encoding() {
        let bytes = record(&["127.0.0.1:7667"]).encode().unwrap();
        assert_eq!(bytes, [1, 0, 1, 1, 4, 127, 0, 0, 1, 0x1d, 0xf3]);
    }

    #[test]
    fn malformed_records_are_refused() {
        let good = record(&["127.0.0.1:7667"]).encode().unwrap();
        assert_eq!(AddressRecord::decode(&[]), Err(RecordError::Empty));
        let mut v2 = good.clone();
        v2[0] = 2;
        assert_eq!(
            AddressRecord::decode(&v2),
            Err(RecordError::UnknownVersion(2))
        );
        assert_eq!(
            AddressRecord::decode(&good[..good.len() - 1]),
            Err(RecordError::Truncated)
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            AddressRecord::decode(&trailing),
            Err(RecordError::TrailingBytes(1))
        );
        let mut zero = good.clone();
        zero[3] = 0;
        assert_eq!(
            AddressRecord::decode(&zero),
            Err(RecordError::AddressCount(0))
        );
        let mut family = good.clone();
        family[4] = 5;
        assert_eq!(
            AddressRecord::decode(&family),
            Err(RecordError::UnknownFamily(5))
        );
        assert_eq!(
            AddressRecord::decode(&vec![1u8; 1001]),
            Err(RecordError::TooLong(1001))
        );
    }

    #[test]
    fn unusable_addresses_are_refused_both_ways() {
        for bad in [
            "0.0.0.0:7667",
            "127.0.0.1:0",
            "224.0.0.1:7667",
            "255.255.255.255:1",
            "[::]:7667",
            "[::ffff:0.0.0.0]:7667",
            "[::ffff:224.0.0.1]:7667",
        ] {
            let r = record(&[bad]);
            assert!(matches!(r.encode(), Err(RecordError::Unusable(_))), "{bad}");
            // Hand-encode to check the reader refuses it as well.
            let mut bytes = record(&["127.0.0.1:7667"]).encode().unwrap();
            let addr: SocketAddr = bad.parse().unwrap();
            if let IpAddr::V4(ip) = addr.ip() {
                bytes[5..9].copy_from_slice(&ip.octets());
                bytes[9..11].copy_from_slice(&addr.port().to_be_bytes());
                assert!(matches!(
                    AddressRecord::decode(&bytes),
                    Err(RecordError::Unusable(_))
                ));
            }
        }
    }

    #[test]
    fn ipv4_mapped_addresses_are_written_and_read_as_ipv4() {
        let mapped = record(&["[::ffff:203.0.113.7]:7667"]);
        let bytes = mapped.encode().unwrap();
        assert_eq!(bytes, [1, 0, 1, 1, 4, 203, 0, 113, 7, 0x1d, 0xf3]);
        // Another writer's family-6 mapped form is accepted, and is the IPv4 address for
        // every rule (the dialler's included).
        let mut v6 = vec![1, 0, 1, 1, 6];
        v6.extend_from_slice(&"::ffff:203.0.113.7".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&7667u16.to_be_bytes());
        let read = AddressRecord::decode(&v6).unwrap();
        assert_eq!(
            canonical_ip(read.addrs[0].ip()),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(read.encode().unwrap(), bytes);
    }

    #[test]
    fn one_bad_address_refuses_the_whole_record() {
        let mut bytes = record(&["203.0.113.7:7667", "203.0.113.8:7667"])
            .encode()
            .unwrap();
        // The second address's port becomes 0.
        let len = bytes.len();
        bytes[len - 2..].copy_from_slice(&[0, 0]);
        assert_eq!(
            AddressRecord::decode(&bytes),
            Err(RecordError::Unusable("203.0.113.8:0".parse().unwrap()))
        );
    }

    #[test]
    fn address_count_is_bounded_and_max_fits() {
        let many: Vec<String> = (0..=MAX_ADDRS)
            .map(|i| format!("[2001:db8::{i:x}]:7667"))
            .collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(matches!(
            record(&refs).encode(),
            Err(RecordError::AddressCount(17))
        ));
        let max = record(&refs[..MAX_ADDRS]).encode().unwrap();
        assert!(max.len() <= MAX_RECORD_LEN);
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            let _ = AddressRecord::decode(&bytes);
        }

        #[test]
        fn encode_decode_round_trip(
            v4 in proptest::collection::vec((any::<[u8; 4]>(), 1u16..), 0..8),
            v6 in proptest::collection::vec((any::<[u8; 16]>(), 1u16..), 0..8),
            protocol_version in any::<u16>(),
        ) {
            let addrs: Vec<SocketAddr> = v4.iter().map(|(ip, p)| SocketAddr::from((*ip, *p)))
                .chain(v6.iter().map(|(ip, p)| SocketAddr::from((*ip, *p))))
                .map(|a| SocketAddr::new(canonical_ip(a.ip()), a.port()))
                .filter(is_dialable)
                .collect();
            let r = AddressRecord { protocol_version, addrs };
            match r.encode() {
                Ok(bytes) => prop_assert_eq!(AddressRecord::decode(&bytes).unwrap(), r),
                Err(e) => prop_assert_eq!(e, RecordError::AddressCount(0)),
            }
        }
    }
}
