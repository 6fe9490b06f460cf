//! Real IRC clients driven by tests: irssi through tmux (`send-keys`, `capture-pane`) and
//! WeeChat headless through its FIFO and its log files. The clients come from Debian's
//! packages (installed by `.ci/run`); [`clients_available`] says SKIPPED without them,
//! except under `CI=true`, where they must be there.

use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use super::WAIT;

/// Between two looks at a client's screen or logs.
const POLL: Duration = Duration::from_millis(100);

/// True when every tool is on PATH. Otherwise says SKIPPED (false), or panics under CI.
pub fn clients_available(test: &str, tools: &[&str]) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| !std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: CI=true but {missing:?} not on PATH (.ci/run installs them)");
    }
    // Straight to stderr: the test harness would hide `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test} needs irssi/tmux/weechat-headless (installed by .ci/run)"
    );
    false
}

/// Polls `probe` until it gives a value; after [`WAIT`] panics with what it last saw.
pub async fn poll<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(state) if tokio::time::Instant::now() >= deadline => {
                panic!("timed out waiting for {what}; last seen:\n{state}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

/// irssi in its own tmux server; the server (and irssi) is killed on drop, also on failure.
pub struct Irssi {
    socket: String,
    _home: TempDir,
}

impl Irssi {
    pub fn start(irc: SocketAddr) -> Irssi {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "disims-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let home = tempfile::tempdir().expect("irssi home");
        // No servers or networks: irssi only ever talks to our gateway.
        fs::write(
            home.path().join("config"),
            "servers = ( );\nchatnets = { };\nchannels = ( );\nsettings = {\n  \
             core = { real_name = \"tester\"; user_name = \"tester\"; nick = \"tester\"; };\n};\n",
        )
        .expect("irssi config");
        let command = format!(
            "irssi --home={} -n tester -c {} -p {}",
            home.path().display(),
            irc.ip(),
            irc.port()
        );
        let irssi = Irssi {
            socket,
            _home: home,
        };
        irssi.tmux(&[
            "new-session",
            "-d",
            "-s",
            "i",
            "-x",
            "250",
            "-y",
            "50",
            &command,
        ]);
        irssi
    }

    pub fn tmux(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .args(["-u", "-f", "/dev/null", "-L", &self.socket])
            .args(args)
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(output.status.success(), "tmux {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The active window as shown.
    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", "i"])
    }

    /// Types a line into irssi's input and presses Enter.
    pub fn type_line(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "i", "-l", text]);
        self.tmux(&["send-keys", "-t", "i", "Enter"]);
    }

    /// Waits until the active window shows `text`; returns the screen.
    pub async fn wait_for(&self, what: &str, text: &str) -> String {
        poll(what, || self.shows(text)).await
    }

    /// The screen, as `Ok` if it shows `text`.
    fn shows(&self, text: &str) -> Result<String, String> {
        let screen = self.screen();
        if screen.contains(text) {
            Ok(screen)
        } else {
            Err(screen)
        }
    }

    /// Waits for the welcome, the key nick adopted, our record on the DHT and the control
    /// channel; leaves the status window active.
    pub async fn wait_ready(&self, nick: &str) {
        // The status bar shows irssi's own nick: it must have adopted the key nick of 001.
        self.wait_for("irssi to take the key nick", &format!("[{nick}]"))
            .await;
        self.wait_for("irssi to register", "Your nick is your key")
            .await;
        self.wait_for("the gateway to publish", "DHT: published")
            .await;
        self.wait_in("&disims", "irssi to join &disims", "DiSIMS control channel")
            .await;
        self.goto("1");
    }

    /// Makes a window active: by number, or by the channel or nick it holds.
    pub fn goto(&self, window: &str) {
        self.type_line(&format!("/window goto {window}"));
    }

    /// Waits until `window` exists and shows `text` (going to it again every second, as it
    /// may not exist yet); returns the screen.
    pub async fn wait_in(&self, window: &str, what: &str, text: &str) -> String {
        let mut polls = 0u32;
        poll(what, || {
            if polls.is_multiple_of(10) {
                self.goto(window);
            }
            polls += 1;
            self.shows(text)
        })
        .await
    }
}

impl Drop for Irssi {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// weechat-headless with one server `s`; killed on drop, also on failure.
pub struct Weechat {
    child: Child,
    dir: TempDir,
}

impl Weechat {
    pub fn start(irc: SocketAddr) -> Weechat {
        Weechat::start_with(irc, &[])
    }

    /// Starts WeeChat with `setup` (commands such as `/set irc.server.s...`) run after the
    /// server is added and before it connects.
    pub fn start_with(irc: SocketAddr, setup: &[&str]) -> Weechat {
        let dir = tempfile::tempdir().expect("weechat dir");
        let stdout = fs::File::create(dir.path().join("stdout.log")).expect("weechat stdout");
        let setup: String = setup.iter().map(|c| format!("{c};")).collect();
        let commands = format!(
            "/set logger.file.flush_delay 0;/server add s {}/{} -notls -nicks=tester;{setup}/connect s",
            irc.ip(),
            irc.port()
        );
        let child = Command::new("weechat-headless")
            .arg("--dir")
            .arg(dir.path())
            .args(["--stdout", "-r", &commands])
            .env("LANG", "C.UTF-8")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .expect("start weechat-headless");
        Weechat { child, dir }
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.dir
            .path()
            .join("logs")
            .join(format!("{name}.weechatlog"))
    }

    /// Waits until a log file holds `text`; returns the log.
    pub async fn wait_for_log(&self, what: &str, name: &str, text: &str) -> String {
        let path = self.log(name);
        poll(what, || {
            let log = fs::read_to_string(&path).unwrap_or_default();
            if log.contains(text) {
                Ok(log)
            } else {
                Err(format!("{}:\n{log}\n{}", path.display(), self.listing()))
            }
        })
        .await
    }

    pub fn listing(&self) -> String {
        let logs = fs::read_dir(self.dir.path().join("logs"))
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        format!("log files: {logs:?}")
    }

    /// Writes one command into WeeChat's FIFO (`BUFFER *TEXT`).
    pub fn fifo(&self, line: &str) {
        let fifo = fs::read_dir(self.dir.path())
            .expect("weechat dir")
            .flatten()
            .map(|e| e.path())
            .find(|p| file_name_starts(p, "weechat_fifo"))
            .expect("weechat FIFO");
        let mut fifo = fs::OpenOptions::new()
            .write(true)
            .open(fifo)
            .expect("open FIFO");
        fifo.write_all(format!("{line}\n").as_bytes())
            .expect("write FIFO");
    }
}

fn file_name_starts(path: &Path, prefix: &str) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
}

impl Drop for Weechat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
