//! Presence queries: MONITOR (IRCv3: `+ - C L S`, 730-734), ISON and USERHOST.
//!
//! A peer's presence is whether a session with it is up, as the hub reports it in
//! `Presence` events. MONITOR + asks the hub to watch the peers (`Watch`), which answers
//! with their presence now and whenever it changes; we tell the client only what changed
//! since we last told it. Replies name a peer as the client monitored it (the key nick or
//! a petname, as long as that still names the same peer), so that clients' notify lists
//! match; otherwise under its display nick.
//!
//! A target that names nobody yet (a petname no contact has) is remembered by name, as
//! servers remember nicks nobody uses: MONITOR L lists it, and once a contact gets that
//! petname the peer is watched and its presence reported (`monitor_rebind`).

use super::channel::chunks;
use super::client::{Action, Client, Target};
use super::numerics::*;
use super::render::{self, PEER_USER_HOST};
use crate::contacts::SERVICE_NICK;
use crate::identity::PeerId;
use crate::message::{FrontendRequest, Presence};

/// Most targets one client may monitor (advertised as MONITOR=).
pub const MONITOR_LIMIT: usize = 100;

/// Targets per 730-732 line, at most this many bytes.
const LIST_BYTES: usize = 400;

/// Most nicks answered per USERHOST (as RFC 2812 says).
const USERHOST_MAX: usize = 5;

/// The monitored targets, in the order they were added: the peer (none while the name
/// names nobody), the name the client used, and what the client was last told.
#[derive(Default)]
pub(super) struct Monitor {
    entries: Vec<(Option<PeerId>, String, Option<Presence>)>,
}

impl Monitor {
    fn position(&self, peer: &PeerId) -> Option<usize> {
        self.entries
            .iter()
            .position(|(p, _, _)| p.as_ref() == Some(peer))
    }

    /// The entry of a name that names nobody yet.
    fn unbound(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|(p, n, _)| p.is_none() && n.eq_ignore_ascii_case(name))
    }

    fn peers(&self) -> impl Iterator<Item = PeerId> + '_ {
        self.entries.iter().filter_map(|(p, _, _)| *p)
    }
}

