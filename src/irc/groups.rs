//! Groups as IRC channels (`#name`, issue 15): what the hub says of them, rendered.
//!
//! The hub is authoritative: it sends a group's whole view ([`GroupView`]) whenever the
//! group changes (with the [`Change`]s that led to it), when a member's presence changes,
//! and once per group when this client attaches. The client keeps the latest view per
//! channel and answers reads (NAMES, WHO, TOPIC, MODE, LIST, WHOIS's 319) from it; every
//! change goes to the hub as a request (`group_commands.rs`).
//!
//! - A view with `joined` for a channel the client does not show: our JOIN, the topic
//!   (332/333) and NAMES, as `&disims` gets them.
//! - A view without `joined` for a channel the client shows: our PART or the KICK (from the
//!   changes), and the channel is forgotten.
//! - A view with `invited_by` for a channel we were not invited to before (or on attach):
//!   an INVITE to us.
//! - Otherwise each change is a JOIN, PART, KICK, MODE, TOPIC (or INVITE/NOTICE) line from
//!   the member who made it, then `+v`/`-v` by the server for members whose session came
//!   up or went down (voiced while online). Names and reasons come from peers: every line
//!   goes through `render`, which keeps them from breaking a line.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::channel::{Member, chunks};
use super::client::{Action, Client};
use super::numerics::*;
use super::render::{self, OWN_USER_HOST, PEER_USER_HOST};
use crate::group::{Change, Modes, Refusal};
use crate::identity::PeerId;
use crate::message::{
    FrontendEvent, FrontendId, GroupAction, GroupMember, GroupRefusal, GroupView,
};

/// Longest local channel name (advertised as CHANNELLEN): `#`, a 40-byte group name and a
/// suffix when the name was taken.
pub const CHANNELLEN: usize = 50;
/// Longest topic (TOPICLEN), as a Topic op carries it.
pub const TOPICLEN: usize = 390;
/// Longest part or kick reason (KICKLEN), as a Part or Kick op carries it.
pub const KICKLEN: usize = 255;

/// What a PART line says when a membership was undone by a concurrent removal.
const UNDONE: &str = "membership undone by a concurrent removal";

/// Names per 353 line, at most this many bytes (as for `&disims`).
const NAMES_BYTES: usize = 400;

/// The groups this client knows of.
#[derive(Default)]
pub(super) struct Groups {
    /// The latest view of each group, by channel name folded to ASCII lower case
    /// (CASEMAPPING=ascii).
    views: BTreeMap<String, Arc<GroupView>>,
    /// The channels the client shows (it got our JOIN), folded.
    shown: BTreeSet<String>,
}

impl Groups {
    /// The latest view of a channel, by any case of its name.
    pub(super) fn view(&self, channel: &str) -> Option<&Arc<GroupView>> {
        self.views.get(&fold(channel))
    }

    /// Whether the client shows the channel (we are a member).
    pub(super) fn shows(&self, channel: &str) -> bool {
        self.shown.contains(&fold(channel))
    }

    /// The views of the channels the client shows, by name.
    pub(super) fn joined(&self) -> impl Iterator<Item = &Arc<GroupView>> {
        self.shown.iter().filter_map(|c| self.views.get(c))
    }

    /// The views of the groups we are invited to and not a member of.
    pub(super) fn invitations(&self) -> impl Iterator<Item = &Arc<GroupView>> {
        self.views
            .values()
            .filter(|v| !v.joined && v.invited_by.is_some())
    }

    /// Whether some channel the client shows has `peer` as a member.
    pub(super) fn shares(&self, peer: &PeerId) -> bool {
        self.joined().any(|v| v.member(peer).is_some())
    }
}

/// A channel name as the views are keyed.
pub(super) fn fold(channel: &str) -> String {
    channel.to_ascii_lowercase()
}

/// Whether a target names a group's channel (`#`).
pub(super) fn is_group_channel(target: &str) -> bool {
    target.starts_with('#')
}

/// `+it-m`: the modes set and cleared from `old` to `new` (empty when they are equal).
pub(super) fn mode_delta(old: Modes, new: Modes) -> String {
    let set = Modes::from_bits(new.bits() & !old.bits()).unwrap_or_default();
    let clear = Modes::from_bits(old.bits() & !new.bits()).unwrap_or_default();
    let mut out = String::new();
    for (sign, modes) in [('+', set), ('-', clear)] {
        let letters = mode_letters(modes);
        if !letters.is_empty() {
            out.push(sign);
            out.push_str(&letters);
        }
    }
    out
}

