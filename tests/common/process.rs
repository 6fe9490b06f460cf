//! `disims run` and `disims dht-node` as child processes, for the tests that kill a gateway
//! with SIGKILL or run it in another network namespace. A [`Process`] is killed and reaped
//! when dropped, so a failing test leaves nothing running.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;

use super::WAIT;

/// A child process; SIGKILLed and reaped on drop.
pub struct Process {
    child: Child,
    /// Where its stderr goes (shown when a test fails to start it).
    stderr: PathBuf,
}

impl Process {
    /// Starts `command` with stderr into `stderr_file` and returns once the process printed
    /// its first line on stdout (`disims run` prints its nick, `disims dht-node` its
    /// address), with that line. Panics, showing the stderr, if it exits or stays silent
    /// for [`WAIT`]. The rest of its stdout is read and dropped, so it never blocks.
    pub fn start(command: Command, stderr_file: &Path) -> (Process, String) {
        Self::start_at(command, stderr_file, |_| true)
    }

    /// [`Process::start`], returning once a line on stdout matches `first` (skipping the
    /// lines before it, e.g. the test harness's when a test binary runs as a helper).
    pub fn start_at(
        mut command: Command,
        stderr_file: &Path,
        first: fn(&str) -> bool,
    ) -> (Process, String) {
        let stderr = std::fs::File::create(stderr_file).expect("stderr file");
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let found = lines.by_ref().map_while(Result::ok).find(|l| first(l));
            let _ = tx.send(found);
            for _ in lines {}
        });
        let process = Process {
            child,
            stderr: stderr_file.to_path_buf(),
        };
        match rx.recv_timeout(WAIT) {
            Ok(Some(line)) => (process, line.trim().to_string()),
            _ => panic!(
                "{command:?} did not start; its stderr:\n{}",
                process.stderr_text()
            ),
        }
    }

    /// SIGKILL: no shutdown, no Close to peers, nothing flushed; then reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (a graceful stop), then waits up to [`WAIT`] for the process to exit;
    /// returns whether it exited with success.
    pub fn terminate(&mut self) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(status)) => return status.success(),
                Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
                Err(_) => return false,
            }
        }
        false
    }

    /// The operating system's id of the process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `disims` binary under test.
pub fn disims() -> &'static str {
    env!("CARGO_BIN_EXE_disims")
}

/// `disims dht-node` on 127.0.0.1 (port 0), joining `bootstrap` (none: the first node),
/// stderr in `dir/<name>.stderr`; returns it and the address it printed.
pub fn dht_node(dir: &Path, name: &str, bootstrap: &[SocketAddr]) -> (Process, SocketAddr) {
    let mut command = Command::new(disims());
    command.args(["dht-node", "--listen", "127.0.0.1:0"]);
    for node in bootstrap {
        command.arg("--bootstrap").arg(node.to_string());
    }
    let (node, addr) = Process::start(command, &dir.join(format!("{name}.stderr")));
    (node, addr.parse().expect("the node prints its address"))
}

/// A port that was free a moment ago (for a gateway process that must come back on the
/// same port; everything else binds port 0).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// What a `disims run` config file says; written by [`GatewayToml::write`].
pub struct GatewayToml<'a> {
    pub data_dir: &'a Path,
    pub irc_listen: SocketAddr,
    /// Required when `irc_listen` is not loopback.
    pub irc_password: Option<&'a str>,
    pub peer_listen: SocketAddr,
    pub advertise: Vec<SocketAddr>,
    pub dht_bootstrap: Vec<String>,
    pub dht_listen: SocketAddr,
}

impl GatewayToml<'_> {
    /// Writes the config to `path` (short DHT timeouts, as on a test network; no port
    /// mapping: the host's own router is never asked; peers may be
    /// dialled on loopback and private ranges: `[peer] dial = "loopback"`, as the gateways
    /// of a test run on one machine or in namespaces it made).
    pub fn write(&self, path: &Path) {
        let quoted = |items: Vec<String>| {
            items
                .iter()
                .map(|i| format!("\"{i}\""))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let password = self
            .irc_password
            .map(|p| format!("password = \"{p}\"\n"))
            .unwrap_or_default();
        let text = format!(
            "data_dir = \"{data}\"\n\
             [irc]\nlisten = \"{irc}\"\n{password}\
             [peer]\nlisten = \"{peer}\"\nadvertise = [{advertise}]\ndial = \"loopback\"\n\
             port_mapping = false\n\
             [dht]\nbootstrap = [{bootstrap}]\nlisten = \"{dht}\"\nrequest_timeout_ms = 500\n",
            data = self.data_dir.display(),
            irc = self.irc_listen,
            peer = self.peer_listen,
            advertise = quoted(self.advertise.iter().map(ToString::to_string).collect()),
            bootstrap = quoted(self.dht_bootstrap.clone()),
            dht = self.dht_listen,
        );
        std::fs::write(path, text).expect("write the gateway config");
        // A config holding the IRC password must be private (the gateway checks).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .expect("chmod 600 the gateway config");
    }
}

/// A `disims run` process on loopback, with its data in `dir/<name>`: its DHT joins
/// `bootstrap`, its IRC listener is on `irc`, its peer port is `peer` (advertised as is).
/// Returns it, once it has printed its nick, with the identity that nick encodes.
pub fn gateway(
    dir: &Path,
    name: &str,
    bootstrap: &[SocketAddr],
    irc: SocketAddr,
    peer: SocketAddr,
) -> (Process, disims::identity::PeerId) {
    let config = dir.join(format!("{name}.toml"));
    GatewayToml {
        data_dir: &dir.join(name),
        irc_listen: irc,
        irc_password: None,
        peer_listen: peer,
        advertise: vec![peer],
        dht_bootstrap: bootstrap.iter().map(ToString::to_string).collect(),
        dht_listen: "127.0.0.1:0".parse().unwrap(),
    }
    .write(&config);
    let (process, nick) = Process::start(
        run_command(&[], &config),
        &dir.join(format!("{name}.stderr")),
    );
    let peer = disims::identity::PeerId::from_nick(&nick).expect("the gateway prints its nick");
    (process, peer)
}

/// `disims run --config <config>`, run through `prefix` (e.g. `ip netns exec NS`) if any.
pub fn run_command(prefix: &[&str], config: &Path) -> Command {
    let mut command = match prefix.split_first() {
        Some((program, args)) => {
            let mut c = Command::new(program);
            c.args(args).arg(disims());
            c
        }
        None => Command::new(disims()),
    };
    command
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "disims=info,mainline=warn");
    command
}

/// How many messages a gateway's outbox holds for `peer`, read from its data dir while it
/// runs (WAL lets another connection read).
pub fn outbox_len(data_dir: &std::path::Path, peer: &disims::identity::PeerId) -> usize {
    disims::store::Store::open(data_dir)
        .unwrap()
        .outbox(peer)
        .unwrap()
        .len()
}
