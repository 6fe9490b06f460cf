//! The IRC listener and one task per IRC connection: the only code here that touches
//! sockets. It feeds bytes to the framer, lines to the [`Client`] state machine, and
//! performs the actions the state machine returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Action, Client, ClientSettings, LineFramer};
use crate::message::FrontendId;
use crate::router::{RouterHandle, RouterInput, now_ms};

/// A client must finish registration within this time.
pub const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);
/// Events rendered into one write, at most (bytes).
const WRITE_BATCH: usize = 64 * 1024;
/// A write to a client that takes longer than this ends the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many IRC connections at once.
pub const MAX_CLIENTS: usize = 64;

/// Limits of the IRC listener; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct IrcLimits {
    pub registration_timeout: Duration,
    pub max_clients: usize,
}

impl Default for IrcLimits {
    fn default() -> Self {
        Self {
            registration_timeout: REGISTRATION_TIMEOUT,
            max_clients: MAX_CLIENTS,
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
    let clients = Arc::new(AtomicUsize::new(0));
    loop {
        let (mut stream, from) = tokio::select! {
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
        if clients.fetch_add(1, Ordering::SeqCst) >= limits.max_clients {
            clients.fetch_sub(1, Ordering::SeqCst);
            let _ = stream.write_all(b"ERROR :Too many connections\r\n").await;
            continue;
        }
        tracing::info!(%from, "IRC client connected");
        let (settings, router, shutdown, clients) = (
            settings.clone(),
            router.clone(),
            shutdown.clone(),
            clients.clone(),
        );
        tracker.spawn(async move {
            if let Err(e) = serve(stream, settings, router, shutdown, limits).await {
                tracing::debug!(%from, error = %e, "IRC connection ended with an error");
            }
            tracing::info!(%from, "IRC client disconnected");
            clients.fetch_sub(1, Ordering::SeqCst);
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
) -> std::io::Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let mut client = Client::new(settings);
    let mut framer = LineFramer::new();
    let mut buf = vec![0u8; 4096];
    let mut out = Vec::<u8>::new();
    // Attached to the hub only once registered, so that the backlog kept while no client
    // was attached goes to a client that can show it.
    let mut attached: Option<(
        u64,
        tokio::sync::mpsc::Receiver<crate::message::FrontendEvent>,
    )> = None;
    let registration_deadline = tokio::time::sleep(limits.registration_timeout);
    tokio::pin!(registration_deadline);

    let result = loop {
        let mut close = false;
        tokio::select! {
            _ = shutdown.cancelled() => {
                out.extend_from_slice(b"ERROR :The DiSIMS gateway is shutting down\r\n");
                close = true;
            }
            _ = &mut registration_deadline, if !client.is_registered() => {
                close = perform(client.registration_timeout(), &mut out, &router, frontend_id(&attached));
            }
            read = reader.read(&mut buf) => {
                let n = match read {
                    Ok(0) => break Ok(()),
                    Ok(n) => n,
                    Err(e) => break Err(e),
                };
                framer.push(&buf[..n]);
                while let Some(line) = framer.next_line() {
                    if perform(client.handle_line(line, now_ms()), &mut out, &router, frontend_id(&attached)) {
                        close = true;
                        break;
                    }
                }
            }
            event = recv_event(&mut attached) => match event {
                Some(event) => {
                    close = perform(client.handle_event(&event), &mut out, &router, frontend_id(&attached));
                    // Render whatever else is waiting too, so that a burst goes out in few writes.
                    if let Some((id, events)) = attached.as_mut() {
                        while !close && out.len() < WRITE_BATCH {
                            let Ok(event) = events.try_recv() else { break };
                            close = perform(client.handle_event(&event), &mut out, &router, *id);
                        }
                    }
                }
                None => {
                    out.extend_from_slice(b"ERROR :Too slow: the gateway dropped this connection\r\n");
                    close = true;
                }
            },
        }
        if !out.is_empty() {
            // A client that stops reading (a frozen SSH tunnel) must not pin this task.
            match tokio::time::timeout(WRITE_TIMEOUT, writer.write_all(&out)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => break Err(e),
                Err(_) => break Err(std::io::ErrorKind::TimedOut.into()),
            }
            out.clear();
        }
        if close {
            break Ok(());
        }
        if attached.is_none() && client.is_registered() {
            match router.attach().await {
                Some(pair) => attached = Some(pair),
                None => break Ok(()), // the hub is gone: shutting down
            }
        }
    };
    if let Some((id, _)) = attached {
        router.dispatch(RouterInput::Detach(id));
    }
    let _ = writer.shutdown().await;
    result
}

/// This connection's id at the hub (0 until attached: requests come only after that).
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

/// Performs a state machine's actions; returns true when the connection must close.
fn perform(
    actions: Vec<Action>,
    out: &mut Vec<u8>,
    router: &RouterHandle,
    from: FrontendId,
) -> bool {
    for action in actions {
        match action {
            Action::Send(line) => {
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Action::Request(request) => router.dispatch(RouterInput::Request { from, request }),
            Action::Close => return true,
        }
    }
    false
}
