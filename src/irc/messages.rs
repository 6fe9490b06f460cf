//! Chat messages both ways: PRIVMSG/NOTICE/ACTION from the client to peers, groups' `#`
//! channels (or to the service), and from the hub to the client: received messages (with
//! `msgid`/`time` tags), echoes of the user's own messages (echo-message,
//! znc.in/self-message) and played-back messages wrapped in `chathistory` batches (one per
//! run of messages from one peer, or to one channel).

use crate::identity::PeerId;
use crate::message::{ChatMessage, ControlTarget, FrontendId, FrontendRequest, MessageKind};

use super::client::{Action, Client, MAX_TARGETS, Target};
use super::numerics::*;
use super::render;

/// Played-back messages: whether a playback is running, and the batch open for the run of
/// consecutive messages from one peer (or to one channel).
#[derive(Default)]
pub(super) struct Playback {
    active: bool,
    /// What the open batch is the history of, and its reference.
    open: Option<(History, String)>,
    /// Batch references are `pb<n>`: unique per connection.
    next_ref: u64,
}

/// What a `chathistory` batch holds: the private messages of a peer, or a channel's.
#[derive(Clone, PartialEq, Eq)]
enum History {
    Peer(PeerId),
    /// A group's channel, folded (CASEMAPPING=ascii).
    Channel(String),
}

impl Client {
    pub(super) fn on_privmsg(&mut self, params: &[String], out: &mut Vec<Action>) {
        self.message(params, false, out);
    }

    pub(super) fn on_notice(&mut self, params: &[String], out: &mut Vec<Action>) {
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
        if body.is_empty() && kind != MessageKind::Action {
            return error(self, out, ERR_NOTEXTTOSEND, &[], "No text to send");
        }
        for (i, target) in targets.split(',').filter(|t| !t.is_empty()).enumerate() {
            if i == MAX_TARGETS {
                let text = format!("Too many recipients: at most {MAX_TARGETS}");
                error(self, out, ERR_TOOMANYTARGETS, &[target], &text);
                break;
            }
            match self.resolve(target) {
                Ok(Target::Peer(to)) => {
                    out.push(Action::Request(FrontendRequest::Send {
                        to,
                        kind,
                        text: body.clone(),
                    }));
                    if let Some(reason) = self.peer_away.get(&to).filter(|_| !notice) {
                        let nick = self.book.display_nick(&to);
                        self.numeric(out, RPL_AWAY, &[&nick], reason);
                    }
                }
                Ok(Target::Control | Target::Service) if notice => {}
                Ok(Target::Control) if kind != MessageKind::Text => {
                    let text = "Only commands go to the control channel: type help";
                    self.numeric(out, ERR_CANNOTSENDTOCHAN, &[target], text);
                }
                Ok(Target::Control) if !self.channel.joined => {
                    let text = format!(
                        "You left {}: /join it again, or /msg disims <command>",
                        render::CONTROL_CHANNEL
                    );
                    self.numeric(out, ERR_CANNOTSENDTOCHAN, &[target], &text);
                }
                Ok(Target::Control) => {
                    self.echo_control(render::CONTROL_CHANNEL, &body, out);
                    let line = strip_highlight(&body).to_string();
                    let reply = ControlTarget::Channel;
                    out.push(Action::Request(FrontendRequest::Control { line, reply }));
                }
                Ok(Target::Service) if kind != MessageKind::Text => {
                    let text = "The service takes commands as plain messages: /msg disims help";
                    error(self, out, ERR_CANNOTSENDTOCHAN, &[target], text);
                }
                Ok(Target::Service) => {
                    self.echo_control(crate::contacts::SERVICE_NICK, &body, out);
                    let line = body.clone();
                    let reply = ControlTarget::Query;
                    out.push(Action::Request(FrontendRequest::Control { line, reply }));
                }
                Ok(Target::OtherChannel) if super::groups::is_group_channel(target) => {
                    self.message_group(target, kind, &body, out);
                }
                Ok(Target::OtherChannel) => {
                    let text = super::channel::NO_SUCH_CHANNEL;
                    error(self, out, ERR_NOSUCHCHANNEL, &[target], text);
                }
                Err(text) if !notice => self.no_such_nick(target, &text, out),
                Err(_) => {}
            }
        }
    }

