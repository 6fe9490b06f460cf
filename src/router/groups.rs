//! Groups in the hub (issue 15; design: docs/plans/groups.md): the hub owns every group
//! this gateway is in or invited to ([`crate::group::Group`], the pure state machine) and
//! their local channel names, and turns the user's requests into signed ops and chats
//! sent to each other member through the durable outbox. What peers send is taken in
//! `group_inbox.rs`; this file is the user's side: requests, the views front ends show,
//! and loading the groups at start.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Router, now_ms};
use crate::group::{Action, Change, Group, GroupError, GroupId, GroupState, Modes, SignedOp};
use crate::identity::{PeerId, random_bytes};
use crate::message::{
    ChatMessage, FrontendEvent, FrontendId, GroupAction, GroupRefusal, MessageKind, PeerMessage,
    truncate,
};
use crate::peer::wire::MAX_TEXT;
use crate::policy::TokenBucket;

/// Groups we are not a member of (invited, or waiting for the invitation's log) kept at
/// most, and at most [`MAX_STRANGER_INVITATIONS`] of them from peers who are not contacts:
/// anyone can make keys and groups for free, and each group costs its log.
pub const MAX_UNJOINED: usize = 32;
pub const MAX_STRANGER_INVITATIONS: usize = 8;
/// GroupHeads a peer may have answered per group: a burst, then one a minute (an answer
/// can be the whole log).
const SYNC_BURST: f64 = 8.0;
const SYNC_PER_SECOND: f64 = 1.0 / 60.0;
/// Parting and kicking reasons are cut to this (IRC's KICKLEN), topics to 390 (TOPICLEN).
const MAX_REASON: usize = 255;
const MAX_TOPIC: usize = 390;

/// One group as the hub holds it.
pub(super) struct Entry {
    pub(super) group: Group,
    /// Its local channel name, once its Create op has come (an invitee learns the name from
    /// it).
    pub(super) channel: Option<Arc<str>>,
    /// It came as an invitation from a peer who is not a contact.
    pub(super) from_stranger: bool,
    /// Who sent us the invitation, while its log has not come (asked again at each session).
    pub(super) inviter: Option<PeerId>,
    /// When this run took it (an invitation whose log never comes makes room for a new
    /// one after [`ORPHAN_GRACE`]).
    pub(super) taken_at: std::time::Instant,
}

/// An invitation whose group's log has not come this long after it (its Create op never
/// came: a lost or a forged invitation) gives its place to a new one when the bounds are
/// full; until then the inviter is asked again at each session.
pub const ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// The hub's groups and their local names.
#[derive(Default)]
pub(super) struct Groups {
    pub(super) map: HashMap<GroupId, Entry>,
    /// Local channel names, ASCII lower case (CASEMAPPING=ascii), to groups.
    names: HashMap<String, GroupId>,
    /// How many GroupHeads of each peer and group may still be answered now.
    pub(super) sync: HashMap<(PeerId, GroupId), TokenBucket>,
}

impl Groups {
    pub(super) fn by_channel(&self, channel: &str) -> Option<GroupId> {
        self.names.get(&channel.to_ascii_lowercase()).copied()
    }

    pub(super) fn channel(&self, group: &GroupId) -> Option<Arc<str>> {
        self.map.get(group).and_then(|e| e.channel.clone())
    }

    /// Invitations waiting for the user (or for their group's log): all, and those from
    /// strangers. Groups we left, declined or were kicked from do not count.
    pub(super) fn unjoined(&self, own: &PeerId) -> (usize, usize) {
        let unjoined = self
            .map
            .values()
            .filter(|e| e.group.state().is_none_or(|s| s.is_invited(own)));
        unjoined.fold((0, 0), |(all, strangers), e| {
            (all + 1, strangers + usize::from(e.from_stranger))
        })
    }

    /// Groups we are a member of.
    pub(super) fn joined(&self, own: &PeerId) -> usize {
        let member = |e: &&Entry| e.group.state().is_some_and(|s| s.is_member(own));
        self.map.values().filter(member).count()
    }

