//! `disims demo` can take one side offline and bring it back with its data: what alice
//! writes to a stopped bob waits in her outbox and reaches bob when he is started again.
//! Driven through the demo's command API (the same `stop bob` / `start bob` lines the
//! binary reads on stdin), with scripted IRC clients.

mod common;

use std::time::Duration;

use common::process::outbox_len;
use common::{IrcClient, WAIT, chat};
use disims::demo::{Demo, Side, parse_command};

async fn command(demo: &mut Demo, line: &str) -> String {
    let command = parse_command(line).unwrap().unwrap();
    demo.execute(command).await.expect("the demo command works")
}

/// Polls `f` until it holds, for up to [`WAIT`].
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_side_gets_its_messages_when_started_again() {
    common::init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let mut demo = Demo::start(dir.path(), any, any).await.unwrap();
    let (alice_id, bob_id) = (demo.peer_id(Side::Alice), demo.peer_id(Side::Bob));
    let bob_irc = demo.irc_addr(Side::Bob);

    let mut alice = IrcClient::register(demo.irc_addr(Side::Alice), "alice").await;
    let mut bob = IrcClient::register(bob_irc, "bob").await;
    alice.expect(|l| l.contains("DHT: published")).await;
    bob.expect(|l| l.contains("DHT: published")).await;
    alice.send(&format!("PRIVMSG {bob_id} :hello bob")).await;
    bob.expect(|l| chat(l) && l.contains("hello bob")).await;

    let said = command(&mut demo, "stop bob").await;
    assert!(said.contains("bob's gateway is stopped"), "{said}");
    assert!(bob.expect_closed().await, "bob's client is disconnected");
    assert!(
        command(&mut demo, "stop bob")
            .await
            .contains("already stopped")
    );

    alice
        .send(&format!("PRIVMSG {bob_id} :are you there?"))
        .await;
    let alice_data = demo.data_dir(Side::Alice).to_path_buf();
    eventually("the message waits in alice's outbox", || {
        outbox_len(&alice_data, &bob_id) == 1
    })
    .await;

    let said = command(&mut demo, "start bob").await;
    assert!(said.contains("running again"), "{said}");
    assert_eq!(demo.irc_addr(Side::Bob), bob_irc, "same IRC address");
    assert_eq!(demo.peer_id(Side::Bob), bob_id, "same identity");
    let mut bob = IrcClient::register(bob_irc, "bob").await;
    let line = bob
        .expect(|l| chat(l) && l.contains("are you there?"))
        .await;
    assert!(line.starts_with(&format!(":{alice_id}!")), "{line}");
    eventually("alice's outbox is empty", || {
        outbox_len(&alice_data, &bob_id) == 0
    })
    .await;
    demo.shutdown().await;
}
