//! The DHT address record vector of docs/test-vectors.md, checked literally: the value
//! bytes, the BEP 44 bytes that are signed, the signature and the DHT target, all from the
//! RFC 8032 test-1 key. The signed bytes are built here from BEP 44's text, independently
//! of the `mainline` crate, and the signature is checked over them.

use disims::directory::{ADDRESS_SALT, AddressRecord};
use disims::identity::PeerId;
use ed25519_dalek::{Signature, SigningKey};
use mainline::MutableItem;

const DOC: &str = include_str!("../docs/test-vectors.md");

const SECRET: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const SALT: &str = "646973696d732d61646472";
const SEQ: i64 = 1_764_400_000_000_000;
const ADDRS: [&str; 2] = ["198.51.100.7:7667", "[2001:db8::7]:7667"];
const VALUE: &str = "0100010204c63364071df30620010db80000000000000000000000071df3";
const SIGNED: &str = "343a73616c7431313a646973696d732d61646472333a73657169313736343430\
                      3030303030303030303065313a7633303a0100010204c63364071df30620010d\
                      b80000000000000000000000071df3";
const SIGNATURE: &str = "fced1e1b4bea8effcb4be214a140e6e46ff1b79ae399f742440ee1bbb3e97011\
                         cdcbcf9f878518070ab8b3db8562e8cd7d68088e8bee35776a8d2bc712278b0a";
const TARGET: &str = "df1283d2c49b9a7b1096000fbdf399ea88ce323f";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len() / 2)
        .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// The document wraps long values at 32 bytes a line; these constants are one string.
fn doc_has(value: &str) -> bool {
    let flat: String = DOC.split_whitespace().collect();
    flat.contains(value)
}

#[test]
fn every_record_value_is_in_the_document_as_written() {
    for value in [
        SECRET,
        PUBLIC,
        SALT,
        VALUE,
        SIGNED,
        SIGNATURE,
        TARGET,
        &SEQ.to_string(),
    ] {
        assert!(doc_has(value), "{value} missing from test-vectors.md");
    }
    for addr in ADDRS {
        assert!(DOC.contains(addr), "{addr} missing from test-vectors.md");
    }
}

#[test]
fn the_record_is_signed_as_the_document_says() {
    let key = SigningKey::from_bytes(&unhex(SECRET).try_into().expect("32 bytes"));
    assert_eq!(hex(key.verifying_key().as_bytes()), PUBLIC);
    assert_eq!(hex(ADDRESS_SALT), SALT);
    let record = AddressRecord {
        protocol_version: 1,
        addrs: ADDRS.iter().map(|a| a.parse().expect("addr")).collect(),
    };
    let value = record.encode().expect("encodes");
    assert_eq!(hex(&value), VALUE);
    assert_eq!(AddressRecord::decode(&value), Ok(record));

    // BEP 44: the bencoded "salt", "seq" and "v" entries, without the outer dictionary.
    let mut signed = format!("4:salt{}:", ADDRESS_SALT.len()).into_bytes();
    signed.extend_from_slice(ADDRESS_SALT);
    signed.extend(format!("3:seqi{SEQ}e1:v{}:", value.len()).into_bytes());
    signed.extend_from_slice(&value);
    assert_eq!(hex(&signed), SIGNED);

    let item = MutableItem::new(key.clone(), &value, SEQ, Some(ADDRESS_SALT));
    assert_eq!(hex(item.signature()), SIGNATURE);
    assert_eq!(item.target().to_string(), TARGET);
    let signature = Signature::from_bytes(item.signature());
    let peer = PeerId::from_bytes(*item.key()).expect("a valid key");
    peer.verifying_key()
        .verify_strict(&signed, &signature)
        .expect("the signature covers exactly the signed bytes");
}
