//! One established, encrypted session with a peer: the task that seals what the router
//! sends, opens what the peer sends, acknowledges chat messages (private and group chats,
//! group ops) once the hub stored them, passes group heads to the hub, keeps the
//! connection alive, and hands back what was not acknowledged when it ends.

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::PeerError;
use super::codec::RecordCodec;
use super::padding::FramePad;
use super::upgrade::Signal;
use super::wire::{self, CloseReason, WireError, WireMessage};
use crate::crypto::{MAX_DATA_RECORD, MAX_PLAINTEXT, SessionKeys};
use crate::group::wire::GroupMessage;
use crate::identity::PeerId;
use crate::message::{MessageId, PeerMessage};
use crate::router::{Receipt, RouterHandle, RouterInput};
use crate::store::Ticket;

pub use super::session_api::{PROBE_MIN, SessionCommand, SessionHandle, SessionTimers};

/// Runs a session until it ends, then reports the end (and what the peer has not
/// acknowledged) to the router. Its frames are not padded (the gateway's sessions are,
/// in version 2: [`run_with`]).
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
    let ends = Ends {
        commands,
        router,
        upgrade: None,
        frame_padding: 0,
    };
    run_with(stream, keys, handle, ends, timers, shutdown).await
}

/// A session's channels: the router's commands, the router, and for a relayed session
/// the upgrade task that receives the peer's upgrade signals ([`super::upgrade`]); and the
/// bound of its frames' padding (used in version 2 only: [`FramePad`]).
pub(super) struct Ends {
    pub commands: mpsc::UnboundedReceiver<SessionCommand>,
    pub router: RouterHandle,
    pub upgrade: Option<mpsc::Sender<Signal>>,
    pub frame_padding: usize,
}