    /// With echo-message, a command line sent to the service comes back at once (the hub
    /// carries control lines as requests, not as messages, so it sends no `Sent` for them).
    /// It carries the tags a message would (time, and a msgid of its own: the time it was
    /// sent and a count of this client's control lines, unique as the hub's ids are).
    fn echo_control(&mut self, target: &str, text: &str, out: &mut Vec<Action>) {
        if !self.caps.echo_message {
            return;
        }
        self.control_lines += 1;
        let mut tags = Vec::new();
        if self.caps.server_time {
            tags.push(("time", render::format_server_time(self.now_ms)));
        }
        if self.caps.message_tags {
            let id = format!(
                "c{:x}-{}-{}",
                self.now_ms,
                self.frontend_id.unwrap_or(0),
                self.control_lines
            );
            tags.push(("msgid", id));
        }
        let line = render::chat(&self.own_prefix(), target, MessageKind::Text, text);
        out.push(Action::Send(render::with_tags(&tags, line)));
    }

    pub(super) fn on_received(
        &mut self,
        from: &PeerId,
        message: &ChatMessage,
        played_back: bool,
        out: &mut Vec<Action>,
    ) {
        let own = self.own_nick.clone();
        self.show_received(from, &own, History::Peer(*from), message, played_back, out);
    }

    /// A message to a group's channel from one of its members.
    pub(super) fn on_group_received(
        &mut self,
        channel: &str,
        from: &PeerId,
        message: &ChatMessage,
        played_back: bool,
        out: &mut Vec<Action>,
    ) {
        let history = History::Channel(super::groups::fold(channel));
        self.show_received(from, channel, history, message, played_back, out);
    }

    /// A received message from `from` to `target` (us, or a channel); a played-back one
    /// in the batch of `history`.
    fn show_received(
        &mut self,
        from: &PeerId,
        target: &str,
        history: History,
        message: &ChatMessage,
        played_back: bool,
        out: &mut Vec<Action>,
    ) {
        let batch = if played_back && self.playback.active && self.caps.batch {
            Some(self.batch_for(history, target, out))
        } else {
            None
        };
        // A message shown late carries its time: in the server-time tag when the client asked
        // for it, otherwise at the start of the text (of every line, when it takes several).
        let lead = if played_back && !self.caps.server_time {
            render::date_lead(message)
        } else {
            String::new()
        };
        let from = self.peer_prefix(from);
        let lines = render::chat_lines(&from, target, message.kind, &message.text, &lead);
        for (part, line) in lines.into_iter().enumerate() {
            let tags = self.message_tags(message, batch.clone(), part);
            out.push(Action::Send(render::with_tags(&tags, line)));
        }
    }

    /// A message the user sent, accepted by the hub: echoed to the client that sent it if it
    /// asked for echo-message; shown to the others as a self-message if they can show one
    /// (znc.in/self-message or echo-message), and skipped otherwise (as ZNC does).
    pub(super) fn on_sent(
        &mut self,
        to: &PeerId,
        message: &ChatMessage,
        origin: FrontendId,
        out: &mut Vec<Action>,
    ) {
        let target = self.book.display_nick(to);
        self.show_sent(&target, message, origin, out);
    }

    /// A message the user sent to a group, accepted by the hub: shown as [`Self::on_sent`]
    /// shows one to a peer.
    pub(super) fn on_group_sent(
        &mut self,
        channel: &str,
        message: &ChatMessage,
        origin: FrontendId,
        out: &mut Vec<Action>,
    ) {
        self.show_sent(channel, message, origin, out);
    }