impl Client {
    pub(super) fn on_monitor(&mut self, params: &[String], out: &mut Vec<Action>) {
        let sub = params[0].to_ascii_uppercase();
        let targets: Vec<String> = params
            .get(1)
            .map(|list| {
                list.split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        match sub.as_str() {
            "+" | "-" if targets.is_empty() => self.numeric(
                out,
                ERR_NEEDMOREPARAMS,
                &["MONITOR"],
                "Not enough parameters",
            ),
            "+" => self.monitor_add(&targets, out),
            "-" => {
                let mut removed = Vec::new();
                for target in &targets {
                    if let Some(i) = self.monitor.unbound(target) {
                        self.monitor.entries.remove(i);
                    } else if let Ok(Target::Peer(peer)) = self.resolve(target)
                        && let Some(i) = self.monitor.position(&peer)
                    {
                        self.monitor.entries.remove(i);
                        removed.push(peer);
                    }
                }
                if !removed.is_empty() {
                    out.push(Action::Request(FrontendRequest::Unwatch { peers: removed }));
                }
            }
            "C" => {
                let peers: Vec<PeerId> = self.monitor.peers().collect();
                self.monitor.entries.clear();
                if !peers.is_empty() {
                    out.push(Action::Request(FrontendRequest::Unwatch { peers }));
                }
            }
            "L" => {
                let nicks: Vec<String> = self
                    .monitor
                    .entries
                    .iter()
                    .map(|(peer, name, _)| match peer {
                        Some(peer) => self.monitored_name(peer),
                        None => name.clone(),
                    })
                    .collect();
                if !nicks.is_empty() {
                    for chunk in chunks(&nicks, ',', LIST_BYTES) {
                        self.numeric(out, RPL_MONLIST, &[], &chunk);
                    }
                }
                self.numeric(out, RPL_ENDOFMONLIST, &[], "End of MONITOR list");
            }
            "S" => {
                let mut online = Vec::new();
                let mut offline = Vec::new();
                for (peer, name, told) in &mut self.monitor.entries {
                    if peer.is_none() {
                        offline.push(name.clone());
                        *told = Some(Presence::Offline);
                    }
                }
                let entries: Vec<PeerId> = self.monitor.peers().collect();
                for peer in entries {
                    let state = self.presence.get(&peer).copied();
                    self.sort_target(&peer, state, &mut online, &mut offline);
                    if let Some(i) = self.monitor.position(&peer) {
                        self.monitor.entries[i].2 = Some(state.unwrap_or(Presence::Offline));
                    }
                }
                self.report_presence(&online, &offline, out);
            }
            _ => {
                let text = "Unknown MONITOR subcommand: use + - C L S";
                self.numeric(out, ERR_UNKNOWNCOMMAND, &["MONITOR"], text);
            }
        }
    }

    fn monitor_add(&mut self, targets: &[String], out: &mut Vec<Action>) {
        let mut online = Vec::new();
        let mut offline = Vec::new();
        let mut watch = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            let peer = match self.resolve(target) {
                Ok(Target::Peer(peer)) if peer == self.settings.own => {
                    online.push(render::prefix(&self.own_nick, render::OWN_USER_HOST));
                    continue;
                }
                Ok(Target::Peer(peer)) => peer,
                Ok(Target::Service) => {
                    online.push(render::SERVICE_PREFIX.to_string());
                    continue;
                }
                // A name nobody has (yet): offline, as servers say of unused nicks, and
                // remembered in case a contact gets it as its petname.
                Err(_) => {
                    offline.push(target.clone());
                    if self.monitor.unbound(target).is_none() {
                        if self.monitor.entries.len() >= MONITOR_LIMIT {
                            self.monitor_full(&targets[i..], out);
                            break;
                        }
                        let told = Some(Presence::Offline);
                        self.monitor.entries.push((None, target.clone(), told));
                    }
                    continue;
                }
                // A channel is not a nick: offline, and not kept.
                Ok(Target::Control | Target::OtherChannel) => {
                    offline.push(target.clone());
                    continue;
                }
            };
            if self.monitor.position(&peer).is_none() {
                if self.monitor.entries.len() >= MONITOR_LIMIT {
                    self.monitor_full(&targets[i..], out);
                    break;
                }
                self.monitor
                    .entries
                    .push((Some(peer), target.clone(), None));
                watch.push(peer);
            }
            // Known now (a contact, or watched before): say so at once; otherwise the hub's
            // answer to Watch will.
            if let Some(state) = self.presence.get(&peer).copied() {
                self.sort_target(&peer, Some(state), &mut online, &mut offline);
                if let Some(i) = self.monitor.position(&peer) {
                    self.monitor.entries[i].2 = Some(state);
                }
            }
        }
        self.report_presence(&online, &offline, out);
        if !watch.is_empty() {
            out.push(Action::Request(FrontendRequest::Watch { peers: watch }));
        }
    }

    fn monitor_full(&self, rest: &[String], out: &mut Vec<Action>) {
        let rest = rest.join(",");
        let limit = MONITOR_LIMIT.to_string();
        let text = "Monitor list is full.";
        self.numeric(out, ERR_MONLISTFULL, &[&limit, &rest], text);
    }

    /// A new contact book: monitored names that name nobody yet are looked up again; one
    /// that is now a contact's petname is watched, and its presence reported once known.
    pub(super) fn monitor_rebind(&mut self, out: &mut Vec<Action>) {
        let mut watch = Vec::new();
        let (mut online, mut offline) = (Vec::new(), Vec::new());
        for i in 0..self.monitor.entries.len() {
            let (None, name, _) = &self.monitor.entries[i] else {
                continue;
            };
            let Some(peer) = self.book.by_petname(name) else {
                continue;
            };
            if self.monitor.position(&peer).is_some() {
                // Monitored already under its key nick: that entry reports it.
                continue;
            }
            self.monitor.entries[i].0 = Some(peer);
            watch.push(peer);
            let state = self.presence.get(&peer).copied();
            if state.is_some() && state != self.monitor.entries[i].2 {
                self.monitor.entries[i].2 = state;
                self.sort_target(&peer, state, &mut online, &mut offline);
            }
        }
        self.report_presence(&online, &offline, out);
        if !watch.is_empty() {
            out.push(Action::Request(FrontendRequest::Watch { peers: watch }));
        }
    }

    /// Puts a peer in the 730 list (as nick!user@host) or the 731 list (as nick).
    fn sort_target(
        &self,
        peer: &PeerId,
        state: Option<Presence>,
        online: &mut Vec<String>,
        offline: &mut Vec<String>,
    ) {
        let nick = self.monitored_name(peer);
        if state == Some(Presence::Online) {
            online.push(render::prefix(&nick, PEER_USER_HOST));
        } else {
            offline.push(nick);
        }
    }

    /// The name the client monitors `peer` by, while it still names that peer; else the
    /// peer's display nick.
    fn monitored_name(&self, peer: &PeerId) -> String {
        match self.monitor.position(peer) {
            Some(i) => {
                let name = &self.monitor.entries[i].1;
                let still = self.book.by_petname(name) == Some(*peer)
                    || name.eq_ignore_ascii_case(&peer.nick());
                if still {
                    name.clone()
                } else {
                    self.book.display_nick(peer)
                }
            }
            None => self.book.display_nick(peer),
        }
    }

    fn report_presence(&self, online: &[String], offline: &[String], out: &mut Vec<Action>) {
        for (code, list) in [(RPL_MONONLINE, online), (RPL_MONOFFLINE, offline)] {
            if list.is_empty() {
                continue;
            }
            for chunk in chunks(list, ',', LIST_BYTES) {
                self.numeric(out, code, &[], &chunk);
            }
        }
    }

    /// A presence event for a monitored peer: 730/731 if it differs from what the client
    /// was last told.
    pub(super) fn monitor_presence(
        &mut self,
        peer: PeerId,
        presence: Presence,
        out: &mut Vec<Action>,
    ) {
        let Some(i) = self.monitor.position(&peer) else {
            return;
        };
        if self.monitor.entries[i].2 == Some(presence) {
            return;
        }
        self.monitor.entries[i].2 = Some(presence);
        let (mut online, mut offline) = (Vec::new(), Vec::new());
        self.sort_target(&peer, Some(presence), &mut online, &mut offline);
        self.report_presence(&online, &offline, out);
    }

    /// ISON: which of the nicks are online (the user and the service always are).
    pub(super) fn on_ison(&mut self, params: &[String], out: &mut Vec<Action>) {
        let mut online = Vec::new();
        for nick in params.iter().flat_map(|p| p.split_whitespace()) {
            let here = self.is_own(nick)
                || match self.resolve(nick) {
                    Ok(Target::Service) => true,
                    Ok(Target::Peer(peer)) => self.is_online(&peer),
                    _ => false,
                };
            if here && online.len() < 64 {
                online.push(nick.to_string());
            }
        }
        self.numeric(out, RPL_ISON, &[], &online.join(" "));
    }

    /// USERHOST: `nick=+user@host` (or `=-` when away) for nicks that exist: the user, the
    /// service, contacts and peers online.
    pub(super) fn on_userhost(&mut self, params: &[String], out: &mut Vec<Action>) {
        let mut replies = Vec::new();
        let nicks = params.iter().flat_map(|p| p.split_whitespace());
        for nick in nicks.take(USERHOST_MAX) {
            let reply = if self.is_own(nick) {
                let away = if self.own_away.is_some() { '-' } else { '+' };
                Some(format!("{}={away}{}", self.own_nick, render::OWN_USER_HOST))
            } else {
                match self.resolve(nick) {
                    Ok(Target::Service) => Some(format!("{SERVICE_NICK}=+service@disims")),
                    Ok(Target::Peer(peer))
                        if self.book.get(&peer).is_some() || self.is_online(&peer) =>
                    {
                        let away = if self.peer_away.contains_key(&peer) {
                            '-'
                        } else {
                            '+'
                        };
                        Some(format!("{nick}={away}{PEER_USER_HOST}"))
                    }
                    _ => None,
                }
            };
            replies.extend(reply);
        }
        self.numeric(out, RPL_USERHOST, &[], &replies.join(" "));
    }
}
