//! The IRC listener and one task per IRC connection: the only code here that touches
//! sockets. It feeds bytes to the framer, lines to the [`Client`] state machine, and
//! performs the actions the state machine returns.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::flood::TokenBucket;
use super::listener::{ConnGuard, Listener};
use super::{Action, Client, ClientSettings, LineFramer};
use crate::config::{DEFAULT_LINE_BURST, DEFAULT_LINES_PER_SECOND};
use crate::message::{FrontendEvent, FrontendId, FrontendRequest, StoredRow};
use crate::policy::irc::{GuessRules, SlotLimits};
pub use crate::policy::irc::{MAX_CLIENTS, REGISTRATION_TIMEOUT};
use crate::router::{RouterHandle, RouterInput, now_ms};

/// Bytes taken from a client's socket per read, at most.
const READ_BUFFER: usize = 64 * 1024;
/// Events rendered into one write, at most (bytes).
const WRITE_BATCH: usize = 64 * 1024;
/// A write to a client that takes longer than this ends the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// A registered client silent this long gets a PING; silent as long again, it is closed. A
/// dead client (a laptop asleep behind an SSH tunnel) must not count as attached for long:
/// messages shown to it are not played back to the next one.
pub const PING_INTERVAL: Duration = Duration::from_secs(90);
/// After registration, the client's next lines wait this long at most for the hub's first
/// contact book, so that the `&disims` JOIN burst comes before any later reply (the hub
/// sends the book as it attaches the connection, so the wait is normally nil).
pub const FIRST_BOOK_WAIT: Duration = Duration::from_secs(2);
/// After a command to the service, the client's next lines wait this long at most for its
/// reply, so that replies come in the order of the commands (`status` asks the DHT, for at
/// most 2 s, before it answers).
pub const CONTROL_REPLY_WAIT: Duration = Duration::from_secs(3);

/// Limits of the IRC listener; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct IrcLimits {
    pub registration_timeout: Duration,
    /// Connections in total and unregistered ones per address and prefix.
    pub slots: SlotLimits,
    /// How wrong passwords are slowed down.
    pub guesses: GuessRules,
    /// Lines per second each client may send, sustained (0: no limit); the daemon takes it
    /// from `[irc] lines_per_second`.
    pub lines_per_second: u32,
    /// Lines a client may send at once before the rate applies (`[irc] line_burst`).
    pub line_burst: u32,
    /// See [`PING_INTERVAL`].
    pub ping_interval: Duration,
    /// See [`WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// See [`FIRST_BOOK_WAIT`].
    pub first_book_wait: Duration,
    /// See [`CONTROL_REPLY_WAIT`].
    pub control_reply_wait: Duration,
}

impl Default for IrcLimits {
    fn default() -> Self {
        Self {
            registration_timeout: REGISTRATION_TIMEOUT,
            slots: SlotLimits::default(),
            guesses: GuessRules::default(),
            lines_per_second: DEFAULT_LINES_PER_SECOND,
            line_burst: DEFAULT_LINE_BURST,
            ping_interval: PING_INTERVAL,
            write_timeout: WRITE_TIMEOUT,
            first_book_wait: FIRST_BOOK_WAIT,
            control_reply_wait: CONTROL_REPLY_WAIT,
        }
    }
}

