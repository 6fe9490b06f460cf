//! The gateway's service commands (typed in the control channel or to the service user):
//! parsing a line into a [`Command`] with clear usage errors, the help texts, and small
//! formatting helpers. Pure: the hub (`router/control.rs`) executes the commands.

pub mod settings;

use crate::contacts::ContactBook;
use crate::identity::PeerId;

pub use settings::{SettingError, Settings};

/// One parsed command. `<nick>` arguments are kept as typed and resolved by [`resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Help(Option<String>),
    Id,
    Add {
        who: String,
        petname: Option<String>,
    },
    Rename {
        who: String,
        petname: String,
    },
    Remove(String),
    Block(String),
    Unblock(String),
    Contacts,
    Status,
    Verify(String),
    Set {
        key: Option<String>,
        value: Option<String>,
    },
    Accept(String),
    Reject(String),
    /// Lists the senders whose messages are held.
    Held,
}

/// A line that is not a valid command; the message is the reply.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("type \"help\" for the list of commands")]
    Empty,
    #[error("unknown command {0:?}; type \"help\" for the list of commands")]
    Unknown(String),
    #[error("usage: {0}")]
    Usage(&'static str),
    #[error("{0:?} is neither a contact's petname nor a key (52-character nick or 64 hex digits)")]
    NoSuchPeer(String),
}

/// Each command: its name, its usage, and one line saying what it does.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    (
        "help",
        "help [command]",
        "lists the commands, or explains one",
    ),
    (
        "id",
        "id",
        "shows your nick, key and fingerprint, and a line to share with friends",
    ),
    (
        "add",
        "add <nick-or-key> [petname]",
        "adds a contact, optionally under a petname",
    ),
    (
        "rename",
        "rename <nick> <petname>",
        "gives a contact a new petname",
    ),
    (
        "remove",
        "remove <nick>",
        "removes a contact (it appears under its key nick again)",
    ),
    (
        "block",
        "block <nick>",
        "blocks a peer: its connections are refused, nothing from it reaches you",
    ),
    ("unblock", "unblock <nick>", "unblocks a peer"),
    (
        "contacts",
        "contacts",
        "lists your contacts: petname, online state, last seen, queued messages",
    ),
    (
        "status",
        "status",
        "shows the DHT, the sessions and the outbox",
    ),
    (
        "verify",
        "verify <nick>",
        "shows the safety number to compare with the peer over another channel",
    ),
    (
        "set",
        "set [<key> [<value>]]",
        "lists, shows or changes a setting (unknown, expire_after_hours, history_days)",
    ),
    (
        "accept",
        "accept <nick>",
        "shows the held messages of a sender who asked to talk, and adds it as a contact",
    ),
    (
        "reject",
        "reject <nick>",
        "deletes the held messages of a sender who asked to talk",
    ),
    (
        "held",
        "held",
        "lists the senders whose messages are held, oldest first, to accept or reject",
    ),
];

fn usage(name: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or("help", |(_, u, _)| u)
}

