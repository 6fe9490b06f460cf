//! Crypto micro-benchmarks: the DiSIMS crypto engine against the raw primitives it is built
//! from (issue 4, item 1), measured in the same run.
//!
//! Run: `cargo bench --bench crypto` (add `-- --quick` for a shorter criterion pass; the whole
//! run then takes well under two minutes). Build only: `cargo bench --no-run`.
//!
//! Criterion groups:
//! - `handshake/full`: one complete in-memory handshake (`Initiator::new`, `Responder::new`,
//!   `Responder::read_msg1`, `Initiator::read_msg2`, `AwaitingMsg3::read_msg3`) with fresh
//!   ephemeral secrets every iteration. The ephemerals come from a cheap counter-derived
//!   generator (splitmix64), not the OS RNG, so that RNG cost does not pollute the measurement.
//! - `handshake/primitives/*`: each primitive a full handshake performs, called directly on the
//!   underlying crates, and `all_in_proportion`, all of them at once in the counts one handshake
//!   uses (see [`primitives`]: X25519 keygen 2, X25519 DH 2, ed25519 sign 2, verify_strict 2,
//!   ed25519 key decoding 2, SHA-256 transcript hashes 6, HKDF-SHA256 8, secretbox seal/open of
//!   the 96-byte identity boxes 2 + 2).
//! - `frames/{100B,1KiB,16KiB}`: `FrameSealer::seal_into` + `FrameOpener::open` round trip on a
//!   reused buffer, against `raw/{...}`: `crypto_secretbox` (XSalsa20-Poly1305)
//!   `encrypt_in_place_detached` + `decrypt_in_place_detached` on a buffer of the same size, fixed
//!   key, counter nonce. Throughput is the payload size.
//!
//! Because the machines are noisy, the ratios against the targets are not taken from criterion's
//! report but from a final same-run step ([`same_run_table`]): plain `Instant` timing loops of
//! about 200 ms per sample, ours and baseline interleaved over 5 rounds, the ratio being the
//! median of the per-round ratios. It prints a markdown table (measure, ours, baseline, ratio,
//! target, met?) and the per-primitive breakdown. The step is skipped under `--test`/`--list`.
//!
//! The primitive-bound rate is `1 / sum(count * cost)` over the primitives above; the target is
//! full handshakes/s >= 50% of it, and seal+open throughput at 16 KiB >= 80% of raw secretbox.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use crypto_secretbox::{AeadInPlace, KeyInit, Nonce, Tag, XSalsa20Poly1305};
use disims::crypto::{
    AwaitingMsg3, FrameOpener, FrameSealer, Initiator, RECORD_HEADER_LEN, Responder, SessionKeys,
    TAG_LEN,
};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

/// Payload sizes of the frame benchmarks.
const FRAME_SIZES: [(&str, usize); 3] = [("100B", 100), ("1KiB", 1024), ("16KiB", 16 * 1024)];

#[path = "support/same_run.rs"]
mod same_run;
use same_run::{
    Probe, ROUNDS, Row, SAMPLE, counter_bytes as ephemeral, measure_interleaved, median, print_rows,
};

/// The two long-term identities (fixed, so runs are comparable).
struct Peers {
    initiator: SigningKey,
    responder: SigningKey,
    responder_pub: VerifyingKey,
}

impl Peers {
    fn new() -> Self {
        let responder = SigningKey::from_bytes(&[0x52; 32]);
        Self {
            initiator: SigningKey::from_bytes(&[0x49; 32]),
            responder_pub: responder.verifying_key(),
            responder,
        }
    }

    /// One complete handshake, both ends in memory; `n` selects the ephemerals.
    fn handshake(&self, n: u64) -> (SessionKeys, SessionKeys) {
        let (initiator, msg1) =
            Initiator::new(&self.initiator, &self.responder_pub, ephemeral(n, 0));
        let (awaiting, msg2): (AwaitingMsg3, Vec<u8>) =
            Responder::new(&self.responder, ephemeral(n, 1))
                .read_msg1(&msg1)
                .expect("msg1");
        let (msg3, initiator_keys) = initiator.read_msg2(&msg2).expect("msg2");
        let responder_keys = awaiting.read_msg3(&msg3).expect("msg3");
        (initiator_keys, responder_keys)
    }
}

