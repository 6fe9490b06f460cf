//! One IRC connection's state machine: a framed line in, actions out. Pure: no sockets, no
//! clock (the conn task passes `now` in and performs the [`Action`]s in order).
//!
//! Every verb we answer is in `COMMANDS`, with its arity and whether it is allowed before
//! registration, so those checks happen in one place (as in ergo). Registration itself
//! (CAP, PASS, NICK, USER, the welcome burst) lives in `registration.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use irc_proto::{Command, Message};

use super::codec::Line;
use super::numerics::*;
use super::render;
use crate::identity::{IdentityError, NickCache, PeerId};
use crate::message::{FrontendEvent, FrontendRequest, MessageKind};

/// Events kept for a client that has not registered yet; beyond this the oldest are dropped.
pub const MAX_QUEUED_EVENTS: usize = 1000;

/// Comma-separated targets handled per PRIVMSG/NOTICE/WHOIS (advertised as TARGMAX).
pub const MAX_TARGETS: usize = 4;

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
}

/// One IRC connection's state.
pub struct Client {
    pub(super) settings: Arc<ClientSettings>,
    /// `settings.own.nick()`, computed once.
    pub(super) own_nick: String,
    pub(super) phase: Phase,
    pub(super) reg: Registration,
    /// The client ACKed server-time.
    pub(super) server_time: bool,
    /// Events that arrived before registration completed.
    pub(super) queued: VecDeque<FrontendEvent>,
    /// Events dropped from `queued` because it was full.
    pub(super) dropped: u64,
    /// Nicks already decoded (decoding validates a curve point).
    pub(super) nicks: NickCache,
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
    spec("JOIN", 1, false, Client::on_join),
    spec("MODE", 1, false, Client::on_mode),
    spec("WHOIS", 1, false, Client::on_whois),
    spec("MOTD", 0, false, |client, _, out| client.send_motd(out)),
];

impl Client {
    pub fn new(settings: Arc<ClientSettings>) -> Self {
        let own_nick = settings.own.nick();
        Self {
            settings,
            own_nick,
            phase: Phase::Registering,
            reg: Registration::default(),
            server_time: false,
            queued: VecDeque::new(),
            dropped: 0,
            nicks: NickCache::default(),
        }
    }

