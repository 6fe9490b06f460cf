//! The vocabulary shared by front ends, the hub and peer sessions: messages and the
//! requests and events that carry them. No logic, no IO.

use crate::identity::PeerId;

/// A 128-bit message id chosen by the sender, unique per message (dedup key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageId(pub [u8; 16]);

/// What kind of line a chat message is, as the user typed it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MessageKind {
    /// An ordinary message (IRC PRIVMSG).
    Text,
    /// A notice (IRC NOTICE): never answered automatically.
    Notice,
    /// An action (`/me waves`, CTCP ACTION): `text` holds only "waves".
    Action,
}

/// One chat message as the hub carries it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ChatMessage {
    pub id: MessageId,
    pub kind: MessageKind,
    /// UTF-8 text, free of CR, LF and NUL (front ends enforce this on the way in and out).
    pub text: String,
    /// Sender's clock when the message was accepted, Unix milliseconds.
    pub sent_at_ms: u64,
}

/// What a front end asks of the hub.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FrontendRequest {
    /// Send a message to a peer.
    Send {
        to: PeerId,
        kind: MessageKind,
        text: String,
    },
}

/// What the hub tells every attached front end.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FrontendEvent {
    /// A message from a peer.
    Received {
        from: PeerId,
        message: ChatMessage,
        /// Shown late: it arrived while no client was attached, and is played back now.
        played_back: bool,
    },
    /// The gateway speaks for a peer, e.g. why a message to it could not be delivered.
    /// Shown as a NOTICE from that peer's nick.
    PeerNotice { peer: PeerId, text: String },
    /// A status line from the gateway itself.
    ServerNotice { text: String },
}
