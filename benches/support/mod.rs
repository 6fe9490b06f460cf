//! Shared by the benchmarks: a DiSIMS gateway run as its own process (`disims run`), the
//! way a user runs it, so that its runtime and CPU are its own.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use disims::identity::PeerId;

/// A free TCP port on loopback (bound and released; fine for a benchmark).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// The gateway under test, as a child process.
pub struct GatewayProcess {
    child: Child,
    pub irc: SocketAddr,
    pub peer_addr: SocketAddr,
    pub id: PeerId,
    _dir: tempfile::TempDir,
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GatewayProcess {
    /// Starts `disims run` on free loopback ports, bootstrapping from `bootstrap`.
    pub fn start(bootstrap: SocketAddr) -> GatewayProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let (irc, peer) = (free_port(), free_port());
        let config = dir.path().join("gateway.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = \"{}\"\n[irc]\nlisten = \"127.0.0.1:{irc}\"\nlines_per_second = 0\n[peer]\nlisten = \"127.0.0.1:{peer}\"\ndial = \"loopback\"\n\
                 [dht]\nbootstrap = [\"{bootstrap}\"]\nlisten = \"127.0.0.1:0\"\n",
                dir.path().join("data").display()
            ),
        )
        .expect("config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_disims"))
            .args(["run", "--config"])
            .arg(&config)
            .env("RUST_LOG", "disims=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn disims");
        let mut nick = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().expect("stdout")),
            &mut nick,
        )
        .expect("nick");
        let id = PeerId::from_nick(nick.trim()).expect("the first line is the nick");
        GatewayProcess {
            child,
            irc: ([127, 0, 0, 1], irc).into(),
            peer_addr: ([127, 0, 0, 1], peer).into(),
            id,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time used so far (user + system), in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
        let fields: Vec<&str> = after.split_whitespace().collect();
        let get = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
        };
        get(11) + get(12)
    }
}