/// Inputs of the primitive benchmarks, shaped like the handshake's own.
struct Prims {
    n: u64,
    x_secret: StaticSecret,
    x_peer: PublicKey,
    sk: SigningKey,
    vk: VerifyingKey,
    vk_bytes: [u8; 32],
    /// proof label (25) || transcript hash (32): the signed message.
    signed: [u8; 57],
    sig: Signature,
    /// Longest transcript hash input (th1 || msg2 = 176 bytes); shorter ones are prefixes.
    transcript: [u8; 176],
    salt: [u8; 32],
    ikm: [u8; 32],
    box_key: [u8; 32],
    /// Plaintext of an identity box: ed25519 public key (32) || signature (64).
    proof: [u8; 96],
    /// `proof` sealed under `box_key` with nonce 0, and its tag.
    sealed: [u8; 96],
    tag: Tag,
}

impl Prims {
    fn new() -> Self {
        let sk = SigningKey::from_bytes(&[0x53; 32]);
        let vk = sk.verifying_key();
        let mut signed = [0u8; 57];
        signed[..25].copy_from_slice(b"disims v1 responder proof");
        signed[25..].copy_from_slice(&[0x7a; 32]);
        let sig = sk.sign(&signed);
        let mut proof = [0u8; 96];
        proof[..32].copy_from_slice(vk.as_bytes());
        proof[32..].copy_from_slice(&sig.to_bytes());
        let box_key = [0x4b; 32];
        let mut sealed = proof;
        let tag = XSalsa20Poly1305::new((&box_key).into())
            .encrypt_in_place_detached(&nonce(0), b"", &mut sealed)
            .expect("seal");
        Self {
            n: 0,
            x_secret: StaticSecret::from(ephemeral(u64::MAX, 0)),
            x_peer: PublicKey::from(&StaticSecret::from(ephemeral(u64::MAX, 1))),
            vk_bytes: vk.to_bytes(),
            sk,
            vk,
            signed,
            sig,
            transcript: [0x54; 176],
            salt: [0x5a; 32],
            ikm: [0x1d; 32],
            box_key,
            proof,
            sealed,
            tag,
        }
    }
}

/// One primitive: criterion id, how many times one full handshake performs it, and one call.
struct Primitive {
    id: &'static str,
    per_handshake: u32,
    run: fn(&mut Prims),
}

fn hkdf32(p: &Prims, info: &[u8]) -> [u8; 32] {
    let mut okm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&p.salt), &p.ikm)
        .expand(info, &mut okm)
        .expect("hkdf");
    okm
}

/// The primitives of one handshake, counted from src/crypto/handshake.rs:
/// - X25519 base-point mult: `PublicKey::from(&ephemeral)` once per side (2);
/// - X25519 DH: `diffie_hellman` once per side (2);
/// - ed25519 sign in `seal_proof` (2), `verify_strict` in `verify` (2), and decoding the
///   peer's identity key (`VerifyingKey::from_bytes`, a point decompression) in `open_proof` (2);
/// - SHA-256 `hash`: th1 (88 B) on both sides, th2 (176 B) on both sides, th3 (144 B) on both
///   sides (6);
/// - HKDF `hkdf32`: k_hs_r and k_hs_i on both sides (4, info 22 B), k_i2r and k_r2i in
///   `session_keys` on both sides (4, info 37 B);
/// - secretbox of the 96-byte identity boxes: sealed by `seal_proof` (2), opened by
///   `open_proof` (2); each call keys a fresh cipher, as the handshake does.
fn primitives() -> Vec<Primitive> {
    vec![
        Primitive {
            id: "x25519_base",
            per_handshake: 2,
            run: |p| {
                p.n = p.n.wrapping_add(1);
                black_box(PublicKey::from(&StaticSecret::from(ephemeral(p.n, 0))));
            },
        },
        Primitive {
            id: "x25519_dh",
            per_handshake: 2,
            run: |p| {
                black_box(p.x_secret.diffie_hellman(black_box(&p.x_peer)));
            },
        },
        Primitive {
            id: "ed25519_sign",
            per_handshake: 2,
            run: |p| {
                black_box(p.sk.sign(black_box(&p.signed)));
            },
        },
        Primitive {
            id: "ed25519_verify_strict",
            per_handshake: 2,
            run: |p| {
                black_box(p.vk.verify_strict(black_box(&p.signed), &p.sig)).expect("verify");
            },
        },
        Primitive {
            id: "ed25519_decode_key",
            per_handshake: 2,
            run: |p| {
                black_box(VerifyingKey::from_bytes(black_box(&p.vk_bytes))).expect("key");
            },
        },
        Primitive {
            id: "sha256_88B",
            per_handshake: 2,
            run: |p| {
                black_box(Sha256::digest(black_box(&p.transcript[..88])));
            },
        },
        Primitive {
            id: "sha256_144B",
            per_handshake: 2,
            run: |p| {
                black_box(Sha256::digest(black_box(&p.transcript[..144])));
            },
        },
        Primitive {
            id: "sha256_176B",
            per_handshake: 2,
            run: |p| {
                black_box(Sha256::digest(black_box(&p.transcript[..])));
            },
        },
        Primitive {
            id: "hkdf_info22B",
            per_handshake: 4,
            run: |p| {
                black_box(hkdf32(black_box(p), b"disims v1 hs responder"));
            },
        },
        Primitive {
            id: "hkdf_info37B",
            per_handshake: 4,
            run: |p| {
                black_box(hkdf32(
                    black_box(p),
                    b"disims v1 data initiator to responder",
                ));
            },
        },
        Primitive {
            id: "secretbox_seal_96B",
            per_handshake: 2,
            run: |p| {
                let mut buf = black_box(p.proof);
                let tag = XSalsa20Poly1305::new((&p.box_key).into())
                    .encrypt_in_place_detached(&nonce(0), b"", &mut buf)
                    .expect("seal");
                black_box((buf, tag));
            },
        },
        Primitive {
            id: "secretbox_open_96B",
            per_handshake: 2,
            run: |p| {
                let mut buf = black_box(p.sealed);
                XSalsa20Poly1305::new((&p.box_key).into())
                    .decrypt_in_place_detached(&nonce(0), b"", &mut buf, &p.tag)
                    .expect("open");
                black_box(buf);
            },
        },
    ]
}

