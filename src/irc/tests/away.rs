//! AWAY (own, 305/306 on the hub's OwnAway), peers' away (301 on PRIVMSG, away-notify).

use super::*;

#[test]
fn own_away_is_requested_and_confirmed_by_the_hub() {
    let own = own();
    let mut client = registered();
    let long = "x".repeat(300);
    assert_eq!(
        requests(&feed(
            &mut client,
            &[
                "AWAY :gone fishing",
                "AWAY",
                "AWAY :",
                &format!("AWAY :{long}")
            ]
        )),
        vec![
            FrontendRequest::SetAway {
                reason: Some("gone fishing".into())
            },
            FrontendRequest::SetAway { reason: None },
            FrontendRequest::SetAway { reason: None },
            FrontendRequest::SetAway {
                reason: Some("x".repeat(200))
            },
        ]
    );
    assert_eq!(
        shown(
            &mut client,
            FrontendEvent::OwnAway {
                reason: Some("gone".into())
            }
        ),
        vec![format!(
            ":disims 306 {own} :You have been marked as being away"
        )]
    );
    assert_eq!(
        shown(&mut client, FrontendEvent::OwnAway { reason: None }),
        vec![format!(
            ":disims 305 {own} :You are no longer marked as being away"
        )]
    );
}

#[test]
fn an_away_peer_answers_privmsg_with_301_and_away_notify_shows_changes() {
    let own = own();
    let alice = peer(2);
    let mut client = with_caps(&["away-notify"]);
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    let away = |reason: Option<&str>| FrontendEvent::PeerAway {
        peer: alice,
        reason: reason.map(str::to_string),
    };
    assert_eq!(
        shown(&mut client, away(Some("lunch"))),
        vec![":alice!peer@disims AWAY :lunch".to_string()]
    );
    assert!(shown(&mut client, away(Some("lunch"))).is_empty());
    let out = feed(&mut client, &["PRIVMSG alice :hi", "NOTICE alice :n"]);
    assert_eq!(
        out,
        vec![
            send(alice, MessageKind::Text, "hi"),
            Action::Send(format!(":disims 301 {own} alice :lunch")),
            send(alice, MessageKind::Notice, "n"),
        ]
    );
    assert_eq!(
        shown(&mut client, away(None)),
        vec![":alice!peer@disims AWAY".to_string()]
    );
    assert_eq!(feed(&mut client, &["PRIVMSG alice :hi"]).len(), 1);
    // A peer that is not a contact: remembered (301) but not announced.
    let stranger = FrontendEvent::PeerAway {
        peer: peer(3),
        reason: Some("afk".into()),
    };
    assert!(shown(&mut client, stranger).is_empty());
    let out = sent(&mut client, &[&format!("PRIVMSG {} :x", peer(3))]);
    assert_eq!(out, vec![format!(":disims 301 {own} {} :afk", peer(3))]);
    // Without away-notify: nothing shown.
    let mut plain = registered();
    shown(
        &mut plain,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    assert!(shown(&mut plain, away(Some("x"))).is_empty());
}

#[test]
fn time_answers_391() {
    let own = own();
    let mut client = registered();
    let out = texts(client.handle_line(Line::Text("TIME".into()), 1_700_000_000_123));
    assert_eq!(
        out,
        vec![format!(":disims 391 {own} disims :2023-11-14 22:13:20 UTC")]
    );
}

#[test]
fn a_peer_away_reason_that_cleaning_empties_still_reads_as_away() {
    let mut client = with_caps(&["away-notify"]);
    let bob = peer(7);
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(7, Some("bob"))])),
    );
    let lines = shown(
        &mut client,
        FrontendEvent::PeerAway {
            peer: bob,
            reason: Some("\u{1}".into()),
        },
    );
    assert_eq!(lines, vec![":bob!peer@disims AWAY :away".to_string()]);
}
