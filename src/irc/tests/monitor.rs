//! MONITOR (+ - C L S, 730-734), ISON and USERHOST.

use super::*;
use crate::irc::monitor::MONITOR_LIMIT;
use crate::message::Presence;

fn presence(client: &mut Client, seed: u8, presence: Presence) -> Vec<String> {
    shown(
        client,
        FrontendEvent::Presence {
            peer: peer(seed),
            presence,
        },
    )
}

#[test]
fn monitor_watches_reports_changes_and_forgets() {
    let own = own();
    let mut client = registered();
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    presence(&mut client, 2, Presence::Online);
    let k3 = peer(3).nick();
    let out = feed(
        &mut client,
        &[&format!("MONITOR + alice,{k3},nobody,disims")],
    );
    // alice is known online at once; 3 waits for the hub; nobody is offline; the service is on.
    assert_eq!(
        out,
        vec![
            Action::Send(format!(
                ":disims 730 {own} :alice!peer@disims,disims!service@disims"
            )),
            Action::Send(format!(":disims 731 {own} :nobody")),
            Action::Request(FrontendRequest::Watch {
                peers: vec![peer(2), peer(3)]
            }),
        ]
    );
    // The hub's answer, then only changes.
    assert_eq!(
        presence(&mut client, 3, Presence::Offline),
        vec![format!(":disims 731 {own} :{k3}")]
    );
    assert!(presence(&mut client, 3, Presence::Offline).is_empty());
    assert_eq!(
        presence(&mut client, 3, Presence::Online),
        vec![format!(":disims 730 {own} :{k3}!peer@disims")]
    );
    assert!(presence(&mut client, 2, Presence::Online).is_empty());
    assert_eq!(
        sent(&mut client, &["MONITOR L"]),
        vec![
            format!(":disims 732 {own} :alice,{k3},nobody"),
            format!(":disims 733 {own} :End of MONITOR list"),
        ]
    );
    assert_eq!(
        sent(&mut client, &["MONITOR S"]),
        vec![
            format!(":disims 730 {own} :alice!peer@disims,{k3}!peer@disims"),
            format!(":disims 731 {own} :nobody"),
        ]
    );
    // Adding again does not watch again.
    let out = feed(&mut client, &["MONITOR + ALICE"]);
    assert!(requests(&out).is_empty());
    assert_eq!(
        feed(&mut client, &["MONITOR - alice,nobody"]),
        vec![Action::Request(FrontendRequest::Unwatch {
            peers: vec![peer(2)]
        })]
    );
    assert_eq!(
        feed(&mut client, &["MONITOR C"]),
        vec![Action::Request(FrontendRequest::Unwatch {
            peers: vec![peer(3)]
        })]
    );
    assert!(feed(&mut client, &["MONITOR C"]).is_empty());
    assert!(presence(&mut client, 3, Presence::Offline).is_empty());
    assert_eq!(
        sent(&mut client, &["MONITOR L"]),
        vec![format!(":disims 733 {own} :End of MONITOR list")]
    );
    let errors = sent(&mut client, &["MONITOR", "MONITOR +", "MONITOR X"]);
    let codes: Vec<&str> = errors.iter().map(|l| code(l)).collect();
    assert_eq!(codes, ["461", "461", "421"]);
}

#[test]
fn monitor_list_full_gets_734() {
    let own = own();
    let mut client = registered();
    let nicks: Vec<String> = (0..=MONITOR_LIMIT as u8 + 1)
        .map(|s| peer(s + 10).nick())
        .collect();
    let mut watched = 0;
    for chunk in nicks.chunks(8) {
        let out = feed(&mut client, &[&format!("MONITOR + {}", chunk.join(","))]);
        for action in &out {
            match action {
                Action::Request(FrontendRequest::Watch { peers }) => watched += peers.len(),
                Action::Send(line) => {
                    assert_eq!(code(line), "734", "{line}");
                    assert!(line.starts_with(&format!(":disims 734 {own} {MONITOR_LIMIT} ")));
                    assert!(line.ends_with(":Monitor list is full."));
                }
                other => panic!("{other:?}"),
            }
        }
    }
    assert_eq!(watched, MONITOR_LIMIT);
}