/// Accepts IRC connections until shutdown.
pub async fn accept_loop(
    listener: TcpListener,
    settings: Arc<ClientSettings>,
    router: RouterHandle,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    limits: IrcLimits,
) {
    let listen = Listener::new(limits.slots, limits.guesses);
    loop {
        let (stream, from) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an IRC connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let guard = match listen.admit(from.ip()) {
            Ok(guard) => guard,
            Err(refusal) => {
                // Refused at once, without a task: the line fits the socket buffer.
                tracing::debug!(%from, ?refusal, "IRC connection refused");
                let line = format!("ERROR :{}\r\n", refusal.reason());
                let _ = stream.try_write(line.as_bytes());
                continue;
            }
        };
        tracing::info!(%from, "IRC client connected");
        // Lines go out as soon as they are written: an interactive protocol, and writes are
        // batched here already.
        let _ = stream.set_nodelay(true);
        let (settings, router, shutdown) = (settings.clone(), router.clone(), shutdown.clone());
        tracker.spawn(async move {
            // The guard gives the slot back when the connection ends.
            if let Err(e) = serve(stream, settings, router, shutdown, limits, guard).await {
                tracing::debug!(%from, error = %e, "IRC connection ended with an error");
            }
            tracing::info!(%from, "IRC client disconnected");
        });
    }
}

