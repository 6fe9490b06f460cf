//! What the hub holds of a session and tells it: the handle ([`SessionHandle`]), the
//! commands ([`SessionCommand`]) and the timers ([`SessionTimers`]). The task that runs a
//! session is [`super::session`].

use std::time::Duration;

use tokio::sync::mpsc;

use super::upgrade::Signal;
use crate::group::wire::GroupMessage;
use crate::identity::PeerId;
use crate::message::PeerMessage;

/// First presence probe after a failed dial (the default of [`SessionTimers::probe`]).
pub const PROBE_MIN: Duration = Duration::from_secs(60);

/// Timers of a session; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct SessionTimers {
    /// Send a Ping when nothing was sent for this long.
    pub keepalive: Duration,
    /// Close when nothing was received for this long.
    pub idle_timeout: Duration,
    /// After a Close, how long to keep reading what the peer still sends.
    pub linger: Duration,
    /// A handshake must complete within this time (both sides), or the connection is closed.
    pub handshake: Duration,
    /// First retry after a failed dial to a peer with queued messages (then doubling).
    pub retry: Duration,
    /// First presence probe of a watched peer after a failed dial (then doubling up to
    /// `router::PROBE_MAX`).
    pub probe: Duration,
}

impl Default for SessionTimers {
    fn default() -> Self {
        Self {
            keepalive: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(90),
            linger: Duration::from_secs(10),
            handshake: super::HANDSHAKE_TIMEOUT,
            retry: crate::router::RETRY_MIN,
            probe: PROBE_MIN,
        }
    }
}

/// What the router can ask of a session.
#[derive(Debug)]
pub enum SessionCommand {
    /// A message from the outbox: sent, kept until the peer acknowledges it, handed back
    /// to the hub when the session ends before.
    Send(PeerMessage),
    /// A group message outside the outbox (GroupHeads, or the GroupOps a peer lacks, sent
    /// for a sync): sent once, not kept (a sync lost with the session is made again at the
    /// next one).
    Group(GroupMessage),
    /// Tell the peer our user is away with this reason (empty: back); at most
    /// [`wire::MAX_AWAY`] bytes (see [`wire::clip_away`]).
    Away(String),
    /// Another session with the same peer won the tie-break: close this one gracefully.
    Retire,
    /// Evicted to make room for a contact (the least active stranger): close gracefully.
    Evict,
    /// The direct upgrade of this relayed session sends this to the peer
    /// ([`super::upgrade`]).
    Upgrade(Signal),
}

/// The router's handle on a running session.
#[derive(Clone, Debug)]
pub struct SessionHandle {
    pub peer: PeerId,
    pub conn_id: u64,
    /// Who dialled this connection (the tie-break between simultaneous dials uses it).
    pub initiator: PeerId,
    /// The handshake's transcript hash: the same at both ends, unique per connection.
    pub session_id: [u8; 32],
    pub commands: mpsc::UnboundedSender<SessionCommand>,
    /// The peer's address, for the user (WHOIS); `None` for streams that are not TCP.
    pub remote: Option<std::net::SocketAddr>,
    /// The relay that joins this connection, when it is relayed (`remote` is then the
    /// relay's address for an outbound session, the dialler's as the relay saw it for an
    /// inbound one).
    pub via: Option<PeerId>,
    /// When the session came up, Unix ms.
    pub started_ms: u64,
    /// When it last carried a chat (eviction picks the least active stranger).
    pub activity: super::Activity,
}
