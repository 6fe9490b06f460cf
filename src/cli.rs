//! What the `disims` command line says, as pure functions (main.rs does the IO): the
//! error chain without repeats, where to point an IRC client, and what `disims id` says
//! about the data dir it read.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

/// The data dir of the systemd unit (contrib/disims.service: `XDG_DATA_HOME=%S`, with
/// `StateDirectory=disims`).
pub const UNIT_DATA_DIR: &str = "/var/lib/disims";

/// How to read the systemd unit's nick from a root shell.
pub const UNIT_ID_COMMAND: &str =
    "sudo env XDG_DATA_HOME=/var/lib disims id --config /etc/disims/gateway.toml";

/// An error and its causes on one line, `a: b: c`, leaving out a cause whose text is
/// already there (an error that prints its source, as `"{path}: {source}"` does, would
/// otherwise show it twice).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let part = c.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = c.source();
    }
    text
}

/// Where an IRC client on this machine connects to reach a listener on `bound`: the
/// address itself, or loopback with a note when it is the unspecified address (0.0.0.0
/// and [::] are where one listens, not where one connects).
pub fn connect_hint(bound: SocketAddr) -> String {
    match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => format!(
            "{} (listening on every IPv4 address of this machine, {bound})",
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port())
        ),
        IpAddr::V6(ip) if ip.is_unspecified() => format!(
            "{} (listening on every address of this machine, {bound})",
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), bound.port())
        ),
        _ => bound.to_string(),
    }
}

/// `disims id` with no identity in `data_dir`: where it looked and how to go on.
pub fn no_identity(data_dir: &Path, config: &str) -> String {
    format!(
        "no identity in data dir {dir} ({config}): there is no {dir}/identity.key.\n\
         - If your gateway runs with another data dir, read that one: `disims id --config \
         <its config>`, or for the systemd unit (data dir {UNIT_DATA_DIR}): \
         `{UNIT_ID_COMMAND}`.\n\
         - To make a new identity here: `disims id --create` (or start `disims run`).",
        dir = data_dir.display(),
    )
}

/// A note when another data dir on this machine holds an identity too (the systemd
/// unit's, `unit_dir`): the nick printed is not that gateway's.
pub fn other_identity_note(read: &Path, unit_dir: &Path) -> Option<String> {
    let same = match (read.canonicalize(), unit_dir.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => read == unit_dir,
    };
    if same || !unit_dir.join(crate::identity::KEY_FILE).exists() {
        return None;
    }
    Some(format!(
        "note: {unit} holds another identity (the systemd unit's gateway); if that is the \
         gateway your friends should reach, its nick is what `{UNIT_ID_COMMAND}` prints, \
         not the one above",
        unit = unit_dir.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("identity key /d/identity.key: {0}")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapper(#[source] Outer);

    #[test]
    fn a_cause_already_in_the_text_is_not_repeated() {
        let io = || std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        assert_eq!(
            error_chain(&Wrapper(Outer(io()))),
            "identity key /d/identity.key: denied"
        );
        #[derive(Debug, thiserror::Error)]
        #[error("cannot start")]
        struct Plain(#[source] std::io::Error);
        assert_eq!(error_chain(&Plain(io())), "cannot start: denied");
    }

    #[test]
    fn an_unspecified_listen_address_is_not_where_to_connect() {
        assert_eq!(
            connect_hint("0.0.0.0:6690".parse().unwrap()),
            "127.0.0.1:6690 (listening on every IPv4 address of this machine, 0.0.0.0:6690)"
        );
        assert_eq!(
            connect_hint("[::]:6690".parse().unwrap()),
            "[::1]:6690 (listening on every address of this machine, [::]:6690)"
        );
        assert_eq!(
            connect_hint("127.0.0.1:6667".parse().unwrap()),
            "127.0.0.1:6667"
        );
    }

    #[test]
    fn the_units_identity_is_pointed_out_when_another_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let (mine, unit) = (dir.path().join("mine"), dir.path().join("unit"));
        std::fs::create_dir_all(&unit).unwrap();
        assert_eq!(other_identity_note(&mine, &unit), None);
        std::fs::write(unit.join(crate::identity::KEY_FILE), [0u8; 32]).unwrap();
        let note = other_identity_note(&mine, &unit).unwrap();
        assert!(note.contains(&unit.display().to_string()), "{note}");
        assert_eq!(other_identity_note(&unit, &unit), None);
    }
}
