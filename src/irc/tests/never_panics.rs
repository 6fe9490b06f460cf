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
                "(@[a-z=;]* )?(:[a-z!@]* )?(CAP|PASS|NICK|USER|PRIVMSG|NOTICE|MODE|WHOIS|JOIN|PART|NAMES|TOPIC|WHO|MONITOR|ISON|USERHOST|AWAY|TIME|TAGMSG|PING|QUIT|BATCH|METADATA)( [^ ]*){0,5}( :.*)?",
                "(PRIVMSG|MONITOR|WHOIS|JOIN|PART|ISON) (&disims|disims|alice|[+-CLS]|[a-z0-9,&]*)( :.*)?",
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
    let all = vec![
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
    ];
    let n = all.len();
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| !(seed as usize + i).is_multiple_of(3) || *i == usize::from(seed) % n)
        .map(|(_, e)| e)
        .collect()
}