    /// Holds a new group (no local name yet); returns its entry.
    pub(super) fn insert(&mut self, group: Group, from_stranger: bool) -> &mut Entry {
        let entry = Entry {
            group,
            channel: None,
            from_stranger,
            inviter: None,
            taken_at: std::time::Instant::now(),
        };
        self.map
            .entry(entry.group.id())
            .insert_entry(entry)
            .into_mut()
    }

    /// Gives group `id` the local name `channel` (the store has it already).
    fn set_channel(&mut self, id: GroupId, channel: &str) {
        if let Some(entry) = self.map.get_mut(&id) {
            self.names.insert(channel.to_ascii_lowercase(), id);
            entry.channel = Some(channel.into());
        }
    }

    /// The oldest invitation whose log has not come in [`ORPHAN_GRACE`] (of those from
    /// strangers only, when `strangers`).
    pub(super) fn oldest_orphan(&self, strangers: bool) -> Option<GroupId> {
        self.map
            .iter()
            .filter(|(_, e)| e.group.state().is_none() && (e.from_stranger || !strangers))
            .filter(|(_, e)| e.taken_at.elapsed() >= ORPHAN_GRACE)
            .min_by_key(|(_, e)| e.taken_at)
            .map(|(id, _)| *id)
    }

    /// The groups whose state `wanted` picks.
    pub(super) fn ids_where(&self, wanted: impl Fn(&GroupState) -> bool) -> Vec<GroupId> {
        let picked = |(_, e): &(&GroupId, &Entry)| e.group.state().is_some_and(&wanted);
        self.map.iter().filter(picked).map(|(id, _)| *id).collect()
    }

    /// Whether `peer` may have a GroupHeads of `group` answered now.
    pub(super) fn may_sync(&mut self, peer: PeerId, group: GroupId) -> bool {
        let now = std::time::Instant::now();
        self.sync
            .entry((peer, group))
            .or_insert_with(|| TokenBucket::new(SYNC_PER_SECOND, SYNC_BURST, now))
            .try_take(1.0, now)
    }
}

/// The op a user's request makes.
fn action_of(action: GroupAction) -> Action {
    match action {
        GroupAction::Join => Action::Join,
        GroupAction::Part { reason } => Action::Part {
            reason: cut(reason, MAX_REASON),
        },
        GroupAction::Invite { peer } => Action::Invite { peer },
        GroupAction::Kick { peer, reason } => Action::Kick {
            peer,
            reason: cut(reason, MAX_REASON),
        },
        GroupAction::Topic { text } => Action::Topic {
            text: cut(text, MAX_TOPIC),
        },
        GroupAction::Op { peer } => Action::Op { peer },
        GroupAction::Deop { peer } => Action::Deop { peer },
        GroupAction::Mode { set, clear } => Action::Mode { set, clear },
    }
}

/// `text` cut to at most `max` bytes, at a character boundary ([`truncate`], in place).
fn cut(mut text: String, max: usize) -> String {
    let end = truncate(&text, max).len();
    text.truncate(end);
    text
}

