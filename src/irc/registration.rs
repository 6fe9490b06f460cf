//! Registration of an IRC client: CAP negotiation, PASS, NICK, USER, and the welcome burst
//! (001-005, MOTD). The conn task attaches the connection to the hub right after, and the
//! hub's first events (the contact book, then presence and playback) follow.
//! Capability negotiation is in `caps.rs`.
//!
//! The user's nick is their key nick whatever NICK the client registers with: 001 is
//! addressed to the key nick, and irssi, WeeChat and HexChat adopt the nick of 001.

use sha2::{Digest, Sha256};

use super::client::{AWAYLEN, Action, Client, MAX_TARGETS, Phase};
use super::group_commands::MODES_PER_LINE;
use super::groups::{CHANNELLEN, KICKLEN, TOPICLEN};
use super::monitor::MONITOR_LIMIT;
use super::numerics::*;
use super::render;
use crate::identity::NICK_LEN;
use crate::message::FrontendRequest;

impl Client {
    /// Whether registration ended on a wrong or missing password (the conn task holds the
    /// refusal and slows the address's next try: policy/irc.rs).
    pub fn password_refused(&self) -> bool {
        self.reg.password_refused
    }

    pub(super) fn on_pass(&mut self, params: &[String], out: &mut Vec<Action>) {
        if self.phase == Phase::Registered {
            return self.numeric(out, ERR_ALREADYREGISTERED, &[], "You may not reregister");
        }
        self.reg.pass = Some(params[0].clone());
    }

    pub(super) fn on_nick(&mut self, params: &[String], out: &mut Vec<Action>) {
        let Some(nick) = params.first().filter(|n| !n.is_empty()) else {
            return self.numeric(out, ERR_NONICKNAMEGIVEN, &[], "No nickname given");
        };
        if self.phase == Phase::Registered {
            if !nick.eq_ignore_ascii_case(&self.own_nick) {
                let text = "Your nick is your key and cannot change: peers reach you by it";
                self.numeric(out, ERR_ERRONEUSNICKNAME, &[nick], text);
            }
            return;
        }
        if !is_valid_nick(nick) {
            return self.numeric(out, ERR_ERRONEUSNICKNAME, &[nick], "Erroneous nickname");
        }
        self.reg.nick = Some(nick.clone());
        self.try_complete_registration(out);
    }

    pub(super) fn on_user(&mut self, params: &[String], out: &mut Vec<Action>) {
        if self.phase == Phase::Registered {
            return self.numeric(out, ERR_ALREADYREGISTERED, &[], "You may not reregister");
        }
        // User name and real name mean nothing here (the key is the identity), but they
        // must be there (modern IRC: an empty one gets 461).
        if params[0].is_empty() || params[3].is_empty() {
            return self.numeric(out, ERR_NEEDMOREPARAMS, &["USER"], "Not enough parameters");
        }
        self.reg.user = true;
        self.try_complete_registration(out);
    }

    pub(super) fn try_complete_registration(&mut self, out: &mut Vec<Action>) {
        let reg = &self.reg;
        if self.phase != Phase::Registering
            || reg.cap_negotiating
            || reg.nick.is_none()
            || !reg.user
        {
            return;
        }
        if let Some(expected) = &self.settings.password {
            let given = self.reg.pass.take();
            if !given.is_some_and(|given| same_secret(&given, expected)) {
                self.numeric(out, ERR_PASSWDMISMATCH, &[], "Password incorrect");
                self.phase = Phase::Closed;
                self.reg.password_refused = true;
                let text = "Closing link: wrong or missing password (PASS)";
                out.push(Action::Send(render::line(None, "ERROR", &[], Some(text))));
                out.push(Action::Close);
                return;
            }
        }
        // The password is not needed any more: do not keep it in memory.
        self.reg.pass = None;
        self.phase = Phase::Registered;
        self.send_welcome(out);
        self.send_motd(out);
        // The hub copies every sent message to the front ends that show them.
        let wanted = self.caps.shows_echoes();
        out.push(Action::Request(FrontendRequest::Echoes(wanted)));
    }

