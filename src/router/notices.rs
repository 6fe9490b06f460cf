//! What the user is told while messages wait for a peer that cannot be reached: the
//! offline notice (which side is the problem, and how many messages wait), its updates
//! when more are queued, and the notice once the queued messages were delivered. Pure:
//! `outbox.rs` decides when each is due; the peer is named as the user knows it (its
//! petname, else its key nick).

use crate::control::count;
use crate::peer::DialError;

/// Why a peer could not be reached, as far as the notices care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreached {
    /// We could not look the peer up: our DHT connection is down ([`DialError::Directory`]);
    /// this says nothing about the peer. Holds the directory's own words, shown in
    /// parentheses as they are (the notice does not depend on them).
    Lookup(String),
    /// The peer has no address record in the DHT (its gateway is not running, or has not
    /// published yet).
    NoRecord,
    /// Its gateway runs but says it is behind a NAT, and no relay joined us to it
    /// ([`DialError::BehindNat`]): it is not offline.
    BehindNat(String),
    /// Anything else: its addresses did not answer, a session ended...
    Other(String),
}

impl Unreached {
    /// Classifies a dial's error by its variant (never by its text).
    pub fn of(error: &DialError) -> Self {
        match error {
            DialError::NotFound => Self::NoRecord,
            DialError::Directory(detail) => Self::Lookup(detail.clone()),
            DialError::BehindNat { .. } => Self::BehindNat(error.to_string()),
            other => Self::Other(other.to_string()),
        }
    }

    /// True when the problem is on our side, not the peer's.
    pub fn ours(&self) -> bool {
        matches!(self, Self::Lookup(_))
    }

    /// The reason in words, for a notice that does not name the peer.
    fn detail(&self) -> String {
        match self {
            Self::Lookup(e) => format!("our DHT connection is down ({e})"),
            Self::NoRecord => "no address in the DHT".into(),
            Self::BehindNat(e) | Self::Other(e) => e.clone(),
        }
    }
}

/// What the user was last told about a peer's messages waiting (kept per peer from the
/// first offline notice until the back notice).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Offline {
    /// Messages queued, as the last notice said.
    pub told: usize,
    /// The last notice said the problem is on our side.
    pub ours: bool,
    /// Messages queued since the user was told, kept up to date (the back notice's figure).
    pub queued: usize,
}

/// The notice due after a failed dial with `queued` messages waiting for `name`, given
/// what the user was told `last`: the whole notice the first time, or when the side at
/// fault changed; a short update when more messages were queued since; else nothing.
pub(super) fn offline(
    name: &str,
    why: &Unreached,
    queued: usize,
    last: Option<&Offline>,
) -> Option<String> {
    let waiting = format!("{} queued", count(queued, "message"));
    match last {
        Some(last) if last.ours == why.ours() => {
            if queued <= last.told {
                None
            } else if why.ours() {
                Some(format!("still cannot look {name} up; {waiting}"))
            } else if matches!(why, Unreached::BehindNat(_)) {
                Some(format!("{name} still cannot be reached; {waiting}"))
            } else {
                Some(format!("{name} is still offline; {waiting}"))
            }
        }
        _ => Some(match why {
            Unreached::Lookup(e) => format!(
                "cannot look {name} up: our DHT connection is down ({e}); {waiting}, will deliver once it is back and {name} can be reached"
            ),
            Unreached::NoRecord => format!(
                "{name} is offline (no address in the DHT); {waiting}, will deliver when {name} is back"
            ),
            Unreached::BehindNat(e) => format!(
                "cannot reach {name}: {e}; {waiting}, will deliver once {name} can be reached"
            ),
            Unreached::Other(e) => {
                format!("{name} is offline ({e}); {waiting}, will deliver when {name} is back")
            }
        }),
    }
}

/// Without a store, messages that could not be sent are dropped: what the user is told.
pub(super) fn dropped(n: usize, why: &Unreached) -> String {
    format!("{} not delivered: {}", count(n, "message"), why.detail())
}

/// Messages that waited longer than the expiry were dropped; `first` is the first one's
/// text (cut to 60 characters), `within` the expiry in words.
pub(super) fn expired(name: &str, n: usize, first: &str, within: &str) -> String {
    let mut quote: String = first.chars().take(60).collect();
    if first.chars().count() > 60 {
        quote.push_str("...");
    }
    match n {
        1 => format!(
            "1 message to {name} was not delivered within {within} and was dropped: \"{quote}\""
        ),
        n => format!(
            "{n} messages to {name} were not delivered within {within} and were dropped, the first: \"{quote}\""
        ),
    }
}

/// Sent messages whose commit failed: they go out, but do not survive a restart.
pub(super) fn not_stored(name: &str, n: usize) -> String {
    let (what, they) = match n {
        1 => ("your message".to_string(), "it is"),
        n => (format!("your {n} messages"), "they are"),
    };
    format!(
        "could not store {what} to {name}: {they} being sent, but lost if the gateway stops before {name} has {}",
        if n == 1 { "it" } else { "them" }
    )
}