    /// Handles one line from the client. `now_ms` is Unix milliseconds (unused so far; the
    /// signature keeps the clock outside so that later time-dependent rules stay pure).
    pub fn handle_line(&mut self, line: Line, _now_ms: u64) -> Vec<Action> {
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

    /// Renders an event from the hub, or queues it until registration completes.
    pub fn handle_event(&mut self, event: &FrontendEvent) -> Vec<Action> {
        match self.phase {
            Phase::Closed => Vec::new(),
            Phase::Registering => {
                if self.queued.len() >= MAX_QUEUED_EVENTS {
                    self.queued.pop_front();
                    self.dropped += 1;
                }
                self.queued.push_back(event.clone());
                Vec::new()
            }
            Phase::Registered => vec![self.render_event(event)],
        }
    }

    pub fn is_registered(&self) -> bool {
        self.phase == Phase::Registered
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

    fn handle_text(&mut self, text: &str, out: &mut Vec<Action>) {
        let (verb, params) = match text.parse::<Message>() {
            Ok(message) => split_command(message.command),
            // Only a line that is nothing but a prefix fails to parse; answer its verb if any.
            Err(_) => (raw_verb(text).to_string(), Vec::new()),
        };
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
        let mut params = Vec::with_capacity(middles.len() + 1);
        params.push(self.target());
        params.extend_from_slice(middles);
        out.push(Action::Send(render::line(
            Some(&self.settings.server_name),
            code,
            &params,
            Some(text),
        )));
    }

    /// Queues a NOTICE from the server to the client.
    pub(super) fn server_notice(&self, out: &mut Vec<Action>, text: &str) {
        let event = FrontendEvent::ServerNotice {
            text: text.to_string(),
        };
        out.push(self.render_event(&event));
    }

    pub(super) fn render_event(&self, event: &FrontendEvent) -> Action {
        let server = &self.settings.server_name;
        Action::Send(render::event(
            server,
            self.target(),
            self.server_time,
            event,
        ))
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

    fn on_privmsg(&mut self, params: &[String], out: &mut Vec<Action>) {
        self.message(params, false, out);
    }

    fn on_notice(&mut self, params: &[String], out: &mut Vec<Action>) {
        self.message(params, true, out);
    }

    /// PRIVMSG and NOTICE. A NOTICE never gets an error reply (modern IRC), so that two
    /// automated senders can never loop on each other's errors.
    fn message(&mut self, params: &[String], notice: bool, out: &mut Vec<Action>) {
        let error =
            |client: &Self, out: &mut Vec<Action>, code: &str, middles: &[&str], text: &str| {
                if !notice {
                    client.numeric(out, code, middles, text);
                }
            };
        let verb = if notice { "NOTICE" } else { "PRIVMSG" };
        let Some(targets) = params.first().filter(|t| !t.is_empty()) else {
            return error(
                self,
                out,
                ERR_NORECIPIENT,
                &[],
                &format!("No recipient given ({verb})"),
            );
        };
        let Some(text) = params.get(1).filter(|t| !t.is_empty()) else {
            return error(self, out, ERR_NOTEXTTOSEND, &[], "No text to send");
        };
        let (kind, body) = match split_ctcp(text) {
            None if notice => (MessageKind::Notice, text.as_str()),
            None => (MessageKind::Text, text.as_str()),
            Some(("ACTION", body)) if !notice => (MessageKind::Action, body),
            // A CTCP reply: peers never get CTCP requests from us, so there is nothing to answer.
            Some(_) if notice => return,
            Some((ctcp, _)) => {
                let text = format!(
                    "CTCP {ctcp} was not sent to {targets}: it would reveal details of your \
                     client to the peer. DiSIMS only carries messages and /me actions."
                );
                return self.server_notice(out, &text);
            }
        };
        // The hub carries text free of CR, LF and NUL; the framer already split at LF.
        let body = render::strip_line_breaks(body).into_owned();
        for (i, target) in targets.split(',').filter(|t| !t.is_empty()).enumerate() {
            if i == MAX_TARGETS {
                let text = format!("Too many recipients: at most {MAX_TARGETS}");
                error(self, out, ERR_TOOMANYTARGETS, &[target], &text);
                break;
            }
            if is_channel(target) {
                error(
                    self,
                    out,
                    ERR_NOSUCHCHANNEL,
                    &[target],
                    "DiSIMS has no channels yet",
                );
                continue;
            }
            match self.nicks.peer(target) {
                Ok(to) => out.push(Action::Request(FrontendRequest::Send {
                    to,
                    kind,
                    text: body.clone(),
                })),
                Err(e) => error(self, out, ERR_NOSUCHNICK, &[target], &not_a_nick(&e)),
            }
        }
    }

    fn on_join(&mut self, params: &[String], out: &mut Vec<Action>) {
        self.numeric(
            out,
            ERR_NOSUCHCHANNEL,
            &[&params[0]],
            "DiSIMS has no channels yet",
        );
    }

    fn on_mode(&mut self, params: &[String], out: &mut Vec<Action>) {
        let target = params[0].as_str();
        if is_channel(target) {
            self.numeric(
                out,
                ERR_NOSUCHCHANNEL,
                &[target],
                "DiSIMS has no channels yet",
            );
        } else if target.eq_ignore_ascii_case(&self.own_nick) {
            // We support no user modes: report none, whatever was asked to change.
            let own = &self.own_nick;
            let server = &self.settings.server_name;
            out.push(Action::Send(render::line(
                Some(server),
                RPL_UMODEIS,
                &[own, "+"],
                None,
            )));
        } else {
            self.numeric(
                out,
                ERR_USERSDONTMATCH,
                &[],
                "Can't change mode for other users",
            );
        }
    }

    fn on_whois(&mut self, params: &[String], out: &mut Vec<Action>) {
        // `WHOIS [server] nicks`: the nicks come last.
        let query = params.last().map(String::as_str).unwrap_or_default();
        for nick in query.split(',').filter(|n| !n.is_empty()).take(MAX_TARGETS) {
            match PeerId::from_nick(nick) {
                Ok(peer) => {
                    let nick = peer.nick();
                    let realname = format!("DiSIMS peer {}", peer.short());
                    self.numeric(
                        out,
                        RPL_WHOISUSER,
                        &[&nick, "peer", "disims", "*"],
                        &realname,
                    );
                    let server = self.settings.server_name.clone();
                    self.numeric(out, RPL_WHOISSERVER, &[&nick, &server], "DiSIMS gateway");
                }
                Err(e) => self.numeric(out, ERR_NOSUCHNICK, &[nick], &not_a_nick(&e)),
            }
        }
        self.numeric(out, RPL_ENDOFWHOIS, &[query], "End of /WHOIS list");
    }
}

/// The text of a 401 for something that is not a key nick.
fn not_a_nick(error: &IdentityError) -> String {
    match error {
        IdentityError::NickLength(_) => error.to_string(),
        _ => format!("{error} (a DiSIMS nick is 52 z-base-32 characters: the peer's key)"),
    }
}

/// Whether a target names a channel (any of the usual channel prefixes).
fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

/// A CTCP message `\x01VERB rest\x01` as (upper-case VERB, rest); the closing delimiter is
/// optional, as clients are lenient about it.
fn split_ctcp(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix(render::CTCP)?;
    let inner = inner.strip_suffix(render::CTCP).unwrap_or(inner);
    let (verb, rest) = inner.split_once(' ').unwrap_or((inner, ""));
    // ACTION is the one verb we compare; everything else is only named in a notice.
    if verb.eq_ignore_ascii_case("ACTION") {
        Some(("ACTION", rest))
    } else {
        Some((verb, rest))
    }
}

/// The verb and the parameters of a parsed command, as the client sent them. irc-proto
/// gives known verbs with the wrong number of parameters as `Raw`; those come out the same
/// way, so that arity is checked in one place ([`COMMANDS`]).
fn split_command(command: Command) -> (String, Vec<String>) {
    use std::iter::once;
    let (verb, params): (&str, Vec<String>) = match command {
        Command::Raw(verb, params) => return (verb, params),
        Command::PASS(p) => ("PASS", vec![p]),
        Command::NICK(n) => ("NICK", vec![n]),
        Command::USER(user, mode, realname) => ("USER", vec![user, mode, "*".into(), realname]),
        Command::PING(a, b) => ("PING", once(a).chain(b).collect()),
        Command::PONG(a, b) => ("PONG", once(a).chain(b).collect()),
        Command::QUIT(m) => ("QUIT", m.into_iter().collect()),
        Command::PRIVMSG(t, m) => ("PRIVMSG", vec![t, m]),
        Command::NOTICE(t, m) => ("NOTICE", vec![t, m]),
        Command::JOIN(c, k, n) => ("JOIN", once(c).chain(k).chain(n).collect()),
        // The modes are not needed: we support none.
        Command::UserMODE(t, _) | Command::ChannelMODE(t, _) => ("MODE", vec![t]),
        Command::WHOIS(server, nicks) => ("WHOIS", server.into_iter().chain(once(nicks)).collect()),
        Command::MOTD(t) => ("MOTD", t.into_iter().collect()),
        Command::CAP(target, sub, a, b) => {
            let sub = sub.to_str().to_string();
            (
                "CAP",
                target
                    .into_iter()
                    .chain(once(sub))
                    .chain(a)
                    .chain(b)
                    .collect(),
            )
        }
        // Verbs we do not answer: only the verb matters, for 421.
        other => {
            let text = String::from(&other);
            return (raw_verb(&text).to_string(), Vec::new());
        }
    };
    (verb.to_string(), params)
}

/// The verb of a line, found without a full parse: after the tags and the prefix.
fn raw_verb(line: &str) -> &str {
    let mut rest = line;
    for marker in ['@', ':'] {
        if rest.starts_with(marker) {
            rest = rest.split_once(' ').map_or("", |(_, r)| r);
        }
    }
    rest.split(' ').next().unwrap_or_default()
}
