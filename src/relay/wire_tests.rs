//! Tests of the relay control codec: fixed bytes (the vectors in docs/protocol.md), every
//! refusal, and round trips over arbitrary messages and arbitrary bytes.

use super::*;
use crate::crypto::{HandshakeError, Responder};
use crate::policy::canonical_ip;
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn key(seed: u8) -> PeerId {
    PeerId::of(&SigningKey::from_bytes(&[seed; 32]))
}

/// The first 16 bytes of SHA-256("disims v1 relay dial-back" || 5a * 16), computed
/// independently (Python's hashlib) for docs/protocol.md.
const PROBE_TOKEN_OF_5A: &str = "9b4d9a976c9c4ef2b04f2b0da4430e53";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn known_encodings() {
    let status = RelayMessage::Status {
        code: StatusCode::ResourceLimit,
        retry_after_s: 60,
    };
    assert_eq!(hex(&status.encode()), "4453524c0001080b003c");
    let ping = RelayMessage::Ping(0x0102030405060708);
    assert_eq!(hex(&ping.encode()), "4453524c0001090102030405060708");
    let accept = RelayMessage::Accept {
        circuit: CircuitId([0xab; 16]),
    };
    assert_eq!(
        hex(&accept.encode()),
        "4453524c000107abababababababababababababababab"
    );
    let incoming = RelayMessage::Incoming {
        circuit: CircuitId([0x11; 16]),
        from: "203.0.113.7:7667".parse().unwrap(),
    };
    assert_eq!(
        hex(&incoming.encode()),
        "4453524c00010611111111111111111111111111111111\
         04cb0071071df3"
    );
    let reserved = RelayMessage::Reserved(Grant {
        ttl_s: 3600,
        rate: 262144,
        idle_s: 180,
        observed: "[2001:db8::1]:40000".parse().unwrap(),
    });
    assert_eq!(
        hex(&reserved.encode()),
        "4453524c00010400000e1000040000000000b4\
         0620010db8000000000000000000000001 9c40"
            .replace(' ', "")
    );
    // Keys: the ed25519 public key of the 32-byte seed 01 01 .. 01.
    let k = key(1);
    assert_eq!(
        hex(k.as_bytes()),
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
    let connect = RelayMessage::Connect { target: k };
    assert_eq!(
        hex(&connect.encode()),
        "4453524c000105\
         8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c"
    );
    let reserve = RelayMessage::Reserve { target: k };
    assert_eq!(reserve.encode()[6], 1);
    for m in [status, ping, accept, incoming, reserved, connect, reserve] {
        assert_eq!(RelayMessage::decode(&m.encode()), Ok(m));
    }
}

#[test]
fn known_dial_back_encodings() {
    let nonce = [0x5a; 16];
    let dial_back = RelayMessage::DialBack { port: 7667, nonce };
    assert_eq!(
        hex(&dial_back.encode()),
        "4453524c00010b1df35a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
    );
    // The token is SHA-256("disims v1 relay dial-back" || 5a .. 5a), first 16 bytes.
    let token = probe_token(&nonce);
    assert_eq!(hex(&token), PROBE_TOKEN_OF_5A);
    let probe = RelayMessage::Probe { token };
    assert_eq!(
        hex(&probe.encode()),
        format!("4453524c00010c{PROBE_TOKEN_OF_5A}")
    );
    let result = RelayMessage::DialBackResult {
        nonce,
        code: StatusCode::DialBackFailed,
        retry_after_s: 0,
    };
    assert_eq!(
        hex(&result.encode()),
        "4453524c00010d5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a170000"
    );
    let refused = RelayMessage::DialBackResult {
        nonce,
        code: StatusCode::ResourceLimit,
        retry_after_s: 42,
    };
    assert_eq!(
        hex(&refused.encode()),
        "4453524c00010d5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a0b002a"
    );
    assert_eq!(StatusCode::from_byte(24), StatusCode::BadPort);
    // docs/protocol.md ("Test vectors" of "Relays") shows the same bytes.
    let doc = include_str!("../../docs/protocol.md");
    for (name, m) in [
        ("DialBack(7667, 5a 5a .. 5a)", &dial_back),
        ("Probe(token of 5a 5a .. 5a)", &probe),
        ("DialBackResult(5a 5a .. 5a, dial_back_failed, 0)", &result),
        ("DialBackResult(5a 5a .. 5a, resource_limit, 42)", &refused),
    ] {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("no row for {name} in docs/protocol.md"));
        let shown: String = row
            .rsplit('`')
            .nth(1)
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        assert_eq!(shown, hex(&m.encode()), "{name}");
    }
    assert!(doc.contains(&format!(
        "dial-back` followed by the 16 nonce bytes: `{PROBE_TOKEN_OF_5A}`"
    )));
    for m in [dial_back, probe, result, refused] {
        assert!(is_relay_record(&m.encode()));
        assert_eq!(RelayMessage::decode(&m.encode()), Ok(m));
    }
    // A token is not the nonce, and differs for another nonce.
    assert_ne!(probe_token(&nonce), nonce);
    assert_ne!(probe_token(&nonce), probe_token(&[0x5b; 16]));
}