/// The letters of modes, in alphabetical order (`imt`).
pub(super) fn mode_letters(modes: Modes) -> String {
    [
        (modes.invite_only, 'i'),
        (modes.moderated, 'm'),
        (modes.topic_ops, 't'),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, c)| *c)
    .collect()
}

/// A channel's modes as 324 shows them: `n` is always set (only members speak).
pub(super) fn channel_modes(modes: Modes) -> String {
    let mut letters: Vec<char> = mode_letters(modes).chars().collect();
    letters.push('n');
    letters.sort_unstable();
    format!("+{}", letters.into_iter().collect::<String>())
}

impl Client {
    /// The group events from the hub.
    pub(super) fn on_group_event(&mut self, event: &FrontendEvent, out: &mut Vec<Action>) {
        match event {
            FrontendEvent::Group {
                view,
                changes,
                at_ms,
                origin,
            } => self.on_group_view(view, changes, *at_ms, *origin, out),
            FrontendEvent::GroupReceived {
                channel,
                from,
                message,
                played_back,
                stored: _,
            } => self.on_group_received(channel, from, message, *played_back, out),
            FrontendEvent::GroupSent {
                channel,
                message,
                origin,
            } => self.on_group_sent(channel, message, *origin, out),
            FrontendEvent::GroupRefused {
                channel,
                action,
                reason,
            } => self.on_group_refused(channel, action.as_ref(), reason, out),
            _ => {}
        }
    }

    fn on_group_view(
        &mut self,
        view: &Arc<GroupView>,
        changes: &[Change],
        at_ms: u64,
        origin: Option<FrontendId>,
        out: &mut Vec<Action>,
    ) {
        let key = fold(&view.channel);
        let old = self.groups.views.insert(key.clone(), view.clone());
        // Lines that render changes carry their time; a view sent on attach or for a
        // presence change (no changes) shows as of now.
        let time = (!changes.is_empty()).then_some(at_ms);
        let was_shown = self.groups.shown.contains(&key);
        if !was_shown {
            if view.joined {
                self.groups.shown.insert(key);
                return self.group_join_burst(view, time, out);
            }
            let newly_invited = old.as_ref().is_none_or(|o| o.invited_by.is_none());
            if let Some(by) = view.invited_by.filter(|_| newly_invited) {
                let line = self.invite_line(&by, &self.own_nick.clone(), &view.channel);
                self.push_timed(time, line, out);
            }
            if view.invited_by.is_none() {
                self.groups.views.remove(&fold(&view.channel));
            }
            return;
        }
        let Some(old) = old else { return };
        for change in changes {
            if self.own_departure(view, change, time, out) {
                break;
            }
            self.render_change(view, &old, change, time, origin, out);
        }
        if view.joined && !self.groups.shown.contains(&key) {
            // We left and joined again in between: the channel as it is now.
            self.groups.shown.insert(key);
            return self.group_join_burst(view, time, out);
        }
        if view.joined {
            return self.group_voices(view, &old, out);
        }
        // Gone without a departure of ours among the changes: the client leaves anyway.
        if self.groups.shown.remove(&key) {
            let line = render::line(Some(&self.own_prefix()), "PART", &[&view.channel], None);
            self.push_timed(time, line, out);
        }
        if view.invited_by.is_none() {
            self.groups.views.remove(&key);
        }
    }

    /// Our own PART or KICK, if `change` is our departure: the channel is forgotten and
    /// nothing after it is shown. True when it was.
    fn own_departure(
        &mut self,
        view: &GroupView,
        change: &Change,
        time: Option<u64>,
        out: &mut Vec<Action>,
    ) -> bool {
        let own = self.settings.own;
        let channel: &str = &view.channel;
        let line = match change {
            Change::Parted { peer, reason } if *peer == own => {
                let reason = render::clean_body(reason);
                let reason = (!reason.is_empty()).then_some(&*reason);
                render::line(Some(&self.own_prefix()), "PART", &[channel], reason)
            }
            Change::Undone { peer } if *peer == own => {
                render::line(Some(&self.own_prefix()), "PART", &[channel], Some(UNDONE))
            }
            Change::Kicked { peer, by, reason } if *peer == own => {
                let from = self.member_prefix(by);
                let nick = self.own_nick.clone();
                let reason = render::clean_body(reason);
                render::line(Some(&from), "KICK", &[channel, &nick], Some(&reason))
            }
            _ => return false,
        };
        self.push_timed(time, line, out);
        self.groups.shown.remove(&fold(channel));
        if !view.joined && view.invited_by.is_none() {
            self.groups.views.remove(&fold(channel));
        }
        true
    }

