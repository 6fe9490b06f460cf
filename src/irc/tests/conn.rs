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
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (hub, mut inputs) = router::channel();
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    tokio::spawn(accept_loop(
        listener,
        settings(None),
        hub,
        shutdown.clone(),
        tracker.clone(),
        IrcLimits::default(),
    ));
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"NICK a\r\nUSER a 0 * :a\r\n")
        .await
        .unwrap();
    let next = async |inputs: &mut tokio::sync::mpsc::UnboundedReceiver<RouterInput>| {
        tokio::time::timeout(Duration::from_secs(10), inputs.recv())
            .await
            .expect("in time")
            .expect("an input")
    };
    let _events = match next(&mut inputs).await {
        RouterInput::Attach { events, reply } => {
            reply.send(7).unwrap();
            events
        }
        other => panic!("expected the attach first, got {other:?}"),
    };
    match next(&mut inputs).await {
        RouterInput::Requests { from, requests } => {
            assert_eq!(from, 7);
            assert_eq!(requests, [FrontendRequest::Echoes(false)]);
        }
        other => panic!("{other:?}"),
    }
    // The welcome went out all the same.
    let mut lines = BufReader::new(stream).lines();
    let first = lines.next_line().await.unwrap().unwrap();
    assert!(first.contains(" 001 "), "{first}");
    shutdown.cancel();
}
