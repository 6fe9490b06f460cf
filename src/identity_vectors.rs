//! The nick vectors of docs/test-vectors.md, checked literally: every value below appears
//! in that file as written, and the code computes (or refuses) exactly it.

use ed25519_dalek::SigningKey;

use super::*;

/// docs/test-vectors.md, read at compile time, so that the document and these constants
/// cannot drift apart.
const DOC: &str = include_str!("../docs/test-vectors.md");

/// (secret seed, public key, nick): RFC 8032 section 7.1 tests 1 and 2, then the canonical
/// point y = 3 (a valid key of large order; nobody knows its secret, but it is a key).
const VALID: [(Option<&str>, &str, &str); 3] = [
    (
        Some("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "47pjoycnsrfmxikm95jh13y88e8qnhzu5kungjpxyepgt7a8krpy",
    ),
    (
        Some("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"),
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "8iybxo9eeqriirizbkuw4g56z1qjomgxf5njpdgy3ik9nkzwcagy",
    ),
    (
        None,
        "0300000000000000000000000000000000000000000000000000000000000000",
        "ycyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
    ),
];

/// What a rejected vector is refused for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Why {
    NonCanonicalY,
    NegativeZeroX,
    SmallOrder,
    TrailingBits,
}

/// (encoded bytes, or None where the text itself is at fault; nick; reason).
const REJECTED: [(Option<&str>, &str, Why); 6] = [
    // y = p + 3: the same point as the valid `ycyy...` above.
    (
        Some("f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        "6d9999999999999999999999999999999999999999999999979o",
        Why::NonCanonicalY,
    ),
    // (x, y) = (0, 1), the identity, with the sign bit set.
    (
        Some("0100000000000000000000000000000000000000000000000000000000000080"),
        "yryyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyynyy",
        Why::NegativeZeroX,
    ),
    // (x, y) = (0, -1), of order 2, with the sign bit set.
    (
        Some("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"),
        "7u9999999999999999999999999999999999999999999999999o",
        Why::NegativeZeroX,
    ),
    // A point of order 8.
    (
        Some("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        "r5wjmd6nseu5ytqd61r9f5ha6dk79myf4xddgqpt8ybeo5ku9ono",
        Why::SmallOrder,
    ),
    // The identity point, canonically encoded: still of small order (1).
    (
        Some("0100000000000000000000000000000000000000000000000000000000000000"),
        "yryyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
        Why::SmallOrder,
    ),
    // The first valid nick with one of the 4 unused low bits of its last symbol set.
    (
        None,
        "47pjoycnsrfmxikm95jh13y88e8qnhzu5kungjpxyepgt7a8krpb",
        Why::TrailingBits,
    ),
];

fn unhex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn reason(err: &IdentityError) -> Option<Why> {
    match err {
        IdentityError::NonCanonicalY => Some(Why::NonCanonicalY),
        IdentityError::NegativeZeroX => Some(Why::NegativeZeroX),
        IdentityError::SmallOrder => Some(Why::SmallOrder),
        IdentityError::NickTrailingBits => Some(Why::TrailingBits),
        _ => None,
    }
}

#[test]
fn every_vector_is_in_the_document_as_written() {
    for (seed, public, nick) in VALID {
        for value in seed.into_iter().chain([public, nick]) {
            assert!(DOC.contains(value), "{value} missing from test-vectors.md");
        }
    }
    for (bytes, nick, _) in REJECTED {
        for value in bytes.into_iter().chain([nick]) {
            assert!(DOC.contains(value), "{value} missing from test-vectors.md");
        }
    }
}

#[test]
fn valid_nicks_are_their_keys_and_back() {
    for (seed, public, nick) in VALID {
        let bytes = unhex32(public);
        if let Some(seed) = seed {
            let key = SigningKey::from_bytes(&unhex32(seed));
            assert_eq!(hex(key.verifying_key().as_bytes()), public);
        }
        let id = PeerId::from_bytes(bytes).expect(nick);
        assert_eq!(id.nick(), nick);
        assert_eq!(PeerId::from_nick(nick).expect(nick), id);
        assert_eq!(encode_zbase32(&bytes), nick);
    }
}

#[test]
fn rejected_nicks_are_refused_for_their_reason() {
    for (bytes, nick, why) in REJECTED {
        let err = PeerId::from_nick(nick).expect_err(nick);
        assert_eq!(reason(&err), Some(why), "{nick}: {err}");
        if let Some(bytes) = bytes {
            let bytes = unhex32(bytes);
            // The nick is the plain z-base-32 text of the bytes: refused for the key, not
            // for its spelling.
            assert_eq!(encode_zbase32(&bytes), nick);
            let err = PeerId::from_bytes(bytes).expect_err(nick);
            assert_eq!(reason(&err), Some(why), "{nick}: {err}");
            assert!(checked_key(&bytes).is_err());
        }
    }
}

#[test]
fn the_non_canonical_vector_is_another_spelling_of_a_valid_key() {
    // Without the canonicity check, `6d99...` and `ycyy...` would be two nicks of one key.
    let alias = ed25519_dalek::VerifyingKey::from_bytes(&unhex32(
        "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ))
    .expect("the curve library decodes the alias");
    assert_eq!(
        hex(&alias.to_edwards().compress().to_bytes()),
        VALID[2].1,
        "y = p + 3 is the point y = 3"
    );
}

#[test]
fn all_nineteen_unreduced_y_values_and_all_small_order_points_are_refused() {
    for k in 0..19u8 {
        for sign in [0u8, 0x80] {
            let mut bytes = [0xffu8; 32];
            bytes[0] = 0xed + k;
            bytes[31] = 0x7f | sign;
            assert!(matches!(
                PeerId::from_bytes(bytes),
                Err(IdentityError::NonCanonicalY)
            ));
        }
    }
    // The 8 torsion points: multiples of the order-8 point above.
    let t = ed25519_dalek::VerifyingKey::from_bytes(&unhex32(REJECTED[3].0.unwrap_or("")))
        .expect("a point")
        .to_edwards();
    let mut p = t;
    for _ in 0..8 {
        let bytes = p.compress().to_bytes();
        assert!(PeerId::from_bytes(bytes).is_err(), "{}", hex(&bytes));
        p += t;
    }
}
