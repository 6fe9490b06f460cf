//! Getting events to the front ends: each has a bounded queue filled with `try_send`, and
//! one that falls behind is dropped rather than stalling the hub. What a dropped front end
//! had taken is not lost: a stored received message counts as shown only once a front end
//! reports it written to its client ([`crate::message::FrontendRequest::Shown`]), so
//! until then it is only *in flight* to that front end, and forgotten with it.

use super::{BACKLOG_LIMIT, FrontendId, Router};
use crate::message::{FrontendEvent, StoredRow};

/// Which attached front ends an event is for.
#[derive(Clone, Copy)]
enum Audience {
    All,
    /// Those that show echoes of sent messages.
    Echoes,
}

impl Router {
    /// Sends an event to every attached front end, or keeps it until one attaches.
    pub(super) fn broadcast(&mut self, event: FrontendEvent) {
        if let Err(event) = self.deliver(event) {
            if self.backlog.len() >= BACKLOG_LIMIT {
                self.backlog.pop_front();
                self.backlog_dropped += 1;
            }
            self.backlog.push_back(event);
        }
    }

    /// Whether any attached front end shows echoes of sent messages.
    pub(super) fn wants_echoes(&self) -> bool {
        self.frontends.keys().any(|id| !self.no_echoes.contains(id))
    }

    /// Delivers an echo ([`FrontendEvent::Sent`]) to the front ends that show echoes.
    pub(super) fn deliver_echo(&mut self, event: FrontendEvent) {
        let _ = self.deliver_to(event, Audience::Echoes, None);
    }

    /// Sends an event to every attached front end; gives it back when none took it.
    pub(super) fn deliver(&mut self, event: FrontendEvent) -> Result<(), FrontendEvent> {
        self.deliver_to(event, Audience::All, None)
    }

    /// Delivers a stored received message (history row `row`, held as shown by the store or
    /// not) to every attached front end, remembering it as in flight to each that took it;
    /// gives it back when none did.
    pub(super) fn deliver_stored(
        &mut self,
        event: FrontendEvent,
        row: StoredRow,
        stored_shown: bool,
    ) -> Result<(), FrontendEvent> {
        self.deliver_to(event, Audience::All, Some((row, stored_shown)))
    }

    /// Whether `row` is in flight to an attached front end.
    pub(super) fn is_in_flight(&self, row: StoredRow) -> bool {
        self.in_flight.values().any(|rows| rows.contains_key(&row))
    }

    /// Forgets what front end `id` had in flight: the live messages among them that no
    /// other front end has on its way go back to unshown, for the next playback (a played-back
    /// one is still unshown in the store).
    pub(super) fn forget_in_flight(&mut self, id: FrontendId) {
        let Some(rows) = self.in_flight.remove(&id) else {
            return;
        };
        let mut back: Vec<StoredRow> = rows
            .into_iter()
            .filter(|&(row, stored_shown)| stored_shown && !self.is_in_flight(row))
            .map(|(row, _)| row)
            .collect();
        if back.is_empty() {
            return;
        }
        back.sort_unstable();
        if let Some(store) = self.store.as_mut()
            && let Err(e) = store.mark_unshown(&back).and_then(|()| store.commit())
        {
            tracing::error!(error = %e, rows = back.len(), "cannot give messages a departed client did not show back to playback");
        }
    }

    /// Sends an event to the `audience`; gives it back when none took it. A front end that
    /// cannot keep up is dropped rather than stalling everyone (what it had in flight stays
    /// unshown). The last one gets the event itself, the others a copy.
    fn deliver_to(
        &mut self,
        event: FrontendEvent,
        audience: Audience,
        row: Option<(StoredRow, bool)>,
    ) -> Result<(), FrontendEvent> {
        let no_echoes = &self.no_echoes;
        let wanted = |id: &FrontendId| match audience {
            Audience::All => true,
            Audience::Echoes => !no_echoes.contains(id),
        };
        // (A map iterates in the same order twice as long as it is not changed.)
        let Some((last, _)) = self
            .frontends
            .keys()
            .enumerate()
            .filter(|(_, id)| wanted(id))
            .last()
        else {
            return Err(event);
        };
        let mut delivered = false;
        let mut dropped = Vec::new();
        let mut event = Some(event);
        for (i, (id, tx)) in self.frontends.iter().enumerate() {
            if !wanted(id) {
                continue;
            }
            let Some(copy) = (if i == last {
                event.take()
            } else {
                event.clone()
            }) else {
                break;
            };
            match tx.try_send(copy) {
                Ok(()) => {
                    delivered = true;
                    if let Some((row, stored_shown)) = row {
                        self.in_flight
                            .entry(*id)
                            .or_default()
                            .insert(row, stored_shown);
                    }
                }
                Err(e) => {
                    tracing::warn!(frontend = id, error = %e, "dropping a front end that does not keep up");
                    dropped.push(*id);
                    if i == last {
                        event = Some(e.into_inner());
                    }
                }
            }
        }
        for id in dropped {
            self.frontends.remove(&id);
            self.forget_in_flight(id);
        }
        match (delivered, event) {
            (false, Some(event)) => Err(event),
            _ => Ok(()),
        }
    }
}
