//! Messages to the client with tags: msgid and time on received messages, echo-message for
//! the client that sent, self-messages for the others, and playback in chathistory batches.

use super::*;

const ID_HEX: &str = "07070707070707070707070707070707";

fn sent_event(to: PeerId, kind: MessageKind, text: &str, origin: u64) -> FrontendEvent {
    FrontendEvent::Sent {
        to,
        origin,
        message: ChatMessage {
            id: MessageId([7; 16]),
            kind,
            text: text.into(),
            sent_at_ms: 1_700_000_000_123,
        },
    }
}

fn played_back(seed: u8, text: &str) -> FrontendEvent {
    FrontendEvent::Received {
        from: peer(seed),
        played_back: true,
        stored: None,
        message: ChatMessage {
            id: MessageId([7; 16]),
            kind: MessageKind::Text,
            text: text.into(),
            sent_at_ms: 1_700_000_000_123,
        },
    }
}

#[test]
fn received_messages_carry_msgid_and_time_as_negotiated() {
    let own = own();
    let from = peer(2);
    let event = message(MessageKind::Text, "hi", 1_700_000_000_123);
    let mut tags = with_caps(&["message-tags", "server-time"]);
    assert_eq!(
        shown(&mut tags, event.clone()),
        vec![format!(
            "@time=2023-11-14T22:13:20.123Z;msgid={ID_HEX} :{from}!peer@disims PRIVMSG {own} :hi"
        )]
    );
    let mut msgid_only = with_caps(&["message-tags"]);
    assert_eq!(
        shown(&mut msgid_only, event.clone()),
        vec![format!(
            "@msgid={ID_HEX} :{from}!peer@disims PRIVMSG {own} :hi"
        )]
    );
    // Under a petname once the book has one.
    shown(
        &mut tags,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    let out = shown(&mut tags, event);
    assert!(
        out[0].ends_with(&format!(" :alice!peer@disims PRIVMSG {own} :hi")),
        "{out:?}"
    );
}

#[test]
fn echo_message_echoes_own_sends_and_self_message_shows_the_others() {
    let own = own();
    let to = peer(2);
    let mine = sent_event(to, MessageKind::Text, "hello", 5);
    let other = sent_event(to, MessageKind::Action, "waves", 6);

    // echo-message with tags: own messages come back, with msgid and time.
    let mut echo = with_caps(&["echo-message", "message-tags", "server-time"]);
    echo.set_frontend_id(5);
    assert_eq!(
        shown(&mut echo, mine.clone()),
        vec![format!(
            "@time=2023-11-14T22:13:20.123Z;msgid={ID_HEX} :{own}!me@disims PRIVMSG {to} :hello"
        )]
    );
    // echo-message alone also shows other clients' messages (it can show them).
    assert_eq!(
        shown(&mut echo, other.clone()),
        vec![format!(
            "@time=2023-11-14T22:13:20.123Z;msgid={ID_HEX} :{own}!me@disims PRIVMSG {to} :\x01ACTION waves\x01"
        )]
    );

    // self-message without echo-message: only the other clients' messages.
    let mut znc = with_caps(&["znc.in/self-message"]);
    znc.set_frontend_id(5);
    assert!(shown(&mut znc, mine.clone()).is_empty());
    assert_eq!(
        shown(&mut znc, other.clone()),
        vec![format!(
            ":{own}!me@disims PRIVMSG {to} :\x01ACTION waves\x01"
        )]
    );
    // Targets show under the petname.
    shown(
        &mut znc,
        FrontendEvent::Contacts(book(&[(2, Some("alice"))])),
    );
    let notice = sent_event(to, MessageKind::Notice, "n", 6);
    assert_eq!(
        shown(&mut znc, notice),
        vec![format!(":{own}!me@disims NOTICE alice :n")]
    );

    // Neither: nothing, as ZNC does.
    let mut plain = registered();
    plain.set_frontend_id(5);
    assert!(shown(&mut plain, mine).is_empty());
    assert!(shown(&mut plain, other).is_empty());
}

#[test]
fn playback_is_batched_per_peer_for_batch_clients() {
    let own = own();
    let (p2, p3) = (peer(2), peer(3));
    let mut client = with_caps(&["batch", "server-time"]);
    shown(
        &mut client,
        FrontendEvent::Contacts(book(&[(3, Some("bob"))])),
    );
    let mut out = Vec::new();
    for event in [
        FrontendEvent::PlaybackStart,
        played_back(2, "a"),
        played_back(2, "b"),
        played_back(3, "c"),
        played_back(2, "d"),
        FrontendEvent::PlaybackEnd,
        message(MessageKind::Text, "live", 1_700_000_000_123),
    ] {
        out.extend(shown(&mut client, event));
    }
    let time = "time=2023-11-14T22:13:20.123Z";
    assert_eq!(
        out,
        vec![
            format!(":disims BATCH +pb1 chathistory {p2}"),
            format!("@batch=pb1;{time} :{p2}!peer@disims PRIVMSG {own} :a"),
            format!("@batch=pb1;{time} :{p2}!peer@disims PRIVMSG {own} :b"),
            ":disims BATCH -pb1".to_string(),
            ":disims BATCH +pb2 chathistory bob".to_string(),
            format!("@batch=pb2;{time} :bob!peer@disims PRIVMSG {own} :c"),
            ":disims BATCH -pb2".to_string(),
            format!(":disims BATCH +pb3 chathistory {p2}"),
            format!("@batch=pb3;{time} :{p2}!peer@disims PRIVMSG {own} :d"),
            ":disims BATCH -pb3".to_string(),
            format!("@{time} :{p2}!peer@disims PRIVMSG {own} :live"),
        ]
    );
    let _ = p3;
    // An empty playback opens no batch.
    let mut out = shown(&mut client, FrontendEvent::PlaybackStart);
    out.extend(shown(&mut client, FrontendEvent::PlaybackEnd));
    assert!(out.is_empty());
}

#[test]
fn playback_without_batch_is_as_before() {
    let own = own();
    let p2 = peer(2);
    let mut client = registered();
    let mut out = Vec::new();
    for event in [
        FrontendEvent::PlaybackStart,
        played_back(2, "a"),
        FrontendEvent::PlaybackEnd,
    ] {
        out.extend(shown(&mut client, event));
    }
    assert_eq!(
        out,
        vec![format!(
            ":{p2}!peer@disims PRIVMSG {own} :[2023-11-14 22:13 UTC] a"
        )]
    );
    // batch without server-time: batched, with the time in the text.
    let mut client = with_caps(&["batch"]);
    let mut out = Vec::new();
    for event in [
        FrontendEvent::PlaybackStart,
        played_back(2, "a"),
        FrontendEvent::PlaybackEnd,
    ] {
        out.extend(shown(&mut client, event));
    }
    assert_eq!(
        out[1],
        format!("@batch=pb1 :{p2}!peer@disims PRIVMSG {own} :[2023-11-14 22:13 UTC] a")
    );
}

#[test]
fn peer_ctcp_requests_never_reach_the_client_as_ctcp() {
    // A peer's VERSION request would make the user's client answer it (revealing the
    // client and its version): the delimiters are stripped, so it shows as text.
    let mut client = with_caps(&["message-tags"]);
    for text in [
        "\x01VERSION\x01",
        "\x01TIME\x01",
        "\x01PING 1\x01",
        "\x01CLIENTINFO",
    ] {
        let out = shown(&mut client, message(MessageKind::Text, text, 0));
        assert!(!out[0].contains('\x01'), "{out:?}");
        let out = shown(&mut client, message(MessageKind::Notice, text, 0));
        assert!(!out[0].contains('\x01'), "{out:?}");
    }
}
