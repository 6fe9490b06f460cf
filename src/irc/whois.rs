//! WHOIS: the user and the service are answered at once; a peer is asked of the hub
//! (`PeerInfo`) and answered when its reply comes, from a FIFO of pending queries.
//!
//! A peer's block: 311 (display nick, user, host), 312, 320 lines for the petname, the
//! full key in hex and the session, 276 with the key's fingerprint, 338 with the address
//! while connected, 671 while a session is up, 301 if away, then 318.

use super::client::{Action, Client, MAX_TARGETS, Target};
use super::numerics::*;
use super::render;
use crate::contacts::SERVICE_NICK;
use crate::identity::PeerId;
use crate::message::{FrontendRequest, PeerInfo};

/// WHOIS queries that may wait for the hub at once, per client.
pub const MAX_PENDING_WHOIS: usize = 32;

/// A WHOIS the hub has yet to answer.
pub(super) struct PendingWhois {
    pub(super) peer: PeerId,
    /// The nick as the client asked for it (318 repeats it).
    pub(super) query: String,
}

impl Client {
    /// WHOWAS: the gateway keeps no history of nicks (irssi asks after a 401 to WHOIS).
    pub(super) fn on_whowas(&mut self, params: &[String], out: &mut Vec<Action>) {
        let nick = params[0].as_str();
        self.numeric(
            out,
            ERR_WASNOSUCHNICK,
            &[nick],
            "There was no such nickname",
        );
        self.numeric(out, RPL_ENDOFWHOWAS, &[nick], "End of WHOWAS");
    }

    pub(super) fn on_whois(&mut self, params: &[String], out: &mut Vec<Action>) {
        // `WHOIS [server] nicks`: the nicks come last.
        let query = params.last().map(String::as_str).unwrap_or_default();
        if query.split(',').all(str::is_empty) {
            return self.numeric(out, ERR_NONICKNAMEGIVEN, &[], "No nickname given");
        }
        for nick in query.split(',').filter(|n| !n.is_empty()).take(MAX_TARGETS) {
            if self.is_own(nick) {
                self.whois_own(nick, out);
                continue;
            }
            match self.resolve(nick) {
                Ok(Target::Service) => self.whois_service(nick, out),
                Ok(Target::Peer(peer)) => {
                    if self.whois.len() >= MAX_PENDING_WHOIS {
                        let text = "Too many WHOIS waiting for an answer: try again";
                        self.numeric(out, RPL_TRYAGAIN, &["WHOIS"], text);
                        continue;
                    }
                    self.whois.push_back(PendingWhois {
                        peer,
                        query: nick.to_string(),
                    });
                    out.push(Action::Request(FrontendRequest::PeerInfo { peer }));
                }
                Ok(Target::Control | Target::OtherChannel) => {
                    self.numeric(out, ERR_NOSUCHNICK, &[nick], "No such nick");
                    self.end_of_whois(nick, out);
                }
                // The reason is in the 401's text; no notice here, so that WHOIS keeps its
                // exact reply (401 then 318), which clients and irctest count on.
                Err(text) => {
                    self.numeric(out, ERR_NOSUCHNICK, &[nick], &text);
                    self.end_of_whois(nick, out);
                }
            }
        }
    }

    fn end_of_whois(&self, query: &str, out: &mut Vec<Action>) {
        self.numeric(out, RPL_ENDOFWHOIS, &[query], "End of /WHOIS list");
    }

    fn whois_own(&self, query: &str, out: &mut Vec<Action>) {
        let own = self.own_nick.clone();
        let server = self.settings.server_name.clone();
        self.numeric(out, RPL_WHOISUSER, &[&own, "me", "disims", "*"], "you");
        self.whois_channels(&own, &self.settings.own, out);
        self.numeric(out, RPL_WHOISSERVER, &[&own, &server], "DiSIMS gateway");
        let key = self.settings.own;
        self.whois_key_lines(&own, &key, out);
        if let Some(reason) = &self.own_away {
            self.numeric(out, RPL_AWAY, &[&own], reason);
        }
        self.end_of_whois(query, out);
    }

