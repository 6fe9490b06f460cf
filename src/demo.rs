//! `disims demo`: a private DHT node and two gateways (alice and bob) in one process, with
//! no internet needed, for a newcomer's first look. Either side can be stopped and started
//! again with its data (the demo reads `stop bob`, `start bob`... on stdin), so that
//! offline delivery can be tried: what alice writes to a stopped bob waits in her outbox
//! and arrives when he is back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{
    Config, ContactsConfig, DhtConfig, DhtServerMode, DialScope, IrcConfig, PeerConfig, StoreConfig,
};
use crate::daemon::{DaemonError, Gateway, Options};
use crate::directory::mainline::standalone_node;
use crate::identity::PeerId;
use crate::router::RouterInput;

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
            // On loopback: no router to ask (and tests must not ask the host's).
            port_mapping: false,
        },
        dht: DhtConfig {
            bootstrap: vec![bootstrap.to_string()],
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            server_mode: DhtServerMode::Server,
            request_timeout: Duration::from_millis(500),
        },
        store: StoreConfig::default(),
        contacts: ContactsConfig::default(),
        relay: crate::config::RelayConfig::default(),
        transport: crate::config::TransportConfig::default(),
    }
}

/// One of the two demo users.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Alice,
    Bob,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Alice => "alice",
            Side::Bob => "bob",
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Alice => Side::Bob,
            Side::Bob => Side::Alice,
        }
    }
}

/// A line typed into the demo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DemoCommand {
    Stop(Side),
    Start(Side),
    Quit,
    Help,
}

/// The commands the demo reads on stdin, as shown to the user.
pub const COMMANDS_HELP: &str = "\
Type here (in this terminal) to take one side offline and bring it back with its data:
  stop bob     stop bob's gateway (his IRC client is disconnected)
  start bob    start it again, same nick, same IRC port, same messages
  (alice works the same way), quit to end the demo.";

/// Parses a line typed into the demo; `Err` holds what to tell the user.
pub fn parse_command(line: &str) -> Result<Option<DemoCommand>, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let side = |word: &str| match word.to_ascii_lowercase().as_str() {
        "alice" => Ok(Side::Alice),
        "bob" => Ok(Side::Bob),
        other => Err(format!("no one called {other:?} here: alice or bob")),
    };
    match words.as_slice() {
        [] => Ok(None),
        [cmd, who] if cmd.eq_ignore_ascii_case("stop") => Ok(Some(DemoCommand::Stop(side(who)?))),
        [cmd, who] if cmd.eq_ignore_ascii_case("start") => Ok(Some(DemoCommand::Start(side(who)?))),
        [cmd] if cmd.eq_ignore_ascii_case("quit") || cmd.eq_ignore_ascii_case("exit") => {
            Ok(Some(DemoCommand::Quit))
        }
        [cmd] if cmd.eq_ignore_ascii_case("help") => Ok(Some(DemoCommand::Help)),
        _ => Err(format!("unknown command {line:?}\n{COMMANDS_HELP}")),
    }
}

/// One demo gateway: running or stopped, with the addresses it comes back on.
struct Slot {
    gateway: Option<Gateway>,
    data_dir: PathBuf,
    peer_id: PeerId,
    irc_addr: SocketAddr,
    peer_addr: SocketAddr,
}

impl Slot {
    async fn start(
        data_dir: PathBuf,
        irc: SocketAddr,
        peer: SocketAddr,
        dht: SocketAddr,
    ) -> Result<Slot, DaemonError> {
        let mut config = private_config(&data_dir, irc, dht);
        config.peer.listen = peer;
        let gateway = Gateway::start(config, Options::default()).await?;
        Ok(Slot {
            peer_id: gateway.peer_id,
            irc_addr: gateway.irc_addr,
            peer_addr: gateway.peer_addr,
            gateway: Some(gateway),
            data_dir,
        })
    }
}

