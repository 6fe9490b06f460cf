//! What the process does to itself before it holds a secret: no core dumps. A core dump of
//! the gateway would hold the identity key, session keys and plaintext, and could land in a
//! world-readable place (or with systemd-coredump, in the journal's storage).
//!
//! Two independent switches, so that one failing leaves the other: the core-file size limit
//! (RLIMIT_CORE) goes to 0, and on Linux the process is made non-dumpable
//! (`prctl(PR_SET_DUMPABLE, 0)`), which also keeps other processes of the same user from
//! attaching a debugger or reading `/proc/<pid>/mem` and `environ`.

/// Why core dumps could not be turned off.
#[derive(Debug, thiserror::Error)]
pub enum HardeningError {
    #[error(
        "cannot turn core dumps off (a dump would hold the identity key and messages): \
         RLIMIT_CORE: {limit}; PR_SET_DUMPABLE: {dumpable}. Run with `ulimit -c 0` \
         (systemd: LimitCORE=0)"
    )]
    CoreDumps { limit: String, dumpable: String },
}

/// What [`disable_core_dumps`] managed; a switch that failed says why.
#[derive(Debug)]
pub struct CoreDumpsOff {
    /// RLIMIT_CORE is 0 (soft and hard), or why not.
    pub limit: Result<(), String>,
    /// The process is not dumpable, or why not.
    pub not_dumpable: Result<(), String>,
}

/// Turns core dumps off for this process. Fails only when neither switch could be set; one
/// of the two is enough to stop a dump (a non-dumpable process does not dump core while
/// `fs.suid_dumpable` is 0, the default; RLIMIT_CORE 0 stops the others), so a single
/// failure is returned for the caller to warn about.
pub fn disable_core_dumps() -> Result<CoreDumpsOff, HardeningError> {
    let off = CoreDumpsOff {
        limit: core_limit_zero(),
        not_dumpable: not_dumpable(),
    };
    match (&off.limit, &off.not_dumpable) {
        (Err(limit), Err(dumpable)) => Err(HardeningError::CoreDumps {
            limit: limit.clone(),
            dumpable: dumpable.clone(),
        }),
        _ => Ok(off),
    }
}

/// RLIMIT_CORE to 0, soft and hard (lowering needs no privilege). Under a seccomp filter
/// that forbids setrlimit (systemd's `~@resources`), the limit set by the service manager
/// (`LimitCORE=0`) is read back instead.
fn core_limit_zero() -> Result<(), String> {
    let set = rlimit::Resource::CORE.set(0, 0);
    match rlimit::Resource::CORE.get() {
        Ok((0, _)) => Ok(()),
        Ok((soft, _)) => Err(match set {
            Err(e) => format!("cannot set it ({e}), and it is {soft}"),
            Ok(()) => format!("it is still {soft}"),
        }),
        Err(e) => Err(format!("cannot read it back: {e}")),
    }
}

#[cfg(target_os = "linux")]
fn not_dumpable() -> Result<(), String> {
    use rustix::process::{DumpableBehavior, dumpable_behavior, set_dumpable_behavior};
    set_dumpable_behavior(DumpableBehavior::NotDumpable).map_err(|e| e.to_string())?;
    match dumpable_behavior() {
        Ok(DumpableBehavior::NotDumpable) => Ok(()),
        Ok(other) => Err(format!("still {other:?}")),
        Err(e) => Err(format!("cannot read it back: {e}")),
    }
}

#[cfg(not(target_os = "linux"))]
fn not_dumpable() -> Result<(), String> {
    Err("only available on Linux".to_string())
}