/// The peer is back and every queued message was delivered.
pub(super) fn back(name: &str, delivered: usize) -> String {
    match delivered {
        1 => format!("{name} is back: 1 queued message was delivered"),
        n => format!("{name} is back: the {n} queued messages were delivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn told(told: usize, ours: bool) -> Offline {
        Offline {
            told,
            ours,
            queued: told,
        }
    }

    #[test]
    fn a_peer_behind_a_nat_without_relay_is_not_called_offline() {
        let nat = Unreached::of(&DialError::BehindNat {
            relays: 0,
            last_error: "no address".into(),
        });
        assert!(!nat.ours());
        let first = offline("bob", &nat, 1, None).unwrap();
        assert!(
            first.starts_with("cannot reach bob: its gateway is behind a NAT and has found no relay (it is not offline")
                && !first.contains("is offline")
                && first.ends_with("1 message queued, will deliver once bob can be reached"),
            "{first}"
        );
        assert_eq!(
            offline("bob", &nat, 2, Some(&told(1, false))).as_deref(),
            Some("bob still cannot be reached; 2 messages queued")
        );
    }

    #[test]
    fn the_offline_notice_says_which_side_is_the_problem() {
        assert_eq!(
            offline("bob", &Unreached::NoRecord, 2, None).as_deref(),
            Some(
                "bob is offline (no address in the DHT); 2 messages queued, will deliver when bob is back"
            )
        );
        let down = Unreached::Lookup("DHT unreachable: no bootstrap node answered".into());
        assert!(down.ours() && !Unreached::NoRecord.ours());
        assert_eq!(
            offline("bob", &down, 1, None).as_deref(),
            Some(
                "cannot look bob up: our DHT connection is down (DHT unreachable: no bootstrap node answered); 1 message queued, will deliver once it is back and bob can be reached"
            )
        );
        let other = Unreached::Other("unreachable at 127.0.0.1:9: refused".into());
        assert_eq!(
            offline("bob", &other, 1, None).as_deref(),
            Some(
                "bob is offline (unreachable at 127.0.0.1:9: refused); 1 message queued, will deliver when bob is back"
            )
        );
    }

    #[test]
    fn later_notices_only_when_more_wait_or_the_side_changed() {
        let last = told(2, false);
        assert_eq!(offline("bob", &Unreached::NoRecord, 2, Some(&last)), None);
        assert_eq!(offline("bob", &Unreached::NoRecord, 1, Some(&last)), None);
        assert_eq!(
            offline("bob", &Unreached::NoRecord, 3, Some(&last)).as_deref(),
            Some("bob is still offline; 3 messages queued")
        );
        let down = Unreached::Lookup("down".into());
        assert_eq!(
            offline("bob", &down, 3, Some(&told(3, true))),
            None,
            "nothing new"
        );
        assert_eq!(
            offline("bob", &down, 4, Some(&told(3, true))).as_deref(),
            Some("still cannot look bob up; 4 messages queued")
        );
        // Our DHT came back, the peer has no record: the user hears it is the peer now.
        assert!(
            offline("bob", &Unreached::NoRecord, 2, Some(&told(2, true)))
                .is_some_and(|t| t.starts_with("bob is offline (no address in the DHT)"))
        );
    }

    #[test]
    fn back_and_dropped_notices_count_properly() {
        assert_eq!(
            back("bob", 1),
            "bob is back: 1 queued message was delivered"
        );
        assert_eq!(
            back("bob", 3),
            "bob is back: the 3 queued messages were delivered"
        );
        assert_eq!(
            dropped(1, &Unreached::NoRecord),
            "1 message not delivered: no address in the DHT"
        );
        assert_eq!(
            dropped(2, &Unreached::Lookup("down".into())),
            "2 messages not delivered: our DHT connection is down (down)"
        );
    }

    #[test]
    fn expiry_and_store_failures_count_properly() {
        assert_eq!(
            expired("bob", 1, "hi", "7 days"),
            "1 message to bob was not delivered within 7 days and was dropped: \"hi\""
        );
        let long = "x".repeat(70);
        let text = expired("bob", 2, &long, "1 hour");
        assert!(
            text.starts_with(
                "2 messages to bob were not delivered within 1 hour and were dropped, the first: "
            ) && text.ends_with(&format!("{}...\"", "x".repeat(60))),
            "{text}"
        );
        assert_eq!(
            not_stored("bob", 1),
            "could not store your message to bob: it is being sent, but lost if the gateway stops before bob has it"
        );
        assert!(
            not_stored("bob", 2).starts_with("could not store your 2 messages to bob: they are")
        );
    }

    #[test]
    fn dial_errors_are_classified_by_variant() {
        assert_eq!(Unreached::of(&DialError::NotFound), Unreached::NoRecord);
        assert_eq!(
            Unreached::of(&DialError::Directory("x".into())),
            Unreached::Lookup("x".into())
        );
        assert!(matches!(
            Unreached::of(&DialError::Blocked),
            Unreached::Other(_)
        ));
    }
}