/// Serves one IRC connection.
async fn serve(
    stream: TcpStream,
    settings: Arc<ClientSettings>,
    router: RouterHandle,
    shutdown: CancellationToken,
    limits: IrcLimits,
    mut guard: ConnGuard,
) -> std::io::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let mut client = Client::new(settings);
    let mut framer = LineFramer::new();
    // One read takes what the client has sent, up to this much: a pasted burst becomes one
    // batch of requests, and so one outbox transaction, rather than dozens.
    let mut buf = vec![0u8; READ_BUFFER];
    let mut out = Vec::<u8>::new();
    // The client's requests from one read (or one batch of events) go to the hub together,
    // so that a burst of messages is committed to the outbox in one transaction.
    let mut requests = Vec::<FrontendRequest>::new();
    // The stored received messages rendered into `out`, each with the length of `out` once
    // its lines were in: reported to the hub as shown once those bytes went to the socket,
    // not before (see `FrontendRequest::Shown`).
    let mut rendered = Vec::<(StoredRow, usize)>::new();
    // Attached to the hub only once registered, so that the backlog kept while no client
    // was attached goes to a client that can show it.
    let mut attached: Option<(
        u64,
        tokio::sync::mpsc::Receiver<crate::message::FrontendEvent>,
    )> = None;
    // A connection held back by wrong passwords from its address gets that much longer.
    let held = guard.gate();
    let registration_deadline = tokio::time::sleep(
        limits.registration_timeout
            + held.map_or(Duration::ZERO, |at| {
                at.saturating_duration_since(tokio::time::Instant::now())
            }),
    );
    tokio::pin!(registration_deadline);
    if let Some(at) = held {
        let wait = at
            .saturating_duration_since(tokio::time::Instant::now())
            .as_secs()
            + 1;
        let notice = format!(
            "NOTICE * :Wrong passwords came from your address or network: registration waits {wait} s\r\n"
        );
        let _ = tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(notice.as_bytes())).await;
    }
    let mut bucket = TokenBucket::new(limits.lines_per_second, limits.line_burst, clock());
    // When the client last sent anything (or was last pinged), and whether a PING is out;
    // looked at a few times per interval (a timer reset on every read would cost more).
    let mut heard = tokio::time::Instant::now();
    let mut pinged = false;
    let check = (limits.ping_interval / 4).max(Duration::from_millis(10));
    let mut liveness = tokio::time::interval_at(heard + check, check);
    liveness.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The client's lines wait (until `hold`, at most) while the first contact book has not
    // come yet (see FIRST_BOOK_WAIT) or commands to the service are not answered yet (see
    // CONTROL_REPLY_WAIT), so that replies keep the order of the commands.
    let mut hold: Option<tokio::time::Instant> = None;
    let mut awaiting_book = false;
    let mut awaiting_replies = 0usize;

    let result = loop {
        let mut close: bool;
        // Lines waiting in the framer are taken as tokens allow; until they are all taken,
        // nothing more is read: a flooding client is slowed down by TCP, nobody else.
        let waiting = framer.has_lines();
        let next_token = tokio::time::Instant::from_std(bucket.ready_at(clock()));
        // Before registration, nothing is read while wrong passwords from this address or
        // its prefix are being waited out (policy/irc.rs): no password is checked sooner.
        let registered = client.is_registered();
        let gate = if registered { None } else { guard.gate() };
        let held = gate.is_some();
        if client.knows_contacts() {
            awaiting_book = false;
        }
        if !awaiting_book && awaiting_replies == 0 {
            hold = None;
        }
        let holding = hold.is_some();
        tokio::select! {
            _ = shutdown.cancelled() => {
                out.extend_from_slice(b"ERROR :The DiSIMS gateway is shutting down\r\n");
                close = true;
            }
            _ = &mut registration_deadline, if !registered => {
                close = perform(client.registration_timeout(), &mut out, &mut requests);
            }
            _ = guard.evicted().cancelled(), if !registered => {
                out.extend_from_slice(b"ERROR :Closing link: too many unregistered connections\r\n");
                close = true;
            }
            _ = tokio::time::sleep_until(gate.unwrap_or(next_token)), if held => {
                close = false;
            }
            _ = tokio::time::sleep_until(hold.unwrap_or(next_token)), if holding => {
                // No contact book or reply in time: the client's lines go on without it.
                (hold, awaiting_book, awaiting_replies) = (None, false, 0);
                close = false;
            }
            _ = tokio::time::sleep_until(next_token), if waiting && !held && !holding => {
                close = take_lines(&mut framer, &mut bucket, &mut client, &mut out, &mut requests);
            }
            _ = liveness.tick(), if client.is_registered() => {
                close = false;
                if heard.elapsed() >= limits.ping_interval {
                    if pinged {
                        out.extend_from_slice(b"ERROR :Closing link: ping timeout\r\n");
                        close = true;
                    } else {
                        out.extend_from_slice(b"PING :disims\r\n");
                        (heard, pinged) = (tokio::time::Instant::now(), true);
                    }
                }
            }
            read = reader.read(&mut buf), if !waiting && !held => {
                let n = match read {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) => break Err(e),
                };
                (heard, pinged) = (tokio::time::Instant::now(), false);
                framer.push(&buf[..n]);
                close = !holding
                    && take_lines(&mut framer, &mut bucket, &mut client, &mut out, &mut requests);
            }
            event = recv_event(&mut attached) => match event {
                Some(event) => {
                    close = render(&mut client, &event, &mut out, &mut requests, &mut rendered, &mut awaiting_replies);
                    // Render whatever else is waiting too, so that a burst goes out in few writes.
                    if let Some((_, events)) = attached.as_mut() && !close {
                        close = render_queued(&mut client, events, &mut out, &mut requests, &mut rendered, &mut awaiting_replies);
                    }
                }
                None => {
                    out.extend_from_slice(b"ERROR :Too slow: the gateway dropped this connection\r\n");
                    close = true;
                }
            },
        }
        if !registered && client.is_registered() {
            guard.registered();
        }
        if client.password_refused() && close {
            // The refusal is held as long as the address now waits: a guesser learns the
            // answer no sooner than it may ask again.
            // Evicted meanwhile, it goes at once: a held connection keeps its slot, and no
            // more sockets wait than there are slots.
            let hold = guard.wrong_password();
            tokio::select! {
                _ = tokio::time::sleep(hold) => {}
                _ = guard.evicted().cancelled() => {}
                _ = shutdown.cancelled() => {}
            }
        }
        // Attach as soon as the client is registered, before handing the hub the requests
        // of the same read (the one its registration made among them), so that they come
        // from this front end's id.
        if attached.is_none() && client.is_registered() && !close {
            match router.attach().await {
                Some(mut pair) => {
                    client.set_frontend_id(pair.0);
                    // The hub greets a new front end with its contact book as it attaches
                    // it: render what is queued now, so that the `&disims` JOIN burst goes
                    // out with the welcome, before any reply to the client's next lines.
                    if !close {
                        close = render_queued(
                            &mut client,
                            &mut pair.1,
                            &mut out,
                            &mut requests,
                            &mut rendered,
                            &mut awaiting_replies,
                        );
                    }
                    if !client.knows_contacts() {
                        awaiting_book = true;
                        hold = Some(tokio::time::Instant::now() + limits.first_book_wait);
                    }
                    attached = Some(pair);
                }
                None => break Ok(()), // the hub is gone: shutting down
            }
        }
        // Rendering the hub's answers can make requests in turn (MONITOR watches a contact
        // that got a monitored petname): they go in a second round.
        for _round in 0..2 {
            if requests.is_empty() {
                break;
            }
            let batch = std::mem::take(&mut requests);
            let asked = batch
                .iter()
                .filter(|r| matches!(r, FrontendRequest::Control { .. }))
                .count();
            if asked > 0 {
                awaiting_replies += asked;
                hold = Some(tokio::time::Instant::now() + limits.control_reply_wait);
            }
            let from = frontend_id(&attached);
            router.dispatch(RouterInput::Requests {
                from,
                requests: batch,
            });
            // The hub left the sent messages in the store's open write: let the sessions
            // it woke send them first, then commit (which echoes them).
            tokio::task::yield_now().await;
            router.commit();
            // The hub answers most requests as it handles them (306 for AWAY, the
            // service's reply, WHOIS, echoes): render what it queued now, so that those
            // answers come before the replies to the client's next lines.
            if let Some((_, events)) = attached.as_mut()
                && !close
            {
                close = render_queued(
                    &mut client,
                    events,
                    &mut out,
                    &mut requests,
                    &mut rendered,
                    &mut awaiting_replies,
                );
            }
        }
        if !out.is_empty() || !rendered.is_empty() {
            // A client that stops reading (a frozen SSH tunnel) must not pin this task.
            let (written, error) = write_within(&mut writer, &out, limits.write_timeout).await;
            // What went to the socket counts as shown, even when the rest could not (the
            // hub batches the marks); the rest stays unshown and is played back.
            let shown: Vec<StoredRow> = rendered
                .drain(..)
                .filter(|(_, end)| *end <= written)
                .map(|(row, _)| row)
                .collect();
            if !shown.is_empty() {
                let request = FrontendRequest::Shown(shown);
                let from = frontend_id(&attached);
                router.dispatch(RouterInput::Request { from, request });
            }
            out.clear();
            if let Some(e) = error {
                break Err(e);
            }
        }
        if close {
            break Ok(());
        }
    };
    if let Some((id, _)) = attached {
        router.dispatch(RouterInput::Detach(id));
    }
    let _ = writer.shutdown().await;
    result
}

