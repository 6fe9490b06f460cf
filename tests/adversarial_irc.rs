//! Hostile or broken IRC clients against a running gateway: right numerics or a clean
//! disconnect, never a panic, and other clients unaffected.

mod common;

use std::time::Duration;

use common::{IrcClient, memory_gateway};
use disims::daemon::Options;
use disims::directory::memory::SharedRecords;
use disims::irc::conn::IrcLimits;

async fn gateway(dir: &std::path::Path) -> disims::daemon::Gateway {
    let irc = IrcLimits {
        registration_timeout: Duration::from_millis(500),
        ..IrcLimits::default()
    };
    memory_gateway(
        dir,
        &SharedRecords::default(),
        Options {
            irc,
            ..Options::default()
        },
    )
    .await
}

/// A gateway on an in-memory directory with `[irc] lines_per_second` and `line_burst` set.
async fn gateway_with_flood_limit(
    dir: &std::path::Path,
    lines_per_second: u32,
    line_burst: u32,
) -> disims::daemon::Gateway {
    let mut config = disims::demo::private_config(
        dir,
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:9".parse().unwrap(),
    );
    config.irc.lines_per_second = lines_per_second;
    config.irc.line_burst = line_burst;
    let (key, _) = disims::identity::load_or_create(dir).unwrap();
    let directory = disims::directory::memory::MemoryDirectory::new(&key, SharedRecords::default());
    let options = Options {
        directory: Some(std::sync::Arc::new(directory)),
        ..Options::default()
    };
    disims::daemon::Gateway::start(config, options)
        .await
        .unwrap()
}

