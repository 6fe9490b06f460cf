//! Tests of sealed control records: every message goes through both ways, the bytes say
//! nothing (no magic, lengths that vary), and a tampered, reordered, over-long or
//! inconsistent record is refused without a panic.

use ed25519_dalek::SigningKey;

use super::*;
use crate::crypto::obfs::Ephemeral;
use crate::crypto::{InitiatorV2, MSG2_HEAD_LEN, ResponderV2};
use crate::identity::PeerId;
use crate::relay::wire::{CircuitId, Grant, StatusCode};

const HOUR: u64 = 493_000;
/// A Ping's body: magic, version, type, nonce.
const PING: usize = 15;

fn session_keys() -> (SessionKeys, SessionKeys) {
    let (i, r) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (initiator, msg1) = InitiatorV2::new(
        &i,
        &r.verifying_key(),
        Ephemeral::from_seed([3; 32]),
        &[],
        HOUR,
    );
    let (awaiting, msg2) = ResponderV2::new(&r, Ephemeral::from_seed([4; 32]))
        .read_msg1(&msg1, HOUR, 0)
        .unwrap();
    let (msg3, ki) = initiator
        .read_msg2_head(&msg2[..MSG2_HEAD_LEN])
        .unwrap()
        .read_msg2_box(&msg2[MSG2_HEAD_LEN..], 0)
        .unwrap();
    (ki, awaiting.read_msg3(&msg3).unwrap())
}

/// The initiator's sealer and the responder's opener, and the other way.
fn channel(
    pad_max: usize,
) -> (
    (ControlSealer, ControlOpener),
    (ControlSealer, ControlOpener),
) {
    let (ki, kr) = session_keys();
    (
        sealed(ki, [5; 32], pad_max).unwrap(),
        sealed(kr, [6; 32], pad_max).unwrap(),
    )
}

fn messages() -> Vec<RelayMessage> {
    let key = PeerId::of(&SigningKey::from_bytes(&[9; 32]));
    let addr = "192.0.2.4:7667".parse().unwrap();
    vec![
        RelayMessage::Reserve { target: key },
        RelayMessage::Reserved(Grant {
            ttl_s: 3600,
            rate: 65536,
            idle_s: 180,
            observed: addr,
        }),
        RelayMessage::Connect { target: key },
        RelayMessage::Incoming {
            circuit: CircuitId([7; 16]),
            from: "[2001:db8::1]:9".parse().unwrap(),
        },
        RelayMessage::Accept {
            circuit: CircuitId([7; 16]),
        },
        RelayMessage::Status {
            code: StatusCode::ResourceLimit,
            retry_after_s: 30,
        },
        RelayMessage::Ping(1),
        RelayMessage::Pong(u64::MAX),
        RelayMessage::DialBack {
            port: 7667,
            nonce: [3; 16],
        },
        RelayMessage::DialBackResult {
            nonce: [3; 16],
            code: StatusCode::Ok,
            retry_after_s: 0,
        },
    ]
}

/// Reads one record from the front of `bytes` (header then body), returning the message
/// and the rest.
fn read<'a>(
    opener: &mut ControlOpener,
    bytes: &'a mut [u8],
) -> Result<(RelayMessage, &'a mut [u8]), SealedError> {
    let (header, rest) = bytes.split_at_mut(RECORD_HEADER_LEN);
    let len = opener.body_len(header.try_into().unwrap())?;
    if len > rest.len() {
        // A stream would wait for more bytes: for these tests, a refusal.
        return Err(SealedError::TooLong(len));
    }
    let (body, rest) = rest.split_at_mut(len);
    Ok((opener.decode(body)?, rest))
}

#[test]
fn every_message_goes_through_both_ways_sealed_and_plain() {
    let ((mut is, mut io), (mut rs, mut ro)) = channel(64);
    let (mut ps, mut po) = (ControlSealer::Plain, ControlOpener::Plain);
    for (sealer, opener) in [(&mut is, &mut ro), (&mut rs, &mut io), (&mut ps, &mut po)] {
        let mut stream = Vec::new();
        for m in messages() {
            sealer.encode(&m, &mut stream).unwrap();
        }
        let mut rest = &mut stream[..];
        for m in messages() {
            let (got, more) = read(opener, rest).unwrap();
            assert_eq!(got, m);
            rest = more;
        }
        assert!(rest.is_empty(), "nothing is left past the last record");
    }
}

