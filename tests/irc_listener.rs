//! The IRC listener against strangers, on real sockets against a running gateway (issue 11,
//! item 7): wrong-password guesses from one address are slowed down, idle connections from
//! other addresses do not keep the user's own client out, and unregistered connections are
//! closed soon. Other sources are other loopback addresses (127.0.0.2, 127.0.k.x), bound
//! before connecting.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use common::{IrcClient, WAIT};
use disims::daemon::{Gateway, Options};
use disims::directory::memory::{MemoryDirectory, SharedRecords};
use disims::irc::conn::IrcLimits;
use disims::policy::irc::{GuessRules, MAX_UNREGISTERED, MAX_UNREGISTERED_PER_ADDRESS};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

const PASSWORD: &str = "Qv8Lk2xWm9-listener";

async fn gateway(dir: &std::path::Path, irc: IrcLimits) -> Gateway {
    common::init_tracing();
    let mut config = disims::demo::private_config(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:9".parse().unwrap(),
    );
    config.irc.password = Some(PASSWORD.into());
    let (key, _) = disims::identity::load_or_create(dir).unwrap();
    let directory = MemoryDirectory::new(&key, SharedRecords::default());
    let options = Options {
        directory: Some(std::sync::Arc::new(directory)),
        irc,
        ..Options::default()
    };
    Gateway::start(config, options).await.unwrap()
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    let from: IpAddr = from.parse().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.expect("connect")
}