/// The clock the token bucket runs on (tokio's, so that paused-time tests control it).
fn clock() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Hands the client the lines waiting in the framer while the bucket has tokens; returns
/// true when the connection must close.
fn take_lines(
    framer: &mut LineFramer,
    bucket: &mut TokenBucket,
    client: &mut Client,
    out: &mut Vec<u8>,
    requests: &mut Vec<FrontendRequest>,
) -> bool {
    // Replies are bounded per pass too: past WRITE_BATCH bytes, the rest waits for the write.
    while framer.has_lines() && out.len() < WRITE_BATCH && bucket.try_take(clock()) {
        let Some(line) = framer.next_line() else {
            break;
        };
        let registered = client.is_registered();
        let before = requests.len();
        if perform(client.handle_line(line, now_ms()), out, requests) {
            return true;
        }
        if !registered && client.is_registered() {
            // The lines after registration wait in the framer until the connection is
            // attached to the hub, so that the hub knows whom to answer.
            break;
        }
        if requests[before..].iter().any(answered_by_hub) {
            // The hub's answer must come before the replies to the next lines: they wait
            // until this line's requests are handed over (messages to peers do not, so a
            // pasted burst still goes to the outbox in one transaction).
            break;
        }
    }
    false
}

/// Whether the hub answers this request with lines for the client (the service's reply,
/// 305/306, WHOIS, MONITOR's first presence).
fn answered_by_hub(request: &FrontendRequest) -> bool {
    matches!(
        request,
        FrontendRequest::Control { .. }
            | FrontendRequest::PeerInfo { .. }
            | FrontendRequest::SetAway { .. }
            | FrontendRequest::Watch { .. }
    )
}

