//! One gateway, several IRC clients (a laptop and a phone through a tunnel): they are the
//! same user. Every client sees what arrives; what one sends shows in the others (IRCv3
//! echo-message for the sender, `znc.in/self-message` for the rest, nothing for a client that
//! asked for neither); messages that arrived with nobody attached are played back in an IRCv3
//! `batch` with their original `server-time`.

mod common;

use std::net::SocketAddr;

use common::{IrcClient, gateway, testnet, wait_published_then_detach};

/// Registers a client that asks for `caps` (all of which the gateway must acknowledge).
async fn register_with_caps(irc: SocketAddr, nick: &str, caps: &str) -> IrcClient {
    let mut c = IrcClient::connect(irc).await;
    c.send("CAP LS 302").await;
    c.send(&format!("NICK {nick}")).await;
    c.send("USER tester 0 * :Test User").await;
    c.expect(|l| l.contains(" CAP * LS")).await;
    if !caps.is_empty() {
        c.send(&format!("CAP REQ :{caps}")).await;
        let ack = c
            .expect(|l| l.contains(" CAP ") && (l.contains(" ACK ") || l.contains(" NAK ")))
            .await;
        assert!(ack.contains(" ACK "), "{ack}");
    }
    c.send("CAP END").await;
    c.expect(|l| l.contains(" 376 ")).await;
    c
}

/// Reads up to a PONG for `token`; returns the chat lines seen on the way.
async fn chats_until_pong(c: &mut IrcClient, token: &str) -> Vec<String> {
    c.send(&format!("PING :{token}")).await;
    let mut chats = Vec::new();
    loop {
        let line = c.next_line().await.expect("connection open");
        if line.contains(" PONG ") && line.ends_with(token) {
            return chats;
        }
        if common::chat(&line) {
            chats.push(line);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_clients_are_one_user() {
    let net = testnet(10).await;
    let dir = tempfile::tempdir().unwrap();
    let a = gateway(&dir.path().join("a"), &net).await;
    let b = gateway(&dir.path().join("b"), &net).await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());

    let mut laptop = register_with_caps(a.irc_addr, "laptop", "echo-message message-tags").await;
    let mut phone = register_with_caps(a.irc_addr, "phone", "znc.in/self-message").await;
    let mut old = register_with_caps(a.irc_addr, "old", "").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    for c in [&mut laptop, &mut phone, &mut old] {
        c.expect(|l| l.contains("DHT: published")).await;
    }

    // Incoming: every client shows it.
    bob.send(&format!("PRIVMSG {a_nick} :hello all")).await;
    for c in [&mut laptop, &mut phone, &mut old] {
        let line = c.expect(common::chat).await;
        assert!(
            line.contains(&format!(":{b_nick}!")) && line.ends_with(" :hello all"),
            "{line}"
        );
    }

    // Outgoing from the laptop: the peer gets it once; the laptop its echo (with a msgid);
    // the phone a self-message; the old client nothing.
    laptop
        .send(&format!("PRIVMSG {b_nick} :from the laptop"))
        .await;
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :from the laptop"), "{line}");
    let echo = laptop.expect(common::chat).await;
    assert!(echo.starts_with("@") && echo.contains("msgid="), "{echo}");
    assert!(
        echo.contains(&format!(" :{a_nick}!"))
            && echo.ends_with(&format!(" PRIVMSG {b_nick} :from the laptop")),
        "{echo}"
    );
    let own = phone.expect(common::chat).await;
    assert!(
        own.starts_with(&format!(":{a_nick}!"))
            && own.ends_with(&format!(" PRIVMSG {b_nick} :from the laptop")),
        "{own}"
    );
    assert_eq!(
        chats_until_pong(&mut old, "barrier").await,
        Vec::<String>::new()
    );
    assert_eq!(
        chats_until_pong(&mut bob, "barrier").await,
        Vec::<String>::new()
    );

    tokio::join!(a.shutdown(), b.shutdown());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playback_comes_in_a_batch_with_original_times() {
    let net = testnet(10).await;
    let dir = tempfile::tempdir().unwrap();
    let a = gateway(&dir.path().join("a"), &net).await;
    let b = gateway(&dir.path().join("b"), &net).await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());
    wait_published_then_detach(a.irc_addr).await;

    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    for i in 0..3 {
        bob.send(&format!("PRIVMSG {a_nick} :while you were away {i}"))
            .await;
    }
    // Delivered (acknowledged, so stored at alice's) once bob's outbox is empty.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        bob.send("PRIVMSG disims :status").await;
        let line = bob.expect(|l| l.contains(" :Outbox: ")).await;
        if line.ends_with(" :Outbox: 0 messages waiting") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{line}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let mut alice = register_with_caps(a.irc_addr, "alice", "batch server-time").await;
    let start = alice.expect(|l| l.contains(" BATCH +")).await;
    assert!(
        start.contains(&format!(" chathistory {b_nick}")),
        "one batch for bob's messages: {start}"
    );
    let reference = start
        .split(" BATCH +")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .expect("a batch reference")
        .to_string();
    for i in 0..3 {
        let line = alice.expect(common::chat).await;
        assert!(line.starts_with('@'), "{line}");
        let tags = line[1..].split(' ').next().unwrap();
        assert!(
            tags.split(';').any(|t| t == format!("batch={reference}")),
            "{line}"
        );
        assert!(tags.split(';').any(|t| t.starts_with("time=20")), "{line}");
        assert!(
            line.ends_with(&format!(" :while you were away {i}")),
            "{line}"
        );
    }
    let end = alice.expect(|l| l.contains(" BATCH -")).await;
    assert!(end.ends_with(&format!("BATCH -{reference}")), "{end}");

    tokio::join!(a.shutdown(), b.shutdown());
}
