//! LIST and WHO masks, the server queries (LUSERS, VERSION, INFO, ADMIN, HELP), OPER and
//! KICK, and the limit on a client's tag data.

use super::*;

fn codes(lines: &[String]) -> Vec<&str> {
    lines.iter().map(|l| code(l)).collect()
}

#[test]
fn list_honours_its_masks() {
    let own = own();
    let mut client = registered();
    shown(&mut client, FrontendEvent::Contacts(book(&[(2, None)])));
    let listed = vec![
        format!(
            ":disims 322 {own} &disims 3 :{}",
            crate::irc::channel::TOPIC
        ),
        format!(":disims 323 {own} :End of /LIST"),
    ];
    let end = vec![format!(":disims 323 {own} :End of /LIST")];
    for line in [
        "LIST",
        "LIST &disims",
        "LIST *",
        "LIST &DIS*",
        "LIST #x,&d?sims",
    ] {
        assert_eq!(sent(&mut client, &[line]), listed, "{line}");
    }
    for line in ["LIST #chat", "LIST #*", "LIST &disims2", "LIST ?"] {
        assert_eq!(sent(&mut client, &[line]), end, "{line}");
    }
}

#[test]
fn who_star_lists_the_users_this_client_can_see() {
    let own = own();
    let mut client = registered();
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice")), (3, Some("bob"))])),
    );
    let out = sent(&mut client, &["WHO *"]);
    assert_eq!(codes(&out), ["352", "352", "352", "352", "315"]);
    assert_eq!(
        out[2],
        format!(":disims 352 {own} &disims peer disims disims alice H :0 DiSIMS contact")
    );
    assert_eq!(out[4], format!(":disims 315 {own} * :End of /WHO list"));
    // A mask matches nicks; `0` is everyone, as `*` is.
    let out = sent(&mut client, &["WHO a*"]);
    assert_eq!(codes(&out), ["352", "315"]);
    assert!(out[0].contains(" alice H "), "{}", out[0]);
    assert_eq!(codes(&sent(&mut client, &["WHO 0"])).len(), 5);
    assert_eq!(codes(&sent(&mut client, &["WHO"])).len(), 5);
    assert_eq!(codes(&sent(&mut client, &["WHO x?z"])), ["315"]);
    // Out of the channel, the channel field is `*`.
    sent(&mut client, &["PART &disims"]);
    let out = sent(&mut client, &["WHO b*"]);
    assert!(out[0].contains(" 352 ") && out[0].contains(" * peer disims disims bob "));
}

#[test]
fn server_queries_get_their_numerics_not_421() {
    let own = own();
    let mut client = registered();
    shown(&mut client, FrontendEvent::Contacts(book(&[(2, None)])));
    assert_eq!(
        sent(&mut client, &["LUSERS"]),
        vec![
            format!(":disims 251 {own} :There are 3 users and 0 invisible on 1 servers"),
            format!(":disims 254 {own} 1 :channels formed"),
            format!(":disims 255 {own} :I have 3 clients and 0 servers"),
            format!(":disims 265 {own} 3 3 :Current local users 3, max 3"),
            format!(":disims 266 {own} 3 3 :Current global users 3, max 3"),
        ]
    );
    sent(&mut client, &[&format!("MODE {own} +i")]);
    let out = sent(&mut client, &["LUSERS"]);
    assert!(out[0].ends_with(":There are 2 users and 1 invisible on 1 servers"));
    let out = sent(&mut client, &["VERSION"]);
    assert!(
        out[0].starts_with(&format!(":disims 351 {own} 0.1.0 disims :")),
        "{}",
        out[0]
    );
    assert_eq!(codes(&out)[1..], ["005", "005"]);
    let out = sent(&mut client, &["INFO"]);
    assert!(codes(&out).iter().rev().skip(1).all(|c| *c == "371"));
    assert_eq!(codes(&out).last(), Some(&"374"));
    assert_eq!(
        codes(&sent(&mut client, &["ADMIN"])),
        ["256", "257", "258", "259"]
    );
    for line in ["HELP", "HELP privmsg", "HELP *"] {
        let out = sent(&mut client, &[line]);
        let c = codes(&out);
        assert_eq!(c.first(), Some(&"704"), "{line}");
        assert_eq!(c.last(), Some(&"706"), "{line}");
        assert!(
            out.iter().any(|l| l.contains("/msg disims help")),
            "{out:?}"
        );
    }
    assert_eq!(
        sent(&mut client, &["HELP frobnicate"]),
        vec![format!(
            ":disims 524 {own} FROBNICATE :No help available on this topic: /msg disims help"
        )]
    );
    assert_eq!(codes(&sent(&mut client, &["OPER admin secret"])), ["491"]);
    assert_eq!(codes(&sent(&mut client, &["OPER admin"])), ["461"]);
    assert_eq!(
        codes(&sent(&mut client, &[&format!("KICK &disims {}", peer(2))])),
        ["482"]
    );
    assert_eq!(codes(&sent(&mut client, &["KICK #x y"])), ["403"]);
    assert_eq!(codes(&sent(&mut client, &["KICK &disims"])), ["461"]);
    sent(&mut client, &["PART &disims"]);
    assert_eq!(codes(&sent(&mut client, &["KICK &disims y"])), ["442"]);
    // Still 421 for what nobody answers.
    assert_eq!(codes(&sent(&mut client, &["FROBNICATE"])), ["421"]);
}

#[test]
fn client_only_tags_are_refused_in_005_and_long_tag_data_gets_417() {
    let mut client = Client::new(settings(None));
    let out = sent(&mut client, &["NICK a", "USER a 0 * :a"]);
    assert!(
        out.iter()
            .any(|l| code(l) == "005" && l.contains(" CLIENTTAGDENY=* ")),
        "{out:?}"
    );
    let own = own();
    // 4094 bytes of tag data pass; 4095 are refused whole.
    let to = peer(2);
    let ok = format!("@+a={} PRIVMSG {to} :hi", "x".repeat(4094 - 3));
    assert_eq!(
        feed(&mut client, &[&ok]),
        vec![send(to, MessageKind::Text, "hi")]
    );
    let long = format!("@+a={} PRIVMSG {to} :hi", "x".repeat(4095 - 3));
    assert_eq!(
        feed(&mut client, &[&long]),
        vec![Action::Send(format!(
            ":disims 417 {own} :Input line was too long: tag data over 4094 bytes"
        ))]
    );
    // TAGMSG carries nothing the peers could take: no reply, no request.
    assert!(feed(&mut client, &[&format!("@+typing=active TAGMSG {to}")]).is_empty());
}
