//! The version 2 section of docs/test-vectors.md, generated from fixed inputs and checked
//! against the file literally: every value an independent implementation needs to follow
//! the handshake step by step (the ephemeral scalars and tweaks that the seeds give, the
//! representatives, the prober key and MAC, the transcript hashes, the keys, the masked
//! first frames). `PRINT_VECTORS=1 cargo test --lib vectors_v2 -- --nocapture` prints it.

use curve25519_elligator2::{MapToPointVariant, Randomized};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use super::kdf::*;
use super::obfs::{Ephemeral, ProberKey, public_of};
use super::*;

const DOC: &str = include_str!("../../docs/test-vectors.md");
const HOUR: u64 = 493_000;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The candidate the seed gives (as `Ephemeral::from_seed` picks it): scalar bytes, tweak.
fn chosen(seed: [u8; 32]) -> ([u8; 32], u8) {
    for i in 0u8..=255 {
        let e: [u8; 32] = Sha256::new()
            .chain_update(b"disims v2 ephemeral")
            .chain_update(seed)
            .chain_update([i])
            .finalize()
            .into();
        let tweak = Sha256::digest(e)[0];
        if Randomized::to_representative(&e, tweak).is_some().into() {
            return (e, tweak);
        }
    }
    unreachable!()
}

fn section() -> String {
    let (i_id, r_id) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (ei, ti) = chosen([3; 32]);
    let (er, tr) = chosen([4; 32]);
    let (e_i, e_r) = (Ephemeral::from_seed([3; 32]), Ephemeral::from_seed([4; 32]));
    let (repr_i, repr_r) = (*e_i.representative(), *e_r.representative());
    let pad1 = [0x55u8; 7];
    let (initiator, msg1) = InitiatorV2::new(&i_id, &r_id.verifying_key(), e_i, &pad1, HOUR);
    let (awaiting, msg2) = ResponderV2::new(&r_id, e_r)
        .read_msg1(&msg1, HOUR, 11)
        .unwrap();
    let (msg3, mut ki) = initiator
        .read_msg2_head(&msg2[..MSG2_HEAD_LEN])
        .unwrap()
        .read_msg2_box(&msg2[MSG2_HEAD_LEN..], 13)
        .unwrap();
    let mut kr = awaiting.read_msg3(&msg3).unwrap();
    let prober = Sha256::new()
        .chain_update(b"disims v2 prober key")
        .chain_update(r_id.verifying_key().as_bytes())
        .finalize();
    let t = ProberKey::of(&r_id.verifying_key()).tag(&repr_i, HOUR);
    let dh = x25519_dalek::StaticSecret::from(ei).diffie_hellman(&public_of(&repr_r));
    let th1 = hash(&[LABEL_V2, &msg1, &repr_r]);
    let th2 = hash(&[&th1, &msg2[32..]]);
    let th3 = hash(&[&th2, &msg3]);
    let key = |salt: &[u8; 32], info: &[u8]| hex(hkdf32(salt, dh.as_bytes(), info).as_array());
    let mut frame_i = Vec::new();
    ki.sealer.seal_into(b"hello", &mut frame_i).unwrap();
    let mut frame_r = Vec::new();
    kr.sealer.seal_into(b"hello", &mut frame_r).unwrap();
    let rows = [
        (
            "initiator ephemeral scalar bytes `ei` (seed 32 bytes `03`)",
            hex(&ei),
        ),
        ("its tweak", format!("{ti:02x}")),
        (
            "responder ephemeral scalar bytes `er` (seed 32 bytes `04`)",
            hex(&er),
        ),
        ("its tweak", format!("{tr:02x}")),
        ("`repr_i`", hex(&repr_i)),
        ("`Point(repr_i)`", hex(public_of(&repr_i).as_bytes())),
        ("`repr_r`", hex(&repr_r)),
        ("`Point(repr_r)`", hex(public_of(&repr_r).as_bytes())),
        ("`K_B` (prober key of `R_pub`)", hex(&prober)),
        ("`hour`", format!("{HOUR} (`{}`)", hex(&HOUR.to_be_bytes()))),
        ("`t = HMAC(K_B, repr_i \\|\\| u64(hour))`", hex(&t)),
        ("`dh`", hex(dh.as_bytes())),
        ("`th1`", hex(&th1)),
        ("`k_hs_r`", key(&th1, V2_HS_RESPONDER)),
        ("`k_hs_i`", key(&th1, V2_HS_INITIATOR)),
        (
            "`m_r` (first 2 bytes)",
            key(&th1, V2_HS_LEN_RESPONDER)[..4].to_string(),
        ),
        (
            "`m_i` (first 2 bytes)",
            key(&th1, V2_HS_LEN_INITIATOR)[..4].to_string(),
        ),
        ("`th2`", hex(&th2)),
        ("`th3`", hex(&th3)),
        ("`k_i2r`", key(&th3, V2_DATA_I2R)),
        ("`k_r2i`", key(&th3, V2_DATA_R2I)),
        ("`l_i2r`", key(&th3, V2_LEN_I2R)),
        ("`l_r2i`", key(&th3, V2_LEN_R2I)),
        ("msg1 (7 padding bytes `55`)", hex(&msg1)),
        ("msg2 (11 zero bytes of padding in the box)", hex(&msg2)),
        ("msg3 (13 zero bytes of padding in the box)", hex(&msg3)),
        ("first frame initiator -> responder, `hello`", hex(&frame_i)),
        ("first frame responder -> initiator, `hello`", hex(&frame_r)),
    ];
    let mut out = String::from("| value | hex |\n| --- | --- |\n");
    for (name, value) in rows {
        out.push_str(&format!("| {name} | `{value}` |\n"));
    }
    out
}

#[test]
fn the_documented_version_2_vectors_are_what_the_code_computes() {
    let section = section();
    if std::env::var_os("PRINT_VECTORS").is_some() {
        println!("{section}");
    }
    assert!(
        DOC.contains(&section),
        "docs/test-vectors.md lacks the version 2 table (PRINT_VECTORS=1 prints it):\n{section}"
    );
}
