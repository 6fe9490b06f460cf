//! Real IRC clients against two gateways on a local mainline testnet: irssi driven through
//! tmux and WeeChat headless driven through its FIFO (see `common::clients`). Two real
//! clients talk to each other; then each client, facing a scripted peer, goes through what a
//! user does: a query opens on a peer's message, a reply, `/me`, `/whois`, and `add`,
//! `contacts` and `rename` in &disims, after which the peer appears under its petname.
//! Without the clients these tests say SKIPPED and pass, except under `CI=true`.

mod common;

use common::clients::{Irssi, Weechat, clients_available, poll};
use common::{IrcClient, WAIT, gateway, testnet};
use disims::daemon::Gateway;

/// The peer's key as `whois` and `id` show it.
fn hex_key(gateway: &Gateway) -> String {
    gateway
        .peer_id
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Two gateways on a fresh testnet (keep the testnet and the dir alive while they run).
async fn two_gateways() -> (mainline::Testnet, tempfile::TempDir, Gateway, Gateway) {
    let net = testnet(10).await;
    let dir = tempfile::tempdir().unwrap();
    let a = gateway(&dir.path().join("a"), &net).await;
    let b = gateway(&dir.path().join("b"), &net).await;
    (net, dir, a, b)
}

/// A scripted peer: registered at `gateway` and published on the DHT.
async fn scripted_peer(gateway: &Gateway) -> IrcClient {
    let mut bob = IrcClient::register(gateway.irc_addr, "bob").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    bob
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irssi_to_irssi() {
    if !clients_available("irssi_to_irssi", &["irssi", "tmux"]) {
        return;
    }
    let (_net, _dir, a, b) = two_gateways().await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());

    let alice = Irssi::start(a.irc_addr);
    let bob = Irssi::start(b.irc_addr);
    alice.wait_ready(&a_nick).await;
    bob.wait_ready(&b_nick).await;

    // alice -> bob: bob's irssi opens a query window from alice's key nick.
    alice.type_line(&format!("/msg {b_nick} hello from irssi"));
    let screen = bob
        .wait_in(
            &a_nick,
            "alice's message in bob's query",
            &format!("<{a_nick}> hello from irssi"),
        )
        .await;
    assert!(
        screen.contains("Starting query in ") && screen.contains(&format!("with {a_nick}")),
        "{screen}"
    );

    // bob -> alice, typed into the query window, non-ASCII.
    let text = "grüße 🎉 aus Köln, 你好";
    bob.type_line(text);
    alice
        .wait_in(
            &b_nick,
            "bob's reply in alice's query",
            &format!("<{b_nick}> {text}"),
        )
        .await;

    tokio::time::timeout(WAIT, async { tokio::join!(a.shutdown(), b.shutdown()) })
        .await
        .expect("gateways stop in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weechat_to_irssi() {
    if !clients_available("weechat_to_irssi", &["weechat-headless", "irssi", "tmux"]) {
        return;
    }
    let (_net, _dir, a, b) = two_gateways().await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());

    let alice = Weechat::start(a.irc_addr);
    let bob = Irssi::start(b.irc_addr);
    alice
        .wait_for_log(
            "weechat to register",
            "irc.server.s",
            &format!("Welcome to DiSIMS, {a_nick}"),
        )
        .await;
    alice
        .wait_for_log(
            "alice's gateway to publish",
            "irc.server.s",
            "DHT: published",
        )
        .await;
    bob.wait_ready(&b_nick).await;

    // bob -> alice: WeeChat opens a query buffer for bob's key nick and logs the message.
    let text = "hello weechat, grüße 🎉";
    bob.type_line(&format!("/msg {a_nick} {text}"));
    let query = format!("irc.s.{b_nick}");
    alice
        .wait_for_log(
            "bob's message in weechat's query",
            &query,
            &format!("\t{b_nick}\t{text}"),
        )
        .await;

    // alice -> bob through the FIFO into that query buffer.
    let reply = "hello irssi, ça va? 🎉";
    alice.fifo(&format!("{query} *{reply}"));
    alice
        .wait_for_log(
            "weechat to show its own reply",
            &query,
            &format!("\t{a_nick}\t{reply}"),
        )
        .await;
    bob.wait_in(
        &a_nick,
        "weechat's reply in bob's query",
        &format!("<{a_nick}> {reply}"),
    )
    .await;

    tokio::time::timeout(WAIT, async { tokio::join!(a.shutdown(), b.shutdown()) })
        .await
        .expect("gateways stop in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irssi_query_me_whois_and_contacts() {
    if !clients_available("irssi_query_me_whois_and_contacts", &["irssi", "tmux"]) {
        return;
    }
    let (_net, _dir, a, b) = two_gateways().await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());
    let alice = Irssi::start(a.irc_addr);
    alice.wait_ready(&a_nick).await;
    let mut bob = scripted_peer(&b).await;

    // A message from the peer opens a query under its key nick.
    bob.send(&format!("PRIVMSG {a_nick} :hello from bob")).await;
    alice
        .wait_in(
            &b_nick,
            "bob's message in the query",
            &format!("<{b_nick}> hello from bob"),
        )
        .await;

    // A reply typed into the query, then an action.
    alice.type_line("hi bob, from irssi");
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :hi bob, from irssi"), "{line}");
    alice.type_line("/me waves");
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :\u{1}ACTION waves\u{1}"), "{line}");

    // WHOIS shows the full key and the session.
    alice.type_line(&format!("/whois {b_nick}"));
    let key = hex_key(&b);
    poll("bob's key in irssi's whois", || {
        let screen = alice.screen();
        if screen.contains(&key) && screen.contains("session up") {
            Ok(())
        } else {
            Err(screen)
        }
    })
    .await;

    // In &disims: add bob as "bob", list the contacts.
    alice.goto("&disims");
    alice.type_line(&format!("add {b_nick} bob"));
    alice
        .wait_for(
            "the service's answer to add",
            &format!("Added {b_nick} as bob"),
        )
        .await;
    // Online (a session is up): the service voices it.
    alice
        .wait_for("bob voiced in &disims", "[+v bob] by disims")
        .await;
    alice.type_line("contacts");
    alice
        .wait_for(
            "bob in the contact list",
            &format!("bob ({b_nick}): online"),
        )
        .await;

    // The petname takes effect: bob's next message comes from "bob", and the query follows.
    bob.send(&format!("PRIVMSG {a_nick} :after the petname"))
        .await;
    alice
        .wait_in(
            "bob",
            "bob's message under its petname",
            "<bob> after the petname",
        )
        .await;
    alice.type_line("replying to bob by petname");
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :replying to bob by petname"), "{line}");
    assert!(line.starts_with(&format!(":{a_nick}!")), "{line}");

    // A rename shows as a nick change in the open query.
    alice.goto("&disims");
    alice.type_line("rename bob bobby");
    // The query window follows: irssi's status bar names it after the new nick.
    alice
        .wait_in("bobby", "the rename in the query", "/bobby]")
        .await;

    // The session as the user saw it (shown with `cargo test --test real_clients -- --nocapture`).
    alice.goto("&disims");
    let control = alice
        .wait_for("the control channel", "DiSIMS control channel")
        .await;
    eprintln!("--- irssi: &disims ---\n{}", control.trim_end());
    alice.goto("bobby");
    let query = alice.wait_for("the query", "<bob> after the petname").await;
    eprintln!("--- irssi: query with bobby ---\n{}", query.trim_end());

    tokio::time::timeout(WAIT, async { tokio::join!(a.shutdown(), b.shutdown()) })
        .await
        .expect("gateways stop in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weechat_query_me_whois_and_contacts() {
    if !clients_available("weechat_query_me_whois_and_contacts", &["weechat-headless"]) {
        return;
    }
    let (_net, _dir, a, b) = two_gateways().await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());
    let alice = Weechat::start(a.irc_addr);
    let server = "irc.server.s";
    alice
        .wait_for_log(
            "weechat to register",
            server,
            &format!("Welcome to DiSIMS, {a_nick}"),
        )
        .await;
    alice
        .wait_for_log(
            "weechat to join &disims",
            "irc.s.&disims",
            "DiSIMS control channel",
        )
        .await;
    let mut bob = scripted_peer(&b).await;

    // A message from the peer opens a query buffer under its key nick.
    bob.send(&format!("PRIVMSG {a_nick} :hello from bob")).await;
    let query = format!("irc.s.{b_nick}");
    alice
        .wait_for_log(
            "bob's message in the query",
            &query,
            &format!("\t{b_nick}\thello from bob"),
        )
        .await;

    // A reply into the query, then an action.
    alice.fifo(&format!("{query} *hi bob, from weechat"));
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :hi bob, from weechat"), "{line}");
    alice.fifo(&format!("{query} */me waves"));
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :\u{1}ACTION waves\u{1}"), "{line}");

    // WHOIS shows the full key (WeeChat prints it in the server buffer).
    alice.fifo(&format!("{query} */whois {b_nick}"));
    alice
        .wait_for_log("bob's key in weechat's whois", server, &hex_key(&b))
        .await;

    // In &disims: add bob as "bob", list the contacts.
    let control = "irc.s.&disims";
    alice.fifo(&format!("{control} *add {b_nick} bob"));
    alice
        .wait_for_log(
            "the service's answer to add",
            control,
            &format!("Added {b_nick} as bob"),
        )
        .await;
    alice
        .wait_for_log("bob voiced in &disims", control, "[+v bob] by disims")
        .await;
    alice.fifo(&format!("{control} *contacts"));
    alice
        .wait_for_log(
            "bob in the contact list",
            control,
            &format!("bob ({b_nick}): online"),
        )
        .await;

    // The petname takes effect: the query buffer follows the nick change, and bob's next
    // message comes from "bob".
    bob.send(&format!("PRIVMSG {a_nick} :after the petname"))
        .await;
    let renamed = "irc.s.bob";
    poll("bob's message under its petname", || {
        let logs = [alice.log(&query), alice.log(renamed)]
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        if logs.contains("\tbob\tafter the petname") {
            Ok(())
        } else {
            Err(format!("{logs}\n{}", alice.listing()))
        }
    })
    .await;
    alice.fifo(&format!("{renamed} *replying to bob by petname"));
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :replying to bob by petname"), "{line}");

    // A rename: the service confirms it, and bob's messages come from the new name.
    alice.fifo(&format!("{control} *rename bob bobby"));
    alice
        .wait_for_log("the service's answer to rename", control, "is now bobby")
        .await;
    bob.send(&format!("PRIVMSG {a_nick} :after the rename"))
        .await;
    let logs = poll("bob's message under its new petname", || {
        let logs = ["irc.s.bobby", renamed, query.as_str()]
            .iter()
            .map(|name| std::fs::read_to_string(alice.log(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        if logs.contains("\tbobby\tafter the rename") {
            Ok(logs)
        } else {
            Err(format!("{logs}\n{}", alice.listing()))
        }
    })
    .await;

    // The session as the user saw it (shown with `cargo test --test real_clients -- --nocapture`).
    let read = |name: &str| std::fs::read_to_string(alice.log(name)).unwrap_or_default();
    eprintln!("--- weechat: &disims ---\n{}", read(control).trim_end());
    eprintln!("--- weechat: queries with bob ---\n{}", logs.trim_end());
    let whois: Vec<String> = read(server)
        .lines()
        .filter(|l| l.contains(&b_nick) || l.contains("bob"))
        .map(|l| l.trim_end().to_string())
        .collect();
    eprintln!(
        "--- weechat: server buffer (whois) ---\n{}",
        whois.join("\n")
    );

    tokio::time::timeout(WAIT, async { tokio::join!(a.shutdown(), b.shutdown()) })
        .await
        .expect("gateways stop in time");
}

/// Waits until bob's outbox is empty: what he sent is stored at the other gateway.
async fn delivered(bob: &mut IrcClient) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        bob.send("PRIVMSG disims :status").await;
        let line = bob.expect(|l| l.contains(" :Outbox: ")).await;
        if line.ends_with(" :Outbox: 0 messages waiting") {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{line}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The WeeChat 3.8 set-up of docs/clients.md (Debian 12's WeeChat, the one installed here):
/// capabilities left at `*`, which 3.8 narrows to what it supports (no echo-message, no
/// batch). Its own messages show once, a played-back message shows in the query without
/// `BATCH` errors, and (the documented limit) a message sent from another client of the same
/// gateway is not shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weechat_3_8_settings_show_own_messages_once_and_playback_cleanly() {
    if !clients_available(
        "weechat_3_8_settings_show_own_messages_once_and_playback_cleanly",
        &["weechat-headless"],
    ) {
        return;
    }
    let (_net, _dir, a, b) = two_gateways().await;
    let (a_nick, b_nick) = (a.peer_id.nick(), b.peer_id.nick());
    common::wait_published_then_detach(a.irc_addr).await;
    let mut bob = scripted_peer(&b).await;
    // Sent while no client is attached to alice's gateway: played back to WeeChat.
    bob.send(&format!("PRIVMSG {a_nick} :while you were away"))
        .await;
    delivered(&mut bob).await;

    // docs/clients.md, WeeChat 3.8: the capabilities stay at their default, `*`.
    let alice = Weechat::start_with(a.irc_addr, &["/set irc.server.s.capabilities \"*\""]);
    let server = "irc.server.s";
    alice
        .wait_for_log(
            "weechat to register",
            server,
            &format!("Welcome to DiSIMS, {a_nick}"),
        )
        .await;
    let query = format!("irc.s.{b_nick}");
    alice
        .wait_for_log(
            "the played-back message in the query",
            &query,
            &format!("\t{b_nick}\twhile you were away"),
        )
        .await;

    // Own message: shown once (WeeChat shows it itself; no echo comes back).
    alice.fifo(&format!("{query} *shown once"));
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :shown once"), "{line}");
    // A message from another client of alice's gateway (a phone through a tunnel).
    let mut phone = IrcClient::register(a.irc_addr, "phone").await;
    phone
        .send(&format!("PRIVMSG {b_nick} :from the phone"))
        .await;
    let line = bob.expect(common::chat).await;
    assert!(line.ends_with(" :from the phone"), "{line}");
    // bob's reply comes after any echo of those would have: once it is in the log, the log
    // is complete.
    bob.send(&format!("PRIVMSG {a_nick} :got both")).await;
    let log = alice
        .wait_for_log("bob's reply", &query, &format!("\t{b_nick}\tgot both"))
        .await;
    let own = format!("\t{a_nick}\tshown once");
    assert_eq!(log.matches(&own).count(), 1, "{log}");
    assert!(!log.contains("from the phone"), "{log}");
    let everything: String = std::fs::read_dir(alice.log(server).parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect();
    assert!(!everything.contains("BATCH"), "{everything}");
    eprintln!("--- weechat 3.8: query with bob ---\n{}", log.trim_end());

    tokio::time::timeout(WAIT, async { tokio::join!(a.shutdown(), b.shutdown()) })
        .await
        .expect("gateways stop in time");
}
