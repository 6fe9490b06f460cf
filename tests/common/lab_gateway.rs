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
