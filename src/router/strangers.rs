//! The hub's side of the strangers' budgets ([`crate::policy::strangers`]): who is exempt
//! (contacts and our own key: told to the store's quota and to the sessions' rate gate),
//! the history quota applied before strangers' messages are stored, new senders beyond the
//! per-minute budget held and their announcements coalesced, and the history's retention
//! pruned a batch at a time.

use std::time::Instant;

use super::{Router, RouterInput, now_ms};
use crate::control::{count, hex};
use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent};
use crate::policy::strangers::{NewSender, NewSenders, row_bytes};
use crate::store::PRUNE_BATCH;

/// Senders listed by `held` at most.
const HELD_LISTED: usize = 50;

/// The pause between two batches of pruning.
const PRUNE_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// The hub's state for strangers.
#[derive(Debug)]
pub(super) struct Strangers {
    pub(super) new_senders: NewSenders,
    /// The user was told that strangers' history reached its quota.
    quota_told: bool,
    /// Strangers' rows deleted to keep them under the quota, since the start.
    pub(super) evicted_rows: u64,
}

impl Strangers {
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            new_senders: NewSenders::new(per_minute),
            quota_told: false,
            evicted_rows: 0,
        }
    }
}

/// Why [`Router::new_sender`] let a new sender through or not.
pub(super) enum Verdict {
    Show,
    Hold { announce: bool },
}

impl Router {
    /// Whether `peer` is budgeted as a stranger (not a contact, not our own key).
    pub(super) fn is_stranger(&self, peer: &PeerId) -> bool {
        *peer != self.ctx.own && self.book.get(peer).is_none()
    }

    /// Tells the store who is exempt from the quota (after the book changed) and the
    /// sessions' gate the budget. (The gate's contacts are `ctx.contacts`, which
    /// `contacts_changed` updates.)
    pub(super) fn sync_strangers(&mut self) {
        let exempt: Vec<PeerId> = self
            .book
            .iter_sorted()
            .into_iter()
            .map(|c| c.peer)
            .chain([self.ctx.own])
            .collect();
        self.ctx
            .router
            .gate()
            .set_budget(self.settings.strangers.rate);
        if let Some(store) = self.store.as_mut() {
            store.set_exempt(exempt);
        }
    }

    /// A sender never seen before: shown (and announced, at once or with others shortly
    /// after), or, beyond the per-minute budget or when `ask`ing anyway, held.
    pub(super) fn new_sender(&mut self, peer: PeerId, ask: bool) -> Verdict {
        use crate::store::SenderState::{Announced, Asked};
        let now = Instant::now();
        let verdict = match self.strangers.new_senders.arrive(peer.nick(), now, ask) {
            NewSender::ShowAnnounce if ask => Verdict::Hold { announce: true },
            NewSender::ShowAnnounce => {
                let nick = peer.nick();
                let text = format!(
                    "New sender {nick} (key {}) wrote to you. To keep it as a contact: add {nick} [petname]",
                    hex(peer.as_bytes())
                );
                self.broadcast(FrontendEvent::ControlAnnounce { text });
                Verdict::Show
            }
            NewSender::ShowLater { flush_at, schedule } => {
                self.schedule_announcements(flush_at, schedule);
                Verdict::Show
            }
            NewSender::Hold { flush_at, schedule } => {
                self.schedule_announcements(flush_at, schedule);
                Verdict::Hold { announce: false }
            }
        };
        match verdict {
            Verdict::Show => self.remember_sender(peer, Announced),
            // `hold` remembers it when it announces it.
            Verdict::Hold { announce: false } => self.remember_sender(peer, Asked),
            Verdict::Hold { announce: true } => {}
        }
        verdict
    }

