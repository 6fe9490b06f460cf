//! A peer that follows the handshake but proves a key that is not a DiSIMS key: small order,
//! or a non-canonical spelling of a valid point. Each is tampered into msg2 (a forged
//! responder) and msg3 (a forged initiator), sealed under the right handshake key so that
//! only the key check can refuse it.

use crypto_secretbox::AeadInPlace;
use ed25519_dalek::SigningKey;
use x25519_dalek::{PublicKey, StaticSecret};

use super::frame::{TAG_LEN, nonce};
use super::kdf::{INFO_HS_INITIATOR, INFO_HS_RESPONDER, LABEL, hash, hkdf32};
use super::*;

/// (bytes, what they are): keys no proof may carry. docs/test-vectors.md lists them.
const BAD_KEYS: [(&str, &str); 4] = [
    (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "order 8",
    ),
    (
        "0100000000000000000000000000000000000000000000000000000000000000",
        "identity",
    ),
    (
        "f0ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "y = p + 3",
    ),
    (
        "0100000000000000000000000000000000000000000000000000000000000080",
        "x = 0, sign bit",
    ),
];

fn unhex32(text: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

/// An identity box holding `key` and a signature of R = identity point, s = 0: the
/// signature a small-order key "makes" for any message under a lax verifier.
fn forged_box(cipher: &crypto_secretbox::XSalsa20Poly1305, key: [u8; 32]) -> Vec<u8> {
    let mut body = [0u8; 96];
    body[..32].copy_from_slice(&key);
    body[32] = 1; // R = (0, 1)
    let tag = cipher
        .encrypt_in_place_detached(&nonce(0), b"", &mut body)
        .expect("seal");
    let mut sealed = tag.to_vec();
    sealed.extend_from_slice(&body);
    assert_eq!(sealed.len(), TAG_LEN + 96);
    sealed
}

#[test]
fn a_forged_initiator_proving_a_bad_key_in_msg3_is_refused() {
    for (hex, what) in BAD_KEYS {
        let responder_id = SigningKey::from_bytes(&[2; 32]);
        // The attacker runs the initiator's side by hand, with ephemeral secret [3; 32].
        let ephemeral = StaticSecret::from([3u8; 32]);
        let mut msg1 = MAGIC.to_vec();
        msg1.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        msg1.extend_from_slice(PublicKey::from(&ephemeral).as_bytes());
        let (awaiting, msg2) = Responder::new(&responder_id, [4; 32])
            .read_msg1(&msg1)
            .expect("msg1");
        let e_r: [u8; 32] = msg2[..32].try_into().expect("e_r");
        let dh = ephemeral.diffie_hellman(&PublicKey::from(e_r));
        let th1 = hash(&[LABEL, &msg1, &e_r]);
        let k_hs_i = hkdf32(&th1, dh.as_bytes(), INFO_HS_INITIATOR);
        let msg3 = forged_box(&k_hs_i.cipher(), unhex32(hex));
        assert_eq!(
            awaiting.read_msg3(&msg3).map(|_| ()),
            Err(HandshakeError::BadIdentityKey(HandshakeMessage::Msg3)),
            "{what}"
        );
    }
}

#[test]
fn a_forged_responder_proving_a_bad_key_in_msg2_is_refused() {
    for (hex, what) in BAD_KEYS {
        let initiator_id = SigningKey::from_bytes(&[1; 32]);
        let dialled = SigningKey::from_bytes(&[2; 32]).verifying_key();
        let (initiator, msg1) = Initiator::new(&initiator_id, &dialled, [3; 32]);
        // The attacker answers as responder with ephemeral secret [4; 32].
        let ephemeral = StaticSecret::from([4u8; 32]);
        let e_i: [u8; 32] = msg1[6..].try_into().expect("e_i");
        let e_r = PublicKey::from(&ephemeral);
        let dh = ephemeral.diffie_hellman(&PublicKey::from(e_i));
        let th1 = hash(&[LABEL, &msg1, e_r.as_bytes()]);
        let k_hs_r = hkdf32(&th1, dh.as_bytes(), INFO_HS_RESPONDER);
        let mut msg2 = e_r.as_bytes().to_vec();
        msg2.extend_from_slice(&forged_box(&k_hs_r.cipher(), unhex32(hex)));
        assert_eq!(
            initiator.read_msg2(&msg2).map(|_| ()),
            Err(HandshakeError::BadIdentityKey(HandshakeMessage::Msg2)),
            "{what}"
        );
    }
}
