//! The whole path: two gateways on a local mainline testnet, a scripted IRC client on
//! each, real TCP everywhere.

mod common;

use common::{IrcClient, gateway, testnet};
use disims::identity::PeerId;

async fn published(client: &mut IrcClient) {
    client
        .expect(|l| l.contains("NOTICE") && l.contains("DHT: published"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_chat_both_ways() {
    let net = testnet(10).await;
    let dir = tempfile::tempdir().unwrap();
    let a = gateway(&dir.path().join("a"), &net).await;
    let b = gateway(&dir.path().join("b"), &net).await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());

    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    // The welcome is addressed to the key nick, whatever nick the client asked for.
    assert!(
        alice
            .seen
            .iter()
            .any(|l| l.contains(&format!(" 001 {a_nick} "))),
        "{:#?}",
        alice.seen
    );
    published(&mut alice).await;
    published(&mut bob).await;

    // A -> B
    alice.send(&format!("PRIVMSG {b_nick} :hello bob")).await;
    let line = bob.expect(common::chat).await;
    assert!(line.starts_with(&format!(":{a_nick}!")), "{line}");
    assert!(
        line.ends_with(&format!("PRIVMSG {b_nick} :hello bob")),
        "{line}"
    );

    // The DHT state was announced to each client once (not also replayed from a backlog).
    for client in [&alice, &bob] {
        let count = client
            .seen
            .iter()
            .filter(|l| l.contains("DHT: published"))
            .count();
        assert_eq!(count, 1, "{:#?}", client.seen);
    }

    // B -> A, non-ASCII
    let text = "grüße aus Köln, 你好, привет 🎉";
    bob.send(&format!("PRIVMSG {a_nick} :{text}")).await;
    let line = alice.expect(common::chat).await;
    assert!(line.starts_with(&format!(":{b_nick}!")), "{line}");
    assert!(
        line.ends_with(&format!("PRIVMSG {a_nick} :{text}")),
        "{line}"
    );

    // A line at the IRC length limit: 510 bytes + CRLF = 512, with multi-byte characters.
    let prefix = format!("PRIVMSG {b_nick} :");
    let mut long = String::from("é€");
    while prefix.len() + long.len() < 510 {
        long.push('x');
    }
    assert_eq!(prefix.len() + long.len(), 510);
    alice.send(&format!("{prefix}{long}")).await;
    // With the sender's prefix in front, it no longer fits one line: it comes as two, each
    // within 512 bytes, that together give the text (split between characters).
    let mut got = String::new();
    while got.len() < long.len() {
        let line = bob.expect(common::chat).await;
        assert!(line.len() + 2 <= 512, "{line}");
        got.push_str(line.split_once(" :").map_or("", |(_, text)| text));
    }
    assert_eq!(got, long);

    // /me is carried as an action.
    alice
        .send(&format!("PRIVMSG {b_nick} :\x01ACTION waves\x01"))
        .await;
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(":\x01ACTION waves\x01"), "{line:?}");

    // Several messages keep their order.
    for i in 0..50 {
        alice.send(&format!("PRIVMSG {b_nick} :n{i}")).await;
    }
    for i in 0..50 {
        let line = bob.expect(common::chat).await;
        assert!(line.ends_with(&format!(" :n{i}")), "{line}");
    }

    // Shutdown is clean: clients get ERROR and EOF; shutdown returns.
    tokio::time::timeout(common::WAIT, async {
        tokio::join!(a.shutdown(), b.shutdown())
    })
    .await
    .expect("gateways stop in time");
    alice.expect(|l| l.starts_with("ERROR")).await;
    assert!(alice.expect_closed().await);
    assert!(bob.expect_closed().await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_an_offline_key_is_queued_with_a_notice() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let a = gateway(dir.path(), &net).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    published(&mut alice).await;
    // A valid key that nobody runs a gateway for.
    let nobody = PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[42; 32])).nick();
    alice
        .send(&format!("PRIVMSG {nobody} :anyone there?"))
        .await;
    let line = alice
        .expect(|l| l.contains(" NOTICE ") && l.starts_with(&format!(":{nobody}!")))
        .await;
    assert!(
        line.contains("is offline (no address in the DHT); 1 message queued"),
        "{line}"
    );
    // Not a key at all: 401 at once.
    alice.send("PRIVMSG bob :hi").await;
    alice.expect(|l| l.contains(" 401 ")).await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_wait_for_a_client_to_attach() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let a = gateway(&dir.path().join("a"), &net).await;
    let b = gateway(&dir.path().join("b"), &net).await;
    let b_nick = b.peer_id.nick();
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    published(&mut alice).await;
    common::wait_published_then_detach(b.irc_addr).await;
    // No client on b's side now: messages are kept until one attaches.
    for i in 0..5 {
        alice
            .send(&format!("PRIVMSG {b_nick} :while you were away {i}"))
            .await;
    }
    // A message to b that round-trips proves the five arrived at b's gateway first.
    alice.send(&format!("PRIVMSG {b_nick} :last")).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    for i in 0..5 {
        bob.expect(|l| l.ends_with(&format!(":while you were away {i}")))
            .await;
    }
    bob.expect(|l| l.ends_with(":last")).await;
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_reachable_dht_irc_keeps_working_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = disims::demo::private_config(
        dir.path(),
        "127.0.0.1:0".parse().unwrap(),
        // Nothing answers DHT queries on the discard port.
        "127.0.0.1:9".parse().unwrap(),
    );
    config.dht.request_timeout = std::time::Duration::from_millis(100);
    let options = disims::daemon::Options {
        dht: disims::daemon::DhtOptions {
            heal: disims::directory::node::HealTimers {
                grace: std::time::Duration::from_secs(1),
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let a = disims::daemon::Gateway::start(config, options)
        .await
        .unwrap();
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let notice = alice
        .expect(|l| l.contains("NOTICE") && l.contains("DHT unreachable"))
        .await;
    assert!(
        notice.contains("DHT unreachable: no bootstrap node answered (tried 1 address)"),
        "{notice}"
    );
    alice.send("PING :still-here").await;
    alice
        .expect(|l| l.contains("PONG") && l.contains("still-here"))
        .await;
    // A message waits, and the notice says the problem is ours, not the peer's.
    let bob = PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[43; 32])).nick();
    alice.send(&format!("PRIVMSG {bob} :are you there?")).await;
    let notice = alice
        .expect(|l| l.contains(" NOTICE ") && l.starts_with(&format!(":{bob}!")))
        .await;
    assert!(
        notice.contains(&format!(
            ":cannot look {bob} up: our DHT connection is down (DHT unreachable: "
        )) && notice.contains("; 1 message queued, will deliver once it is back"),
        "{notice}"
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_messages_survive_a_restart_and_keep_their_time() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (dir.path().join("a"), dir.path().join("b"));
    let a = gateway(&a_dir, &net).await;
    let b = gateway(&b_dir, &net).await;
    let b_nick = b.peer_id.nick();
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    published(&mut alice).await;
    common::wait_published_then_detach(b.irc_addr).await;
    for i in 0..5 {
        alice.send(&format!("PRIVMSG {b_nick} :stored {i}")).await;
    }
    // Wait until bob's gateway has stored all five (its database can be read meanwhile).
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let store = disims::store::Store::open(&b_dir).unwrap();
        if store.unshown(100).unwrap().len() == 5 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not stored in time");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Bob's gateway restarts; a client that asked for server-time sees them with their times.
    b.shutdown().await;
    let b = gateway(&b_dir, &net).await;
    let mut bob = IrcClient::connect(b.irc_addr).await;
    bob.send("CAP LS 302").await;
    bob.send("CAP REQ :server-time").await;
    bob.send("NICK bob").await;
    bob.send("USER bob 0 * :Bob").await;
    bob.expect(|l| l.contains("ACK")).await;
    bob.send("CAP END").await;
    for i in 0..5 {
        let line = bob.expect(common::chat).await;
        assert!(line.starts_with("@time=20"), "{line}");
        assert!(line.ends_with(&format!(":stored {i}")), "{line}");
    }
    a.shutdown().await;
    b.shutdown().await;
}
