//! IRC front end: arbitrary bytes through the line framer (in arbitrary chunks) into the
//! client state machine, with hub events carrying arbitrary text before and after.
//!
//! Checks: nothing panics; no `Action::Send` line contains CR, LF or NUL (IRC injection);
//! a peer's text never carries a CTCP delimiter of its own; requests to the hub carry text
//! free of CR, LF and NUL (the hub's contract).
#![no_main]

use std::sync::Arc;

use disims::irc::{Action, Client, ClientSettings, Line, LineFramer};
use disims::message::{
    ChatMessage, ControlTarget, FrontendEvent, FrontendRequest, MessageId, MessageKind,
};
use disims_fuzz::{EVENT_SEPARATOR, EVENTS_MARKER, other_peer, own_peer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [flags, chunk_seed, rest @ ..] = data else {
        return;
    };
    let (irc, events) = match rest
        .windows(EVENTS_MARKER.len())
        .position(|w| w == EVENTS_MARKER)
    {
        Some(i) => (&rest[..i], &rest[i + EVENTS_MARKER.len()..]),
        None => (rest, &[][..]),
    };
    let events: Vec<FrontendEvent> = if events.is_empty() {
        Vec::new()
    } else {
        events.split(|&b| b == EVENT_SEPARATOR).map(event).collect()
    };

    let settings = ClientSettings {
        own: own_peer(),
        password: (flags & 1 == 1).then(|| "pw".to_string()),
        server_name: "disims".into(),
        version: "0".into(),
    };
    let mut client = Client::new(Arc::new(settings));

    // Events before registration are not rendered (the conn task attaches a client to the
    // hub only once it is registered); they must not panic either.
    for e in &events {
        check(&client.handle_event(e), Some(e));
    }

    let mut framer = LineFramer::new();
    let mut rng = u32::from(*chunk_seed) | 0x100;
    let mut input = irc;
    while !input.is_empty() {
        // xorshift: chunk sizes from 1 to 1024 bytes, reproducible from one input byte.
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        let n = (rng as usize % 1024 + 1).min(input.len());
        let (chunk, next) = input.split_at(n);
        input = next;
        framer.push(chunk);
        assert!(framer.buffered() <= disims::irc::codec::MAX_BUFFERED);
        while let Some(line) = framer.next_line() {
            if let Line::Text(t) = &line {
                assert!(!t.is_empty() && !t.contains('\n'), "framer line {t:?}");
            }
            check(&client.handle_line(line, 1_700_000_000_000), None);
        }
    }

    for e in &events {
        check(&client.handle_event(e), Some(e));
    }
    check(&client.registration_timeout(), None);
});

/// One hub event from fuzz bytes: `selector, text`.
fn event(bytes: &[u8]) -> FrontendEvent {
    let (selector, text) = bytes.split_first().map_or((0, &[][..]), |(s, t)| (*s, t));
    let text = String::from_utf8_lossy(text).into_owned();
    let kind = [MessageKind::Text, MessageKind::Notice, MessageKind::Action][selector as usize % 3];
    match selector / 3 % 6 {
        0 => FrontendEvent::Received {
            played_back: selector & 1 == 1,
            from: other_peer(),
            message: ChatMessage {
                id: MessageId([selector; 16]),
                kind,
                text,
                // Spread over the whole u64 range: server-time formatting must cope.
                sent_at_ms: u64::from(selector).wrapping_mul(0x0123_4567_89ab_cdef),
            },
        },
        1 => FrontendEvent::PeerNotice {
            peer: other_peer(),
            text,
        },
        // A peer chooses its away reason: it is shown in AWAY lines and 301 replies.
        2 => FrontendEvent::PeerAway {
            peer: other_peer(),
            reason: Some(text),
        },
        3 => FrontendEvent::ControlReply {
            lines: vec![text],
            target: if selector & 1 == 1 {
                ControlTarget::Channel
            } else {
                ControlTarget::Query
            },
        },
        4 => FrontendEvent::ControlAnnounce { text },
        _ => FrontendEvent::ServerNotice { text },
    }
}

fn check(actions: &[Action], event: Option<&FrontendEvent>) {
    for action in actions {
        match action {
            Action::Send(line) => {
                assert!(
                    !line.contains(['\r', '\n', '\0']),
                    "IRC injection: {line:?}"
                );
                if let Some(e) = event {
                    check_ctcp(line, e);
                }
            }
            Action::Request(
                FrontendRequest::Send { text, .. } | FrontendRequest::Control { line: text, .. },
            ) => {
                assert!(
                    !text.contains(['\r', '\n', '\0']),
                    "hub text with a line break: {text:?}"
                );
            }
            Action::Request(FrontendRequest::SetAway { reason }) => {
                assert!(
                    !reason.as_ref().is_some_and(|r| r.contains(['\r', '\n', '\0'])),
                    "away reason with a line break: {reason:?}"
                );
            }
            Action::Request(_) => {}
            Action::Close => {}
        }
    }
}

/// A peer's text is shown without CTCP delimiters: only an action gets the pair that frames it.
fn check_ctcp(line: &str, event: &FrontendEvent) {
    let expected = match event {
        FrontendEvent::Received { message, .. } if message.kind == MessageKind::Action => 2,
        _ => 0,
    };
    assert_eq!(
        line.matches('\x01').count(),
        expected,
        "CTCP delimiters from a peer: {line:?}"
    );
}
