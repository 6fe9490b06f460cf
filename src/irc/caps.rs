//! IRCv3 capability negotiation (CAP LS/LIST/REQ/END, version 302) and the set of
//! capabilities a client enabled.
//!
//! We advertise only what we implement. None of our capabilities has a value, so LS 302
//! lists bare names; a list longer than one line is split with the `*` continuation marker
//! (for 302 clients, as the spec says) so that adding capabilities later stays correct.

use super::client::{Action, Client, Phase};
use super::numerics::*;
use super::render;
use crate::message::FrontendRequest;

/// Every capability we implement, in the order we advertise them.
pub const SUPPORTED_CAPS: &[&str] = &[
    "away-notify",
    "batch",
    // Our capabilities never change while a client is connected, so there is never a
    // CAP NEW or DEL to send: enabling it is all there is to support.
    "cap-notify",
    "echo-message",
    // An INVITE line when a member of a channel the client is in invites someone (without
    // it, a NOTICE in the channel says so).
    "invite-notify",
    "message-tags",
    // NAMES, WHO and WHOIS show every prefix a member has: in `&disims` nobody has more
    // than one (the service is @, contacts online are +); in a group an operator online
    // is `@+`.
    "multi-prefix",
    "server-time",
    // NAMES gives each member as nick!user@host.
    "userhost-in-names",
    "znc.in/self-message",
];

/// Capability names per CAP line, at most this many bytes (well inside 512 with the prefix).
const CAP_LINE_BYTES: usize = 400;

/// What a client enabled.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct Caps {
    pub away_notify: bool,
    pub batch: bool,
    pub cap_notify: bool,
    pub echo_message: bool,
    pub invite_notify: bool,
    pub message_tags: bool,
    pub multi_prefix: bool,
    pub server_time: bool,
    pub userhost_in_names: bool,
    pub self_message: bool,
    /// The client sent `CAP LS 302` (or higher): multi-line replies are allowed.
    pub version_302: bool,
}

impl Caps {
    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "away-notify" => &mut self.away_notify,
            "batch" => &mut self.batch,
            "cap-notify" => &mut self.cap_notify,
            "echo-message" => &mut self.echo_message,
            "invite-notify" => &mut self.invite_notify,
            "message-tags" => &mut self.message_tags,
            "multi-prefix" => &mut self.multi_prefix,
            "server-time" => &mut self.server_time,
            "userhost-in-names" => &mut self.userhost_in_names,
            "znc.in/self-message" => &mut self.self_message,
            _ => return None,
        })
    }

    /// Whether the client shows the user's own sent messages (so the hub must send them).
    pub fn shows_echoes(&self) -> bool {
        self.echo_message || self.self_message
    }

    /// The enabled capabilities, as CAP LIST shows them.
    pub fn enabled(&self) -> Vec<&'static str> {
        let mut copy = *self;
        SUPPORTED_CAPS
            .iter()
            .copied()
            .filter(|name| copy.flag(name).is_some_and(|f| *f))
            .collect()
    }
}

impl Client {
    pub(super) fn on_cap(&mut self, params: &[String], out: &mut Vec<Action>) {
        let registering = self.phase == Phase::Registering;
        let sub = params[0].to_ascii_uppercase();
        match sub.as_str() {
            "LS" => {
                // Per CAP 302, LS during registration holds registration until CAP END.
                self.reg.cap_negotiating |= registering;
                let version = params.get(1).and_then(|v| v.parse::<u32>().ok());
                self.caps.version_302 |= version.is_some_and(|v| v >= 302);
                self.cap_list_reply(out, "LS", SUPPORTED_CAPS);
            }
            "LIST" => {
                let enabled = self.caps.enabled();
                self.cap_list_reply(out, "LIST", &enabled);
            }
            "REQ" => {
                self.reg.cap_negotiating |= registering;
                let list = params.get(1).map(|l| l.trim()).unwrap_or_default();
                let requested: Vec<&str> = list.split_whitespace().collect();
                let mut next = self.caps;
                // All or nothing: a client must never believe in half of its request.
                let all_known = !requested.is_empty()
                    && requested.iter().all(|cap| {
                        let (name, on) = match cap.strip_prefix('-') {
                            Some(name) => (name, false),
                            None => (*cap, true),
                        };
                        next.flag(name).map(|flag| *flag = on).is_some()
                    });
                if all_known {
                    let before = self.caps.shows_echoes();
                    self.caps = next;
                    self.cap_reply(out, "ACK", list, false);
                    let wanted = next.shows_echoes();
                    if self.phase == Phase::Registered && wanted != before {
                        out.push(Action::Request(FrontendRequest::Echoes(wanted)));
                    }
                } else {
                    self.cap_reply(out, "NAK", list, false);
                }
            }
            "END" => {
                if registering {
                    self.reg.cap_negotiating = false;
                    self.try_complete_registration(out);
                }
            }
            _ => self.numeric(out, ERR_INVALIDCAPCMD, &[&params[0]], "Invalid CAP command"),
        }
    }

    /// LS and LIST: split over several lines when long (302 clients only; older ones get
    /// one line, which our short list always fits).
    fn cap_list_reply(&self, out: &mut Vec<Action>, sub: &str, caps: &[&str]) {
        let mut lines: Vec<String> = vec![String::new()];
        for cap in caps {
            let current = lines.last_mut().expect("never empty");
            if self.caps.version_302
                && !current.is_empty()
                && current.len() + 1 + cap.len() > CAP_LINE_BYTES
            {
                lines.push(cap.to_string());
            } else {
                if !current.is_empty() {
                    current.push(' ');
                }
                current.push_str(cap);
            }
        }
        let last = lines.len() - 1;
        for (i, line) in lines.iter().enumerate() {
            self.cap_reply(out, sub, line, i < last);
        }
    }

    fn cap_reply(&self, out: &mut Vec<Action>, sub: &str, caps: &str, more: bool) {
        let server = &self.settings.server_name;
        let mut middles = vec![self.target(), sub];
        if more {
            middles.push("*");
        }
        out.push(Action::Send(render::line(
            Some(server),
            "CAP",
            &middles,
            Some(caps),
        )));
    }
}
