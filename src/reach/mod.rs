//! Reachability: whether peers can dial this gateway directly, and the relays it holds when
//! they cannot (issue 13; docs/protocol.md, "Relays").
//!
//! - here, pure: the [`Verdict`], what the gateway publishes for it ([`record_for`]) and
//!   the line `status` shows;
//! - [`keeper`] (IO): finds relays, keeps reservations with them, asks one to dial us back,
//!   and tells the publisher ([`ReachState`] over a watch channel);
//! - [`hold`] (IO): one reservation's control connection: keepalive, renewal, the circuits
//!   the relay offers, dial-back requests.

pub mod hold;
pub mod keeper;

use std::net::SocketAddr;

use crate::directory::{PublishedRecord, RelayEntry};

/// What we know of our own reachability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verdict {
    /// Not checked (yet): published as reachable, as a gateway always was.
    #[default]
    Unchecked,
    /// Reachable without a relay: a relay dialled us back, or the gateway has a public
    /// address of its own.
    Reachable,
    /// A relay could not dial us back: peers reach us through relays only.
    Unreachable,
    /// No relay to ask, and our public address is on no interface of ours with no port
    /// mapped: most likely behind a NAT. The direct address is still published (a port
    /// forwarded by hand would work), in a version 2 record that says we may be behind one.
    NoRelayToAsk,
}

/// What the keeper tells the publisher and `status`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ReachState {
    pub verdict: Verdict,
    /// The relays holding a reservation for us now (listed only when not reachable).
    pub relays: Vec<RelayEntry>,
    /// Why no relay is held although one is wanted, in a few words.
    pub problem: Option<String>,
}

impl ReachState {
    /// The record to publish, given the direct address(es) we would publish: version 1 while
    /// we are (or may be) reachable, version 2 with our relays otherwise.
    pub fn record_for(&self, protocol_version: u16, direct: Vec<SocketAddr>) -> PublishedRecord {
        match self.verdict {
            Verdict::Unchecked | Verdict::Reachable => {
                PublishedRecord::new(protocol_version, direct, None)
            }
            Verdict::Unreachable => {
                PublishedRecord::new(protocol_version, Vec::new(), Some(self.relays.clone()))
            }
            Verdict::NoRelayToAsk => {
                PublishedRecord::new(protocol_version, direct, Some(self.relays.clone()))
            }
        }
    }

    /// The `status` line.
    pub fn describe(&self, nick: impl Fn(&crate::identity::PeerId) -> String) -> String {
        let relays = || {
            self.relays
                .iter()
                .map(|r| {
                    let at = r.addrs.first().map(ToString::to_string).unwrap_or_default();
                    format!("{} ({at})", nick(&r.key))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let problem = self
            .problem
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        match self.verdict {
            Verdict::Unchecked => format!("Reachability: not checked yet{problem}"),
            Verdict::Reachable => "Reachability: reachable directly".to_string(),
            Verdict::Unreachable if self.relays.is_empty() => {
                format!("Reachability: not reachable directly, and no relay held now{problem}")
            }
            Verdict::Unreachable => format!(
                "Reachability: not reachable directly; peers reach us via {}",
                relays()
            ),
            Verdict::NoRelayToAsk => format!(
                "Reachability: probably behind a NAT (no router mapping, no relay to check with){problem}"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::PeerId;

    fn relay() -> RelayEntry {
        let key = ed25519_dalek::SigningKey::from_bytes(&[2; 32]);
        RelayEntry {
            key: PeerId::of(&key),
            addrs: vec!["192.0.2.9:7667".parse().unwrap()],
        }
    }

    #[test]
    fn the_record_follows_the_verdict() {
        let direct: Vec<SocketAddr> = vec!["198.51.100.7:7667".parse().unwrap()];
        let mut state = ReachState::default();
        assert_eq!(
            state.record_for(1, direct.clone()),
            PublishedRecord::new(1, direct.clone(), None)
        );
        state.verdict = Verdict::Unreachable;
        state.relays = vec![relay()];
        let PublishedRecord::V2(r) = state.record_for(1, direct.clone()) else {
            panic!("an unreachable gateway publishes version 2");
        };
        assert!(
            r.addrs.is_empty(),
            "an unreachable address is not published"
        );
        assert_eq!(r.relays, vec![relay()]);
        state.verdict = Verdict::NoRelayToAsk;
        state.relays.clear();
        let PublishedRecord::V2(r) = state.record_for(1, direct.clone()) else {
            panic!("behind a NAT: version 2");
        };
        assert_eq!((r.addrs, r.relays), (direct, vec![]));
    }

    #[test]
    fn status_names_the_relays() {
        let state = ReachState {
            verdict: Verdict::Unreachable,
            relays: vec![relay()],
            problem: None,
        };
        let line = state.describe(|p| p.short());
        assert!(
            line.contains("via ") && line.contains("192.0.2.9:7667"),
            "{line}"
        );
    }
}