/// This connection's id at the hub (0 until attached; the lines after registration wait
/// for the attach, so no request carries 0).
fn frontend_id(
    attached: &Option<(
        FrontendId,
        tokio::sync::mpsc::Receiver<crate::message::FrontendEvent>,
    )>,
) -> FrontendId {
    attached.as_ref().map_or(0, |(id, _)| *id)
}

async fn recv_event(
    attached: &mut Option<(
        u64,
        tokio::sync::mpsc::Receiver<crate::message::FrontendEvent>,
    )>,
) -> Option<crate::message::FrontendEvent> {
    match attached {
        Some((_, rx)) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Renders one event from the hub into `out`, noting the stored message it carries, if
/// any, in `rendered` with where its lines end, and counting a service reply off
/// `awaiting_replies`; returns true when the connection must close.
fn render(
    client: &mut Client,
    event: &FrontendEvent,
    out: &mut Vec<u8>,
    requests: &mut Vec<FrontendRequest>,
    rendered: &mut Vec<(StoredRow, usize)>,
    awaiting_replies: &mut usize,
) -> bool {
    if let FrontendEvent::ControlReply { .. } = event {
        *awaiting_replies = awaiting_replies.saturating_sub(1);
    }
    let close = perform(client.handle_event(event), out, requests);
    if let FrontendEvent::Received {
        stored: Some(row), ..
    }
    | FrontendEvent::GroupReceived {
        stored: Some(row), ..
    } = event
    {
        rendered.push((*row, out.len()));
    }
    close
}

/// Renders the events the hub has queued for this connection, up to [`WRITE_BATCH`] bytes
/// of output, as [`render`] does one; returns true when the connection must close.
fn render_queued(
    client: &mut Client,
    events: &mut tokio::sync::mpsc::Receiver<FrontendEvent>,
    out: &mut Vec<u8>,
    requests: &mut Vec<FrontendRequest>,
    rendered: &mut Vec<(StoredRow, usize)>,
    awaiting_replies: &mut usize,
) -> bool {
    while out.len() < WRITE_BATCH {
        let Ok(event) = events.try_recv() else { break };
        if render(client, &event, out, requests, rendered, awaiting_replies) {
            return true;
        }
    }
    false
}

/// Writes `out` to the socket within `timeout`; returns how many bytes went, and what
/// stopped the rest, if anything. (Cancelling a pending `write` writes nothing, so the
/// count is exact.)
async fn write_within(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    out: &[u8],
    timeout: Duration,
) -> (usize, Option<std::io::Error>) {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut written = 0;
    while written < out.len() {
        match tokio::time::timeout_at(deadline, writer.write(&out[written..])).await {
            Ok(Ok(0)) => return (written, Some(std::io::ErrorKind::WriteZero.into())),
            Ok(Ok(n)) => written += n,
            Ok(Err(e)) => return (written, Some(e)),
            Err(_) => return (written, Some(std::io::ErrorKind::TimedOut.into())),
        }
    }
    (written, None)
}

/// Performs a state machine's actions (lines are written to `out`, requests kept in
/// `requests` for the hub); returns true when the connection must close.
fn perform(actions: Vec<Action>, out: &mut Vec<u8>, requests: &mut Vec<FrontendRequest>) -> bool {
    for action in actions {
        match action {
            Action::Send(line) => {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Action::Request(request) => requests.push(request),
            Action::Close => return true,
        }
    }
    false
}
