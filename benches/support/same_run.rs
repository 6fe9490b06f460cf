//! The same-run step of the benchmarks: plain timing loops of about [`SAMPLE`] each, the
//! measured things interleaved over [`ROUNDS`] rounds, so that ratios come from one run on
//! a noisy machine (shared by benches/crypto.rs and benches/crypto_v2.rs).

use std::time::{Duration, Instant};

/// Rounds of interleaved samples, and the target duration of one sample.
pub const ROUNDS: usize = 5;
pub const SAMPLE: Duration = Duration::from_millis(200);

/// One measured thing in the same-run step: runs `iters` calls and returns the elapsed time.
pub struct Probe<'a> {
    run: Box<dyn FnMut(u64) -> Duration + 'a>,
    iters: u64,
    /// Nanoseconds per call, one entry per round.
    pub ns: Vec<f64>,
}

impl<'a> Probe<'a> {
    /// Wraps `f` so that the timing loop itself is monomorphic (no indirect call per iteration).
    pub fn new(mut f: impl FnMut() + 'a) -> Self {
        Self {
            run: Box::new(move |iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    f();
                }
                start.elapsed()
            }),
            iters: 0,
            ns: Vec::with_capacity(ROUNDS),
        }
    }

    /// Warms up and picks the iteration count that fills about one `SAMPLE`.
    fn calibrate(&mut self) {
        let mut iters = 1u64;
        loop {
            let elapsed = (self.run)(iters);
            if elapsed >= SAMPLE / 10 {
                let scale = SAMPLE.as_secs_f64() / elapsed.as_secs_f64();
                self.iters = ((iters as f64 * scale).ceil() as u64).max(1);
                return;
            }
            iters *= 2;
        }
    }

    fn sample(&mut self) {
        let elapsed = (self.run)(self.iters);
        self.ns.push(elapsed.as_nanos() as f64 / self.iters as f64);
    }

    pub fn median(&self) -> f64 {
        median(self.ns.clone())
    }
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let mid = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[mid]
    } else {
        (xs[mid - 1] + xs[mid]) / 2.0
    }
}

/// Calibrates every probe, then samples them all once per round, in order, `ROUNDS` times.
pub fn measure_interleaved(probes: &mut [Probe<'_>]) {
    for probe in probes.iter_mut() {
        probe.calibrate();
    }
    for _ in 0..ROUNDS {
        for probe in probes.iter_mut() {
            probe.sample();
        }
    }
}

pub struct Row {
    pub measure: String,
    pub ours: String,
    pub baseline: String,
    pub ratio: f64,
    /// Minimum ratio, if this row has a target.
    pub target: Option<f64>,
}

/// Prints the rows as a markdown table (measure, ours, baseline, ratio, target, met?).
pub fn print_rows(rows: &[Row]) {
    println!("| measure | ours | baseline | ratio | target | met? |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for row in rows {
        let (target, met) = match row.target {
            Some(t) => (
                format!(">= {:.0}%", t * 100.0),
                if row.ratio >= t { "yes" } else { "no" },
            ),
            None => ("(info)".to_string(), "-"),
        };
        println!(
            "| {} | {} | {} | {:.1}% | {} | {} |",
            row.measure,
            row.ours,
            row.baseline,
            row.ratio * 100.0,
            target,
            met
        );
    }
}

/// 32 pseudo-random bytes derived from a counter (splitmix64): a fresh secret per
/// handshake and side for a few nanoseconds, deterministic across runs (not the OS RNG,
/// whose cost would pollute the measurement).
pub fn counter_bytes(n: u64, side: u64) -> [u8; 32] {
    let mut s = n.wrapping_mul(2).wrapping_add(side);
    let mut out = [0u8; 32];
    for chunk in out.chunks_exact_mut(8) {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}
