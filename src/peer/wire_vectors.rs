//! The session vectors of docs/test-vectors.md, checked literally: the handshake with the
//! document's fixed keys (every intermediate value recomputed here from the primitives,
//! independently of `crypto::handshake`), then a short conversation of session messages,
//! each frame sealed with the session keys and its counter. Every value below appears in
//! that file as written (hex wrapped over lines is compared without the line breaks).

use ed25519_dalek::{Signer, SigningKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};

use super::wire::{self, CloseReason, WireMessage};
use crate::crypto::{Initiator, Responder, SessionKeys};
use crate::group::wire::GroupMessage;
use crate::group::{Action, GroupId, Modes, Op, OpId, SignedOp};
use crate::identity::PeerId;
use crate::message::{ChatMessage, MessageId, MessageKind};

/// docs/test-vectors.md, read at compile time: the document and these values cannot drift
/// apart.
const DOC: &str = include_str!("../../docs/test-vectors.md");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `value` is in the document, hex wrapped over several lines included.
fn doc_has(value: &str) -> bool {
    let flat: String = DOC.split_whitespace().collect();
    flat.contains(value)
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

fn hkdf(salt: &[u8; 32], ikm: &[u8; 32], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("32 bytes");
    out
}

/// The handshake of the document: identities seeds 01.. and 02.., ephemerals 03.. and 04...
fn handshake() -> (Vec<(&'static str, String)>, SessionKeys, SessionKeys) {
    let (i_id, r_id) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let (initiator, msg1) = Initiator::new(&i_id, &r_id.verifying_key(), [3; 32]);
    let (awaiting, msg2) = Responder::new(&r_id, [4; 32])
        .read_msg1(&msg1)
        .expect("msg1");
    let (msg3, i_keys) = initiator.read_msg2(&msg2).expect("msg2");
    let r_keys = awaiting.read_msg3(&msg3).expect("msg3");
    // The same values from the primitives, as protocol.md gives them.
    let ei = x25519_dalek::StaticSecret::from([3; 32]);
    let er = x25519_dalek::StaticSecret::from([4; 32]);
    let e_i = x25519_dalek::PublicKey::from(&ei);
    let e_r = x25519_dalek::PublicKey::from(&er);
    let dh = ei.diffie_hellman(&e_r).to_bytes();
    assert_eq!(dh, er.diffie_hellman(&e_i).to_bytes());
    let th1 = sha256(&[b"DiSIMS/1 handshake", &msg1, e_r.as_bytes()]);
    let k_hs_r = hkdf(&th1, &dh, b"disims v1 hs responder");
    let k_hs_i = hkdf(&th1, &dh, b"disims v1 hs initiator");
    let sig_r = r_id.sign(&[&b"disims v1 responder proof"[..], &th1].concat());
    let th2 = sha256(&[&th1, &msg2]);
    let sig_i = i_id.sign(&[&b"disims v1 initiator proof"[..], &th2].concat());
    let th3 = sha256(&[&th2, &msg3]);
    assert_eq!(th3, i_keys.transcript_hash);
    assert_eq!(th3, r_keys.transcript_hash);
    let values = vec![
        ("I_pub", hex(i_id.verifying_key().as_bytes())),
        ("R_pub", hex(r_id.verifying_key().as_bytes())),
        ("e_i", hex(e_i.as_bytes())),
        ("e_r", hex(e_r.as_bytes())),
        ("dh", hex(&dh)),
        ("th1", hex(&th1)),
        ("k_hs_r", hex(&k_hs_r)),
        ("k_hs_i", hex(&k_hs_i)),
        ("th2", hex(&th2)),
        ("sig_r", hex(&sig_r.to_bytes())),
        ("sig_i", hex(&sig_i.to_bytes())),
        ("msg1", hex(&msg1)),
        ("msg2", hex(&msg2)),
        ("msg3", hex(&msg3)),
        ("th3", hex(&th3)),
        (
            "k_i2r",
            hex(&hkdf(&th3, &dh, b"disims v1 data initiator to responder")),
        ),
        (
            "k_r2i",
            hex(&hkdf(&th3, &dh, b"disims v1 data responder to initiator")),
        ),
    ];
    (values, i_keys, r_keys)
}

fn id(n: u8) -> MessageId {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&[0x5e, 0x55, 0x10, 0x4e, 0x12, 0x34, 0x56, 0x78]);
    id[15] = n;
    MessageId(id)
}

fn chat(n: u8, kind: MessageKind, text: &str, sent_at_ms: u64) -> WireMessage {
    WireMessage::Chat(ChatMessage {
        id: id(n),
        kind,
        text: text.into(),
        sent_at_ms,
    })
}

/// The conversation of the document: (direction, frame's messages), in the order sent.
/// Each direction's counter starts at 0 after the handshake.
fn conversation() -> Vec<(bool, Vec<WireMessage>)> {
    const T: u64 = 1_764_400_000_000;
    vec![
        (true, vec![chat(1, MessageKind::Text, "hello bob", T)]),
        (false, vec![WireMessage::Ack(id(1))]),
        (true, vec![WireMessage::Ping(1)]),
        (false, vec![WireMessage::Pong(1)]),
        (true, vec![WireMessage::Away("lunch".into())]),
        (
            true,
            vec![
                chat(2, MessageKind::Action, "waves", T + 1500),
                chat(3, MessageKind::Notice, "héllo ☕", T + 1501),
            ],
        ),
        (
            false,
            vec![WireMessage::Ack(id(2)), WireMessage::Ack(id(3))],
        ),
        (false, vec![]),
        (true, vec![WireMessage::Away(String::new())]),
        (true, vec![WireMessage::Close(CloseReason::Shutdown)]),
        (false, vec![WireMessage::Close(CloseReason::Shutdown)]),
    ]
}

/// (plaintext, record) of each frame of [`conversation`], sealed in order.
fn frames(mut i_keys: SessionKeys, mut r_keys: SessionKeys) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (from_initiator, messages) in conversation() {
        let mut plain = Vec::new();
        for m in &messages {
            wire::push(&mut plain, m).expect("encodes");
        }
        let (sealer, opener) = if from_initiator {
            (&mut i_keys.sealer, &mut r_keys.opener)
        } else {
            (&mut r_keys.sealer, &mut i_keys.opener)
        };
        let mut record = Vec::new();
        sealer.seal_into(&plain, &mut record).expect("seal");
        // The other end opens it with the next counter and reads the same messages.
        let mut body = record[4..].to_vec();
        let opened = opener.open(&mut body).expect("open");
        let decoded: Vec<_> = wire::messages(opened)
            .map(|m| m.expect("decodes"))
            .collect();
        assert_eq!(decoded, messages);
        out.push((hex(&plain), hex(&record)));
    }
    out
}

