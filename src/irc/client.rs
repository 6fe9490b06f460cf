//! One IRC connection's state machine: a framed line in, actions out. Pure: no sockets, no
//! clock (the conn task passes `now` in and performs the [`Action`]s in order).
//!
//! Every verb we answer is in `COMMANDS`, with its arity and whether it is allowed before
//! registration, so those checks happen in one place (as in ergo). The handlers live with
//! what they are about: registration (`registration.rs`), capabilities (`caps.rs`),
//! messages, echo and playback (`messages.rs`), the control channel (`channel.rs`),
//! MONITOR/ISON/USERHOST (`monitor.rs`), WHOIS (`whois.rs`) and AWAY (`away.rs`).

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;

use super::caps::Caps;
use super::channel::ChannelState;
use super::codec::Line;
use super::groups::Groups;
use super::messages::Playback;
use super::monitor::Monitor;
use super::numerics::*;
use super::parse::split_line;
use super::render;
use super::whois::PendingWhois;
use crate::contacts::{ContactBook, SERVICE_NICK};
use crate::identity::{IdentityError, NickCache, PeerId};
use crate::message::{FrontendEvent, FrontendId, FrontendRequest, Presence};

/// Comma-separated targets handled per PRIVMSG/NOTICE/WHOIS (advertised as TARGMAX).
pub const MAX_TARGETS: usize = 4;

/// Most bytes of tag data a client may send (IRCv3 message-tags), without the `@` and the
/// space after it.
pub const MAX_CLIENT_TAG_DATA: usize = 4094;

/// Longest away reason kept (advertised as AWAYLEN); longer ones are cut.
pub const AWAYLEN: usize = 200;

/// What every client of this gateway shares.
#[derive(Clone)]
pub struct ClientSettings {
    /// Our own identity: its nick is the user's nick.
    pub own: PeerId,
    /// If set, clients must send this with PASS to register.
    pub password: Option<String>,
    /// The server name in prefixes, e.g. "disims".
    pub server_name: String,
    /// The gateway's version (the crate version), shown in 002 and 004.
    pub version: String,
}

impl fmt::Debug for ClientSettings {
    // The password must not end up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientSettings")
            .field("own", &self.own)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("server_name", &self.server_name)
            .field("version", &self.version)
            .finish()
    }
}

/// What the conn task must do, in order.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Action {
    /// Send one line to the client (without CR LF).
    Send(String),
    /// Pass a request to the hub.
    Request(FrontendRequest),
    /// Close the connection, after the lines before this one are flushed.
    Close,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Phase {
    Registering,
    Registered,
    /// After QUIT, a failed password or a timeout: nothing more is answered.
    Closed,
}

/// What the client has told us during registration.
#[derive(Default)]
pub(super) struct Registration {
    pub(super) pass: Option<String>,
    pub(super) nick: Option<String>,
    pub(super) user: bool,
    /// CAP LS or REQ was sent: registration waits for CAP END.
    pub(super) cap_negotiating: bool,
    /// The password was wrong or missing (the conn task slows the next try down).
    pub(super) password_refused: bool,
}

/// What a message target names.
pub(super) enum Target {
    /// The control channel.
    Control,
    /// The service user (`disims`).
    Service,
    /// Some other channel: a group's (`#`), or none.
    OtherChannel,
    Peer(PeerId),
}

/// One IRC connection's state.
pub struct Client {
    pub(super) settings: Arc<ClientSettings>,
    /// `settings.own.nick()`, computed once.
    pub(super) own_nick: String,
    pub(super) phase: Phase,
    pub(super) reg: Registration,
    pub(super) caps: Caps,
    /// This connection's id at the hub, once attached (tells our echoes from other clients').
    pub(super) frontend_id: Option<FrontendId>,
    /// Unix ms of the line being handled (for TIME).
    pub(super) now_ms: u64,
    /// Events that arrived before registration completed.
    /// Nicks already decoded (decoding validates a curve point).
    pub(super) nicks: NickCache,
    /// The latest contact book from the hub.
    pub(super) book: Arc<ContactBook>,
    /// The prefix of the peer that spoke last, for the next line from it (a burst from one
    /// peer would otherwise encode its key nick once per line). Cleared with a new book.
    pub(super) last_prefix: Option<(PeerId, Arc<str>)>,
    /// The last presence the hub reported per peer (contacts and watched peers).
    pub(super) presence: HashMap<PeerId, Presence>,
    /// Peers that told us they are away, with their reason.
    pub(super) peer_away: HashMap<PeerId, String>,
    /// The user's own away reason.
    pub(super) own_away: Option<String>,
    /// User mode `i`, the one user mode there is (it changes nothing: nobody can list the
    /// users of this server anyway), kept because clients set it at connect.
    pub(super) invisible: bool,
    /// Control lines echoed so far (their msgids count them).
    pub(super) control_lines: u64,
    pub(super) channel: ChannelState,
    /// Groups: their latest views, and which channels the client shows.
    pub(super) groups: Groups,
    pub(super) monitor: Monitor,
    /// WHOIS requests waiting for the hub's answer, oldest first.
    pub(super) whois: VecDeque<PendingWhois>,
    pub(super) playback: Playback,
}

