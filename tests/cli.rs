//! The `disims` binary as a user meets it, each test with its own temporary HOME (no XDG
//! variables): the data dir lock, `--config` and the paths in it, `disims id` creating
//! nothing unless asked, logs without colours in a pipe, and error texts printed once and
//! with their line breaks.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use common::WAIT;
use common::process::{Process, disims};

/// `disims <args>` with HOME at `home` and no XDG variables; waits for it to exit.
fn run(home: &Path, args: &[&str]) -> Output {
    command(home, args).output().expect("run disims")
}

fn command(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(disims());
    c.args(args)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("RUST_LOG", "disims=info,mainline=warn")
        .stdin(Stdio::null());
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A gateway config on loopback, ports 0, no DHT bootstrap (nothing leaves the machine).
fn gateway_config(path: &Path, data_dir: &str) {
    std::fs::write(
        path,
        format!(
            "data_dir = \"{data_dir}\"\n[irc]\nlisten = \"127.0.0.1:0\"\n\
             [peer]\nlisten = \"127.0.0.1:0\"\n[dht]\nbootstrap = []\nlisten = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
}

#[test]
fn id_creates_nothing_unless_asked_and_names_the_data_dir() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join(".local/share/disims");
    let out = run(home.path(), &["id"]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "no nick without an identity");
    assert!(
        err.contains(&format!("no identity in data dir {}", data.display())),
        "{err}"
    );
    assert!(err.contains("disims id --create"), "{err}");
    assert!(err.contains("XDG_DATA_HOME=/var/lib"), "{err}");
    assert!(
        !data.join("identity.key").exists(),
        "`disims id` created a key"
    );

    let created = run(home.path(), &["id", "--create"]);
    assert!(created.status.success(), "{}", text(&created.stderr));
    let nick = text(&created.stdout).trim().to_string();
    assert_eq!(nick.len(), 52);
    assert!(data.join("identity.key").exists());

    let again = run(home.path(), &["id"]);
    assert!(again.status.success());
    assert_eq!(text(&again.stdout).trim(), nick);
    let err = text(&again.stderr);
    assert!(
        err.contains(&format!("read from data dir {}", data.display())),
        "{err}"
    );
    assert!(err.contains("no config file at"), "{err}");
}

#[test]
fn an_explicit_config_must_exist() {
    let home = tempfile::tempdir().unwrap();
    let missing = home.path().join("nope.toml");
    for cmd in ["id", "run"] {
        let out = run(home.path(), &[cmd, "--config", missing.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{cmd}: {err}");
        assert!(
            err.contains(&format!("config file {} does not exist", missing.display())),
            "{cmd}: {err}"
        );
    }
    assert!(
        !home.path().join(".local").exists(),
        "nothing may be created for a missing config"
    );
}

#[test]
fn tilde_and_relative_data_dirs() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("tilde.toml");
    std::fs::write(&config, "data_dir = \"~/chats\"\n").unwrap();
    let out = run(
        home.path(),
        &["id", "--create", "--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(home.path().join("chats/identity.key").exists());
    assert!(!home.path().join("~").exists());

    // Relative to the config file's directory, whatever the working directory.
    let etc = home.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    let config = etc.join("relative.toml");
    std::fs::write(&config, "data_dir = \"state/disims\"\n").unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let out = command(
        home.path(),
        &["id", "--create", "--config", config.to_str().unwrap()],
    )
    .current_dir(elsewhere.path())
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(etc.join("state/disims/identity.key").exists());
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

#[test]
fn toml_errors_keep_their_lines_and_identity_errors_print_once() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("bad.toml");
    std::fs::write(&config, "[irc]\nlisten = 3\n").unwrap();
    let err = text(&run(home.path(), &["id", "--config", config.to_str().unwrap()]).stderr);
    assert!(err.contains("\n2 | listen = 3\n"), "{err}");
    assert!(err.contains("^"), "{err}");

    let data = home.path().join("open");
    std::fs::create_dir(&data).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let config = home.path().join("open.toml");
    gateway_config(&config, data.to_str().unwrap());
    let out = run(home.path(), &["run", "--config", config.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(
        err.matches("is writable by group or others").count(),
        1,
        "{err}"
    );
}

/// Starts `disims run` with stderr into a pipe; returns once it logged "gateway started",
/// with everything it wrote to stderr so far.
fn start_piped(home: &Path, config: &Path) -> (std::process::Child, String) {
    let mut child = command(home, &["run", "--config", config.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("gateway started") {
                let _ = tx.send(seen.clone());
            }
        }
    });
    let seen = rx.recv_timeout(WAIT).expect("the gateway starts");
    (child, seen)
}

#[test]
fn one_gateway_per_data_dir_and_plain_logs_in_a_pipe() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let config = home.path().join("gateway.toml");
    gateway_config(&config, data.to_str().unwrap());

    let (mut first, log) = start_piped(home.path(), &config);
    assert!(!log.contains('\x1b'), "colour codes in a pipe: {log:?}");
    assert!(
        log.contains(&format!("loaded config file {}", config.display())),
        "{log}"
    );

    // A second gateway on the same data dir is refused, naming the first one.
    let second = run(home.path(), &["run", "--config", config.to_str().unwrap()]);
    let err = text(&second.stderr);
    assert!(!second.status.success());
    assert!(
        err.contains(&format!(
            "data dir {} is in use by process {}",
            data.display(),
            first.id()
        )),
        "{err}"
    );
    // Reading the nick is fine meanwhile.
    let id = run(home.path(), &["id", "--config", config.to_str().unwrap()]);
    assert!(id.status.success(), "{}", text(&id.stderr));

    // A gateway stopped with SIGTERM releases the lock: the next one starts.
    let status = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(first.wait().unwrap().success());
    let stderr = home.path().join("third.stderr");
    let (mut third, nick) = Process::start(
        command(home.path(), &["run", "--config", config.to_str().unwrap()]),
        &stderr,
    );
    assert_eq!(nick, text(&id.stdout).trim());
    // SIGKILL too: the kernel drops the lock with the process.
    third.kill();
    let (_fourth, nick) = Process::start(
        command(home.path(), &["run", "--config", config.to_str().unwrap()]),
        &stderr,
    );
    assert_eq!(nick, text(&id.stdout).trim());
}
