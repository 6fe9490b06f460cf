//! The IRC listener's shared state (IO side of [`crate::policy::irc`]): which connections
//! hold a slot, who is waiting after wrong passwords, and a [`ConnGuard`] per connection
//! through which the conn task asks and reports. The rules themselves are in the policy.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::policy::irc::{Admission, ConnId, GuessRules, Guesses, Refusal, SlotLimits, Slots};

/// Everything the accept loop and the connections share.
struct Shared {
    slots: Slots,
    guesses: Guesses,
    /// Unregistered connections' eviction switches.
    evict: std::collections::HashMap<ConnId, CancellationToken>,
}

/// The listener's state; cheap to clone.
#[derive(Clone)]
pub struct Listener {
    shared: Arc<Mutex<Shared>>,
}

impl Listener {
    pub fn new(slots: SlotLimits, guesses: GuessRules) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Shared {
                slots: Slots::new(slots),
                guesses: Guesses::new(guesses),
                evict: Default::default(),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        // A panic elsewhere must not take the listener down: the state stays consistent
        // (every change is one call).
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new connection from `ip`: its guard, or why it is refused. An unregistered
    /// connection evicted to make room is told to close.
    pub fn admit(&self, ip: IpAddr) -> Result<ConnGuard, Refusal> {
        let mut shared = self.lock();
        match shared.slots.admit(ip) {
            Admission::Refused(why) => Err(why),
            Admission::Admitted { id, evict } => {
                if let Some(victim) = evict.and_then(|v| shared.evict.remove(&v)) {
                    victim.cancel();
                }
                let evicted = CancellationToken::new();
                shared.evict.insert(id, evicted.clone());
                Ok(ConnGuard {
                    listener: self.clone(),
                    id,
                    ip,
                    evicted,
                    registered: false,
                })
            }
        }
    }

    /// Connections held: (unregistered, registered).
    pub fn counts(&self) -> (usize, usize) {
        self.lock().slots.counts()
    }
}

/// One connection's place at the listener; gives its slot back when dropped.
pub struct ConnGuard {
    listener: Listener,
    id: ConnId,
    ip: IpAddr,
    evicted: CancellationToken,
    registered: bool,
}

impl ConnGuard {
    /// Cancelled when a newcomer needs this (unregistered) connection's slot.
    pub fn evicted(&self) -> &CancellationToken {
        &self.evicted
    }

    /// Until when this connection's registration is held because of wrong passwords from
    /// its address or prefix (`None`: it may go on now).
    pub fn gate(&self) -> Option<tokio::time::Instant> {
        let now = Instant::now();
        let at = self.listener.lock().guesses.gate(self.ip, now)?;
        Some(tokio::time::Instant::now() + at.saturating_duration_since(now))
    }

    /// The connection registered: the right password (or none needed). Its slot no longer
    /// counts against its address, and the address's failures are forgotten.
    pub fn registered(&mut self) {
        if self.registered {
            return;
        }
        self.registered = true;
        let mut shared = self.listener.lock();
        shared.slots.registered(self.id);
        shared.evict.remove(&self.id);
        shared.guesses.succeeded(self.ip);
    }

    /// A wrong password: returns how long to hold the refusal.
    pub fn wrong_password(&self) -> Duration {
        self.listener.lock().guesses.failed(self.ip, Instant::now())
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut shared = self.listener.lock();
        shared.slots.closed(self.id);
        shared.evict.remove(&self.id);
    }
}
