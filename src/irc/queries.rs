//! The server queries and operator commands every IRC server answers, with what they mean
//! on a gateway that is the user's own server: LUSERS, VERSION, INFO, ADMIN, HELP, OPER and
//! KICK. They get their proper numerics (clients and scripts send them on their own), not
//! 421; the gateway's own commands are the service's (`/msg disims help`).

use super::client::{Action, Client};
use super::numerics::*;
use super::render::CONTROL_CHANNEL;

/// What HELP shows (705 lines after the 704).
const HELP_LINES: &[&str] = &[
    "DiSIMS commands (contacts, petnames, status) go to the service:",
    "/msg disims help, or type help in &disims.",
    "To write to a friend: /msg <their 52-character nick or petname> <text>.",
    "Groups are channels: /join #name makes one, /invite <nick> #name invites a peer.",
    "IRC commands answered: PRIVMSG NOTICE JOIN PART INVITE KICK NAMES TOPIC WHO WHOIS",
    "WHOWAS LIST MODE MONITOR ISON USERHOST AWAY TIME MOTD LUSERS VERSION INFO ADMIN HELP",
    "PING QUIT.",
];

/// What INFO shows (371 lines).
const INFO_LINES: &[&str] = &[
    "DiSIMS: a serverless, end-to-end encrypted messenger.",
    "This IRC server is your own gateway: it runs on your machine, for you alone.",
    "Peers are found through the mainline DHT and reached directly over TCP;",
    "messages are encrypted to the peer's key and delivered exactly once.",
];

impl Client {
    /// LUSERS: the users are those this client can see (the service, the user, the
    /// contacts); one server, one channel.
    pub(super) fn on_lusers(&mut self, _: &[String], out: &mut Vec<Action>) {
        let total = self.member_count();
        let invisible = usize::from(self.invisible);
        let visible = total - invisible;
        let text = format!("There are {visible} users and {invisible} invisible on 1 servers");
        self.numeric(out, RPL_LUSERCLIENT, &[], &text);
        let channels = (1 + self.groups.joined().count()).to_string();
        self.numeric(out, RPL_LUSERCHANNELS, &[&channels], "channels formed");
        let text = format!("I have {total} clients and 0 servers");
        self.numeric(out, RPL_LUSERME, &[], &text);
        let n = total.to_string();
        let text = format!("Current local users {total}, max {total}");
        self.numeric(out, RPL_LOCALUSERS, &[&n, &n], &text);
        let text = format!("Current global users {total}, max {total}");
        self.numeric(out, RPL_GLOBALUSERS, &[&n, &n], &text);
    }

    /// VERSION: 351, then the ISUPPORT tokens again (as modern servers do).
    pub(super) fn on_version(&mut self, _: &[String], out: &mut Vec<Action>) {
        let version = self.settings.version.clone();
        let server = self.settings.server_name.clone();
        self.numeric(
            out,
            RPL_VERSION,
            &[&version, &server],
            "DiSIMS gateway: serverless end-to-end encrypted messages",
        );
        self.send_isupport(out);
    }

    pub(super) fn on_info(&mut self, _: &[String], out: &mut Vec<Action>) {
        for line in INFO_LINES {
            self.numeric(out, RPL_INFO, &[], line);
        }
        let version = format!("Version {}", self.settings.version);
        self.numeric(out, RPL_INFO, &[], &version);
        self.numeric(out, RPL_ENDOFINFO, &[], "End of INFO list");
    }

    pub(super) fn on_admin(&mut self, _: &[String], out: &mut Vec<Action>) {
        let server = self.settings.server_name.clone();
        self.numeric(out, RPL_ADMINME, &[&server], "Administrative info");
        let lines = [
            (
                RPL_ADMINLOC1,
                "This gateway runs on your own machine: you are its admin",
            ),
            (
                RPL_ADMINLOC2,
                "There is no server operator: peers talk directly",
            ),
            (RPL_ADMINEMAIL, "No contact address: see /msg disims help"),
        ];
        for (code, text) in lines {
            self.numeric(out, code, &[], text);
        }
    }

