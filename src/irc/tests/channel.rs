//! The control channel `&disims`: the JOIN burst on the first contact book, diffs of later
//! books (JOIN, PART, NICK), voice on presence, control lines and replies, and the channel
//! commands (PART, JOIN, NAMES, TOPIC, WHO, MODE).

use super::*;
use crate::message::{ControlTarget, Presence};

const TOPIC: &str = crate::irc::channel::TOPIC;

fn joined_with(contacts: &[(u8, Option<&str>)]) -> Client {
    let mut client = registered();
    let out = shown(&mut client, FrontendEvent::Contacts(book(contacts)));
    assert!(out[0].ends_with(" JOIN &disims"), "{out:?}");
    client
}

#[test]
fn the_first_contact_book_joins_the_client_to_the_control_channel() {
    let own = own();
    let mut client = registered();
    // Nothing before the book: the NAMES list would be incomplete.
    let out = shown(
        &mut client,
        FrontendEvent::ServerNotice { text: "hi".into() },
    );
    assert_eq!(out.len(), 1);
    let bob = peer(3).nick();
    let out = shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice")), (3, None)])),
    );
    assert_eq!(
        out,
        vec![
            format!(":{own}!me@disims JOIN &disims"),
            format!(":disims 332 {own} &disims :{TOPIC}"),
            format!(":disims 353 {own} = &disims :@disims {own} {bob} alice"),
            format!(":disims 366 {own} &disims :End of /NAMES list"),
        ]
    );
    // Presence voices contacts, by the service; only changes are shown.
    let out = shown(
        &mut client,
        FrontendEvent::Presence {
            peer: peer(2),
            presence: Presence::Online,
        },
    );
    assert_eq!(
        out,
        vec![":disims!service@disims MODE &disims +v alice".to_string()]
    );
    let voice = format!(":disims!service@disims MODE &disims +v {bob}");
    let devoice = format!(":disims!service@disims MODE &disims -v {bob}");
    for (presence, expected) in [
        (Presence::Offline, None),
        (Presence::Online, Some(&voice)),
        (Presence::Online, None),
        (Presence::Offline, Some(&devoice)),
        (Presence::Offline, None),
    ] {
        let out = shown(
            &mut client,
            FrontendEvent::Presence {
                peer: peer(3),
                presence,
            },
        );
        assert_eq!(out, expected.into_iter().cloned().collect::<Vec<_>>());
    }
    // A peer that is not a contact changes nothing in the channel.
    assert!(
        shown(
            &mut client,
            FrontendEvent::Presence {
                peer: peer(9),
                presence: Presence::Online,
            }
        )
        .is_empty()
    );
    // NAMES shows voices.
    let out = sent(&mut client, &["NAMES &disims"]);
    assert_eq!(
        out[0],
        format!(":disims 353 {own} = &disims :@disims {own} {bob} +alice")
    );
}

#[test]
fn later_books_are_diffed_into_join_part_and_nick() {
    let own = own();
    let mut client = joined_with(&[(2, Some("alice")), (3, None), (4, Some("carol"))]);
    shown(
        &mut client,
        FrontendEvent::Presence {
            peer: peer(5),
            presence: Presence::Online,
        },
    );
    let (k3, k4, k5) = (peer(3).nick(), peer(4).nick(), peer(5).nick());
    // alice renamed to ally, 3 gets a petname, carol removed, 5 added (online), 6 added.
    let out = shown(
        &mut client,
        FrontendEvent::Contacts(book(&[
            (2, Some("ally")),
            (3, Some("bob")),
            (5, None),
            (6, Some("dave")),
        ])),
    );
    let k6 = peer(6).nick();
    assert_eq!(
        out,
        vec![
            ":carol!peer@disims PART &disims :removed from contacts".to_string(),
            format!(":carol!peer@disims NICK :{k4}"),
            ":alice!peer@disims NICK :ally".to_string(),
            format!(":{k3}!peer@disims NICK :bob"),
            format!(":{k6}!peer@disims NICK :dave"),
            ":dave!peer@disims JOIN &disims".to_string(),
            format!(":{k5}!peer@disims JOIN &disims"),
            format!(":disims!service@disims MODE &disims +v {k5}"),
        ]
    );
    // Messages now come from the petname; both names reach the peer.
    let out = shown(&mut client, message(MessageKind::Text, "hi", 0));
    assert_eq!(out, vec![format!(":ally!peer@disims PRIVMSG {own} :hi")]);
    let to = peer(2);
    let out = feed(
        &mut client,
        &["PRIVMSG ALLY :a", &format!("PRIVMSG {} :b", to.nick())],
    );
    assert_eq!(
        out,
        vec![
            send(to, MessageKind::Text, "a"),
            send(to, MessageKind::Text, "b")
        ]
    );
    // The old petname is free again: not a nick any more.
    assert_eq!(code(&sent(&mut client, &["PRIVMSG alice :x"])[0]), "401");
}