/// The two demo gateways and the DHT node they share.
pub struct Demo {
    alice: Slot,
    bob: Slot,
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
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        let alice = Slot::start(dir.join("alice"), alice_irc, any_port, dht_addr).await?;
        let bob = Slot::start(dir.join("bob"), bob_irc, any_port, dht_addr).await?;
        Ok(Demo {
            alice,
            bob,
            dht_addr,
            _dht: dht,
        })
    }

    fn slot(&mut self, side: Side) -> &mut Slot {
        match side {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        }
    }

    /// The nick of `side`.
    pub fn peer_id(&self, side: Side) -> PeerId {
        match side {
            Side::Alice => self.alice.peer_id,
            Side::Bob => self.bob.peer_id,
        }
    }

    /// Where `side`'s IRC client connects (the same after a restart).
    pub fn irc_addr(&self, side: Side) -> SocketAddr {
        match side {
            Side::Alice => self.alice.irc_addr,
            Side::Bob => self.bob.irc_addr,
        }
    }

    /// `side`'s data dir (it outlives a stop).
    pub fn data_dir(&self, side: Side) -> &Path {
        match side {
            Side::Alice => &self.alice.data_dir,
            Side::Bob => &self.bob.data_dir,
        }
    }

    /// Carries out a typed command; returns what to print. `Quit` is the caller's.
    pub async fn execute(&mut self, command: DemoCommand) -> Result<String, DaemonError> {
        match command {
            DemoCommand::Stop(side) => self.stop(side).await,
            DemoCommand::Start(side) => self.start_side(side).await,
            DemoCommand::Help | DemoCommand::Quit => Ok(COMMANDS_HELP.to_string()),
        }
    }

    /// Stops `side`'s gateway, keeping its data.
    pub async fn stop(&mut self, side: Side) -> Result<String, DaemonError> {
        let Some(gateway) = self.slot(side).gateway.take() else {
            return Ok(format!("{} is already stopped.", side.name()));
        };
        gateway.shutdown().await;
        let other = side.other().name();
        Ok(format!(
            "{name}'s gateway is stopped. Messages {other} sends to {name} now wait in {other}'s \
             outbox; type `start {name}` to bring {name} back.",
            name = side.name()
        ))
    }

    /// Starts `side`'s gateway again on the same data dir and addresses. The other side is
    /// told to try at once (on a real network it finds out on its next retry, 5 s doubling
    /// up to 5 minutes, or when the peer dials it).
    pub async fn start_side(&mut self, side: Side) -> Result<String, DaemonError> {
        let dht = self.dht_addr;
        let slot = self.slot(side);
        if slot.gateway.is_some() {
            return Ok(format!("{} is already running.", side.name()));
        }
        *slot = Slot::start(slot.data_dir.clone(), slot.irc_addr, slot.peer_addr, dht).await?;
        let peer_id = slot.peer_id;
        let irc = slot.irc_addr;
        if let Some(other) = &self.slot(side.other()).gateway {
            other.router().dispatch(RouterInput::Retry(peer_id));
        }
        Ok(format!(
            "{name}'s gateway is running again: reconnect {name}'s IRC client to {irc}; what \
             waited for {name} is delivered now.",
            name = side.name()
        ))
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
4. Offline delivery: type `stop bob` here, write to bob as alice (the gateway says the
   message is queued), then `start bob` and reconnect bob's client: the message arrives.

Every message goes gateway to gateway, found through the DHT, end-to-end encrypted.

{COMMANDS_HELP}
Ctrl-C also ends the demo (its data lives in a temporary directory, deleted then).",
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
        let stop = |slot: Slot| async move {
            if let Some(gateway) = slot.gateway {
                gateway.shutdown().await;
            }
        };
        tokio::join!(stop(self.alice), stop(self.bob));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_commands() {
        assert_eq!(parse_command("  "), Ok(None));
        assert_eq!(
            parse_command("stop bob"),
            Ok(Some(DemoCommand::Stop(Side::Bob)))
        );
        assert_eq!(
            parse_command("START Alice\n"),
            Ok(Some(DemoCommand::Start(Side::Alice)))
        );
        assert_eq!(parse_command("quit"), Ok(Some(DemoCommand::Quit)));
        assert_eq!(parse_command("help"), Ok(Some(DemoCommand::Help)));
        assert!(
            parse_command("stop carol")
                .unwrap_err()
                .contains("alice or bob")
        );
        assert!(parse_command("restart").unwrap_err().contains("stop bob"));
    }
}