    fn show_sent(
        &mut self,
        target: &str,
        message: &ChatMessage,
        origin: FrontendId,
        out: &mut Vec<Action>,
    ) {
        let ours = self.frontend_id == Some(origin);
        let show = self.caps.echo_message || (!ours && self.caps.self_message);
        if !show {
            return;
        }
        let own = self.own_prefix();
        let lines = render::chat_lines(&own, target, message.kind, &message.text, "");
        for (part, line) in lines.into_iter().enumerate() {
            let tags = self.message_tags(message, None, part);
            out.push(Action::Send(render::with_tags(&tags, line)));
        }
    }

    /// The tags of line `part` (from 0) of a chat message, as far as the client negotiated
    /// them: every line of a split message carries its time and batch, and a msgid of its
    /// own ([`render::part_msgid`]).
    fn message_tags(
        &self,
        message: &ChatMessage,
        batch: Option<String>,
        part: usize,
    ) -> Vec<(&'static str, String)> {
        let mut tags = Vec::new();
        if let Some(reference) = batch {
            tags.push(("batch", reference));
        }
        if self.caps.server_time {
            tags.push(("time", render::format_server_time(message.sent_at_ms)));
        }
        if self.caps.message_tags {
            tags.push(("msgid", render::part_msgid(&message.id, part)));
        }
        tags
    }

    pub(super) fn on_playback_start(&mut self) {
        self.playback.active = true;
    }

    pub(super) fn on_playback_end(&mut self, out: &mut Vec<Action>) {
        self.close_batch(out);
        self.playback.active = false;
    }

    /// The reference of the batch for a played-back message of `history`: the open one if
    /// it is `history`'s, else a new one (closing the previous run's). `target` is what the
    /// message is addressed to (us, or a channel).
    fn batch_for(&mut self, history: History, target: &str, out: &mut Vec<Action>) -> String {
        if let Some((open, reference)) = &self.playback.open
            && *open == history
        {
            return reference.clone();
        }
        self.close_batch(out);
        self.playback.next_ref += 1;
        let reference = format!("pb{}", self.playback.next_ref);
        let target = match &history {
            History::Peer(peer) => self.book.display_nick(peer),
            History::Channel(_) => target.to_string(),
        };
        let start = format!("+{reference}");
        out.push(Action::Send(render::line(
            Some(&self.settings.server_name),
            "BATCH",
            &[&start, "chathistory", &target],
            None,
        )));
        self.playback.open = Some((history, reference.clone()));
        reference
    }

    fn close_batch(&mut self, out: &mut Vec<Action>) {
        if let Some((_, reference)) = self.playback.open.take() {
            let end = format!("-{reference}");
            out.push(Action::Send(render::line(
                Some(&self.settings.server_name),
                "BATCH",
                &[&end],
                None,
            )));
        }
    }
}

/// A control line without the highlight a client adds when the user addresses the service
/// by name (`disims: help`, `disims, help`).
fn strip_highlight(line: &str) -> &str {
    let nick = crate::contacts::SERVICE_NICK.as_bytes();
    let bytes = line.as_bytes();
    let n = nick.len();
    if bytes.len() > n && bytes[..n].eq_ignore_ascii_case(nick) && matches!(bytes[n], b':' | b',') {
        // bytes[n] is ASCII, so n + 1 is a character boundary.
        line[n + 1..].trim_start()
    } else {
        line
    }
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

#[cfg(test)]
mod tests {
    use super::strip_highlight;

    #[test]
    fn highlights_are_stripped_from_control_lines() {
        assert_eq!(strip_highlight("disims: help"), "help");
        assert_eq!(strip_highlight("DiSIMS,  add x"), "add x");
        assert_eq!(strip_highlight("disims help"), "disims help");
        assert_eq!(strip_highlight("disimsx: help"), "disimsx: help");
        assert_eq!(strip_highlight("dis"), "dis");
        assert_eq!(strip_highlight("disimsé"), "disimsé");
        assert_eq!(strip_highlight("disimé"), "disimé");
    }
}
