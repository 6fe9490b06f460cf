//! Tests of the blinded records: the publisher's and the reader's sides agree, signatures
//! verify under the blinded key (and a mainline testnet stores and returns such an item),
//! nothing of the identity shows, values have one size and open only with the nick.

use super::*;
use ed25519_dalek::Verifier;

fn identity(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

#[test]
fn the_reader_finds_where_the_publisher_signs() {
    let id = identity(1);
    let signer = BlindedSigner::new(&id, 20_000).unwrap();
    let reader = BlindedLocation::of(&PeerId::of(&id), 20_000).unwrap();
    assert_eq!(signer.location(), &reader);
    let message = b"4:salt16:................3:seqi1e1:v3:abc";
    let signature = signer.sign(message);
    let blinded = VerifyingKey::from_bytes(&reader.key).unwrap();
    blinded.verify_strict(message, &signature).unwrap();
    blinded.verify(message, &signature).unwrap();
    // Not under the identity key, and not for another message.
    assert!(id.verifying_key().verify(message, &signature).is_err());
    assert!(blinded.verify_strict(b"another", &signature).is_err());
    // Deterministic, like Ed25519: the same message gives the same signature.
    assert_eq!(signature, signer.sign(message));
}

#[test]
fn nothing_of_the_identity_shows_and_periods_do_not_link() {
    let id = PeerId::of(&identity(1));
    let today = BlindedLocation::of(&id, 20_000).unwrap();
    let tomorrow = BlindedLocation::of(&id, 20_001).unwrap();
    let other = BlindedLocation::of(&PeerId::of(&identity(2)), 20_000).unwrap();
    assert_ne!(today.key, *id.as_bytes());
    assert_ne!(today.key, tomorrow.key);
    assert_ne!(today.salt, tomorrow.salt);
    assert_ne!(today.key, other.key);
    assert!(!today.salt.windows(6).any(|w| w == b"disims"));
    // A blinded key is a valid identity-grade key (canonical, large order).
    assert!(PeerId::from_bytes(today.key).is_ok());
}

#[test]
fn values_have_one_size_and_open_only_with_the_nick_and_period() {
    let id = PeerId::of(&identity(1));
    let here = BlindedLocation::of(&id, 20_000).unwrap();
    let short = here.seal(&[1, 0, 1], [7; 24]).unwrap();
    let long = here.seal(&[9; MAX_RECORD], [8; 24]).unwrap();
    assert_eq!((short.len(), long.len()), (VALUE_LEN, VALUE_LEN));
    assert_eq!(here.open(&short).unwrap(), vec![1, 0, 1]);
    assert_eq!(here.open(&long).unwrap(), vec![9; MAX_RECORD]);
    assert_eq!(
        here.seal(&[0; MAX_RECORD + 1], [0; 24]),
        Err(BlindError::TooLong(MAX_RECORD + 1))
    );
    let tomorrow = BlindedLocation::of(&id, 20_001).unwrap();
    let stranger = BlindedLocation::of(&PeerId::of(&identity(2)), 20_000).unwrap();
    assert_eq!(tomorrow.open(&short), Err(BlindError::Decrypt));
    assert_eq!(stranger.open(&short), Err(BlindError::Decrypt));
    let mut changed = short.clone();
    changed[100] ^= 1;
    assert_eq!(here.open(&changed), Err(BlindError::Decrypt));
    assert_eq!(
        here.open(&short[1..]),
        Err(BlindError::BadLength(VALUE_LEN - 1))
    );
    // The largest record v2 (745 bytes) fits.
    const { assert!(MAX_RECORD >= 745) };
}

#[test]
fn periods_are_utc_days() {
    assert_eq!(period_of(0), 0);
    assert_eq!(period_of(86_399), 0);
    assert_eq!(period_of(86_400), 1);
    // 2026-11-29T00:00:00Z
    assert_eq!(period_of(1_795_910_400), 20_786);
}

/// Known values for another implementation (recomputed by this code: a regression check
/// until a second implementation confirms them): seed `01 01 .. 01`, period 20,000, the
/// record v1 `127.0.0.1`-style bytes below sealed with the nonce `42` x 24.
#[test]
fn known_blinded_location() {
    let id = PeerId::of(&identity(1));
    let here = BlindedLocation::of(&id, 20_000).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(hex(&here.key), KNOWN_KEY, "blinded key");
    assert_eq!(hex(&here.salt), KNOWN_SALT, "salt");
    let value = here
        .seal(&[1, 0, 1, 1, 4, 198, 51, 100, 7, 0x1d, 0xf3], [0x42; 24])
        .unwrap();
    assert_eq!(
        hex(&value[..56]),
        KNOWN_VALUE_HEAD,
        "nonce, tag and first bytes"
    );
}

const KNOWN_KEY: &str = "92d57a1fe1e80ee49e70faa525649c94407d8c79cfff9f4be86de9ead3ece347";
const KNOWN_SALT: &str = "dd0443c93c579069dc1fc7e6d9c278a9";
/// The nonce (`42` x 24), the Poly1305 tag, then the first 16 bytes of ciphertext.
const KNOWN_VALUE_HEAD: &str = "424242424242424242424242424242424242424242424242fffcdf82131cde4447701fb9440f92bdbe60caf88429afa664b165a04f8b1d45";

/// mainline 8 stores an item signed with a blinded key and returns it to a reader who
/// derives the location from the nick alone.
#[tokio::test]
async fn a_mainline_testnet_stores_and_returns_a_blinded_item() {
    use ::mainline::{Dht, MutableItem, Testnet};
    let (publisher, reader) = tokio::task::spawn_blocking(|| {
        let testnet = Testnet::new(3).unwrap();
        let dht = || {
            Dht::builder()
                .bootstrap(&testnet.bootstrap)
                .build()
                .unwrap()
                .as_async()
        };
        (dht(), (dht(), testnet))
    })
    .await
    .unwrap();
    let (publisher, reader, _testnet) = (publisher, reader.0, reader.1);
    let id = identity(3);
    let signer = BlindedSigner::new(&id, 20_000).unwrap();
    let location = signer.location().clone();
    let value = location.seal(b"a record", [5; 24]).unwrap();
    let signable = bep44_signable(1, &value, Some(&location.salt));
    let signature = signer.sign(&signable).to_bytes();
    let item =
        MutableItem::new_signed_unchecked(location.key, signature, &value, 1, Some(&location.salt));
    publisher.put_mutable(item, None).await.unwrap();
    let found = BlindedLocation::of(&PeerId::of(&id), 20_000).unwrap();
    let got = reader
        .get_mutable_most_recent(&found.key, Some(&found.salt))
        .await
        .expect("the blinded item is found");
    assert_eq!(found.open(got.value()).unwrap(), b"a record");
}

#[test]
fn the_signable_bytes_are_bep_44s() {
    assert_eq!(
        bep44_signable(1, b"Hello World!", Some(b"foobar")),
        b"4:salt6:foobar3:seqi1e1:v12:Hello World!".to_vec()
    );
    assert_eq!(
        bep44_signable(1, b"Hello World!", None),
        b"3:seqi1e1:v12:Hello World!".to_vec()
    );
}