    fn send_welcome(&self, out: &mut Vec<Action>) {
        let own = &self.own_nick;
        let server = &self.settings.server_name;
        let version = &self.settings.version;
        self.numeric(out, RPL_WELCOME, &[], &format!("Welcome to DiSIMS, {own}"));
        let host = format!("Your host is {server}, running version {version}");
        self.numeric(out, RPL_YOURHOST, &[], &host);
        self.numeric(
            out,
            RPL_CREATED,
            &[],
            "This server is your own DiSIMS gateway",
        );
        // 004 has no trailing text. The one user mode is `i` (client.rs, `user_mode`).
        // Channel modes: the flags of groups (imnt) and the prefixes (ov), which take a nick.
        let myinfo = [own.as_str(), server, version, "i", "imnotv", "ov"];
        out.push(Action::Send(render::line(
            Some(server),
            RPL_MYINFO,
            &myinfo,
            None,
        )));
        self.send_isupport(out);
    }

    /// The 005 lines (after 004, and after 351 for VERSION).
    pub(super) fn send_isupport(&self, out: &mut Vec<Action>) {
        let targmax =
            format!("TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},WHOIS:{MAX_TARGETS}");
        let nicklen = format!("NICKLEN={NICK_LEN}");
        let maxtargets = format!("MAXTARGETS={MAX_TARGETS}");
        let monitor = format!("MONITOR={MONITOR_LIMIT}");
        let awaylen = format!("AWAYLEN={AWAYLEN}");
        // At most 13 tokens per 005 line (modern.ircdocs.horse).
        let first = [
            &awaylen,
            "CASEMAPPING=ascii",
            "CHANTYPES=#&",
            &nicklen,
            "NETWORK=DiSIMS",
            "UTF8ONLY",
            &maxtargets,
            &targmax,
            &monitor,
        ];
        self.numeric(out, RPL_ISUPPORT, &first, "are supported by this server");
        // Peers carry no client-only tags (`+typing`, `+draft/reply`...): clients are told
        // they are all refused, so that none shows a reply or typing the peer never sees.
        // Groups (`#`) have no limit of their own here (the hub has), so CHANLIMIT names
        // `&` only. CHANMODES: the flags of groups; `n` is always set.
        let channellen = format!("CHANNELLEN={CHANNELLEN}");
        let topiclen = format!("TOPICLEN={TOPICLEN}");
        let kicklen = format!("KICKLEN={KICKLEN}");
        let modes = format!("MODES={MODES_PER_LINE}");
        let second = [
            "CHANLIMIT=&:1",
            "CLIENTTAGDENY=*",
            "CHANMODES=,,,imnt",
            &channellen,
            "PREFIX=(ov)@+",
            &modes,
            &topiclen,
            &kicklen,
        ];
        self.numeric(out, RPL_ISUPPORT, &second, "are supported by this server");
    }

    pub(super) fn send_motd(&self, out: &mut Vec<Action>) {
        let own = &self.own_nick;
        let server = &self.settings.server_name;
        self.numeric(
            out,
            RPL_MOTDSTART,
            &[],
            &format!("- {server} Message of the day -"),
        );
        let lines = [
            "DiSIMS: serverless, end-to-end encrypted messages.".to_string(),
            format!("Your nick is your key: {own}"),
            "Give it to a friend so they can write to you.".to_string(),
            "To talk to a friend: /msg <friend's nick> hello".to_string(),
            "A friend's nick is their key: 52 characters, exactly as they gave it to you."
                .to_string(),
            "Only the two of you can read what you write; no server stores it.".to_string(),
        ];
        for line in &lines {
            self.numeric(out, RPL_MOTD, &[], &format!("- {line}"));
        }
        self.numeric(out, RPL_ENDOFMOTD, &[], "End of /MOTD command.");
    }
}

/// Whether `nick` is acceptable as an IRC nick. A leading digit is allowed, unlike in
/// RFC 2812, because key nicks may start with one (and the clients accept that).
fn is_valid_nick(nick: &str) -> bool {
    nick.len() <= NICK_LEN
        && !nick.starts_with('-')
        && !nick.is_empty()
        && nick
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c))
}

/// Compares two secrets in time independent of where they differ: both are hashed first,
/// so neither the position of a difference nor the length leaks through timing.
fn same_secret(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