    /// HELP [subject]: the same short text for no subject and for any verb we answer (it
    /// points to the service for the gateway's own commands); 524 for anything else.
    pub(super) fn on_help(&mut self, params: &[String], out: &mut Vec<Action>) {
        let subject = params
            .first()
            .map(|s| s.to_ascii_uppercase())
            .filter(|s| !s.is_empty() && s != "*");
        if let Some(subject) = &subject
            && !super::client::is_command(subject)
        {
            let text = "No help available on this topic: /msg disims help";
            return self.numeric(out, ERR_HELPNOTFOUND, &[subject], text);
        }
        let subject = subject.unwrap_or_else(|| "*".to_string());
        let (first, rest) = HELP_LINES.split_first().unwrap_or((&"", &[]));
        self.numeric(out, RPL_HELPSTART, &[&subject], first);
        for line in rest {
            self.numeric(out, RPL_HELPTXT, &[&subject], line);
        }
        self.numeric(out, RPL_ENDOFHELP, &[&subject], "End of /HELP");
    }

    /// OPER: there are no operators to become (the service runs `&disims`).
    pub(super) fn on_oper(&mut self, _: &[String], out: &mut Vec<Action>) {
        let text = "No O-lines for your host: DiSIMS has no operators, the gateway is yours";
        self.numeric(out, ERR_NOOPERHOST, &[], text);
    }

    /// KICK: groups' channels are `group_commands.rs`'s; only the service is an operator of
    /// `&disims`, and a contact leaves it when it is removed (`/msg disims help remove`).
    pub(super) fn on_kick(&mut self, params: &[String], out: &mut Vec<Action>) {
        let channel = params[0].as_str();
        if super::groups::is_group_channel(channel) {
            return self.kick_group(params, out);
        }
        if !channel.eq_ignore_ascii_case(CONTROL_CHANNEL) {
            let text = super::channel::NO_SUCH_CHANNEL;
            return self.numeric(out, ERR_NOSUCHCHANNEL, &[channel], text);
        }
        if !self.channel.joined {
            let text = "You're not on that channel";
            return self.numeric(out, ERR_NOTONCHANNEL, &[CONTROL_CHANNEL], text);
        }
        let text = "You're not channel operator: to remove a contact, /msg disims remove <nick>";
        self.numeric(out, ERR_CHANOPRIVSNEEDED, &[CONTROL_CHANNEL], text);
    }
}

/// Whether `name` matches an IRC mask (`*` any run, `?` any one character), ASCII
/// case-insensitively (CASEMAPPING=ascii).
pub(super) fn mask_matches(mask: &str, name: &str) -> bool {
    let (mask, name) = (mask.as_bytes(), name.as_bytes());
    // The classic greedy match with one backtrack point: linear in practice, never
    // exponential.
    let (mut m, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match mask.get(m) {
            Some(b'*') => {
                star = Some((m, n));
                m += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&name[n]) => {
                m += 1;
                n += 1;
            }
            _ => match star {
                Some((sm, sn)) => {
                    m = sm + 1;
                    n = sn + 1;
                    star = Some((sm, sn + 1));
                }
                None => return false,
            },
        }
    }
    mask[m..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::mask_matches;

    #[test]
    fn masks_match_as_irc_masks_do() {
        for (mask, name) in [
            ("*", ""),
            ("*", "&disims"),
            ("&disims", "&DiSIMS"),
            ("&d?sims", "&disims"),
            ("&*s", "&disims"),
            ("*i*i*", "&disims"),
            ("**", "x"),
            ("a*b*c", "aXbYbZc"),
        ] {
            assert!(mask_matches(mask, name), "{mask} {name}");
        }
        for (mask, name) in [
            ("", "x"),
            ("?", ""),
            ("&disims", "&disims2"),
            ("#*", "&disims"),
            ("a*b", "aXbY"),
            ("x?", "x"),
        ] {
            assert!(!mask_matches(mask, name), "{mask} {name}");
        }
        // No blow-up on many stars against a long name that does not match.
        let long = "a".repeat(4000);
        assert!(!mask_matches(&format!("{}b", "*a".repeat(100)), &long));
    }
}
