//! Rates and disk quotas for peers that are not contacts ("strangers"): anyone can make a
//! key for free, so what one key, or many, can make the gateway keep is bounded here, and
//! contacts are never budgeted. Pure: no sockets, no clock (callers pass `now`).
//!
//! - [`RateBudget`]: how fast one stranger's session may hand us chats. Over budget, the
//!   session stops acknowledging (nothing unacknowledged is stored) and closes; the sender's
//!   outbox keeps the rest. The buckets outlive sessions ([`StrangerGate`]), so reconnecting
//!   does not refill them.
//! - [`Quota`]: how many bytes of history strangers' messages may hold, per sender and in
//!   all, counted as the store sees them ([`row_bytes`]). Over it, strangers' oldest rows go.
//! - [`NewSenders`]: how many new senders a minute are shown, and how their announcements are
//!   coalesced into one line; beyond the budget, new senders are held as with `ask`.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::TokenBucket;
use crate::identity::PeerId;

/// What one history row costs beside its text: the peer key (32), the id (16), the kind,
/// the times and the shown flag, the row's b-tree cell and its entry in the `(peer, id)`
/// index. Measured: a flood of 1-byte chats grew the database by about 210 bytes a row.
pub const ROW_OVERHEAD: u64 = 200;

/// The bytes one received message costs the history, as budgets count them.
pub fn row_bytes(text_len: usize) -> u64 {
    text_len as u64 + ROW_OVERHEAD
}

/// Default of `[contacts] stranger_bytes_per_second`: 32 KiB/s, about 160 one-line chats a
/// second, far above what a person types, far below the 1.4 MB/s one attacker wrote.
pub const DEFAULT_RATE_BYTES: u64 = 32 * 1024;
/// Default of `[contacts] stranger_burst_bytes`: 256 KiB, a backlog of about a thousand
/// short messages queued while we were offline goes through at once.
pub const DEFAULT_BURST_BYTES: u64 = 256 * 1024;
/// Default of `[store] stranger_quota_mib`: strangers' history in all, 64 MiB (a laptop
/// does not notice it; about 300,000 short messages).
pub const DEFAULT_QUOTA_TOTAL_MIB: u64 = 64;
/// Default of `[store] stranger_quota_per_sender_mib`: 4 MiB, about 20,000 short messages.
pub const DEFAULT_QUOTA_PER_SENDER_MIB: u64 = 4;
/// Default of `[contacts] new_senders_per_minute`: beyond this many new senders in a
/// minute, further ones are held as with `ask` (a person does not meet 20 people a minute).
pub const DEFAULT_NEW_SENDERS_PER_MINUTE: u32 = 20;

/// New senders seen within this time of the first one are announced together, in one line
/// (beyond the first [`IMMEDIATE`], which are announced at once, each on its own line).
pub const COALESCE: Duration = Duration::from_secs(2);
/// New senders announced at once within [`COALESCE`]: a few people writing at about the
/// same time each get their line, with their full key, without waiting.
pub const IMMEDIATE: usize = 3;
/// The window of the new-sender budget.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Nicks named in one coalesced line, at most ("... and N more").
pub const MAX_NAMED: usize = 8;
/// Per-stranger rate buckets remembered at most (full ones are forgotten first).
pub const MAX_BUCKETS: usize = 10_000;

/// How fast one stranger may hand us chats, in bytes as [`row_bytes`] counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateBudget {
    pub bytes_per_second: u64,
    pub burst_bytes: u64,
}

impl Default for RateBudget {
    fn default() -> Self {
        Self {
            bytes_per_second: DEFAULT_RATE_BYTES,
            burst_bytes: DEFAULT_BURST_BYTES,
        }
    }
}

impl RateBudget {
    fn bucket(&self, now: Instant) -> TokenBucket {
        TokenBucket::new(self.bytes_per_second as f64, self.burst_bytes as f64, now)
    }
}

/// How much history strangers' messages may hold, in bytes as [`row_bytes`] counts them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub per_sender: u64,
    pub total: u64,
}

impl Default for Quota {
    fn default() -> Self {
        Self {
            per_sender: DEFAULT_QUOTA_PER_SENDER_MIB << 20,
            total: DEFAULT_QUOTA_TOTAL_MIB << 20,
        }
    }
}

