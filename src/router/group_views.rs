//! What front ends see of groups: each group's view (members with their roles and
//! presence, topic, modes), sent to the front ends attached when it changes and to each
//! one that attaches; never kept in the backlog, since a view says everything.

use std::sync::Arc;

use super::{Router, now_ms};
use crate::group::{Change, GroupId};
use crate::identity::PeerId;
use crate::message::{FrontendEvent, FrontendId, GroupMember, GroupView};

impl Router {
    /// What front ends show of a group, once it has a name and a state.
    pub(super) fn group_view(&self, id: &GroupId) -> Option<Arc<GroupView>> {
        let entry = self.groups.map.get(id)?;
        let channel = entry.channel.clone()?;
        let state = entry.group.state()?;
        let own = self.ctx.own;
        let online =
            |p: &PeerId| *p == own || self.peers.get(p).is_some_and(|s| s.active.is_some());
        let members = state
            .members
            .iter()
            .map(|(peer, m)| GroupMember {
                peer: *peer,
                operator: m.is_operator(),
                online: online(peer),
            })
            .collect();
        let joined = state.is_member(&own);
        Some(Arc::new(GroupView {
            channel,
            name: state.name.clone(),
            joined,
            invited_by: state
                .invited
                .get(&own)
                .and_then(|i| i.first())
                .map(|i| i.by)
                .filter(|_| !joined),
            members,
            invited: state.invited.keys().copied().collect(),
            topic: state.topic.clone(),
            modes: state.modes,
            created_at_ms: entry.group.created_at_ms().unwrap_or(0),
        }))
    }

    /// Tells the front ends attached now what changed in a group (never kept for later
    /// ones: they get every group's view when they attach).
    pub(super) fn show_group(
        &mut self,
        id: &GroupId,
        changes: Vec<Change>,
        at_ms: u64,
        origin: Option<FrontendId>,
    ) {
        if changes.iter().any(|c| {
            matches!(
                c,
                Change::Joined { .. }
                    | Change::Invited { .. }
                    | Change::Uninvited { .. }
                    | Change::Parted { .. }
                    | Change::Kicked { .. }
                    | Change::Undone { .. }
            )
        }) {
            self.sync_co_members();
        }
        let Some(view) = self.group_view(id) else {
            return;
        };
        let _ = self.deliver(FrontendEvent::Group {
            view,
            changes,
            at_ms: at_ms.min(now_ms()),
            origin,
        });
    }

    /// Every group's view, for a front end that attaches (groups we are in or invited to).
    pub(super) fn greet_groups(&self, events: &tokio::sync::mpsc::Sender<FrontendEvent>) {
        let own = self.ctx.own;
        let mut ids: Vec<(&Arc<str>, GroupId)> = self
            .groups
            .map
            .iter()
            .filter(|(_, e)| e.group.state().is_some_and(|s| s.is_party(&own)))
            .filter_map(|(id, e)| e.channel.as_ref().map(|c| (c, *id)))
            .collect();
        ids.sort();
        for (_, id) in ids {
            if let Some(view) = self.group_view(&id) {
                let _ = events.try_send(FrontendEvent::Group {
                    view,
                    changes: Vec::new(),
                    at_ms: now_ms(),
                    origin: None,
                });
            }
        }
    }

    /// A member's session came up or ended: front ends show who is online (voiced).
    pub(super) fn groups_presence(&mut self, peer: PeerId) {
        let own = self.ctx.own;
        let ids = self
            .groups
            .ids_where(|s| s.is_member(&peer) && s.is_member(&own));
        for id in ids {
            self.show_group(&id, Vec::new(), now_ms(), None);
        }
    }
}
