//! Registration: CAP negotiation as irssi sends it, NICK/USER in either order, PASS, what
//! is refused before and after registration, and the registration timeout.

use super::*;

#[test]
fn irssi_registration_gets_cap_replies_then_a_welcome_to_the_key_nick() {
    let mut client = Client::new(settings(None));
    let own = own();
    let out = sent(
        &mut client,
        &[
            "CAP LS 302",
            "JOIN :",
            "NICK tester",
            "USER tester tester 127.0.0.1 :Tester",
        ],
    );
    assert_eq!(
        out,
        vec![
            ":disims CAP * LS :away-notify batch cap-notify echo-message invite-notify message-tags multi-prefix server-time userhost-in-names znc.in/self-message"
        ]
    );
    assert!(
        !client.is_registered(),
        "CAP LS holds registration until CAP END"
    );
    let out = sent(&mut client, &["CAP REQ :server-time"]);
    assert_eq!(out, vec![":disims CAP tester ACK :server-time"]);
    let out = sent(&mut client, &["CAP END"]);
    assert!(client.is_registered());
    let codes: Vec<&str> = out.iter().map(|l| code(l)).collect();
    assert_eq!(codes[..6], ["001", "002", "003", "004", "005", "005"]);
    assert_eq!(codes[6], "375");
    assert!(codes[7..codes.len() - 1].iter().all(|c| *c == "372"));
    assert_eq!(codes.last(), Some(&"376"));
    for line in &out {
        assert!(
            line.starts_with(&format!(":disims {} {own} ", code(line))),
            "{line}"
        );
    }
    assert_eq!(
        out[0],
        format!(":disims 001 {own} :Welcome to DiSIMS, {own}")
    );
    assert!(out[4].contains(" CASEMAPPING=ascii CHANTYPES=#& NICKLEN=52 NETWORK=DiSIMS "));
    assert!(out[4].ends_with(" :are supported by this server"));
    assert!(out[4].contains(" AWAYLEN=200 ") && out[4].contains(" MONITOR=100 "));
    assert!(out[5].contains(" CHANMODES=,,,imnt ") && out[5].contains(" PREFIX=(ov)@+ "));
    let motd = out.join("\n");
    assert!(motd.contains(&own) && motd.contains("/msg <friend's nick> hello"));
    assert!(motd.contains("is their key"));
}