    /// One change in a channel the client shows, from the member who made it.
    fn render_change(
        &mut self,
        view: &GroupView,
        old: &GroupView,
        change: &Change,
        time: Option<u64>,
        origin: Option<FrontendId>,
        out: &mut Vec<Action>,
    ) {
        let own = self.settings.own;
        let channel: &str = &view.channel;
        let server = self.settings.server_name.clone();
        let line = match change {
            Change::Invited { peer, by } if *by == own && origin == self.frontend_id => {
                let nick = self.member_nick(peer);
                return self.numeric_bare(out, RPL_INVITING, &[&nick, channel]);
            }
            Change::Invited { peer, by } if self.caps.invite_notify => {
                let nick = self.member_nick(peer);
                self.invite_line(by, &nick, channel)
            }
            Change::Invited { peer, by } => {
                let text = format!(
                    "{} invited {} to {channel}",
                    self.member_nick(by),
                    self.member_nick(peer)
                );
                render::line(Some(&server), "NOTICE", &[channel], Some(&text))
            }
            Change::Uninvited { peer } => {
                let text = format!(
                    "The invitation of {} to {channel} ended (declined or withdrawn)",
                    self.member_nick(peer)
                );
                render::line(Some(&server), "NOTICE", &[channel], Some(&text))
            }
            Change::Joined { peer } if *peer == own => return,
            Change::Joined { peer } => {
                let from = self.member_prefix(peer);
                let line = render::line(Some(&from), "JOIN", &[channel], None);
                self.push_timed(time, line, out);
                if self.caps.away_notify
                    && let Some(reason) = self.peer_away.get(peer)
                {
                    let line = render::line(Some(&from), "AWAY", &[], Some(reason));
                    out.push(Action::Send(line));
                }
                return;
            }
            Change::Parted { peer, reason } => {
                let from = self.member_prefix(peer);
                let reason = render::clean_body(reason);
                let reason = (!reason.is_empty()).then_some(&*reason);
                render::line(Some(&from), "PART", &[channel], reason)
            }
            Change::Undone { peer } => {
                let from = self.member_prefix(peer);
                render::line(Some(&from), "PART", &[channel], Some(UNDONE))
            }
            Change::Kicked { peer, by, reason } => {
                let from = self.member_prefix(by);
                let nick = self.member_nick(peer);
                let reason = render::clean_body(reason);
                render::line(Some(&from), "KICK", &[channel, &nick], Some(&reason))
            }
            Change::Opped { peer, by } => {
                let from = self.member_prefix(by);
                let nick = self.member_nick(peer);
                render::line(Some(&from), "MODE", &[channel, "+o", &nick], None)
            }
            Change::Deopped { peer } => {
                let nick = self.member_nick(peer);
                render::line(Some(&server), "MODE", &[channel, "-o", &nick], None)
            }
            Change::Topic { topic: Some(topic) } => {
                let from = self.member_prefix(&topic.by);
                let text = render::clean_body(&topic.text);
                render::line(Some(&from), "TOPIC", &[channel], Some(&text))
            }
            // Cleared: the view does not say by whom.
            Change::Topic { topic: None } => {
                render::line(Some(&server), "TOPIC", &[channel], Some(""))
            }
            Change::Modes { modes, by } => {
                let delta = mode_delta(old.modes, *modes);
                if delta.is_empty() {
                    return;
                }
                let from = self.member_prefix(by);
                render::line(Some(&from), "MODE", &[channel, &delta], None)
            }
        };
        self.push_timed(time, line, out);
    }

    /// `+v`/`-v` by the server for members whose session came up or went down (and for
    /// those who just joined while online).
    fn group_voices(&mut self, view: &GroupView, old: &GroupView, out: &mut Vec<Action>) {
        let server = self.settings.server_name.clone();
        for member in &view.members {
            if member.peer == self.settings.own {
                continue;
            }
            let was = old.member(&member.peer).is_some_and(|m| m.online);
            if was != member.online {
                let nick = self.member_nick(&member.peer);
                let mode = if member.online { "+v" } else { "-v" };
                let line = render::line(Some(&server), "MODE", &[&view.channel, mode, &nick], None);
                out.push(Action::Send(line));
            }
        }
    }

