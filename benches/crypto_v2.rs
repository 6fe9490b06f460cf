//! Handshake version 2 against version 1 and against the primitives it adds (issue 14), in
//! one run (the same-run step of benches/support/same_run.rs: interleaved timing loops, the
//! ratio the median of per-round ratios).
//!
//! Run: `cargo bench --bench crypto_v2` (about a minute; no criterion pass). Rows:
//! - full in-memory handshake, version 2 (padding 128 bytes a message, the middle of the
//!   default 0..=256) against version 1, fresh ephemerals each time: target >= 80%;
//! - seal + unmask + open of one frame, version 2 (masked length header) against version 1,
//!   at 100 B, 1 KiB and 16 KiB: target >= 95% (within 5%);
//! - what version 2 adds, for the breakdown: an Elligator2 ephemeral (keygen with retries and
//!   the representative) against a plain X25519 keygen; decoding a representative; the
//!   prober MAC check (three HMACs); the length mask of one header.

#[path = "support/same_run.rs"]
mod same_run;

use std::hint::black_box;

use disims::crypto::obfs::{Ephemeral, LengthMask, ProberKey, public_of};
use disims::crypto::{
    FrameOpener, FrameSealer, Initiator, InitiatorV2, MSG2_HEAD_LEN, RECORD_HEADER_LEN, Responder,
    ResponderV2, SessionKeys, read_msg1_head,
};
use ed25519_dalek::SigningKey;
use same_run::{
    Probe, ROUNDS, Row, SAMPLE, counter_bytes as seed, measure_interleaved, median, print_rows,
};
use x25519_dalek::{PublicKey, StaticSecret};

const PAD: usize = 128;
const HOUR: u64 = 493_000;

fn keys() -> (SigningKey, SigningKey) {
    (
        SigningKey::from_bytes(&[0x49; 32]),
        SigningKey::from_bytes(&[0x52; 32]),
    )
}

fn handshake_v1(n: u64) -> (SessionKeys, SessionKeys) {
    let (i, r) = keys();
    let (initiator, msg1) = Initiator::new(&i, &r.verifying_key(), seed(n, 0));
    let (awaiting, msg2) = Responder::new(&r, seed(n, 1)).read_msg1(&msg1).unwrap();
    let (msg3, ki) = initiator.read_msg2(&msg2).unwrap();
    (ki, awaiting.read_msg3(&msg3).unwrap())
}

fn handshake_v2(n: u64) -> (SessionKeys, SessionKeys) {
    let (i, r) = keys();
    let pad = [0x55u8; PAD];
    let (initiator, msg1) = InitiatorV2::new(
        &i,
        &r.verifying_key(),
        Ephemeral::from_seed(seed(n, 0)),
        &pad,
        HOUR,
    );
    let (awaiting, msg2) = ResponderV2::new(&r, Ephemeral::from_seed(seed(n, 1)))
        .read_msg1(&msg1, HOUR, PAD)
        .unwrap();
    let waiting = initiator.read_msg2_head(&msg2[..MSG2_HEAD_LEN]).unwrap();
    let (msg3, ki) = waiting.read_msg2_box(&msg2[MSG2_HEAD_LEN..], PAD).unwrap();
    (ki, awaiting.read_msg3(&msg3).unwrap())
}

/// One direction's frames: seal, unmask the header (version 2), open.
struct Frames {
    sealer: FrameSealer,
    opener: FrameOpener,
    mask: Option<LengthMask>,
    plaintext: Vec<u8>,
    out: Vec<u8>,
}

impl Frames {
    fn new((initiator, mut responder): (SessionKeys, SessionKeys), size: usize) -> Self {
        Self {
            mask: responder.opener.take_length_mask(),
            sealer: initiator.sealer,
            opener: responder.opener,
            plaintext: vec![0x61; size],
            out: Vec::with_capacity(size + 64),
        }
    }

    fn round_trip(&mut self) {
        self.out.clear();
        self.sealer
            .seal_into(black_box(&self.plaintext), &mut self.out)
            .unwrap();
        let mut header = [0u8; RECORD_HEADER_LEN];
        header.copy_from_slice(&self.out[..RECORD_HEADER_LEN]);
        if let Some(mask) = &mut self.mask {
            mask.apply(&mut header);
        }
        black_box(u32::from_be_bytes(header));
        black_box(
            self.opener
                .open(&mut self.out[RECORD_HEADER_LEN..])
                .unwrap(),
        );
    }
}

