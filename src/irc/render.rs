//! Outgoing IRC lines: the one place where text becomes protocol.
//!
//! Everything that goes into a line passes through here, so that untrusted text (from peers,
//! or echoed back from the client) can never end a line early, start a new one, or trigger
//! a CTCP auto-reply in the user's client.

use std::borrow::Cow;

use crate::identity::PeerId;
use crate::message::{ChatMessage, FrontendEvent, MessageKind};

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

/// The prefix of a line that speaks for a peer.
pub fn peer_prefix(peer: &PeerId) -> String {
    format!("{}!{PEER_USER_HOST}", peer.nick())
}

/// Renders an event from the hub for the user `own_nick`. `server_time` says whether the
/// client negotiated the server-time capability.
pub fn event(
    server_name: &str,
    own_nick: &str,
    server_time: bool,
    event: &FrontendEvent,
) -> String {
    match event {
        FrontendEvent::Received {
            from,
            message,
            played_back,
        } => received(own_nick, server_time, *played_back, from, message),
        FrontendEvent::PeerNotice { peer, text } => line(
            Some(&peer_prefix(peer)),
            "NOTICE",
            &[own_nick],
            Some(&clean_body(text)),
        ),
        FrontendEvent::ServerNotice { text } => line(
            Some(server_name),
            "NOTICE",
            &[own_nick],
            Some(&clean_body(text)),
        ),
        // Issue 6: the rest are being built.
        _ => String::new(),
    }
}

fn received(
    own_nick: &str,
    server_time: bool,
    played_back: bool,
    from: &PeerId,
    message: &ChatMessage,
) -> String {
    let body = clean_body(&message.text);
    // A message shown late carries its time: in the server-time tag when the client asked
    // for it, otherwise at the start of the text, so that it is not read as said just now.
    let body = if played_back && !server_time {
        // "2026-11-24T21:03:05.123Z" -> "[2026-11-24 21:03 UTC]"
        let time = format_server_time(message.sent_at_ms);
        let (date, clock) = time.split_once('T').unwrap_or((&time, ""));
        let minutes = clock.get(..5).unwrap_or(clock);
        std::borrow::Cow::Owned(format!("[{date} {minutes} UTC] {body}"))
    } else {
        body
    };
    let (verb, text) = match message.kind {
        MessageKind::Text => ("PRIVMSG", body.into_owned()),
        MessageKind::Notice => ("NOTICE", body.into_owned()),
        MessageKind::Action => ("PRIVMSG", format!("{CTCP}ACTION {body}{CTCP}")),
    };
    // Never truncated: the client accepts lines longer than 512 bytes from its server, and a
    // message cut short would be a message changed.
    let rendered = line(Some(&peer_prefix(from)), verb, &[own_nick], Some(&text));
    if server_time {
        format!(
            "@time={} {rendered}",
            format_server_time(message.sent_at_ms)
        )
    } else {
        rendered
    }
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