    fn whois_service(&self, query: &str, out: &mut Vec<Action>) {
        let server = self.settings.server_name.clone();
        let realname = "DiSIMS service: type help in &disims";
        self.numeric(
            out,
            RPL_WHOISUSER,
            &[SERVICE_NICK, "service", "disims", "*"],
            realname,
        );
        self.numeric(
            out,
            RPL_WHOISSERVER,
            &[SERVICE_NICK, &server],
            "DiSIMS gateway",
        );
        self.end_of_whois(query, out);
    }

    /// The key in hex and its fingerprint.
    fn whois_key_lines(&self, nick: &str, peer: &PeerId, out: &mut Vec<Action>) {
        let key = format!("key {}", render::hex(peer.as_bytes()));
        self.numeric(out, RPL_WHOISSPECIAL, &[nick], &key);
        let text = format!("has key fingerprint {}", fingerprint(peer));
        self.numeric(out, RPL_WHOISCERTFP, &[nick], &text);
    }

    /// The hub's answer to a WHOIS: the block for the oldest query about that peer.
    pub(super) fn on_peer_info(&mut self, info: &PeerInfo, out: &mut Vec<Action>) {
        let index = match info.peer {
            Some(peer) => self.whois.iter().position(|w| w.peer == peer),
            None => (!self.whois.is_empty()).then_some(0),
        };
        let pending = match (index.and_then(|i| self.whois.remove(i)), info.peer) {
            (Some(pending), _) => pending,
            // Nobody asked here: still worth showing, under the peer's nick.
            (None, Some(peer)) => PendingWhois {
                peer,
                query: self.book.display_nick(&peer),
            },
            (None, None) => return,
        };
        let peer = pending.peer;
        let nick = self.book.display_nick(&peer);
        let server = self.settings.server_name.clone();
        let contact = self.book.get(&peer);
        let realname = match contact {
            Some(c) if c.blocked => "DiSIMS contact (blocked)",
            Some(_) => "DiSIMS contact",
            None if self.book.is_blocked(&peer) => "DiSIMS peer (blocked, not a contact)",
            None => "DiSIMS peer (not a contact)",
        };
        self.numeric(
            out,
            RPL_WHOISUSER,
            &[&nick, "peer", "disims", "*"],
            realname,
        );
        self.whois_channels(&nick, &peer, out);
        self.numeric(out, RPL_WHOISSERVER, &[&nick, &server], "DiSIMS gateway");
        let petname = match contact.and_then(|c| c.petname.as_deref()) {
            Some(name) => format!("petname {name}, key nick {}", peer.nick()),
            None => format!("no petname, key nick {}", peer.nick()),
        };
        self.numeric(out, RPL_WHOISSPECIAL, &[&nick], &petname);
        self.whois_key_lines(&nick, &peer, out);
        let session = match (&info.session, info.online) {
            (Some(session), true) => format!("session up: {session}"),
            (_, true) => "session up".to_string(),
            (_, false) => "no session".to_string(),
        };
        let queued = match info.queued {
            0 => String::new(),
            1 => ", 1 message waiting to be delivered".to_string(),
            n => format!(", {n} messages waiting to be delivered"),
        };
        self.numeric(
            out,
            RPL_WHOISSPECIAL,
            &[&nick],
            &format!("{session}{queued}"),
        );
        if info.online
            && let Some(address) = &info.address
        {
            self.numeric(
                out,
                RPL_WHOISACTUALLY,
                &[&nick, address],
                "is actually connected from",
            );
        }
        if info.online {
            let text = "is using an end-to-end encrypted session";
            self.numeric(out, RPL_WHOISSECURE, &[&nick], text);
        } else if let Some(ms) = info.last_seen_ms {
            let text = format!("last seen {}", render::human_time(ms));
            self.numeric(out, RPL_WHOISSPECIAL, &[&nick], &text);
        }
        if let Some(reason) = &info.away {
            self.numeric(out, RPL_AWAY, &[&nick], reason);
        }
        self.end_of_whois(&pending.query, out);
    }
}

/// A key's fingerprint for comparing by eye or voice: the one `id` in &disims shows
/// (docs/protocol.md, "Safety numbers and fingerprints").
pub fn fingerprint(peer: &PeerId) -> String {
    crate::crypto::fingerprint(peer.as_bytes())
}
