//! CAP negotiation: LS 302, LIST, REQ all-or-nothing (with `-cap`), CAP after registration.

use super::*;

#[test]
fn every_advertised_capability_can_be_requested_and_listed() {
    let mut client = Client::new(settings(None));
    let all = crate::irc::caps::SUPPORTED_CAPS.join(" ");
    let out = sent(
        &mut client,
        &["CAP LS 302", &format!("CAP REQ :{all}"), "CAP LIST"],
    );
    assert_eq!(
        out,
        vec![
            format!(":disims CAP * LS :{all}"),
            format!(":disims CAP * ACK :{all}"),
            format!(":disims CAP * LIST :{all}"),
        ]
    );
    // All or nothing: one unknown capability and nothing changes.
    let out = sent(
        &mut client,
        &[
            "CAP REQ :-batch sasl",
            "CAP LIST",
            "CAP REQ :-batch -echo-message",
            "CAP LIST",
        ],
    );
    assert_eq!(
        out,
        vec![
            ":disims CAP * NAK :-batch sasl".to_string(),
            format!(":disims CAP * LIST :{all}"),
            ":disims CAP * ACK :-batch -echo-message".to_string(),
            ":disims CAP * LIST :away-notify cap-notify invite-notify message-tags multi-prefix server-time userhost-in-names znc.in/self-message"
                .to_string(),
        ]
    );
    assert_eq!(
        code(&sent(&mut client, &["NICK a", "USER a 0 * :a", "CAP END"])[0]),
        "001"
    );
    // After registration CAP still works, addressed to the key nick.
    let own = own();
    assert_eq!(
        sent(&mut client, &["CAP REQ batch", "CAP END"]),
        vec![format!(":disims CAP {own} ACK :batch")]
    );
    assert!(client.caps.batch);
}

#[test]
fn cap_ls_without_302_and_an_empty_req() {
    let mut client = Client::new(settings(None));
    let out = sent(&mut client, &["CAP LS", "CAP REQ :", "CAP REQ"]);
    assert_eq!(
        out[0],
        format!(
            ":disims CAP * LS :{}",
            crate::irc::caps::SUPPORTED_CAPS.join(" ")
        )
    );
    assert_eq!(out[1], ":disims CAP * NAK :");
    assert_eq!(out[2], ":disims CAP * NAK :");
    assert!(!client.caps.version_302);
}

#[test]
fn tagmsg_from_a_message_tags_client_is_accepted_silently() {
    let mut client = with_caps(&["message-tags"]);
    let nick = peer(2).nick();
    assert!(feed(&mut client, &[&format!("@+typing=active TAGMSG {nick}")]).is_empty());
    // Client tags on a PRIVMSG are ignored, the message is sent.
    let out = feed(
        &mut client,
        &[&format!("@+draft/reply=abc PRIVMSG {nick} :hi")],
    );
    assert_eq!(out, vec![send(peer(2), MessageKind::Text, "hi")]);
}

/// The hub copies sent messages only to front ends whose client shows them: the client says
/// so when it registers, and again when a CAP REQ changes it.
#[test]
fn the_client_tells_the_hub_whether_it_shows_echoes() {
    let echoes = |actions: Vec<Action>| -> Vec<bool> {
        actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Request(FrontendRequest::Echoes(wanted)) => Some(wanted),
                _ => None,
            })
            .collect()
    };
    let mut plain = Client::new(settings(None));
    assert_eq!(
        echoes(feed(&mut plain, &["NICK a", "USER a 0 * :a"])),
        [false]
    );
    let mut client = Client::new(settings(None));
    let out = feed(
        &mut client,
        &[
            "CAP LS 302",
            "NICK a",
            "USER a 0 * :a",
            "CAP REQ :echo-message",
            "CAP END",
        ],
    );
    assert_eq!(echoes(out), [true]);
    // Changes after registration are told; requests that change nothing are not.
    assert_eq!(
        echoes(feed(&mut client, &["CAP REQ :znc.in/self-message"])),
        Vec::<bool>::new()
    );
    assert_eq!(
        echoes(feed(&mut client, &["CAP REQ :-echo-message"])),
        Vec::<bool>::new()
    );
    assert_eq!(
        echoes(feed(&mut client, &["CAP REQ :-znc.in/self-message"])),
        [false]
    );
    assert_eq!(
        echoes(feed(&mut client, &["CAP REQ :echo-message"])),
        [true]
    );
}
