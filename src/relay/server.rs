//! The relay's side (IO): challenges and reservations on their control connections,
//! circuits offered to the target and joined to the dialler, bytes paced by the
//! [`RelayTable`]. Not wired into the gateway yet: [`RelayServer::serve`] runs it on a
//! listener of its own (tests), and [`RelayServer::handle`] takes a connection whose first
//! record the accept loop has read.
//!
//! A DialBack on a reservation connection is admitted by the [`DialBackBudget`], dialled on
//! a task of its own (so the control connection keeps serving), and answered there with a
//! DialBackResult once the dial has ended.
//!
//! What a flood can hold here is bounded by the table: a Reserve waits for its proof only
//! in a challenge slot ([`RelayTable::begin_challenge`]), a Connect waits for its Accept
//! only in a circuit slot, and a target's queue of offers has room for every circuit it
//! may have. A joined circuit holds a copy buffer only while bytes are passing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use ed25519_dalek::VerifyingKey;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::io::{Control, ControlReader, ControlWriter, RelayIoError};
use super::proof::Challenge;
use super::wire::{CircuitId, Grant, RelayMessage, StatusCode};
use crate::crypto::obfs::ProberKey;
use crate::identity::{PeerId, random_bytes};
use crate::peer::transport::Purpose;
use crate::policy::relay::{
    DialBackBudget, DialBackLimits, MAX_CHUNK, RelayLimits, RelayTable, Serve,
};

type Offer = (CircuitId, SocketAddr);

/// How often [`RelayServer::serve`] sweeps expired reservations and circuits.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
type Messages = mpsc::Receiver<Result<RelayMessage, RelayIoError>>;
/// A dial-back's nonce and how it ended.
type DialBackDone = ([u8; 16], StatusCode);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A challenge slot taken by [`RelayTable::begin_challenge`]; freed on drop, so also when
/// the connection fails or its task is cancelled.
struct ChallengeSlot<'a> {
    table: &'a Mutex<RelayTable>,
    from: SocketAddr,
}

impl Drop for ChallengeSlot<'_> {
    fn drop(&mut self) {
        lock(self.table).end_challenge(self.from.ip());
    }
}

/// A relay: its key, its table, the targets' control connections and the circuits
/// waiting for the target's Accept.
pub struct RelayServer {
    key: PeerId,
    table: Mutex<RelayTable>,
    is_contact: Box<dyn Fn(&PeerId) -> bool + Send + Sync>,
    targets: Mutex<HashMap<PeerId, (u64, mpsc::Sender<Offer>)>>,
    waiting: Mutex<HashMap<CircuitId, oneshot::Sender<TcpStream>>>,
    /// Cancels a joined circuit's copying (expired by [`RelayServer::sweep`]).
    joined: Mutex<HashMap<CircuitId, CancellationToken>>,
    /// Shared with the dial-back tasks, which free their slot when they end.
    dial_backs: Arc<Mutex<DialBackBudget>>,
    generation: AtomicU64,
    /// `[relay] plain_control`: plain (version 1) control records are answered.
    plain_control: AtomicBool,
}

impl RelayServer {
    pub fn new(
        key: PeerId,
        limits: RelayLimits,
        serve: Serve,
        is_contact: Box<dyn Fn(&PeerId) -> bool + Send + Sync>,
    ) -> Arc<Self> {
        Arc::new(Self {
            key,
            table: Mutex::new(RelayTable::new(limits, serve, Instant::now())),
            is_contact,
            targets: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            joined: Mutex::new(HashMap::new()),
            dial_backs: Arc::new(Mutex::new(DialBackBudget::new(
                DialBackLimits::default(),
                Instant::now(),
            ))),
            generation: AtomicU64::new(0),
            plain_control: AtomicBool::new(true),
        })
    }

    /// Dial-backs in flight.
    pub fn dial_backs_in_flight(&self) -> usize {
        lock(&self.dial_backs).counts().0
    }

    /// Reservations and circuits held.
    pub fn counts(&self) -> (usize, usize) {
        lock(&self.table).counts()
    }

    /// Ends what the table says has expired at `now`: reservations past their time (their
    /// control connection is closed) and circuits idle too long (both sockets closed).
    /// Circuits not accepted in time end by their dialler's own wait.
    pub fn sweep(&self, now: Instant) {
        let expired = lock(&self.table).expire(now);
        let mut targets = lock(&self.targets);
        for key in &expired.reservations {
            // Dropping the sender ends the reservation's task.
            targets.remove(key);
        }
        drop(targets);
        let mut joined = lock(&self.joined);
        for id in &expired.circuits {
            if let Some(token) = joined.remove(id) {
                token.cancel();
            }
        }
    }

