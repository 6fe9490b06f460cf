//! Replies to one front end's requests, in the order of its requests. Most replies are
//! ready at once; `status` asks the directory in a task, so it reserves its place: replies
//! to later requests wait behind it, and go out as soon as it is filled (the task always
//! fills it, within `status`'s timeout).

use std::collections::VecDeque;

use super::{FrontendId, Router};
use crate::message::FrontendEvent;

/// Replies one front end may have waiting behind an unfinished one; beyond that it does
/// not keep up (it sends requests faster than the directory answers) and is dropped.
pub const MAX_WAITING_REPLIES: usize = 1000;

/// A place in a front end's line of replies.
#[derive(Debug)]
pub(super) enum Slot {
    /// Reserved by a reply that is being prepared (the number names it).
    Reserved(u64),
    Ready(FrontendEvent),
}

impl Router {
    /// Sends a reply to one front end, after the replies it is still waiting for (dropped,
    /// like in `deliver`, if it cannot keep up).
    pub(super) fn reply_to(&mut self, to: FrontendId, event: FrontendEvent) {
        match self.waiting.get_mut(&to) {
            Some(line) if line.len() >= MAX_WAITING_REPLIES => self.drop_frontend(to),
            Some(line) => line.push_back(Slot::Ready(event)),
            None => self.send_reply(to, event),
        }
    }

    /// Reserves the next place in `to`'s line of replies, for a reply prepared in a task
    /// that hands it to [`Self::fill_reply`] with the number returned.
    pub(super) fn reserve_reply(&mut self, to: FrontendId) -> u64 {
        self.next_slot += 1;
        let slot = self.next_slot;
        let line = self.waiting.entry(to).or_default();
        if line.len() >= MAX_WAITING_REPLIES {
            self.drop_frontend(to);
        } else {
            line.push_back(Slot::Reserved(slot));
        }
        slot
    }

    /// A reserved reply is ready: it goes out, with the replies that waited behind it up to
    /// the next one still being prepared.
    pub(super) fn fill_reply(&mut self, to: FrontendId, slot: u64, event: FrontendEvent) {
        let Some(line) = self.waiting.get_mut(&to) else {
            // The front end went away meanwhile.
            return;
        };
        if let Some(place) = line
            .iter_mut()
            .find(|s| matches!(s, Slot::Reserved(n) if *n == slot))
        {
            *place = Slot::Ready(event);
        }
        let mut ready = Vec::new();
        while let Some(Slot::Ready(_)) = line.front() {
            if let Some(Slot::Ready(event)) = line.pop_front() {
                ready.push(event);
            }
        }
        if line.is_empty() {
            self.waiting.remove(&to);
        }
        for event in ready {
            self.send_reply(to, event);
        }
    }

    fn send_reply(&mut self, to: FrontendId, event: FrontendEvent) {
        if let Some(tx) = self.frontends.get(&to)
            && let Err(e) = tx.try_send(event)
        {
            tracing::warn!(frontend = to, error = %e, "dropping a front end that does not keep up");
            self.drop_frontend(to);
        }
    }

    /// Forgets a front end that does not keep up.
    fn drop_frontend(&mut self, to: FrontendId) {
        self.frontends.remove(&to);
        self.waiting.remove(&to);
        self.unwatch_all(to);
    }
}

/// The replies waiting for each front end (absent: none waits).
pub(super) type Waiting = std::collections::HashMap<FrontendId, VecDeque<Slot>>;
