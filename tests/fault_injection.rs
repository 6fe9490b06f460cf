//! A fault-injecting stream between two sessions cuts the connection at a different point
//! in each of 200 seeded iterations; across the reconnections every message arrives exactly
//! once and in order (issue 5, test 4). The hubs are played by this test: the sender puts
//! back what a session hands back when it ends, the receiver drops ids it has seen.

mod common;

use std::collections::HashSet;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use common::raw_peer;
use disims::crypto::{Initiator, Responder, SessionKeys};
use disims::identity::PeerId;
use disims::message::{ChatMessage, MessageId, MessageKind, PeerMessage};
use disims::peer::session::{SessionCommand, SessionTimers};
use disims::router::RouterInput;
use ed25519_dalek::SigningKey;
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A stream that fails for good once `budget` bytes have passed through it (both ways).
struct Cut {
    inner: DuplexStream,
    budget: usize,
}

impl AsyncRead for Cut {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.budget == 0 {
            return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.budget = self.budget.saturating_sub(n);
        poll
    }
}

impl AsyncWrite for Cut {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.budget == 0 {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        // Write at most what is left, so that the cut can fall inside a record.
        let n = data.len().min(self.budget);
        let poll = Pin::new(&mut self.inner).poll_write(cx, &data[..n]);
        if let Poll::Ready(Ok(written)) = poll {
            self.budget -= written;
        }
        poll
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn keys(seed: u64) -> (SessionKeys, SessionKeys) {
    let (a, b) = (
        SigningKey::from_bytes(&[1; 32]),
        SigningKey::from_bytes(&[2; 32]),
    );
    let mut e = [0u8; 32];
    e[..8].copy_from_slice(&seed.to_be_bytes());
    let (init, msg1) = Initiator::new(&a, &b.verifying_key(), e);
    e[31] = 1;
    let (wait, msg2) = Responder::new(&b, e).read_msg1(&msg1).unwrap();
    let (msg3, ka) = init.read_msg2(&msg2).unwrap();
    (ka, wait.read_msg3(&msg3).unwrap())
}

fn chat(n: u64) -> ChatMessage {
    let mut id = [0u8; 16];
    id[8..].copy_from_slice(&n.to_be_bytes());
    ChatMessage {
        id: MessageId(id),
        kind: MessageKind::Text,
        text: format!("m{n}"),
        sent_at_ms: n,
    }
}

/// A small deterministic generator (xorshift), so that every run cuts at the same points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn start(
    stream: Cut,
    keys: SessionKeys,
    peer: PeerId,
    shutdown: &CancellationToken,
) -> (
    mpsc::UnboundedSender<SessionCommand>,
    mpsc::UnboundedReceiver<RouterInput>,
) {
    let timers = SessionTimers {
        linger: Duration::from_millis(50),
        ..SessionTimers::default()
    };
    let raw = raw_peer::run(stream, keys, peer, peer, timers);
    // Ends with the test's own shutdown too.
    let own = raw.shutdown.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        shutdown.cancelled().await;
        own.cancel();
    });
    (raw.commands, raw.inputs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cuts_at_random_points_lose_nothing_and_duplicate_nothing() {
    const MESSAGES: u64 = 30;
    let alice = PeerId::of(&SigningKey::from_bytes(&[1; 32]));
    let bob = PeerId::of(&SigningKey::from_bytes(&[2; 32]));
    let mut rng = Rng(0x5eed_d15e_a5e5);
    let mut connections = 0;
    if std::env::var_os("FAULT_DEBUG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("disims=trace")
            .with_test_writer()
            .try_init();
    }
    for iteration in 0..200u64 {
        // The sender's queue and the receiver's view, across the reconnections.
        let mut queue: Vec<PeerMessage> = (0..MESSAGES).map(|n| chat(n).into()).collect();
        let mut seen = HashSet::new();
        let mut shown = Vec::new();
        let mut attempt = 0u64;
        while shown.len() < MESSAGES as usize {
            attempt += 1;
            connections += 1;
            // Every message is shown or still queued: one that is neither was lost (and the
            // loop would wait for it for ever).
            let lost: Vec<_> = (0..MESSAGES)
                .map(chat)
                .filter(|m| !seen.contains(&m.id) && !queue.iter().any(|q| q.id() == m.id))
                .map(|m| m.text)
                .collect();
            assert!(lost.is_empty(), "iteration {iteration}: lost {lost:?}");
            assert!(attempt < 100, "iteration {iteration} made no progress");
            let (ka, kb) = keys(iteration * 1000 + attempt);
            let (sa, sb) = tokio::io::duplex(4096);
            // Cut somewhere in the first ~2.5 KiB (a frame of one chat is about 50 bytes);
            // every fifth connection is left whole so that each iteration finishes.
            let budget = if attempt.is_multiple_of(5) {
                usize::MAX
            } else {
                1 + (rng.next() % 2500) as usize
            };
            if std::env::var_os("FAULT_DEBUG").is_some() {
                eprintln!(
                    "iteration {iteration} attempt {attempt} budget {budget} shown {}",
                    shown.len()
                );
            }
            let shutdown = CancellationToken::new();
            let (a_tx, mut a_in) = start(Cut { inner: sa, budget }, ka, bob, &shutdown);
            let (_b_tx, mut b_in) = start(
                Cut {
                    inner: sb,
                    budget: usize::MAX,
                },
                kb,
                alice,
                &shutdown,
            );
            // A session that already ended hands a message back in the send error: keep it.
            let mut not_taken = Vec::new();
            for m in queue.drain(..) {
                if let Err(mpsc::error::SendError(SessionCommand::Send(m))) =
                    a_tx.send(SessionCommand::Send(m))
                {
                    not_taken.push(m);
                }
            }
            // Run until the sender's session ends or everything is shown and acknowledged.
            let unsent = loop {
                tokio::select! {
                    Some(input) = b_in.recv() => {
                        if let RouterInput::Received { messages, .. } = input {
                            for m in messages {
                                if let PeerMessage::Chat(m) = m
                                    && seen.insert(m.id)
                                {
                                    shown.push(m.text);
                                }
                            }
                        }
                    }
                    Some(input) = a_in.recv() => {
                        if let RouterInput::SessionEnded { unsent, error, .. } = input {
                            if std::env::var_os("FAULT_DEBUG").is_some() {
                                eprintln!("  ended: {error:?}, {} unsent", unsent.len());
                            }
                            break unsent;
                        }
                    }
                    _ = tokio::time::sleep(Duration::from_millis(50)), if shown.len() == MESSAGES as usize => {
                        shutdown.cancel();
                    }
                }
            };
            shutdown.cancel();
            // What the receiver took before the cut still counts: read its inputs to the end.
            while let Some(input) = tokio::time::timeout(Duration::from_secs(10), b_in.recv())
                .await
                .expect("the receiving session ends")
            {
                match input {
                    RouterInput::Received { messages, .. } => {
                        for m in messages {
                            if let PeerMessage::Chat(m) = m
                                && seen.insert(m.id)
                            {
                                shown.push(m.text);
                            }
                        }
                    }
                    RouterInput::SessionEnded { .. } => break,
                    _ => {}
                }
            }
            queue = unsent;
            queue.extend(not_taken);
        }
        let expected: Vec<String> = (0..MESSAGES).map(|n| format!("m{n}")).collect();
        assert_eq!(
            shown, expected,
            "iteration {iteration}: not exactly once, in order"
        );
    }
    assert!(
        connections > 200,
        "the cuts forced reconnections ({connections} connections)"
    );
}
