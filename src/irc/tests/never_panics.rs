//! Property tests: arbitrary lines and every kind of event, with hostile text, never panic,
//! never put CR, LF or NUL inside a line, and every line sent parses as IRC with an
//! independent parser (irc-proto).

use proptest::prelude::*;

use super::*;

proptest! {
    #[test]
    fn arbitrary_lines_never_panic(
        lines in proptest::collection::vec(
            prop_oneof![
                ".*",
                "(@[a-z=;]* )?(:[a-z!@]* )?(CAP|PASS|NICK|USER|PRIVMSG|NOTICE|MODE|WHOIS|JOIN|PART|NAMES|TOPIC|WHO|MONITOR|ISON|USERHOST|AWAY|TIME|TAGMSG|PING|QUIT|BATCH|METADATA|INVITE|KICK|LIST)( [^ ]*){0,5}( :.*)?",
                "(PRIVMSG|MONITOR|WHOIS|JOIN|PART|ISON|NAMES|WHO|LIST) (&disims|disims|alice|[+-CLS]|[a-z0-9,&#]*)( :.*)?",
                "(MODE|TOPIC|KICK|INVITE|PART|PRIVMSG|NAMES|WHO) (#rust|#RUST|#go|alice|#[^ ]*)( [-+a-zA-Z]*)?( (alice|#rust|[^ ]*))*( :.*)?",
            ],
            0..12,
        ),
        register_first in any::<bool>(),
        event_seed in any::<u8>(),
    ) {
        let mut client = if register_first { registered() } else { Client::new(settings(Some("pw"))) };
        for line in lines {
            for action in client.handle_line(Line::Text(line), 0) {
                if let Action::Send(l) = action {
                    prop_assert!(!l.contains(['\r', '\n', '\0']));
                    prop_assert!(l.parse::<irc_proto::Message>().is_ok(), "{}", l);
                }
            }
            for event in arbitrary_events(event_seed) {
                for action in client.handle_event(&event) {
                    if let Action::Send(l) = action {
                        prop_assert!(!l.contains(['\r', '\n', '\0']));
                        prop_assert!(l.parse::<irc_proto::Message>().is_ok(), "{}", l);
                    }
                }
            }
        }
    }
}

/// A few events of every kind, picked by `seed`, with hostile text.
fn arbitrary_events(seed: u8) -> Vec<FrontendEvent> {
    use crate::message::{ControlTarget, PeerInfo, Presence};
    let evil = "x\r\ny\0\x01VERSION\x01 ;\\";
    let p = peer(2 + seed % 3);
    let mut all = group_events(seed, evil);
    all.extend(vec![
        message(MessageKind::Text, evil, 0),
        FrontendEvent::Contacts(book(&[(2, Some("alice")), (3 + seed % 2, None)])),
        FrontendEvent::Presence {
            peer: p,
            presence: if seed.is_multiple_of(2) {
                Presence::Online
            } else {
                Presence::Offline
            },
        },
        FrontendEvent::PeerAway {
            peer: p,
            reason: seed.is_multiple_of(3).then(|| evil.to_string()),
        },
        FrontendEvent::OwnAway { reason: None },
        FrontendEvent::PlaybackStart,
        FrontendEvent::Received {
            from: p,
            message: ChatMessage {
                id: MessageId([seed; 16]),
                kind: MessageKind::Action,
                text: evil.into(),
                sent_at_ms: u64::MAX,
            },
            played_back: true,
            stored: Some(i64::from(seed)),
        },
        FrontendEvent::PlaybackEnd,
        FrontendEvent::Sent {
            to: p,
            message: ChatMessage {
                id: MessageId([seed; 16]),
                kind: MessageKind::Notice,
                text: evil.into(),
                sent_at_ms: 0,
            },
            origin: u64::from(seed % 2),
        },
        FrontendEvent::ControlReply {
            lines: vec![evil.into(), String::new()],
            target: if seed.is_multiple_of(2) {
                ControlTarget::Channel
            } else {
                ControlTarget::Query
            },
        },
        FrontendEvent::ControlAnnounce { text: evil.into() },
        FrontendEvent::PeerInfo(Box::new(PeerInfo {
            peer: (!seed.is_multiple_of(4)).then_some(p),
            address: Some(evil.into()),
            session: Some(evil.into()),
            away: Some(evil.into()),
            online: true,
            ..PeerInfo::default()
        })),
        FrontendEvent::PeerNotice {
            peer: p,
            text: evil.into(),
        },
        FrontendEvent::ServerNotice { text: evil.into() },
    ]);
    let n = all.len();
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| !(seed as usize + i).is_multiple_of(3) || *i == usize::from(seed) % n)
        .map(|(_, e)| e)
        .collect()
}

/// Group events with hostile text: views that join, leave and invite, every change,
/// messages, echoes and refusals.
fn group_events(seed: u8, evil: &str) -> Vec<FrontendEvent> {
    use super::groups::{group, members, rust_view};
    use crate::group::{Change, Modes, Refusal, Topic};
    use crate::message::{GroupAction, GroupRefusal};
    let p = peer(2 + seed % 3);
    let mut view = rust_view();
    view.joined = !seed.is_multiple_of(4);
    view.invited_by = seed.is_multiple_of(5).then_some(p);
    view.members = members(&[
        (1, seed.is_multiple_of(2), true),
        (2, true, seed.is_multiple_of(3)),
        (3, false, true),
    ]);
    view.topic = (seed % 3 != 1).then(|| Topic {
        text: evil.into(),
        by: p,
        at_ms: u64::MAX,
    });
    view.modes = Modes::from_bits(seed % 8).unwrap_or_default();
    let changes = vec![
        Change::Invited {
            peer: peer(1 + seed % 5),
            by: p,
        },
        Change::Uninvited { peer: p },
        Change::Joined {
            peer: peer(1 + seed % 4),
        },
        Change::Parted {
            peer: peer(1 + seed % 6),
            reason: evil.into(),
        },
        Change::Kicked {
            peer: peer(1 + seed % 3),
            by: p,
            reason: evil.into(),
        },
        Change::Undone {
            peer: peer(1 + seed % 7),
        },
        Change::Opped {
            peer: p,
            by: peer(1),
        },
        Change::Deopped {
            peer: peer(1 + seed % 2),
        },
        Change::Topic {
            topic: view.topic.clone(),
        },
        Change::Modes {
            modes: view.modes,
            by: p,
        },
    ];
    let skip = usize::from(seed) % changes.len();
    let message = ChatMessage {
        id: MessageId([seed; 16]),
        kind: MessageKind::Action,
        text: evil.into(),
        sent_at_ms: u64::MAX,
    };
    vec![
        group(view.clone(), changes[skip..].to_vec()),
        FrontendEvent::GroupReceived {
            channel: view.channel.clone(),
            from: p,
            message: message.clone(),
            played_back: seed.is_multiple_of(2),
            stored: Some(1),
        },
        FrontendEvent::GroupSent {
            channel: view.channel.clone(),
            message,
            origin: u64::from(seed % 2),
        },
        FrontendEvent::GroupRefused {
            channel: evil.into(),
            action: Some(GroupAction::Kick {
                peer: p,
                reason: evil.into(),
            }),
            reason: match seed % 4 {
                0 => GroupRefusal::BadName(evil.into()),
                1 => GroupRefusal::Refused(Refusal::NoSuchMember),
                2 => GroupRefusal::Refused(Refusal::AlreadyOperator),
                _ => GroupRefusal::Failed(evil.into()),
            },
        },
        group(view, vec![]),
    ]
}