type Handler = fn(&mut Client, &[String], &mut Vec<Action>);

/// A verb we answer.
struct CommandSpec {
    verb: &'static str,
    /// Fewer parameters get 461. Verbs with their own "missing" numeric (NICK: 431,
    /// PRIVMSG: 411/412) or none at all (NOTICE) say 0 and check in their handler.
    min_params: usize,
    /// Allowed before registration completes; everything else gets 451 until then.
    before_registration: bool,
    handler: Handler,
}

const fn spec(
    verb: &'static str,
    min_params: usize,
    before_registration: bool,
    handler: Handler,
) -> CommandSpec {
    CommandSpec {
        verb,
        min_params,
        before_registration,
        handler,
    }
}

/// Every verb DiSIMS answers. Anything else gets 421 (or 451 before registration).
const COMMANDS: &[CommandSpec] = &[
    spec("CAP", 1, true, Client::on_cap),
    spec("PASS", 1, true, Client::on_pass),
    spec("NICK", 0, true, Client::on_nick),
    spec("USER", 4, true, Client::on_user),
    spec("PING", 1, true, Client::on_ping),
    spec("PONG", 0, true, |_, _, _| {}),
    spec("QUIT", 0, true, Client::on_quit),
    spec("PRIVMSG", 0, false, Client::on_privmsg),
    spec("NOTICE", 0, false, Client::on_notice),
    // Client-only tags (typing notifications, replies...) are not carried to peers, and we
    // say so with CLIENTTAGDENY=* (005): a TAGMSG has nothing left to deliver or echo.
    spec("TAGMSG", 1, false, |_, _, _| {}),
    spec("JOIN", 1, false, Client::on_join),
    spec("PART", 1, false, Client::on_part),
    spec("NAMES", 0, false, Client::on_names),
    spec("TOPIC", 1, false, Client::on_topic),
    spec("WHO", 0, false, Client::on_who),
    spec("MODE", 1, false, Client::on_mode),
    spec("WHOIS", 1, false, Client::on_whois),
    spec("WHOWAS", 1, false, Client::on_whowas),
    spec("LIST", 0, false, Client::on_list),
    spec("MONITOR", 1, false, Client::on_monitor),
    spec("ISON", 1, false, Client::on_ison),
    spec("USERHOST", 1, false, Client::on_userhost),
    spec("AWAY", 0, false, Client::on_away),
    spec("TIME", 0, false, Client::on_time),
    spec("MOTD", 0, false, |client, _, out| client.send_motd(out)),
    spec("LUSERS", 0, false, Client::on_lusers),
    spec("VERSION", 0, false, Client::on_version),
    spec("INFO", 0, false, Client::on_info),
    spec("ADMIN", 0, false, Client::on_admin),
    spec("HELP", 0, false, Client::on_help),
    spec("OPER", 2, false, Client::on_oper),
    spec("KICK", 2, false, Client::on_kick),
    spec("INVITE", 0, false, Client::on_invite),
];

/// Whether `verb` (upper case) is one we answer.
pub(super) fn is_command(verb: &str) -> bool {
    COMMANDS.iter().any(|s| s.verb == verb)
}

