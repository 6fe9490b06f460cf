//! A peer of a test's own making: a real session task (`disims::peer::session::run`) over any
//! stream, with no hub behind it. The test drives it through its command channel and reads
//! what a hub would be told (acknowledgements, the session's end) from `inputs`.

use disims::crypto::SessionKeys;
use disims::identity::PeerId;
use disims::peer::session::{self, SessionCommand, SessionHandle, SessionTimers};
use disims::router::{self, RouterInput};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A running session and the channels that reach it.
pub struct RawPeer {
    pub commands: mpsc::UnboundedSender<SessionCommand>,
    pub inputs: mpsc::UnboundedReceiver<RouterInput>,
    /// Cancelling it ends the session task.
    pub shutdown: CancellationToken,
}

/// Runs a session with `remote` over `stream`, whose handshake gave `keys`; `initiator` is the
/// key that dialled (ours or the remote's, as in `SessionHandle`).
pub fn run<S>(
    stream: S,
    keys: SessionKeys,
    remote: PeerId,
    initiator: PeerId,
    timers: SessionTimers,
) -> RawPeer
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (commands, rx) = mpsc::unbounded_channel();
    let (router, inputs) = router::channel();
    let handle = SessionHandle {
        peer: remote,
        conn_id: 1,
        initiator,
        session_id: keys.transcript_hash,
        commands: commands.clone(),
        remote: None,
        via: None,
        started_ms: 0,
        activity: Default::default(),
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(session::run(
        stream,
        keys,
        handle,
        rx,
        router,
        timers,
        shutdown.clone(),
    ));
    RawPeer {
        commands,
        inputs,
        shutdown,
    }
}
