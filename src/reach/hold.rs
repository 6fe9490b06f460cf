//! One reservation held at a relay (IO): the control connection read by a task of its own
//! (so that timers never cut a record in half), Pings answered and sent, the reservation
//! renewed at half its lifetime, and each circuit the relay offers accepted on a new
//! connection and handed to the peer port's admission ([`PeerContext::admit_relayed`]),
//! charged to the dialler's address as the relay saw it.
//!
//! It also asks the relay to dial us back ([`Held::dial_back`]; docs/protocol.md,
//! "Dial-back"): the answer comes on the control connection, the probe on the peer port.
//!
//! The task ends, and says so on `lost`, when the relay closes, stops answering, refuses a
//! renewal, or sends what it should not; the keeper then finds another relay.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::DropGuard;

use crate::directory::RelayEntry;
use crate::identity::PeerId;
use crate::peer::PeerContext;
use crate::relay::client::{self, Reservation};
use crate::relay::io::{Control, ControlWriter, RelayIoError};
use crate::relay::probe::{DIAL_BACK_WAIT, PROBE_GRACE, Probes, Verdict};
use crate::relay::proof::prove;
use crate::relay::wire::{CircuitId, Grant, RelayMessage, StatusCode};

/// Keepalive interval, at most (a third of the relay's idle time when that is shorter).
pub const PING_EVERY: Duration = Duration::from_secs(60);
/// Circuits being accepted at once per reservation: a relay cannot make us open more
/// connections to it than this at a time.
pub const ACCEPTS_AT_ONCE: usize = 8;
/// Accepting one circuit (connect, Accept, Ok) may take this long.
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(10);

/// A reservation being held; dropping it closes the control connection.
pub struct Held {
    pub entry: RelayEntry,
    commands: mpsc::Sender<Command>,
    _stop: DropGuard,
}

/// What the keeper asks of a held reservation.
enum Command {
    /// Send a DialBack; the relay's code for `nonce` goes to `reply`.
    DialBack {
        port: u16,
        nonce: [u8; 16],
        reply: oneshot::Sender<StatusCode>,
    },
}

impl Held {
    /// Asks the relay to dial us back at `port` of the address it sees us at, and says what
    /// that shows ([`Verdict::of`]): the probe must reach our peer port ([`Probes`]).
    pub async fn dial_back(&self, port: u16, probes: &Probes) -> Verdict {
        let Ok((nonce, mut waiter)) = probes.expect() else {
            return Verdict::Unknown;
        };
        let (reply, answer) = oneshot::channel();
        let command = Command::DialBack { port, nonce, reply };
        if self.commands.send(command).await.is_err() {
            return Verdict::Unknown;
        }
        let result = tokio::select! {
            from = &mut waiter => return Verdict::of(None, from.is_some()),
            r = tokio::time::timeout(DIAL_BACK_WAIT, answer) => r.ok().and_then(Result::ok),
        };
        // The relay says Ok once the probe is written: it may still be on its way.
        let arrived = match result {
            Some(StatusCode::Ok) => tokio::time::timeout(PROBE_GRACE, &mut waiter)
                .await
                .ok()
                .flatten()
                .is_some(),
            _ => matches!(
                futures_util::FutureExt::now_or_never(&mut waiter),
                Some(Some(_))
            ),
        };
        Verdict::of(result, arrived)
    }
}

/// Why a held reservation ended.
#[derive(Debug)]
pub struct Lost {
    pub relay: PeerId,
    pub why: String,
}

/// Holds `reservation` (made over a connection to `entry.addrs[0]`) until it is dropped
/// or the relay goes away, which is told on `lost`.
pub fn spawn(
    ctx: &PeerContext,
    reservation: Reservation,
    entry: RelayEntry,
    lost: mpsc::UnboundedSender<Lost>,
) -> Held {
    let stop = ctx.shutdown.child_token();
    let (commands, rx) = mpsc::channel(4);
    let task = Hold {
        ctx: ctx.clone(),
        relay_addr: entry.addrs[0],
        accepts: Arc::new(Semaphore::new(ACCEPTS_AT_ONCE)),
    };
    let token = stop.clone();
    ctx.tracker.spawn(async move {
        let (control, relay, grant) = reservation.into_parts();
        let why = tokio::select! {
            _ = token.cancelled() => return,
            why = task.run(control, relay, grant, rx) => why,
        };
        tracing::info!(relay = %relay.short(), %why, "relay reservation lost");
        let _ = lost.send(Lost {
            relay,
            why: why.to_string(),
        });
    });
    Held {
        entry,
        commands,
        _stop: stop.drop_guard(),
    }
}

struct Hold {
    ctx: PeerContext,
    relay_addr: SocketAddr,
    accepts: Arc<Semaphore>,
}

/// How often to ping (at most) and when to renew, from the grant.
fn timers(grant: &Grant) -> (Duration, Duration) {
    let idle = Duration::from_secs(grant.idle_s.max(3).into());
    let ping = PING_EVERY.min(idle / 3);
    let renew = Duration::from_secs((grant.ttl_s / 2).max(1).into());
    (ping, renew)
}

/// When to send the next Ping: at a random time between half the interval and the whole
/// of it from now, so that keepalives do not beat a fixed rhythm an observer could match.
fn next_ping(every: Duration) -> tokio::time::Instant {
    let r = crate::identity::random_bytes::<2>().map_or(0, u16::from_be_bytes);
    let fraction = f64::from(r) / f64::from(u16::MAX);
    tokio::time::Instant::now() + every / 2 + (every / 2).mul_f64(fraction)
}

