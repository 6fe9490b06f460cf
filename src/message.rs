//! The vocabulary shared by front ends, the hub and peer sessions: messages, contacts and
//! the requests and events that carry them, and the one rule on text both sides apply
//! (cutting it at a character boundary). No other logic, no IO.
//!
//! This is the contract between `irc/` (the front end) and `router/` (the hub): a front end
//! turns its protocol into [`FrontendRequest`]s and renders [`FrontendEvent`]s; the hub never
//! sees IRC and the front end never sees sessions or the store.

use std::sync::Arc;

use crate::contacts::ContactBook;
use crate::group::{Change, GroupId, Modes, OpId, Refusal, SignedOp, Topic};
use crate::identity::PeerId;

/// At most `max` bytes of `text`, cut at a character boundary (for AWAYLEN, TOPICLEN and
/// KICKLEN, which servers truncate at, and the limits of group ops).
pub fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// A 128-bit message id chosen by the sender, unique per message (dedup key).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct MessageId(pub [u8; 16]);

/// Identifies one attached front end (one IRC connection).
pub type FrontendId = u64;

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

/// A message between two peers that the receiver stores before it acknowledges it by id
/// (exactly once, in order per peer): what a session sends from the hub's queue, hands
/// back when the peer did not acknowledge it, and hands to the hub when received.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum PeerMessage {
    /// A private message.
    Chat(ChatMessage),
    /// A message to a group, with the sender's heads when it sent it (its causal context).
    GroupChat {
        group: GroupId,
        deps: Vec<OpId>,
        message: ChatMessage,
    },
    /// A change of a group, with the id its Ack names.
    GroupOp { id: MessageId, op: SignedOp },
}

impl PeerMessage {
    /// The private chat it is, if it is one.
    pub fn as_chat(&self) -> Option<&ChatMessage> {
        match self {
            PeerMessage::Chat(m) => Some(m),
            _ => None,
        }
    }

    /// [`PeerMessage::as_chat`], taking it.
    pub fn into_chat(self) -> Option<ChatMessage> {
        match self {
            PeerMessage::Chat(m) => Some(m),
            _ => None,
        }
    }

    /// The id the receiver acknowledges.
    pub fn id(&self) -> MessageId {
        match self {
            PeerMessage::Chat(m) | PeerMessage::GroupChat { message: m, .. } => m.id,
            PeerMessage::GroupOp { id, .. } => *id,
        }
    }
}

/// In unit tests, a private chat compares with the message it carries.
#[cfg(test)]
impl PartialEq<ChatMessage> for PeerMessage {
    fn eq(&self, other: &ChatMessage) -> bool {
        matches!(self, PeerMessage::Chat(m) if m == other)
    }
}

impl From<ChatMessage> for PeerMessage {
    fn from(message: ChatMessage) -> PeerMessage {
        PeerMessage::Chat(message)
    }
}

