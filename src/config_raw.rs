//! The config file as written: every field optional, unknown keys refused (serde). `config.rs`
//! validates these into [`super::Config`], naming the key of any bad value.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) data_dir: Option<PathBuf>,
    #[serde(default)]
    pub(super) irc: RawIrc,
    #[serde(default)]
    pub(super) peer: RawPeer,
    #[serde(default)]
    pub(super) dht: RawDht,
    #[serde(default)]
    pub(super) store: RawStore,
    #[serde(default)]
    pub(super) contacts: RawContacts,
    #[serde(default)]
    pub(super) relay: RawRelay,
    #[serde(default)]
    pub(super) transport: RawTransport,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTransport {
    pub(super) accept_v1: Option<bool>,
    pub(super) padding: Option<u64>,
    pub(super) frame_padding: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRelay {
    pub(super) serve: Option<String>,
    #[serde(rename = "use")]
    pub(super) use_relays: Option<Vec<String>>,
    pub(super) keep: Option<u64>,
    pub(super) plain_control: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContacts {
    pub(super) unknown: Option<String>,
    pub(super) stranger_bytes_per_second: Option<u64>,
    pub(super) stranger_burst_bytes: Option<u64>,
    pub(super) new_senders_per_minute: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub(super) expire_after_hours: Option<u64>,
    pub(super) history_days: Option<u64>,
    pub(super) stranger_quota_mib: Option<u64>,
    pub(super) stranger_quota_per_sender_mib: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIrc {
    pub(super) listen: Option<String>,
    pub(super) password: Option<String>,
    pub(super) lines_per_second: Option<u32>,
    pub(super) line_burst: Option<u32>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPeer {
    pub(super) listen: Option<String>,
    pub(super) advertise: Option<Vec<String>>,
    pub(super) dial: Option<String>,
    pub(super) port_mapping: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDht {
    pub(super) bootstrap: Option<Vec<String>>,
    pub(super) listen: Option<String>,
    pub(super) server_mode: Option<String>,
    pub(super) request_timeout_ms: Option<u64>,
}