impl Hold {
    async fn run(
        &self,
        control: Control,
        relay: PeerId,
        grant: Grant,
        mut commands: mpsc::Receiver<Command>,
    ) -> RelayIoError {
        let mut dial_backs: Vec<([u8; 16], oneshot::Sender<StatusCode>)> = Vec::new();
        let (mut rd, mut wr) = control.into_split();
        let (tx, mut rx) = mpsc::channel(8);
        let reader = tokio::spawn(async move {
            loop {
                let message = rd.read().await;
                let end = message.is_err();
                if tx.send(message).await.is_err() || end {
                    return;
                }
            }
        });
        let _reader = AbortOnDrop(reader);
        let (mut ping_every, mut renew_in) = timers(&grant);
        let mut ping_at = next_ping(ping_every);
        let mut renew_at = tokio::time::Instant::now() + renew_in;
        let mut heard = tokio::time::Instant::now();
        let mut renewing = false;
        let mut nonce = 0u64;
        loop {
            let message = tokio::select! {
                m = rx.recv() => m,
                Some(Command::DialBack { port, nonce, reply }) = commands.recv() => {
                    dial_backs.retain(|(_, r)| !r.is_closed());
                    dial_backs.push((nonce, reply));
                    if let Err(e) = wr.write(&RelayMessage::DialBack { port, nonce }).await {
                        return e;
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(ping_at) => {
                    // Three intervals without a word: the relay or the path is gone.
                    if heard.elapsed() > ping_every * 3 {
                        return RelayIoError::Timeout;
                    }
                    nonce += 1;
                    ping_at = next_ping(ping_every);
                    if let Err(e) = wr.write(&RelayMessage::Ping(nonce)).await {
                        return e;
                    }
                    continue;
                }
                _ = tokio::time::sleep_until(renew_at), if !renewing => {
                    let target = self.ctx.own;
                    if let Err(e) = wr.write(&RelayMessage::Reserve { target }).await {
                        return e;
                    }
                    renewing = true;
                    continue;
                }
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(e)) => return e,
                None => return RelayIoError::Unexpected,
            };
            heard = tokio::time::Instant::now();
            let result = match message {
                RelayMessage::Ping(n) => wr.write(&RelayMessage::Pong(n)).await,
                RelayMessage::Pong(_) => Ok(()),
                RelayMessage::Incoming { circuit, from } => {
                    self.accept(circuit, from, relay, wr.is_sealed());
                    Ok(())
                }
                RelayMessage::Challenge {
                    relay: shown,
                    nonce,
                } if renewing && !wr.is_sealed() => {
                    self.answer(&mut wr, &relay, &shown, &nonce).await
                }
                RelayMessage::Reserved(grant) if renewing => {
                    renewing = false;
                    (ping_every, renew_in) = timers(&grant);
                    ping_at = next_ping(ping_every);
                    renew_at = tokio::time::Instant::now() + renew_in;
                    Ok(())
                }
                RelayMessage::DialBackResult { nonce, code, .. } => {
                    if let Some(i) = dial_backs.iter().position(|(n, _)| *n == nonce) {
                        let (_, reply) = dial_backs.swap_remove(i);
                        let _ = reply.send(code);
                    }
                    Ok(())
                }
                RelayMessage::Status {
                    code,
                    retry_after_s,
                } => Err(RelayIoError::Refused(code, retry_after_s)),
                _ => Err(RelayIoError::Unexpected),
            };
            if let Err(e) = result {
                return e;
            }
        }
    }

    async fn answer(
        &self,
        wr: &mut ControlWriter,
        relay: &PeerId,
        shown: &PeerId,
        nonce: &[u8; 32],
    ) -> Result<(), RelayIoError> {
        let signature = prove(&self.ctx.identity, relay, shown, nonce)?;
        wr.write(&RelayMessage::Proof { signature }).await
    }

    /// Accepts an offered circuit on a new connection, at most [`ACCEPTS_AT_ONCE`] at a time
    /// (an offer beyond that is left to time out at the relay).
    fn accept(&self, circuit: CircuitId, from: SocketAddr, relay: PeerId, sealed: bool) {
        let Ok(permit) = self.accepts.clone().try_acquire_owned() else {
            tracing::debug!(%from, "too many circuits being accepted; one offer left to expire");
            return;
        };
        let ctx = self.ctx.clone();
        let relay_addr = self.relay_addr;
        self.ctx.tracker.spawn(async move {
            let accepting = async {
                match sealed {
                    true => {
                        let obfs = ctx.obfs;
                        client::accept_sealed(relay_addr, relay, &ctx.identity, circuit, obfs).await
                    }
                    false => client::accept(relay_addr, circuit).await,
                }
            };
            let accepted = tokio::time::timeout(ACCEPT_TIMEOUT, accepting).await;
            drop(permit);
            match accepted {
                Ok(Ok(stream)) => ctx.admit_relayed(stream, from, relay),
                Ok(Err(e)) => {
                    tracing::debug!(%from, error = %e, "accepting a relayed circuit failed")
                }
                Err(_) => tracing::debug!(%from, "accepting a relayed circuit timed out"),
            }
        });
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
