//! Hostile peers and directory records against running gateways: each attack fails and
//! honest peers keep working.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{IrcClient, testnet};
use disims::daemon::{Gateway, Options};
use disims::directory::AddressRecord;
use disims::directory::memory::{MemoryDirectory, SharedRecords};
use disims::identity::{self, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A gateway on loopback whose directory is the shared in-memory map.
async fn gateway_with(
    dir: &std::path::Path,
    records: &SharedRecords,
    net: &mainline::Testnet,
) -> Gateway {
    let (key, _) = identity::load_or_create(dir).unwrap();
    let directory = Arc::new(MemoryDirectory::new(&key, records.clone()));
    let options = Options {
        directory: Some(directory),
        ..Options::default()
    };
    Gateway::start(common::config(dir, net), options)
        .await
        .unwrap()
}

async fn published(client: &mut IrcClient) {
    client.expect(|l| l.contains("DHT: published")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hijacked_record_is_detected_and_nothing_is_sent() {
    // The testnet is unused by the memory directory but keeps the config realistic.
    let net = testnet(2).await;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = gateway_with(&dir.path().join("a"), &records, &net).await;
    let c = gateway_with(&dir.path().join("c"), &records, &net).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut carol = IrcClient::register(c.irc_addr, "carol").await;
    published(&mut alice).await;
    published(&mut carol).await;

    // Bob's record claims Carol's address (a hijacked record, or Carol took over Bob's IP).
    let bob = PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[77; 32]));
    let forged = AddressRecord {
        protocol_version: 1,
        addrs: vec![c.peer_addr],
    };
    MemoryDirectory::insert_raw(&records, bob, forged.encode().unwrap());

    alice
        .send(&format!("PRIVMSG {bob} :secret for bob only"))
        .await;
    let notice = alice
        .expect(|l| l.contains(" NOTICE ") && l.starts_with(&format!(":{bob}!")))
        .await;
    assert!(notice.contains("SECURITY"), "{notice}");
    assert!(
        notice.contains(&c.peer_id.nick()),
        "the notice names the key that answered: {notice}"
    );

    // Carol's gateway got nothing, and honest traffic still flows both ways.
    alice
        .send(&format!("PRIVMSG {} :hello carol", c.peer_id))
        .await;
    let line = carol.expect(common::chat).await;
    assert!(line.ends_with(":hello carol"), "{line}");
    assert!(
        !carol.seen.iter().any(|l| l.contains("secret")),
        "{:#?}",
        carol.seen
    );
    a.shutdown().await;
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_records_read_as_not_found() {
    let net = testnet(2).await;
    let records = SharedRecords::default();
    let dir = tempfile::tempdir().unwrap();
    let a = gateway_with(dir.path(), &records, &net).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    published(&mut alice).await;
    let hostile: [&[u8]; 4] = [
        &[],                                   // empty
        &[9, 0, 1, 1, 4, 127, 0, 0, 1, 0, 80], // unknown version
        &[1, 0, 1, 1, 4, 0, 0, 0, 0, 0, 80],   // unusable address
        &[1u8; 1001],                          // oversized
    ];
    for (i, value) in hostile.iter().enumerate() {
        let peer = PeerId::of(&ed25519_dalek::SigningKey::from_bytes(&[100 + i as u8; 32]));
        MemoryDirectory::insert_raw(&records, peer, value.to_vec());
        alice.send(&format!("PRIVMSG {peer} :hi")).await;
        let notice = alice
            .expect(|l| l.contains(" NOTICE ") && l.starts_with(&format!(":{peer}!")))
            .await;
        assert!(
            notice.contains("is offline (no address in the DHT)"),
            "{notice}"
        );
    }
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_at_the_peer_port_gets_nothing_back_and_is_closed() {
    let net = testnet(2).await;
    let dir = tempfile::tempdir().unwrap();
    let a = common::gateway(dir.path(), &net).await;
    let inputs: [&[u8]; 3] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        // The start of a TLS ClientHello.
        &[
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
        ],
        // A well-formed header announcing a 38-byte msg1 full of zeros (bad magic).
        &[
            0, 0, 0, 38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    ];
    // None of them proves knowledge of the gateway's key (handshake version 2): silence,
    // then the close, after a random delay of 1 to 4 times the first message's wait.
    let wait = disims::policy::inbound::MSG1_WAIT * 4 + Duration::from_secs(2);
    let probes = inputs.map(|input| {
        let addr = a.peer_addr;
        async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(input).await.unwrap();
            let mut back = Vec::new();
            let read = tokio::time::timeout(wait, s.read_to_end(&mut back))
                .await
                .expect("closed in time");
            assert!(
                back.is_empty() && matches!(read, Ok(0) | Err(_)),
                "{read:?} {back:?}"
            );
        }
    });
    futures_util::future::join_all(probes).await;
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ends_dial_at_once_and_everything_arrives_once_in_order() {
    let net = testnet(5).await;
    let dir = tempfile::tempdir().unwrap();
    let a = common::gateway(&dir.path().join("a"), &net).await;
    let b = common::gateway(&dir.path().join("b"), &net).await;
    let mut alice = IrcClient::register(a.irc_addr, "alice").await;
    let mut bob = IrcClient::register(b.irc_addr, "bob").await;
    published(&mut alice).await;
    published(&mut bob).await;
    // Neither has a session yet: both dial on their first message.
    const N: usize = 100;
    let mut burst_a = String::new();
    let mut burst_b = String::new();
    for i in 0..N {
        burst_a.push_str(&format!("PRIVMSG {} :a{i}\r\n", b.peer_id));
        burst_b.push_str(&format!("PRIVMSG {} :b{i}\r\n", a.peer_id));
    }
    tokio::join!(
        alice.send_raw(burst_a.as_bytes()),
        bob.send_raw(burst_b.as_bytes())
    );
    for i in 0..N {
        let l = bob.expect(common::chat).await;
        assert!(
            l.ends_with(&format!(" :a{i}")),
            "bob expected a{i}, got {l}"
        );
        let l = alice.expect(common::chat).await;
        assert!(
            l.ends_with(&format!(" :b{i}")),
            "alice expected b{i}, got {l}"
        );
    }
    // No duplicates trail behind.
    alice.send("PING :end").await;
    bob.send("PING :end").await;
    assert!(
        !alice
            .expect(|l| l.contains("PONG") || common::chat(l))
            .await
            .contains("PRIVMSG")
    );
    assert!(
        !bob.expect(|l| l.contains("PONG") || common::chat(l))
            .await
            .contains("PRIVMSG")
    );
    a.shutdown().await;
    b.shutdown().await;
}