/// The bystander still gets prompt answers.
async fn still_served(client: &mut IrcClient, token: &str) {
    client.send(&format!("PING :{token}")).await;
    client
        .expect(|l| l.contains("PONG") && l.contains(token))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_lines_get_417_and_the_connection_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let g = gateway(dir.path()).await;
    let mut bystander = IrcClient::register(g.irc_addr, "b").await;
    let mut c = IrcClient::register(g.irc_addr, "c").await;
    c.send(&format!("PRIVMSG {} :{}", g.peer_id, "x".repeat(600)))
        .await;
    c.expect(|l| l.contains(" 417 ")).await;
    // 100 KiB without a line end is discarded as it comes, never buffered whole.
    c.send_raw(&vec![b'y'; 100 * 1024]).await;
    c.send_raw(b"\r\n").await;
    c.expect(|l| l.contains(" 417 ")).await;
    still_served(&mut c, "after-long").await;
    still_served(&mut bystander, "bystander").await;
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_and_nul_bytes_are_handled() {
    let dir = tempfile::tempdir().unwrap();
    let g = gateway(dir.path()).await;
    let mut c = IrcClient::register(g.irc_addr, "c").await;
    c.send_raw(b"PING :\xff\xfe\xfd\r\n").await;
    let pong = c.expect(|l| l.contains("PONG")).await;
    assert!(
        pong.contains('\u{fffd}'),
        "invalid UTF-8 is replaced: {pong}"
    );
    c.send_raw(b"PING :a\0b\r\n").await;
    c.send_raw(b"\0\0\0\r\n").await;
    c.send_raw(b"PRIV\0MSG x :y\r\n").await;
    still_served(&mut c, "after-nul").await;
    // A note to self with odd bytes comes back sanitised: no NUL reaches the client.
    let mut line = format!("PRIVMSG {} :he\0llo ", g.peer_id).into_bytes();
    line.extend_from_slice(b"\xc3\x28\r\n");
    c.send_raw(&line).await;
    let line = c.expect(common::chat).await;
    assert!(!line.contains('\0'), "{line:?}");
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_lines_is_answered_and_slows_nobody() {
    let dir = tempfile::tempdir().unwrap();
    // Flood control off (`lines_per_second = 0`), as ngircd's `MaxPenaltyTime = 0`: this
    // test is about the gateway keeping up, not about throttling.
    let g = gateway_with_flood_limit(dir.path(), 0, 1).await;
    let mut bystander = IrcClient::register(g.irc_addr, "b").await;
    let mut c = IrcClient::register(g.irc_addr, "c").await;
    let burst: String = (0..10_000).map(|i| format!("PING :p{i}\r\n")).collect();
    c.send_raw(burst.as_bytes()).await;
    still_served(&mut bystander, "during-burst").await;
    for i in 0..10_000 {
        let line = c.expect(|l| l.contains("PONG")).await;
        assert!(line.ends_with(&format!("p{i}")), "{line}");
    }
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_registers_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let g = gateway(dir.path()).await;
    let mut bystander = IrcClient::register(g.irc_addr, "b").await;
    let mut idle = IrcClient::connect(g.irc_addr).await;
    idle.send("NICK halfway").await;
    let error = idle.expect(|l| l.starts_with("ERROR")).await;
    assert!(error.to_lowercase().contains("regist"), "{error}");
    assert!(idle.expect_closed().await);
    still_served(&mut bystander, "bystander").await;
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_before_registration_and_unknown_commands_get_numerics() {
    let dir = tempfile::tempdir().unwrap();
    let g = gateway(dir.path()).await;
    let mut c = IrcClient::connect(g.irc_addr).await;
    c.send("PRIVMSG someone :early").await;
    c.expect(|l| l.contains(" 451 ")).await;
    c.send("NICK c").await;
    c.send("USER c 0 *").await; // one parameter short
    c.expect(|l| l.contains(" 461 ")).await;
    c.send("USER c 0 * :C").await;
    c.expect(|l| l.contains(" 376 ") || l.contains(" 422 "))
        .await;
    c.send("FROBNICATE now").await;
    c.expect(|l| l.contains(" 421 ")).await;
    c.send("PRIVMSG").await;
    c.expect(|l| l.contains(" 411 ") || l.contains(" 461 "))
        .await;
    c.send("QUIT :bye").await;
    assert!(c.expect_closed().await);
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_password_gets_464_and_a_disconnect() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = disims::demo::private_config(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:9".parse().unwrap(),
    );
    config.irc.password = Some("correct-horse".into());
    let (key, _) = disims::identity::load_or_create(dir.path()).unwrap();
    let directory = disims::directory::memory::MemoryDirectory::new(&key, SharedRecords::default());
    let options = Options {
        directory: Some(std::sync::Arc::new(directory)),
        ..Options::default()
    };
    let g = disims::daemon::Gateway::start(config, options)
        .await
        .unwrap();
    for pass in [Some("wrong"), None] {
        let mut c = IrcClient::connect(g.irc_addr).await;
        if let Some(pass) = pass {
            c.send(&format!("PASS {pass}")).await;
        }
        c.send("NICK c").await;
        c.send("USER c 0 * :C").await;
        c.expect(|l| l.contains(" 464 ")).await;
        assert!(c.expect_closed().await);
    }
    let mut c = IrcClient::connect(g.irc_addr).await;
    c.send("PASS correct-horse").await;
    c.send("NICK c").await;
    c.send("USER c 0 * :C").await;
    c.expect(|l| l.contains(" 001 ")).await;
    g.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_is_throttled_while_another_is_served_promptly() {
    let dir = tempfile::tempdir().unwrap();
    // One line a second after a burst of 10: 300 lines would take almost five minutes.
    let g = gateway_with_flood_limit(dir.path(), 1, 10).await;
    let mut bystander = IrcClient::register(g.irc_addr, "b").await;
    let mut flooder = IrcClient::register(g.irc_addr, "f").await;
    let flood: String = (0..300).map(|i| format!("PING :f{i}\r\n")).collect();
    flooder.send_raw(flood.as_bytes()).await;
    // What is left of the burst allowance is answered at once, in order.
    for i in 0..5 {
        let line = flooder.expect(|l| l.contains("PONG")).await;
        assert!(line.ends_with(&format!(" :f{i}")), "{line}");
    }
    // The other client is served while the flooder waits for tokens.
    for round in 0..3 {
        still_served(&mut bystander, &format!("bystander-{round}")).await;
    }
    // The flooder is slowed, not cut off: what arrives within a few seconds is far from all
    // 300 (at one line a second, at most the burst plus the seconds that passed).
    let mut answered = 5;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(line)) = tokio::time::timeout_at(deadline, flooder.next_line()).await {
        if line.contains("PONG") {
            answered += 1;
        }
    }
    // Registration took 4 of the 10 tokens: 6 lines at once, then one a second.
    assert!(
        answered > 6,
        "{answered} of 300 PINGs answered: the flooder is not served at all after its burst"
    );
    assert!(
        answered < 100,
        "{answered} of 300 PINGs answered within seconds: the flood was not throttled"
    );
    still_served(&mut bystander, "after").await;
    g.shutdown().await;
}

/// A client may send its commands in the same write as its registration (bots and
/// scripts do): the ones the hub answers get their answers, and AWAY twice is answered twice.
#[tokio::test]
async fn commands_pipelined_with_registration_are_answered() {
    let dir = tempfile::tempdir().unwrap();
    let g = gateway(dir.path()).await;
    let mut c = IrcClient::connect(g.irc_addr).await;
    c.send_raw(b"NICK a\r\nUSER a 0 * :a\r\nPRIVMSG disims :id\r\nAWAY :out\r\nAWAY :out\r\n")
        .await;
    c.expect(|l| l.contains(" :Your nick: ")).await;
    c.expect(|l| l.contains(" 306 ")).await;
    c.expect(|l| l.contains(" 306 ")).await;
    g.shutdown().await;
}

/// A registered client that falls silent is pinged, and closed when it does not answer; one
/// that answers stays.
#[tokio::test]
async fn a_silent_client_is_pinged_then_closed_and_one_that_answers_stays() {
    let dir = tempfile::tempdir().unwrap();
    let irc = IrcLimits {
        ping_interval: Duration::from_millis(200),
        ..IrcLimits::default()
    };
    let options = Options {
        irc,
        ..Options::default()
    };
    let g = memory_gateway(dir.path(), &SharedRecords::default(), options).await;
    let mut silent = IrcClient::register(g.irc_addr, "silent").await;
    let mut alive = IrcClient::register(g.irc_addr, "alive").await;
    silent.expect(|l| l.starts_with("PING ")).await;
    // Both were pinged at about the same time: answer the live one's first PING before
    // waiting for the silent one to be closed (its own deadline is as near).
    let ping = alive.expect(|l| l.starts_with("PING ")).await;
    alive.send(&ping.replacen("PING", "PONG", 1)).await;
    silent
        .expect(|l| l.starts_with("ERROR ") && l.contains("ping timeout"))
        .await;
    assert!(silent.expect_closed().await);
    for _ in 0..2 {
        let ping = alive.expect(|l| l.starts_with("PING ")).await;
        alive.send(&ping.replacen("PING", "PONG", 1)).await;
    }
    alive.send("PING :still-here").await;
    alive
        .expect(|l| l.contains(" PONG ") && l.ends_with("still-here"))
        .await;
    g.shutdown().await;
}