/// [`run`], with an upgrade task to pass the peer's upgrade signals to and frame padding.
pub(super) async fn run_with<S>(
    stream: S,
    keys: SessionKeys,
    handle: SessionHandle,
    ends: Ends,
    timers: SessionTimers,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let Ends {
        commands,
        router,
        upgrade,
        frame_padding,
    } = ends;
    let peer = handle.peer;
    let conn_id = handle.conn_id;
    let mut keys = keys;
    let pad = FramePad::for_session(keys.version, frame_padding);
    let codec = RecordCodec::new(keys.opener.take_length_mask(), MAX_DATA_RECORD);
    let mut session = Session::new(keys, router.clone(), peer, handle.activity.clone());
    session.upgrade = upgrade;
    let (reader, writer) = tokio::io::split(stream);
    let mut reader = FramedRead::new(reader, codec);
    let mut writer = writer;
    let mut commands = commands;
    let result = match pad {
        Ok(pad) => {
            session.pad = pad;
            session
                .drive(&mut reader, &mut writer, &mut commands, timers, &shutdown)
                .await
        }
        // No key for the padding (the OS gave no random bytes): the session ends at once,
        // as after any other error, and what was queued for it goes back to the hub.
        Err(e) => Err(e),
    };
    let _ = writer.shutdown().await;
    // Everything not acknowledged, then everything not yet sent, in order. `recv`, not
    // `try_recv`: a send that passed the channel's check before `close` may not be in the
    // queue yet (try_recv says Empty, and it would be dropped with the receiver, although
    // the sender was told Ok); `recv` ends only once no such send is in flight.
    commands.close();
    let mut unsent: Vec<PeerMessage> = session.unacked.into_iter().collect();
    while let Some(cmd) = commands.recv().await {
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
    router.dispatch(RouterInput::SessionEnded {
        peer,
        conn_id,
        unsent,
        error,
    });
}

/// Acks alone wait this long for something to ride along with (a reply, the next
/// message), so that a conversation sends one frame per message instead of two.
const ACK_DELAY: Duration = Duration::from_millis(2);
/// Acks alone go out at once when this many bytes of them wait.
const ACK_BATCH: usize = 8 * 1024;

/// How long a Close(idle) may take to go out before the session ends anyway.
const IDLE_LINGER: Duration = Duration::from_secs(1);

/// Stop taking new chat messages from the router while this much sealed output waits.
const OUT_HIGH_WATER: usize = 256 * 1024;
/// A peer that lets this much output pile up (it sends to us but does not read what we
/// send: acks, pongs) is dropped.
const OUT_HARD_LIMIT: usize = 4 * 1024 * 1024;

/// One session's state. Reading and writing happen in one `select!` loop and never block
/// each other: sealed output goes to `out` and is written as the socket accepts it, so a
/// peer that stops reading cannot stop us reading (and acknowledging) what it sends.
struct Session {
    keys: SessionKeys,
    /// Sent messages (chats, group chats, group ops) the peer has not acknowledged yet,
    /// oldest first.
    unacked: VecDeque<PeerMessage>,
    /// What the frame being read carried to store and acknowledge, not yet handed to the
    /// hub.
    received: Vec<PeerMessage>,
    /// Ids the peer acknowledged in the frame being read, not yet reported to the hub.
    acked: Vec<MessageId>,
    /// Chats the hub wrote to the store's open write, to acknowledge once it is committed.
    unconfirmed: Vec<(Ticket, Vec<MessageId>)>,
    /// The plaintext of the next frame: messages queued since the last seal.
    plain: Vec<u8>,
    /// `plain` holds more than acks: seal it at the next turn.
    urgent: bool,
    /// `plain` holds only acks, to be sealed by then at the latest ([`ACK_DELAY`]).
    acks_due: Option<Instant>,
    /// The messages of the frame being read, decoded in full before any is acted on
    /// (kept to reuse its allocation).
    inbox: Vec<WireMessage>,
    /// The peer sent Close: nothing it sends after that is read.
    peer_closed: bool,
    /// Sealed records waiting to be written; `out[..written]` is already written.
    out: Vec<u8>,
    written: usize,
    router: RouterHandle,
    peer: PeerId,
    /// When we last queued anything to send (keepalive).
    last_tx: Instant,
    /// We queued Close: send nothing more, read until the peer closes too.
    closing: bool,
    /// Our write side is shut down (after Close was written).
    write_shut: bool,
    /// Stamped with every chat, either way.
    activity: super::Activity,
    /// The peer, a stranger, went over its rate budget: its chats are no longer taken
    /// (nor acknowledged), and the session closes.
    over_budget: bool,
    /// A relayed session's upgrade task: the peer's Upgrade and UpgradeSync go to it (and
    /// are ignored without one).
    upgrade: Option<mpsc::Sender<Signal>>,
    /// Version 2: each frame's random padding; `None` in version 1 or when off.
    pad: Option<FramePad>,
}

impl Session {
    fn new(
        keys: SessionKeys,
        router: RouterHandle,
        peer: PeerId,
        activity: super::Activity,
    ) -> Self {
        Self {
            keys,
            unacked: VecDeque::new(),
            received: Vec::new(),
            inbox: Vec::new(),
            peer_closed: false,
            acked: Vec::new(),
            unconfirmed: Vec::new(),
            out: Vec::new(),
            written: 0,
            plain: Vec::new(),
            urgent: false,
            acks_due: None,
            router,
            peer,
            last_tx: Instant::now(),
            closing: false,
            write_shut: false,
            activity,
            over_budget: false,
            upgrade: None,
            pad: None,
        }
    }

    /// Whether a received chat (or group chat, or group op) is taken (stored, then
    /// acknowledged): always from a contact; from a stranger while its rate budget lasts
    /// (the budget outlives the session).
    fn admit(&mut self, message: &PeerMessage) -> bool {
        if self.over_budget {
            return false;
        }
        let len = match message {
            PeerMessage::Chat(m) | PeerMessage::GroupChat { message: m, .. } => m.text.len(),
            PeerMessage::GroupOp { op, .. } => op.bytes().len(),
        };
        let cost = crate::policy::strangers::row_bytes(len);
        if self
            .router
            .gate()
            .admit(&self.peer, cost, std::time::Instant::now())
        {
            return true;
        }
        tracing::info!(peer = %self.peer.short(), "stranger over its rate budget; not acknowledging, closing");
        self.over_budget = true;
        false
    }

    fn pending(&self) -> usize {
        self.out.len() - self.written
    }

    async fn drive<R, W>(
        &mut self,
        reader: &mut FramedRead<R, RecordCodec>,
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
        let mut last_write_progress = Instant::now();
        let mut linger_until: Option<Instant> = None;
        let mut ping_nonce: u64 = 0;
        // We closed the session for idleness: it ends with that error, however it ends.
        let mut idle = false;
        let ending = |idle: bool| {
            if idle {
                Err(PeerError::IdleTimeout)
            } else {
                Ok(())
            }
        };
        let tick = (timers.keepalive / 2).min(timers.idle_timeout / 4);
        let mut ticker = tokio::time::interval(tick.max(Duration::from_millis(10)));
        loop {
            // Everything queued since the last turn goes out as one frame (acks alone may
            // wait a little for company).
            if self.urgent || self.acks_due.is_some_and(|due| Instant::now() >= due) {
                self.seal_pending()?;
            }
            if self.closing && !self.write_shut && self.pending() == 0 {
                writer.shutdown().await?;
                self.write_shut = true;
            }
            let pending = self.pending();
            tokio::select! {
                _ = shutdown.cancelled(), if !self.closing => {
                    self.start_close(CloseReason::Shutdown)?;
                    linger_until = Some(Instant::now() + timers.linger.min(Duration::from_secs(1)));
                }
                frame = reader.next() => {
                    let Some(frame) = frame else { return ending(idle) };
                    let mut frame = frame?;
                    last_rx = Instant::now();
                    if self.peer_closed {
                        // The peer said Close: whatever it still sends is not read.
                        continue;
                    }
                    let plaintext = self.keys.opener.open(&mut frame)?;
                    // A frame is all or nothing: one malformed message refuses the whole
                    // frame before any of it is acted on (no chat shown, none acknowledged).
                    let mut inbox = std::mem::take(&mut self.inbox);
                    for message in wire::messages(plaintext) {
                        match message {
                            Ok(WireMessage::Padding(_)) => {}
                            Ok(message) => inbox.push(message),
                            Err(WireError::UnknownType(t)) => {
                                tracing::debug!(peer = %self.peer.short(), t, "skipping unknown message type");
                            }
                            Err(e) => return Err(PeerError::Wire(e)),
                        }
                    }
                    for message in inbox.drain(..) {
                        match message.into_peer_message() {
                            // Chats, group chats and group ops are collected and stored
                            // together, then acknowledged; a stranger's only within its
                            // budget (`policy::strangers`).
                            Ok(received) => {
                                if self.admit(&received) {
                                    self.received.push(received);
                                }
                            }
                            // Anything else comes after what the frame carried before it.
                            Err(message) => {
                                self.take_received()?;
                                self.confirm_received()?;
                                if self.handle(message)? {
                                    linger_until.get_or_insert(Instant::now() + timers.linger);
                                    // Nothing after the peer's Close counts.
                                    break;
                                }
                            }
                        }
                    }
                    self.inbox = inbox;
                    if !self.acked.is_empty() {
                        let ids = std::mem::take(&mut self.acked);
                        self.router.dispatch(RouterInput::Acknowledged { peer: self.peer, ids });
                    }
                    if self.take_received()? {
                        // Let the front ends show what was just written before the commit
                        // (they were woken on this thread, and must not starve behind a
                        // long burst either); then acknowledge it.
                        tokio::task::yield_now().await;
                    }
                    self.confirm_received()?;
                    if self.over_budget && !self.closing {
                        // What was taken is acknowledged (queued above); the rest stays
                        // with the sender, which sends it again in a later session.
                        self.start_close(CloseReason::Shutdown)?;
                        linger_until = Some(Instant::now() + timers.linger);
                    }
                }
                cmd = commands.recv(), if !self.closing && pending < OUT_HIGH_WATER => {
                    // Take whatever else is waiting too, so that it goes out in one write.
                    let mut next = cmd;
                    loop {
                        match next {
                            Some(SessionCommand::Send(message)) => self.send_chat(message)?,
                            Some(SessionCommand::Group(message)) => {
                                self.queue(&WireMessage::Group(message))?;
                            }
                            Some(SessionCommand::Away(reason)) => {
                                self.queue(&WireMessage::Away(wire::clip_away(&reason)))?;
                            }
                            Some(SessionCommand::Retire) | None => {
                                self.start_close(CloseReason::Duplicate)?;
                                linger_until = Some(Instant::now() + timers.linger);
                                break;
                            }
                            Some(SessionCommand::Evict) => {
                                self.start_close(CloseReason::Idle)?;
                                linger_until = Some(Instant::now() + timers.linger);
                                break;
                            }
                            Some(SessionCommand::Upgrade(signal)) => {
                                self.queue(&match signal {
                                    Signal::Addrs(addrs) => WireMessage::Upgrade(addrs),
                                    Signal::Sync => WireMessage::UpgradeSync,
                                })?;
                            }
                        }
                        if self.pending() + self.plain.len() >= OUT_HIGH_WATER {
                            break;
                        }
                        match commands.try_recv() {
                            Ok(cmd) => next = Some(cmd),
                            Err(_) => break,
                        }
                    }
                }
                written = writer.write(&self.out[self.written..]), if pending > 0 && !self.write_shut => {
                    let n = written?;
                    if n == 0 {
                        return Err(PeerError::Io(std::io::ErrorKind::WriteZero.into()));
                    }
                    self.written += n;
                    if self.written == self.out.len() {
                        self.out.clear();
                        self.written = 0;
                    }
                    last_write_progress = Instant::now();
                }
                _ = tokio::time::sleep_until(self.acks_due.unwrap_or(last_rx)), if self.acks_due.is_some() && !self.urgent => {}
                // The linger ends on time, not at the next tick of the timers.
                _ = tokio::time::sleep_until(linger_until.unwrap_or(last_rx)), if linger_until.is_some() => {
                    return ending(idle);
                }
                _ = ticker.tick() => {
                    let now = Instant::now();
                    if linger_until.is_some_and(|t| now >= t) {
                        return ending(idle);
                    }
                    if now - last_rx >= timers.idle_timeout {
                        if self.closing {
                            return Err(PeerError::IdleTimeout);
                        }
                        // Tell the peer why (Close(idle)); it is probably gone, so the
                        // Close gets a moment to go out, not the whole linger.
                        self.start_close(CloseReason::Idle)?;
                        idle = true;
                        linger_until = Some(now + timers.linger.min(IDLE_LINGER));
                    }
                    if pending == 0 {
                        last_write_progress = now;
                    } else if now - last_write_progress >= timers.idle_timeout {
                        return Err(PeerError::WriteStalled);
                    }
                    if !self.closing && now - self.last_tx >= timers.keepalive {
                        ping_nonce += 1;
                        self.queue(&WireMessage::Ping(ping_nonce))?;
                    }
                }
            }
            if self.pending() > OUT_HARD_LIMIT {
                return Err(PeerError::WriteStalled);
            }
        }
    }

    /// Hands the chats collected from a frame to the hub, which stores them; they are
    /// acknowledged once stored (by [`Session::confirm_received`] when the hub left them in
    /// the store's open write). Chats the hub could not store end the session
    /// unacknowledged, so that the peer sends them again later.
    fn take_received(&mut self) -> Result<bool, PeerError> {
        if self.received.is_empty() {
            return Ok(false);
        }
        let chats = std::mem::take(&mut self.received);
        self.activity.touch();
        let ids: Vec<_> = chats.iter().map(PeerMessage::id).collect();
        match self.router.receive(self.peer, chats) {
            Receipt::NotStored => return Err(PeerError::NotStored),
            Receipt::Stored => self.acknowledge(ids)?,
            Receipt::Pending(ticket) => self.unconfirmed.push((ticket, ids)),
        }
        Ok(true)
    }

    /// Acknowledges the chats whose open write is now committed (committing it if nobody
    /// has yet); ends the session, unacknowledged, if it could not be.
    fn confirm_received(&mut self) -> Result<(), PeerError> {
        for (ticket, ids) in std::mem::take(&mut self.unconfirmed) {
            if !self.router.durable(ticket) {
                return Err(PeerError::NotStored);
            }
            self.acknowledge(ids)?;
        }
        Ok(())
    }

    fn acknowledge(&mut self, ids: Vec<MessageId>) -> Result<(), PeerError> {
        if !self.closing {
            for id in ids {
                self.queue(&WireMessage::Ack(id))?;
            }
            self.acks_due
                .get_or_insert_with(|| Instant::now() + ACK_DELAY);
            self.urgent |= self.plain.len() >= ACK_BATCH;
        }
        Ok(())
    }

    /// Handles one message other than those to store and acknowledge (taken by the read
    /// loop); returns true when the peer closed.
    fn handle(&mut self, message: WireMessage) -> Result<bool, PeerError> {
        match message {
            WireMessage::Chat(_)
            | WireMessage::Group(GroupMessage::Op { .. } | GroupMessage::Chat { .. }) => {
                // The read loop took it (`into_peer_message`).
            }
            WireMessage::Group(GroupMessage::Heads { group, heads }) => {
                self.router.dispatch(RouterInput::GroupHeads {
                    peer: self.peer,
                    group,
                    heads,
                });
            }
            WireMessage::Ack(id) => {
                // An ack of something not waiting for one (a group op sent for a sync,
                // outside the outbox) is ignored.
                if let Some(pos) = self.unacked.iter().position(|m| m.id() == id) {
                    self.unacked.remove(pos);
                    self.acked.push(id);
                }
            }
            WireMessage::Ping(n) => {
                if !self.closing {
                    self.queue(&WireMessage::Pong(n))?;
                }
            }
            WireMessage::Pong(_) | WireMessage::Padding(_) => {}
            WireMessage::Away(reason) => {
                let reason = (!reason.is_empty()).then(|| wire::clip_away(&reason));
                self.router.dispatch(RouterInput::PeerAway {
                    peer: self.peer,
                    reason,
                });
            }
            WireMessage::Upgrade(addrs) => self.signal(Signal::Addrs(addrs)),
            WireMessage::UpgradeSync => self.signal(Signal::Sync),
            WireMessage::Close(reason) => {
                tracing::debug!(peer = %self.peer.short(), ?reason, "peer closes the session");
                self.peer_closed = true;
                if !self.closing {
                    self.start_close(reason)?;
                }
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Passes an upgrade signal of the peer's to the upgrade task, if there is one (a
    /// direct session has none: the signal is ignored).
    fn signal(&mut self, signal: Signal) {
        if let Some(upgrade) = &self.upgrade {
            // Bounded: a peer that floods signals loses the extra ones.
            let _ = upgrade.try_send(signal);
        }
    }

    fn send_chat(&mut self, message: PeerMessage) -> Result<(), PeerError> {
        // Encoded from the message itself, which then waits for its ack (no copy of it).
        self.activity.touch();
        let wire = WireMessage::from(message);
        self.queue(&wire)?;
        if let Ok(message) = wire.into_peer_message() {
            self.unacked.push_back(message);
        }
        Ok(())
    }

    /// Adds a message to the frame being built; a full frame is sealed first.
    fn queue(&mut self, message: &WireMessage) -> Result<(), PeerError> {
        if self.plain.len() + wire::pushed_len(message) > MAX_PLAINTEXT {
            self.seal_pending()?;
        }
        wire::push(&mut self.plain, message)?;
        self.urgent |= !matches!(message, WireMessage::Ack(_));
        Ok(())
    }

    /// Seals the frame being built, if any, into the output buffer.
    fn seal_pending(&mut self) -> Result<(), PeerError> {
        (self.urgent, self.acks_due) = (false, None);
        if !self.plain.is_empty() {
            if let Some(pad) = &mut self.pad {
                pad.pad(&mut self.plain)?;
            }
            self.keys.sealer.seal_into(&self.plain, &mut self.out)?;
            self.plain.clear();
            self.last_tx = Instant::now();
        }
        Ok(())
    }

    /// Queues Close; the write side is shut down once everything queued is written.
    fn start_close(&mut self, reason: CloseReason) -> Result<(), PeerError> {
        self.closing = true;
        self.queue(&WireMessage::Close(reason))
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
