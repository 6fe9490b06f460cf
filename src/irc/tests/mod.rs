//! Client state machine tests: scripted IRC sessions as the real clients send them.
//! Commands and errors are here; registration is in `registration.rs`, what the client is
//! shown in `rendering.rs`.

mod away;
mod caps;
mod channel;
mod conn;
mod echo;
mod group_commands;
mod group_refusals;
mod groups;
mod long_lines;
mod monitor;
mod never_panics;
mod queries;
mod registration;
mod rendering;
mod whois;

use std::sync::Arc;

use ed25519_dalek::SigningKey;

use super::client::{Action, Client, ClientSettings};
use super::codec::Line;
use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent, FrontendRequest, MessageId, MessageKind};

pub(super) fn peer(seed: u8) -> PeerId {
    PeerId::of(&SigningKey::from_bytes(&[seed; 32]))
}

pub(super) fn settings(password: Option<&str>) -> Arc<ClientSettings> {
    Arc::new(ClientSettings {
        own: peer(1),
        password: password.map(str::to_string),
        server_name: "disims".into(),
        version: "0.1.0".into(),
    })
}

pub(super) fn own() -> String {
    peer(1).nick()
}

/// Feeds lines and returns every action.
pub(super) fn feed(client: &mut Client, lines: &[&str]) -> Vec<Action> {
    lines
        .iter()
        .flat_map(|l| client.handle_line(Line::Text(l.to_string()), 0))
        .collect()
}

/// Feeds lines and returns the lines sent back (requests and closes are left out).
pub(super) fn sent(client: &mut Client, lines: &[&str]) -> Vec<String> {
    texts(feed(client, lines))
}

