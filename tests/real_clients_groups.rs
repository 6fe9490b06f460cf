//! Groups (issue 15) in real IRC clients: irssi (through tmux) and WeeChat (headless,
//! through its FIFO and logs), each a member of a three-member channel with two scripted
//! peers on their own gateways: invited, joined, talking both ways, NAMES, a KICK.
//! Without the clients these tests say SKIPPED and pass, except under `CI=true`.

mod common;

use common::clients::{Irssi, Weechat, clients_available};
use common::{IrcClient, WAIT, gateway, testnet};
use disims::daemon::Gateway;

/// Three gateways on a fresh testnet; scripted peers registered at the second and third,
/// published.
async fn three() -> (
    mainline::Testnet,
    tempfile::TempDir,
    [Gateway; 3],
    IrcClient,
    IrcClient,
) {
    let net = testnet(10).await;
    let dir = tempfile::tempdir().unwrap();
    let a = gateway(&dir.path().join("a"), &net).await;
    let b = gateway(&dir.path().join("b"), &net).await;
    let c = gateway(&dir.path().join("c"), &net).await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    let mut carol = IrcClient::register(c.irc_addr, "carol").await;
    bob.expect(|l| l.contains("DHT: published")).await;
    carol.expect(|l| l.contains("DHT: published")).await;
    (net, dir, [a, b, c], bob, carol)
}

/// Bob makes `#rust` and invites the client's user and carol; carol joins.
async fn bob_makes_the_channel(
    bob: &mut IrcClient,
    carol: &mut IrcClient,
    a_nick: &str,
    c_nick: &str,
) {
    bob.send("JOIN #rust").await;
    bob.expect(|l| l.contains(" 366 ")).await;
    bob.send("TOPIC #rust :three of us").await;
    bob.expect(|l| l.contains(" TOPIC #rust ")).await;
    bob.send(&format!("INVITE {c_nick} #rust")).await;
    carol.expect(|l| l.contains(" INVITE ")).await;
    carol.send("JOIN #rust").await;
    carol.expect(|l| l.contains(" 366 ")).await;
    bob.send(&format!("INVITE {a_nick} #rust")).await;
    bob.expect(|l| l.contains(" 341 ") && l.contains(a_nick))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irssi_in_a_three_member_channel() {
    if !clients_available("irssi_in_a_three_member_channel", &["irssi", "tmux"]) {
        return;
    }
    let (_net, _dir, [a, b, c], mut bob, mut carol) = three().await;
    let (a_nick, b_nick, c_nick) = (a.peer_id.nick(), b.peer_id.nick(), c.peer_id.nick());
    let alice = Irssi::start(a.irc_addr);
    alice.wait_ready(&a_nick).await;
    bob_makes_the_channel(&mut bob, &mut carol, &a_nick, &c_nick).await;

    // The invitation shows in irssi; /join accepts it.
    alice.wait_for("the invitation", &b_nick).await;
    alice.type_line("/join #rust");
    let screen = alice
        .wait_in("#rust", "irssi to join #rust", "has joined #rust")
        .await;
    assert!(
        screen.contains("three of us"),
        "the topic on join:\n{screen}"
    );
    bob.expect(|l| l.starts_with(&format!(":{a_nick}!")) && l.contains(" JOIN "))
        .await;

    // Talk both ways.
    bob.send("PRIVMSG #rust :hello from bob").await;
    carol.send("PRIVMSG #rust :hello from carol").await;
    alice
        .wait_in(
            "#rust",
            "bob's message",
            &format!("<@{b_nick}> hello from bob"),
        )
        .await;
    alice
        .wait_in("#rust", "carol's message", "hello from carol")
        .await;
    alice.type_line("hello from irssi");
    for peer in [&mut bob, &mut carol] {
        peer.expect(|l| l.contains(" PRIVMSG #rust :hello from irssi"))
            .await;
    }
    alice.type_line("/me waves");
    bob.expect(|l| l.contains("\u{1}ACTION waves\u{1}")).await;

    // NAMES: bob the operator, everyone voiced while their sessions are up.
    alice.type_line("/names #rust");
    alice
        .wait_in("#rust", "the names", &format!("@{b_nick}"))
        .await;

    // A kick of carol reaches irssi.
    bob.send(&format!("KICK #rust {c_nick} :enough")).await;
    let screen = alice
        .wait_in(
            "#rust",
            "the kick",
            &format!("{c_nick} was kicked from #rust by {b_nick}"),
        )
        .await;
    // The transcript, for the closing note.
    eprintln!("irssi #rust:\n{screen}");

    tokio::time::timeout(WAIT, async {
        tokio::join!(a.shutdown(), b.shutdown(), c.shutdown())
    })
    .await
    .expect("gateways stop in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weechat_in_a_three_member_channel() {
    if !clients_available("weechat_in_a_three_member_channel", &["weechat-headless"]) {
        return;
    }
    let (_net, _dir, [a, b, c], mut bob, mut carol) = three().await;
    let (a_nick, b_nick, c_nick) = (a.peer_id.nick(), b.peer_id.nick(), c.peer_id.nick());
    let alice = Weechat::start(a.irc_addr);
    alice
        .wait_for_log(
            "weechat to register",
            "irc.server.s",
            &format!("Welcome to DiSIMS, {a_nick}"),
        )
        .await;
    bob_makes_the_channel(&mut bob, &mut carol, &a_nick, &c_nick).await;
    alice
        .wait_for_log("the invitation", "irc.server.s", "invited to #rust")
        .await;
    alice.fifo("irc.server.s */join #rust");
    let log = alice
        .wait_for_log("weechat to join #rust", "irc.s.#rust", "three of us")
        .await;
    assert!(log.contains(&b_nick), "{log}");

    bob.send("PRIVMSG #rust :hello weechat").await;
    alice
        .wait_for_log(
            "bob's message",
            "irc.s.#rust",
            &format!("{b_nick}\thello weechat"),
        )
        .await;
    alice.fifo("irc.s.#rust *hello from weechat");
    for peer in [&mut bob, &mut carol] {
        peer.expect(|l| l.contains(" PRIVMSG #rust :hello from weechat"))
            .await;
    }
    alice.fifo("irc.s.#rust */names");
    alice
        .wait_for_log("the names", "irc.s.#rust", &format!("@{b_nick}"))
        .await;
    bob.send(&format!("KICK #rust {c_nick} :enough")).await;
    alice
        .wait_for_log(
            "the kick",
            "irc.s.#rust",
            &format!("{b_nick} has kicked {c_nick}"),
        )
        .await;

    tokio::time::timeout(WAIT, async {
        tokio::join!(a.shutdown(), b.shutdown(), c.shutdown())
    })
    .await
    .expect("gateways stop in time");
}
