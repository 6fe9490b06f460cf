//! Gateways in the NAT lab ([`super::nat`]): `disims run` in a host's namespace with the
//! defaults a user gets, apart from the DHT bootstrap (the lab's `disims dht-node`) and
//! what a scenario sets on purpose (a relay's `[relay] serve`), and an IRC client on it.

use std::net::SocketAddr;
use std::path::Path;

use disims::identity::PeerId;

use super::IrcClient;
use super::nat::Host;
use super::process::{self, Process};

/// A gateway running in the lab, with the bridge that leads to its IRC listener.
pub struct LabGateway {
    pub process: Process,
    pub peer: PeerId,
    /// Where the test reaches the gateway's IRC listener (through `_bridge`).
    pub irc: SocketAddr,
    _bridge: Process,
}

impl LabGateway {
    /// An IRC client registered on this gateway.
    pub async fn client(&self, nick: &str) -> IrcClient {
        IrcClient::register(self.irc, nick).await
    }
}

/// `disims dht-node` on `host`'s port 6881; returns it and its address.
pub fn dht_node(host: &Host, dir: &Path) -> (Process, String) {
    let mut dht = std::process::Command::new("ip");
    dht.args(["netns", "exec", &host.ns, process::disims()])
        .args(["dht-node", "--listen", &format!("{}:6881", host.addr)]);
    Process::start(dht, &dir.join("dht.stderr"))
}

/// Starts `disims run` in `host`'s namespace, data in `dir/name`, with `extra` appended to
/// the config (TOML sections, or empty for the defaults).
pub async fn start(host: &Host, dht: &str, dir: &Path, name: &str, extra: &str) -> LabGateway {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).unwrap();
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[dht]\nbootstrap = [\"{dht}\"]\n{extra}",
            data.display()
        ),
    )
    .unwrap();
    let command = process::run_command(&host.prefix(), &config);
    let (process, nick) = Process::start(command, &dir.join(format!("{name}.stderr")));
    let peer = PeerId::from_nick(&nick).expect("the gateway prints its nick");
    let (bridge, irc) =
        super::lab_helper::tcp_into(&host.ns, "127.0.0.1:6667".parse().unwrap(), dir, name).await;
    LabGateway {
        process,
        peer,
        irc,
        _bridge: bridge,
    }
}

/// The usual scene: a lab with a DHT node on a public host `srv`, more public hosts named
/// `publics`, and alice and bob each behind a home router of their own doing `nat`.
pub struct Scene {
    pub dir: tempfile::TempDir,
    /// The DHT node's address, for [`start`].
    pub dht: String,
    pub publics: Vec<Host>,
    pub alice: Host,
    pub bob: Host,
    pub homes: (super::nat::Router, super::nat::Router),
    _dht: Process,
    /// Last: the namespaces go when everything in them has stopped.
    pub lab: super::nat::Lab,
}

impl Scene {
    pub fn new(publics: &[&str], nat: super::nat::Nat) -> Scene {
        let lab = super::nat::Lab::new().expect("lab");
        let srv = lab.public_host("srv").expect("public host");
        let publics = publics
            .iter()
            .map(|name| lab.public_host(name).expect("public host"))
            .collect();
        let home_a = lab.router("a", nat).expect("router");
        let home_b = lab.router("b", nat).expect("router");
        let alice = lab.lan_host(&home_a, "alice").expect("lan host");
        let bob = lab.lan_host(&home_b, "bob").expect("lan host");
        let dir = tempfile::tempdir().unwrap();
        let (dht_process, dht) = dht_node(&srv, dir.path());
        Scene {
            dir,
            dht,
            publics,
            alice,
            bob,
            homes: (home_a, home_b),
            _dht: dht_process,
            lab,
        }
    }

    /// `disims run` on `host`, named `name`, with `extra` config.
    pub async fn gateway(&self, host: &Host, name: &str, extra: &str) -> LabGateway {
        start(host, &self.dht, self.dir.path(), name, extra).await
    }
}