/// An empty user name or real name gets 461 and does not count (irctest's testEmptyRealname).
#[test]
fn user_with_an_empty_user_name_or_real_name_gets_461() {
    let mut client = Client::new(settings(None));
    for line in ["USER a 0 * :", "USER :"] {
        let out = sent(&mut client, &[line]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(code(&out[0]), "461", "{line}");
    }
    assert!(
        sent(&mut client, &["NICK x"]).is_empty(),
        "not registered yet"
    );
    assert_eq!(code(&sent(&mut client, &["USER a 0 * :A"])[0]), "001");
}

#[test]
fn registration_without_cap_and_in_either_order() {
    let mut client = Client::new(settings(None));
    assert!(sent(&mut client, &["USER a b c d"]).is_empty());
    let out = sent(&mut client, &["NICK x"]);
    assert_eq!(code(&out[0]), "001");
    assert_eq!(code(out.last().unwrap()), "376");
}

#[test]
fn password_missing_wrong_and_right() {
    for (lines, ok) in [
        (vec!["NICK a", "USER a 0 * :a"], false),
        (vec!["PASS wrong", "NICK a", "USER a 0 * :a"], false),
        (vec!["PASS sesame!", "NICK a", "USER a 0 * :a"], false),
        (vec!["PASS :open sesame", "NICK a", "USER a 0 * :a"], true),
    ] {
        let mut client = Client::new(settings(Some("open sesame")));
        let out = feed(&mut client, &lines);
        assert_eq!(client.is_registered(), ok, "{lines:?}");
        if ok {
            assert_eq!(code(&texts(out)[0]), "001");
        } else {
            assert_eq!(
                out[0],
                Action::Send(":disims 464 a :Password incorrect".into())
            );
            assert!(matches!(&out[1], Action::Send(l) if l.starts_with("ERROR :")));
            assert_eq!(out[2], Action::Close);
            assert_eq!(out.len(), 3);
            assert!(
                feed(&mut client, &["PING x"]).is_empty(),
                "closed: nothing more"
            );
        }
    }
}

#[test]
fn commands_before_registration_get_451_and_the_allowed_ones_work() {
    let mut client = Client::new(settings(None));
    for line in [
        "PRIVMSG x :hi",
        "MODE x",
        "WHOIS x",
        "JOIN #a",
        "FOO",
        "MOTD",
    ] {
        let out = sent(&mut client, &[line]);
        assert_eq!(
            out,
            vec![":disims 451 * :You have not registered"],
            "{line}"
        );
    }
    assert_eq!(
        sent(&mut client, &["PING :tok en"]),
        vec![":disims PONG disims :tok en"]
    );
    assert!(sent(&mut client, &["PONG x", "JOIN :"]).is_empty());
    let out = sent(
        &mut client,
        &["NICK :bad nick", "NICK", "NICK #x", "NICK -x", "USER a b c"],
    );
    let codes: Vec<&str> = out.iter().map(|l| code(l)).collect();
    assert_eq!(codes, ["432", "431", "432", "432", "461"]);
    assert!(!client.is_registered());
}

#[test]
fn registration_errors_after_registration() {
    let mut client = registered();
    let own = own();
    assert_eq!(
        sent(&mut client, &["PASS x"]),
        vec![format!(":disims 462 {own} :You may not reregister")]
    );
    assert_eq!(code(&sent(&mut client, &["USER a b c d"])[0]), "462");
    assert_eq!(code(&sent(&mut client, &["PASS"])[0]), "461");
    let out = sent(&mut client, &["NICK other"]);
    assert!(out[0].starts_with(&format!(":disims 432 {own} other :")) && out[0].contains("key"));
    assert!(
        sent(
            &mut client,
            &[
                &format!("NICK {own}"),
                &format!("NICK {}", own.to_uppercase())
            ]
        )
        .is_empty()
    );
    assert_eq!(code(&sent(&mut client, &["NICK"])[0]), "431");
    assert!(sent(&mut client, &["CAP END"]).is_empty());
}

#[test]
fn cap_negotiation_details() {
    let mut client = Client::new(settings(None));
    let out = sent(
        &mut client,
        &[
            "CAP REQ :server-time sasl",
            "CAP LIST",
            "CAP FOO",
            "CAP",
            "CAP ACK :x",
        ],
    );
    assert_eq!(
        out,
        vec![
            ":disims CAP * NAK :server-time sasl",
            ":disims CAP * LIST :",
            ":disims 410 * FOO :Invalid CAP command",
            ":disims 461 * CAP :Not enough parameters",
            ":disims 410 * ACK :Invalid CAP command",
        ]
    );
    let out = sent(
        &mut client,
        &[
            "CAP REQ :server-time",
            "CAP LIST",
            "CAP REQ -server-time",
            "CAP LIST",
        ],
    );
    assert_eq!(
        out,
        vec![
            ":disims CAP * ACK :server-time",
            ":disims CAP * LIST :server-time",
            ":disims CAP * ACK :-server-time",
            ":disims CAP * LIST :",
        ]
    );
    assert!(
        sent(&mut client, &["NICK n", "USER u 0 * :r"]).is_empty(),
        "REQ held registration too"
    );
    assert_eq!(code(&sent(&mut client, &["CAP END"])[0]), "001");
}

#[test]
fn registration_timeout_closes_only_unregistered_clients() {
    let mut client = Client::new(settings(None));
    let out = client.registration_timeout();
    assert!(matches!(&out[0], Action::Send(l) if l.starts_with("ERROR :")));
    assert_eq!(out[1], Action::Close);
    assert!(registered().registration_timeout().is_empty());
}