/// All primitives of one handshake, each as many times as the handshake performs it.
fn all_in_proportion(prims: &[Primitive], p: &mut Prims) {
    for prim in prims {
        for _ in 0..prim.per_handshake {
            (prim.run)(p);
        }
    }
}

/// The 24-byte nonce for counter `c` (the protocol's `N(c)`): 16 zero bytes, then `u64 BE c`.
fn nonce(c: u64) -> Nonce {
    let mut n = Nonce::default();
    n[16..].copy_from_slice(&c.to_be_bytes());
    n
}

/// Our frame round trip: seal `plaintext` into `out` (cleared first), then open it in place.
struct OurFrames {
    sealer: FrameSealer,
    opener: FrameOpener,
    plaintext: Vec<u8>,
    out: Vec<u8>,
}

impl OurFrames {
    fn new(peers: &Peers, size: usize) -> Self {
        let (initiator, responder) = peers.handshake(0);
        Self {
            // Initiator -> responder: the initiator seals with k_i2r, the responder opens it.
            sealer: initiator.sealer,
            opener: responder.opener,
            plaintext: vec![0x61; size],
            out: Vec::with_capacity(RECORD_HEADER_LEN + TAG_LEN + size),
        }
    }

    fn round_trip(&mut self) {
        self.out.clear();
        self.sealer
            .seal_into(black_box(&self.plaintext), &mut self.out)
            .expect("seal");
        let opened = self
            .opener
            .open(&mut self.out[RECORD_HEADER_LEN..])
            .expect("open");
        black_box(opened);
    }
}

/// The baseline: raw secretbox encrypt + decrypt in place on a buffer of the same size.
struct RawFrames {
    cipher: XSalsa20Poly1305,
    counter: u64,
    buf: Vec<u8>,
}

impl RawFrames {
    fn new(size: usize) -> Self {
        Self {
            cipher: XSalsa20Poly1305::new((&[0x4b; 32]).into()),
            counter: 0,
            buf: vec![0x61; size],
        }
    }

    fn round_trip(&mut self) {
        let n = nonce(self.counter);
        self.counter += 1;
        let tag = self
            .cipher
            .encrypt_in_place_detached(&n, b"", black_box(&mut self.buf))
            .expect("seal");
        self.cipher
            .decrypt_in_place_detached(&n, b"", &mut self.buf, &tag)
            .expect("open");
        black_box(&self.buf);
    }
}

fn bench_handshake(c: &mut Criterion, peers: &Peers) {
    let mut group = c.benchmark_group("handshake");
    let mut n = 0u64;
    group.bench_function("full", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            black_box(peers.handshake(n))
        })
    });
    group.finish();

    let prims = primitives();
    let mut state = Prims::new();
    let mut group = c.benchmark_group("handshake/primitives");
    for prim in &prims {
        group.bench_function(prim.id, |b| b.iter(|| (prim.run)(&mut state)));
    }
    group.bench_function("all_in_proportion", |b| {
        b.iter(|| all_in_proportion(&prims, &mut state))
    });
    group.finish();
}

