//! The channel commands on groups' `#` channels: JOIN, PART, INVITE, KICK, TOPIC, MODE,
//! NAMES, WHO, LIST and messages. `channel.rs` (and `queries.rs` for KICK) hand over every
//! `#` channel; `&disims` stays theirs.
//!
//! Reads (NAMES, WHO, LIST, TOPIC and MODE without changes) are answered from the latest
//! view the hub sent (`groups.rs`). Changes go to the hub as requests; what the view says
//! of ourselves (not a member: 442; not an operator where one is needed: 482; a target
//! already in the channel: 443) is answered at once, and the group's other rules are the
//! hub's to check (its refusal comes back as a numeric). A change the hub makes comes back
//! as a view with the change, rendered as a server would (JOIN, MODE, TOPIC, 341...).

use std::sync::Arc;

use super::client::{Action, Client, Target};
use super::groups::{KICKLEN, TOPICLEN, channel_modes, is_group_channel};
use super::numerics::*;
use super::queries::mask_matches;
use super::render;
use crate::group::Modes;
use crate::identity::PeerId;
use crate::message::{FrontendRequest, GroupAction, GroupView, MessageKind, truncate};

/// Most modes that take a nick in one MODE line (advertised as MODES).
pub const MODES_PER_LINE: usize = 4;

impl Client {
    /// The request for a change of a group.
    fn group_request(&self, channel: &str, action: GroupAction, out: &mut Vec<Action>) {
        let channel = self.channel_name(channel);
        out.push(Action::Request(FrontendRequest::Group { channel, action }));
    }

    /// A channel's name as the hub spells it when the client knows the group, else as
    /// the user typed it.
    fn channel_name(&self, channel: &str) -> String {
        self.groups
            .view(channel)
            .map_or_else(|| channel.to_string(), |v| v.channel.to_string())
    }