#[test]
fn malformed_messages_are_refused_in_order() {
    let good = RelayMessage::Connect { target: key(1) }.encode();
    let d = RelayMessage::decode;
    assert_eq!(d(&[]), Err(RelayWireError::Short(0)));
    assert_eq!(d(&good[..6]), Err(RelayWireError::Short(6)));
    let mut magic = good.clone();
    magic[3] = b'S';
    assert_eq!(d(&magic), Err(RelayWireError::BadMagic));
    // A newer version is named as such even when its body is shorter or longer.
    let mut v2 = good[..7].to_vec();
    v2[5] = 2;
    assert_eq!(d(&v2), Err(RelayWireError::UnsupportedVersion(2)));
    let mut unknown = good.clone();
    unknown[6] = 99;
    assert_eq!(d(&unknown), Err(RelayWireError::UnknownType(99)));
    assert_eq!(
        d(&good[..good.len() - 1]),
        Err(RelayWireError::Truncated(5))
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(d(&trailing), Err(RelayWireError::Trailing(5, 1)));
    let mut long = good.clone();
    long.resize(MAX_RELAY_RECORD + 1, 0);
    assert_eq!(d(&long), Err(RelayWireError::TooLong(MAX_RELAY_RECORD + 1)));
    // The identity (all-zero y... here: y = 1) is a point of small order.
    let mut weak = good[..7].to_vec();
    let mut one = [0u8; 32];
    one[0] = 1;
    weak.extend_from_slice(&one);
    assert_eq!(d(&weak), Err(RelayWireError::BadKey));
    let incoming = RelayMessage::Incoming {
        circuit: CircuitId([0; 16]),
        from: "192.0.2.1:1".parse().unwrap(),
    }
    .encode();
    let mut family = incoming.clone();
    family[7 + 16] = 5;
    assert_eq!(d(&family), Err(RelayWireError::UnknownFamily(5)));
    let mut mapped = incoming[..7 + 16].to_vec();
    mapped.push(6);
    mapped.extend_from_slice(&"::ffff:192.0.2.1".parse::<Ipv6Addr>().unwrap().octets());
    mapped.extend_from_slice(&[0, 1]);
    assert_eq!(d(&mapped), Err(RelayWireError::MappedAddress));
}

#[test]
fn relay_records_and_msg1_cannot_be_confused() {
    let connect = RelayMessage::Connect { target: key(1) }.encode();
    assert!(is_relay_record(&connect));
    // A v1 gateway (no relay support) reads a relay request as a msg1 and refuses it by
    // its magic, before any X25519: it closes the connection, nothing else.
    let responder = Responder::new(&SigningKey::from_bytes(&[2; 32]), [3; 32]);
    assert_eq!(
        responder.read_msg1(&connect).map(|_| ()),
        Err(HandshakeError::BadMagic)
    );
    let mut msg1 = crate::crypto::MAGIC.to_vec();
    msg1.extend_from_slice(&1u16.to_be_bytes());
    msg1.extend_from_slice(&[9; 32]);
    assert!(!is_relay_record(&msg1));
    assert_eq!(RelayMessage::decode(&msg1), Err(RelayWireError::BadMagic));
}

#[test]
fn mapped_addresses_are_written_as_ipv4() {
    let m = RelayMessage::Incoming {
        circuit: CircuitId([0; 16]),
        from: "[::ffff:192.0.2.1]:9".parse().unwrap(),
    };
    let bytes = m.encode();
    assert_eq!(bytes[7 + 16], 4);
    assert_eq!(
        RelayMessage::decode(&bytes),
        Ok(RelayMessage::Incoming {
            circuit: CircuitId([0; 16]),
            from: "192.0.2.1:9".parse().unwrap(),
        })
    );
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, p)| SocketAddr::new(Ipv4Addr::from(ip).into(), p)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| {
            let v6 = Ipv6Addr::from(ip);
            let ip = canonical_ip(IpAddr::V6(v6));
            SocketAddr::new(ip, p)
        }),
    ]
}