    /// The keys of the version 2 first messages this relay answers for relay control
    /// ([`ProberKey::relay`] while it serves, and [`ProberKey::open`] when it serves
    /// anyone), to try after the gateway's own.
    pub fn purpose_keys(&self, own: &VerifyingKey) -> Vec<(Purpose, ProberKey)> {
        let serve = lock(&self.table).serve();
        let mut keys = Vec::new();
        if serve != Serve::Off {
            keys.push((Purpose::Relay, ProberKey::relay(own)));
        }
        if serve == Serve::Anyone {
            keys.push((Purpose::OpenRelay, ProberKey::open()));
        }
        keys
    }

    /// Whether plain (version 1) control records are answered (`[relay] plain_control`).
    pub fn plain_control(&self) -> bool {
        self.plain_control.load(Ordering::Relaxed)
    }

    /// Answers plain control records, or gives them silence (`[relay] plain_control`).
    pub fn set_plain_control(&self, allowed: bool) {
        self.plain_control.store(allowed, Ordering::Relaxed);
    }

    /// Handles a relay connection whose first message is `first`. On a sealed connection
    /// the handshake proved the client's key: a Reserve must be for that key, an Accept
    /// for a circuit to it; on an `open` one (the client knew our address only) only a
    /// Reserve is taken.
    pub async fn handle(
        self: Arc<Self>,
        mut control: Control,
        from: SocketAddr,
        first: RelayMessage,
        open: bool,
    ) {
        let peer = control.peer();
        let result = match first {
            RelayMessage::Reserve { target } if peer.is_none_or(|p| p == target) => {
                self.reservation(control, from, target).await
            }
            RelayMessage::Connect { target } if !open => self.circuit(control, from, target).await,
            RelayMessage::Accept { circuit } if !open => self.accept(control, circuit).await,
            // Only a reservation connection may ask: its source address is the one dialled.
            RelayMessage::DialBack { .. } => control.status(StatusCode::NoReservation).await,
            _ => control.status(StatusCode::Unexpected).await,
        };
        if let Err(e) = result {
            tracing::debug!(%from, error = %e, "relay connection ended");
        }
    }

    /// The grant, or the refusal already told. Plain: challenge, proof, table; a first
    /// Reserve's wait for the proof takes a challenge slot of `from`'s prefix (refused
    /// with `resource_limit` when there is none), freed however it ends; a `renewal`
    /// takes none (it comes on a reservation's connection, and reservations are capped).
    /// Sealed: the handshake proved the key (its msg3 signature covers our fresh
    /// ephemeral and our key: what the challenge is for), so the table decides at once.
    async fn prove(
        &self,
        wr: &mut ControlWriter,
        rx: &mut Messages,
        from: SocketAddr,
        target: PeerId,
        renewal: bool,
    ) -> Result<Option<Grant>, RelayIoError> {
        let limits = *lock(&self.table).limits();
        if !wr.is_sealed() && !self.challenge(wr, rx, from, target, renewal).await? {
            return Ok(None);
        }
        let contact = (self.is_contact)(&target);
        let granted = lock(&self.table).reserve(target, from.ip(), contact, Instant::now());
        if let Err(refusal) = granted {
            wr.status(refusal.status()).await?;
            return Ok(None);
        }
        let grant = Grant {
            ttl_s: limits.reservation_ttl.as_secs() as u32,
            rate: limits.circuit_rate as u32,
            idle_s: limits.reservation_idle.as_secs() as u32,
            observed: from,
        };
        wr.write(&RelayMessage::Reserved(grant)).await?;
        Ok(Some(grant))
    }