impl Client {
    pub fn new(settings: Arc<ClientSettings>) -> Self {
        let own_nick = settings.own.nick();
        Self {
            settings,
            own_nick,
            phase: Phase::Registering,
            reg: Registration::default(),
            caps: Caps::default(),
            frontend_id: None,
            now_ms: 0,
            nicks: NickCache::default(),
            book: Arc::default(),
            last_prefix: None,
            presence: HashMap::new(),
            peer_away: HashMap::new(),
            own_away: None,
            invisible: false,
            control_lines: 0,
            channel: ChannelState::default(),
            groups: Groups::default(),
            monitor: Monitor::default(),
            whois: VecDeque::new(),
            playback: Playback::default(),
        }
    }

    /// The conn task attached this client to the hub under `id`: [`FrontendEvent::Sent`]
    /// with this origin is our own message (echo-message), any other is a self-message.
    pub fn set_frontend_id(&mut self, id: FrontendId) {
        self.frontend_id = Some(id);
    }

    /// Handles one line from the client. `now_ms` is Unix milliseconds.
    pub fn handle_line(&mut self, line: Line, now_ms: u64) -> Vec<Action> {
        self.now_ms = now_ms;
        let mut out = Vec::new();
        match (self.phase, line) {
            (Phase::Closed, _) => {}
            (_, Line::TooLong) => {
                self.numeric(&mut out, ERR_INPUTTOOLONG, &[], "Input line was too long")
            }
            (_, Line::Text(text)) => self.handle_text(&text, &mut out),
        }
        out
    }

    /// Renders an event from the hub. Events come only once registered: the conn task
    /// attaches a connection to the hub when registration completes.
    pub fn handle_event(&mut self, event: &FrontendEvent) -> Vec<Action> {
        let mut out = Vec::new();
        if self.phase == Phase::Registered {
            self.on_event(event, &mut out);
        }
        out
    }

    pub fn is_registered(&self) -> bool {
        self.phase == Phase::Registered
    }

    /// Whether the hub's first contact book has arrived (and with it the `&disims` JOIN
    /// burst, unless the client left the channel first).
    pub fn knows_contacts(&self) -> bool {
        self.channel.contacts_known
    }

    /// For the conn task's timeout: a client that has not registered in time is closed.
    pub fn registration_timeout(&mut self) -> Vec<Action> {
        if self.phase != Phase::Registering {
            return Vec::new();
        }
        self.phase = Phase::Closed;
        vec![
            Action::Send(render::line(
                None,
                "ERROR",
                &[],
                Some("Closing link: registration timed out"),
            )),
            Action::Close,
        ]
    }

    /// Every event from the hub, for a registered client.
    pub(super) fn on_event(&mut self, event: &FrontendEvent, out: &mut Vec<Action>) {
        match event {
            FrontendEvent::Received {
                from,
                message,
                played_back,
                stored: _,
            } => self.on_received(from, message, *played_back, out),
            FrontendEvent::Sent {
                to,
                message,
                origin,
            } => self.on_sent(to, message, *origin, out),
            FrontendEvent::PlaybackStart => self.on_playback_start(),
            FrontendEvent::PlaybackEnd => self.on_playback_end(out),
            FrontendEvent::PeerNotice { peer, text } => {
                let from = self.peer_prefix(peer);
                let line = render::line(
                    Some(&from),
                    "NOTICE",
                    &[&self.own_nick],
                    Some(&render::clean_body(text)),
                );
                out.push(Action::Send(line));
            }
            FrontendEvent::ServerNotice { text } => self.server_notice(out, text),
            FrontendEvent::Contacts(book) => {
                self.on_contacts(book.clone(), out);
                self.monitor_rebind(out);
            }
            FrontendEvent::Presence { peer, presence } => self.on_presence(*peer, *presence, out),
            FrontendEvent::PeerAway { peer, reason } => self.on_peer_away(*peer, reason, out),
            FrontendEvent::OwnAway { reason } => self.on_own_away(reason, out),
            FrontendEvent::ControlReply { lines, target } => {
                self.on_control_reply(lines, *target, out)
            }
            FrontendEvent::ControlAnnounce { text } => self.on_control_announce(text, out),
            FrontendEvent::PeerInfo(info) => self.on_peer_info(info, out),
            FrontendEvent::Group { .. }
            | FrontendEvent::GroupReceived { .. }
            | FrontendEvent::GroupSent { .. }
            | FrontendEvent::GroupRefused { .. } => self.on_group_event(event, out),
        }
    }