fn message() -> impl Strategy<Value = RelayMessage> {
    let k = (1u8..=255).prop_map(key);
    prop_oneof![
        k.clone()
            .prop_map(|target| RelayMessage::Reserve { target }),
        (k.clone(), any::<[u8; 32]>())
            .prop_map(|(relay, nonce)| RelayMessage::Challenge { relay, nonce }),
        any::<[u8; 32]>().prop_map(|h| {
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&h);
            RelayMessage::Proof { signature }
        }),
        (any::<u32>(), any::<u32>(), any::<u32>(), addr()).prop_map(
            |(ttl_s, rate, idle_s, observed)| {
                RelayMessage::Reserved(Grant {
                    ttl_s,
                    rate,
                    idle_s,
                    observed,
                })
            }
        ),
        k.prop_map(|target| RelayMessage::Connect { target }),
        (any::<[u8; 16]>(), addr()).prop_map(|(c, from)| RelayMessage::Incoming {
            circuit: CircuitId(c),
            from
        }),
        any::<[u8; 16]>().prop_map(|c| RelayMessage::Accept {
            circuit: CircuitId(c)
        }),
        (any::<u8>(), any::<u16>()).prop_map(|(c, retry_after_s)| RelayMessage::Status {
            code: StatusCode::from_byte(c),
            retry_after_s
        }),
        any::<u64>().prop_map(RelayMessage::Ping),
        any::<u64>().prop_map(RelayMessage::Pong),
        (any::<u16>(), any::<[u8; 16]>())
            .prop_map(|(port, nonce)| RelayMessage::DialBack { port, nonce }),
        any::<[u8; 16]>().prop_map(|token| RelayMessage::Probe { token }),
        (any::<[u8; 16]>(), any::<u8>(), any::<u16>()).prop_map(|(nonce, c, retry_after_s)| {
            RelayMessage::DialBackResult {
                nonce,
                code: StatusCode::from_byte(c),
                retry_after_s,
            }
        }),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(m in message()) {
        let bytes = m.encode();
        prop_assert!(bytes.len() <= MAX_RELAY_RECORD);
        prop_assert_eq!(RelayMessage::decode(&bytes), Ok(m));
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decode_canonically(
        kind in 0u8..15,
        tail in proptest::collection::vec(any::<u8>(), 0..140),
    ) {
        let mut body = RELAY_MAGIC.to_vec();
        body.extend_from_slice(&RELAY_VERSION.to_be_bytes());
        body.push(kind);
        body.extend_from_slice(&tail);
        if let Ok(m) = RelayMessage::decode(&body) {
            prop_assert_eq!(m.encode(), body);
        }
    }

    #[test]
    fn raw_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = RelayMessage::decode(&body);
    }
}
