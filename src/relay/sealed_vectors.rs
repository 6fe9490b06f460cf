//! The "Relay control, version 2" section of docs/test-vectors.md, generated from fixed
//! inputs and checked against the file literally: the purpose keys, a dial-back probe, and
//! one sealed control record of the version 2 vector session (docs/test-vectors.md,
//! "Handshake, version 2"). `PRINT_VECTORS=1 cargo test --lib sealed_vectors -- --nocapture`
//! prints it.

use ed25519_dalek::SigningKey;

use crate::crypto::obfs::{Ephemeral, ProberKey};
use crate::crypto::{InitiatorV2, MSG2_HEAD_LEN, ResponderV2};
use crate::relay::wire::RelayMessage;

const DOC: &str = include_str!("../../docs/test-vectors.md");
const HOUR: u64 = 493_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The purpose key's bytes, as the HMAC key they are.
fn key_hex(key: &ProberKey) -> String {
    // The tag of an all-zero representative at hour 0 names the key without exposing a
    // getter; the key itself is SHA-256 of its label and inputs, given below.
    hex(&key.first_message(&[0; 32], 0, &[])[32..48])
}

fn section() -> String {
    use sha2::{Digest, Sha256};
    let (i_id, r_id) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (r, t) = (r_id.verifying_key(), i_id.verifying_key());
    let nonce = [0x5a; 16];
    let sha = |parts: &[&[u8]]| {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p);
        }
        hex(&h.finalize())
    };
    let probe = ProberKey::dial_back(&t, &nonce).first_message(&[0x17; 32], HOUR, &[0xaa; 3]);
    // The version 2 vector session, then one control record from the initiator.
    let (initiator, msg1) =
        InitiatorV2::new(&i_id, &r, Ephemeral::from_seed([3; 32]), &[0x55; 7], HOUR);
    let (_, msg2) = ResponderV2::new(&r_id, Ephemeral::from_seed([4; 32]))
        .read_msg1(&msg1, HOUR, 11)
        .unwrap();
    let (_, mut keys) = initiator
        .read_msg2_head(&msg2[..MSG2_HEAD_LEN])
        .unwrap()
        .read_msg2_box(&msg2[MSG2_HEAD_LEN..], 13)
        .unwrap();
    let body = RelayMessage::Ping(0x0102_0304_0506_0708).encode();
    let mut plain = (body.len() as u16).to_be_bytes().to_vec();
    plain.extend_from_slice(&body);
    plain.extend_from_slice(&[0; 4]);
    let mut record = Vec::new();
    keys.sealer.seal_into(&plain, &mut record).unwrap();
    let rows = [
        (
            "`K_RL(R)` = SHA-256(`disims v2 relay key` \\|\\| R), R = key of seed `02`",
            sha(&[b"disims v2 relay key", r.as_bytes()]),
        ),
        (
            "`K_OPEN` = SHA-256(`disims v2 open relay key`)",
            sha(&[b"disims v2 open relay key"]),
        ),
        (
            "`K_P(T, n)` = SHA-256(`disims v2 dial-back key` \\|\\| T \\|\\| n), T = key of seed `01`, n = 16 bytes `5a`",
            sha(&[b"disims v2 dial-back key", t.as_bytes(), &nonce]),
        ),
        (
            "MAC of `r` = 32 bytes `00` at hour 0 under `K_RL(R)`",
            key_hex(&ProberKey::relay(&r)),
        ),
        (
            "probe for T and n: `r` = 32 bytes `17`, hour 493000, 3 padding bytes `aa`",
            hex(&probe),
        ),
        (
            "sealed plaintext: `u16 n`, `Ping(0102030405060708)`, 4 zero bytes",
            hex(&plain),
        ),
        (
            "its first record initiator -> relay in the version 2 vector session",
            hex(&record),
        ),
    ];
    let mut out = String::from("| value | hex |\n| --- | --- |\n");
    for (name, value) in rows {
        out.push_str(&format!("| {name} | `{value}` |\n"));
    }
    out
}

#[test]
fn the_documented_relay_control_vectors_are_what_the_code_computes() {
    let section = section();
    if std::env::var_os("PRINT_VECTORS").is_some() {
        println!("{section}");
    }
    assert!(
        DOC.contains(&section),
        "docs/test-vectors.md lacks the relay control table (PRINT_VECTORS=1 prints it):\n{section}"
    );
}

#[test]
fn the_documented_purpose_keys_are_the_ones_in_use() {
    use hmac::{Hmac, KeyInit, Mac};
    use sha2::{Digest, Sha256};
    // The code's keys, seen through the MAC they make, are the table's definitions.
    let (r, t) = (
        SigningKey::from_bytes(&[2; 32]).verifying_key(),
        SigningKey::from_bytes(&[1; 32]).verifying_key(),
    );
    let cases: [(ProberKey, Vec<u8>); 3] = [
        (
            ProberKey::relay(&r),
            [b"disims v2 relay key".as_slice(), r.as_bytes()].concat(),
        ),
        (ProberKey::open(), b"disims v2 open relay key".to_vec()),
        (
            ProberKey::dial_back(&t, &[0x5a; 16]),
            [
                b"disims v2 dial-back key".as_slice(),
                t.as_bytes(),
                &[0x5a; 16],
            ]
            .concat(),
        ),
    ];
    for (key, definition) in cases {
        let defined = Sha256::digest(&definition);
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&defined).unwrap();
        mac.update(&[0; 40]);
        let expected = mac.finalize().into_bytes();
        assert_eq!(key_hex(&key), hex(&expected[..16]));
        assert!(
            section().contains(&hex(&defined)),
            "the table lists the key"
        );
    }
}
