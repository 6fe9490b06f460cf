//! The gateway's configuration: TOML in, a validated [`Config`] out.
//!
//! Every default lives here, in one place; `gateway.toml.example` documents the same
//! values (a test parses it). Unknown keys and bad values are refused with the key named.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::policy::address::DialScope;
use crate::policy::strangers::{self, Quota, RateBudget};

/// IRC listens on loopback only, unless a password is set.
pub const DEFAULT_IRC_LISTEN: &str = "127.0.0.1:6667";
/// A fixed peer port is easy to forward through a home router.
pub const DEFAULT_PEER_LISTEN: &str = "0.0.0.0:7667";
/// The public mainline DHT bootstrap routers (as in the `mainline` crate).
pub const DEFAULT_BOOTSTRAP: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "dht.libtorrent.org:25401",
    "relay.pkarr.org:6881",
];

/// Errors reading or validating the configuration; each names the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} does not exist (given with --config)")]
    Missing { path: PathBuf },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error(
        "no data directory: set `data_dir` in the config, or XDG_DATA_HOME or HOME in the environment"
    )]
    NoDataDir,
    #[error(
        "config file {path} holds `[irc] password` and is accessible by group or others \
         (mode {mode:o}); fix it with: chmod 600 {path}"
    )]
    Permissions { path: PathBuf, mode: u32 },
}

/// How the DHT node takes part in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DhtServerMode {
    /// Answer other nodes' queries from the start. Needed on private networks, where a node
    /// that is listed in routing tables but never answers slows every query down.
    Server,
    /// Start as a client and become a server only when reachable from outside (mainline's
    /// adaptive mode): right on the public DHT, where a laptop is often behind NAT.
    Adaptive,
}

/// The validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub data_dir: PathBuf,
    pub irc: IrcConfig,
    pub peer: PeerConfig,
    pub dht: DhtConfig,
    pub store: StoreConfig,
    pub contacts: ContactsConfig,
    pub relay: RelayConfig,
    pub transport: TransportConfig,
}

/// What happens to messages from peers who are not contacts (`[contacts] unknown`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UnknownSenders {
    /// Shown like any message; the first one of a new sender is announced in the control
    /// channel with its full key.
    #[default]
    Accept,
    /// Held (stored, not shown) until the user answers `accept <nick>` or `reject <nick>`.
    Ask,
    /// Acknowledged and discarded, silently.
    Drop,
}

impl UnknownSenders {
    /// The value as written in the config (and in the control channel's `set`).
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownSenders::Accept => "accept",
            UnknownSenders::Ask => "ask",
            UnknownSenders::Drop => "drop",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "accept" => Some(UnknownSenders::Accept),
            "ask" => Some(UnknownSenders::Ask),
            "drop" => Some(UnknownSenders::Drop),
            _ => None,
        }
    }
}

/// `[contacts]`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ContactsConfig {
    pub unknown: UnknownSenders,
    pub strangers: StrangerLimits,
}

/// What a peer that is not a contact may make the gateway take in (`[contacts]`; the
/// numbers and their reasons: [`crate::policy::strangers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StrangerLimits {
    /// Per stranger, across its sessions; `None`: not limited.
    pub rate: Option<RateBudget>,
    /// New senders shown per minute; further ones are held as with `ask`.
    pub new_senders_per_minute: u32,
}

impl Default for StrangerLimits {
    fn default() -> Self {
        Self {
            rate: Some(RateBudget::default()),
            new_senders_per_minute: strangers::DEFAULT_NEW_SENDERS_PER_MINUTE,
        }
    }
}

/// How long messages are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// A message not delivered within this time is dropped from the outbox, with a notice.
    pub expire_after: Duration,
    /// Received messages (already shown) are kept this long as history. Zero: a message's
    /// text is deleted as soon as a front end has written it to its client (its sender, id
    /// and times stay for `expire_after`, to recognise a resend).
    pub history: Duration,
    /// Bytes of history strangers' messages may hold, per sender and in all.
    pub stranger_quota: Quota,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            expire_after: Duration::from_secs(DEFAULT_EXPIRE_HOURS * 3600),
            history: Duration::from_secs(DEFAULT_HISTORY_DAYS * 86_400),
            stranger_quota: Quota::default(),
        }
    }
}

