//! The user's contacts: peers with an optional petname (the nick they appear under), and
//! the ones the user blocked, contacts or not (blocking a stranger does not make it a
//! contact: it is not listed, watched or dialled, and unblocking it forgets it). Pure data
//! and rules; the hub persists it in the store and
//! sends front ends a snapshot ([`crate::message::FrontendEvent::Contacts`]) when it changes.

use std::collections::{HashMap, HashSet};

use crate::identity::{NICK_LEN, PeerId};

/// Nick of the gateway's service user, and therefore never a petname.
pub const SERVICE_NICK: &str = "disims";

/// Longest petname (IRC clients handle short nicks best; keys are 52 characters).
pub const MAX_PETNAME: usize = 32;

/// One contact.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Contact {
    pub peer: PeerId,
    /// The nick the peer appears under, if the user chose one.
    pub petname: Option<String>,
    /// Refused at the handshake; messages to it are refused too.
    pub blocked: bool,
    /// When the user added it (or when it first wrote, for an accepted unknown sender), Unix ms.
    pub added_ms: u64,
    /// When a session with it was last up, Unix ms.
    pub last_seen_ms: Option<u64>,
}

/// Why a petname cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContactError {
    #[error(
        "{0:?} is not a valid nick: use 1 to {MAX_PETNAME} letters, digits or []\\`_^{{|}}- , not starting with a digit or '-'"
    )]
    InvalidPetname(String),
    #[error("{0:?} is reserved: it is the service's nick or your own")]
    Reserved(String),
    #[error("{0:?} is already the petname of another contact")]
    Taken(String),
}

/// All contacts, indexed by key and by petname (ASCII case-insensitive, as CASEMAPPING=ascii).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ContactBook {
    by_peer: HashMap<PeerId, Contact>,
    by_name: HashMap<String, PeerId>,
    /// Peers the user blocked that are not contacts.
    blocked_strangers: HashSet<PeerId>,
}

impl ContactBook {
    pub fn new(contacts: impl IntoIterator<Item = Contact>) -> Self {
        let mut book = Self::default();
        for contact in contacts {
            book.insert(contact);
        }
        book
    }

    /// Adds or replaces a contact (its petname must have been checked with [`Self::check_petname`]).
    pub fn insert(&mut self, contact: Contact) {
        self.remove(&contact.peer);
        self.blocked_strangers.remove(&contact.peer);
        if let Some(name) = &contact.petname {
            self.by_name.insert(name.to_ascii_lowercase(), contact.peer);
        }
        self.by_peer.insert(contact.peer, contact);
    }

    pub fn remove(&mut self, peer: &PeerId) -> Option<Contact> {
        let old = self.by_peer.remove(peer)?;
        if let Some(name) = &old.petname {
            self.by_name.remove(&name.to_ascii_lowercase());
        }
        Some(old)
    }

    pub fn get(&self, peer: &PeerId) -> Option<&Contact> {
        self.by_peer.get(peer)
    }

    /// The peer a petname stands for.
    pub fn by_petname(&self, name: &str) -> Option<PeerId> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    /// Whether the user blocked `peer` (a contact or not).
    pub fn is_blocked(&self, peer: &PeerId) -> bool {
        self.by_peer.get(peer).is_some_and(|c| c.blocked) || self.blocked_strangers.contains(peer)
    }

    /// Blocks a peer that is not a contact (it stays not one); a contact is blocked through
    /// its [`Contact`] instead, so this leaves one alone.
    pub fn block_stranger(&mut self, peer: PeerId) {
        if !self.by_peer.contains_key(&peer) {
            self.blocked_strangers.insert(peer);
        }
    }

    /// Forgets a blocked stranger.
    pub fn unblock_stranger(&mut self, peer: &PeerId) {
        self.blocked_strangers.remove(peer);
    }

    /// The blocked peers that are not contacts.
    pub fn blocked_strangers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.blocked_strangers.iter().copied()
    }

    /// Every blocked peer, contacts and strangers.
    pub fn blocked(&self) -> impl Iterator<Item = PeerId> + '_ {
        let contacts = self.by_peer.values().filter(|c| c.blocked).map(|c| c.peer);
        contacts.chain(self.blocked_strangers())
    }

    /// The nick a peer appears under: its petname, else its key nick.
    pub fn display_nick(&self, peer: &PeerId) -> String {
        match self.by_peer.get(peer).and_then(|c| c.petname.as_ref()) {
            Some(name) => name.clone(),
            None => peer.nick(),
        }
    }

    /// Contacts sorted by the nick they appear under.
    pub fn iter_sorted(&self) -> Vec<&Contact> {
        let mut all: Vec<&Contact> = self.by_peer.values().collect();
        all.sort_by_cached_key(|c| self.display_nick(&c.peer).to_ascii_lowercase());
        all
    }

    pub fn len(&self) -> usize {
        self.by_peer.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }

    /// Whether `name` may become `peer`'s petname: a valid nick, short enough not to be read
    /// as a key, not the service's, not `own_nick`, and not another contact's petname.
    pub fn check_petname(
        &self,
        peer: &PeerId,
        name: &str,
        own_nick: &str,
    ) -> Result<(), ContactError> {
        let valid = !name.is_empty()
            && name.len() <= MAX_PETNAME
            && name.len() < NICK_LEN
            && !name.starts_with(|c: char| c.is_ascii_digit() || c == '-')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c));
        if !valid {
            return Err(ContactError::InvalidPetname(name.to_string()));
        }
        if name.eq_ignore_ascii_case(SERVICE_NICK) || name.eq_ignore_ascii_case(own_nick) {
            return Err(ContactError::Reserved(name.to_string()));
        }
        match self.by_petname(name) {
            Some(other) if other != *peer => Err(ContactError::Taken(name.to_string())),
            _ => Ok(()),
        }
    }
}