/// The Create op of docs/plans/groups.md's known values (`group::op` tests): founder seed
/// `01 x 32`, nonce `07 x 16`, modes `+t`, name `rust`, time 1000.
fn create_op() -> SignedOp {
    let key = SigningKey::from_bytes(&[1; 32]);
    let founder = PeerId::of(&key);
    let (nonce, modes) = (
        [7; 16],
        Modes {
            topic_ops: true,
            ..Modes::default()
        },
    );
    let op = Op {
        group: GroupId::derive(&founder, 1000, &nonce, modes, "rust"),
        author: founder,
        lamport: 0,
        created_at_ms: 1000,
        parents: Vec::new(),
        action: Action::Create {
            nonce,
            modes,
            name: "rust".into(),
        },
    };
    SignedOp::sign(op, &key).expect("signs")
}

/// The group messages of the table: the Create op, a chat to its group naming it as the
/// context, and the group's heads.
fn group_messages() -> Vec<WireMessage> {
    let create = create_op();
    let (group, head): (GroupId, OpId) = (create.op().group, create.id());
    vec![
        WireMessage::Group(GroupMessage::Op {
            id: id(4),
            op: create,
        }),
        WireMessage::Group(GroupMessage::Chat {
            group,
            deps: vec![head],
            message: ChatMessage {
                id: id(5),
                kind: MessageKind::Text,
                text: "hi all".into(),
                sent_at_ms: 1_764_400_000_000,
            },
        }),
        WireMessage::Group(GroupMessage::Heads {
            group,
            heads: vec![head],
        }),
    ]
}

/// Each message on its own (`type || body`, no length prefix), for the table of encodings.
fn encodings() -> Vec<String> {
    let messages = [
        chat(1, MessageKind::Text, "hello bob", 1_764_400_000_000),
        WireMessage::Ack(id(1)),
        WireMessage::Ping(1),
        WireMessage::Pong(1),
        WireMessage::Close(CloseReason::Shutdown),
        WireMessage::Close(CloseReason::Duplicate),
        WireMessage::Close(CloseReason::Idle),
        WireMessage::Away("lunch".into()),
        WireMessage::Away(String::new()),
        WireMessage::Padding(5),
    ];
    messages
        .iter()
        .chain(&group_messages())
        .map(|m| {
            let mut out = Vec::new();
            m.encode(&mut out).expect("encodes");
            assert_eq!(&WireMessage::decode(&out).expect("decodes"), m);
            hex(&out)
        })
        .collect()
}

#[test]
fn every_handshake_value_is_in_the_document_as_written() {
    let (values, _, _) = handshake();
    for (name, value) in values {
        println!("{name}: {value}");
        assert!(
            doc_has(&value),
            "{name} = {value} missing from test-vectors.md"
        );
    }
}

#[test]
fn every_session_message_and_frame_is_in_the_document_as_written() {
    let (_, i_keys, r_keys) = handshake();
    let mut missing = Vec::new();
    for value in encodings() {
        println!("message: {value}");
        if !doc_has(&value) {
            missing.push(value);
        }
    }
    for (n, (plain, record)) in frames(i_keys, r_keys).into_iter().enumerate() {
        println!("frame {n}: plaintext {plain} record {record}");
        for value in [plain, record] {
            if !value.is_empty() && !doc_has(&value) {
                missing.push(value);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "missing from test-vectors.md: {missing:?}"
    );
}