fn bench_frames(c: &mut Criterion, peers: &Peers) {
    let mut group = c.benchmark_group("frames");
    for (name, size) in FRAME_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut ours = OurFrames::new(peers, size);
        group.bench_function(name, |b| b.iter(|| ours.round_trip()));
    }
    group.finish();

    let mut group = c.benchmark_group("raw");
    for (name, size) in FRAME_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut raw = RawFrames::new(size);
        group.bench_function(name, |b| b.iter(|| raw.round_trip()));
    }
    group.finish();
}

/// The same-run comparison: manual timing loops, ours and baseline interleaved.
fn same_run_table(peers: &Peers) {
    let mut rows = Vec::new();

    // Handshake against the sum of its primitives.
    let prims = primitives();
    let mut n = 0u64;
    let mut probes = vec![Probe::new(|| {
        n = n.wrapping_add(1);
        black_box(peers.handshake(n));
    })];
    for prim in &prims {
        let mut state = Prims::new();
        let run = prim.run;
        probes.push(Probe::new(move || run(&mut state)));
    }
    measure_interleaved(&mut probes);
    let full_ns = probes[0].median();
    let bound_ns_in_round = |round: usize| -> f64 {
        prims
            .iter()
            .zip(&probes[1..])
            .map(|(prim, probe)| f64::from(prim.per_handshake) * probe.ns[round])
            .sum()
    };
    let bound_ns = median((0..ROUNDS).map(bound_ns_in_round).collect());
    let ratio = median(
        (0..ROUNDS)
            .map(|r| bound_ns_in_round(r) / probes[0].ns[r])
            .collect(),
    );
    rows.push(Row {
        measure: "handshakes/s vs primitive-bound rate".into(),
        ours: format!("{:.0} hs/s", 1e9 / full_ns),
        baseline: format!("{:.0} hs/s", 1e9 / bound_ns),
        ratio,
        target: Some(0.5),
    });
    let breakdown: Vec<(&str, u32, f64)> = prims
        .iter()
        .zip(&probes[1..])
        .map(|(prim, probe)| (prim.id, prim.per_handshake, probe.median()))
        .collect();
    drop(probes);

    // Frames against raw secretbox, each size interleaved on its own.
    for (name, size) in FRAME_SIZES {
        let mut ours = OurFrames::new(peers, size);
        let mut raw = RawFrames::new(size);
        let mut probes = [
            Probe::new(|| ours.round_trip()),
            Probe::new(|| raw.round_trip()),
        ];
        measure_interleaved(&mut probes);
        let mib_s = |ns: f64| size as f64 / ns * 1e9 / (1024.0 * 1024.0);
        let ratio = median(
            (0..ROUNDS)
                .map(|r| probes[1].ns[r] / probes[0].ns[r])
                .collect(),
        );
        rows.push(Row {
            measure: format!("seal+open {name} vs raw crypto_secretbox"),
            ours: format!("{:.1} MiB/s", mib_s(probes[0].median())),
            baseline: format!("{:.1} MiB/s", mib_s(probes[1].median())),
            ratio,
            target: (size == 16 * 1024).then_some(0.8),
        });
    }

    println!();
    println!(
        "## Same-run comparison ({ROUNDS} interleaved rounds of ~{} ms samples, medians; ratio = median of per-round ratios)",
        SAMPLE.as_millis()
    );
    println!();
    print_rows(&rows);
    println!();
    println!("Primitive cost of one handshake (full handshake: {full_ns:.0} ns):");
    println!();
    println!("| primitive | per handshake | ns each | ns per handshake | share |");
    println!("| --- | --- | --- | --- | --- |");
    let total: f64 = breakdown.iter().map(|&(_, k, ns)| f64::from(k) * ns).sum();
    for (id, k, ns) in &breakdown {
        let per_hs = f64::from(*k) * ns;
        println!(
            "| {id} | {k} | {ns:.0} | {per_hs:.0} | {:.1}% |",
            per_hs / total * 100.0
        );
    }
    println!("| **sum** | | | {total:.0} | 100% |");
}

fn main() {
    let peers = Peers::new();
    let mut criterion = Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .configure_from_args();
    bench_handshake(&mut criterion, &peers);
    bench_frames(&mut criterion, &peers);
    criterion.final_summary();

    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        same_run_table(&peers);
    }
}