    /// The view of a channel the client shows; 442 (or 403 when it knows no such group)
    /// otherwise.
    fn shown_view(&self, channel: &str, out: &mut Vec<Action>) -> Option<Arc<GroupView>> {
        match self.groups.view(channel) {
            Some(view) if self.groups.shows(channel) => Some(view.clone()),
            Some(_) => {
                self.numeric(
                    out,
                    ERR_NOTONCHANNEL,
                    &[channel],
                    "You're not on that channel",
                );
                None
            }
            None => {
                self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], "No such channel");
                None
            }
        }
    }

    /// Whether we are an operator of the group; 482 with `why` when not.
    fn group_operator(&self, view: &GroupView, why: &str, out: &mut Vec<Action>) -> bool {
        let op = view.member(&self.settings.own).is_some_and(|m| m.operator);
        if !op {
            let text = format!("You're not channel operator{why}");
            self.numeric(out, ERR_CHANOPRIVSNEEDED, &[&view.channel], &text);
        }
        op
    }

    /// A nick in a group command: a petname, a key nick or our own; 401 otherwise.
    fn group_peer(&mut self, nick: &str, out: &mut Vec<Action>) -> Option<PeerId> {
        match self.resolve(nick) {
            Ok(Target::Peer(peer)) => Some(peer),
            Ok(_) => {
                self.numeric(out, ERR_NOSUCHNICK, &[nick], "No such nick: not a peer");
                None
            }
            Err(text) => {
                self.no_such_nick(nick, &text, out);
                None
            }
        }
    }

    /// JOIN #name: nothing when the client is in it already; otherwise the hub creates the
    /// group (no group has this name here), accepts our invitation to it, or refuses (473).
    pub(super) fn join_group(&mut self, channel: &str, out: &mut Vec<Action>) {
        if !self.groups.shows(channel) {
            self.group_request(channel, GroupAction::Join, out);
        }
    }

    /// PART #name [reason]: leave the group, or decline an invitation to it.
    pub(super) fn part_group(
        &mut self,
        channel: &str,
        reason: Option<&str>,
        out: &mut Vec<Action>,
    ) {
        let reason = clean_text(reason.unwrap_or_default(), KICKLEN);
        self.group_request(channel, GroupAction::Part { reason }, out);
    }

    /// INVITE nick #name: the group invites the peer (341 when the hub made the change).
    /// Without parameters: the invitations we hold (336, 337).
    pub(super) fn on_invite(&mut self, params: &[String], out: &mut Vec<Action>) {
        let [nick, channel, ..] = params else {
            if params.is_empty() {
                return self.list_invitations(out);
            }
            return self.numeric(
                out,
                ERR_NEEDMOREPARAMS,
                &["INVITE"],
                "Not enough parameters",
            );
        };
        if !is_group_channel(channel) {
            let text = "No such channel: only groups (#name) take invitations; contacts \
                        are in &disims once added (/msg disims help add)";
            return self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], text);
        }
        let Some(peer) = self.group_peer(nick, out) else {
            return;
        };
        if let Some(view) = self.groups.view(channel).cloned() {
            if !self.groups.shows(channel) {
                let text = "You're not on that channel";
                return self.numeric(out, ERR_NOTONCHANNEL, &[channel], text);
            }
            if view.member(&peer).is_some() {
                let nick = self.member_nick(&peer);
                let text = "is already on channel";
                return self.numeric(out, ERR_USERONCHANNEL, &[&nick, channel], text);
            }
            if view.modes.invite_only && !self.group_operator(&view, " (+i)", out) {
                return;
            }
        }
        self.group_request(channel, GroupAction::Invite { peer }, out);
    }

    fn list_invitations(&mut self, out: &mut Vec<Action>) {
        let channels: Vec<String> = self
            .groups
            .invitations()
            .map(|v| v.channel.to_string())
            .collect();
        for channel in channels {
            self.numeric_bare(out, RPL_INVITELIST, &[&channel]);
        }
        self.numeric(out, RPL_ENDOFINVITES, &[], "End of /INVITE list");
    }

    /// KICK #name nick[,nick] [reason]: remove members (or withdraw invitations).
    pub(super) fn kick_group(&mut self, params: &[String], out: &mut Vec<Action>) {
        let channel = params[0].as_str();
        let reason = clean_text(params.get(2).map_or("", String::as_str), KICKLEN);
        let Some(view) = self.shown_view(channel, out) else {
            return;
        };
        if !self.group_operator(&view, "", out) {
            return;
        }
        for nick in params[1].split(',').filter(|n| !n.is_empty()) {
            let Some(peer) = self.group_peer(nick, out) else {
                continue;
            };
            if view.member(&peer).is_none() && !view.invited.contains(&peer) {
                let text = "They aren't on that channel";
                self.numeric(out, ERR_USERNOTINCHANNEL, &[nick, channel], text);
                continue;
            }
            let action = GroupAction::Kick {
                peer,
                reason: reason.clone(),
            };
            self.group_request(channel, action, out);
        }
    }

    /// TOPIC #name: 331, or 332 and 333; TOPIC #name :text sets it (empty clears).
    pub(super) fn topic_group(&mut self, channel: &str, text: Option<&str>, out: &mut Vec<Action>) {
        let Some(view) = self.shown_view(channel, out) else {
            return;
        };
        let Some(text) = text else {
            return self.send_group_topic(&view, true, out);
        };
        if view.modes.topic_ops && !self.group_operator(&view, " (+t)", out) {
            return;
        }
        let text = clean_text(text, TOPICLEN);
        self.group_request(channel, GroupAction::Topic { text }, out);
    }

    /// MODE #name: 324 and 329. With changes: `+o/-o nick`, `+i/-i`, `+t/-t`, `+m/-m`,
    /// several in one line, as requests; the lists `b`, `e`, `I` are empty; anything else
    /// gets 472.
    pub(super) fn mode_group(&mut self, channel: &str, params: &[String], out: &mut Vec<Action>) {
        let Some(view) = self.groups.view(channel).cloned() else {
            return self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], "No such channel");
        };
        let channel: &str = &view.channel;
        let Some(modes) = params.first() else {
            let modes = channel_modes(view.modes);
            self.numeric_bare(out, RPL_CHANNELMODEIS, &[channel, &modes]);
            let created = (view.created_at_ms / 1000).to_string();
            return self.numeric_bare(out, RPL_CREATIONTIME, &[channel, &created]);
        };
        if params.len() == 1 && self.list_query(channel, modes, out) {
            return;
        }
        if !self.groups.shows(channel) {
            let text = "You're not on that channel";
            return self.numeric(out, ERR_NOTONCHANNEL, &[channel], text);
        }
        let wanted = self.parse_modes(modes, &params[1..], out);
        if wanted.is_empty() || !self.group_operator(&view, "", out) {
            return;
        }
        for (give, peer) in wanted.ops {
            match view.member(&peer) {
                None => {
                    let nick = self.member_nick(&peer);
                    let text = "They aren't on that channel";
                    self.numeric(out, ERR_USERNOTINCHANNEL, &[&nick, channel], text);
                }
                // Nothing to change: said nothing, as servers do.
                Some(m) if m.operator == give => {}
                Some(_) if give => self.group_request(channel, GroupAction::Op { peer }, out),
                Some(_) => self.group_request(channel, GroupAction::Deop { peer }, out),
            }
        }
        let set = Modes::from_bits(wanted.set.bits() & !view.modes.bits()).unwrap_or_default();
        let clear = Modes::from_bits(wanted.clear.bits() & view.modes.bits()).unwrap_or_default();
        if set != Modes::default() || clear != Modes::default() {
            self.group_request(channel, GroupAction::Mode { set, clear }, out);
        }
    }

    /// `MODE #name b` (or `e`, `I`, with or without `+`): the lists are empty. False for
    /// anything else.
    fn list_query(&self, channel: &str, modes: &str, out: &mut Vec<Action>) -> bool {
        let (code, text) = match modes.trim_start_matches('+') {
            "b" => (RPL_ENDOFBANLIST, "End of channel ban list"),
            "e" => (RPL_ENDOFEXCEPTLIST, "End of channel exception list"),
            "I" => (RPL_ENDOFINVITELIST, "End of channel invite exception list"),
            _ => return false,
        };
        self.numeric(out, code, &[channel], text);
        true
    }

    /// The changes a MODE line asks for, with 472 for modes there are not and 401/461 for
    /// missing or unknown nicks.
    fn parse_modes(&mut self, modes: &str, args: &[String], out: &mut Vec<Action>) -> WantedModes {
        let mut wanted = WantedModes::default();
        let mut args = args.iter();
        let mut adding = true;
        let mut nick_modes = 0;
        for c in modes.chars() {
            let bit = match c {
                '+' | '-' => {
                    adding = c == '+';
                    continue;
                }
                'i' => 1,
                't' => 2,
                'm' => 4,
                'n' if adding => continue,
                'o' => {
                    nick_modes += 1;
                    let Some(nick) = args.next() else {
                        let text = "Not enough parameters: +o and -o take a nick";
                        self.numeric(out, ERR_NEEDMOREPARAMS, &["MODE"], text);
                        continue;
                    };
                    if nick_modes > MODES_PER_LINE {
                        continue;
                    }
                    if let Some(peer) = self.group_peer(nick, out) {
                        wanted.ops.push((adding, peer));
                    }
                    continue;
                }
                _ => {
                    // A mode that takes a parameter takes it even when refused, so that the
                    // ones after it get theirs.
                    if matches!(c, 'v' | 'b' | 'e' | 'I' | 'k') || (c == 'l' && adding) {
                        args.next();
                    }
                    let text = unknown_mode_text(c);
                    let mode = c.to_string();
                    self.numeric(out, ERR_UNKNOWNMODE, &[&mode], &text);
                    continue;
                }
            };
            let modes = Modes::from_bits(bit).unwrap_or_default();
            let (to, from) = if adding {
                (&mut wanted.set, &mut wanted.clear)
            } else {
                (&mut wanted.clear, &mut wanted.set)
            };
            *to = to.changed(modes, Modes::default());
            *from = from.changed(Modes::default(), modes);
        }
        wanted
    }

    /// NAMES #name: the members; only 366 for a channel the client is not in.
    pub(super) fn names_group(&mut self, channel: &str, out: &mut Vec<Action>) {
        match self.groups.view(channel).cloned() {
            Some(view) if self.groups.shows(channel) => self.send_group_names(&view, out),
            _ => self.numeric(out, RPL_ENDOFNAMES, &[channel], "End of /NAMES list"),
        }
    }

    /// WHO #name: a 352 per member of a channel the client is in (315 follows, from the
    /// caller).
    pub(super) fn who_group(&mut self, channel: &str, out: &mut Vec<Action>) {
        if let Some(view) = self.groups.view(channel).cloned()
            && self.groups.shows(channel)
        {
            for member in self.group_members(&view) {
                self.who_reply(&view.channel, &member, out);
            }
        }
    }

    /// 322 per group the client is in whose name one of `masks` matches (all without).
    pub(super) fn list_groups(&mut self, masks: Option<&str>, out: &mut Vec<Action>) {
        let views: Vec<Arc<GroupView>> = self.groups.joined().cloned().collect();
        for view in views {
            let listed = masks.is_none_or(|m| m.split(',').any(|m| mask_matches(m, &view.channel)));
            if listed {
                let users = view.members.len().to_string();
                let topic = view.topic.as_ref().map_or("", |t| t.text.as_str());
                let modes = channel_modes(view.modes);
                let text = match render::clean_body(topic) {
                    topic if topic.is_empty() => format!("[{modes}]"),
                    topic => format!("[{modes}] {topic}"),
                };
                self.numeric(out, RPL_LIST, &[&view.channel, &users], &text);
            }
        }
    }

    /// PRIVMSG or NOTICE to a group's channel: a group chat, unless the client knows we are
    /// not a member (442, never for a NOTICE). Under +m, a non-operator's message is the
    /// hub's to refuse (404).
    pub(super) fn message_group(
        &mut self,
        channel: &str,
        kind: MessageKind,
        text: &str,
        out: &mut Vec<Action>,
    ) {
        if self.groups.view(channel).is_some() && !self.groups.shows(channel) {
            if kind != MessageKind::Notice {
                let text = "You're not on that channel (/join it to accept the invitation)";
                self.numeric(out, ERR_NOTONCHANNEL, &[channel], text);
            }
            return;
        }
        out.push(Action::Request(FrontendRequest::GroupSend {
            channel: self.channel_name(channel),
            kind,
            text: text.to_string(),
        }));
    }
}

/// What one MODE line asks of a group.
#[derive(Default)]
struct WantedModes {
    set: Modes,
    clear: Modes,
    /// `(true, peer)`: +o, `(false, peer)`: -o, in the order asked.
    ops: Vec<(bool, PeerId)>,
}

impl WantedModes {
    fn is_empty(&self) -> bool {
        self.set == Modes::default() && self.clear == Modes::default() && self.ops.is_empty()
    }
}

/// The text of a 472.
fn unknown_mode_text(mode: char) -> String {
    match mode {
        'n' => "n is always set: only members speak in a group".into(),
        'v' => "v shows who is online: the gateway sets it".into(),
        'b' | 'e' | 'I' => format!("{mode}: groups have no such lists (invitations are +i)"),
        _ => format!("{mode} is unknown mode char to me: groups have +i, +t, +m and +o"),
    }
}

/// A reason or topic as a group op carries it: no line breaks or NUL, at most `max` bytes.
fn clean_text(text: &str, max: usize) -> String {
    truncate(&render::strip_line_breaks(text), max).to_string()
}