    fn schedule_announcements(&self, at: Instant, schedule: bool) {
        if !schedule || tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let router = self.ctx.router.clone();
        let shutdown = self.ctx.shutdown.clone();
        self.ctx.tracker.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep_until(tokio::time::Instant::from_std(at)) => {
                    router.dispatch(RouterInput::AnnounceSenders);
                }
            }
        });
    }

    /// Shows the coalesced announcements of new senders, when due.
    pub(super) fn announce_senders(&mut self) {
        let (lines, next) = self.strangers.new_senders.due(Instant::now());
        for text in lines {
            self.broadcast(FrontendEvent::ControlAnnounce { text });
        }
        if let Some(at) = next {
            self.schedule_announcements(at, true);
        }
    }

    /// Makes room under the strangers' quota for `messages` from `peer` (a stranger), in the
    /// store's open write; false when the store failed (nothing may be acknowledged then).
    pub(super) fn make_room(&mut self, peer: &PeerId, messages: &[ChatMessage]) -> bool {
        let quota = self.limits.stranger_quota;
        let Some(store) = self.store.as_mut() else {
            return true;
        };
        let incoming = messages.iter().map(|m| row_bytes(m.text.len())).sum();
        let evicted = match store.make_room(peer, incoming, &quota) {
            Ok(evicted) => evicted,
            Err(e) => {
                tracing::error!(error = %e, "cannot make room for a stranger's messages; not acknowledging them");
                return false;
            }
        };
        if evicted.rows == 0 {
            return true;
        }
        self.strangers.evicted_rows += evicted.rows;
        tracing::info!(
            peer = %peer.short(),
            rows = evicted.rows,
            bytes = evicted.bytes,
            "strangers' history over its quota; their oldest messages deleted"
        );
        if !self.strangers.quota_told {
            self.strangers.quota_told = true;
            let text = format!(
                "Messages from peers who are not your contacts reached their share of the history ({} MiB in all, {} MiB per sender: [store] stranger_quota_mib): their oldest messages, held ones too, are deleted to make room for new ones from now on. Your contacts' messages are never deleted. (Said once.)",
                quota.total >> 20,
                quota.per_sender >> 20
            );
            self.broadcast(FrontendEvent::ControlAnnounce { text });
        }
        true
    }

    /// Prunes one batch of the history older than `before_ms` after row `after`; schedules
    /// the next batch as an input of its own, so that the hub's lock is held for one batch
    /// at a time.
    pub(super) fn prune_history(&mut self, before_ms: u64, after: i64) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        let step = match store.prune_history_batch(before_ms, after, PRUNE_BATCH) {
            Ok(step) => step,
            Err(e) => {
                tracing::warn!(error = %e, "cannot prune the history");
                return;
            }
        };
        let Some(after) = step.next else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            // No runtime to take turns on (a test): go on here.
            return self.prune_history(before_ms, after);
        }
        let router = self.ctx.router.clone();
        self.ctx.tracker.spawn(async move {
            // Whatever waits for the lock goes first, and the log's checkpoints keep up
            // with the deletes (a prune of a large backlog is not urgent).
            tokio::time::sleep(PRUNE_PAUSE).await;
            router.dispatch(RouterInput::PruneHistory { before_ms, after });
        });
    }

    /// `held`: the senders whose messages are held, oldest first (at most [`HELD_LISTED`]).
    pub(super) fn cmd_held(&mut self) -> Result<Vec<String>, String> {
        let Some(store) = self.store.as_ref() else {
            return Ok(vec!["Nothing is held (no store)".into()]);
        };
        let held = store
            .held_senders(HELD_LISTED + 1)
            .map_err(|e| e.to_string())?;
        if held.is_empty() {
            return Ok(vec!["Nothing is held".into()]);
        }
        let mut lines = vec![format!(
            "Held, oldest first (\"accept <nick>\" shows them, \"reject <nick>\" deletes them):"
        )];
        lines.extend(
            held.iter()
                .take(HELD_LISTED)
                .map(|(peer, n)| format!("  {}: {}", peer.nick(), count(*n, "message"))),
        );
        if held.len() > HELD_LISTED {
            lines.push(format!(
                "  and more: accept or reject these, then \"held\" lists the next {HELD_LISTED}"
            ));
        }
        Ok(lines)
    }

    /// The history's retention cut-off now. With `history_days = 0` the rows (their text
    /// deleted once shown) are kept for the outbox expiry, so that a resend is recognised.
    pub(super) fn history_cutoff(&self) -> u64 {
        let keep = self.limits.history.max(self.limits.expire_after);
        now_ms().saturating_sub(keep.as_millis() as u64)
    }

    /// Tells the store whether shown messages keep their text (`history_days` above 0);
    /// when not, the rows shown so far lose it now, except those still in flight to a
    /// front end (their text goes once it reports them written: [`Router::shown`]).
    pub(super) fn apply_retention(&mut self) {
        let keep = !self.limits.history.is_zero();
        let in_flight: Vec<_> = self
            .in_flight
            .values()
            .flat_map(|rows| rows.keys().copied())
            .collect();
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.keep_shown(keep, &in_flight)
        {
            tracing::error!(error = %e, "cannot delete the text of shown messages");
        }
    }
}

#[cfg(test)]
#[path = "strangers_tests.rs"]
mod tests;
