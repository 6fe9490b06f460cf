//! Outgoing IRC lines: the one place where text becomes protocol.
//!
//! Everything that goes into a line passes through here, so that untrusted text (from peers,
//! or echoed back from the client) can never end a line early, start a new one, or trigger
//! a CTCP auto-reply in the user's client.

use std::borrow::Cow;

use crate::identity::PeerId;
use crate::message::{ChatMessage, MessageId, MessageKind};

/// User and host part of every peer's prefix: peers have no user name or host we could show.
pub const PEER_USER_HOST: &str = "peer@disims";

/// The CTCP delimiter.
pub const CTCP: char = '\x01';

/// Text with CR, LF and NUL removed: none of them may appear inside an IRC line.
pub fn strip_line_breaks(text: &str) -> Cow<'_, str> {
    strip(text, |c| matches!(c, '\r' | '\n' | '\0'))
}

/// A message body from an untrusted source: no line breaks, no NUL, and no CTCP delimiter,
/// so a peer cannot make the user's client answer a CTCP request on its own.
pub fn clean_body(text: &str) -> Cow<'_, str> {
    strip(text, |c| matches!(c, '\r' | '\n' | '\0' | CTCP))
}

fn strip(text: &str, unwanted: impl Fn(char) -> bool) -> Cow<'_, str> {
    if text.chars().any(&unwanted) {
        Cow::Owned(text.chars().filter(|&c| !unwanted(c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// A middle parameter. Echoed client input can be empty, contain spaces (when it came as a
/// trailing parameter) or start with ':'; any of those would shift the parameters after it,
/// so such a value is shown as `*`.
fn middle(param: &str) -> Cow<'_, str> {
    let param = strip_line_breaks(param);
    if param.is_empty() || param.contains(' ') || param.starts_with(':') {
        Cow::Borrowed("*")
    } else {
        param
    }
}

/// Formats one line (without CR LF): `[:prefix ]VERB middle... [:trailing]`.
pub fn line(prefix: Option<&str>, verb: &str, middles: &[&str], trailing: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(prefix) = prefix {
        out.push(':');
        out.push_str(&middle(prefix));
        out.push(' ');
    }
    out.push_str(&middle(verb));
    for param in middles {
        out.push(' ');
        out.push_str(&middle(param));
    }
    if let Some(trailing) = trailing {
        out.push_str(" :");
        out.push_str(&strip_line_breaks(trailing));
    }
    out
}

/// User and host of the user's own prefix (in JOIN, echoes and self-messages).
pub const OWN_USER_HOST: &str = "me@disims";

/// The prefix of the gateway's service user (`disims`), who runs the control channel.
pub const SERVICE_PREFIX: &str = "disims!service@disims";

/// The control channel.
pub const CONTROL_CHANNEL: &str = "&disims";

/// `nick!user@host`.
pub fn prefix(nick: &str, user_host: &str) -> String {
    format!("{nick}!{user_host}")
}

/// The prefix of a line that speaks for a peer under its key nick (no contact book at hand).
pub fn peer_prefix(peer: &PeerId) -> String {
    prefix(&peer.nick(), PEER_USER_HOST)
}

/// An IRCv3 tag value, escaped (`;` space `\` CR LF) as the message-tags spec requires.
pub fn escape_tag_value(value: &str) -> Cow<'_, str> {
    if !value.contains([';', ' ', '\\', '\r', '\n']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 4);
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A line with IRCv3 tags in front (`@k=v;k2=v2 line`); the line itself when there are none.
pub fn with_tags(tags: &[(&str, String)], line: String) -> String {
    if tags.is_empty() {
        return line;
    }
    let tags: Vec<String> = tags
        .iter()
        .map(|(key, value)| format!("{key}={}", escape_tag_value(value)))
        .collect();
    format!("@{} {line}", tags.join(";"))
}

/// A chat line (PRIVMSG, NOTICE, or a CTCP ACTION in a PRIVMSG) from `from` to `target`,
/// in one line whatever its length (for short texts of our own: control echoes). The body
/// is cleaned: it may come from a peer. A peer's message goes through [`chat_lines`].
pub fn chat(from: &str, target: &str, kind: MessageKind, body: &str) -> String {
    let body = clean_body(body);
    let (verb, text) = match kind {
        MessageKind::Text => ("PRIVMSG", body),
        MessageKind::Notice => ("NOTICE", body),
        MessageKind::Action => ("PRIVMSG", Cow::Owned(format!("{CTCP}ACTION {body}{CTCP}"))),
    };
    line(Some(from), verb, &[target], Some(&text))
}

/// A chat message as the lines a client accepts: each whole line (prefix, command, target,
/// text and CR LF; tags are counted apart, as the IRC framing does) within [`MAX_LINE`]
/// bytes. A longer body is split at character boundaries, at a space near the limit when
/// there is one (the space ends the earlier part), so that the parts' texts put together
/// give the cleaned body back. `lead` goes in front of every part (a played-back message's
/// date); an action stays an action in every part. Never truncated: a message cut short
/// would be a message changed.
pub fn chat_lines(
    from: &str,
    target: &str,
    kind: MessageKind,
    body: &str,
    lead: &str,
) -> Vec<String> {
    let body = clean_body(body);
    let lead = clean_body(lead);
    let overhead = chat(from, target, kind, "").len() + lead.len() + 2;
    // Nicks and targets are short, so this is never below a few hundred bytes; the floor
    // only guarantees progress.
    let room = MAX_LINE.saturating_sub(overhead).max(MIN_PART);
    split_text(&body, room)
        .into_iter()
        .map(|part| chat(from, target, kind, &format!("{lead}{part}")))
        .collect()
}

/// Longest IRC line in bytes, CR LF included, tags not counted (RFC 1459, RFC 2812).
pub const MAX_LINE: usize = super::codec::MAX_LINE;

/// A part of a split message holds at least this many bytes (or one character).
const MIN_PART: usize = 16;

/// A split looks this far back from the limit for a space to split at.
const SPACE_LOOKBACK: usize = 64;

/// `text` in parts of at most `max` bytes (at least one character each), split at UTF-8
/// boundaries only, preferably just after a space within [`SPACE_LOOKBACK`] bytes of the
/// limit; the parts put together are `text`. An empty text is one empty part.
pub fn split_text(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        if end == 0 {
            // A character longer than `max` (only with a tiny `max`): it goes whole.
            end = rest.chars().next().map_or(rest.len(), char::len_utf8);
        } else if let Some(space) = rest[..end].rfind(' ')
            && space + 1 + SPACE_LOOKBACK >= end
            && space > 0
        {
            end = space + 1;
        }
        let (part, tail) = rest.split_at(end);
        parts.push(part);
        rest = tail;
    }
    parts.push(rest);
    parts
}

/// The date in front of a message shown late to a client without server-time, so that it
/// is not read as said just now: "[2026-11-24 21:03 UTC] ".
pub fn date_lead(message: &ChatMessage) -> String {
    let time = human_time(message.sent_at_ms);
    let minutes = time.get(..16).unwrap_or(&time);
    format!("[{minutes} UTC] ")
}

/// The `msgid` of part `part` (from 0) of a message split into several lines: the
/// message's own id for the first, `<id>-<n>` for the n-th after (n from 2), so that every
/// line's id is unique (clients that deduplicate by msgid would drop repeated ones) and a
/// message played back again gets the same ids (so they can drop that).
pub fn part_msgid(id: &MessageId, part: usize) -> String {
    match part {
        0 => msgid(id),
        n => format!("{}-{}", msgid(id), n + 1),
    }
}

/// A message id as the `msgid` tag shows it: lower-case hex.
pub fn msgid(id: &MessageId) -> String {
    hex(&id.0)
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unix milliseconds for people: `YYYY-MM-DD hh:mm:ss UTC`.
pub fn human_time(unix_ms: u64) -> String {
    // "2026-11-24T21:03:05.123Z" -> "2026-11-24 21:03:05 UTC"
    let time = format_server_time(unix_ms);
    let (date, clock) = time.split_once('T').unwrap_or((&time, ""));
    let seconds = clock.get(..8).unwrap_or(clock);
    format!("{date} {seconds} UTC")
}

/// Unix milliseconds as an IRCv3 server-time value: `YYYY-MM-DDThh:mm:ss.sssZ` (UTC).
pub fn format_server_time(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let millis = unix_ms % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, restricted to non-negative days since timestamps are unsigned).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a year.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_time_matches_known_timestamps() {
        assert_eq!(format_server_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_server_time(1_700_000_000_123),
            "2023-11-14T22:13:20.123Z"
        );
        // Leap days: 2000 (divisible by 400) and 2024; 1900 is not in range, 2100 is not leap.
        assert_eq!(
            format_server_time(951_782_400_000),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            format_server_time(1_709_251_199_999),
            "2024-02-29T23:59:59.999Z"
        );
        assert_eq!(
            format_server_time(1_709_251_200_000),
            "2024-03-01T00:00:00.000Z"
        );
        assert_eq!(
            format_server_time(4_107_542_400_000),
            "2100-03-01T00:00:00.000Z"
        );
        assert_eq!(
            format_server_time(1_704_067_199_000),
            "2023-12-31T23:59:59.000Z"
        );
    }

    #[test]
    fn server_time_agrees_with_a_day_by_day_count() {
        // Walk the calendar naively from 1970 and compare every day up to 2200.
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for days in 0..84_000u64 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[(m - 1) as usize] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
        // The largest timestamp must not overflow.
        let _ = format_server_time(u64::MAX);
    }

    #[test]
    fn lines_cannot_be_broken_by_their_parameters() {
        assert_eq!(
            line(Some("s"), "401", &["n", "a b"], Some("x\r\nQUIT")),
            ":s 401 n * :xQUIT"
        );
        assert_eq!(
            line(None, "PONG", &["s", ":x", ""], Some("")),
            "PONG s * * :"
        );
        assert_eq!(clean_body("\x01VERSION\x01\0"), "VERSION");
    }
}
