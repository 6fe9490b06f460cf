//! For tests that build network namespaces (root and iproute2): run `ip`, tell whether we are
//! root, and skip with a clear message where namespaces cannot be made, except under
//! `CI=true`, where such a test must run and fails instead.

use std::io::Write;
use std::process::Command;

/// Runs `ip` with `args`; the error says what failed.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether this process runs as root (from /proc: no libc needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Skips the test `test` with a clear message, or fails when CI must run it.
pub fn skip(test: &str, why: &str) {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test} must run in CI (CI=true) but cannot: {why}");
    }
    // Straight to stderr: the test harness would hide `eprintln!` of a passing test.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: needs root and iproute2 (ip netns): {why}"
    );
}