#[test]
fn ison_and_userhost() {
    let own = own();
    let mut client = registered();
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice")), (3, None)])),
    );
    presence(&mut client, 2, Presence::Online);
    shown(
        &mut client,
        FrontendEvent::PeerAway {
            peer: peer(2),
            reason: Some("lunch".into()),
        },
    );
    let k3 = peer(3).nick();
    assert_eq!(
        sent(
            &mut client,
            &[&format!("ISON alice {k3} nobody disims {own}")]
        ),
        vec![format!(":disims 303 {own} :alice disims {own}")]
    );
    assert_eq!(
        sent(&mut client, &[&format!("ISON :{k3} ALICE")]),
        vec![format!(":disims 303 {own} :ALICE")]
    );
    let k9 = peer(9).nick();
    assert_eq!(
        sent(
            &mut client,
            &[&format!("USERHOST {own} alice {k3} {k9} disims nobody")]
        ),
        vec![format!(
            ":disims 302 {own} :{own}=+me@disims alice=-peer@disims {k3}=+peer@disims disims=+service@disims"
        )]
    );
    assert_eq!(code(&sent(&mut client, &["ISON"])[0]), "461");
    assert_eq!(code(&sent(&mut client, &["USERHOST"])[0]), "461");
}

#[test]
fn presence_is_reported_under_the_name_the_client_monitors() {
    let mut client = registered();
    let bob = peer(7);
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(7, Some("bob"))])),
    );
    // Monitored by its key nick: replies use the key nick, not the petname.
    sent(&mut client, &[&format!("MONITOR + {}", bob.nick())]);
    let online = shown(
        &mut client,
        FrontendEvent::Presence {
            peer: bob,
            presence: Presence::Online,
        },
    );
    assert!(
        online
            .iter()
            .any(|l| code(l) == "730" && l.contains(&bob.nick())),
        "{online:?}"
    );
    let listed = sent(&mut client, &["MONITOR L"]);
    assert!(
        listed[0].ends_with(&format!(":{}", bob.nick())),
        "{listed:?}"
    );
}

/// A name that names nobody yet is remembered: MONITOR L lists it, and once a contact gets
/// it as its petname, the peer is watched and its presence reported.
#[test]
fn a_monitored_name_nobody_has_yet_fires_once_a_contact_gets_it() {
    let own = own();
    let mut client = registered();
    shown(&mut client, FrontendEvent::Contacts(book(&[(2, None)])));
    assert_eq!(
        feed(&mut client, &["MONITOR + bob,&disims"]),
        vec![Action::Send(format!(":disims 731 {own} :bob,&disims"))]
    );
    assert_eq!(
        sent(&mut client, &["MONITOR L"]),
        vec![
            format!(":disims 732 {own} :bob"),
            format!(":disims 733 {own} :End of MONITOR list"),
        ]
    );
    // Peer 2 is online, then gets the petname bob: 730 at once, and the hub is asked to
    // watch it.
    presence(&mut client, 2, Presence::Online);
    let out = client.handle_event(&FrontendEvent::Contacts(book(&[(2, Some("bob"))])));
    let lines = texts(out.clone());
    assert!(
        lines.contains(&format!(":disims 730 {own} :bob!peer@disims")),
        "{lines:?}"
    );
    assert_eq!(
        requests(&out),
        vec![FrontendRequest::Watch {
            peers: vec![peer(2)]
        }]
    );
    // From now on its changes are reported, and MONITOR - bob forgets it.
    let lines = presence(&mut client, 2, Presence::Offline);
    assert_eq!(
        lines.last(),
        Some(&format!(":disims 731 {own} :bob")),
        "{lines:?}"
    );
    assert_eq!(
        feed(&mut client, &["MONITOR - bob"]),
        vec![Action::Request(FrontendRequest::Unwatch {
            peers: vec![peer(2)]
        })]
    );
    // A name removed before anyone had it is simply forgotten.
    feed(&mut client, &["MONITOR + carol", "MONITOR - CAROL"]);
    assert_eq!(
        sent(&mut client, &["MONITOR L"]),
        vec![format!(":disims 733 {own} :End of MONITOR list")]
    );
}
