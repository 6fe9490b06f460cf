//! Tests of the purpose keys of version 2's first message ([`ProberKey`]): a first message
//! made for one purpose (peer session, relay control, open relay, dial-back probe) is not
//! answered as another, a handshake run for a purpose binds it (other keys), and an
//! initiator that expects no key (an open relay) learns the one the responder proved.

use ed25519_dalek::SigningKey;

use super::obfs::{Ephemeral, ProberKey, REPR_LEN};
use super::*;

const HOUR: u64 = 493_000;

fn identity(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// A full handshake whose msg1 is MACed with `key` (the responder checking with `key` too).
fn run(
    key: &ProberKey,
    expected: Option<&ed25519_dalek::VerifyingKey>,
) -> Result<(SessionKeys, SessionKeys), HandshakeError> {
    let (i_id, r_id) = (identity(1), identity(2));
    let (initiator, msg1) = InitiatorV2::with_prober_key(
        &i_id,
        key,
        expected,
        Ephemeral::from_seed([3; 32]),
        &[0x55; 9],
        HOUR,
    );
    let (awaiting, msg2) =
        ResponderV2::with_prober_key(&r_id, key.clone(), Ephemeral::from_seed([4; 32]))
            .read_msg1(&msg1, HOUR, 5)?;
    let (msg3, ki) = initiator
        .read_msg2_head(&msg2[..MSG2_HEAD_LEN])?
        .read_msg2_box(&msg2[MSG2_HEAD_LEN..], 6)?;
    Ok((ki, awaiting.read_msg3(&msg3)?))
}

fn purposes() -> Vec<(&'static str, ProberKey)> {
    let r = identity(2).verifying_key();
    vec![
        ("session", ProberKey::of(&r)),
        ("relay", ProberKey::relay(&r)),
        ("open relay", ProberKey::open()),
        ("dial-back", ProberKey::dial_back(&r, &[9; 16])),
        ("dial-back, other nonce", ProberKey::dial_back(&r, &[8; 16])),
        (
            "relay, other key",
            ProberKey::relay(&identity(5).verifying_key()),
        ),
    ]
}

#[test]
fn a_first_message_is_answered_for_its_own_purpose_only() {
    let repr = [0x42; REPR_LEN];
    let all = purposes();
    for (made_for, key) in &all {
        let msg1 = key.first_message(&repr, HOUR, &[0; 3]);
        for (checked_as, other) in &all {
            let read = read_msg1_head(other, &msg1, HOUR);
            if made_for == checked_as {
                assert_eq!(read.expect("its own purpose").pad_len, 3);
            } else {
                assert!(
                    matches!(read, Err(HandshakeError::NotForUs)),
                    "made for {made_for}, answered as {checked_as}"
                );
            }
        }
    }
}

#[test]
fn the_purpose_is_bound_into_the_session() {
    let r = identity(2).verifying_key();
    let (ks, _) = run(&ProberKey::of(&r), Some(&r)).expect("session purpose");
    let (kr, _) = run(&ProberKey::relay(&r), Some(&r)).expect("relay purpose");
    let (ko, _) = run(&ProberKey::open(), Some(&r)).expect("open purpose");
    // Same identities, same ephemerals, same paddings: only the MAC key differs.
    assert_ne!(ks.transcript_hash, kr.transcript_hash);
    assert_ne!(kr.transcript_hash, ko.transcript_hash);
    assert_ne!(ks.transcript_hash, ko.transcript_hash);
}

#[test]
fn an_initiator_expecting_no_key_learns_the_proved_one() {
    let r = identity(2).verifying_key();
    let (ki, kr) = run(&ProberKey::open(), None).expect("open relay");
    assert_eq!(ki.peer, r);
    assert_eq!(kr.peer, identity(1).verifying_key());
    assert_eq!(ki.transcript_hash, kr.transcript_hash);
    // Expecting a key still refuses another.
    let wrong = identity(7).verifying_key();
    assert!(matches!(
        run(&ProberKey::relay(&r), Some(&wrong)),
        Err(HandshakeError::WrongPeer { .. })
    ));
}

#[test]
fn a_dial_back_probe_is_checked_like_a_first_message() {
    let t = identity(6).verifying_key();
    let key = ProberKey::dial_back(&t, &[1; 16]);
    let probe = key.first_message(&[0x17; REPR_LEN], HOUR, &[0xaa; 40]);
    assert_eq!(probe.len(), MSG1_HEAD_LEN + 40);
    let head = read_msg1_head(&key, &probe, HOUR + 1).expect("an hour of skew");
    assert_eq!(head.pad_len, 40);
    assert!(
        read_msg1_head(&key, &probe, HOUR + 2).is_err(),
        "two hours off"
    );
    assert!(read_msg1_head(&ProberKey::dial_back(&t, &[2; 16]), &probe, HOUR).is_err());
}
