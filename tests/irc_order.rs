//! The order of replies on a real gateway: the `&disims` JOIN burst comes with registration,
//! and what the hub answers (306 for AWAY, the service's replies, `status` too) comes before
//! the replies to the lines the client sent after it, even when they all come in one write.

mod common;

use common::{IrcClient, memory_gateway};
use disims::daemon::Options;
use disims::directory::memory::SharedRecords;

/// Reads up to the PONG for `token`; returns the lines before it.
async fn until_pong(client: &mut IrcClient, token: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        let line = client.next_line().await.expect("connection open");
        if line.contains(" PONG ") && line.ends_with(token) {
            return seen;
        }
        seen.push(line);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_answers_come_before_the_replies_to_later_lines() {
    let dir = tempfile::tempdir().unwrap();
    let g = memory_gateway(dir.path(), &SharedRecords::default(), Options::default()).await;
    let mut c = IrcClient::connect(g.irc_addr).await;
    // Everything in one write, as a script (or a paste) sends it.
    let script = [
        "NICK a",
        "USER a 0 * :a",
        "PING :registered",
        "AWAY :gone",
        "PING :away",
        "PRIVMSG disims :help",
        "PING :help",
        "AWAY",
        "PING :back",
        // `status` asks the DHT before it answers (in a task of its own).
        "PRIVMSG disims :status",
        "PING :status",
    ];
    c.send(&script.join("\r\n")).await;

    let before = until_pong(&mut c, "registered").await;
    let join = before.iter().position(|l| l.contains(" JOIN &disims"));
    let names = before.iter().position(|l| l.contains(" 366 "));
    assert!(
        matches!((join, names), (Some(j), Some(n)) if j < n),
        "the JOIN burst before the first PONG: {before:#?}"
    );

    let before = until_pong(&mut c, "away").await;
    assert!(
        before.iter().any(|l| l.contains(" 306 ")),
        "306 before the next PONG: {before:#?}"
    );

    let before = until_pong(&mut c, "help").await;
    assert!(
        before
            .iter()
            .any(|l| l.starts_with(":disims!service@disims PRIVMSG ")),
        "the service's reply before the next PONG: {before:#?}"
    );

    let before = until_pong(&mut c, "back").await;
    assert!(
        before.iter().any(|l| l.contains(" 305 ")),
        "305 before the next PONG: {before:#?}"
    );

    let before = until_pong(&mut c, "status").await;
    assert!(
        before.iter().any(|l| l.contains(" :Outbox: ")),
        "the status reply before the next PONG: {before:#?}"
    );
    g.shutdown().await;
}