impl Quota {
    /// Bytes to free before `incoming` more bytes from a sender holding `sender` bytes fit,
    /// when strangers hold `total`: (from this sender's oldest rows, from all strangers'
    /// oldest rows). Freeing goes a little below the quota (a sixteenth), so that it is not
    /// done again for every message once the quota is reached.
    pub fn to_free(&self, sender: u64, total: u64, incoming: u64) -> (u64, u64) {
        let over = |held: u64, limit: u64| {
            let after = held.saturating_add(incoming);
            if after <= limit {
                0
            } else {
                after - (limit - limit / 16)
            }
        };
        let from_sender = over(sender, self.per_sender).min(sender);
        let from_all = over(total - from_sender.min(total), self.total);
        (from_sender, from_all)
    }
}

/// The session's view of who is budgeted: the hub's contacts (never budgeted; the same set
/// the peer layer counts sessions by, `PeerContext::contacts`), the budget, and one bucket
/// per stranger, kept across sessions so that reconnecting does not refill it. Shared between
/// the hub (which updates it) and every session (which asks it).
#[derive(Debug, Default)]
pub struct StrangerGate {
    contacts: crate::peer::ContactSet,
    /// `None`: nobody is budgeted (no hub, or tests and benchmarks of raw sessions).
    budget: RwLock<Option<RateBudget>>,
    buckets: Mutex<HashMap<PeerId, TokenBucket>>,
}

impl StrangerGate {
    /// The contacts, never budgeted (the hub keeps the set up to date).
    pub fn contacts(&self) -> &crate::peer::ContactSet {
        &self.contacts
    }

    /// Sets the budget (`None`: nobody is budgeted); the buckets start over only when it
    /// changes.
    pub fn set_budget(&self, budget: Option<RateBudget>) {
        let mut current = self.budget.write().unwrap_or_else(|p| p.into_inner());
        if *current != budget {
            *current = budget;
            self.buckets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
    }

    /// Whether `peer`'s chats are budgeted at all (it is not a contact, and a budget is set).
    pub fn budgeted(&self, peer: &PeerId) -> bool {
        self.budget
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
            && !self.contacts.contains(peer)
    }

    /// Takes `bytes` from `peer`'s bucket; false when it is over its budget (the chat must
    /// not be acknowledged). Contacts, and everyone when no budget is set, always pass.
    pub fn admit(&self, peer: &PeerId, bytes: u64, now: Instant) -> bool {
        let Some(budget) = *self.budget.read().unwrap_or_else(|p| p.into_inner()) else {
            return true;
        };
        if self.contacts.contains(peer) {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(peer) {
            // Full buckets hold nothing worth keeping; should none be full, the map is
            // cleared (fresh keys get a full bucket anyway: the disk quota bounds them).
            buckets.retain(|_, b| !b.is_full(now));
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        buckets
            .entry(*peer)
            .or_insert_with(|| budget.bucket(now))
            .try_take(bytes as f64, now)
    }
}

/// What to do with a new sender (one never announced nor asked about).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewSender {
    /// Within the budget: shown; announce it now (the first of a quiet spell).
    ShowAnnounce,
    /// Within the budget: shown; its announcement waits to be coalesced with others
    /// ([`NewSenders::due`]), at `flush_at`.
    ShowLater { flush_at: Instant, schedule: bool },
    /// Over the budget: held as with `ask`; the user hears at `flush_at` how many.
    Hold { flush_at: Instant, schedule: bool },
}

/// The new-sender budget and the coalescing of announcements. The first new sender of a
/// quiet spell is announced at once (as a lone sender always was); those within
/// [`COALESCE`] after it wait and are announced together in one line; beyond
/// `per_minute` new senders in a [`WINDOW`], further ones are held, and counted in the
/// same line.
#[derive(Debug)]
pub struct NewSenders {
    per_minute: u32,
    window_start: Option<Instant>,
    admitted: u32,
    /// Shown senders waiting for their announcement, and how many beyond those named.
    shown: Vec<String>,
    shown_more: usize,
    /// Held senders not yet told about, and how many beyond those named.
    held: Vec<String>,
    held_more: usize,
    /// Of the held ones, how many were held for being over the budget.
    over_budget: usize,
    /// When the waiting announcements go out (a flush is scheduled then).
    flush_at: Option<Instant>,
    /// When the user was last told of held senders, and when next (a flush is scheduled).
    held_told: Option<Instant>,
    held_due: Option<Instant>,
    /// When the spell of announcements made at once began, and how many so far.
    spell: Option<(Instant, usize)>,
}

impl NewSenders {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            window_start: None,
            admitted: 0,
            shown: Vec::new(),
            shown_more: 0,
            held: Vec::new(),
            held_more: 0,
            over_budget: 0,
            flush_at: None,
            held_told: None,
            held_due: None,
            spell: None,
        }
    }

