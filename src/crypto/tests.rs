//! Tests of the handshake as a whole: honest runs, wrong peer, tampering at every bit,
//! malformed and replayed messages, low-order keys, fixed test vectors (docs/test-vectors.md)
//! and property tests. Frame-only tests live next to the code in `frame.rs`.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;

fn identity(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything an honest run produces, for the vectors and the tamper tests.
struct Run {
    msg1: Vec<u8>,
    msg2: Vec<u8>,
    msg3: Vec<u8>,
    initiator: SessionKeys,
    responder: SessionKeys,
}

fn honest_run(e_i: [u8; 32], e_r: [u8; 32]) -> Run {
    let (i_id, r_id) = (identity(1), identity(2));
    let (initiator, msg1) = Initiator::new(&i_id, &r_id.verifying_key(), e_i);
    let (awaiting, msg2) = Responder::new(&r_id, e_r).read_msg1(&msg1).expect("msg1");
    let (msg3, initiator) = initiator.read_msg2(&msg2).expect("msg2");
    let responder = awaiting.read_msg3(&msg3).expect("msg3");
    Run {
        msg1,
        msg2,
        msg3,
        initiator,
        responder,
    }
}

/// Runs the exchange honestly except that `tamper` may alter each message in flight.
/// Returns which sides ended with keys.
fn exchange(tamper: impl Fn(usize, &mut Vec<u8>)) -> (bool, bool) {
    let (i_id, r_id) = (identity(1), identity(2));
    let (initiator, mut msg1) = Initiator::new(&i_id, &r_id.verifying_key(), [3; 32]);
    tamper(1, &mut msg1);
    let Ok((awaiting, mut msg2)) = Responder::new(&r_id, [4; 32]).read_msg1(&msg1) else {
        return (false, false);
    };
    tamper(2, &mut msg2);
    let Ok((mut msg3, _keys)) = initiator.read_msg2(&msg2) else {
        return (false, false);
    };
    tamper(3, &mut msg3);
    (true, awaiting.read_msg3(&msg3).is_ok())
}

fn assert_keys_match(a: &mut SessionKeys, b: &mut SessionKeys) {
    assert_eq!(a.transcript_hash, b.transcript_hash);
    let mut record = Vec::new();
    a.sealer.seal_into(b"ping", &mut record).expect("seal");
    assert_eq!(b.opener.open(&mut record[4..]).expect("open"), b"ping");
    record.clear();
    b.sealer.seal_into(b"pong", &mut record).expect("seal");
    assert_eq!(a.opener.open(&mut record[4..]).expect("open"), b"pong");
}

#[test]
fn full_handshake_agrees_on_keys_and_peers() {
    let mut run = honest_run([3; 32], [4; 32]);
    assert_eq!(run.msg1.len(), MSG1_LEN);
    assert_eq!(run.msg2.len(), MSG2_LEN);
    assert_eq!(run.msg3.len(), MSG3_LEN);
    assert_eq!(run.initiator.peer, identity(2).verifying_key());
    assert_eq!(run.responder.peer, identity(1).verifying_key());
    assert_eq!(
        run.initiator.sealer.key_bytes(),
        run.responder.opener.key_bytes()
    );
    assert_eq!(
        run.responder.sealer.key_bytes(),
        run.initiator.opener.key_bytes()
    );
    assert_ne!(
        run.initiator.sealer.key_bytes(),
        run.initiator.opener.key_bytes()
    );
    assert_keys_match(&mut run.initiator, &mut run.responder);
}

#[test]
fn fresh_ephemerals_give_fresh_keys() {
    let a = honest_run([3; 32], [4; 32]);
    let b = honest_run([5; 32], [4; 32]);
    assert_ne!(a.initiator.transcript_hash, b.initiator.transcript_hash);
    assert_ne!(
        a.initiator.sealer.key_bytes(),
        b.initiator.sealer.key_bytes()
    );
}

/// Key-compromise impersonation: an attacker who stole A's identity key still cannot pose as
/// B to A: every key the thief holds is the wrong one for a session A believes is with B.
#[test]
fn a_stolen_identity_key_does_not_let_the_thief_pose_as_others_to_its_owner() {
    let a = identity(1);
    let b = identity(2).verifying_key();
    let stolen = SigningKey::from_bytes(&a.to_bytes());
    // The thief answers A's dial of B with every key it holds: A's own, and its own.
    for thief_key in [stolen, identity(9)] {
        let (initiator, msg1) = Initiator::new(&a, &b, [3; 32]);
        let (_, msg2) = Responder::new(&thief_key, [4; 32])
            .read_msg1(&msg1)
            .expect("msg1");
        assert!(matches!(
            initiator.read_msg2(&msg2),
            Err(HandshakeError::WrongPeer { .. })
        ));
    }
    // Nor can it complete a handshake as initiator claiming to be B towards A: msg3 carries
    // the initiator's own key, so A as responder learns the thief's key (or A's own), not B's.
    let (initiator, msg1) = Initiator::new(&identity(9), &a.verifying_key(), [5; 32]);
    let (wait, msg2) = Responder::new(&a, [6; 32]).read_msg1(&msg1).expect("msg1");
    let (msg3, _) = initiator
        .read_msg2(&msg2)
        .expect("the thief dials A as itself");
    let keys = wait
        .read_msg3(&msg3)
        .expect("A accepts the thief as the thief");
    assert_ne!(
        keys.peer, b,
        "A never sees B's key from someone without B's secret key"
    );
}

#[test]
fn responder_with_other_identity_is_wrong_peer() {
    let dialled = identity(2).verifying_key();
    let impostor = identity(9);
    let (initiator, msg1) = Initiator::new(&identity(1), &dialled, [3; 32]);
    let (_, msg2) = Responder::new(&impostor, [4; 32])
        .read_msg1(&msg1)
        .expect("msg1");
    let err = initiator.read_msg2(&msg2).expect_err("must not get keys");
    assert_eq!(
        err,
        HandshakeError::WrongPeer {
            expected: dialled.to_bytes(),
            found: impostor.verifying_key().to_bytes()
        }
    );
    assert!(
        err.to_string()
            .contains(&hex(impostor.verifying_key().as_bytes()))
    );
}

#[test]
fn every_flipped_bit_breaks_the_exchange() {
    for (message, len) in [(1, MSG1_LEN), (2, MSG2_LEN), (3, MSG3_LEN)] {
        for bit in 0..len * 8 {
            let (initiator_done, responder_done) = exchange(|m, msg| {
                if m == message {
                    msg[bit / 8] ^= 1 << (bit % 8);
                }
            });
            assert!(
                !responder_done,
                "msg{message} bit {bit}: responder completed"
            );
            // A flip in msg3 comes after the initiator finished; before that it must fail.
            assert!(message == 3 || !initiator_done, "msg{message} bit {bit}");
        }
    }
}

#[test]
fn truncated_and_extended_messages_rejected() {
    for message in 1..=3 {
        for delta in [-1isize, 1] {
            let (i, r) = exchange(|m, msg| {
                if m == message {
                    if delta < 0 {
                        msg.pop();
                    } else {
                        msg.push(0);
                    }
                }
            });
            assert!(!r, "msg{message} delta {delta}");
            assert!(message == 3 || !i, "msg{message} delta {delta}");
        }
    }
    let run = honest_run([3; 32], [4; 32]);
    let r = Responder::new(&identity(2), [4; 32]);
    assert!(matches!(
        r.read_msg1(&run.msg1[..37]),
        Err(HandshakeError::WrongLength {
            message: HandshakeMessage::Msg1,
            expected: 38,
            found: 37
        })
    ));
    assert!(matches!(
        Responder::new(&identity(2), [4; 32]).read_msg1(&[]),
        Err(HandshakeError::WrongLength { found: 0, .. })
    ));
    let (initiator, _) = Initiator::new(&identity(1), &identity(2).verifying_key(), [3; 32]);
    assert!(matches!(
        initiator.read_msg2(&run.msg2[..143]),
        Err(HandshakeError::WrongLength {
            message: HandshakeMessage::Msg2,
            ..
        })
    ));
    let (awaiting, _) = Responder::new(&identity(2), [4; 32])
        .read_msg1(&run.msg1)
        .expect("msg1");
    let mut longer = run.msg3.clone();
    longer.push(0);
    assert!(matches!(
        awaiting.read_msg3(&longer),
        Err(HandshakeError::WrongLength {
            message: HandshakeMessage::Msg3,
            ..
        })
    ));
}

#[test]
fn wrong_magic_and_other_versions() {
    let (_, msg1) = Initiator::new(&identity(1), &identity(2).verifying_key(), [3; 32]);
    let mut bad_magic = msg1.clone();
    bad_magic[0] = b'X';
    let responder = || Responder::new(&identity(2), [4; 32]);
    assert_eq!(
        responder().read_msg1(&bad_magic).err(),
        Some(HandshakeError::BadMagic)
    );
    for version in [0u16, 2, 0x0100, u16::MAX] {
        let mut other = msg1.clone();
        other[4..6].copy_from_slice(&version.to_be_bytes());
        assert_eq!(
            responder().read_msg1(&other).err(),
            Some(HandshakeError::UnsupportedVersion(version))
        );
        // A later version may have a longer msg1: still reported as a version mismatch.
        other.extend_from_slice(&[0; 64]);
        assert_eq!(
            responder().read_msg1(&other).err(),
            Some(HandshakeError::UnsupportedVersion(version))
        );
    }
}

#[test]
fn replayed_msg1_and_msg3_fail_against_a_fresh_responder() {
    let run = honest_run([3; 32], [4; 32]);
    let (awaiting, msg2) = Responder::new(&identity(2), [6; 32])
        .read_msg1(&run.msg1)
        .expect("msg1 is not authenticated, so it is accepted");
    assert_ne!(msg2, run.msg2);
    assert_eq!(
        awaiting.read_msg3(&run.msg3).err(),
        Some(HandshakeError::Decrypt(HandshakeMessage::Msg3))
    );
}

#[test]
fn replayed_msg2_fails_against_a_fresh_initiator() {
    let run = honest_run([3; 32], [4; 32]);
    let (initiator, _) = Initiator::new(&identity(1), &identity(2).verifying_key(), [6; 32]);
    assert_eq!(
        initiator.read_msg2(&run.msg2).err(),
        Some(HandshakeError::Decrypt(HandshakeMessage::Msg2))
    );
}

/// X25519 u-coordinates of small order (and their non-canonical aliases), as in libsodium.
const LOW_ORDER: [[u8; 32]; 7] = {
    let mut p_minus_1 = [0xff; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let mut p = p_minus_1;
    p[0] = 0xed;
    let mut p_plus_1 = p_minus_1;
    p_plus_1[0] = 0xee;
    let mut one = [0; 32];
    one[0] = 1;
    [
        [0; 32],
        one,
        [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f,
            0xc4, 0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16,
            0x5f, 0x49, 0xb8, 0x00,
        ],
        [
            0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83,
            0xef, 0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd,
            0xd0, 0x9f, 0x11, 0x57,
        ],
        p_minus_1,
        p,
        p_plus_1,
    ]
};

#[test]
fn low_order_ephemerals_rejected() {
    for point in LOW_ORDER {
        let mut msg1 = Vec::from(*MAGIC);
        msg1.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        msg1.extend_from_slice(&point);
        assert_eq!(
            Responder::new(&identity(2), [4; 32]).read_msg1(&msg1).err(),
            Some(HandshakeError::NonContributory(HandshakeMessage::Msg1)),
            "{}",
            hex(&point)
        );
        let (initiator, _) = Initiator::new(&identity(1), &identity(2).verifying_key(), [3; 32]);
        let mut msg2 = point.to_vec();
        msg2.resize(MSG2_LEN, 0);
        assert_eq!(
            initiator.read_msg2(&msg2).err(),
            Some(HandshakeError::NonContributory(HandshakeMessage::Msg2))
        );
    }
}

#[test]
fn debug_output_shows_no_secrets() {
    let run = honest_run([3; 32], [4; 32]);
    let (initiator, _) = Initiator::new(&identity(1), &identity(2).verifying_key(), [3; 32]);
    let responder = Responder::new(&identity(2), [4; 32]);
    let (awaiting, _) = Responder::new(&identity(2), [4; 32])
        .read_msg1(&run.msg1)
        .expect("msg1");
    let text = format!(
        "{:?} {:?} {initiator:?} {responder:?} {awaiting:?}",
        run.initiator, run.responder
    );
    for secret in [
        run.initiator.sealer.key_bytes(),
        run.initiator.opener.key_bytes(),
        [1; 32],
        [2; 32],
        [3; 32],
        [4; 32],
    ] {
        assert!(!text.contains(&hex(&secret)), "{text}");
        assert!(!text.contains(&format!("{:?}", &secret[..4])), "{text}");
    }
}

/// Fixed inputs of docs/test-vectors.md: identities [1; 32] and [2; 32], ephemerals [3; 32]
/// and [4; 32]. The expected hex was generated once by this implementation.
#[test]
fn test_vectors() {
    let mut run = honest_run([3; 32], [4; 32]);
    let mut hello_i2r = Vec::new();
    run.initiator
        .sealer
        .seal_into(b"hello", &mut hello_i2r)
        .expect("seal");
    let mut hello_r2i = Vec::new();
    run.responder
        .sealer
        .seal_into(b"hello", &mut hello_r2i)
        .expect("seal");
    let actual = [
        (
            "initiator identity public",
            hex(identity(1).verifying_key().as_bytes()),
        ),
        (
            "responder identity public",
            hex(identity(2).verifying_key().as_bytes()),
        ),
        ("msg1", hex(&run.msg1)),
        ("msg2", hex(&run.msg2)),
        ("msg3", hex(&run.msg3)),
        ("th3", hex(&run.initiator.transcript_hash)),
        ("k_i2r", hex(&run.initiator.sealer.key_bytes())),
        ("k_r2i", hex(&run.responder.sealer.key_bytes())),
        ("hello initiator to responder", hex(&hello_i2r)),
        ("hello responder to initiator", hex(&hello_r2i)),
    ];
    for (name, value) in &actual {
        println!("{name}: {value}");
    }
    for ((name, value), (expected_name, expected)) in actual.iter().zip(VECTORS) {
        assert_eq!(*name, expected_name);
        assert_eq!(value, expected, "{name}");
    }
    assert_eq!(actual.len(), VECTORS.len());
}

const VECTORS: [(&str, &str); 10] = [
    (
        "initiator identity public",
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
    ),
    (
        "responder identity public",
        "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
    ),
    (
        "msg1",
        "44534d5300015dfedd3b6bd47f6fa28ee15d969d5bb0ea53774d488bdaf9df1c6e0124b3ef22",
    ),
    (
        "msg2",
        "ac01b2209e86354fb853237b5de0f4fab13c7fcbf433a61c019369617fecf10bd3794d22044fea187a63a0cc903f2c1943fce9e453b3ee059bb22e6c258b207b23b68b1c3fb759bcb61178d3e5681e5502224446b27c66eef0be8b4fa7a44beaf4d0063062cd074accef8d233b94005b0a927e8272073e14495993dd422cb57de6d21b25ec5eb3c87cf48edb7389f88d",
    ),
    (
        "msg3",
        "6903f667bed49ec4361f8daaacb92a20af84f79736ab8385896cf91e34e919b090147386ec717d2bbc3f04870832185f6afae07b5261c9cea6e7e85d2d2404dae75cf32673fd2c05b5ca18bd8cf4c1c71db033d23727109f1c27476e2f8dbdac1a3c20fa5ed9a0d2e217000f63c2bd8f",
    ),
    (
        "th3",
        "3be72dab4c404ed2a164832f7363058f421d6c016674231de5481fa2f95f1bd3",
    ),
    (
        "k_i2r",
        "5e4191435216b711ae7610c2e18f84f7643a7076c83d92d0bfad49098ff87ec0",
    ),
    (
        "k_r2i",
        "8d08a08c89cd7f34b3a2b17a34c95eddc0c7bf94bbd17a85629b33644e16569d",
    ),
    (
        "hello initiator to responder",
        "0000001522804a07f39c438367abd640815a6d2a790c2b275f",
    ),
    (
        "hello responder to initiator",
        "0000001560b8ac1a1574a2aefb0f3a9c89feec11386e06bb49",
    ),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn read_msg1_never_panics(msg in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..100),
        prop::collection::vec(any::<u8>(), 32..=32).prop_map(|e| {
            let mut m = b"DSMS\x00\x01".to_vec();
            m.extend(e);
            m
        }),
    ]) {
        let _ = Responder::new(&identity(2), [4; 32]).read_msg1(&msg);
    }

    #[test]
    fn read_msg2_never_panics(msg in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<u8>(), MSG2_LEN..=MSG2_LEN),
    ]) {
        let (initiator, _) = Initiator::new(&identity(1), &identity(2).verifying_key(), [3; 32]);
        prop_assert!(initiator.read_msg2(&msg).is_err());
    }

    #[test]
    fn read_msg3_never_panics(msg in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        prop::collection::vec(any::<u8>(), MSG3_LEN..=MSG3_LEN),
    ]) {
        let (_, msg1) = Initiator::new(&identity(1), &identity(2).verifying_key(), [3; 32]);
        let (awaiting, _) = Responder::new(&identity(2), [4; 32]).read_msg1(&msg1).expect("msg1");
        prop_assert!(awaiting.read_msg3(&msg).is_err());
    }

    #[test]
    fn session_round_trip(plaintexts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..2000), 1..4), e in any::<[u8; 32]>()) {
        let run = honest_run(e, [4; 32]);
        let (mut i, mut r) = (run.initiator, run.responder);
        for plaintext in plaintexts {
            let mut record = Vec::new();
            i.sealer.seal_into(&plaintext, &mut record).expect("seal");
            prop_assert_eq!(r.opener.open(&mut record[4..]).expect("open"), &plaintext[..]);
            record.clear();
            r.sealer.seal_into(&plaintext, &mut record).expect("seal");
            prop_assert_eq!(i.opener.open(&mut record[4..]).expect("open"), &plaintext[..]);
        }
    }
}