/// Parses one command line (leading/trailing spaces and the command's case do not matter).
pub fn parse(line: &str) -> Result<Command, ControlError> {
    let mut words = line.split_whitespace();
    let Some(name) = words.next() else {
        return Err(ControlError::Empty);
    };
    let name = name.to_ascii_lowercase();
    let args: Vec<&str> = words.collect();
    let bad = || ControlError::Usage(usage(&name));
    let one = |args: &[&str]| match args {
        [who] => Ok(who.to_string()),
        _ => Err(bad()),
    };
    let none = |args: &[&str]| if args.is_empty() { Ok(()) } else { Err(bad()) };
    Ok(match name.as_str() {
        "help" => match args[..] {
            [] => Command::Help(None),
            [topic] => Command::Help(Some(topic.to_ascii_lowercase())),
            _ => return Err(bad()),
        },
        "id" => none(&args).map(|()| Command::Id)?,
        "add" => match args[..] {
            [who] => Command::Add {
                who: who.into(),
                petname: None,
            },
            [who, petname] => Command::Add {
                who: who.into(),
                petname: Some(petname.into()),
            },
            _ => return Err(bad()),
        },
        "rename" => match args[..] {
            [who, petname] => Command::Rename {
                who: who.into(),
                petname: petname.into(),
            },
            _ => return Err(bad()),
        },
        "remove" => Command::Remove(one(&args)?),
        "block" => Command::Block(one(&args)?),
        "unblock" => Command::Unblock(one(&args)?),
        "contacts" => none(&args).map(|()| Command::Contacts)?,
        "status" => none(&args).map(|()| Command::Status)?,
        "verify" => Command::Verify(one(&args)?),
        "set" => match args[..] {
            [] => Command::Set {
                key: None,
                value: None,
            },
            [key] => Command::Set {
                key: Some(key.to_ascii_lowercase()),
                value: None,
            },
            [key, value] => Command::Set {
                key: Some(key.to_ascii_lowercase()),
                value: Some(value.into()),
            },
            _ => return Err(bad()),
        },
        "accept" => Command::Accept(one(&args)?),
        "reject" => Command::Reject(one(&args)?),
        "held" => none(&args).map(|()| Command::Held)?,
        _ => return Err(ControlError::Unknown(name)),
    })
}

/// The help: the list of commands, or one command's usage and purpose.
pub fn help(topic: Option<&str>) -> Vec<String> {
    match topic {
        None => {
            let mut lines = vec!["Commands (type \"help <command>\" for one):".to_string()];
            lines.extend(
                COMMANDS
                    .iter()
                    .map(|(_, usage, what)| format!("  {usage}: {what}")),
            );
            lines.push(
                "<nick> is a contact's petname or a key nick (52 characters); add also takes the key in hex"
                    .into(),
            );
            lines
        }
        Some(topic) => match COMMANDS.iter().find(|(n, _, _)| *n == topic) {
            Some((_, usage, what)) => vec![format!("{usage}: {what}")],
            None => vec![ControlError::Unknown(topic.to_string()).to_string()],
        },
    }
}

/// A key written as a 52-character key nick or as 64 hex digits.
pub fn parse_key(arg: &str) -> Option<PeerId> {
    if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&arg[2 * i..2 * i + 2], 16).ok()?;
        }
        return PeerId::from_bytes(bytes).ok();
    }
    PeerId::from_nick(arg).ok()
}

/// The peer a `<nick>` argument names: a contact's petname, or a key.
pub fn resolve(book: &ContactBook, arg: &str) -> Result<PeerId, ControlError> {
    book.by_petname(arg)
        .or_else(|| parse_key(arg))
        .ok_or_else(|| ControlError::NoSuchPeer(arg.to_string()))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `n` and the noun, singular or plural: "1 message", "2 messages", "0 messages".
pub fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// How long ago `then_ms` was, roughly: "just now", "5 min ago", "3 h ago", "1 day ago",
/// "2 days ago".
pub fn ago(now_ms: u64, then_ms: u64) -> String {
    let secs = now_ms.saturating_sub(then_ms) / 1000;
    match secs {
        0..60 => "just now".into(),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} ago", count((secs / 86_400) as usize, "day")),
    }
}

