//! The handle through which everything reaches the hub: front ends, sessions, timers. The
//! hub is not a task of its own; a handle runs [`Router::handle`] under a short lock.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::{FRONTEND_QUEUE, Receipt, Router, RouterInput};
use crate::identity::PeerId;
use crate::message::{FrontendEvent, FrontendId, PeerMessage};
use crate::policy::strangers::StrangerGate;
use crate::store::Ticket;

/// A cheap, clonable handle to send to the hub.
///
/// The hub is not a task of its own: every caller runs [`Router::handle`] under a short
/// lock, in its own task. Handling never blocks (sessions have unbounded queues, front ends
/// get `try_send`, dials are spawned), and it saves a task hand-off on every message's way
/// in and out.
#[derive(Clone)]
pub struct RouterHandle(Target, Arc<StrangerGate>);

#[derive(Clone)]
enum Target {
    Hub(Arc<Mutex<Option<Router>>>),
    /// Inputs go to a channel instead (tests and benchmarks observe them there).
    Channel(mpsc::UnboundedSender<RouterInput>),
}

impl std::fmt::Debug for RouterHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouterHandle")
    }
}

impl RouterHandle {
    /// A handle on a hub to be [`installed`](Self::install) once its peer context exists.
    pub fn hub() -> RouterHandle {
        RouterHandle(Target::Hub(Arc::new(Mutex::new(None))), Arc::default())
    }

    /// Who is budgeted, shared by the hub (which keeps it up to date) and the sessions
    /// (which ask it for every chat, without taking the hub's lock).
    pub fn gate(&self) -> &StrangerGate {
        &self.1
    }

    /// Puts the hub in place; inputs before this are dropped.
    pub fn install(&self, router: Router) {
        if let Target::Hub(hub) = &self.0 {
            *lock(hub) = Some(router);
        }
    }

    /// Takes the hub down (at shutdown); later inputs are dropped.
    pub fn close(&self) {
        if let Target::Hub(hub) = &self.0 {
            let router = lock(hub).take();
            drop(router); // outside the lock: dropping it drops handles on this hub
        }
    }

    /// Hands an input to the hub, now.
    pub fn dispatch(&self, input: RouterInput) {
        match &self.0 {
            Target::Hub(hub) => {
                if let Some(router) = lock(hub).as_mut() {
                    // A bug that panics while handling one input must not also kill the
                    // caller's task (a session would never report its end): it is logged,
                    // and the hub goes on with the next input.
                    let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        router.handle(input)
                    }));
                    if handled.is_err() {
                        tracing::error!("the hub panicked while handling an input; it goes on");
                    }
                }
            }
            Target::Channel(tx) => {
                let _ = tx.send(input);
            }
        }
    }

    /// Hands received messages to the hub, which writes them to the store's open write and
    /// shows them (see [`Receipt`]).
    pub fn receive(&self, peer: PeerId, messages: Vec<PeerMessage>) -> Receipt {
        match &self.0 {
            Target::Hub(hub) => match lock(hub).as_mut() {
                // As in `dispatch`; unstored messages are not acknowledged, so come again.
                Some(router) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    router.receive_open(peer, messages)
                }))
                .unwrap_or_else(|_| {
                    tracing::error!("the hub panicked while storing received messages");
                    Receipt::NotStored
                }),
                None => Receipt::NotStored,
            },
            Target::Channel(tx) => match tx.send(RouterInput::Received { peer, messages }) {
                Ok(()) => Receipt::Stored,
                Err(_) => Receipt::NotStored,
            },
        }
    }

    /// Commits the store's open write (after a [`Receipt::Pending`]); true when `ticket`'s
    /// writes are durable, so that the messages may be acknowledged.
    pub fn durable(&self, ticket: Ticket) -> bool {
        let Target::Hub(hub) = &self.0 else {
            return true;
        };
        lock(hub)
            .as_mut()
            .is_some_and(|router| router.is_durable(ticket))
    }

    /// Commits the store's open write, if any (a front end calls this after its requests,
    /// once the sessions it woke have sent the messages).
    pub fn commit(&self) {
        if let Target::Hub(hub) = &self.0
            && let Some(router) = lock(hub).as_mut()
        {
            router.settle();
        }
    }

    /// Attaches a front end; returns its id and the events meant for it.
    pub async fn attach(&self) -> Option<(FrontendId, mpsc::Receiver<FrontendEvent>)> {
        let (events, rx) = mpsc::channel(FRONTEND_QUEUE);
        let (reply, id) = oneshot::channel();
        self.dispatch(RouterInput::Attach { events, reply });
        Some((id.await.ok()?, rx))
    }
}

fn lock(hub: &Mutex<Option<Router>>) -> std::sync::MutexGuard<'_, Option<Router>> {
    // A panic while handling one input must not take the whole gateway down with it.
    hub.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A handle whose inputs go to a channel, for observing them (tests, benchmarks).
pub fn channel() -> (RouterHandle, mpsc::UnboundedReceiver<RouterInput>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (RouterHandle(Target::Channel(tx), Arc::default()), rx)
}