    /// A plain Reserve's challenge and proof: true when `target`'s proof verified.
    async fn challenge(
        &self,
        wr: &mut ControlWriter,
        rx: &mut Messages,
        from: SocketAddr,
        target: PeerId,
        renewal: bool,
    ) -> Result<bool, RelayIoError> {
        let limits = *lock(&self.table).limits();
        if !renewal && !lock(&self.table).answers_reserve((self.is_contact)(&target)) {
            // No challenge (it would name this relay) and no status (it would say that a
            // relay is here): the connection just closes.
            tracing::debug!(%from, "reserve for a key this relay does not serve: no answer");
            return Ok(false);
        }
        let _slot = match renewal {
            true => None,
            false => {
                let taken = lock(&self.table).begin_challenge(from.ip());
                if let Err(refusal) = taken {
                    tracing::debug!(%from, %refusal, "reserve refused before its challenge");
                    wr.status(refusal.status()).await?;
                    return Ok(false);
                }
                Some(ChallengeSlot {
                    table: &self.table,
                    from,
                })
            }
        };
        let challenge = Challenge::new(self.key, target, random_bytes()?, Instant::now());
        let (relay, nonce) = challenge.fields();
        wr.write(&RelayMessage::Challenge { relay, nonce }).await?;
        // A keepalive may cross the challenge: Pings are answered, Pongs skipped.
        let proof = async {
            loop {
                match rx.recv().await {
                    Some(Ok(RelayMessage::Ping(n))) => {
                        wr.write(&RelayMessage::Pong(n)).await?;
                        lock(&self.table).ping(&target, Instant::now());
                    }
                    Some(Ok(RelayMessage::Pong(_))) => {}
                    other => return Ok::<_, RelayIoError>(other),
                }
            }
        };
        let signature = match tokio::time::timeout(limits.challenge_wait, proof).await {
            Ok(Err(e)) => return Err(e),
            Ok(Ok(Some(Ok(RelayMessage::Proof { signature })))) => signature,
            Ok(Ok(Some(Err(e)))) => return Err(e),
            Err(_) => {
                wr.status(StatusCode::BadProof).await?;
                return Ok(false);
            }
            _ => {
                wr.status(StatusCode::Unexpected).await?;
                return Ok(false);
            }
        };
        if challenge
            .verify(&signature, Instant::now(), limits.challenge_wait)
            .is_err()
        {
            wr.status(StatusCode::BadProof).await?;
            return Ok(false);
        }
        Ok(true)
    }

