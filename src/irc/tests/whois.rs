//! WHOIS: the user and the service at once, peers through the hub's PeerInfo (FIFO).

use super::*;
use crate::irc::whois::{MAX_PENDING_WHOIS, fingerprint};
use crate::message::PeerInfo;

#[test]
fn a_peer_whois_is_answered_from_the_hubs_peer_info() {
    let own = own();
    let alice = peer(2);
    let mut client = registered();
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    let out = feed(&mut client, &["WHOIS Alice", &format!("WHOIS {}", peer(3))]);
    assert_eq!(
        requests(&out),
        vec![
            FrontendRequest::PeerInfo { peer: alice },
            FrontendRequest::PeerInfo { peer: peer(3) },
        ]
    );
    assert!(texts(out).is_empty());
    let hex: String = alice
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let fp = fingerprint(&alice);
    let info = PeerInfo {
        peer: Some(alice),
        online: true,
        session: Some("initiator, up 5 min".into()),
        address: Some("192.0.2.7:4000".into()),
        last_seen_ms: Some(1_700_000_000_123),
        away: Some("lunch".into()),
        queued: 2,
    };
    let out = shown(&mut client, FrontendEvent::PeerInfo(Box::new(info)));
    assert_eq!(
        out,
        vec![
            format!(":disims 311 {own} alice peer disims * :DiSIMS contact"),
            format!(":disims 312 {own} alice disims :DiSIMS gateway"),
            format!(":disims 320 {own} alice :petname alice, key nick {alice}"),
            format!(":disims 320 {own} alice :key {hex}"),
            format!(":disims 276 {own} alice :has key fingerprint {fp}"),
            format!(
                ":disims 320 {own} alice :session up: initiator, up 5 min, 2 messages waiting to be delivered"
            ),
            format!(":disims 338 {own} alice 192.0.2.7:4000 :is actually connected from"),
            format!(":disims 671 {own} alice :is using an end-to-end encrypted session"),
            format!(":disims 301 {own} alice :lunch"),
            format!(":disims 318 {own} Alice :End of /WHOIS list"),
        ]
    );
    // The second one, offline, not a contact.
    let info = PeerInfo {
        peer: Some(peer(3)),
        last_seen_ms: Some(1_700_000_000_123),
        ..PeerInfo::default()
    };
    let out = shown(&mut client, FrontendEvent::PeerInfo(Box::new(info)));
    let p3 = peer(3);
    assert_eq!(
        out[0],
        format!(":disims 311 {own} {p3} peer disims * :DiSIMS peer (not a contact)")
    );
    assert_eq!(
        out[2],
        format!(":disims 320 {own} {p3} :no petname, key nick {p3}")
    );
    assert_eq!(out[5], format!(":disims 320 {own} {p3} :no session"));
    assert_eq!(
        out[6],
        format!(":disims 320 {own} {p3} :last seen 2023-11-14 22:13:20 UTC")
    );
    assert_eq!(
        out[7],
        format!(":disims 318 {own} {p3} :End of /WHOIS list")
    );
    assert_eq!(out.len(), 8);
    assert!(client.whois.is_empty());
    // An answer nobody waits for (peer: None) is dropped.
    assert!(shown(&mut client, FrontendEvent::PeerInfo(Box::default())).is_empty());
}

#[test]
fn whois_of_the_user_the_service_and_nobody_is_answered_at_once() {
    let own = own();
    let mut client = registered();
    let out = sent(&mut client, &[&format!("WHOIS {own}")]);
    let codes: Vec<&str> = out.iter().map(|l| code(l)).collect();
    assert_eq!(codes, ["311", "312", "320", "276", "318"]);
    let out = sent(&mut client, &["WHOIS disims"]);
    assert_eq!(
        out,
        vec![
            format!(
                ":disims 311 {own} disims service disims * :DiSIMS service: type help in &disims"
            ),
            format!(":disims 312 {own} disims disims :DiSIMS gateway"),
            format!(":disims 318 {own} disims :End of /WHOIS list"),
        ]
    );
    let out = sent(&mut client, &["WHOIS nobody,&disims"]);
    let codes: Vec<&str> = out.iter().map(|l| code(l)).collect();
    assert_eq!(codes, ["401", "NOTICE", "318", "401", "318"]);
    assert_eq!(
        out[2],
        format!(":disims 318 {own} nobody :End of /WHOIS list")
    );
    // `WHOIS server nick`: the nick is the last parameter.
    let out = feed(&mut client, &[&format!("WHOIS disims {}", peer(2))]);
    assert_eq!(
        requests(&out),
        vec![FrontendRequest::PeerInfo { peer: peer(2) }]
    );
}

#[test]
fn pending_whois_are_bounded() {
    let mut client = registered();
    let nick = peer(2).nick();
    for _ in 0..MAX_PENDING_WHOIS {
        assert_eq!(
            requests(&feed(&mut client, &[&format!("WHOIS {nick}")])).len(),
            1
        );
    }
    let out = sent(&mut client, &[&format!("WHOIS {nick}")]);
    assert_eq!(code(&out[0]), "263");
}

#[test]
fn whois_without_a_nick_gets_431() {
    let mut client = registered();
    for line in ["WHOIS :", "WHOIS ,"] {
        let out = sent(&mut client, &[line]);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(code(&out[0]), "431", "{out:?}");
    }
}