/// The user's own client from 127.0.0.1: registers with the right password and is served.
async fn user_registers_and_talks(irc: SocketAddr) {
    let stream = connect_from("127.0.0.1", irc).await;
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(
        format!("PASS {PASSWORD}\r\nNICK me\r\nUSER me 0 * :Me\r\nPING :still-here\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut welcomed = false;
    loop {
        let line = tokio::time::timeout(WAIT, lines.next_line())
            .await
            .expect("the user's client is answered in time")
            .expect("read")
            .expect("the user's client is not closed");
        welcomed |= line.contains(" 001 ");
        if line.contains("PONG") && line.contains("still-here") {
            break;
        }
    }
    assert!(welcomed, "the user's client registered");
}

/// One wrong guess from `from`: true when the gateway answered 464, false when it refused
/// the connection or closed it without an answer.
async fn guess(from: &str, irc: SocketAddr) -> bool {
    let stream = connect_from(from, irc).await;
    let (r, mut w) = stream.into_split();
    let _ = w
        .write_all(b"PASS wrong-guess\r\nNICK g\r\nUSER g 0 * :G\r\n")
        .await;
    let mut lines = BufReader::new(r).lines();
    while let Ok(Ok(Some(line))) = tokio::time::timeout(WAIT, lines.next_line()).await {
        if line.contains(" 464 ") {
            return true;
        }
    }
    false
}

/// How many wrong guesses at most can be answered in `window` from one address: the
/// address has at most `per_address` connections open, each check waits for the gate, and
/// after each round of failures the gate stays shut for the doubled delay. So round r >= 1
/// starts no sooner than the sum of the first r delays; every round answers at most
/// `per_address` guesses.
fn guess_bound(rules: &GuessRules, per_address: usize, window: Duration) -> usize {
    let mut rounds = 1;
    let mut start = Duration::ZERO;
    let mut delay = rules.base_delay;
    loop {
        start += delay;
        if start > window {
            break;
        }
        rounds += 1;
        delay = (delay * 2).min(rules.max_delay);
    }
    rounds * per_address
}

/// Guessers from 127.0.0.2, as fast as the gateway answers, for `window`; returns the
/// guesses answered.
async fn attack(irc: SocketAddr, workers: usize, window: Duration) -> usize {
    let end = tokio::time::Instant::now() + window;
    let mut tasks = Vec::new();
    for _ in 0..workers {
        tasks.push(tokio::spawn(async move {
            let mut answered = 0;
            while tokio::time::Instant::now() < end {
                if tokio::time::timeout_at(end, guess("127.0.0.2", irc))
                    .await
                    .unwrap_or(false)
                {
                    answered += 1;
                }
            }
            answered
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_guesses_from_one_address_are_slowed_down() {
    let rules = GuessRules {
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(800),
        prefix_max_delay: Duration::from_millis(800),
        ..GuessRules::default()
    };
    let window = Duration::from_secs(3);
    let dir = tempfile::tempdir().unwrap();
    let g = gateway(
        dir.path(),
        IrcLimits {
            guesses: rules,
            ..IrcLimits::default()
        },
    )
    .await;
    let answered = attack(g.irc_addr, 8, window).await;
    let bound = guess_bound(&rules, MAX_UNREGISTERED_PER_ADDRESS, window);
    println!("wrong guesses answered in {window:?} from one address: {answered} (bound {bound})");
    assert!(answered >= 1, "the guesser is answered at all");
    assert!(
        answered <= bound,
        "{answered} guesses answered, more than {bound}"
    );
    // The user, on the same /24 (127.0.0.0/24), still gets in with the right password.
    user_registers_and_talks(g.irc_addr).await;
    g.shutdown().await;

    // The same attack with the waits off, for the figure without backoff.
    let dir = tempfile::tempdir().unwrap();
    let off = GuessRules {
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        prefix_max_delay: Duration::ZERO,
        ..GuessRules::default()
    };
    let g = gateway(
        dir.path(),
        IrcLimits {
            guesses: off,
            ..IrcLimits::default()
        },
    )
    .await;
    let unslowed = attack(g.irc_addr, 8, window).await;
    println!("without the waits: {unslowed} answered in {window:?}");
    g.shutdown().await;
}

/// Opens `n` connections from `from` that never register.
async fn idle_connections(from: &str, irc: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut streams = Vec::new();
    for _ in 0..n {
        streams.push(connect_from(from, irc).await);
    }
    streams
}

/// How many of `streams` the gateway keeps open: a refused or evicted connection gets an
/// ERROR line and EOF, which every connection is given two seconds (concurrently) to show.
async fn still_open(streams: Vec<TcpStream>) -> (usize, Vec<TcpStream>) {
    let checks = streams.into_iter().map(|mut stream| async move {
        let mut buf = Vec::new();
        let closed = tokio::time::timeout(
            Duration::from_secs(2),
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut buf),
        )
        .await
        .is_ok();
        if closed {
            let text = String::from_utf8_lossy(&buf);
            assert!(text.starts_with("ERROR"), "{text}");
        }
        (!closed).then_some(stream)
    });
    let open: Vec<TcpStream> = futures_util::future::join_all(checks)
        .await
        .into_iter()
        .flatten()
        .collect();
    (open.len(), open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_from_other_addresses_do_not_keep_the_user_out() {
    let dir = tempfile::tempdir().unwrap();
    let g = gateway(dir.path(), IrcLimits::default()).await;
    // One address tries to take the whole listener (64 connections, its old limit).
    let (kept, one) = still_open(idle_connections("127.0.0.2", g.irc_addr, 64).await).await;
    println!("idle connections kept from one address: {kept} of 64");
    assert!(kept <= MAX_UNREGISTERED_PER_ADDRESS, "{kept}");
    user_registers_and_talks(g.irc_addr).await;

    // 128 from 32 addresses in 8 /24s: the unregistered slots fill, then newcomers push
    // out the oldest idle ones of the busiest prefix.
    let mut many = Vec::new();
    for k in 1..=8 {
        for host in 2..=5 {
            many.extend(idle_connections(&format!("127.0.{k}.{host}"), g.irc_addr, 4).await);
        }
    }
    let (kept, many) = still_open(many).await;
    let (kept_one, one) = still_open(one).await;
    println!(
        "idle connections from 32 more addresses in 8 /24s: {kept} of 128 kept, and {kept_one} of the first"
    );
    assert!(kept + kept_one <= MAX_UNREGISTERED, "{kept} + {kept_one}");
    user_registers_and_talks(g.irc_addr).await;
    drop((one, many));
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_idle_connection_is_closed_by_default() {
    let dir = tempfile::tempdir().unwrap();
    // The default limits: the test's WAIT (20 s) is less than the old 60 s timeout.
    let g = gateway(dir.path(), IrcLimits::default()).await;
    let mut idle = IrcClient::connect(g.irc_addr).await;
    let error = idle.expect(|l| l.starts_with("ERROR")).await;
    assert!(error.contains("time"), "{error}");
    assert!(idle.expect_closed().await);
    g.shutdown().await;
}
