//! The control channel `&disims`: the service user `disims` (op) runs it, every contact sits
//! in it under its display nick, voiced while online, and what the user types there goes to
//! the service as a command.
//!
//! The client is joined once the hub's first contact book arrives (so that the first NAMES
//! is complete); later books are diffed against the previous one: a new contact JOINs, a
//! removed one PARTs, a new petname is a NICK change (open queries follow it). Presence
//! changes are `MODE &disims +v/-v` by the service. The user may PART and JOIN again.
//!
//! The channel commands hand groups' `#` channels to `group_commands.rs`.

use std::collections::HashSet;
use std::sync::Arc;

use super::client::{Action, Client, Target, is_channel};
use super::groups::is_group_channel;
use super::numerics::*;
use super::queries::mask_matches;
use super::render::{self, CONTROL_CHANNEL, OWN_USER_HOST, PEER_USER_HOST, SERVICE_PREFIX};
use crate::contacts::{ContactBook, SERVICE_NICK};
use crate::identity::PeerId;
use crate::message::{ControlTarget, Presence};

/// The control channel's topic.
pub const TOPIC: &str = "DiSIMS control channel: type help. Your contacts are here, \
                         voiced (+v) while online; /msg a contact to write to it.";

/// Names per 353 line, at most this many bytes.
const NAMES_BYTES: usize = 400;

/// The text of a 403 for a channel that is neither `&disims` nor a group's.
pub(super) const NO_SUCH_CHANNEL: &str =
    "No such channel: groups are #name (/join #name makes one), the control channel is &disims";

/// Where the client stands with the control channel.
pub(super) struct ChannelState {
    /// The client is in `&disims`.
    pub(super) joined: bool,
    /// The first contact book has arrived.
    pub(super) contacts_known: bool,
    /// Join automatically when the first book arrives (cleared once the user JOINs or PARTs).
    pub(super) auto_join: bool,
}

impl Default for ChannelState {
    fn default() -> Self {
        Self {
            joined: false,
            contacts_known: false,
            auto_join: true,
        }
    }
}

/// One member of a channel (the control channel, or a group's) as NAMES and WHO show it.
pub(super) struct Member {
    pub(super) nick: String,
    pub(super) user_host: &'static str,
    /// "@", "+", "@+" (multi-prefix) or "".
    pub(super) status: &'static str,
    pub(super) away: bool,
    pub(super) realname: &'static str,
}

