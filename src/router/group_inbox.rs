//! What peers send about groups (issue 15; docs/plans/groups.md sections 5 and 6): ops
//! taken into a group's log and stored before they are acknowledged, chats checked against
//! the group's state (shown, kept until their causal context arrives, or dropped), and the
//! sync that brings a member the ops it lacks (GroupHeads answered with GroupOps, budgeted
//! per peer and group).

use super::inbox::Receipt;
use super::{CLOCK_SKEW_MS, Router, now_ms};
use crate::config::UnknownSenders;
use crate::group::wire::GroupMessage;
use crate::group::{Action, Change, ChatVerdict, Group, GroupId, OpId, SignedOp};
use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent, PeerMessage};
use crate::peer::SessionCommand;
use crate::store::groups::GroupChatState;

/// At most this many heads go in one GroupHeads (the wire's bound).
const MAX_HEADS: usize = 64;
/// Chats of one group kept while their causal context is missing, at most: beyond, they
/// are acknowledged and dropped (a member could otherwise fill the disk with chats naming
/// ops that never come).
pub const MAX_WAITING_CHATS: usize = 256;

impl Router {
    /// Takes one group message from `peer` (an op or a chat; private chats go elsewhere).
    pub(super) fn receive_group(&mut self, peer: PeerId, message: PeerMessage) -> Receipt {
        if self.book.is_blocked(&peer) {
            return Receipt::Stored;
        }
        match message {
            PeerMessage::GroupOp { op, .. } => self.receive_op(peer, op),
            PeerMessage::GroupChat {
                group,
                deps,
                message,
            } => self.receive_group_chat(peer, group, deps, message),
            PeerMessage::Chat(_) => Receipt::Stored,
        }
    }

    /// An op from `peer` (its author, or a member passing on a sync): into the group's log
    /// and the store. An op of a group we do not know is kept only when it invites us.
    fn receive_op(&mut self, peer: PeerId, op: SignedOp) -> Receipt {
        let id = op.op().group;
        if !self.groups.map.contains_key(&id) && !self.take_invitation(peer, &op) {
            return Receipt::Stored;
        }
        let Some(entry) = self.groups.map.get_mut(&id) else {
            return Receipt::Stored;
        };
        let at_ms = op.op().created_at_ms;
        let effects = match entry.group.apply(op.clone()) {
            Ok(effects) => effects,
            Err(e) => {
                tracing::debug!(peer = %peer.short(), error = %e, "group op dropped");
                return Receipt::Stored;
            }
        };
        let ticket = match self
            .store
            .as_mut()
            .map(|s| s.store_group_ops_open(&id, &[&op]))
        {
            None => None,
            Some(Ok(ticket)) => Some(ticket),
            Some(Err(e)) => {
                tracing::error!(error = %e, "cannot store a group op; not acknowledging it");
                self.reload_group(id);
                return Receipt::NotStored;
            }
        };
        for (op, e) in &effects.dropped {
            tracing::debug!(op = ?&op.0[..4], error = %e, "a waiting group op was dropped");
        }
        if !effects.missing.is_empty() {
            self.send_heads(peer, id);
        }
        if !effects.admitted.is_empty() {
            let renamed = self.name_group(id);
            self.tell_changes(id, peer, effects.changes, at_ms, renamed);
            self.decide_waiting(id);
        }
        match ticket {
            Some(ticket) => Receipt::Pending(ticket),
            None => Receipt::Stored,
        }
    }

    /// An op of a group we do not know: kept (a new group, waiting for its log) when it is
    /// an Invite of us, from a peer we take invitations from, within the bounds.
    fn take_invitation(&mut self, peer: PeerId, op: &SignedOp) -> bool {
        let own = self.ctx.own;
        if !matches!(op.op().action, Action::Invite { peer: p } if p == own) {
            return false;
        }
        let stranger = self.is_stranger(&peer);
        if stranger && self.settings.unknown == UnknownSenders::Drop {
            return false;
        }
        let (unjoined, from_strangers) = self.groups.unjoined(&own);
        let full = unjoined >= super::groups::MAX_UNJOINED;
        let strangers_full = stranger && from_strangers >= super::groups::MAX_STRANGER_INVITATIONS;
        if full || strangers_full {
            // An invitation whose log never came makes room; a real one waits for the user.
            let Some(orphan) = self.groups.oldest_orphan(strangers_full && !full) else {
                tracing::info!(peer = %peer.short(), "an invitation to a group dropped: too many invitations wait");
                return false;
            };
            self.forget_orphan(orphan);
        }
        self.groups
            .insert(Group::new(op.op().group), stranger)
            .inviter = Some(peer);
        true
    }