    /// Decides about a new sender whose nick is `nick`; `ask`: its messages are held
    /// anyway (`unknown = "ask"`), only its announcement is coalesced.
    pub fn arrive(&mut self, nick: String, now: Instant, ask: bool) -> NewSender {
        if self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= WINDOW)
        {
            self.window_start = Some(now);
            self.admitted = 0;
        }
        let over = self.admitted >= self.per_minute;
        if !over {
            self.admitted += 1;
            let spell = match self.spell {
                Some((start, n)) if now.saturating_duration_since(start) < COALESCE => (start, n),
                _ => (now, 0),
            };
            if spell.1 < IMMEDIATE && self.flush_at.is_none() {
                self.spell = Some((spell.0, spell.1 + 1));
                return NewSender::ShowAnnounce;
            }
        }
        let hold = over || ask;
        self.over_budget += usize::from(over);
        let (names, more) = match hold {
            true => (&mut self.held, &mut self.held_more),
            false => (&mut self.shown, &mut self.shown_more),
        };
        if names.len() < MAX_NAMED {
            names.push(nick);
        } else {
            *more += 1;
        }
        let schedule = self.flush_at.is_none();
        let flush_at = *self.flush_at.get_or_insert(now + COALESCE);
        match hold {
            true => NewSender::Hold { flush_at, schedule },
            false => NewSender::ShowLater { flush_at, schedule },
        }
    }

    /// The lines to show now: the coalesced announcement of shown senders, when due; and
    /// the held senders, at most once per [`WINDOW`]. Also when to ask again, if held
    /// senders wait for the next window (`None`: nothing to schedule).
    pub fn due(&mut self, now: Instant) -> (Vec<String>, Option<Instant>) {
        let list = |names: &[String], more: usize| {
            let mut text = names.join(", ");
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            text
        };
        let mut lines = Vec::new();
        let flushed = self.flush_at.is_some_and(|at| now >= at);
        if !flushed && self.held_due.is_none_or(|at| now < at) {
            return (lines, None);
        }
        if flushed {
            self.flush_at = None;
            self.spell = Some((now, IMMEDIATE));
            let shown = self.shown.len() + self.shown_more;
            if shown > 0 {
                lines.push(format!(
                    "{} wrote to you: {}. To keep one as a contact: add <nick> [petname]",
                    crate::control::count(shown, "new sender"),
                    list(&self.shown, self.shown_more)
                ));
            }
            self.shown.clear();
            self.shown_more = 0;
        }
        let held = self.held.len() + self.held_more;
        if held == 0 {
            return (lines, None);
        }
        let allowed = self.held_told.map(|t| t + WINDOW);
        if allowed.is_some_and(|at| now < at) {
            // Told less than a window ago: once more at the window's end.
            let next = self.held_due.is_none().then_some(allowed).flatten();
            self.held_due = allowed;
            return (lines, next);
        }
        let why = match self.over_budget {
            0 => String::new(),
            n => format!(
                " ({n} of them beyond {} new senders a minute)",
                self.per_minute
            ),
        };
        lines.push(format!(
            "{} wrote to you{why}; their messages are held (\"held\" lists them; \"accept <nick>\" shows them, \"reject <nick>\" deletes them): {}",
            crate::control::count(held, "new sender"),
            list(&self.held, self.held_more)
        ));
        self.held.clear();
        (self.held_more, self.over_budget) = (0, 0);
        (self.held_told, self.held_due) = (Some(now), None);
        (lines, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn peer(n: u8) -> PeerId {
        PeerId::of(&SigningKey::from_bytes(&[n; 32]))
    }

    #[test]
    fn a_stranger_spends_its_burst_then_its_rate_and_a_contact_is_never_budgeted() {
        let t0 = Instant::now();
        let gate = StrangerGate::default();
        // No budget: everyone passes.
        assert!(gate.admit(&peer(1), u64::MAX, t0));
        gate.set_budget(Some(RateBudget {
            bytes_per_second: 1000,
            burst_bytes: 2000,
        }));
        gate.contacts().set([peer(2)]);
        assert!(gate.budgeted(&peer(1)) && !gate.budgeted(&peer(2)));
        assert!(gate.admit(&peer(1), 1500, t0));
        assert!(!gate.admit(&peer(1), 1000, t0), "over the burst");
        assert!(gate.admit(&peer(1), 1000, t0 + Duration::from_millis(500)));
        // Another stranger has its own bucket; a contact has none.
        assert!(gate.admit(&peer(3), 2000, t0));
        for _ in 0..100 {
            assert!(gate.admit(&peer(2), 1_000_000, t0));
        }
    }

    #[test]
    fn the_quota_frees_the_senders_rows_first_and_a_little_below_the_limit() {
        let q = Quota {
            per_sender: 1600,
            total: 16_000,
        };
        assert_eq!(q.to_free(0, 0, 100), (0, 0));
        assert_eq!(q.to_free(1500, 1500, 100), (0, 0));
        // 1,700 > 1,600: down to 1,500 (a sixteenth below), so 200 from the sender.
        assert_eq!(q.to_free(1600, 5000, 100), (200, 0));
        // In all: 16,100 > 16,000, down to 15,000.
        assert_eq!(q.to_free(0, 16_000, 100), (0, 1100));
        // What the sender frees counts towards the total.
        assert_eq!(q.to_free(1600, 16_000, 100), (200, 0));
        assert_eq!(q.to_free(1600, 16_500, 100), (200, 1400));
        // A message larger than the quota frees everything the sender has.
        assert_eq!(q.to_free(10, 10, 5000).0, 10);
        assert_eq!(row_bytes(1), 201);
    }

    #[test]
    fn new_senders_are_announced_together_and_beyond_the_budget_held() {
        let t0 = Instant::now();
        let mut s = NewSenders::new(5);
        for a in ["a", "a2", "a3"] {
            assert_eq!(s.arrive(a.into(), t0, false), NewSender::ShowAnnounce);
        }
        let at = t0 + COALESCE;
        assert_eq!(
            s.arrive("b".into(), t0, false),
            NewSender::ShowLater {
                flush_at: at,
                schedule: true
            }
        );
        assert_eq!(
            s.arrive("c".into(), t0, false),
            NewSender::ShowLater {
                flush_at: at,
                schedule: false
            }
        );
        for i in 0..20 {
            assert!(matches!(
                s.arrive(format!("h{i}"), t0, false),
                NewSender::Hold { .. }
            ));
        }
        assert_eq!(s.due(t0), (vec![], None), "not yet");
        let (lines, next) = s.due(at);
        assert_eq!(next, None);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].starts_with("2 new senders wrote to you: b, c."));
        assert!(
            lines[1].starts_with("20 new senders wrote to you (20 of them beyond 5 new senders a minute); their messages are held"),
            "{lines:?}"
        );
        assert!(lines[1].ends_with("h7 and 12 more"), "{lines:?}");
        assert_eq!(s.due(at + COALESCE), (vec![], None), "said once");
        // Still in the window: held, and told of at most once a window.
        assert!(matches!(
            s.arrive("x".into(), at, false),
            NewSender::Hold { .. }
        ));
        assert_eq!(s.due(at + COALESCE), (vec![], Some(at + WINDOW)));
        assert!(matches!(
            s.arrive("y".into(), at + COALESCE, false),
            NewSender::Hold { .. }
        ));
        assert_eq!(
            s.due(at + COALESCE * 2),
            (vec![], None),
            "already scheduled"
        );
        // The next window: shown again, announced at once.
        assert_eq!(
            s.arrive("y2".into(), t0 + WINDOW, false),
            NewSender::ShowAnnounce
        );
        // Asking anyway: beyond the first few, within the budget too, held and listed.
        for z in ["z1", "z2"] {
            assert_eq!(
                s.arrive(z.into(), t0 + WINDOW, true),
                NewSender::ShowAnnounce
            );
        }
        assert!(matches!(
            s.arrive("z3".into(), t0 + WINDOW, true),
            NewSender::Hold { .. }
        ));
        let (lines, _) = s.due(at + WINDOW);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("3 new senders wrote to you (2 of them beyond"),
            "{lines:?}"
        );
        assert!(lines[0].ends_with("x, y, z3"), "{lines:?}");
    }
}