/// What a front end asks of the hub. The hub learns which front end asked from
/// `RouterInput::Request { from, .. }`; replies meant for the asker alone go to it only.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FrontendRequest {
    /// Send a message to a peer. Every attached front end that shows echoes (see
    /// [`FrontendRequest::Echoes`]) then gets [`FrontendEvent::Sent`], the asker too.
    Send {
        to: PeerId,
        kind: MessageKind,
        text: String,
    },
    /// A command line for the gateway's service (`help`, `add <nick> [petname]`, ...), as
    /// the user typed it in the control channel or to the service user. The hub answers with
    /// [`FrontendEvent::ControlReply`] to the asker (and may broadcast what changed).
    Control { line: String, reply: ControlTarget },
    /// Everything the gateway knows about a peer (IRC WHOIS): answered with
    /// [`FrontendEvent::PeerInfo`] to the asker.
    PeerInfo { peer: PeerId },
    /// The user's away status: `Some(reason)` is away, `None` is back. Sent to every peer
    /// with a session (and to later ones when they connect); every front end gets
    /// [`FrontendEvent::OwnAway`].
    SetAway { reason: Option<String> },
    /// Ask for the presence of these peers now (IRC MONITOR +): the asker gets one
    /// [`FrontendEvent::Presence`] per peer, and the hub keeps the peers' presence up to date
    /// (dialling them) for as long as any front end watches them.
    Watch { peers: Vec<PeerId> },
    /// Stop watching these peers (IRC MONITOR - / C).
    Unwatch { peers: Vec<PeerId> },
    /// Whether this front end shows the user's sent messages (IRC: its client enabled
    /// echo-message or znc.in/self-message). It gets [`FrontendEvent::Sent`] only while it
    /// does; one that never says gets them (copying every sent message to a client that
    /// shows none is work for nothing).
    Echoes(bool),
    /// These received messages (their [`FrontendEvent::Received`] `stored` rows) were
    /// written to the user's client: the hub may now mark them shown. A front end says so
    /// only after the write completed, so a message it took but never wrote (the client
    /// went away, or the hub dropped this front end) stays unshown and is played back to
    /// the next front end that attaches. The hub marks them lazily, with its next write.
    Shown(Vec<StoredRow>),
    /// Send a message to a group (an IRC channel), by its local name: one outbox row per
    /// other member. Echoed as [`FrontendEvent::GroupSent`]; refused with
    /// [`FrontendEvent::GroupRefused`].
    GroupSend {
        channel: String,
        kind: MessageKind,
        text: String,
    },
    /// Change a group (by its local name), or make one: the hub answers with
    /// [`FrontendEvent::Group`] to every front end when it changed, or with
    /// [`FrontendEvent::GroupRefused`] to the asker.
    Group {
        channel: String,
        action: GroupAction,
    },
}

/// What the user asks of a group (IRC JOIN, PART, INVITE, KICK, TOPIC, MODE).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GroupAction {
    /// Create the group when no group has this local name; accept an invitation to it;
    /// nothing when we are a member.
    Join,
    Part {
        reason: String,
    },
    Invite {
        peer: PeerId,
    },
    Kick {
        peer: PeerId,
        reason: String,
    },
    /// Set the topic; an empty text clears it.
    Topic {
        text: String,
    },
    /// Give operator status (+o).
    Op {
        peer: PeerId,
    },
    /// Take operator status (-o).
    Deop {
        peer: PeerId,
    },
    /// Set and clear the channel modes `+i +t +m`.
    Mode {
        set: Modes,
        clear: Modes,
    },
}

/// Why the hub did not do what a front end asked of a group.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum GroupRefusal {
    /// No group has this local name (and the request does not create one).
    NoSuchChannel,
    /// The name cannot be a group's (IRC: 479): the reason.
    BadName(String),
    /// We are not a member (IRC: 442).
    NotOnChannel,
    /// A group of this name exists, we are not a member and hold no invitation (IRC: 473).
    InviteOnly,
    /// The group's rules refuse it (IRC: 482, 443, 441, 404 or 471 by the reason).
    Refused(Refusal),
    /// It could not be done (the store failed...): the reason, for a notice.
    Failed(String),
}

/// One member of a group, as front ends show it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupMember {
    pub peer: PeerId,
    pub operator: bool,
    /// A session with the peer is up (IRC: voiced); always true for ourselves.
    pub online: bool,
}

/// A group as front ends show it (an IRC channel): what the hub sends whenever it changes.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct GroupView {
    /// The local channel name (`#rust`, or `#rust-2` when the name was taken).
    pub channel: Arc<str>,
    /// The group's own name, as its founder chose it (without `#`).
    pub name: String,
    /// We are a member (false: invited only, or departed: the front end leaves it).
    pub joined: bool,
    /// Who invited us, while we are invited and not a member.
    pub invited_by: Option<PeerId>,
    /// Members by key.
    pub members: Vec<GroupMember>,
    /// Peers invited who have not joined yet.
    pub invited: Vec<PeerId>,
    /// The topic, who set it and when (the setter's clock, Unix ms).
    pub topic: Option<Topic>,
    pub modes: Modes,
    /// When the group was created (the founder's clock, Unix ms).
    pub created_at_ms: u64,
}

impl GroupView {
    pub fn member(&self, peer: &PeerId) -> Option<&GroupMember> {
        self.members.iter().find(|m| &m.peer == peer)
    }
}