/// Default of `[store] expire_after_hours`: a week.
pub const DEFAULT_EXPIRE_HOURS: u64 = 7 * 24;
/// Default of `[store] history_days`.
pub const DEFAULT_HISTORY_DAYS: u64 = 365;

#[derive(Clone, PartialEq, Eq)]
pub struct IrcConfig {
    pub listen: SocketAddr,
    pub password: Option<String>,
    /// Lines a client may send per second, sustained (0: no limit). A client over it is
    /// read more slowly; nobody else notices.
    pub lines_per_second: u32,
    /// Lines a client may send at once before the rate applies.
    pub line_burst: u32,
}

/// Default of `[irc] lines_per_second`.
pub const DEFAULT_LINES_PER_SECOND: u32 = 100;
/// Default of `[irc] line_burst`.
pub const DEFAULT_LINE_BURST: u32 = 1000;

impl IrcConfig {
    /// The defaults, listening on `listen` without a password.
    pub fn local(listen: SocketAddr) -> Self {
        Self {
            listen,
            password: None,
            lines_per_second: DEFAULT_LINES_PER_SECOND,
            line_burst: DEFAULT_LINE_BURST,
        }
    }
}

impl std::fmt::Debug for IrcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IrcConfig")
            .field("listen", &self.listen)
            .field("password", &self.password.as_ref().map(|_| "<set>"))
            .field("lines_per_second", &self.lines_per_second)
            .field("line_burst", &self.line_burst)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub listen: SocketAddr,
    /// Addresses to publish; empty means "derive from `listen` and the DHT" (see daemon).
    pub advertise: Vec<SocketAddr>,
    /// Which addresses of peers' records may be dialled beyond public ones (`[peer] dial`,
    /// see [`crate::policy::address`]).
    pub dial: DialScope,
    /// Ask the home router to forward a public port to `listen` (PCP, NAT-PMP or UPnP-IGD), keep it, and
    /// publish the mapped address (`[peer] port_mapping`, default on; see [`crate::net`]).
    pub port_mapping: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DhtConfig {
    /// "host:port" strings, resolved when the DHT node starts.
    pub bootstrap: Vec<String>,
    pub listen: SocketAddr,
    pub server_mode: DhtServerMode,
    pub request_timeout: Duration,
}

#[path = "config_paths.rs"]
mod paths;
pub use paths::{ConfigSource, default_config_path, default_data_dir};
use paths::{
    Resolver, check_private_file, is_host_name, listen_addr, resolve_path, system_resolver,
};
#[path = "config_raw.rs"]
mod raw;
#[path = "config_relay.rs"]
mod relay;
#[path = "config_strangers.rs"]
mod strangers_budget;
#[path = "config_transport.rs"]
mod transport;
use raw::RawConfig;
pub use relay::{RelayConfig, Serve};
use strangers_budget::{quota, stranger_limits};
pub use transport::TransportConfig;

impl Config {
    /// The configuration `disims run` and `disims id` use: `explicit` (`--config PATH`),
    /// which must exist; else the default path, where a missing file means all defaults.
    pub fn load_chosen(explicit: Option<&Path>) -> Result<(Config, ConfigSource), ConfigError> {
        if let Some(path) = explicit {
            return Ok((Self::load(path)?, ConfigSource::File(path.to_path_buf())));
        }
        let Some(path) = default_config_path() else {
            return Ok((Self::from_toml("")?, ConfigSource::Defaults(None)));
        };
        match Self::load(&path) {
            Ok(config) => Ok((config, ConfigSource::File(path))),
            Err(ConfigError::Missing { .. }) => {
                Ok((Self::from_toml("")?, ConfigSource::Defaults(Some(path))))
            }
            Err(e) => Err(e),
        }
    }