#[test]
fn part_join_and_the_channel_commands() {
    let own = own();
    let mut client = joined_with(&[(2, Some("alice"))]);
    assert_eq!(
        sent(&mut client, &["TOPIC &disims"]),
        vec![format!(":disims 332 {own} &disims :{TOPIC}")]
    );
    assert_eq!(code(&sent(&mut client, &["TOPIC &disims :new"])[0]), "482");
    assert_eq!(code(&sent(&mut client, &["TOPIC #x"])[0]), "403");
    assert_eq!(
        sent(
            &mut client,
            &[
                "MODE &disims",
                "MODE &disims b",
                "MODE &disims +b",
                "MODE &disims +o x"
            ]
        ),
        vec![
            format!(":disims 324 {own} &disims +nt"),
            format!(":disims 368 {own} &disims :End of channel ban list"),
            format!(":disims 368 {own} &disims :End of channel ban list"),
            format!(
                ":disims 482 {own} &disims :You're not channel operator: the service sets the modes here"
            ),
        ]
    );
    let who = sent(&mut client, &["WHO &disims"]);
    assert_eq!(
        who,
        vec![
            format!(
                ":disims 352 {own} &disims service disims disims disims H@ :0 DiSIMS service: type help"
            ),
            format!(":disims 352 {own} &disims me disims disims {own} H :0 you"),
            format!(":disims 352 {own} &disims peer disims disims alice H :0 DiSIMS contact"),
            format!(":disims 315 {own} &disims :End of /WHO list"),
        ]
    );
    let who = sent(&mut client, &["WHO alice", "WHO nobody"]);
    assert_eq!(code(&who[0]), "352");
    assert_eq!(
        who[1..],
        [
            format!(":disims 315 {own} alice :End of /WHO list"),
            format!(":disims 315 {own} nobody :End of /WHO list"),
        ]
    );
    assert_eq!(
        sent(&mut client, &["NAMES #x"]),
        vec![format!(":disims 366 {own} #x :End of /NAMES list")]
    );
    // PART, then the service answers in the query; PRIVMSG to the channel is refused.
    assert_eq!(
        sent(&mut client, &["PART &disims :bye"]),
        vec![format!(":{own}!me@disims PART &disims :bye")]
    );
    assert_eq!(code(&sent(&mut client, &["PART &disims"])[0]), "442");
    assert_eq!(code(&sent(&mut client, &["PART &x"])[0]), "403");
    let out = sent(&mut client, &["PRIVMSG &disims :help"]);
    assert_eq!(code(&out[0]), "404");
    let out = shown(
        &mut client,
        FrontendEvent::ControlAnnounce {
            text: "new sender".into(),
        },
    );
    assert_eq!(
        out,
        vec![format!(":disims!service@disims PRIVMSG {own} :new sender")]
    );
    // A later book changes nicks but joins nobody while the user is out.
    let out = shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("al"))])),
    );
    assert_eq!(out, vec![":alice!peer@disims NICK :al".to_string()]);
    // JOIN again: the burst; twice is once; other channels do not exist.
    let out = sent(&mut client, &["JOIN &disims,&x", "JOIN &DISIMS"]);
    assert_eq!(out[0], format!(":{own}!me@disims JOIN &disims"));
    assert_eq!(code(&out[3]), "366");
    assert_eq!(code(&out[4]), "403");
    assert_eq!(out.len(), 5);
    assert_eq!(
        sent(&mut client, &["JOIN 0"]),
        vec![format!(":{own}!me@disims PART &disims")]
    );
}

