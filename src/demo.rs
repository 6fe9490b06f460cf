//! `disims demo`: a private DHT node and two gateways (alice and bob) in one process, with
//! no internet needed, for a newcomer's first look.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::config::{
    Config, ContactsConfig, DhtConfig, DhtServerMode, DialScope, IrcConfig, PeerConfig, StoreConfig,
};
use crate::daemon::{DaemonError, Gateway, Options};
use crate::directory::mainline::standalone_node;

/// Where the demo's IRC clients connect.
pub const ALICE_IRC: &str = "127.0.0.1:6667";
pub const BOB_IRC: &str = "127.0.0.1:6668";

/// A gateway config for a private network on loopback: its peers are on this machine, so
/// it dials loopback addresses (`[peer] dial = "loopback"`, which a gateway on the
/// internet must not do).
pub fn private_config(data_dir: &Path, irc: SocketAddr, bootstrap: SocketAddr) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        irc: IrcConfig::local(irc),
        peer: PeerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            advertise: Vec::new(),
            dial: DialScope::Loopback,
        },
        dht: DhtConfig {
            bootstrap: vec![bootstrap.to_string()],
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server_mode: DhtServerMode::Server,
            request_timeout: Duration::from_millis(500),
        },
        store: StoreConfig::default(),
        contacts: ContactsConfig::default(),
    }
}

/// The two demo gateways and the DHT node they share.
pub struct Demo {
    pub alice: Gateway,
    pub bob: Gateway,
    pub dht_addr: SocketAddr,
    _dht: mainline::async_dht::AsyncDht,
}

impl Demo {
    /// Starts the DHT node and both gateways, with data under `dir`.
    pub async fn start(
        dir: &Path,
        alice_irc: SocketAddr,
        bob_irc: SocketAddr,
    ) -> Result<Demo, DaemonError> {
        let (dht, dht_addr) =
            standalone_node("127.0.0.1:0".parse().expect("valid address"), &[]).await?;
        let dht_addr = SocketAddr::V4(dht_addr);
        let alice = Gateway::start(
            private_config(&dir.join("alice"), alice_irc, dht_addr),
            Options::default(),
        )
        .await?;
        let bob = Gateway::start(
            private_config(&dir.join("bob"), bob_irc, dht_addr),
            Options::default(),
        )
        .await?;
        Ok(Demo {
            alice,
            bob,
            dht_addr,
            _dht: dht,
        })
    }

    /// What to type, for people.
    pub fn instructions(&self) -> String {
        let (a, b) = (&self.alice, &self.bob);
        format!(
            "\
DiSIMS demo: a private DHT on {dht} and two gateways, alice and bob, on this machine.

  alice's gateway: IRC on {ai}   nick {an}
  bob's gateway:   IRC on {bi}   nick {bn}

1. In one terminal, be alice:   irssi -c {aip} -p {aport}
   (WeeChat: /server add alice {aip}/{aport} -notls  then /connect alice)
2. In another, be bob:          irssi -c {bip} -p {bport}
3. As alice, type:
     /msg {bn} hello bob
   bob's client opens a query window from alice's nick. Reply there.

Every message goes gateway to gateway, found through the DHT, end-to-end encrypted.
Press Ctrl-C to stop the demo (its data lives in a temporary directory).",
            dht = self.dht_addr,
            ai = a.irc_addr,
            an = a.peer_id,
            bi = b.irc_addr,
            bn = b.peer_id,
            aip = a.irc_addr.ip(),
            aport = a.irc_addr.port(),
            bip = b.irc_addr.ip(),
            bport = b.irc_addr.port(),
        )
    }

    pub async fn shutdown(self) {
        tokio::join!(self.alice.shutdown(), self.bob.shutdown());
    }
}
