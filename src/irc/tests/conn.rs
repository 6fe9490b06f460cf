//! The conn task against a hub that is a channel: what reaches the hub, from whom.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::irc::conn::{IrcLimits, accept_loop};
use crate::router::{self, RouterInput};

/// The requests a registration makes (here: whether the client shows echoes) come from
/// the front end's own id, not from the id 0 of a connection not yet attached.
#[tokio::test]
async fn the_requests_of_the_registering_read_come_from_the_attached_front_end() {
    let (addr, mut inputs, shutdown) = listen(IrcLimits::default()).await;
    let (mut lines, _events) =
        connect_and_attach(addr, &mut inputs, b"NICK a\r\nUSER a 0 * :a\r\n", false).await;
    match next_input(&mut inputs).await {
        RouterInput::Requests { from, requests } => {
            assert_eq!(from, 7);
            assert_eq!(requests, [FrontendRequest::Echoes(false)]);
        }
        other => panic!("{other:?}"),
    }
    // The welcome went out all the same.
    let first = next_line(&mut lines).await;
    assert!(first.contains(" 001 "), "{first}");
    shutdown.cancel();
}

/// Starts a listener on a hub that is a channel; returns the address and the hub's inputs.
async fn listen(
    limits: IrcLimits,
) -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<RouterInput>,
    CancellationToken,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (hub, inputs) = router::channel();
    let shutdown = CancellationToken::new();
    tokio::spawn(accept_loop(
        listener,
        settings(None),
        hub,
        shutdown.clone(),
        TaskTracker::new(),
        limits,
    ));
    (addr, inputs, shutdown)
}

async fn next_input(inputs: &mut tokio::sync::mpsc::UnboundedReceiver<RouterInput>) -> RouterInput {
    tokio::time::timeout(Duration::from_secs(10), inputs.recv())
        .await
        .expect("in time")
        .expect("an input")
}

/// Connects, writes `lines` in one write (a registration and what follows it, as a scripted
/// client sends them) and answers the hub's attach with front end 7, queueing a first
/// contact book with it when `book` is set (as the real hub does); returns the client's
/// reader and the front end's event queue.
async fn connect_and_attach(
    addr: std::net::SocketAddr,
    inputs: &mut tokio::sync::mpsc::UnboundedReceiver<RouterInput>,
    lines: &[u8],
    book: bool,
) -> (
    tokio::io::Lines<BufReader<TcpStream>>,
    tokio::sync::mpsc::Sender<FrontendEvent>,
) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(lines).await.unwrap();
    match next_input(inputs).await {
        RouterInput::Attach { events, reply } => {
            if book {
                events
                    .try_send(FrontendEvent::Contacts(Arc::default()))
                    .unwrap();
            }
            reply.send(7).unwrap();
            (BufReader::new(stream).lines(), events)
        }
        other => panic!("expected the attach first, got {other:?}"),
    }
}

async fn next_line(lines: &mut tokio::io::Lines<BufReader<TcpStream>>) -> String {
    tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("in time")
        .unwrap()
        .expect("a line")
}

/// Reads up to the reply to `PING :after-registration` and returns the lines before it.
async fn lines_before_pong(lines: &mut tokio::io::Lines<BufReader<TcpStream>>) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = next_line(lines).await;
        if line.contains("PONG") {
            return seen;
        }
        seen.push(line);
    }
}

fn has_join_burst(lines: &[String]) -> bool {
    let join = lines.iter().position(|l| l.contains(" JOIN &disims"));
    let names_end = lines.iter().position(|l| l.contains(" 366 "));
    matches!((join, names_end), (Some(j), Some(n)) if j < n)
}

/// As a real hub does, the contact book is queued by the time the attach is answered: the
/// JOIN burst goes out with the welcome, before the reply to a command sent right after
/// registration (it used to race it).
#[tokio::test]
async fn the_join_burst_comes_with_registration_before_a_later_reply() {
    let (addr, mut inputs, shutdown) = listen(IrcLimits::default()).await;
    let (mut lines, _events) = connect_and_attach(
        addr,
        &mut inputs,
        b"NICK a\r\nUSER a 0 * :a\r\nPING :after-registration\r\n",
        true,
    )
    .await;
    let seen = lines_before_pong(&mut lines).await;
    assert!(has_join_burst(&seen), "no burst before the PONG: {seen:?}");
    shutdown.cancel();
}

