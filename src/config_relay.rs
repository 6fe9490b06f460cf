//! `[relay]`: whether this gateway relays for others, and which relays it uses itself when
//! it cannot be reached directly (issue 13; docs/protocol.md, "Relays").

use crate::identity::PeerId;
pub use crate::policy::relay::Serve;

use super::raw::RawRelay;
use super::{ConfigError, invalid};

/// Reservations a gateway that cannot be reached directly keeps by default.
pub const DEFAULT_KEEP: usize = 2;
/// At most this many (a record lists 4 relays at most).
pub const MAX_KEEP: usize = crate::directory::record_v2::MAX_RELAYS;
/// At most this many relays in `[relay] use`.
pub const MAX_USE: usize = 16;

/// The validated `[relay]` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayConfig {
    /// Whom this gateway relays for (`serve`, default `"contacts"`).
    pub serve: Serve,
    /// Relays to use first, by nick (`use`), before contacts that serve and relays found in
    /// the DHT.
    pub use_relays: Vec<PeerId>,
    /// Reservations to keep while not reachable directly (`keep`, 0 to 4; 0: never use a
    /// relay).
    pub keep: usize,
    /// Whether a serving gateway answers plain (version 1) relay control records
    /// (`plain_control`, default true during the transition to version 2): old gateways
    /// reserve and dial with them, and their plain Reserve is answered with a Challenge that
    /// names this relay. False: silence to every plain relay record, as to a prober; this
    /// gateway's own relay use is always sealed.
    pub plain_control: bool,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            serve: Serve::Contacts,
            use_relays: Vec::new(),
            keep: DEFAULT_KEEP,
            plain_control: true,
        }
    }
}

impl Serve {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Contacts => "contacts",
            Self::Anyone => "anyone",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "off" => Some(Self::Off),
            "contacts" => Some(Self::Contacts),
            "anyone" => Some(Self::Anyone),
            _ => None,
        }
    }
}

/// Validates `[relay]`, naming the key of a bad value.
pub(super) fn relay_config(raw: &RawRelay) -> Result<RelayConfig, ConfigError> {
    let serve = match raw.serve.as_deref() {
        None => Serve::Contacts,
        Some(value) => Serve::parse(value).ok_or_else(|| {
            invalid(
                "relay.serve",
                format!("{value:?} is not one of \"off\", \"contacts\", \"anyone\""),
            )
        })?,
    };
    let names = raw.use_relays.as_deref().unwrap_or_default();
    if names.len() > MAX_USE {
        return Err(invalid(
            "relay.use",
            format!("lists {} relays; at most {MAX_USE}", names.len()),
        ));
    }
    let mut use_relays = Vec::with_capacity(names.len());
    for nick in names {
        let peer = PeerId::from_nick(nick)
            .map_err(|e| invalid("relay.use", format!("{nick:?} is not a DiSIMS nick: {e}")))?;
        if !use_relays.contains(&peer) {
            use_relays.push(peer);
        }
    }
    let keep = raw.keep.unwrap_or(DEFAULT_KEEP as u64);
    if keep > MAX_KEEP as u64 {
        return Err(invalid(
            "relay.keep",
            format!("must be between 0 (never use a relay) and {MAX_KEEP}"),
        ));
    }
    Ok(RelayConfig {
        serve,
        use_relays,
        keep: keep as usize,
        plain_control: raw.plain_control.unwrap_or(true),
    })
}