impl Client {
    pub(super) fn on_join(&mut self, params: &[String], out: &mut Vec<Action>) {
        for channel in params[0].split(',').filter(|c| !c.is_empty()) {
            if channel == "0" {
                // JOIN 0: leave `&disims`. Not the groups: leaving one is for good (its
                // members see it, and coming back takes a new invitation).
                self.part_control(None, out);
                if self.groups.joined().next().is_some() {
                    let text = "JOIN 0 leaves &disims only: leave a group with /part #name";
                    self.server_notice(out, text);
                }
            } else if channel.eq_ignore_ascii_case(CONTROL_CHANNEL) {
                self.channel.auto_join = false;
                if !self.channel.joined {
                    self.join_burst(out);
                }
            } else if is_group_channel(channel) {
                self.join_group(channel, out);
            } else {
                let text = NO_SUCH_CHANNEL;
                self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], text);
            }
        }
    }

    pub(super) fn on_part(&mut self, params: &[String], out: &mut Vec<Action>) {
        let reason = params.get(1).map(String::as_str);
        for channel in params[0].split(',').filter(|c| !c.is_empty()) {
            if is_group_channel(channel) {
                self.part_group(channel, reason, out);
            } else if !channel.eq_ignore_ascii_case(CONTROL_CHANNEL) {
                let text = NO_SUCH_CHANNEL;
                self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], text);
            } else if !self.channel.joined {
                // Not in it yet (no contact book so far): do not join it later either.
                self.channel.auto_join = false;
                self.numeric(
                    out,
                    ERR_NOTONCHANNEL,
                    &[channel],
                    "You're not on that channel",
                );
            } else {
                self.part_control(reason, out);
            }
        }
    }

    fn part_control(&mut self, reason: Option<&str>, out: &mut Vec<Action>) {
        self.channel.auto_join = false;
        if self.channel.joined {
            self.channel.joined = false;
            let own = self.own_prefix();
            let line = render::line(Some(&own), "PART", &[CONTROL_CHANNEL], reason);
            out.push(Action::Send(line));
        }
    }

    /// JOIN, topic and NAMES: what a client sees when it enters `&disims`.
    pub(super) fn join_burst(&mut self, out: &mut Vec<Action>) {
        self.channel.joined = true;
        let own = self.own_prefix();
        out.push(Action::Send(render::line(
            Some(&own),
            "JOIN",
            &[CONTROL_CHANNEL],
            None,
        )));
        self.numeric(out, RPL_TOPIC, &[CONTROL_CHANNEL], TOPIC);
        self.send_names(out);
    }

    fn send_names(&self, out: &mut Vec<Action>) {
        self.send_member_names(CONTROL_CHANNEL, &self.members(), out);
    }

    /// 353 lines for `members` (none when there are none), then 366.
    pub(super) fn send_member_names(
        &self,
        channel: &str,
        members: &[Member],
        out: &mut Vec<Action>,
    ) {
        let names: Vec<String> = members
            .iter()
            .map(|m| {
                if self.caps.userhost_in_names {
                    format!("{}{}!{}", m.status, m.nick, m.user_host)
                } else {
                    format!("{}{}", m.status, m.nick)
                }
            })
            .collect();
        if !names.is_empty() {
            for chunk in chunks(&names, ' ', NAMES_BYTES) {
                self.numeric(out, RPL_NAMREPLY, &["=", channel], &chunk);
            }
        }
        self.numeric(out, RPL_ENDOFNAMES, &[channel], "End of /NAMES list");
    }

    /// The service, the user, then the contacts by display nick.
    fn members(&self) -> Vec<Member> {
        let mut members = vec![
            Member {
                nick: SERVICE_NICK.to_string(),
                user_host: "service@disims",
                status: "@",
                away: false,
                realname: "DiSIMS service: type help",
            },
            Member {
                nick: self.own_nick.clone(),
                user_host: OWN_USER_HOST,
                status: "",
                away: self.own_away.is_some(),
                realname: "you",
            },
        ];
        for contact in self.book.iter_sorted() {
            members.push(Member {
                nick: self.book.display_nick(&contact.peer),
                user_host: PEER_USER_HOST,
                status: if self.is_online(&contact.peer) {
                    "+"
                } else {
                    ""
                },
                away: self.peer_away.contains_key(&contact.peer),
                realname: "DiSIMS contact",
            });
        }
        members
    }

    /// How many users this client can see: the service, the user and the contacts.
    pub(super) fn member_count(&self) -> usize {
        2 + self.book.len()
    }

    /// NAMES [channels]: without any, `&disims` and the groups the client is in.
    pub(super) fn on_names(&mut self, params: &[String], out: &mut Vec<Action>) {
        let all = || {
            let groups = self.groups.joined().map(|v| v.channel.to_string());
            std::iter::once(CONTROL_CHANNEL.to_string())
                .chain(groups)
                .collect::<Vec<_>>()
                .join(",")
        };
        let channels = params.first().map_or_else(all, String::clone);
        for channel in channels.split(',').filter(|c| !c.is_empty()) {
            if channel.eq_ignore_ascii_case(CONTROL_CHANNEL) {
                self.send_names(out);
            } else if is_group_channel(channel) {
                self.names_group(channel, out);
            } else {
                self.numeric(out, RPL_ENDOFNAMES, &[channel], "End of /NAMES list");
            }
        }
    }

    pub(super) fn on_topic(&mut self, params: &[String], out: &mut Vec<Action>) {
        let channel = params[0].as_str();
        if is_group_channel(channel) {
            let text = params.get(1).map(String::as_str);
            self.topic_group(channel, text, out);
        } else if !channel.eq_ignore_ascii_case(CONTROL_CHANNEL) {
            let text = NO_SUCH_CHANNEL;
            self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], text);
        } else if params.len() > 1 {
            let text = "You're not channel operator: the service keeps this topic";
            self.numeric(out, ERR_CHANOPRIVSNEEDED, &[CONTROL_CHANNEL], text);
        } else {
            self.numeric(out, RPL_TOPIC, &[CONTROL_CHANNEL], TOPIC);
        }
    }

    /// LIST [masks]: `&disims` and the groups the client is in, listed when no mask is
    /// given or one of the comma-separated masks (`*`, `?`) matches their name.
    pub(super) fn on_list(&mut self, params: &[String], out: &mut Vec<Action>) {
        let masks = params.first().filter(|p| !p.is_empty()).cloned();
        let listed = match &masks {
            None => true,
            Some(masks) => masks.split(',').any(|m| mask_matches(m, CONTROL_CHANNEL)),
        };
        if listed {
            let users = self.member_count().to_string();
            self.numeric(out, RPL_LIST, &[CONTROL_CHANNEL, &users], TOPIC);
        }
        self.list_groups(masks.as_deref(), out);
        self.numeric(out, RPL_LISTEND, &[], "End of /LIST");
    }

    /// WHO: `&disims` lists its members; a nick mask (`*`, `0` or one with `*`/`?`) lists
    /// the users it matches among them (everyone this client can see); a nick, that user.
    pub(super) fn on_who(&mut self, params: &[String], out: &mut Vec<Action>) {
        let mask = params.first().map_or("*", String::as_str);
        let mask = if mask.is_empty() { "*" } else { mask };
        if mask.eq_ignore_ascii_case(CONTROL_CHANNEL) {
            for member in self.members() {
                self.who_reply(CONTROL_CHANNEL, &member, out);
            }
        } else if is_group_channel(mask) {
            self.who_group(mask, out);
        } else if mask == "0" || mask.contains(['*', '?']) {
            let channel = if self.channel.joined {
                CONTROL_CHANNEL
            } else {
                "*"
            };
            for member in self.members() {
                if mask == "0" || mask_matches(mask, &member.nick) {
                    self.who_reply(channel, &member, out);
                }
            }
        } else if !is_channel(mask) {
            let member = if self.is_own(mask) {
                self.members().into_iter().nth(1)
            } else {
                match self.resolve(mask) {
                    Ok(Target::Service) => self.members().into_iter().next(),
                    Ok(Target::Peer(peer)) => Some(Member {
                        nick: self.book.display_nick(&peer),
                        user_host: PEER_USER_HOST,
                        status: "",
                        away: self.peer_away.contains_key(&peer),
                        realname: "DiSIMS peer",
                    }),
                    _ => None,
                }
            };
            if let Some(member) = member {
                self.who_reply("*", &member, out);
            }
        }
        self.numeric(out, RPL_ENDOFWHO, &[mask], "End of /WHO list");
    }

    pub(super) fn who_reply(&self, channel: &str, member: &Member, out: &mut Vec<Action>) {
        let (user, host) = member
            .user_host
            .split_once('@')
            .unwrap_or((member.user_host, "disims"));
        let flags = format!("{}{}", if member.away { "G" } else { "H" }, member.status);
        let server = &self.settings.server_name;
        let realname = format!("0 {}", member.realname);
        self.numeric(
            out,
            RPL_WHOREPLY,
            &[channel, user, host, server, &member.nick, &flags],
            &realname,
        );
    }

    /// MODE on a channel: `&disims` is +nt and its lists are empty; changes are the
    /// service's.
    pub(super) fn channel_mode(&mut self, channel: &str, modes: &[String], out: &mut Vec<Action>) {
        if is_group_channel(channel) {
            return self.mode_group(channel, modes, out);
        }
        if !channel.eq_ignore_ascii_case(CONTROL_CHANNEL) {
            let text = NO_SUCH_CHANNEL;
            return self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], text);
        }
        let with_mask = modes.len() > 1;
        let Some(modes) = modes.first() else {
            return self.numeric_bare(out, RPL_CHANNELMODEIS, &[CONTROL_CHANNEL, "+nt"]);
        };
        // A list query (`MODE &disims b`, `+b` without a mask): the lists are empty. With a
        // mask it is a change, which is the service's to make (482 below).
        let list = if with_mask {
            ""
        } else {
            modes.trim_start_matches('+')
        };
        match list {
            "b" => self.numeric(
                out,
                RPL_ENDOFBANLIST,
                &[CONTROL_CHANNEL],
                "End of channel ban list",
            ),
            "e" => self.numeric(
                out,
                RPL_ENDOFEXCEPTLIST,
                &[CONTROL_CHANNEL],
                "End of channel exception list",
            ),
            "I" => self.numeric(
                out,
                RPL_ENDOFINVITELIST,
                &[CONTROL_CHANNEL],
                "End of channel invite exception list",
            ),
            _ => {
                let text = "You're not channel operator: the service sets the modes here";
                self.numeric(out, ERR_CHANOPRIVSNEEDED, &[CONTROL_CHANNEL], text);
            }
        }
    }

    /// A new contact book: the first one joins the client to `&disims`; later ones show
    /// what changed.
    pub(super) fn on_contacts(&mut self, book: Arc<ContactBook>, out: &mut Vec<Action>) {
        let old = std::mem::replace(&mut self.book, book);
        self.last_prefix = None;
        let first = !self.channel.contacts_known;
        self.channel.contacts_known = true;
        if first && self.channel.auto_join && !self.channel.joined {
            self.channel.auto_join = false;
            return self.join_burst(out);
        }
        let new = self.book.clone();
        let joined = self.channel.joined;
        let nick_line = |from: &str, to: &str| {
            let prefix = render::prefix(from, PEER_USER_HOST);
            Action::Send(render::line(Some(&prefix), "NICK", &[], Some(to)))
        };
        // Removed contacts leave, and appear under their key nick again.
        for contact in old.iter_sorted() {
            let peer = contact.peer;
            if new.get(&peer).is_some() {
                continue;
            }
            let name = old.display_nick(&peer);
            if joined {
                let prefix = render::prefix(&name, PEER_USER_HOST);
                let text = "removed from contacts";
                out.push(Action::Send(render::line(
                    Some(&prefix),
                    "PART",
                    &[CONTROL_CHANNEL],
                    Some(text),
                )));
            }
            if name != peer.nick() {
                out.push(nick_line(&name, &peer.nick()));
            }
        }
        let mut added: HashSet<PeerId> = HashSet::new();
        for contact in new.iter_sorted() {
            let peer = contact.peer;
            let name = new.display_nick(&peer);
            // A renamed contact (or a new one with a petname) changes nick, so that an open
            // query follows it.
            let before = old.display_nick(&peer);
            if before != name {
                out.push(nick_line(&before, &name));
            }
            if old.get(&peer).is_none() {
                added.insert(peer);
            }
        }
        if !joined {
            return;
        }
        for contact in new.iter_sorted() {
            let peer = contact.peer;
            if !added.contains(&peer) {
                continue;
            }
            let name = new.display_nick(&peer);
            let prefix = render::prefix(&name, PEER_USER_HOST);
            out.push(Action::Send(render::line(
                Some(&prefix),
                "JOIN",
                &[CONTROL_CHANNEL],
                None,
            )));
            if self.is_online(&peer) {
                self.voice(&name, true, out);
            }
            // away-notify: a user who joins while away is announced as away right after.
            if self.caps.away_notify
                && let Some(reason) = self.peer_away.get(&peer)
            {
                let line = render::line(Some(&prefix), "AWAY", &[], Some(reason));
                out.push(Action::Send(line));
            }
        }
    }

    /// `MODE &disims +v/-v nick` by the service.
    fn voice(&self, nick: &str, on: bool, out: &mut Vec<Action>) {
        let mode = if on { "+v" } else { "-v" };
        out.push(Action::Send(render::line(
            Some(SERVICE_PREFIX),
            "MODE",
            &[CONTROL_CHANNEL, mode, nick],
            None,
        )));
    }

    /// A peer's presence: voice in `&disims` for contacts, 730/731 for monitored peers.
    pub(super) fn on_presence(&mut self, peer: PeerId, presence: Presence, out: &mut Vec<Action>) {
        let before = self.presence.insert(peer, presence);
        let was_online = before == Some(Presence::Online);
        let online = presence == Presence::Online;
        if was_online != online && self.channel.joined && self.book.get(&peer).is_some() {
            self.voice(&self.book.display_nick(&peer), online, out);
        }
        self.monitor_presence(peer, presence, out);
    }

    /// The service's answer: in the channel or in the query with `disims`. A channel answer
    /// for a client that is not in the channel (it left) goes to the query instead.
    pub(super) fn on_control_reply(
        &mut self,
        lines: &[String],
        target: ControlTarget,
        out: &mut Vec<Action>,
    ) {
        let to = match target {
            ControlTarget::Channel if self.channel.joined => CONTROL_CHANNEL.to_string(),
            _ => self.own_nick.clone(),
        };
        for line in lines {
            self.service_says(&to, line, out);
        }
    }

    pub(super) fn on_control_announce(&mut self, text: &str, out: &mut Vec<Action>) {
        let to = if self.channel.joined {
            CONTROL_CHANNEL.to_string()
        } else {
            self.own_nick.clone()
        };
        self.service_says(&to, text, out);
    }

    fn service_says(&self, to: &str, text: &str, out: &mut Vec<Action>) {
        // An empty PRIVMSG is not valid IRC: a blank line of a reply is a single space.
        let text = if text.is_empty() { " " } else { text };
        out.push(Action::Send(render::line(
            Some(SERVICE_PREFIX),
            "PRIVMSG",
            &[to],
            Some(&render::clean_body(text)),
        )));
    }
}

/// Words joined by `separator` into pieces of at most `max` bytes (a longer word stands
/// alone).
pub(super) fn chunks(words: &[String], separator: char, max: usize) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in words {
        if !current.is_empty() && current.len() + 1 + word.len() > max {
            pieces.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(separator);
        }
        current.push_str(word);
    }
    if !current.is_empty() || pieces.is_empty() {
        pieces.push(current);
    }
    pieces
}