#[test]
fn a_user_who_parted_before_the_first_book_is_not_joined_by_it() {
    let mut client = registered();
    assert_eq!(code(&sent(&mut client, &["PART &disims"])[0]), "442");
    assert!(shown(&mut client, FrontendEvent::Contacts(book(&[(2, None)]))).is_empty());
    // A JOIN before the first book: the book's contacts JOIN when it comes.
    let mut client = registered();
    let out = sent(&mut client, &["JOIN &disims"]);
    assert_eq!(out.len(), 4);
    let out = shown(&mut client, FrontendEvent::Contacts(book(&[(2, None)])));
    assert_eq!(out, vec![format!(":{}!peer@disims JOIN &disims", peer(2))]);
}

#[test]
fn control_lines_go_to_the_service_and_replies_come_back() {
    let own = own();
    let mut client = joined_with(&[]);
    let control = |line: &str, reply| {
        Action::Request(FrontendRequest::Control {
            line: line.into(),
            reply,
        })
    };
    assert_eq!(
        feed(
            &mut client,
            &[
                "PRIVMSG &disims :help",
                "PRIVMSG &DiSIMS :disims: add x y",
                "PRIVMSG &disims :disims, status",
                "PRIVMSG disims :id",
                "PRIVMSG DISIMS :contacts",
            ]
        ),
        vec![
            control("help", ControlTarget::Channel),
            control("add x y", ControlTarget::Channel),
            control("status", ControlTarget::Channel),
            control("id", ControlTarget::Query),
            control("contacts", ControlTarget::Query),
        ]
    );
    // Notices to the service are never answered; /me in the channel is not a command.
    assert!(feed(&mut client, &["NOTICE &disims :x", "NOTICE disims :x"]).is_empty());
    assert_eq!(
        code(&sent(&mut client, &["PRIVMSG &disims :\x01ACTION waves\x01"])[0]),
        "404"
    );
    let out = shown(
        &mut client,
        FrontendEvent::ControlReply {
            lines: vec!["one".into(), "".into(), "t\r\nwo\x01".into()],
            target: ControlTarget::Channel,
        },
    );
    assert_eq!(
        out,
        vec![
            ":disims!service@disims PRIVMSG &disims :one".to_string(),
            ":disims!service@disims PRIVMSG &disims : ".to_string(),
            ":disims!service@disims PRIVMSG &disims :two".to_string(),
        ]
    );
    let out = shown(
        &mut client,
        FrontendEvent::ControlReply {
            lines: vec!["your id".into()],
            target: ControlTarget::Query,
        },
    );
    assert_eq!(
        out,
        vec![format!(":disims!service@disims PRIVMSG {own} :your id")]
    );
    let out = shown(
        &mut client,
        FrontendEvent::ControlAnnounce {
            text: "hello".into(),
        },
    );
    assert_eq!(
        out,
        vec![":disims!service@disims PRIVMSG &disims :hello".to_string()]
    );
}

#[test]
fn echoed_control_lines_carry_time_and_a_msgid_of_their_own() {
    let mut client = with_caps(&["echo-message", "message-tags", "server-time"]);
    shown(&mut client, FrontendEvent::Contacts(book(&[])));
    let own = own();
    let echoes: Vec<String> = ["PRIVMSG &disims :help", "PRIVMSG disims :id"]
        .iter()
        .flat_map(|l| client.handle_line(Line::Text(l.to_string()), 1_700_000_000_000))
        .filter_map(|a| match a {
            Action::Send(line) => Some(line),
            _ => None,
        })
        .collect();
    let time = "time=2023-11-14T22:13:20.000Z";
    assert_eq!(
        echoes,
        [
            format!("@{time};msgid=c18bcfe56800-0-1 :{own}!me@disims PRIVMSG &disims :help"),
            format!("@{time};msgid=c18bcfe56800-0-2 :{own}!me@disims PRIVMSG disims :id"),
        ]
    );
}

