//! Talking through gateways in the NAT lab, as a user's IRC client does: waiting for
//! relays, sending and collecting chats, asking `status` and WHOIS until they say what a
//! scenario waits for.

use std::time::Duration;

use super::{IrcClient, chat};

/// Finding a relay in the DHT, the dial-back and publishing take a while by design (the
/// search backs off from 5 s while no relay is announced yet).
pub const FIND_RELAY: Duration = Duration::from_secs(120);

/// What a relay gateway adds to the user defaults.
pub const SERVE_ANYONE: &str = "[relay]\nserve = \"anyone\"\n";

/// How long a chat may take to arrive (a dial through a relay, or a redial after one died).
pub const CHAT_WAIT: Duration = Duration::from_secs(90);

/// Waits until `client`'s gateway has published a record that lists a relay.
pub async fn published_relays(client: &mut IrcClient) -> String {
    client
        .expect_within(FIND_RELAY, |l| l.contains("DHT: published our relays"))
        .await
}

/// Sends `text` from `from` to `to_nick` and waits for it at `to`; returns the line seen.
pub async fn say(from: &mut IrcClient, to: &mut IrcClient, to_nick: &str, text: &str) -> String {
    from.send(&format!("PRIVMSG {to_nick} :{text}")).await;
    let line = to
        .expect_within(Duration::from_secs(60), |l| chat(l) && l.ends_with(text))
        .await;
    assert!(line.ends_with(&format!(" :{text}")), "{line}");
    line
}

/// Sends each text from `from` to `to_nick`, without waiting.
pub async fn send_all(from: &mut IrcClient, to_nick: &str, texts: &[String]) {
    for text in texts {
        from.send(&format!("PRIVMSG {to_nick} :{text}")).await;
    }
}

/// The chat texts `client` receives until `last` (included), in order.
pub async fn texts_until(client: &mut IrcClient, last: &str) -> Vec<String> {
    let mut texts = Vec::new();
    loop {
        let line = client.expect_within(CHAT_WAIT, chat).await;
        let text = line.split_once(" :").map_or("", |(_, t)| t).to_string();
        let done = text == last;
        texts.push(text);
        if done {
            return texts;
        }
    }
}

/// Asks the gateway for `status` and returns its lines, up to the last one.
pub async fn status(client: &mut IrcClient) -> Vec<String> {
    client.send("PRIVMSG &disims :status").await;
    let mut lines = Vec::new();
    loop {
        let line = client.expect(|l| l.contains("&disims :")).await;
        let done = line.contains("Unknown senders:");
        lines.push(line);
        if done {
            return lines;
        }
    }
}

/// Asks for `status` until one of its lines matches, within `within` (the keeper works in
/// the background).
pub async fn status_until(
    client: &mut IrcClient,
    within: Duration,
    pred: impl Fn(&str) -> bool,
) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        let lines = status(client).await;
        if let Some(line) = lines.iter().find(|l| pred(l)) {
            return line.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no matching status line; last: {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The session part of WHOIS `peer` (the 320 line that says "session up"): how the
/// session runs ("direct", or "relayed via ...").
pub async fn session_path(client: &mut IrcClient, peer: &str) -> String {
    client.send(&format!("WHOIS {peer}")).await;
    client
        .expect(|l| l.contains(" 320 ") && l.contains("session up"))
        .await
}