    /// JOIN, topic and NAMES: what a client sees when it enters a group's channel.
    fn group_join_burst(&mut self, view: &GroupView, time: Option<u64>, out: &mut Vec<Action>) {
        let line = render::line(Some(&self.own_prefix()), "JOIN", &[&view.channel], None);
        self.push_timed(time, line, out);
        self.send_group_topic(view, false, out);
        self.send_group_names(view, out);
    }

    /// 332 and 333 for a topic; 331 for none when `always` (TOPIC asks), nothing on JOIN.
    pub(super) fn send_group_topic(&self, view: &GroupView, always: bool, out: &mut Vec<Action>) {
        let channel: &str = &view.channel;
        match &view.topic {
            Some(topic) => {
                self.numeric(out, RPL_TOPIC, &[channel], &render::clean_body(&topic.text));
                let setter = self.member_nick(&topic.by);
                let at = (topic.at_ms / 1000).to_string();
                self.numeric_bare(out, RPL_TOPICWHOTIME, &[channel, &setter, &at]);
            }
            None if always => self.numeric(out, RPL_NOTOPIC, &[channel], "No topic is set"),
            None => {}
        }
    }

    /// 353 lines and 366.
    pub(super) fn send_group_names(&self, view: &GroupView, out: &mut Vec<Action>) {
        self.send_member_names(&view.channel, &self.group_members(view), out);
    }

    /// A group's members as NAMES and WHO show them: `@` operators, `+` online (both with
    /// multi-prefix, the higher one without).
    pub(super) fn group_members(&self, view: &GroupView) -> Vec<Member> {
        let own = self.settings.own;
        view.members
            .iter()
            .map(|m| {
                let status = self.member_status(m);
                let (user_host, realname, away) = if m.peer == own {
                    (OWN_USER_HOST, "you", self.own_away.is_some())
                } else if self.book.get(&m.peer).is_some() {
                    let away = self.peer_away.contains_key(&m.peer);
                    (PEER_USER_HOST, "DiSIMS contact", away)
                } else {
                    let away = self.peer_away.contains_key(&m.peer);
                    (PEER_USER_HOST, "DiSIMS peer", away)
                };
                Member {
                    nick: self.member_nick(&m.peer),
                    user_host,
                    status,
                    away,
                    realname,
                }
            })
            .collect()
    }

    /// A member's prefixes: `@` operator, `+` online (voiced); both with multi-prefix,
    /// the higher one without.
    fn member_status(&self, m: &GroupMember) -> &'static str {
        match (m.operator, m.online) {
            (true, true) if self.caps.multi_prefix => "@+",
            (true, _) => "@",
            (false, true) => "+",
            (false, false) => "",
        }
    }

    /// The nick a member shows under: ours, or its display nick (petname, else key nick).
    pub(super) fn member_nick(&self, peer: &PeerId) -> String {
        if *peer == self.settings.own {
            self.own_nick.clone()
        } else {
            self.book.display_nick(peer)
        }
    }

    /// The prefix a member speaks under.
    fn member_prefix(&mut self, peer: &PeerId) -> String {
        if *peer == self.settings.own {
            self.own_prefix()
        } else {
            self.peer_prefix(peer).to_string()
        }
    }

    /// `:by!peer@disims INVITE nick #channel`.
    fn invite_line(&mut self, by: &PeerId, nick: &str, channel: &str) -> String {
        let from = self.member_prefix(by);
        render::line(Some(&from), "INVITE", &[nick, channel], None)
    }

    /// A line with `@time` when the client negotiated server-time and the line renders a
    /// change made at `time`.
    fn push_timed(&self, time: Option<u64>, line: String, out: &mut Vec<Action>) {
        let tags = match time {
            Some(ms) if self.caps.server_time => vec![("time", render::format_server_time(ms))],
            _ => Vec::new(),
        };
        out.push(Action::Send(render::with_tags(&tags, line)));
    }

    /// The numeric for a refused group request (to the asker only).
    fn on_group_refused(
        &mut self,
        channel: &str,
        action: Option<&GroupAction>,
        reason: &GroupRefusal,
        out: &mut Vec<Action>,
    ) {
        let target = action.and_then(action_peer).map(|p| self.member_nick(&p));
        let (code, text) = match reason {
            GroupRefusal::NoSuchChannel => (ERR_NOSUCHCHANNEL, "No such channel".to_string()),
            GroupRefusal::BadName(why) => (
                ERR_BADCHANNAME,
                format!("Illegal channel name: {}", render::clean_body(why)),
            ),
            GroupRefusal::NotOnChannel => (ERR_NOTONCHANNEL, "You're not on that channel".into()),
            GroupRefusal::InviteOnly => (
                ERR_INVITEONLYCHAN,
                "Cannot join channel (+i): a group is joined by invitation".into(),
            ),
            GroupRefusal::Refused(refusal) => match refusal_numeric(refusal, action) {
                Some((code, text)) if needs_nick(code) => match &target {
                    Some(nick) => return self.numeric(out, code, &[nick, channel], text),
                    None => return self.refusal_notice(channel, &refusal.to_string(), out),
                },
                Some((code, text)) => (code, text.to_string()),
                None => return self.refusal_notice(channel, &refusal.to_string(), out),
            },
            GroupRefusal::Failed(why) => return self.refusal_notice(channel, why, out),
        };
        self.numeric(out, code, &[channel], &text);
    }

    fn refusal_notice(&self, channel: &str, why: &str, out: &mut Vec<Action>) {
        self.server_notice(out, &format!("{channel}: not done: {why}"));
    }
}

