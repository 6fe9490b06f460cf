//! Rendering tests: what the user's client is shown for events from the hub, with and
//! without server-time, and that peer text can never inject lines or CTCP.

use super::*;
use crate::irc::client::{Action, Client};
use crate::message::{FrontendEvent, MessageKind};

#[test]
fn rendering_with_and_without_server_time() {
    let own = own();
    let from = peer(2);
    let mut plain = registered();
    let cases = [
        (
            MessageKind::Text,
            format!(":{from}!peer@disims PRIVMSG {own} :hi there"),
        ),
        (
            MessageKind::Notice,
            format!(":{from}!peer@disims NOTICE {own} :hi there"),
        ),
        (
            MessageKind::Action,
            format!(":{from}!peer@disims PRIVMSG {own} :\x01ACTION hi there\x01"),
        ),
    ];
    for (kind, expected) in &cases {
        let out = plain.handle_event(&message(*kind, "hi there", 1_700_000_000_123));
        assert_eq!(out, vec![Action::Send(expected.clone())]);
    }
    let mut timed = Client::new(settings(None));
    sent(
        &mut timed,
        &[
            "CAP LS 302",
            "NICK a",
            "USER a 0 * :a",
            "CAP REQ :server-time",
            "CAP END",
        ],
    );
    let out = timed.handle_event(&message(MessageKind::Text, "hi there", 1_700_000_000_123));
    assert_eq!(
        out,
        vec![Action::Send(format!(
            "@time=2023-11-14T22:13:20.123Z {}",
            cases[0].1
        ))]
    );
    let out = plain.handle_event(&FrontendEvent::PeerNotice {
        peer: from,
        text: "not delivered".into(),
    });
    assert_eq!(
        out,
        vec![Action::Send(format!(
            ":{from}!peer@disims NOTICE {own} :not delivered"
        ))]
    );
    let out = plain.handle_event(&FrontendEvent::ServerNotice {
        text: "DHT ok".into(),
    });
    assert_eq!(
        out,
        vec![Action::Send(format!(":disims NOTICE {own} :DHT ok"))]
    );
}

#[test]
fn injection_attempts_in_peer_text_are_neutralised() {
    let mut client = registered();
    let own = own();
    let evil = "a\r\nPRIVMSG victim :b\rc\nd\0e\x01VERSION\x01f";
    for event in [
        message(MessageKind::Text, evil, 0),
        message(MessageKind::Action, evil, 0),
        FrontendEvent::PeerNotice {
            peer: peer(2),
            text: evil.into(),
        },
    ] {
        let out = texts(client.handle_event(&event));
        assert_eq!(out.len(), 1);
        let line = &out[0];
        assert!(!line.contains(['\r', '\n', '\0']), "{line:?}");
        assert!(line.contains("aPRIVMSG victim :bcdeVERSIONf"), "{line:?}");
        let ctcp_delimiters = line.matches('\x01').count();
        assert_eq!(
            ctcp_delimiters,
            if line.contains("ACTION") { 2 } else { 0 },
            "{line:?}"
        );
        assert!(line.contains(&format!(" {own} :")));
    }
}

#[test]
fn a_long_message_from_a_peer_is_never_truncated_but_split_into_lines_that_fit() {
    let mut client = registered();
    let text = "ü".repeat(300) + &"x".repeat(400);
    let out = texts(client.handle_event(&message(MessageKind::Text, &text, 0)));
    assert!(
        out.len() > 1 && out.iter().all(|l| l.len() + 2 <= 512),
        "{out:?}"
    );
    let parts: String = out.iter().map(|l| l.split_once(" :").unwrap().1).collect();
    assert_eq!(parts, text);
}

#[test]
fn events_before_registration_are_not_rendered() {
    // The conn task attaches only registered connections; should an event come earlier,
    // nothing reaches a client that has no nick yet.
    let mut client = Client::new(settings(None));
    assert!(
        client
            .handle_event(&message(MessageKind::Text, "early", 0))
            .is_empty()
    );
}

#[test]
fn settings_debug_hides_the_password() {
    let debug = format!("{:?}", settings(Some("hunter2")));
    assert!(!debug.contains("hunter2") && debug.contains("redacted"));
}

#[test]
fn played_back_messages_carry_their_time_without_server_time() {
    let mut event = message(MessageKind::Text, "sent earlier", 1_700_000_000_123);
    if let FrontendEvent::Received { played_back, .. } = &mut event {
        *played_back = true;
    }
    let plain = texts(registered().handle_event(&event));
    assert!(
        plain[0].ends_with(" :[2023-11-14 22:13 UTC] sent earlier"),
        "{plain:?}"
    );
    let tagged = texts(with_caps(&["server-time"]).handle_event(&event));
    assert!(
        tagged[0].starts_with("@time=2023-11-14T22:13:20.123Z "),
        "{tagged:?}"
    );
    assert!(tagged[0].ends_with(" :sent earlier"), "{tagged:?}");
    // A message shown live gets no prefix.
    let live = message(MessageKind::Text, "now", 1_700_000_000_123);
    assert!(texts(registered().handle_event(&live))[0].ends_with(" :now"));
}
