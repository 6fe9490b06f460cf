//! The settings the user may change while the gateway runs (`set <key> <value>`), with the
//! same rules as the config file ([`crate::config`]); the hub persists them in the store,
//! where they override the config at the next start.

use std::time::Duration;

use crate::config::{Config, StoreConfig, StrangerLimits, UnknownSenders};

/// A setting that cannot take this value (or does not exist); the message is the reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingError {
    #[error("no setting {0:?}; the settings are: unknown, expire_after_hours, history_days")]
    Unknown(String),
    #[error("{key} must be {expected}, not {value:?}")]
    Invalid {
        key: &'static str,
        expected: &'static str,
        value: String,
    },
}

/// The live settings. Expiry and retention are kept as the exact durations (the config
/// may give shorter ones in tests); `set` changes them in whole hours and days.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub unknown: UnknownSenders,
    store: StoreConfig,
    /// Budgets of peers that are not contacts (from the config; not changed by `set`).
    pub strangers: StrangerLimits,
}

/// The names, in the order `set` lists them.
pub const KEYS: [&str; 3] = ["unknown", "expire_after_hours", "history_days"];

impl Settings {
    pub fn from_config(config: &Config) -> Self {
        Self {
            strangers: config.contacts.strangers,
            ..Self::new(config.contacts.unknown, &config.store)
        }
    }

    pub fn new(unknown: UnknownSenders, store: &StoreConfig) -> Self {
        Self {
            unknown,
            store: store.clone(),
            strangers: StrangerLimits::default(),
        }
    }

    /// Expiry and retention as the hub uses them.
    pub fn store(&self) -> StoreConfig {
        self.store.clone()
    }

    /// A setting's current value, as written.
    pub fn get(&self, key: &str) -> Result<String, SettingError> {
        Ok(match key {
            "unknown" => self.unknown.as_str().to_string(),
            "expire_after_hours" => (self.store.expire_after.as_secs() / 3600).to_string(),
            "history_days" => (self.store.history.as_secs() / 86_400).to_string(),
            other => return Err(SettingError::Unknown(other.to_string())),
        })
    }

    /// Every setting and its value.
    pub fn list(&self) -> Vec<(&'static str, String)> {
        KEYS.iter()
            .map(|k| (*k, self.get(k).unwrap_or_default()))
            .collect()
    }

    /// Changes a setting, if the value is valid (and fits with the others); returns the
    /// canonical name of the key changed.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&'static str, SettingError> {
        let mut next = self.clone();
        let key = match key {
            "unknown" => {
                next.unknown = UnknownSenders::parse(value).ok_or(SettingError::Invalid {
                    key: "unknown",
                    expected: "accept, ask or drop",
                    value: value.to_string(),
                })?;
                "unknown"
            }
            "expire_after_hours" => {
                let hours: u64 = value
                    .parse()
                    .ok()
                    .filter(|h| (1..=24 * 365).contains(h))
                    .ok_or(SettingError::Invalid {
                        key: "expire_after_hours",
                        expected: "between 1 and 8760 (a year)",
                        value: value.to_string(),
                    })?;
                next.store.expire_after = Duration::from_secs(hours * 3600);
                "expire_after_hours"
            }
            "history_days" => {
                let days: u64 = value
                    .parse()
                    .ok()
                    .filter(|d| (0..=36_500).contains(d))
                    .ok_or(SettingError::Invalid {
                        key: "history_days",
                        expected: "between 0 (keep nothing once shown) and 36500",
                        value: value.to_string(),
                    })?;
                next.store.history = Duration::from_secs(days * 86_400);
                "history_days"
            }
            other => return Err(SettingError::Unknown(other.to_string())),
        };
        if !next.store.history.is_zero() && next.store.history < next.store.expire_after {
            return Err(SettingError::Invalid {
                key,
                expected: "such that history_days covers expire_after_hours (a resend older than the history would show twice)",
                value: value.to_string(),
            });
        }
        *self = next;
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Settings::new(UnknownSenders::Accept, &StoreConfig::default())
    }

    #[test]
    fn settings_are_validated_like_the_config() {
        let mut s = defaults();
        assert_eq!(s.get("unknown").unwrap(), "accept");
        assert_eq!(s.set("unknown", "ask"), Ok("unknown"));
        assert_eq!(s.unknown, UnknownSenders::Ask);
        assert!(s.set("unknown", "maybe").is_err());
        assert_eq!(s.set("expire_after_hours", "48"), Ok("expire_after_hours"));
        assert_eq!(s.store().expire_after, Duration::from_secs(48 * 3600));
        assert!(s.set("expire_after_hours", "0").is_err());
        assert!(s.set("expire_after_hours", "8761").is_err());
        assert!(s.set("history_days", "x").is_err());
        assert!(s.set("history_days", "1").is_err(), "must cover the expiry");
        assert_eq!(
            s.get("history_days").unwrap(),
            "365",
            "a refused value changes nothing"
        );
        assert_eq!(s.set("history_days", "2"), Ok("history_days"));
        // 0 keeps nothing once shown: it needs to cover no expiry.
        assert_eq!(s.set("history_days", "0"), Ok("history_days"));
        assert_eq!(s.store().history, Duration::ZERO);
        assert_eq!(s.set("expire_after_hours", "720"), Ok("expire_after_hours"));
        assert!(s.set("history_days", "36501").is_err());
        assert_eq!(
            s.set("history_days", "2"),
            Err(SettingError::Invalid {
                key: "history_days",
                expected: "such that history_days covers expire_after_hours (a resend older than the history would show twice)",
                value: "2".into(),
            })
        );
        assert_eq!(s.set("expire_after_hours", "48"), Ok("expire_after_hours"));
        assert_eq!(s.set("history_days", "2"), Ok("history_days"));
        assert!(matches!(
            s.set("color", "red"),
            Err(SettingError::Unknown(_))
        ));
        assert_eq!(s.list().len(), 3);
        // A short configured expiry (tests) is kept exactly.
        let short = StoreConfig {
            expire_after: Duration::from_millis(400),
            ..StoreConfig::default()
        };
        let s = Settings::new(UnknownSenders::Accept, &short);
        assert_eq!(s.store(), short);
    }
}
