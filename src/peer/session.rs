//! One established, encrypted session with a peer: the task that seals what the router
//! sends, opens what the peer sends, acknowledges chat messages, keeps the connection
//! alive, and hands back what was not acknowledged when it ends.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LengthDelimitedCodec};
use tokio_util::sync::CancellationToken;

use super::PeerError;
use super::wire::{CloseReason, WireError, WireMessage};
use crate::crypto::{MAX_DATA_RECORD, SessionKeys};
use crate::identity::PeerId;
use crate::router::{ChatMessage, RouterHandle, RouterInput};

/// Timers of a session; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct SessionTimers {
    /// Send a Ping when nothing was sent for this long.
    pub keepalive: Duration,
    /// Close when nothing was received for this long.
    pub idle_timeout: Duration,
    /// After a Close, how long to keep reading what the peer still sends.
    pub linger: Duration,
    /// A handshake must complete within this time (both sides), or the connection is closed.
    pub handshake: Duration,
}

impl Default for SessionTimers {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            linger: Duration::from_secs(10),
            handshake: super::HANDSHAKE_TIMEOUT,
        }
    }
}

/// What the router can ask of a session.
#[derive(Debug)]
pub enum SessionCommand {
    Send(ChatMessage),
    /// Another session with the same peer won the tie-break: close this one gracefully.
    Retire,
}

/// The router's handle on a running session.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    pub peer: PeerId,
    pub conn_id: u64,
    /// Who dialled this connection (the tie-break between simultaneous dials uses it).
    pub initiator: PeerId,
    pub commands: mpsc::UnboundedSender<SessionCommand>,
}

/// Runs a session until it ends, then reports the end (and what the peer has not
/// acknowledged) to the router.
pub async fn run<S>(
    stream: S,
    keys: SessionKeys,
    handle: SessionHandle,
    commands: mpsc::UnboundedReceiver<SessionCommand>,
    router: RouterHandle,
    timers: SessionTimers,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let peer = handle.peer;
    let conn_id = handle.conn_id;
    let mut session = Session {
        keys,
        unacked: VecDeque::new(),
        out: Vec::new(),
        plain: Vec::new(),
        router: router.clone(),
        peer,
        closing: false,
    };
    let (reader, writer) = tokio::io::split(stream);
    let codec = LengthDelimitedCodec::builder()
        .length_field_type::<u32>()
        .max_frame_length(MAX_DATA_RECORD)
        .new_codec();
    let mut reader = FramedRead::new(reader, codec);
    let mut writer = writer;
    let mut commands = commands;
    let result = session
        .drive(&mut reader, &mut writer, &mut commands, timers, &shutdown)
        .await;
    let _ = writer.shutdown().await;
    // Everything not acknowledged, then everything not yet sent, in order.
    commands.close();
    let mut unsent: Vec<ChatMessage> = session.unacked.into_iter().collect();
    while let Ok(cmd) = commands.try_recv() {
        if let SessionCommand::Send(m) = cmd {
            unsent.push(m);
        }
    }
    let error = match result {
        Ok(()) => None,
        Err(e) => {
            tracing::debug!(peer = %peer.short(), conn_id, error = %e, "session closed");
            Some(e.to_string())
        }
    };
    router
        .send(RouterInput::SessionEnded {
            peer,
            conn_id,
            unsent,
            error,
        })
        .await;
}

struct Session {
    keys: SessionKeys,
    /// Sent chat messages the peer has not acknowledged yet, oldest first.
    unacked: VecDeque<ChatMessage>,
    out: Vec<u8>,
    plain: Vec<u8>,
    router: RouterHandle,
    peer: PeerId,
    /// We sent Close: send nothing more, read until the peer closes too.
    closing: bool,
}

