//! `disims run` turns core dumps off before it loads anything: the real binary is started
//! and its /proc entries read.
//!
//! - RLIMIT_CORE: /proc/<pid>/limits shows "Max core file size" 0 (soft and hard).
//! - Non-dumpable: no /proc field says it, but the kernel makes a non-dumpable process's
//!   /proc/<pid>/ entries owned by root. That is observable only for a process that does not
//!   run as root: so when the test runs as root it starts the gateway as `nobody` (65534),
//!   and otherwise as the test's own user; either way the entries must be owned by uid 0
//!   while the process's uid is not 0. (Where neither is possible, it says SKIPPED for that
//!   half.)

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;

use common::process::{self, GatewayToml, Process};

const NOBODY: u32 = 65534;

fn own_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .expect("/proc/self")
}

/// The soft and hard "Max core file size" of a process, as /proc shows them.
fn core_limit(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core file size line");
    let fields: Vec<&str> = line["Max core file size".len()..]
        .split_whitespace()
        .collect();
    (fields[0].to_string(), fields[1].to_string())
}

/// The real uid of a process (first field of "Uid:" in /proc/<pid>/status).
fn process_uid(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
        .expect("a Uid line")
}

fn start(dir: &Path, testnet: &mainline::Testnet, as_nobody: bool) -> Process {
    let data = dir.join("data");
    let config = dir.join("gateway.toml");
    GatewayToml {
        data_dir: &data,
        irc_listen: "127.0.0.1:0".parse().unwrap(),
        irc_password: None,
        peer_listen: "127.0.0.1:0".parse().unwrap(),
        advertise: Vec::new(),
        dht_bootstrap: testnet.bootstrap.clone(),
        dht_listen: "127.0.0.1:0".parse().unwrap(),
    }
    .write(&config);
    let mut command = process::run_command(&[], &config);
    if as_nobody {
        std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).expect("chown");
        std::os::unix::fs::chown(&config, Some(NOBODY), Some(NOBODY)).expect("chown");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        command.uid(NOBODY).gid(NOBODY);
    }
    Process::start(command, &dir.join("stderr")).0
}

#[test]
fn the_gateway_process_has_core_dumps_off_and_is_not_dumpable() {
    let testnet = mainline::Testnet::builder(1).build().expect("testnet");
    let dir = tempfile::tempdir().unwrap();
    let as_nobody = own_uid() == 0;
    let gateway = start(dir.path(), &testnet, as_nobody);
    let pid = gateway.pid();

    assert_eq!(
        core_limit(pid),
        ("0".to_string(), "0".to_string()),
        "RLIMIT_CORE of the running gateway"
    );

    let uid = process_uid(pid);
    if uid == 0 {
        println!("SKIPPED the dumpable half: the gateway runs as root, where /proc shows nothing");
        return;
    }
    let owner = std::fs::metadata(format!("/proc/{pid}/status"))
        .expect("status")
        .uid();
    assert_eq!(
        owner, 0,
        "the /proc entries of a non-dumpable process belong to root (the gateway runs as {uid})"
    );
}
