//! Tests of the record version 2: fixed bytes, what a v1 reader makes of it, refusals,
//! and round trips.

use super::*;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn key(seed: u8) -> PeerId {
    PeerId::of(&SigningKey::from_bytes(&[seed; 32]))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn sample() -> RecordV2 {
    RecordV2 {
        protocol_version: 1,
        addrs: vec![a("203.0.113.7:7667")],
        relays: vec![RelayEntry {
            key: key(2),
            addrs: vec![a("198.51.100.1:7667")],
        }],
    }
}

#[test]
fn known_encoding() {
    let bytes = sample().encode().unwrap();
    assert_eq!(
        hex(&bytes),
        "02000101\
         04cb0071071df3\
         01\
         8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394\
         01\
         04c63364011df3"
    );
    assert_eq!(
        PublishedRecord::decode(&bytes),
        Ok(PublishedRecord::V2(sample()))
    );
}

#[test]
fn a_v1_reader_refuses_v2_by_its_version_byte() {
    let bytes = sample().encode().unwrap();
    assert_eq!(
        AddressRecord::decode(&bytes),
        Err(RecordError::UnknownVersion(2))
    );
}

#[test]
fn reachable_directly_the_record_is_version_1_byte_for_byte() {
    let r = PublishedRecord::new(1, vec![a("127.0.0.1:7667")], None);
    let bytes = r.encode().unwrap();
    assert_eq!(bytes, [1, 0, 1, 1, 4, 127, 0, 0, 1, 0x1d, 0xf3]);
    assert_eq!(PublishedRecord::decode(&bytes), Ok(r));
}

#[test]
fn a_relayed_only_record_has_no_direct_address() {
    let mut r = sample();
    r.addrs.clear();
    let bytes = r.encode().unwrap();
    assert_eq!(bytes[3], 0);
    assert_eq!(RecordV2::decode(&bytes), Ok(r));
}

#[test]
fn malformed_records_are_refused() {
    let good = sample().encode().unwrap();
    let d = RecordV2::decode;
    assert_eq!(d(&[]), Err(RecordError::Empty.into()));
    assert_eq!(
        d(&good[..good.len() - 1]),
        Err(RecordError::Truncated.into())
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(d(&trailing), Err(RecordError::TrailingBytes(1).into()));
    // No relay: "not reachable directly, no relay held now".
    let mut none = good[..11].to_vec();
    none.push(0);
    assert_eq!(d(&none).unwrap().relays, Vec::new());
    let mut five = good.clone();
    five[11] = 5;
    assert_eq!(d(&five), Err(RecordV2Error::RelayCount(5)));
    let mut no_addr = good.clone();
    no_addr[44] = 0;
    assert_eq!(d(&no_addr), Err(RecordV2Error::RelayAddressCount(0)));
    let mut weak = good.clone();
    weak[12..44].copy_from_slice(&[0; 32]);
    assert_eq!(d(&weak), Err(RecordV2Error::BadRelayKey));
    let mut port0 = good.clone();
    let n = port0.len();
    port0[n - 2..].copy_from_slice(&[0, 0]);
    assert_eq!(
        d(&port0),
        Err(RecordError::Unusable(a("198.51.100.1:0")).into())
    );
    let mut twice = sample();
    twice.relays.push(twice.relays[0].clone());
    assert_eq!(twice.encode(), Err(RecordV2Error::DuplicateRelay));
    let mut bytes = sample().encode().unwrap();
    bytes[11] = 2;
    bytes.extend_from_slice(&good[12..]);
    assert_eq!(d(&bytes), Err(RecordV2Error::DuplicateRelay));
    let mut mapped = good[..4].to_vec();
    mapped.push(6);
    mapped.extend_from_slice(&"::ffff:203.0.113.7".parse::<Ipv6Addr>().unwrap().octets());
    mapped.extend_from_slice(&good[9..]);
    assert_eq!(d(&mapped), Err(RecordV2Error::MappedAddress));
    assert_eq!(
        d(&vec![2; MAX_RECORD_LEN + 1]),
        Err(RecordError::TooLong(MAX_RECORD_LEN + 1).into())
    );
}

#[test]
fn the_largest_record_fits() {
    let v6 = |i: u16| a(&format!("[2001:db8::{i}]:7667"));
    let r = RecordV2 {
        protocol_version: 1,
        addrs: (1..=16).map(v6).collect(),
        relays: (1..=4)
            .map(|s| RelayEntry {
                key: key(s),
                addrs: (1..=4).map(|i| v6(100 * u16::from(s) + i)).collect(),
            })
            .collect(),
    };
    let bytes = r.encode().unwrap();
    assert_eq!(bytes.len(), 745);
    assert_eq!(RecordV2::decode(&bytes), Ok(r));
}

fn dialable() -> impl Strategy<Value = SocketAddr> {
    (1u8..=223, any::<[u8; 3]>(), 1u16..).prop_map(|(first, rest, port)| {
        SocketAddr::new(
            Ipv4Addr::new(first, rest[0], rest[1], rest[2].max(1)).into(),
            port,
        )
    })
}

proptest! {
    #[test]
    fn records_round_trip(
        addrs in proptest::collection::vec(dialable(), 0..=16),
        relays in proptest::collection::vec(proptest::collection::vec(dialable(), 1..=4), 1..=4),
    ) {
        let r = RecordV2 {
            protocol_version: 1,
            addrs,
            relays: relays.into_iter().enumerate().map(|(i, addrs)| RelayEntry { key: key(i as u8 + 1), addrs }).collect(),
        };
        match r.encode() {
            Ok(bytes) => prop_assert_eq!(RecordV2::decode(&bytes), Ok(r)),
            // Some generated addresses are broadcast or otherwise unusable.
            Err(e) => prop_assert!(matches!(e, RecordV2Error::Record(RecordError::Unusable(_)))),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_canonically(
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = vec![RECORD_V2];
        bytes.extend_from_slice(&body);
        if let Ok(r) = RecordV2::decode(&bytes) {
            prop_assert_eq!(r.encode(), Ok(bytes));
        }
    }
}