    /// Forgets an invitation whose group's log never came.
    fn forget_orphan(&mut self, id: GroupId) {
        self.groups.map.remove(&id);
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.forget_unnamed_group(&id)
        {
            tracing::warn!(error = %e, "cannot forget an invitation whose log never came");
        }
    }

    /// Shows what ops from `peer` changed, and announces an invitation of us.
    fn tell_changes(
        &mut self,
        id: GroupId,
        peer: PeerId,
        changes: Vec<Change>,
        at_ms: u64,
        renamed: bool,
    ) {
        let own = self.ctx.own;
        let invited_by = changes.iter().find_map(|c| match c {
            Change::Invited { peer, by } if *peer == own => Some(*by),
            _ => None,
        });
        if let (Some(by), Some(view)) = (invited_by, self.group_view(&id)) {
            let nick = |p: &PeerId| self.book.display_nick(p);
            let mut members: Vec<String> = view.members.iter().map(|m| nick(&m.peer)).collect();
            members.sort_by_key(|n| n.to_ascii_lowercase());
            let mut text = format!(
                "{} invites you to {} ({} member{}: {})",
                nick(&by),
                view.channel,
                members.len(),
                if members.len() == 1 { "" } else { "s" },
                members.join(", "),
            );
            if renamed {
                text.push_str(&format!(
                    "; you have a channel named #{} already, so it is {} here",
                    view.name, view.channel
                ));
            }
            text.push_str(&format!(
                ". /join {} to accept, /part {} to decline",
                view.channel, view.channel
            ));
            self.broadcast(FrontendEvent::ControlAnnounce { text });
        }
        if !changes.is_empty() {
            tracing::debug!(peer = %peer.short(), changes = changes.len(), "group changed");
            self.show_group(&id, changes, at_ms, None);
        }
    }

    /// A chat to a group from `peer`: shown when the group's state says `peer` may speak,
    /// kept until its causal context arrives, or dropped (acknowledged either way).
    fn receive_group_chat(
        &mut self,
        peer: PeerId,
        id: GroupId,
        deps: Vec<OpId>,
        mut message: ChatMessage,
    ) -> Receipt {
        let Some(entry) = self.groups.map.get(&id) else {
            return Receipt::Stored;
        };
        let now = now_ms();
        if message.sent_at_ms > now + CLOCK_SKEW_MS {
            message.sent_at_ms = now;
        }
        let verdict = entry.group.check_chat(&peer, &deps);
        let channel = entry.channel.clone();
        let state = match (&verdict, &channel) {
            (ChatVerdict::Accept, Some(_)) if !self.frontends.is_empty() => GroupChatState::Shown,
            (ChatVerdict::Accept, _) => GroupChatState::Unshown,
            (ChatVerdict::Wait { .. }, _) => GroupChatState::Waiting,
            (ChatVerdict::Drop(why), _) => {
                tracing::debug!(peer = %peer.short(), %why, "group chat dropped");
                return Receipt::Stored;
            }
        };
        if let ChatVerdict::Wait { missing } = &verdict {
            let full = self.store.as_ref().is_some_and(|s| {
                s.waiting_count(&id)
                    .map_or(true, |n| n >= MAX_WAITING_CHATS)
            });
            if full {
                tracing::debug!(peer = %peer.short(), "group chat dropped: too many wait for their ops");
                return Receipt::Stored;
            }
            if !missing.is_empty() {
                self.send_heads(peer, id);
            }
        }
        // A stranger's rows fit under its share of the history quota (its oldest go first),
        // as for its private chats.
        if self.store.is_some()
            && self.is_stranger(&peer)
            && !self.make_room(&peer, std::slice::from_ref(&message))
        {
            return Receipt::NotStored;
        }
        let Some(store) = self.store.as_mut() else {
            if state != GroupChatState::Waiting
                && let Some(channel) = channel
                && self.peer(peer).first_sight(message.id)
            {
                self.broadcast(FrontendEvent::GroupReceived {
                    channel,
                    from: peer,
                    message,
                    played_back: false,
                    stored: None,
                });
            }
            return Receipt::Stored;
        };
        let (row, ticket) =
            match store.receive_group_chat_open(&peer, &id, &deps, &message, now, state) {
                Ok(written) => written,
                Err(e) => {
                    tracing::error!(error = %e, "cannot store a group chat; not acknowledging it");
                    return Receipt::NotStored;
                }
            };
        if let (Some(row), GroupChatState::Shown, Some(channel)) = (row, state, channel) {
            self.show_group_chat(channel, peer, message, row);
        }
        Receipt::Pending(ticket)
    }

