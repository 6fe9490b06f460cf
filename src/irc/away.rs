//! Away status: the user's own (AWAY, answered with 305/306 once the hub confirms it to
//! every client) and the peers' (remembered, shown as 301 when the user writes to an away
//! peer, and as `AWAY` lines for contacts to clients with away-notify).

use super::client::{AWAYLEN, Action, Client};
use super::numerics::*;
use super::render;
use crate::identity::PeerId;
use crate::message::{FrontendRequest, truncate};

impl Client {
    pub(super) fn on_away(&mut self, params: &[String], out: &mut Vec<Action>) {
        let reason = params
            .first()
            .map(|r| render::clean_body(r).trim().to_string())
            .filter(|r| !r.is_empty())
            .map(|r| truncate(&r, AWAYLEN).to_string());
        out.push(Action::Request(FrontendRequest::SetAway { reason }));
    }

    pub(super) fn on_own_away(&mut self, reason: &Option<String>, out: &mut Vec<Action>) {
        self.own_away = reason.clone();
        match reason {
            Some(_) => self.numeric(out, RPL_NOWAWAY, &[], "You have been marked as being away"),
            None => self.numeric(
                out,
                RPL_UNAWAY,
                &[],
                "You are no longer marked as being away",
            ),
        }
    }

    pub(super) fn on_peer_away(
        &mut self,
        peer: PeerId,
        reason: &Option<String>,
        out: &mut Vec<Action>,
    ) {
        // A reason that cleaning empties is still "away" (an empty AWAY would read as back).
        let reason = reason.as_deref().map(|r| {
            let r = render::clean_body(r);
            let r = truncate(r.trim(), AWAYLEN);
            if r.is_empty() {
                "away".to_string()
            } else {
                r.to_string()
            }
        });
        let before = match &reason {
            Some(r) => self.peer_away.insert(peer, r.clone()),
            None => self.peer_away.remove(&peer),
        };
        if before == reason {
            return;
        }
        // away-notify is about users in a channel the client shares: contacts in &disims,
        // members of the groups it is in.
        let in_control = self.channel.joined && self.book.get(&peer).is_some();
        if self.caps.away_notify && (in_control || self.groups.shares(&peer)) {
            let prefix = self.peer_prefix(&peer);
            let line = render::line(Some(&prefix), "AWAY", &[], reason.as_deref());
            out.push(Action::Send(line));
        }
    }
}
