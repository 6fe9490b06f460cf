//! The relay's dial-backs (docs/protocol.md, "Dial-back"): a DialBack on a reservation
//! connection admitted by the [`DialBackBudget`] and dialled on a task of its own, to the
//! reservation's own address only; the probe written there is a version 2 first message
//! under the target's dial-back key when the reservation is sealed, the plain `Probe`
//! record when it is plain.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{DialBackDone, RelayServer, lock};
use crate::crypto::obfs::ProberKey;
use crate::identity::{PeerId, random_bytes};
use crate::peer::transport;
use crate::policy::canonical_ip;
use crate::relay::io::RelayIoError;
use crate::relay::sealed::ControlSealer;
use crate::relay::wire::{RelayMessage, StatusCode, probe_token};

impl RelayServer {
    /// Admits a DialBack from `target`'s reservation connection (from `from`) and starts
    /// its dial, whose end is sent on `done`; or returns the refusal to write back.
    pub(super) fn dial_back(
        &self,
        asked: DialBackAsk,
        done: &mpsc::Sender<DialBackDone>,
    ) -> Option<RelayMessage> {
        let DialBackAsk {
            target,
            from,
            port,
            nonce,
            sealed,
        } = asked;
        let mut budget = lock(&self.dial_backs);
        if let Err(refusal) = budget.admit(target, from.ip(), port, Instant::now()) {
            tracing::debug!(%from, port, %refusal, "dial-back refused");
            let (code, retry_after_s) = refusal.status();
            return Some(RelayMessage::DialBackResult {
                nonce,
                code,
                retry_after_s,
            });
        }
        let timeout = budget.limits().connect_timeout;
        drop(budget);
        // Never another IP than the one the reservation connection comes from.
        let to = SocketAddr::new(canonical_ip(from.ip()), port);
        let (budget, done) = (self.dial_backs.clone(), done.clone());
        tokio::spawn(async move {
            let code = probe(to, target, nonce, sealed, timeout).await;
            lock(&budget).finished();
            // The reservation may have ended meanwhile: nobody to tell.
            let _ = done.send((nonce, code)).await;
        });
        None
    }
}

/// What a DialBack asked, and whether it came on a sealed reservation.
pub(super) struct DialBackAsk {
    pub(super) target: PeerId,
    pub(super) from: SocketAddr,
    pub(super) port: u16,
    pub(super) nonce: [u8; 16],
    pub(super) sealed: bool,
}

/// The most padding of a version 2 dial-back probe.
pub const PROBE_PADDING: usize = 128;

/// The bytes of a dial-back probe to `target` for `nonce`: asked on a sealed reservation,
/// a version 2 first message under [`ProberKey::dial_back`] (32 random bytes where a msg1
/// has its representative, random padding of 0 to [`PROBE_PADDING`] bytes), so it looks
/// like any other connection's start; on a plain one, the plain Probe record.
pub fn probe_bytes(
    target: &PeerId,
    nonce: &[u8; 16],
    sealed: bool,
) -> Result<Vec<u8>, RelayIoError> {
    if !sealed {
        let mut out = Vec::new();
        let token = probe_token(nonce);
        ControlSealer::Plain.encode(&RelayMessage::Probe { token }, &mut out)?;
        return Ok(out);
    }
    let r: [u8; 32] = random_bytes()?;
    let mut pad = vec![0u8; transport::random_pad_len(PROBE_PADDING).unwrap_or(0)];
    crate::identity::fill_random(&mut pad)?;
    let key = ProberKey::dial_back(&target.verifying_key(), nonce);
    Ok(key.first_message(&r, transport::hour_now(), &pad))
}

/// Connects to `to` and writes the probe for `nonce` ([`probe_bytes`]) as all the
/// connection carries, then closes it: `Ok` when all of it was written within `timeout`,
/// `DialBackFailed` otherwise.
pub(super) async fn probe(
    to: SocketAddr,
    target: PeerId,
    nonce: [u8; 16],
    sealed: bool,
    timeout: Duration,
) -> StatusCode {
    let attempt = async {
        let bytes = probe_bytes(&target, &nonce, sealed)?;
        let mut stream = TcpStream::connect(to).await?;
        let _ = stream.set_nodelay(true);
        stream.write_all(&bytes).await?;
        stream.shutdown().await?;
        Ok::<_, RelayIoError>(())
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => StatusCode::Ok,
        Ok(Err(e)) => {
            tracing::debug!(%to, error = %e, "dial-back failed");
            StatusCode::DialBackFailed
        }
        Err(_) => StatusCode::DialBackFailed,
    }
}