    fn handle_text(&mut self, text: &str, out: &mut Vec<Action>) {
        // IRCv3 message-tags: a client's tag data (between `@` and the space) is at most
        // 4094 bytes; a longer one is refused whole (the framer allows the 8191 of a
        // server's tags section).
        if let Some(tags) = text.strip_prefix('@') {
            let data = tags.split_once(' ').map_or(tags, |(data, _)| data);
            if data.len() > MAX_CLIENT_TAG_DATA {
                let text = "Input line was too long: tag data over 4094 bytes";
                return self.numeric(out, ERR_INPUTTOOLONG, &[], text);
            }
        }
        let (verb, params) = split_line(text);
        if verb.is_empty() {
            return;
        }
        let verb_upper = verb.to_ascii_uppercase();
        // irssi sends a stray `JOIN :` before registering: it needs no answer.
        if verb_upper == "JOIN" && params.first().is_some_and(|p| p.is_empty()) {
            return;
        }
        let registered = self.is_registered();
        let spec = COMMANDS.iter().find(|s| s.verb == verb_upper);
        match spec {
            Some(spec) if registered || spec.before_registration => {
                if params.len() < spec.min_params {
                    self.numeric(
                        out,
                        ERR_NEEDMOREPARAMS,
                        &[&verb_upper],
                        "Not enough parameters",
                    );
                } else {
                    (spec.handler)(self, &params, out);
                }
            }
            _ if !registered => {
                self.numeric(out, ERR_NOTREGISTERED, &[], "You have not registered")
            }
            _ => self.numeric(out, ERR_UNKNOWNCOMMAND, &[&verb], "Unknown command"),
        }
    }

    /// The nick numerics are addressed to: the key nick once registered, else what the
    /// client asked for (or `*`).
    pub(super) fn target(&self) -> &str {
        match (self.phase, &self.reg.nick) {
            (Phase::Registering, Some(nick)) => nick,
            (Phase::Registering, None) => "*",
            _ => &self.own_nick,
        }
    }

    /// Queues a numeric reply from the server to the client.
    pub(super) fn numeric(&self, out: &mut Vec<Action>, code: &str, middles: &[&str], text: &str) {
        self.numeric_line(out, code, middles, Some(text));
    }

    /// Queues a numeric reply without trailing text (its last parameter is a middle one).
    pub(super) fn numeric_bare(&self, out: &mut Vec<Action>, code: &str, middles: &[&str]) {
        self.numeric_line(out, code, middles, None);
    }

    fn numeric_line(
        &self,
        out: &mut Vec<Action>,
        code: &str,
        middles: &[&str],
        text: Option<&str>,
    ) {
        let mut params = Vec::with_capacity(middles.len() + 1);
        params.push(self.target());
        params.extend_from_slice(middles);
        out.push(Action::Send(render::line(
            Some(&self.settings.server_name),
            code,
            &params,
            text,
        )));
    }

    /// Queues a NOTICE from the server to the client.
    pub(super) fn server_notice(&self, out: &mut Vec<Action>, text: &str) {
        out.push(Action::Send(render::line(
            Some(&self.settings.server_name),
            "NOTICE",
            &[self.target()],
            Some(&render::clean_body(text)),
        )));
    }

    /// The prefix a peer speaks under: its display nick (petname, else key nick).
    pub(super) fn peer_prefix(&mut self, peer: &PeerId) -> Arc<str> {
        if let Some((who, prefix)) = &self.last_prefix
            && who == peer
        {
            return prefix.clone();
        }
        let prefix: Arc<str> =
            render::prefix(&self.book.display_nick(peer), render::PEER_USER_HOST).into();
        self.last_prefix = Some((*peer, prefix.clone()));
        prefix
    }

    /// The user's own prefix.
    pub(super) fn own_prefix(&self) -> String {
        render::prefix(&self.own_nick, render::OWN_USER_HOST)
    }