    async fn reservation(
        &self,
        control: Control,
        from: SocketAddr,
        target: PeerId,
    ) -> Result<(), RelayIoError> {
        let (rd, mut wr) = control.into_split();
        let mut rx = spawn_reader(rd);
        if self
            .prove(&mut wr, &mut rx, from, target, false)
            .await?
            .is_none()
        {
            return Ok(());
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        // Room for every circuit the target may have: an offer that finds the queue full
        // fails at once (`try_send`), so a smaller queue would refuse circuits the table
        // allows when Connects arrive faster than this task writes Incoming. Bounded by
        // the table, which admits no more circuits to one target.
        let capacity = lock(&self.table).limits().circuits_per_target.max(1);
        let (tx, mut offers) = mpsc::channel::<Offer>(capacity);
        // A newer reservation of the same key replaces ours: its sender drops ours.
        lock(&self.targets).insert(target, (generation, tx));
        let idle = lock(&self.table).limits().reservation_idle;
        let (done_tx, mut done) = mpsc::channel::<DialBackDone>(4);
        let sealed = wr.is_sealed();
        let result = async {
            loop {
                tokio::select! {
                    Some((nonce, code)) = done.recv() => {
                        let result = RelayMessage::DialBackResult { nonce, code, retry_after_s: 0 };
                        wr.write(&result).await?
                    }
                    offer = offers.recv() => match offer {
                        Some((circuit, from)) => {
                            wr.write(&RelayMessage::Incoming { circuit, from }).await?
                        }
                        None => return Ok(()),
                    },
                    message = tokio::time::timeout(idle, rx.recv()) => match message {
                        Ok(Some(Ok(RelayMessage::Ping(n)))) => {
                            lock(&self.table).ping(&target, Instant::now());
                            wr.write(&RelayMessage::Pong(n)).await?;
                        }
                        Ok(Some(Ok(RelayMessage::Pong(_)))) => {
                            lock(&self.table).ping(&target, Instant::now())
                        }
                        Ok(Some(Ok(RelayMessage::DialBack { port, nonce }))) => {
                            let asked = DialBackAsk { target, from, port, nonce, sealed };
                            if let Some(refused) = self.dial_back(asked, &done_tx) {
                                wr.write(&refused).await?
                            }
                        }
                        Ok(Some(Ok(RelayMessage::Reserve { target: t }))) if t == target => {
                            if self.prove(&mut wr, &mut rx, from, target, true).await?.is_none() {
                                return Ok(());
                            }
                        }
                        Ok(Some(Ok(_))) => {
                            wr.status(StatusCode::Unexpected).await?;
                            return Ok(());
                        }
                        Ok(Some(Err(e))) => return Err(e),
                        Ok(None) | Err(_) => return Ok(()),
                    },
                }
            }
        }
        .await;
        let mut targets = lock(&self.targets);
        if targets.get(&target).is_some_and(|(g, _)| *g == generation) {
            targets.remove(&target);
            lock(&self.table).unreserve(&target);
        }
        result
    }

    async fn circuit(
        &self,
        mut control: Control,
        from: SocketAddr,
        target: PeerId,
    ) -> Result<(), RelayIoError> {
        let id = CircuitId(random_bytes()?);
        let opened = lock(&self.table).open_circuit(id, target, from.ip(), Instant::now());
        if let Err(refusal) = opened {
            return control.status(refusal.status()).await;
        }
        let sender = lock(&self.targets).get(&target).map(|(_, tx)| tx.clone());
        let (tx, joined) = oneshot::channel();
        lock(&self.waiting).insert(id, tx);
        let offered = sender.is_some_and(|s| s.try_send((id, from)).is_ok());
        let wait = lock(&self.table).limits().accept_wait;
        let other = match offered {
            true => tokio::time::timeout(wait, joined)
                .await
                .ok()
                .and_then(Result::ok),
            false => None,
        };
        let result = match other {
            // The dialler sends nothing after its Connect until this Ok: nothing of the
            // circuit was read, and what follows on both streams is the circuit's.
            Some(other) => match control.status(StatusCode::Ok).await {
                Ok(()) => self.splice(id, control.into_raw(), other).await,
                Err(e) => Err(e),
            },
            None => {
                lock(&self.waiting).remove(&id);
                control.status(StatusCode::ConnectionFailed).await
            }
        };
        lock(&self.table).close_circuit(&id);
        result
    }

    /// A target's Accept of `circuit`. On a sealed connection the handshake proved who
    /// accepts: only the circuit's target may (no one else who saw the Incoming can take
    /// the circuit).
    async fn accept(&self, mut control: Control, circuit: CircuitId) -> Result<(), RelayIoError> {
        let by = control.peer();
        let accepted = lock(&self.table).accept_circuit(circuit, by, Instant::now());
        // A refused Accept (another key, too late) leaves the dialler waiting.
        let waiting = match accepted {
            Ok(_) => lock(&self.waiting).remove(&circuit),
            Err(_) => None,
        };
        match (accepted, waiting) {
            (Ok(_), Some(tx)) => {
                control.status(StatusCode::Ok).await?;
                // The dialler's task joins the streams; if it gave up, this one closes.
                let _ = tx.send(control.into_raw());
                Ok(())
            }
            _ => control.status(StatusCode::NoCircuit).await,
        }
    }

    /// Copies bytes both ways, paced by the table, until one side has closed and the
    /// other's bytes still under way have had the half-closed wait to pass, or the circuit
    /// expires. (Waiting for both sides, a dialler or target that keeps its side open and
    /// silent after the other closed would hold the circuit until it is idle too long.)
    async fn splice(&self, id: CircuitId, a: TcpStream, b: TcpStream) -> Result<(), RelayIoError> {
        let token = CancellationToken::new();
        lock(&self.joined).insert(id, token.clone());
        let wait = lock(&self.table).limits().half_closed_wait;
        let (ar, aw) = a.into_split();
        let (br, bw) = b.into_split();
        let both = async {
            let forth = self.copy(id, ar, bw);
            let back = self.copy(id, br, aw);
            tokio::pin!(forth, back);
            let (first, rest) = tokio::select! {
                r = &mut forth => (r, tokio::time::timeout(wait, &mut back).await),
                r = &mut back => (r, tokio::time::timeout(wait, &mut forth).await),
            };
            first.and(rest.unwrap_or(Ok(())))
        };
        let result = tokio::select! {
            r = both => r,
            _ = token.cancelled() => Ok(()),
        };
        lock(&self.joined).remove(&id);
        result
    }

    async fn copy(
        &self,
        id: CircuitId,
        r: OwnedReadHalf,
        mut w: OwnedWriteHalf,
    ) -> Result<(), RelayIoError> {
        // Taken when bytes arrive and given back once they are drained: an idle circuit
        // (most of them, most of the time) holds no buffer.
        let mut buf: Vec<u8> = Vec::new();
        loop {
            if buf.is_empty() {
                r.readable().await?;
                buf = vec![0u8; MAX_CHUNK];
            }
            let n = match r.try_read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    buf = Vec::new();
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                let _ = w.shutdown().await;
                return Ok(());
            }
            loop {
                let wait = lock(&self.table).transfer(&id, n, Instant::now());
                match wait {
                    Ok(wait) if wait.is_zero() => break,
                    Ok(wait) => tokio::time::sleep(wait).await,
                    Err(_) => return Ok(()),
                }
            }
            w.write_all(&buf[..n]).await?;
        }
    }
}

/// Reads control messages on their own task, so that waiting for one can be given up
/// (a `select!`) without losing half a record.
fn spawn_reader(mut rd: ControlReader) -> Messages {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let message = rd.read().await;
            let end = message.is_err();
            if tx.send(message).await.is_err() || end {
                return;
            }
        }
    });
    rx
}

#[path = "server_dial_back.rs"]
mod dial_back;
#[path = "server_serve.rs"]
mod serve;

use dial_back::DialBackAsk;
pub use dial_back::{PROBE_PADDING, probe_bytes};

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
