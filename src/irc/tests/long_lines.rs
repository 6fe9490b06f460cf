//! Long messages: a peer may send up to `MAX_TEXT` bytes, but a client accepts lines of at
//! most 512 bytes (tags apart). Such a message is shown as several lines, split at UTF-8
//! boundaries (at a space near the limit when there is one), actions staying actions, each
//! line with its time and a msgid of its own; put together, the parts give the text back.

use proptest::prelude::*;

use super::*;
use crate::irc::render::{CTCP, clean_body};
use crate::peer::wire::MAX_TEXT;

/// A line without its tags section.
fn untagged(line: &str) -> &str {
    match line.strip_prefix('@') {
        Some(tagged) => tagged.split_once(' ').map_or("", |(_, rest)| rest),
        None => line,
    }
}

/// The value of tag `key` of a line.
fn tag<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let tags = line.strip_prefix('@')?.split_once(' ')?.0;
    tags.split(';')
        .find_map(|t| t.strip_prefix(key)?.strip_prefix('='))
}

/// The chat text a line carries: its trailing parameter, without an action's CTCP framing.
fn text_of(line: &str) -> &str {
    let trailing = untagged(line).split_once(" :").map_or("", |(_, t)| t);
    match trailing.strip_prefix("\x01ACTION ") {
        Some(action) => action.strip_suffix(CTCP).unwrap_or(action),
        None => trailing,
    }
}

fn received(kind: MessageKind, text: &str, played_back: bool) -> FrontendEvent {
    FrontendEvent::Received {
        from: peer(2),
        message: ChatMessage {
            id: MessageId([7; 16]),
            kind,
            text: text.into(),
            sent_at_ms: 1_700_000_000_123,
        },
        played_back,
        stored: Some(1),
    }
}

/// Checks what every line of a split message must be; returns the parts' texts.
fn check_lines(lines: &[String], kind: MessageKind) -> Vec<String> {
    assert!(!lines.is_empty());
    for line in lines {
        let bare = untagged(line);
        assert!(bare.len() + 2 <= 512, "{} bytes: {line}", bare.len() + 2);
        assert!(!bare.contains(['\r', '\n', '\0']));
        // Parses with an independent IRC parser (CR LF added, as written to the socket).
        let parsed: irc_proto::Message = format!("{line}\r\n").parse().expect("parses");
        let trailing = bare.split_once(" :").map_or("", |(_, t)| t);
        let is_action = trailing.starts_with("\x01ACTION ") && trailing.ends_with(CTCP);
        assert_eq!(is_action, kind == MessageKind::Action, "{parsed:?}");
    }
    lines.iter().map(|l| text_of(l).to_string()).collect()
}

#[test]
fn an_8_kib_message_is_shown_as_lines_within_512_bytes_that_give_the_text_back() {
    let mut client = with_caps(&["server-time", "message-tags"]);
    let words: String = (0..2000).map(|i| format!("w{i} ")).collect();
    let text = &words[..MAX_TEXT];
    let lines = shown(&mut client, received(MessageKind::Text, text, false));
    assert!(lines.len() >= 17, "{} lines", lines.len());
    let parts = check_lines(&lines, MessageKind::Text);
    assert_eq!(parts.concat(), text);
    // Split at spaces: every part but the last ends a word.
    assert!(parts[..parts.len() - 1].iter().all(|p| p.ends_with(' ')));
    // Every line has the message's time, and an id of its own; the first is the message's.
    assert!(
        lines
            .iter()
            .all(|l| tag(l, "time") == Some("2023-11-14T22:13:20.123Z"))
    );
    let ids: Vec<_> = lines.iter().map(|l| tag(l, "msgid").unwrap()).collect();
    assert_eq!(ids[0], "07".repeat(16));
    assert_eq!(ids[1], format!("{}-2", "07".repeat(16)));
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
}

#[test]
fn a_long_action_stays_an_action_and_text_without_spaces_splits_between_characters() {
    let mut client = registered();
    // Two-, three- and four-byte characters, no space anywhere.
    let text: String = "é€😀".repeat(MAX_TEXT / 9);
    let lines = shown(&mut client, received(MessageKind::Action, &text, false));
    assert!(lines.len() > 1);
    let parts = check_lines(&lines, MessageKind::Action);
    assert!(lines.iter().all(|l| l.contains(" :\x01ACTION ")));
    assert_eq!(parts.concat(), text);
    let lines = shown(&mut client, received(MessageKind::Notice, &text, false));
    assert!(lines.iter().all(|l| l.contains(" NOTICE ")));
    assert_eq!(check_lines(&lines, MessageKind::Notice).concat(), text);
}

#[test]
fn a_long_message_played_back_without_server_time_is_dated_on_every_line() {
    let mut client = registered();
    let text = "x".repeat(2000);
    let lines = shown(&mut client, received(MessageKind::Text, &text, true));
    let parts = check_lines(&lines, MessageKind::Text);
    let lead = "[2023-11-14 22:13 UTC] ";
    assert!(parts.iter().all(|p| p.starts_with(lead)), "{parts:?}");
    let joined: String = parts.iter().map(|p| &p[lead.len()..]).collect();
    assert_eq!(joined, text);
}

#[test]
fn a_short_message_is_one_line_as_before() {
    let mut client = registered();
    let lines = shown(&mut client, received(MessageKind::Text, "hi there", false));
    assert_eq!(
        lines,
        [format!(
            ":{}!peer@disims PRIVMSG {} :hi there",
            peer(2).nick(),
            own()
        )]
    );
    let lines = shown(&mut client, received(MessageKind::Text, "", false));
    assert_eq!(lines.len(), 1);
}

/// Text that is mostly what people type, with spaces, multi-byte characters and the
/// characters a line must not carry.
fn any_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        2 => Just(' '),
        2 => any::<char>(),
        1 => prop_oneof![Just('\r'), Just('\n'), Just('\0'), Just(CTCP), Just('é')],
    ];
    proptest::collection::vec(c, 0..MAX_TEXT).prop_map(|chars| {
        let mut text: String = chars.into_iter().collect();
        let mut end = text.len().min(MAX_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text
    })
}

fn any_kind() -> impl Strategy<Value = MessageKind> {
    prop_oneof![
        Just(MessageKind::Text),
        Just(MessageKind::Notice),
        Just(MessageKind::Action)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_line_fits_and_the_parts_give_the_text_back(
        text in any_text(),
        kind in any_kind(),
        played_back in any::<bool>(),
        tagged in any::<bool>(),
    ) {
        let mut client = match tagged {
            true => with_caps(&["server-time", "message-tags", "batch"]),
            false => registered(),
        };
        client.handle_event(&FrontendEvent::PlaybackStart);
        let lines = shown(&mut client, received(kind, &text, played_back));
        let lines: Vec<_> = lines.into_iter().filter(|l| !l.contains(" BATCH ")).collect();
        let parts = check_lines(&lines, kind);
        let lead = if played_back && !tagged { "[2023-11-14 22:13 UTC] " } else { "" };
        let mut joined = String::new();
        for part in &parts {
            prop_assert!(part.starts_with(lead));
            joined.push_str(&part[lead.len()..]);
        }
        prop_assert_eq!(joined, clean_body(&text));
    }
}
