//! Frames: arbitrary record headers through `record_len`, arbitrary bodies through
//! `FrameOpener::open`, and a seal/open round trip of arbitrary plaintext, all with session
//! keys from the fixed test-vector handshake.
//!
//! Input: `header (4 bytes), body/plaintext (rest)`. A seed made of a real sealed record
//! (header and body) opens.
#![no_main]

use std::sync::Mutex;

use disims::crypto::{
    FrameError, MAX_DATA_RECORD, MAX_HANDSHAKE_RECORD, MAX_PLAINTEXT, RECORD_HEADER_LEN, TAG_LEN,
    record_len,
};
use disims_fuzz::{Run, honest_run};
use libfuzzer_sys::fuzz_target;

/// One handshake for all runs (it costs far more than a frame). Fuzz bodies are opened by
/// the responder (initiator -> responder, whose counter only moves when a body opens, and then
/// the keys are renewed), round trips go responder -> initiator, whose two counters advance
/// together. So every input behaves the same whatever ran before it.
static KEYS: Mutex<Option<Run>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut header = [0u8; RECORD_HEADER_LEN];
    let n = data.len().min(RECORD_HEADER_LEN);
    header[..n].copy_from_slice(&data[..n]);
    let body = &data[n..];

    let announced = u32::from_be_bytes(header);
    for max in [
        0,
        TAG_LEN,
        MAX_HANDSHAKE_RECORD,
        MAX_DATA_RECORD,
        body.len(),
        usize::MAX,
    ] {
        match record_len(header, max) {
            Ok(len) => assert!(len <= max && len as u64 == u64::from(announced)),
            Err(FrameError::RecordTooLarge { len, max: m }) => {
                assert!(len == announced && m == max && announced as usize > max)
            }
            Err(e) => panic!("record_len: unexpected {e:?}"),
        }
    }

    let mut guard = KEYS.lock().unwrap_or_else(|p| p.into_inner());
    let keys = guard.get_or_insert_with(honest_run);

    let mut opened = body.to_vec();
    match keys.responder.opener.open(&mut opened) {
        Ok(plaintext) => {
            assert_eq!(plaintext.len() + TAG_LEN, body.len());
            // The same frame again is a replay.
            let mut again = body.to_vec();
            assert!(
                keys.responder.opener.open(&mut again).is_err(),
                "replay opened"
            );
            *guard = Some(honest_run());
        }
        Err(e) => {
            assert_eq!(opened, body, "a failed open changed the body");
            if body.len() < TAG_LEN || body.len() > MAX_DATA_RECORD {
                assert_eq!(e, FrameError::BadRecordLength(body.len()));
            } else {
                assert_eq!(e, FrameError::Authentication);
            }
        }
    }

    let keys = guard.get_or_insert_with(honest_run);
    let mut record = vec![0xaa];
    match keys.responder.sealer.seal_into(body, &mut record) {
        Ok(()) => {
            assert!(body.len() <= MAX_PLAINTEXT);
            assert_eq!(record[0], 0xaa, "seal_into overwrote what was in `out`");
            let header: [u8; RECORD_HEADER_LEN] = record[1..5].try_into().unwrap();
            let len = record_len(header, MAX_DATA_RECORD).expect("own record too large");
            assert_eq!(len, record.len() - 1 - RECORD_HEADER_LEN);
            let plaintext = keys
                .initiator
                .opener
                .open(&mut record[1 + RECORD_HEADER_LEN..])
                .expect("own frame does not open");
            assert_eq!(plaintext, body);
        }
        Err(e) => {
            assert_eq!(e, FrameError::PlaintextTooLarge(body.len()));
            assert!(body.len() > MAX_PLAINTEXT);
            assert_eq!(record, [0xaa]);
        }
    }
});