/// When the first contact book comes after the attach, the client's next lines wait for it.
#[tokio::test]
async fn a_command_after_registration_waits_for_a_late_first_contact_book() {
    let limits = IrcLimits {
        // Longer than any test machine's stall: the book, not the wait's end, releases it.
        first_book_wait: Duration::from_secs(600),
        ..IrcLimits::default()
    };
    let (addr, mut inputs, shutdown) = listen(limits).await;
    let (mut lines, events) = connect_and_attach(
        addr,
        &mut inputs,
        b"NICK a\r\nUSER a 0 * :a\r\nPING :after-registration\r\n",
        false,
    )
    .await;
    // The welcome is out before the book is sent; the PING's reply is not.
    loop {
        let line = next_line(&mut lines).await;
        assert!(!line.contains("PONG"), "answered before the book: {line}");
        if line.contains(" 376 ") {
            break;
        }
    }
    // A late book: without the wait, the PING would be answered meanwhile (this pause only
    // makes that visible; with the wait, the outcome does not depend on it).
    tokio::time::sleep(Duration::from_millis(100)).await;
    events
        .send(FrontendEvent::Contacts(Arc::default()))
        .await
        .unwrap();
    let seen = lines_before_pong(&mut lines).await;
    assert!(has_join_burst(&seen), "no burst before the PONG: {seen:?}");
    shutdown.cancel();
}

/// Without any contact book, the wait ends and the client is answered all the same.
#[tokio::test]
async fn without_a_contact_book_the_client_is_answered_once_the_wait_ends() {
    let limits = IrcLimits {
        first_book_wait: Duration::from_millis(50),
        ..IrcLimits::default()
    };
    let (addr, mut inputs, shutdown) = listen(limits).await;
    let (mut lines, _events) = connect_and_attach(
        addr,
        &mut inputs,
        b"NICK a\r\nUSER a 0 * :a\r\nPING :after-registration\r\n",
        false,
    )
    .await;
    let seen = lines_before_pong(&mut lines).await;
    assert!(!has_join_burst(&seen), "{seen:?}");
    shutdown.cancel();
}

/// A command to the service answered late (`status` asks the DHT first): the client's next
/// line waits for the reply, so that replies keep the order of the commands.
#[tokio::test]
async fn a_line_after_a_service_command_waits_for_its_late_reply() {
    let limits = IrcLimits {
        // Longer than any test machine's stall: the reply, not the wait's end, releases it.
        control_reply_wait: Duration::from_secs(600),
        ..IrcLimits::default()
    };
    let (addr, mut inputs, shutdown) = listen(limits).await;
    let (mut lines, events) = connect_and_attach(
        addr,
        &mut inputs,
        b"NICK a\r\nUSER a 0 * :a\r\nPRIVMSG disims :status\r\nPING :after-registration\r\n",
        true,
    )
    .await;
    // The registration's request, then the command.
    loop {
        match next_input(&mut inputs).await {
            RouterInput::Requests { requests, .. }
                if requests
                    .iter()
                    .any(|r| matches!(r, FrontendRequest::Control { .. })) =>
            {
                break;
            }
            RouterInput::Requests { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    // A late reply: without the wait, the PING would be answered meanwhile (this pause only
    // makes that visible; with the wait, the outcome does not depend on it).
    tokio::time::sleep(Duration::from_millis(100)).await;
    events
        .send(FrontendEvent::ControlReply {
            lines: vec!["Outbox: 0 message(s) waiting".into()],
            target: crate::message::ControlTarget::Query,
        })
        .await
        .unwrap();
    let seen = lines_before_pong(&mut lines).await;
    assert!(
        seen.iter()
            .any(|l| l.ends_with(":Outbox: 0 message(s) waiting")),
        "the reply before the PONG: {seen:?}"
    );
    shutdown.cancel();
}

/// A group message with a stored row is reported shown once written, as a private one is
/// (otherwise it would be played back at every attach).
#[tokio::test]
async fn a_written_group_message_is_reported_shown() {
    let (addr, mut inputs, shutdown) = listen(IrcLimits::default()).await;
    let (mut lines, events) =
        connect_and_attach(addr, &mut inputs, b"NICK a\r\nUSER a 0 * :a\r\n", true).await;
    events
        .send(FrontendEvent::GroupReceived {
            channel: "#rust".into(),
            from: peer(2),
            message: ChatMessage {
                id: MessageId([3; 16]),
                kind: MessageKind::Text,
                text: "hello".into(),
                sent_at_ms: 0,
            },
            played_back: false,
            stored: Some(42),
        })
        .await
        .unwrap();
    loop {
        if next_line(&mut lines)
            .await
            .ends_with("PRIVMSG #rust :hello")
        {
            break;
        }
    }
    loop {
        match next_input(&mut inputs).await {
            RouterInput::Request {
                request: FrontendRequest::Shown(rows),
                ..
            } if rows == [42] => break,
            RouterInput::Requests { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    shutdown.cancel();
}