/// The peer a group action names.
fn action_peer(action: &GroupAction) -> Option<PeerId> {
    match action {
        GroupAction::Invite { peer }
        | GroupAction::Kick { peer, .. }
        | GroupAction::Op { peer }
        | GroupAction::Deop { peer } => Some(*peer),
        _ => None,
    }
}

/// Whether a numeric names a nick before the channel (441, 443).
fn needs_nick(code: &str) -> bool {
    code == ERR_USERNOTINCHANNEL || code == ERR_USERONCHANNEL
}

/// The numeric and text for a refusal by the group's rules; `None`: a NOTICE says why.
fn refusal_numeric(
    refusal: &Refusal,
    action: Option<&GroupAction>,
) -> Option<(&'static str, &'static str)> {
    let invite = matches!(action, Some(GroupAction::Invite { .. }));
    Some(match refusal {
        Refusal::NotOperator => (ERR_CHANOPRIVSNEEDED, "You're not channel operator"),
        Refusal::NotSenior => (
            ERR_CHANOPRIVSNEEDED,
            "You're not channel operator: an operator of an earlier rank outranks you",
        ),
        Refusal::Unseen => (
            ERR_CHANOPRIVSNEEDED,
            "You're not channel operator (yet: the change that gives you the right has not \
             reached this gateway)",
        ),
        Refusal::AlreadyMember if invite => (ERR_USERONCHANNEL, "is already on channel"),
        Refusal::AlreadyInvited if invite => (ERR_USERONCHANNEL, "is already invited"),
        Refusal::NoSuchMember => (ERR_USERNOTINCHANNEL, "They aren't on that channel"),
        Refusal::NotAnOperator => (ERR_USERNOTINCHANNEL, "They aren't a channel operator"),
        Refusal::Moderated => (
            ERR_CANNOTSENDTOCHAN,
            "Cannot send to channel (+m): only operators speak",
        ),
        Refusal::GroupFull => (
            ERR_CHANNELISFULL,
            "Cannot join channel (+l): the group holds 256 members and invitations",
        ),
        _ => return None,
    })
}

impl Client {
    /// 319 for WHOIS: the channels the client shows that have `peer` as a member, with its
    /// prefix there. Nothing when there are none.
    pub(super) fn whois_channels(&self, nick: &str, peer: &PeerId, out: &mut Vec<Action>) {
        let channels: Vec<String> = self
            .groups
            .joined()
            .filter_map(|v| {
                let prefix = self.member_status(v.member(peer)?);
                Some(format!("{prefix}{}", v.channel))
            })
            .collect();
        if channels.is_empty() {
            return;
        }
        for chunk in chunks(&channels, ' ', NAMES_BYTES) {
            self.numeric(out, RPL_WHOISCHANNELS, &[nick], &chunk);
        }
    }
}