    /// Shows a stored group chat live; when no front end took it, it goes to playback.
    fn show_group_chat(
        &mut self,
        channel: std::sync::Arc<str>,
        from: PeerId,
        message: ChatMessage,
        row: i64,
    ) {
        let event = FrontendEvent::GroupReceived {
            channel,
            from,
            message,
            played_back: false,
            stored: Some(row),
        };
        if self.deliver_stored(event, row, true).is_err()
            && let Some(store) = self.store.as_mut()
            && let Err(e) = store.mark_unshown(&[row])
        {
            tracing::error!(error = %e, "cannot mark a group chat for playback");
        }
    }

    /// Ops of group `id` came: decides the chats that waited for them.
    fn decide_waiting(&mut self, id: GroupId) {
        let Some(store) = self.store.as_ref() else {
            return;
        };
        let waiting = match store.waiting_chats(&id) {
            Ok(waiting) if !waiting.is_empty() => waiting,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the chats waiting for a group's ops");
                return;
            }
        };
        let Some(entry) = self.groups.map.get(&id) else {
            return;
        };
        let channel = entry.channel.clone();
        let live = !self.frontends.is_empty() && channel.is_some();
        let mut decisions = Vec::new();
        let mut shown = Vec::new();
        for chat in waiting {
            let state = match entry.group.check_chat(&chat.from, &chat.deps) {
                ChatVerdict::Wait { .. } => continue,
                ChatVerdict::Accept if live => GroupChatState::Shown,
                ChatVerdict::Accept => GroupChatState::Unshown,
                ChatVerdict::Drop(_) => GroupChatState::Dropped,
            };
            if state == GroupChatState::Shown {
                shown.push(chat.clone());
            }
            decisions.push((chat.row, state));
        }
        if decisions.is_empty() {
            return;
        }
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.decide_waiting(&decisions)
        {
            tracing::error!(error = %e, "cannot decide the chats waiting for a group's ops");
            return;
        }
        if let Some(channel) = channel {
            for chat in shown {
                self.show_group_chat(channel.clone(), chat.from, chat.message, chat.row);
            }
        }
    }

    /// Sends `peer` our heads of group `id`, so that it sends what we lack.
    pub(super) fn send_heads(&mut self, peer: PeerId, id: GroupId) {
        let Some(entry) = self.groups.map.get(&id) else {
            return;
        };
        // The latest heads (in the total order) when there are more than a GroupHeads holds.
        let mut heads = entry.group.heads();
        heads.drain(..heads.len().saturating_sub(MAX_HEADS));
        self.send_sync(peer, GroupMessage::Heads { group: id, heads });
    }

    /// A group message outside the outbox, on the session with `peer` if one is up (a sync
    /// lost with it is made again at the next one).
    fn send_sync(&mut self, peer: PeerId, message: GroupMessage) {
        if let Some(session) = self.peers.get(&peer).and_then(|s| s.active.as_ref()) {
            let _ = session.commands.send(SessionCommand::Group(message));
        }
    }

    /// `peer`'s heads of group `id`: when it is a member or invited, it gets the ops it
    /// lacks (parents first), and our heads when it has some we lack.
    pub(super) fn group_heads(&mut self, peer: PeerId, id: GroupId, heads: Vec<OpId>) {
        let own = self.ctx.own;
        let Some(entry) = self.groups.map.get(&id) else {
            return;
        };
        let Some(state) = entry.group.state() else {
            return;
        };
        if !state.is_party(&peer) || !state.is_party(&own) {
            return;
        }
        let lacking = !heads.iter().all(|h| entry.group.knows(h));
        let missing: Vec<SignedOp> = entry
            .group
            .missing_for(&heads)
            .into_iter()
            .cloned()
            .collect();
        if (!missing.is_empty() || lacking) && !self.groups.may_sync(peer, id) {
            tracing::debug!(peer = %peer.short(), "group sync budget spent");
            return;
        }
        for op in missing {
            let id = self.next_message_id();
            self.send_sync(peer, GroupMessage::Op { id, op });
        }
        if lacking {
            self.send_heads(peer, id);
        }
    }

    /// A session with `peer` came up: our heads of each group it shares with us, so that
    /// each side gets what the other has; and front ends show it online.
    pub(super) fn groups_session_up(&mut self, peer: PeerId) {
        let own = self.ctx.own;
        let shared = self
            .groups
            .ids_where(|s| s.is_party(&peer) && s.is_party(&own));
        for id in shared {
            self.send_heads(peer, id);
        }
        // An invitation from `peer` whose log has not come yet: ask again.
        let orphans: Vec<GroupId> = self
            .groups
            .map
            .iter()
            .filter(|(_, e)| e.group.state().is_none() && e.inviter == Some(peer))
            .map(|(id, _)| *id)
            .collect();
        for id in orphans {
            self.send_heads(peer, id);
        }
        self.groups_presence(peer);
    }
}