fn ratio(probes: &[Probe<'_>]) -> f64 {
    median(
        (0..ROUNDS)
            .map(|r| probes[1].ns[r] / probes[0].ns[r])
            .collect(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        // `cargo test --benches`: one of each, to show they run.
        handshake_v1(0);
        handshake_v2(0);
        return;
    }
    let mut rows = Vec::new();

    let (mut n1, mut n2) = (0u64, 0u64);
    let mut probes = [
        Probe::new(|| {
            n2 = n2.wrapping_add(1);
            black_box(handshake_v2(n2));
        }),
        Probe::new(|| {
            n1 = n1.wrapping_add(1);
            black_box(handshake_v1(n1));
        }),
    ];
    measure_interleaved(&mut probes);
    rows.push(Row {
        measure: "handshakes/s, version 2 vs version 1".into(),
        ours: format!("{:.0} hs/s", 1e9 / probes[0].median()),
        baseline: format!("{:.0} hs/s", 1e9 / probes[1].median()),
        ratio: ratio(&probes),
        target: Some(0.8),
    });

    for (name, size) in [("100B", 100), ("1KiB", 1024), ("16KiB", 16 * 1024)] {
        let mut v2 = Frames::new(handshake_v2(u64::MAX), size);
        let mut v1 = Frames::new(handshake_v1(u64::MAX), size);
        let mut probes = [
            Probe::new(|| v2.round_trip()),
            Probe::new(|| v1.round_trip()),
        ];
        measure_interleaved(&mut probes);
        let mib_s = |ns: f64| size as f64 / ns * 1e9 / (1024.0 * 1024.0);
        rows.push(Row {
            measure: format!("seal+open {name}, version 2 vs version 1"),
            ours: format!("{:.1} MiB/s", mib_s(probes[0].median())),
            baseline: format!("{:.1} MiB/s", mib_s(probes[1].median())),
            ratio: ratio(&probes),
            target: Some(0.95),
        });
    }

    // What version 2 adds, each against what version 1 does in its place.
    let (mut a, mut b) = (0u64, 0u64);
    let mut probes = [
        Probe::new(|| {
            a = a.wrapping_add(1);
            black_box(Ephemeral::from_seed(seed(a, 2)));
        }),
        Probe::new(|| {
            b = b.wrapping_add(1);
            black_box(PublicKey::from(&StaticSecret::from(seed(b, 2))));
        }),
    ];
    measure_interleaved(&mut probes);
    rows.push(Row {
        measure: "ephemeral: Elligator2 keygen vs X25519 keygen".into(),
        ours: format!("{:.1} µs", probes[0].median() / 1e3),
        baseline: format!("{:.1} µs", probes[1].median() / 1e3),
        ratio: ratio(&probes),
        target: None,
    });
    let repr = *Ephemeral::from_seed(seed(7, 7)).representative();
    let key = ProberKey::of(&keys().1.verifying_key());
    let msg1 = InitiatorV2::new(
        &keys().0,
        &keys().1.verifying_key(),
        Ephemeral::from_seed(seed(8, 8)),
        &[],
        HOUR + 1,
    )
    .1;
    let mut probes = [
        Probe::new(|| {
            black_box(public_of(black_box(&repr)));
        }),
        Probe::new(|| {
            black_box(read_msg1_head(&key, black_box(&msg1), HOUR).unwrap());
        }),
    ];
    measure_interleaved(&mut probes);
    rows.push(Row {
        measure: "decode a representative (ours) / msg1 MAC check, 3 HMACs (baseline)".into(),
        ours: format!("{:.1} µs", probes[0].median() / 1e3),
        baseline: format!("{:.1} µs", probes[1].median() / 1e3),
        ratio: ratio(&probes),
        target: None,
    });

    println!();
    println!(
        "## Version 2 against version 1 ({ROUNDS} interleaved rounds of ~{} ms samples, medians)",
        SAMPLE.as_millis()
    );
    println!();
    print_rows(&rows);
}