impl Router {
    /// Loads the groups the store holds (at start): each is rebuilt from its ops.
    pub(super) fn load_groups(&mut self) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let named = store.groups().map(|named| {
            named
                .into_iter()
                .map(|(g, c)| (g, Some(c)))
                .collect::<Vec<_>>()
        });
        let unnamed = store.unnamed_groups();
        let all = match (named, unnamed) {
            (Ok(mut named), Ok(unnamed)) => {
                named.extend(unnamed.into_iter().map(|g| (g, None)));
                named
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot read the groups");
                return;
            }
        };
        for (id, channel) in all {
            let Some(store) = self.store.as_ref() else {
                return;
            };
            let ops = match store.group_ops(&id) {
                Ok(ops) => ops,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read a group's ops");
                    continue;
                }
            };
            let mut group = Group::new(id);
            let own = self.ctx.own;
            let inviter = ops.iter().find_map(|op| match op.op().action {
                Action::Invite { peer } if peer == own => Some(op.author()),
                _ => None,
            });
            group.apply_all(ops);
            let inviter_of_state = group
                .state()
                .and_then(|s| s.invited.get(&self.ctx.own))
                .and_then(|i| i.first())
                .map(|i| i.by);
            let from_stranger = inviter_of_state
                .or(inviter)
                .is_some_and(|by| self.is_stranger(&by));
            self.groups.insert(group, from_stranger).inviter = inviter;
            match channel {
                Some(channel) => self.groups.set_channel(id, &channel),
                None => {
                    self.name_group(id);
                }
            }
        }
        self.sync_co_members();
    }

    /// Gives a group whose Create op has come a local channel name: `#` and its name, or
    /// `#name-2`, `#name-3`... when that is taken. Returns whether the name is not the
    /// group's own.
    pub(super) fn name_group(&mut self, id: GroupId) -> bool {
        let Some(entry) = self.groups.map.get(&id) else {
            return false;
        };
        let Some(state) = entry.group.state().filter(|_| entry.channel.is_none()) else {
            return false;
        };
        let base = format!("#{}", state.name);
        for n in 1..1000 {
            let channel = match n {
                1 => base.clone(),
                n => format!("{base}-{n}"),
            };
            let key = channel.to_ascii_lowercase();
            if self.groups.names.contains_key(&key) {
                continue;
            }
            if let Some(store) = self.store.as_mut() {
                match store.add_group(&id, &channel, now_ms()) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot name a group");
                        return false;
                    }
                }
            }
            self.groups.set_channel(id, &channel);
            return n > 1;
        }
        false
    }

    /// A request of front end `from` about a group.
    pub(super) fn group_request(&mut self, from: FrontendId, channel: String, action: GroupAction) {
        let result = match (self.groups.by_channel(&channel), &action) {
            (None, GroupAction::Join) => self.create_group(from, &channel),
            (None, _) => Err(GroupRefusal::NoSuchChannel),
            (Some(id), GroupAction::Join) => self.join_group(from, id),
            (Some(id), _) => self.author(from, id, action_of(action.clone())),
        };
        if let Err(reason) = result {
            self.reply_to(
                from,
                FrontendEvent::GroupRefused {
                    channel,
                    action: Some(action),
                    reason,
                },
            );
        }
    }

    /// `JOIN` of a name no group has: a new group, with the user its only member and
    /// operator, and `+t`.
    fn create_group(&mut self, from: FrontendId, channel: &str) -> Result<(), GroupRefusal> {
        let name = channel
            .strip_prefix('#')
            .ok_or(GroupRefusal::NoSuchChannel)?;
        crate::group::op::check_name(name).map_err(|e| GroupRefusal::BadName(e.to_string()))?;
        self.room_to_join()?;
        let nonce = random_bytes().map_err(|e| GroupRefusal::Failed(e.to_string()))?;
        let modes = Modes {
            topic_ops: true,
            ..Modes::default()
        };
        let now = now_ms();
        let (group, create) = Group::create(&self.ctx.identity, name, modes, nonce, now)
            .map_err(|e| GroupRefusal::Failed(e.to_string()))?;
        let id = group.id();
        if let Some(store) = self.store.as_mut() {
            store
                .store_group_ops_open(&id, &[&create])
                .map_err(|e| GroupRefusal::Failed(format!("cannot store the group ({e})")))?;
        }
        self.groups.insert(group, false);
        // The name is free (no group has it): `#` and the name as the user typed it.
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.add_group(&id, channel, now)
        {
            tracing::error!(error = %e, "cannot name a new group");
        }
        self.groups.set_channel(id, channel);
        let changes = vec![Change::Joined { peer: self.ctx.own }];
        self.show_group(&id, changes, now, Some(from));
        Ok(())
    }

    /// Tells the peer layer who shares a group with the user, members and invitees of the
    /// groups the user is in (their sessions count as contacts' in the session shares);
    /// after every change of membership.
    pub(super) fn sync_co_members(&mut self) {
        let own = self.ctx.own;
        let mut peers = std::collections::HashSet::new();
        for entry in self.groups.map.values() {
            // Invitees too: a new member's session comes up before its Join is known.
            if let Some(state) = entry.group.state().filter(|s| s.is_member(&own)) {
                peers.extend(state.op_recipients(&own));
            }
        }
        peers.retain(|p| !self.book.is_blocked(p));
        self.ctx.co_members.set(peers);
    }

    /// Whether the user may be in one more group.
    fn room_to_join(&self) -> Result<(), GroupRefusal> {
        match self.groups.joined(&self.ctx.own) >= MAX_JOINED {
            true => Err(GroupRefusal::Failed(format!(
                "you are in {MAX_JOINED} groups already"
            ))),
            false => Ok(()),
        }
    }

    /// `JOIN` of a group's name: accept its invitation; nothing when we are a member.
    fn join_group(&mut self, from: FrontendId, id: GroupId) -> Result<(), GroupRefusal> {
        let own = self.ctx.own;
        let state = self.groups.map.get(&id).and_then(|e| e.group.state());
        match state {
            Some(s) if s.is_member(&own) => {
                // The front end may not show it (a client that missed the JOIN): again.
                if let Some(view) = self.group_view(&id) {
                    let event = FrontendEvent::Group {
                        view,
                        changes: Vec::new(),
                        at_ms: now_ms(),
                        origin: Some(from),
                    };
                    self.reply_to(from, event);
                }
                Ok(())
            }
            Some(s) if s.is_invited(&own) => {
                self.room_to_join()?;
                self.author(from, id, Action::Join)
            }
            _ => Err(GroupRefusal::InviteOnly),
        }
    }

    /// Makes an op of the user in group `id`, stores it and sends it to every member and
    /// invitee (before and after it: a Kick reaches the kicked, an Invite the invitee).
    fn author(
        &mut self,
        from: FrontendId,
        id: GroupId,
        action: Action,
    ) -> Result<(), GroupRefusal> {
        let own = self.ctx.own;
        let entry = self
            .groups
            .map
            .get_mut(&id)
            .ok_or(GroupRefusal::NoSuchChannel)?;
        let before = entry
            .group
            .state()
            .map(|s| s.op_recipients(&own))
            .unwrap_or_default();
        let member = entry.group.state().is_some_and(|s| s.is_member(&own));
        let declining = matches!(action, Action::Part { .. })
            && entry.group.state().is_some_and(|s| s.is_invited(&own));
        if !member && !declining && !matches!(action, Action::Join) {
            return Err(GroupRefusal::NotOnChannel);
        }
        let now = now_ms();
        let (op, effects) = entry
            .group
            .author(&self.ctx.identity, action, now)
            .map_err(|e| match e {
                GroupError::Refused(r) => GroupRefusal::Refused(r),
                e => GroupRefusal::Failed(e.to_string()),
            })?;
        let after = entry
            .group
            .state()
            .map(|s| s.op_recipients(&own))
            .unwrap_or_default();
        let mut recipients = before;
        recipients.extend(after);
        recipients.sort();
        recipients.dedup();
        recipients.retain(|p| *p != own);
        if let Err(e) = self.send_op(&id, &op, &recipients) {
            // The op is in memory but not stored: rebuild the group from the store.
            self.reload_group(id);
            return Err(GroupRefusal::Failed(e));
        }
        self.show_group(&id, effects.changes, now, Some(from));
        Ok(())
    }

    /// Stores `op` and queues it for each recipient (one outbox row each, one message id).
    fn send_op(
        &mut self,
        id: &GroupId,
        op: &SignedOp,
        recipients: &[PeerId],
    ) -> Result<(), String> {
        let message_id = self.next_message_id();
        let messages: Vec<(PeerId, PeerMessage)> = recipients
            .iter()
            .filter(|p| !self.book.is_blocked(p))
            .map(|p| {
                let message = PeerMessage::GroupOp {
                    id: message_id,
                    op: op.clone(),
                };
                (*p, message)
            })
            .collect();
        if let Some(store) = self.store.as_mut() {
            store
                .store_group_ops_open(id, &[op])
                .and_then(|_| store.enqueue_messages_open(&messages))
                .map_err(|e| format!("cannot store the change ({e})"))?;
        }
        for (peer, message) in messages {
            self.send_to(peer, message);
        }
        Ok(())
    }

    /// Rebuilds a group from the ops the store holds (after a write of one failed).
    pub(super) fn reload_group(&mut self, id: GroupId) {
        let Some(ops) = self.store.as_ref().and_then(|s| s.group_ops(&id).ok()) else {
            return;
        };
        let mut group = Group::new(id);
        group.apply_all(ops);
        if let Some(entry) = self.groups.map.get_mut(&id) {
            entry.group = group;
        }
    }

    /// A message of the user to a group: one outbox row per other member, one id; echoed
    /// once committed.
    pub(super) fn group_send(
        &mut self,
        from: FrontendId,
        channel: String,
        kind: MessageKind,
        text: String,
    ) {
        // A notice is never answered (RFC 2812), not even with a refusal.
        if let Err(reason) = self.try_group_send(from, &channel, kind, text)
            && kind != MessageKind::Notice
        {
            let event = FrontendEvent::GroupRefused {
                channel,
                action: None,
                reason,
            };
            self.reply_to(from, event);
        }
    }

    fn try_group_send(
        &mut self,
        from: FrontendId,
        channel: &str,
        kind: MessageKind,
        text: String,
    ) -> Result<(), GroupRefusal> {
        let own = self.ctx.own;
        let id = self
            .groups
            .by_channel(channel)
            .ok_or(GroupRefusal::NoSuchChannel)?;
        let entry = &self.groups.map[&id];
        let state = entry
            .group
            .state()
            .filter(|s| s.is_member(&own))
            .ok_or(GroupRefusal::NotOnChannel)?;
        if state.modes.moderated && !state.is_operator(&own) {
            return Err(GroupRefusal::Refused(crate::group::Refusal::Moderated));
        }
        if text.len() > MAX_TEXT {
            return Err(GroupRefusal::Failed(format!(
                "not sent: longer than {MAX_TEXT} bytes"
            )));
        }
        let deps = entry.group.chat_deps(&own);
        let channel = entry.channel.clone().unwrap_or_else(|| channel.into());
        let recipients: Vec<PeerId> = state
            .recipients(&own)
            .into_iter()
            .filter(|p| !self.book.is_blocked(p))
            .collect();
        let message = ChatMessage {
            id: self.next_message_id(),
            kind,
            text,
            sent_at_ms: now_ms(),
        };
        let messages: Vec<(PeerId, PeerMessage)> = recipients
            .iter()
            .map(|p| {
                let m = PeerMessage::GroupChat {
                    group: id,
                    deps: deps.clone(),
                    message: message.clone(),
                };
                (*p, m)
            })
            .collect();
        let ticket = match self.store.as_mut() {
            Some(store) if !messages.is_empty() => {
                Some(store.enqueue_messages_open(&messages).map_err(|e| {
                    GroupRefusal::Failed(format!("not sent: the message could not be stored ({e})"))
                })?)
            }
            _ => None,
        };
        let echo = self.wants_echoes().then(|| FrontendEvent::GroupSent {
            channel,
            message,
            origin: from,
        });
        for (peer, m) in messages {
            self.send_to(peer, m);
        }
        match (ticket, echo) {
            (Some(ticket), echo) => self.unsettled.push((ticket, None, echo)),
            (None, Some(echo)) => self.deliver_echo(echo),
            (None, None) => {}
        }
        Ok(())
    }
}

/// Groups we are a member of, at most: each member's message costs a row per member.
pub const MAX_JOINED: usize = 256;