    /// What a target names: the control channel, the service, a petname (first, ASCII
    /// case-insensitive) or a key nick. The error is the text of a 401.
    pub(super) fn resolve(&mut self, target: &str) -> Result<Target, String> {
        if target.eq_ignore_ascii_case(render::CONTROL_CHANNEL) {
            return Ok(Target::Control);
        }
        if is_channel(target) {
            return Ok(Target::OtherChannel);
        }
        if target.eq_ignore_ascii_case(SERVICE_NICK) {
            return Ok(Target::Service);
        }
        if let Some(peer) = self.book.by_petname(target) {
            return Ok(Target::Peer(peer));
        }
        self.nicks
            .peer(target)
            .map(Target::Peer)
            .map_err(|e| not_a_nick(&e))
    }

    /// Whether `nick` is the user's own nick.
    pub(super) fn is_own(&self, nick: &str) -> bool {
        nick.eq_ignore_ascii_case(&self.own_nick)
    }

    pub(super) fn is_online(&self, peer: &PeerId) -> bool {
        *peer == self.settings.own || self.presence.get(peer) == Some(&Presence::Online)
    }

    fn on_ping(&mut self, params: &[String], out: &mut Vec<Action>) {
        let server = &self.settings.server_name;
        out.push(Action::Send(render::line(
            Some(server),
            "PONG",
            &[server],
            Some(&params[0]),
        )));
    }

    fn on_quit(&mut self, _: &[String], out: &mut Vec<Action>) {
        self.phase = Phase::Closed;
        out.push(Action::Send(render::line(
            None,
            "ERROR",
            &[],
            Some("Closing link"),
        )));
        out.push(Action::Close);
    }

    /// `MODE <own nick> <change>`: applies `i`, confirms what changed with a MODE line, and
    /// answers 501 for any other flag.
    fn user_mode(&mut self, change: &str, out: &mut Vec<Action>) {
        let (mut adding, mut unknown) = (true, false);
        let mut applied = String::new();
        let mut sign = None;
        for flag in change.chars() {
            match flag {
                '+' | '-' => adding = flag == '+',
                'i' if self.invisible != adding => {
                    self.invisible = adding;
                    if sign != Some(adding) {
                        applied.push(if adding { '+' } else { '-' });
                        sign = Some(adding);
                    }
                    applied.push('i');
                }
                'i' => {}
                _ => unknown = true,
            }
        }
        if !applied.is_empty() {
            let prefix = self.own_prefix();
            let nick = self.own_nick.clone();
            out.push(Action::Send(render::line(
                Some(&prefix),
                "MODE",
                &[&nick],
                Some(&applied),
            )));
        }
        if unknown {
            self.numeric(out, ERR_UMODEUNKNOWNFLAG, &[], "Unknown MODE flag");
        }
    }

    fn on_time(&mut self, _: &[String], out: &mut Vec<Action>) {
        let server = self.settings.server_name.clone();
        let time = render::human_time(self.now_ms);
        self.numeric(out, RPL_TIME, &[&server], &time);
    }

    fn on_mode(&mut self, params: &[String], out: &mut Vec<Action>) {
        let target = params[0].as_str();
        if is_channel(target) {
            self.channel_mode(target, &params[1..], out);
        } else if self.is_own(target) {
            match params.get(1) {
                Some(change) => self.user_mode(change, out),
                None => {
                    let modes = if self.invisible { "+i" } else { "+" };
                    self.numeric_bare(out, RPL_UMODEIS, &[modes]);
                }
            }
        } else {
            self.numeric(
                out,
                ERR_USERSDONTMATCH,
                &[],
                "Can't change mode for other users",
            );
        }
    }
}

impl Client {
    /// 401 for a target that names nobody, and a NOTICE with the same reason beside it:
    /// irssi and others show only their own "No such nick/channel" for a 401, and the
    /// reason ("'l' is not a z-base-32 character") is what the user needs to see.
    pub(super) fn no_such_nick(&self, target: &str, reason: &str, out: &mut Vec<Action>) {
        self.numeric(out, ERR_NOSUCHNICK, &[target], reason);
        self.server_notice(out, &format!("No such nick {target}: {reason}"));
    }
}

/// The text of a 401 for something that is not a key nick.
pub(super) fn not_a_nick(error: &IdentityError) -> String {
    match error {
        IdentityError::NickLength(_) => format!("no contact has this petname, and it is {error}"),
        _ => format!("{error} (a DiSIMS nick is 52 z-base-32 characters: the peer's key)"),
    }
}

/// Whether a target names a channel (any of the usual channel prefixes).
pub(super) fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}