#[test]
fn control_lines_are_echoed_to_echo_message_clients() {
    let mut client = with_caps(&["echo-message"]);
    shown(&mut client, FrontendEvent::Contacts(book(&[])));
    let own = own();
    let out = feed(
        &mut client,
        &["PRIVMSG &disims :disims: help", "PRIVMSG disims :id"],
    );
    assert_eq!(
        out,
        vec![
            Action::Send(format!(":{own}!me@disims PRIVMSG &disims :disims: help")),
            Action::Request(FrontendRequest::Control {
                line: "help".into(),
                reply: ControlTarget::Channel
            }),
            Action::Send(format!(":{own}!me@disims PRIVMSG disims :id")),
            Action::Request(FrontendRequest::Control {
                line: "id".into(),
                reply: ControlTarget::Query
            }),
        ]
    );
}

#[test]
fn a_long_names_list_is_split_over_several_lines() {
    let contacts: Vec<(u8, Option<&str>)> = (2..60).map(|s| (s, None)).collect();
    let mut client = registered();
    let out = shown(&mut client, FrontendEvent::Contacts(book(&contacts)));
    let names: Vec<&String> = out.iter().filter(|l| code(l) == "353").collect();
    assert!(names.len() > 1);
    let total: usize = names
        .iter()
        .map(|l| l.rsplit_once(" :").unwrap().1.split(' ').count())
        .sum();
    assert_eq!(total, 2 + 58);
    assert!(out.iter().all(|l| l.len() <= 510), "{out:?}");
}

#[test]
fn a_ban_with_a_mask_is_refused_and_an_action_to_the_service_is_not_a_command() {
    let mut client = registered();
    shown(&mut client, FrontendEvent::Contacts(book(&[])));
    let out = sent(&mut client, &["MODE &disims +b *!*@*", "MODE &disims b"]);
    assert_eq!(code(&out[0]), "482", "{out:?}");
    assert_eq!(code(&out[1]), "368", "{out:?}");
    let actions = feed(&mut client, &["PRIVMSG disims :\u{1}ACTION help\u{1}"]);
    assert!(requests(&actions).is_empty(), "{actions:?}");
    let out = texts(actions);
    assert_eq!(code(&out[0]), "404", "{out:?}");
    // A message that is nothing but what the gateway strips is no message.
    let out = sent(&mut client, &[&format!("PRIVMSG {} :\0\0", peer(3).nick())]);
    assert_eq!(code(&out[0]), "412", "{out:?}");
}

#[test]
fn list_shows_the_control_channel_and_whowas_knows_no_history() {
    let mut client = registered();
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(4, Some("dora"))])),
    );
    let out = sent(&mut client, &["LIST"]);
    assert_eq!(code(&out[0]), "322", "{out:?}");
    // The service, the user and one contact.
    assert!(out[0].contains(" &disims 3 :"), "{out:?}");
    assert_eq!(code(&out[1]), "323", "{out:?}");
    let out = sent(&mut client, &["WHOWAS dora"]);
    assert_eq!(
        out.iter().map(|l| code(l)).collect::<Vec<_>>(),
        ["406", "369"],
        "{out:?}"
    );
}

#[test]
fn a_contact_added_while_away_is_announced_away_after_its_join() {
    let mut client = with_caps(&["away-notify"]);
    let bob = peer(7);
    shown(&mut client, FrontendEvent::Contacts(book(&[])));
    shown(
        &mut client,
        FrontendEvent::PeerAway {
            peer: bob,
            reason: Some("lunch".into()),
        },
    );
    let out = shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(7, Some("bob"))])),
    );
    let join = out.iter().position(|l| l.contains(" JOIN ")).expect("join");
    assert_eq!(out[join + 1], ":bob!peer@disims AWAY :lunch", "{out:?}");
}

/// With userhost-in-names, NAMES gives each member as nick!user@host (prefix first).
#[test]
fn userhost_in_names_gives_full_prefixes_in_names() {
    let own = own();
    let mut client = with_caps(&["userhost-in-names", "multi-prefix"]);
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    assert_eq!(
        sent(&mut client, &["NAMES &disims"]),
        vec![
            format!(
                ":disims 353 {own} = &disims :@disims!service@disims {own}!me@disims alice!peer@disims"
            ),
            format!(":disims 366 {own} &disims :End of /NAMES list"),
        ]
    );
}