/// The store's name for a received message (its history row), as the hub hands it to front
/// ends so that they can report it written ([`FrontendRequest::Shown`]).
pub type StoredRow = i64;

/// Where a control reply goes: the control channel, or a private query with the service.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ControlTarget {
    Channel,
    Query,
}

/// Whether a peer can be reached now.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Presence {
    /// A session with the peer is up.
    Online,
    /// No session, and the last attempt to reach it failed (or none was made).
    Offline,
}

/// Everything the gateway knows about one peer, for WHOIS.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PeerInfo {
    pub peer: Option<PeerId>,
    /// A session is up.
    pub online: bool,
    /// "initiator" / "responder" and the session's age, when online.
    pub session: Option<String>,
    /// The peer's remote address when connected (ip:port).
    pub address: Option<String>,
    /// When a session with the peer last ended or was last up, Unix ms.
    pub last_seen_ms: Option<u64>,
    /// The peer's away reason, if it told us it is away.
    pub away: Option<String>,
    /// Messages waiting in the outbox for it.
    pub queued: usize,
}

/// What the hub tells front ends.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum FrontendEvent {
    /// A message from a peer.
    Received {
        from: PeerId,
        message: ChatMessage,
        /// Shown late: it arrived while no client was attached, and is played back now.
        played_back: bool,
        /// Its row in the store, when it has one: report it in [`FrontendRequest::Shown`]
        /// once written to the client, or it is played back again.
        stored: Option<StoredRow>,
    },
    /// A message the user sent (from any of its front ends), accepted into the outbox: for
    /// echo-message and self-message. `origin` is the front end that sent it.
    Sent {
        to: PeerId,
        message: ChatMessage,
        origin: FrontendId,
    },
    /// Played-back messages follow until [`FrontendEvent::PlaybackEnd`] (for an IRC batch).
    PlaybackStart,
    PlaybackEnd,
    /// The gateway speaks for a peer, e.g. why a message to it could not be delivered.
    /// Shown as a NOTICE from that peer's nick.
    PeerNotice {
        peer: PeerId,
        text: String,
    },
    /// A status line from the gateway itself.
    ServerNotice {
        text: String,
    },
    /// The contact list changed (or a front end attached): the whole book, to resolve and
    /// show petnames. Sent to every front end.
    Contacts(Arc<ContactBook>),
    /// A peer's presence changed (contacts and watched peers), or was asked for.
    Presence {
        peer: PeerId,
        presence: Presence,
    },
    /// A peer told us it is away (`Some`) or back (`None`).
    PeerAway {
        peer: PeerId,
        reason: Option<String>,
    },
    /// The user's own away status changed (from any front end).
    OwnAway {
        reason: Option<String>,
    },
    /// The service's answer to a control command: one line each, in order.
    ControlReply {
        lines: Vec<String>,
        target: ControlTarget,
    },
    /// An announcement from the service in the control channel (a new sender, a contact
    /// request waiting with `unknown = "ask"`...). Sent to every front end.
    ControlAnnounce {
        text: String,
    },
    /// The answer to [`FrontendRequest::PeerInfo`].
    PeerInfo(Box<PeerInfo>),
    /// A group's current state, with the changes that led to it (in order; empty when a
    /// front end attaches, or when only a member's presence changed). `at_ms`: when the
    /// last change was made (its author's clock, clamped to ours). Not kept for front ends
    /// that attach later: they get each group's state when they attach.
    Group {
        view: Arc<GroupView>,
        changes: Vec<Change>,
        at_ms: u64,
        /// The front end whose request made the changes (IRC: 341 after an INVITE).
        origin: Option<FrontendId>,
    },
    /// A message to a group from one of its members.
    GroupReceived {
        channel: Arc<str>,
        from: PeerId,
        message: ChatMessage,
        played_back: bool,
        stored: Option<StoredRow>,
    },
    /// A message the user sent to a group, accepted into the outbox (echo-message).
    GroupSent {
        channel: Arc<str>,
        message: ChatMessage,
        origin: FrontendId,
    },
    /// A group request of this front end was refused (`channel` as the asker named it).
    GroupRefused {
        channel: String,
        action: Option<GroupAction>,
        reason: GroupRefusal,
    },
}
