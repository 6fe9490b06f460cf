//! Established sessions by kind: sessions we dialled, contacts' and strangers' (by
//! prefix). Strangers share what the cap leaves after the part kept for contacts, and
//! each prefix only a slice of that; a contact arriving at a full cap evicts the least
//! active stranger. Pure: the peer layer closes the evicted session.

use std::collections::HashMap;

use super::InboundRefusal;
use crate::policy::SourcePrefix;

/// Who a session is with, for the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// We dialled it (the user wrote to the peer, or it is a contact we watch): counted
    /// in the total, never refused nor evicted here.
    Outbound,
    /// An inbound session from a contact (not blocked).
    Contact,
    /// An inbound session from anyone else, by source prefix.
    Stranger(SourcePrefix),
}

/// The session cap and its shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions at most (each holds a file descriptor).
    pub max: usize,
    /// Sessions strangers never hold: contacts always find room (by eviction if needed).
    pub reserved_for_contacts: usize,
    /// Stranger sessions from one prefix at most.
    pub per_prefix: usize,
}

impl SessionLimits {
    /// Shares of `max`: a quarter kept for contacts (a user's contacts are far fewer than
    /// the cap, and evicting makes room when they are not), and a sixteenth of the rest
    /// per prefix (between 1 and 32: a few gateways behind one NAT), unless given.
    pub fn derive(max: usize, reserved: Option<usize>, per_prefix: Option<usize>) -> Self {
        let reserved = reserved.unwrap_or(max / 4).min(max);
        let per_prefix = per_prefix
            .unwrap_or(((max - reserved) / 16).clamp(1, 32))
            .max(1);
        Self {
            max,
            reserved_for_contacts: reserved,
            per_prefix,
        }
    }
}

/// Sessions up, each with a payload (the peer layer's handle on it) and an id.
pub struct SessionRegistry<T> {
    entries: HashMap<u64, (SessionKind, T)>,
    strangers: usize,
    by_prefix: HashMap<SourcePrefix, usize>,
}

impl<T> Default for SessionRegistry<T> {
    fn default() -> Self {
        Self {
            entries: HashMap::new(),
            strangers: 0,
            by_prefix: HashMap::new(),
        }
    }
}

impl<T> SessionRegistry<T> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn strangers(&self) -> usize {
        self.strangers
    }

    pub fn from_prefix(&self, prefix: SourcePrefix) -> usize {
        self.by_prefix.get(&prefix).copied().unwrap_or(0)
    }

    /// Whether some inbound peer could still get a session (a contact can as long as a
    /// stranger could be evicted): when not, connections are closed before any handshake.
    pub fn room_for_someone(&self, limits: &SessionLimits) -> bool {
        self.entries.len() < limits.max || self.strangers > 0
    }

    /// Registers session `id`; for a contact at a full cap, evicts the stranger with the
    /// smallest `activity` (its last traffic) and returns its payload, to be closed.
    pub fn admit(
        &mut self,
        id: u64,
        kind: SessionKind,
        payload: T,
        limits: &SessionLimits,
        activity: impl Fn(&T) -> u64,
    ) -> Result<Option<T>, InboundRefusal> {
        let mut evicted = None;
        match kind {
            SessionKind::Outbound => {}
            SessionKind::Contact => {
                if self.entries.len() >= limits.max {
                    let victim = self
                        .entries
                        .iter()
                        .filter(|(_, (k, _))| matches!(k, SessionKind::Stranger(_)))
                        .min_by_key(|(id, (_, p))| (activity(p), **id))
                        .map(|(id, _)| *id)
                        .ok_or(InboundRefusal::SessionsFull)?;
                    evicted = self.remove(victim);
                }
            }
            SessionKind::Stranger(prefix) => {
                if self.from_prefix(prefix) >= limits.per_prefix {
                    return Err(InboundRefusal::PrefixSessions);
                }
                if self.strangers >= limits.max.saturating_sub(limits.reserved_for_contacts) {
                    return Err(InboundRefusal::StrangerSessions);
                }
                if self.entries.len() >= limits.max {
                    return Err(InboundRefusal::SessionsFull);
                }
            }
        }
        if let SessionKind::Stranger(prefix) = kind {
            self.strangers += 1;
            *self.by_prefix.entry(prefix).or_insert(0) += 1;
        }
        self.entries.insert(id, (kind, payload));
        Ok(evicted)
    }

    /// Forgets session `id` (it ended, or was evicted); its payload if it was there.
    pub fn remove(&mut self, id: u64) -> Option<T> {
        let (kind, payload) = self.entries.remove(&id)?;
        if let SessionKind::Stranger(prefix) = kind {
            self.strangers -= 1;
            if let Some(n) = self.by_prefix.get_mut(&prefix) {
                *n -= 1;
                if *n == 0 {
                    self.by_prefix.remove(&prefix);
                }
            }
        }
        Some(payload)
    }
}
