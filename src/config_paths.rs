//! Where the config comes from and what its paths mean: the default locations (XDG), the
//! file's permissions, `~` and relative
//! `data_dir`, and listen addresses given as host names. Pure but for the resolver, which
//! is passed in (tests give their own).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use super::{ConfigError, invalid};

/// `$XDG_CONFIG_HOME/disims/gateway.toml` (or `~/.config/...`).
pub fn default_config_path() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("disims").join("gateway.toml"))
}

/// `$XDG_DATA_HOME/disims` (or `~/.local/share/disims`).
pub fn default_data_dir() -> Option<PathBuf> {
    xdg_dir("XDG_DATA_HOME", ".local/share").map(|d| d.join("disims"))
}

fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        // The XDG spec says relative paths are invalid and must be ignored.
        Some(dir) if Path::new(&dir).is_absolute() => Some(PathBuf::from(dir)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(fallback)),
    }
}

/// Resolves a host name to socket addresses (the system's resolver, or a test's).
pub(super) type Resolver<'a> = &'a dyn Fn(&str) -> std::io::Result<Vec<SocketAddr>>;

pub(super) fn system_resolver(host_port: &str) -> std::io::Result<Vec<SocketAddr>> {
    use std::net::ToSocketAddrs;
    Ok(host_port.to_socket_addrs()?.collect())
}

/// A listen address: `IP:port`, or `host:port` with a host name that resolves (e.g.
/// `localhost:6667`); of several addresses the first IPv4 one is taken (else the first).
/// The rules on the address (loopback without a password) apply to the resolved one.
pub(super) fn listen_addr(
    key: &'static str,
    text: &str,
    resolve: Resolver,
) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = || {
        invalid(
            key,
            format!(
                "{text:?} is not an IP:port or host:port address (e.g. \"127.0.0.1:6667\", \
                 \"[::1]:6667\" or \"localhost:6667\")"
            ),
        )
    };
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    if port.parse::<u16>().is_err() || !is_host_name(host) {
        return Err(bad());
    }
    let addrs = resolve(text).map_err(|e| invalid(key, format!("cannot resolve {host:?}: {e}")))?;
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| invalid(key, format!("{host:?} resolves to no address")))
}

/// A DNS host name: letters, digits, `-` and `.`, not an IP address.
pub(super) fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.parse::<IpAddr>().is_err()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

/// A path from the config: `~` or `~/...` is under `home`; a relative path is joined to
/// `base` (the config file's directory; `None`: left relative).
pub(super) fn resolve_path(
    path: &Path,
    base: Option<&Path>,
    home: Option<&Path>,
) -> Result<PathBuf, String> {
    let text = path.to_string_lossy();
    let path = if text == "~" || text.starts_with("~/") {
        let home = home.ok_or_else(|| format!("{text:?} starts with ~ but HOME is not set"))?;
        match text.strip_prefix("~/") {
            Some(rest) => home.join(rest),
            None => home.to_path_buf(),
        }
    } else if text.starts_with('~') {
        return Err(format!(
            "{text:?}: only ~ and ~/ (your home) are expanded, not ~user; write the full path"
        ));
    } else {
        path.to_path_buf()
    };
    Ok(match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path,
    })
}

/// Where the configuration came from (the gateway logs it at start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// Read from this file.
    File(PathBuf),
    /// No file at the default path (`None`: no default path, as without HOME): defaults.
    Defaults(Option<PathBuf>),
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(path) => write!(f, "loaded config file {}", path.display()),
            ConfigSource::Defaults(Some(path)) => {
                write!(f, "no config file at {}, using defaults", path.display())
            }
            ConfigSource::Defaults(None) => {
                f.write_str("no config file (neither XDG_CONFIG_HOME nor HOME set), using defaults")
            }
        }
    }
}

/// Refuses a file that group or others can read or write (mode & 0o077), as ssh refuses
/// such private keys.
pub(super) fn check_private_file(path: &Path) -> Result<(), ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ConfigError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}
