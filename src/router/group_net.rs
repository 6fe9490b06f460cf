//! A test network of hubs for groups: several hubs, each with its own key and store,
//! joined by fake sessions that a pump carries messages over (acknowledging what the
//! receiver stored), with links that go down and come back.

use std::collections::HashMap;

use super::*;
use crate::group::Change;
use crate::group::wire::GroupMessage;
use crate::message::{GroupAction, GroupRefusal, GroupView, MessageKind};

pub(super) struct Node {
    pub(super) router: Router,
    pub(super) id: PeerId,
    pub(super) events: mpsc::Receiver<FrontendEvent>,
    /// Everything this node's front end got, in order.
    pub(super) seen: Vec<FrontendEvent>,
    pub(super) dir: tempfile::TempDir,
}

/// Hubs and the links between them.
pub(super) struct Net {
    pub(super) nodes: Vec<Node>,
    /// Per (from, to): the session's command queue, when the link is up.
    links: HashMap<(usize, usize), (u64, mpsc::UnboundedReceiver<SessionCommand>)>,
    /// Per (from, to): messages sent on the session, not yet acknowledged.
    in_flight: HashMap<(usize, usize), Vec<PeerMessage>>,
    next_conn: u64,
}

fn node(n: u8) -> Node {
    let (ctx, _inputs) = super::tests::keyed_context(n);
    let dir = tempfile::tempdir().unwrap();
    let id = ctx.own;
    let mut router = Router::with_store(
        ctx,
        Store::open(dir.path()).unwrap(),
        StoreConfig::default(),
    );
    let (events, rx) = mpsc::channel(FRONTEND_QUEUE);
    let (reply, _) = oneshot::channel();
    router.handle(RouterInput::Attach { events, reply });
    Node {
        router,
        id,
        events: rx,
        seen: Vec::new(),
        dir,
    }
}

impl Net {
    /// `n` hubs, every pair linked.
    pub(super) fn new(n: usize) -> Net {
        let mut net = Net {
            nodes: (0..n).map(|i| node(i as u8 + 1)).collect(),
            links: HashMap::new(),
            in_flight: HashMap::new(),
            next_conn: 1,
        };
        for a in 0..n {
            for b in a + 1..n {
                net.up(a, b);
            }
        }
        net
    }

    pub(super) fn id(&self, i: usize) -> PeerId {
        self.nodes[i].id
    }

    /// Brings the link between `a` and `b` up: a session at each end.
    pub(super) fn up(&mut self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let conn = self.next_conn;
            self.next_conn += 1;
            let (commands, rx) = mpsc::unbounded_channel();
            let handle = SessionHandle {
                peer: self.id(to),
                conn_id: conn,
                initiator: self.id(a),
                session_id: [conn as u8; 32],
                commands,
                remote: None,
                via: None,
                started_ms: now_ms(),
                activity: Default::default(),
            };
            self.links.insert((from, to), (conn, rx));
            self.nodes[from]
                .router
                .handle(RouterInput::SessionUp(handle));
        }
        self.pump();
    }

    /// Takes the link between `a` and `b` down: what was sent and not acknowledged goes
    /// back to each sender.
    pub(super) fn down(&mut self, a: usize, b: usize) {
        for (from, to) in [(a, b), (b, a)] {
            let Some((conn, mut rx)) = self.links.remove(&(from, to)) else {
                continue;
            };
            let mut unsent = self.in_flight.remove(&(from, to)).unwrap_or_default();
            while let Ok(command) = rx.try_recv() {
                if let SessionCommand::Send(m) = command {
                    unsent.push(m);
                }
            }
            let peer = self.id(to);
            self.nodes[from].router.handle(RouterInput::SessionEnded {
                peer,
                conn_id: conn,
                unsent,
                error: None,
            });
        }
    }

    /// Carries every queued command over the links until none is left.
    pub(super) fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            let keys: Vec<(usize, usize)> = self.links.keys().copied().collect();
            for (from, to) in keys {
                let Some(Ok(command)) =
                    self.links.get_mut(&(from, to)).map(|(_, rx)| rx.try_recv())
                else {
                    continue;
                };
                moved = true;
                self.carry(from, to, command);
            }
            for node in &mut self.nodes {
                while let Ok(event) = node.events.try_recv() {
                    node.seen.push(event);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the pump did not settle");
    }

    fn carry(&mut self, from: usize, to: usize, command: SessionCommand) {
        let sender = self.id(from);
        let receiver = self.id(to);
        match command {
            SessionCommand::Send(message) => {
                let id = message.id();
                self.in_flight
                    .entry((from, to))
                    .or_default()
                    .push(message.clone());
                if self.nodes[to].router.receive(sender, vec![message]) {
                    self.in_flight
                        .get_mut(&(from, to))
                        .unwrap()
                        .retain(|m| m.id() != id);
                    self.nodes[from].router.handle(RouterInput::Acknowledged {
                        peer: receiver,
                        ids: vec![id],
                    });
                }
            }
            SessionCommand::Group(GroupMessage::Heads { group, heads }) => {
                self.nodes[to].router.handle(RouterInput::GroupHeads {
                    peer: sender,
                    group,
                    heads,
                });
            }
            SessionCommand::Group(GroupMessage::Op { id, op }) => {
                let message = PeerMessage::GroupOp { id, op };
                self.nodes[to].router.receive(sender, vec![message]);
            }
            _ => {}
        }
    }

    pub(super) fn request(&mut self, i: usize, channel: &str, action: GroupAction) {
        self.nodes[i].router.handle(RouterInput::Request {
            from: 1,
            request: FrontendRequest::Group {
                channel: channel.into(),
                action,
            },
        });
        self.pump();
    }

    pub(super) fn say(&mut self, i: usize, channel: &str, text: &str) {
        self.nodes[i].router.handle(RouterInput::Request {
            from: 1,
            request: FrontendRequest::GroupSend {
                channel: channel.into(),
                kind: MessageKind::Text,
                text: text.into(),
            },
        });
        self.pump();
    }

    /// Node `i`'s latest view of `channel`.
    pub(super) fn view(&self, i: usize, channel: &str) -> Option<Arc<GroupView>> {
        self.nodes[i].seen.iter().rev().find_map(|e| match e {
            FrontendEvent::Group { view, .. } if &*view.channel == channel => Some(view.clone()),
            _ => None,
        })
    }

    /// The group chats node `i` was shown, as (sender, text).
    pub(super) fn chats(&self, i: usize) -> Vec<(PeerId, String)> {
        self.nodes[i]
            .seen
            .iter()
            .filter_map(|e| match e {
                FrontendEvent::GroupReceived { from, message, .. } => {
                    Some((*from, message.text.clone()))
                }
                _ => None,
            })
            .collect()
    }

    pub(super) fn refusals(&self, i: usize) -> Vec<GroupRefusal> {
        self.nodes[i]
            .seen
            .iter()
            .filter_map(|e| match e {
                FrontendEvent::GroupRefused { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect()
    }

    pub(super) fn changes(&self, i: usize) -> Vec<Change> {
        self.nodes[i]
            .seen
            .iter()
            .filter_map(|e| match e {
                FrontendEvent::Group { changes, .. } => Some(changes.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// A group `#channel` made by node 0, with the others invited and joined.
    pub(super) fn group_of_all(&mut self, channel: &str) {
        self.request(0, channel, GroupAction::Join);
        for i in 1..self.nodes.len() {
            let peer = self.id(i);
            self.request(0, channel, GroupAction::Invite { peer });
            self.request(i, channel, GroupAction::Join);
        }
    }
}