pub(super) fn texts(actions: Vec<Action>) -> Vec<String> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            Action::Send(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// The numeric of a `:disims NNN ...` line.
pub(super) fn code(line: &str) -> &str {
    line.split(' ').nth(1).unwrap_or_default()
}

pub(super) fn registered() -> Client {
    let mut client = Client::new(settings(None));
    sent(&mut client, &["NICK tester", "USER t 0 * :Tester"]);
    assert!(client.is_registered());
    client
}

/// A registered client that negotiated `caps` (CAP LS 302, REQ, END).
pub(super) fn with_caps(caps: &[&str]) -> Client {
    let mut client = Client::new(settings(None));
    let req = format!("CAP REQ :{}", caps.join(" "));
    let out = sent(
        &mut client,
        &["CAP LS 302", "NICK a", "USER a 0 * :a", &req, "CAP END"],
    );
    assert!(out.iter().any(|l| l.contains(" ACK ")), "{out:?}");
    assert!(client.is_registered());
    client
}

/// A contact book: (seed of the peer's key, petname).
pub(super) fn book(contacts: &[(u8, Option<&str>)]) -> Arc<crate::contacts::ContactBook> {
    Arc::new(crate::contacts::ContactBook::new(contacts.iter().map(
        |(seed, petname)| crate::contacts::Contact {
            peer: peer(*seed),
            petname: petname.map(str::to_string),
            blocked: false,
            added_ms: 0,
            last_seen_ms: None,
        },
    )))
}

/// Renders one event and returns the lines.
pub(super) fn shown(client: &mut Client, event: FrontendEvent) -> Vec<String> {
    texts(client.handle_event(&event))
}

/// The requests among actions.
pub(super) fn requests(actions: &[Action]) -> Vec<FrontendRequest> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Request(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn message(kind: MessageKind, text: &str, sent_at_ms: u64) -> FrontendEvent {
    FrontendEvent::Received {
        played_back: false,
        stored: None,
        from: peer(2),
        message: ChatMessage {
            id: MessageId([7; 16]),
            kind,
            text: text.into(),
            sent_at_ms,
        },
    }
}

pub(super) fn send(to: PeerId, kind: MessageKind, text: &str) -> Action {
    Action::Request(FrontendRequest::Send {
        to,
        kind,
        text: text.into(),
    })
}

#[test]
fn privmsg_to_a_key_nick_requests_a_send_with_the_exact_text() {
    let mut client = registered();
    let to = peer(2);
    let text = "héllo wörld ✓ :with colon  and  spaces ";
    let out = feed(
        &mut client,
        &[&format!("PRIVMSG {} :{text}", to.nick().to_uppercase())],
    );
    assert_eq!(out, vec![send(to, MessageKind::Text, text)]);
    let out = feed(
        &mut client,
        &[&format!("NOTICE {to} :note"), &format!("PRIVMSG {to} word")],
    );
    assert_eq!(
        out,
        vec![
            send(to, MessageKind::Notice, "note"),
            send(to, MessageKind::Text, "word")
        ]
    );
    // Several targets, each on its own; a NUL is stripped (the hub carries none).
    let three = peer(3);
    let out = feed(
        &mut client,
        &[&format!("PRIVMSG {to},#chan,{three},nobody :a\0b")],
    );
    let own = own();
    assert_eq!(
        out,
        vec![
            send(to, MessageKind::Text, "ab"),
            // A group's channel: the hub knows whether it is one.
            Action::Request(FrontendRequest::GroupSend {
                channel: "#chan".into(),
                kind: MessageKind::Text,
                text: "ab".into()
            }),
            send(three, MessageKind::Text, "ab"),
            Action::Send(format!(
                ":disims 401 {own} nobody :no contact has this petname, and it is not a DiSIMS nick: expected 52 z-base-32 characters, got 6"
            )),
            Action::Send(format!(
                ":disims NOTICE {own} :No such nick nobody: no contact has this petname, and it is not a DiSIMS nick: expected 52 z-base-32 characters, got 6"
            )),
        ]
    );
}

/// irssi shows only "No such nick/channel" for a 401: the reason comes in a NOTICE too.
#[test]
fn a_mistyped_nick_gets_the_reason_in_a_notice_beside_the_401() {
    let mut client = registered();
    let own = own();
    // A key nick with an `l` typed for a `1` (z-base-32 has no `l`).
    let typo: String = peer(2)
        .nick()
        .replacen(|c: char| c.is_ascii_lowercase(), "l", 1);
    let out = sent(&mut client, &[&format!("PRIVMSG {typo} :hi")]);
    let reason = "not a DiSIMS nick: 'l' is not a z-base-32 character \
                  (a DiSIMS nick is 52 z-base-32 characters: the peer's key)";
    assert_eq!(
        out,
        vec![
            format!(":disims 401 {own} {typo} :{reason}"),
            format!(":disims NOTICE {own} :No such nick {typo}: {reason}"),
        ]
    );
    // WHOIS keeps its exact reply (401 with the reason, then 318); a NOTICE to it gets
    // nothing (never a reply to a NOTICE).
    let out = sent(&mut client, &[&format!("WHOIS {typo}")]);
    assert_eq!(out[0], format!(":disims 401 {own} {typo} :{reason}"));
    assert_eq!(code(&out[1]), "318");
    assert!(sent(&mut client, &[&format!("NOTICE {typo} :hi")]).is_empty());
}

#[test]
fn a_510_byte_privmsg_line_arrives_whole() {
    let mut client = registered();
    let to = peer(2);
    let prefix = format!("PRIVMSG {to} :");
    let text: String = "ä".repeat((510 - prefix.len()) / 2)
        + if (510 - prefix.len()) % 2 == 1 {
            "x"
        } else {
            ""
        };
    let line = format!("{prefix}{text}");
    assert_eq!(line.len(), 510);
    let mut framer = super::codec::LineFramer::new();
    framer.push(format!("{line}\r\n").as_bytes());
    let framed = framer.next_line().unwrap();
    assert_eq!(
        client.handle_line(framed, 0),
        vec![send(to, MessageKind::Text, &text)]
    );
}

#[test]
fn message_errors_and_notice_silence() {
    let mut client = registered();
    let own = own();
    assert_eq!(
        sent(
            &mut client,
            &[
                "PRIVMSG",
                "PRIVMSG x",
                "PRIVMSG x :",
                "PRIVMSG :",
                "PRIVMSG &c :hi"
            ]
        ),
        vec![
            format!(":disims 411 {own} :No recipient given (PRIVMSG)"),
            format!(":disims 412 {own} :No text to send"),
            format!(":disims 412 {own} :No text to send"),
            format!(":disims 411 {own} :No recipient given (PRIVMSG)"),
            format!(
                ":disims 403 {own} &c :No such channel: groups are #name (/join #name makes one), the control channel is &disims"
            ),
        ]
    );
    let out = sent(
        &mut client,
        &["PRIVMSG lllllllllllllllllllllllllllllllllllllllllllllllllll2 :x"],
    );
    assert!(
        out[0].contains(" 401 ") && out[0].contains("52 z-base-32"),
        "{}",
        out[0]
    );
    assert!(
        feed(
            &mut client,
            &["NOTICE", "NOTICE x", "NOTICE nobody :x", "NOTICE &c :x"]
        )
        .is_empty()
    );
    let many: Vec<String> = (2..8).map(|s| peer(s).nick()).collect();
    let out = feed(&mut client, &[&format!("PRIVMSG {} :x", many.join(","))]);
    assert_eq!(
        out.iter()
            .filter(|a| matches!(a, Action::Request(_)))
            .count(),
        4
    );
    assert!(matches!(out.last(), Some(Action::Send(l)) if code(l) == "407"));
}

#[test]
fn ctcp_action_is_sent_and_other_ctcp_is_not() {
    let mut client = registered();
    let to = peer(2);
    let out = feed(
        &mut client,
        &[&format!("PRIVMSG {to} :\x01ACTION waves ✓\x01")],
    );
    assert_eq!(out, vec![send(to, MessageKind::Action, "waves ✓")]);
    for ctcp in ["\x01VERSION\x01", "\x01TIME\x01", "\x01PING 123\x01"] {
        let out = feed(&mut client, &[&format!("PRIVMSG {to} :{ctcp}")]);
        assert_eq!(out.len(), 1, "{ctcp:?}");
        let Action::Send(line) = &out[0] else {
            panic!("{out:?}")
        };
        assert!(
            line.starts_with(&format!(":disims NOTICE {} :CTCP ", own())),
            "{line}"
        );
        assert!(
            line.contains("not sent") && !line.contains('\x01'),
            "{line}"
        );
    }
    assert!(
        feed(
            &mut client,
            &[&format!("NOTICE {to} :\x01VERSION irssi\x01")]
        )
        .is_empty()
    );
}

#[test]
fn mode_whois_join_ping_quit_and_unknown() {
    let mut client = registered();
    let own = own();
    let other = peer(2);
    // User mode i is the one there is: set, confirmed once, reported, unset; others get 501.
    assert_eq!(
        sent(&mut client, &[&format!("MODE {own}")]),
        vec![format!(":disims 221 {own} +")]
    );
    assert_eq!(
        sent(&mut client, &[&format!("MODE {own} +i")]),
        vec![format!(":{own}!me@disims MODE {own} :+i")]
    );
    assert!(sent(&mut client, &[&format!("MODE {own} +i")]).is_empty());
    assert_eq!(
        sent(&mut client, &[&format!("MODE {own}")]),
        vec![format!(":disims 221 {own} +i")]
    );
    let replies = sent(&mut client, &[&format!("MODE {own} -i+x")]);
    assert_eq!(replies[0], format!(":{own}!me@disims MODE {own} :-i"));
    assert_eq!(code(&replies[1]), "501");
    assert_eq!(
        code(&sent(&mut client, &[&format!("MODE {other}")])[0]),
        "502"
    );
    assert_eq!(code(&sent(&mut client, &["MODE #x +n"])[0]), "403");
    assert_eq!(code(&sent(&mut client, &["MODE"])[0]), "461");
    // A peer's WHOIS is the hub's to answer (whois.rs tests the rendering).
    assert_eq!(
        feed(&mut client, &[&format!("WHOIS {other}")]),
        vec![Action::Request(FrontendRequest::PeerInfo { peer: other })]
    );
    let out = sent(&mut client, &["WHOIS nobody"]);
    assert_eq!(
        out.iter().map(|l| code(l)).collect::<Vec<_>>(),
        ["401", "318"]
    );
    assert_eq!(code(&sent(&mut client, &["WHOIS"])[0]), "461");
    assert_eq!(
        sent(&mut client, &["JOIN &x"]),
        vec![format!(
            ":disims 403 {own} &x :No such channel: groups are #name (/join #name makes one), the control channel is &disims"
        )]
    );
    assert!(sent(&mut client, &["JOIN :"]).is_empty());
    assert_eq!(code(&sent(&mut client, &["JOIN"])[0]), "461");
    assert_eq!(
        sent(&mut client, &["PING"]),
        vec![format!(":disims 461 {own} PING :Not enough parameters")]
    );
    assert_eq!(
        sent(&mut client, &["frob x"]),
        vec![format!(":disims 421 {own} frob :Unknown command")]
    );
    assert_eq!(
        sent(&mut client, &["@a=b :pre FROB #x"]),
        vec![format!(":disims 421 {own} FROB :Unknown command")]
    );
    assert_eq!(code(&sent(&mut client, &["001 x"])[0]), "421");
    assert!(sent(&mut client, &[":onlyprefix", "@tags", " "]).is_empty());
    assert_eq!(
        client.handle_line(Line::TooLong, 0),
        vec![Action::Send(format!(
            ":disims 417 {own} :Input line was too long"
        ))]
    );
    assert_eq!(
        feed(&mut client, &["QUIT :bye"]),
        vec![Action::Send("ERROR :Closing link".into()), Action::Close]
    );
    assert!(feed(&mut client, &["PING x"]).is_empty());
    assert!(
        client
            .handle_event(&message(MessageKind::Text, "late", 0))
            .is_empty()
    );
}