/// A duration in words, coarse: "42s", "5 min", "3 h", "1 day", "2 days".
pub fn duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h", secs / 3600),
        _ => count((secs / 86_400) as usize, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contacts::Contact;
    use ed25519_dalek::SigningKey;

    fn peer(n: u8) -> PeerId {
        PeerId::of(&SigningKey::from_bytes(&[n; 32]))
    }

    #[test]
    fn commands_parse() {
        assert_eq!(parse("help"), Ok(Command::Help(None)));
        assert_eq!(parse("  HELP Add "), Ok(Command::Help(Some("add".into()))));
        assert_eq!(parse("id"), Ok(Command::Id));
        assert_eq!(
            parse("add abc bob"),
            Ok(Command::Add {
                who: "abc".into(),
                petname: Some("bob".into())
            })
        );
        assert_eq!(
            parse("add abc"),
            Ok(Command::Add {
                who: "abc".into(),
                petname: None
            })
        );
        assert_eq!(
            parse("rename bob robert"),
            Ok(Command::Rename {
                who: "bob".into(),
                petname: "robert".into()
            })
        );
        assert_eq!(parse("remove bob"), Ok(Command::Remove("bob".into())));
        assert_eq!(parse("block bob"), Ok(Command::Block("bob".into())));
        assert_eq!(parse("unblock bob"), Ok(Command::Unblock("bob".into())));
        assert_eq!(parse("contacts"), Ok(Command::Contacts));
        assert_eq!(parse("status"), Ok(Command::Status));
        assert_eq!(parse("verify bob"), Ok(Command::Verify("bob".into())));
        assert_eq!(
            parse("set"),
            Ok(Command::Set {
                key: None,
                value: None
            })
        );
        assert_eq!(
            parse("set Unknown ask"),
            Ok(Command::Set {
                key: Some("unknown".into()),
                value: Some("ask".into())
            })
        );
        assert_eq!(parse("accept x"), Ok(Command::Accept("x".into())));
        assert_eq!(parse("reject x"), Ok(Command::Reject("x".into())));
    }

    #[test]
    fn bad_lines_get_usage_or_a_pointer_to_help() {
        assert_eq!(parse("   "), Err(ControlError::Empty));
        assert_eq!(parse("frob x"), Err(ControlError::Unknown("frob".into())));
        assert!(
            parse("frob")
                .unwrap_err()
                .to_string()
                .contains("type \"help\"")
        );
        assert_eq!(
            parse("add"),
            Err(ControlError::Usage("add <nick-or-key> [petname]"))
        );
        assert_eq!(
            parse("rename bob"),
            Err(ControlError::Usage("rename <nick> <petname>"))
        );
        assert_eq!(parse("id now"), Err(ControlError::Usage("id")));
        assert_eq!(parse("HELD"), Ok(Command::Held));
        assert_eq!(parse("held x"), Err(ControlError::Usage("held")));
        assert_eq!(
            parse("set a b c"),
            Err(ControlError::Usage("set [<key> [<value>]]"))
        );
        for (name, usage, _) in COMMANDS {
            assert_eq!(help(Some(name)).len(), 1);
            assert!(help(Some(name))[0].starts_with(usage));
        }
        assert!(help(Some("nope"))[0].contains("unknown command"));
        assert_eq!(help(None).len(), COMMANDS.len() + 2);
    }

    #[test]
    fn nick_arguments_resolve_by_petname_nick_or_hex() {
        let bob = peer(2);
        let book = ContactBook::new([Contact {
            peer: bob,
            petname: Some("Bob".into()),
            blocked: false,
            added_ms: 0,
            last_seen_ms: None,
        }]);
        assert_eq!(resolve(&book, "bob"), Ok(bob));
        assert_eq!(resolve(&book, &bob.nick()), Ok(bob));
        assert_eq!(resolve(&book, &hex(bob.as_bytes())), Ok(bob));
        assert_eq!(resolve(&book, &hex(bob.as_bytes()).to_uppercase()), Ok(bob));
        assert!(matches!(
            resolve(&book, "carol"),
            Err(ControlError::NoSuchPeer(_))
        ));
        assert!(parse_key(&"zz".repeat(32)).is_none());
    }

    #[test]
    fn times_read_well() {
        assert_eq!(ago(10_000, 9_000), "just now");
        assert_eq!(ago(10 * 60_000, 0), "10 min ago");
        assert_eq!(ago(3 * 3_600_000, 0), "3 h ago");
        assert_eq!(ago(2 * 86_400_000, 0), "2 days ago");
        assert_eq!(ago(0, 5), "just now");
        assert_eq!(duration(42_000), "42s");
    }

    #[test]
    fn counts_and_days_have_proper_plurals() {
        assert_eq!(count(1, "message"), "1 message");
        assert_eq!(count(2, "message"), "2 messages");
        assert_eq!(count(0, "message"), "0 messages");
        assert_eq!(ago(86_400_000 + 5, 0), "1 day ago");
        assert_eq!(duration(86_400_000), "1 day");
        assert_eq!(duration(3 * 86_400_000), "3 days");
    }
}
