//! The censor's tools for the censor tests: a TCP tap that records the first kilobytes of
//! each connection both ways and the size of its first packets, the statistics it judges
//! them by (fixed bytes at an offset, chi-square of byte values, monobit), and a prober
//! that sends bytes and records what comes back.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes recorded per direction of a connection.
const CAP: usize = 4096;

/// What the tap saw of one connection: each direction's first bytes, and the size of each
/// direction's first read (its first packet, on loopback).
#[derive(Default, Clone, Debug)]
pub struct Seen {
    pub up: Vec<u8>,
    pub down: Vec<u8>,
    pub first_up: usize,
    pub first_down: usize,
}

pub type Log = Arc<Mutex<Vec<Arc<Mutex<Seen>>>>>;

/// A TCP tap in front of `target`: forwards both ways and records what passes.
pub async fn tap(target: SocketAddr) -> (SocketAddr, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let all = log.clone();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            let Ok(outbound) = TcpStream::connect(target).await else {
                continue;
            };
            let seen = Arc::new(Mutex::new(Seen::default()));
            all.lock().unwrap().push(seen.clone());
            let (in_r, in_w) = inbound.into_split();
            let (out_r, out_w) = outbound.into_split();
            tokio::spawn(copy(in_r, out_w, seen.clone(), true));
            tokio::spawn(copy(out_r, in_w, seen, false));
        }
    });
    (addr, log)
}

async fn copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    seen: Arc<Mutex<Seen>>,
    up: bool,
) {
    let mut buf = [0u8; 8192];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        {
            let mut guard = seen.lock().unwrap();
            let seen = &mut *guard;
            let (bytes, first) = if up {
                (&mut seen.up, &mut seen.first_up)
            } else {
                (&mut seen.down, &mut seen.first_down)
            };
            if *first == 0 {
                *first = n;
            }
            let room = CAP.saturating_sub(bytes.len()).min(n);
            bytes.extend_from_slice(&buf[..room]);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

pub fn captured(log: &Log) -> Vec<Seen> {
    log.lock()
        .unwrap()
        .iter()
        .map(|s| s.lock().unwrap().clone())
        .collect()
}

/// Offsets (below `upto`) where one byte value shows in at least `bound` of the samples
/// that reach that far: a fixed byte, or nearly.
pub fn fixed_bytes(samples: &[&[u8]], upto: usize, bound: usize) -> Vec<(usize, u8, usize)> {
    let mut found = Vec::new();
    for offset in 0..upto {
        let mut counts = [0usize; 256];
        for s in samples.iter().filter(|s| s.len() > offset) {
            counts[usize::from(s[offset])] += 1;
        }
        let (value, count) = counts.iter().enumerate().max_by_key(|(_, c)| **c).unwrap();
        if *count >= bound {
            found.push((offset, value as u8, *count));
        }
    }
    found
}

/// Pearson's chi-square of the byte values against uniform (255 degrees of freedom).
pub fn chi_square(bytes: &[u8]) -> f64 {
    let mut counts = [0u64; 256];
    for b in bytes {
        counts[usize::from(*b)] += 1;
    }
    let expected = bytes.len() as f64 / 256.0;
    counts
        .iter()
        .map(|&c| (c as f64 - expected).powi(2) / expected)
        .sum()
}

/// How far the share of one bits is from a half, in standard deviations.
pub fn monobit_sigma(bytes: &[u8]) -> f64 {
    let ones: u64 = bytes.iter().map(|b| u64::from(b.count_ones())).sum();
    let bits = bytes.len() as f64 * 8.0;
    (ones as f64 - bits / 2.0).abs() / (bits / 4.0).sqrt()
}

/// Connects to `addr`, sends `bytes`, and reads until the close: what came back and when
/// the close came.
pub async fn probe(addr: SocketAddr, bytes: &[u8]) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut back = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut back));
    let _ = read
        .await
        .expect("the gateway closes a prober's connection in time");
    (back, start.elapsed())
}

/// Asserts that the first packets' sizes vary, each way: at least a third of the connections
/// have a size of their own. Prints the counts and ranges.
pub fn assert_first_packets_vary(seen: &[Seen]) {
    let up: Vec<usize> = seen.iter().map(|s| s.first_up).collect();
    let down: Vec<usize> = seen.iter().map(|s| s.first_down).collect();
    for (name, sizes) in [("first packet up", up), ("first packet down", down)] {
        let mut distinct = sizes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        println!(
            "{name}: {} distinct sizes of {}, {} to {}",
            distinct.len(),
            sizes.len(),
            distinct[0],
            distinct[distinct.len() - 1]
        );
        assert!(distinct.len() * 3 >= sizes.len(), "{name}: sizes {sizes:?}");
    }
}