    /// Reads `path`, which must exist. Relative paths in it (`data_dir`) are relative to
    /// the file's directory. A file that holds the IRC password must be private to its
    /// owner, as the identity key is.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let base = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let config =
            Self::parse(&text, base.as_deref(), &system_resolver).map_err(|e| match e {
                ConfigError::Parse { message, .. } => ConfigError::Parse {
                    path: path.to_path_buf(),
                    message,
                },
                other => other,
            })?;
        if config.irc.password.is_some() {
            check_private_file(path)?;
        }
        Ok(config)
    }

    /// Parses and validates TOML text (used by [`Config::load`] and tests); a relative
    /// `data_dir` stays relative (to the working directory).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::parse(text, None, &system_resolver)
    }

    /// Parses and validates: relative paths are joined to `base` (the config file's
    /// directory), listen host names are resolved with `resolve`.
    fn parse(text: &str, base: Option<&Path>, resolve: Resolver) -> Result<Config, ConfigError> {
        // The toml crate's message shows the line with a caret under the fault: keep its
        // line breaks.
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<config>"),
            message: e.to_string().trim_end().to_string(),
        })?;
        Self::validate(raw, base, resolve)
    }

    fn validate(
        raw: RawConfig,
        base: Option<&Path>,
        resolve: Resolver,
    ) -> Result<Config, ConfigError> {
        let data_dir = match raw.data_dir {
            Some(dir) if dir.as_os_str().is_empty() => {
                return Err(invalid("data_dir", "must not be empty"));
            }
            Some(dir) => {
                let home = std::env::var_os("HOME").filter(|h| !h.is_empty());
                resolve_path(&dir, base, home.as_deref().map(Path::new))
                    .map_err(|why| invalid("data_dir", why))?
            }
            None => default_data_dir().ok_or(ConfigError::NoDataDir)?,
        };

        let irc_listen = listen_addr(
            "irc.listen",
            raw.irc.listen.as_deref().unwrap_or(DEFAULT_IRC_LISTEN),
            resolve,
        )?;
        let password = raw.irc.password;
        if password.as_deref() == Some("") {
            return Err(invalid(
                "irc.password",
                "must not be empty (remove the key for no password)",
            ));
        }
        if password
            .as_deref()
            .is_some_and(|p| p.contains([' ', '\r', '\n', '\0']))
        {
            return Err(invalid(
                "irc.password",
                "must not contain spaces, CR, LF or NUL (IRC PASS takes one word)",
            ));
        }
        if !irc_listen.ip().is_loopback() {
            match password.as_deref() {
                None => {
                    return Err(invalid(
                        "irc.listen",
                        format!(
                            "{irc_listen} is not a loopback address: anyone who can reach it could read and \
                             send your messages. Set `[irc] password` too, or listen on 127.0.0.1"
                        ),
                    ));
                }
                Some(password) => {
                    crate::policy::irc::password_strength(password).map_err(|why| {
                        invalid(
                            "irc.password",
                            format!("{why} ([irc] listen is {irc_listen})"),
                        )
                    })?
                }
            }
        }

        let peer_listen = listen_addr(
            "peer.listen",
            raw.peer.listen.as_deref().unwrap_or(DEFAULT_PEER_LISTEN),
            resolve,
        )?;
        let advertise = raw
            .peer
            .advertise
            .unwrap_or_default()
            .iter()
            .map(|a| {
                let addr = socket_addr("peer.advertise", a)?;
                if !crate::directory::record::is_dialable(&addr) {
                    return Err(invalid(
                        "peer.advertise",
                        format!("{a} is not an address peers can dial (needs a specific unicast IP and a port)"),
                    ));
                }
                Ok(addr)
            })
            .collect::<Result<Vec<_>, _>>()?;
        if advertise.len() > crate::directory::record::MAX_ADDRS {
            return Err(invalid(
                "peer.advertise",
                format!(
                    "{} addresses; a record holds at most {}",
                    advertise.len(),
                    crate::directory::record::MAX_ADDRS
                ),
            ));
        }

        let bootstrap = match raw.dht.bootstrap {
            Some(list) => {
                for entry in &list {
                    validate_host_port("dht.bootstrap", entry)?;
                }
                list
            }
            None => DEFAULT_BOOTSTRAP.iter().map(|s| s.to_string()).collect(),
        };
        let dht_listen = socket_addr(
            "dht.listen",
            raw.dht.listen.as_deref().unwrap_or("0.0.0.0:0"),
        )?;
        if !dht_listen.is_ipv4() {
            return Err(invalid("dht.listen", "the mainline DHT is IPv4 only"));
        }
        let is_public = bootstrap
            .iter()
            .any(|b| DEFAULT_BOOTSTRAP.contains(&b.as_str()));
        let server_mode = match raw.dht.server_mode.as_deref().unwrap_or("auto") {
            "auto" if is_public => DhtServerMode::Adaptive,
            "auto" => DhtServerMode::Server,
            "server" => DhtServerMode::Server,
            "adaptive" => DhtServerMode::Adaptive,
            other => {
                return Err(invalid(
                    "dht.server_mode",
                    format!("{other:?} is not one of \"auto\", \"server\", \"adaptive\""),
                ));
            }
        };
        let request_timeout_ms = raw.dht.request_timeout_ms.unwrap_or(2000);
        if !(50..=60_000).contains(&request_timeout_ms) {
            return Err(invalid(
                "dht.request_timeout_ms",
                "must be between 50 and 60000",
            ));
        }

        let expire_hours = raw.store.expire_after_hours.unwrap_or(DEFAULT_EXPIRE_HOURS);
        if !(1..=24 * 365).contains(&expire_hours) {
            return Err(invalid(
                "store.expire_after_hours",
                "must be between 1 and 8760 (a year)",
            ));
        }
        // 0: nothing is kept once shown (see `StoreConfig::history`).
        let history_days = raw.store.history_days.unwrap_or(DEFAULT_HISTORY_DAYS);
        if history_days > 36_500 {
            return Err(invalid(
                "store.history_days",
                "must be between 0 (keep nothing once shown) and 36500",
            ));
        }
        if history_days != 0 && history_days * 24 < expire_hours {
            return Err(invalid(
                "store.history_days",
                "must cover store.expire_after_hours: a resend older than the history would show twice",
            ));
        }

        let lines_per_second = raw.irc.lines_per_second.unwrap_or(DEFAULT_LINES_PER_SECOND);
        let line_burst = raw.irc.line_burst.unwrap_or(DEFAULT_LINE_BURST);
        if line_burst == 0 || line_burst > 1_000_000 {
            return Err(invalid("irc.line_burst", "must be between 1 and 1000000"));
        }
        let dial = match raw.peer.dial.as_deref() {
            None => DialScope::default(),
            Some(value) => DialScope::parse(value).ok_or_else(|| {
                invalid(
                    "peer.dial",
                    format!("{value:?} is not one of \"public\", \"private\", \"loopback\""),
                )
            })?,
        };
        let unknown = match raw.contacts.unknown.as_deref() {
            None => UnknownSenders::default(),
            Some(value) => UnknownSenders::parse(value).ok_or_else(|| {
                invalid(
                    "contacts.unknown",
                    format!("{value:?} is not one of \"accept\", \"ask\", \"drop\""),
                )
            })?,
        };

        Ok(Config {
            data_dir,
            irc: IrcConfig {
                listen: irc_listen,
                password,
                lines_per_second,
                line_burst,
            },
            peer: PeerConfig {
                listen: peer_listen,
                advertise,
                dial,
                port_mapping: raw.peer.port_mapping.unwrap_or(true),
            },
            dht: DhtConfig {
                bootstrap,
                listen: dht_listen,
                server_mode,
                request_timeout: Duration::from_millis(request_timeout_ms),
            },
            store: StoreConfig {
                expire_after: Duration::from_secs(expire_hours * 3600),
                history: Duration::from_secs(history_days * 86_400),
                stranger_quota: quota(&raw.store)?,
            },
            contacts: ContactsConfig {
                unknown,
                strangers: stranger_limits(&raw.contacts)?,
            },
            relay: relay::relay_config(&raw.relay)?,
            transport: transport::transport_config(&raw.transport)?,
        })
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn socket_addr(key: &'static str, text: &str) -> Result<SocketAddr, ConfigError> {
    text.parse::<SocketAddr>().map_err(|_| {
        invalid(
            key,
            format!(
                "{text:?} is not an IP:port address (e.g. \"127.0.0.1:6667\" or \"[::1]:6667\")"
            ),
        )
    })
}

fn validate_host_port(key: &'static str, text: &str) -> Result<(), ConfigError> {
    let bad = || invalid(key, format!("{text:?} is not \"host:port\""));
    if text.parse::<SocketAddr>().is_ok() {
        return Ok(());
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let port_ok = port.parse::<u16>().is_ok_and(|p| p != 0);
    let host_ok = is_host_name(host);
    if port_ok && (host_ok || host.parse::<IpAddr>().is_ok()) {
        Ok(())
    } else {
        Err(bad())
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
