//! Groups' refusals as numerics, and peers' text that must not break a line.

use super::groups::{T, group, in_rust, rust_view};
use super::*;
use crate::group::{Change, Refusal, Topic};
use crate::message::{GroupAction, GroupRefusal};

#[test]
fn refusals_are_numerics_to_the_asker() {
    let own = own();
    let mut client = in_rust(&[]);
    let refused = |action: Option<GroupAction>, reason: GroupRefusal| FrontendEvent::GroupRefused {
        channel: "#rust".into(),
        action,
        reason,
    };
    let invite = Some(GroupAction::Invite { peer: peer(2) });
    let kick = Some(GroupAction::Kick {
        peer: peer(3),
        reason: String::new(),
    });
    let cases = [
        (
            refused(None, GroupRefusal::NoSuchChannel),
            "403 {own} #rust",
        ),
        (
            refused(None, GroupRefusal::BadName("a space".into())),
            "479 {own} #rust",
        ),
        (refused(None, GroupRefusal::NotOnChannel), "442 {own} #rust"),
        (refused(None, GroupRefusal::InviteOnly), "473 {own} #rust"),
        (
            refused(kick.clone(), GroupRefusal::Refused(Refusal::NotOperator)),
            "482 {own} #rust",
        ),
        (
            refused(kick.clone(), GroupRefusal::Refused(Refusal::NotSenior)),
            "482 {own} #rust",
        ),
        (
            refused(None, GroupRefusal::Refused(Refusal::Unseen)),
            "482 {own} #rust",
        ),
        (
            refused(
                invite.clone(),
                GroupRefusal::Refused(Refusal::AlreadyMember),
            ),
            "443 {own} alice #rust",
        ),
        (
            refused(
                invite.clone(),
                GroupRefusal::Refused(Refusal::AlreadyInvited),
            ),
            "443 {own} alice #rust",
        ),
        (
            refused(kick.clone(), GroupRefusal::Refused(Refusal::NoSuchMember)),
            "441 {own} {bob} #rust",
        ),
        (
            refused(
                Some(GroupAction::Deop { peer: peer(2) }),
                GroupRefusal::Refused(Refusal::NotAnOperator),
            ),
            "441 {own} alice #rust",
        ),
        (
            refused(None, GroupRefusal::Refused(Refusal::Moderated)),
            "404 {own} #rust",
        ),
        (
            refused(invite.clone(), GroupRefusal::Refused(Refusal::GroupFull)),
            "471 {own} #rust",
        ),
        (
            refused(None, GroupRefusal::Refused(Refusal::AlreadyOperator)),
            "NOTICE {own} :#rust: not done: its target is already an operator",
        ),
        (
            refused(None, GroupRefusal::Refused(Refusal::AlreadyMember)),
            "NOTICE {own} :#rust: not done: its target is already a member",
        ),
        (
            refused(None, GroupRefusal::Failed("disk\r\nfull".into())),
            "NOTICE {own} :#rust: not done: diskfull",
        ),
    ];
    let bob = peer(3).nick();
    for (event, expected) in cases {
        let out = shown(&mut client, event);
        let expected = expected.replace("{own}", &own).replace("{bob}", &bob);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(
            out[0].starts_with(&format!(":disims {expected}")),
            "{} does not start with {expected}",
            out[0]
        );
    }
}

#[test]
fn no_peer_text_can_break_a_line() {
    let mut client = in_rust(&["server-time", "invite-notify"]);
    let evil = "x\r\nQUIT :y\0\x01VERSION\x01";
    let mut view = rust_view();
    view.topic = Some(Topic {
        text: evil.into(),
        by: peer(2),
        at_ms: T,
    });
    let changes = vec![
        Change::Parted {
            peer: peer(3),
            reason: evil.into(),
        },
        Change::Kicked {
            peer: peer(3),
            by: peer(2),
            reason: evil.into(),
        },
        Change::Topic {
            topic: view.topic.clone(),
        },
    ];
    let mut out = shown(&mut client, group(view, changes));
    out.extend(sent(&mut client, &["TOPIC #rust", "LIST"]));
    out.extend(shown(
        &mut client,
        FrontendEvent::GroupRefused {
            channel: "#rust".into(),
            action: None,
            reason: GroupRefusal::BadName(evil.into()),
        },
    ));
    assert!(out.len() >= 6, "{out:?}");
    for line in out {
        assert!(!line.contains(['\r', '\n', '\0', '\x01']), "{line:?}");
        assert!(line.parse::<irc_proto::Message>().is_ok(), "{line}");
    }
}