#[test]
fn sealed_records_carry_no_magic_and_vary_in_length() {
    let ((mut sealer, _), _) = channel(64);
    let mut lengths = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let mut out = Vec::new();
        sealer.encode(&RelayMessage::Ping(1), &mut out).unwrap();
        assert!(!out.windows(4).any(|w| w == b"DSRL"), "the magic is sealed");
        assert!(out.len() <= 4 + TAG_LEN + 2 + PING + 64);
        lengths.insert(out.len());
    }
    // 65 possible lengths; 200 draws miss more than 15 of them with negligible chance.
    assert!(lengths.len() >= 50, "{} distinct lengths", lengths.len());
    let ((mut unpadded, _), _) = channel(0);
    let mut out = Vec::new();
    unpadded.encode(&RelayMessage::Ping(1), &mut out).unwrap();
    assert_eq!(out.len(), 4 + TAG_LEN + 2 + PING);
}

#[test]
fn tampered_reordered_and_inconsistent_records_are_refused() {
    let m = RelayMessage::Ping(5);
    // Every flipped bit of a sealed record.
    let ((mut sealer, _), (_, _)) = channel(8);
    let mut record = Vec::new();
    sealer.encode(&m, &mut record).unwrap();
    for bit in 0..record.len() * 8 {
        let ((mut fresh, _), (_, mut opener)) = channel(8);
        let mut r = Vec::new();
        fresh.encode(&m, &mut r).unwrap();
        r[bit / 8] ^= 1 << (bit % 8);
        assert!(
            read(&mut opener, &mut r)
                .map(|(got, _)| got != m)
                .unwrap_or(true),
            "bit {bit}"
        );
    }
    // Reordered: the second record first.
    let ((mut sealer, _), (_, mut opener)) = channel(8);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    sealer.encode(&m, &mut first).unwrap();
    sealer.encode(&m, &mut second).unwrap();
    let header = opener.body_len(second[..4].try_into().unwrap());
    assert!(header.is_err() || opener.decode(&mut second[4..]).is_err());
    // Over-long declared lengths, refused at the header.
    assert!(matches!(
        ControlOpener::Plain.body_len((MAX_RELAY_RECORD as u32 + 1).to_be_bytes()),
        Err(SealedError::TooLong(_))
    ));
}

#[test]
fn a_sealed_length_prefix_past_the_plaintext_is_refused() {
    // Seal a plaintext by hand whose u16 prefix says more than it holds.
    let (ki, kr) = session_keys();
    let mut sealer = ki.sealer;
    let (_, mut opener) = sealed(kr, [0; 32], 0).unwrap();
    for plain in [vec![0u8, 50, 1, 2], vec![0u8], vec![0x0f, 0xff]] {
        let mut out = Vec::new();
        sealer.seal_into(&plain, &mut out).unwrap();
        // The initiator's sealer masks lengths: the opener unmasks them.
        assert!(matches!(
            read(&mut opener, &mut out),
            Err(SealedError::BadLength(_))
        ));
    }
}

#[test]
fn version_1_keys_cannot_seal_control() {
    let (i, r) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (initiator, msg1) = crate::crypto::Initiator::new(&i, &r.verifying_key(), [3; 32]);
    let (_, msg2) = crate::crypto::Responder::new(&r, [4; 32])
        .read_msg1(&msg1)
        .unwrap();
    let (_, keys) = initiator.read_msg2(&msg2).unwrap();
    assert!(sealed(keys, [0; 32], 0).is_none());
}

proptest::proptest! {
    /// Arbitrary bytes read as a record, plain or sealed, never panic, and a sealed one
    /// never decodes (it would need the session's key).
    #[test]
    fn arbitrary_records_never_panic_and_never_open(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let ((_, _), (_, mut opener)) = channel(16);
        let mut sealed = bytes.clone();
        if sealed.len() >= RECORD_HEADER_LEN {
            let result = read(&mut opener, &mut sealed);
            proptest::prop_assert!(result.is_err());
        }
        let mut plain = bytes;
        let _ = ControlOpener::Plain.decode(&mut plain);
        if plain.len() >= RECORD_HEADER_LEN {
            let _ = read(&mut ControlOpener::Plain, &mut plain);
        }
    }
}