impl Session {
    async fn drive<R, W>(
        &mut self,
        reader: &mut FramedRead<R, LengthDelimitedCodec>,
        writer: &mut W,
        commands: &mut mpsc::UnboundedReceiver<SessionCommand>,
        timers: SessionTimers,
        shutdown: &CancellationToken,
    ) -> Result<(), PeerError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut last_rx = Instant::now();
        let mut last_tx = Instant::now();
        let mut linger_until: Option<Instant> = None;
        let mut ping_nonce: u64 = 0;
        let tick = (timers.keepalive / 2).min(timers.idle_timeout / 4);
        let mut ticker = tokio::time::interval(tick.max(Duration::from_millis(10)));
        loop {
            tokio::select! {
                _ = shutdown.cancelled(), if !self.closing => {
                    self.close(writer, CloseReason::Shutdown).await?;
                    linger_until = Some(Instant::now() + timers.linger.min(Duration::from_secs(1)));
                }
                frame = reader.next() => {
                    let Some(frame) = frame else { return Ok(()) };
                    let mut frame = frame.map_err(PeerError::from_codec)?;
                    last_rx = Instant::now();
                    let plaintext = self.keys.opener.open(&mut frame)?;
                    match WireMessage::decode(plaintext) {
                        Ok(message) => {
                            if self.handle(message, writer).await? {
                                linger_until.get_or_insert(Instant::now() + timers.linger);
                            }
                        }
                        Err(WireError::UnknownType(t)) => {
                            tracing::debug!(peer = %self.peer.short(), t, "skipping unknown message type");
                        }
                        Err(e) => return Err(PeerError::Wire(e)),
                    }
                }
                cmd = commands.recv(), if !self.closing => match cmd {
                    Some(SessionCommand::Send(message)) => {
                        self.queue(WireMessage::Chat(message.clone()))?;
                        self.unacked.push_back(message);
                        // Batch whatever else is waiting into the same write.
                        while let Ok(SessionCommand::Send(m)) = commands.try_recv() {
                            self.queue(WireMessage::Chat(m.clone()))?;
                            self.unacked.push_back(m);
                        }
                        self.flush(writer).await?;
                        last_tx = Instant::now();
                    }
                    Some(SessionCommand::Retire) | None => {
                        self.close(writer, CloseReason::Duplicate).await?;
                        linger_until = Some(Instant::now() + timers.linger);
                    }
                },
                _ = ticker.tick() => {
                    let now = Instant::now();
                    if linger_until.is_some_and(|t| now >= t) {
                        return Ok(());
                    }
                    if now - last_rx >= timers.idle_timeout {
                        if !self.closing {
                            let _ = self.close(writer, CloseReason::Idle).await;
                        }
                        return Err(PeerError::IdleTimeout);
                    }
                    if !self.closing && now - last_tx >= timers.keepalive {
                        ping_nonce += 1;
                        self.queue(WireMessage::Ping(ping_nonce))?;
                        self.flush(writer).await?;
                        last_tx = now;
                    }
                }
            }
        }
    }

    /// Handles one message from the peer; returns true when the peer closed.
    async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        message: WireMessage,
        writer: &mut W,
    ) -> Result<bool, PeerError> {
        match message {
            WireMessage::Chat(chat) => {
                let id = chat.id;
                self.router
                    .send(RouterInput::Received {
                        peer: self.peer,
                        message: chat,
                    })
                    .await;
                if !self.closing {
                    self.queue(WireMessage::Ack(id))?;
                    self.flush(writer).await?;
                }
            }
            WireMessage::Ack(id) => {
                if let Some(pos) = self.unacked.iter().position(|m| m.id == id) {
                    self.unacked.remove(pos);
                }
            }
            WireMessage::Ping(n) => {
                if !self.closing {
                    self.queue(WireMessage::Pong(n))?;
                    self.flush(writer).await?;
                }
            }
            WireMessage::Pong(_) => {}
            WireMessage::Close(reason) => {
                tracing::debug!(peer = %self.peer.short(), ?reason, "peer closes the session");
                if !self.closing {
                    self.close(writer, reason).await?;
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn queue(&mut self, message: WireMessage) -> Result<(), PeerError> {
        self.plain.clear();
        message.encode(&mut self.plain)?;
        self.keys.sealer.seal_into(&self.plain, &mut self.out)?;
        Ok(())
    }

    async fn flush<W: AsyncWrite + Unpin>(&mut self, writer: &mut W) -> Result<(), PeerError> {
        writer.write_all(&self.out).await?;
        writer.flush().await?;
        self.out.clear();
        Ok(())
    }

    async fn close<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        reason: CloseReason,
    ) -> Result<(), PeerError> {
        self.closing = true;
        self.queue(WireMessage::Close(reason))?;
        self.flush(writer).await?;
        writer.shutdown().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{Initiator, Responder};
    use crate::router::{self, MessageId, MessageKind};
    use ed25519_dalek::SigningKey;
    use tokio::io::{AsyncReadExt, DuplexStream};

    fn keys() -> (SessionKeys, SessionKeys) {
        let (a, b) = (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
        );
        let (init, msg1) = Initiator::new(&a, &b.verifying_key(), [3; 32]);
        let (wait, msg2) = Responder::new(&b, [4; 32]).read_msg1(&msg1).unwrap();
        let (msg3, a_keys) = init.read_msg2(&msg2).unwrap();
        (a_keys, wait.read_msg3(&msg3).unwrap())
    }

    fn chat(n: u8) -> ChatMessage {
        ChatMessage {
            id: MessageId([n; 16]),
            kind: MessageKind::Text,
            text: format!("m{n}"),
            sent_at_ms: 1,
        }
    }

    struct Running {
        commands: mpsc::UnboundedSender<SessionCommand>,
        inputs: mpsc::Receiver<RouterInput>,
        shutdown: CancellationToken,
    }

    fn start(stream: DuplexStream, keys: SessionKeys, seed: u8, timers: SessionTimers) -> Running {
        let (router, inputs) = router::channel();
        let (tx, rx) = mpsc::unbounded_channel();
        let peer = PeerId::of(&SigningKey::from_bytes(&[seed; 32]));
        let handle = SessionHandle {
            peer,
            conn_id: 1,
            initiator: peer,
            commands: tx.clone(),
        };
        let shutdown = CancellationToken::new();
        tokio::spawn(run(
            stream,
            keys,
            handle,
            rx,
            router,
            timers,
            shutdown.clone(),
        ));
        Running {
            commands: tx,
            inputs,
            shutdown,
        }
    }

    async fn next(inputs: &mut mpsc::Receiver<RouterInput>) -> RouterInput {
        tokio::time::timeout(Duration::from_secs(10), inputs.recv())
            .await
            .expect("in time")
            .expect("input")
    }

    const FAST: SessionTimers = SessionTimers {
        keepalive: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(300),
        linger: Duration::from_millis(200),
        handshake: Duration::from_millis(300),
    };

    #[tokio::test(start_paused = true)]
    async fn messages_are_delivered_in_order_and_acknowledged() {
        let (ka, kb) = keys();
        let (sa, sb) = tokio::io::duplex(1 << 16);
        let mut a = start(sa, ka, 2, SessionTimers::default());
        let mut b = start(sb, kb, 1, SessionTimers::default());
        for n in 0..20 {
            a.commands.send(SessionCommand::Send(chat(n))).unwrap();
        }
        for n in 0..20 {
            match next(&mut b.inputs).await {
                RouterInput::Received { message, .. } => assert_eq!(message, chat(n)),
                other => panic!("{other:?}"),
            }
        }
        // Let the acks travel (paused time: the sleep ends once every task is idle), then
        // shut down: nothing is handed back as unsent.
        tokio::time::sleep(Duration::from_millis(100)).await;
        a.shutdown.cancel();
        match next(&mut a.inputs).await {
            RouterInput::SessionEnded { unsent, .. } => assert!(unsent.is_empty(), "{unsent:?}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            next(&mut b.inputs).await,
            RouterInput::SessionEnded { error: None, .. }
        ));
    }

    // Paused time: the runtime jumps the clock forward whenever every task is idle, so
    // timer behaviour is tested exactly and without waiting.
    #[tokio::test(start_paused = true)]
    async fn keepalives_hold_an_idle_session_open() {
        let (ka, kb) = keys();
        let (sa, sb) = tokio::io::duplex(1 << 16);
        let mut a = start(sa, ka, 2, FAST);
        let mut b = start(sb, kb, 1, FAST);
        // Three idle timeouts pass without a message: pings keep both ends up.
        tokio::time::sleep(FAST.idle_timeout * 3).await;
        assert!(a.inputs.try_recv().is_err());
        assert!(b.inputs.try_recv().is_err());
        a.commands.send(SessionCommand::Send(chat(9))).unwrap();
        assert!(matches!(
            next(&mut b.inputs).await,
            RouterInput::Received { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_unacked_messages_come_back() {
        let (ka, _kb) = keys();
        let (sa, mut silent) = tokio::io::duplex(1 << 16);
        let mut a = start(sa, ka, 2, FAST);
        a.commands.send(SessionCommand::Send(chat(1))).unwrap();
        a.commands.send(SessionCommand::Send(chat(2))).unwrap();
        // Drain what A writes so it never blocks, but never answer.
        tokio::spawn(async move {
            let mut sink = vec![0u8; 4096];
            while silent.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        match next(&mut a.inputs).await {
            RouterInput::SessionEnded { unsent, error, .. } => {
                assert_eq!(unsent, vec![chat(1), chat(2)]);
                assert!(error.unwrap().contains("too long"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_tampered_frame_closes_the_session_and_delivers_nothing() {
        let (ka, kb) = keys();
        let (sa, mut raw) = tokio::io::duplex(1 << 16);
        let mut a = start(sa, ka, 2, SessionTimers::default());
        // Seal a valid chat with B's keys, flip one bit of the ciphertext, send it to A.
        let mut kb = kb;
        let mut plain = Vec::new();
        WireMessage::Chat(chat(5)).encode(&mut plain).unwrap();
        let mut record = Vec::new();
        kb.sealer.seal_into(&plain, &mut record).unwrap();
        let last = record.len() - 1;
        record[last] ^= 1;
        raw.write_all(&record).await.unwrap();
        match next(&mut a.inputs).await {
            RouterInput::SessionEnded { error, .. } => assert!(error.unwrap().contains("frame")),
            other => panic!("expected the session to end, got {other:?}"),
        }
    }
}
