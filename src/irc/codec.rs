//! Line framing for the IRC front end: bytes from the socket in, bounded lines out.
//!
//! irc-proto's own `LineCodec` has no length limit and gives up on invalid UTF-8, so we frame
//! lines ourselves. The framer is pure (no tokio) so that it can be tested byte by byte.
//!
//! Memory bound: the line being assembled never holds more than [`MAX_TAGS`] + [`MAX_LINE`]
//! bytes; an overlong line is dropped as soon as it is known to be overlong and the rest of it
//! is skipped up to its `'\n'`. Complete lines wait in a queue until [`LineFramer::next_line`]
//! takes them, so the caller drains the framer after every `push` of one bounded read.

use std::collections::VecDeque;

/// Longest line in bytes, including CR LF, not counting the tags section (RFC 1459, modern IRC).
pub const MAX_LINE: usize = 512;

/// Longest IRCv3 tags section, including the leading `'@'` and the trailing space.
pub const MAX_TAGS: usize = 8191;

/// The most bytes the framer holds for one line being assembled.
pub const MAX_BUFFERED: usize = MAX_TAGS + MAX_LINE;

/// One framed line.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Line {
    /// A line, decoded as lossy UTF-8, without its CR/LF ending. Never empty.
    Text(String),
    /// A line that exceeded the limits; all of it was discarded.
    TooLong,
}

/// A bounded line framer: [`push`](Self::push) bytes, take lines with
/// [`next_line`](Self::next_line). Accepts `"\n"` and `"\r\n"` endings; skips empty lines.
#[derive(Debug, Default)]
pub struct LineFramer {
    /// Bytes of the line being assembled (no `'\n'` in here).
    partial: Vec<u8>,
    /// Where the tags of the line being assembled end (its first space), once seen: so that
    /// a line arriving a byte at a time is not rescanned on every byte.
    tags_end: Option<usize>,
    /// Set while skipping the rest of an overlong line up to its `'\n'`.
    discarding: bool,
    /// Complete lines not yet taken.
    ready: VecDeque<Line>,
}

impl LineFramer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (piece, ended) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            rest = if ended { &rest[piece.len() + 1..] } else { &[] };
            if self.discarding {
                // The TooLong was reported when discarding began; only the end matters here.
                self.discarding = !ended;
                continue;
            }
            // Append no more than can still be legal, so the buffer stays bounded even if
            // `piece` is huge; `too_long` then notices the overflow.
            let room = (MAX_BUFFERED + 1).saturating_sub(self.partial.len());
            let take = piece.len().min(room);
            let start = self.partial.len();
            self.partial.extend_from_slice(&piece[..take]);
            if self.tags_end.is_none() {
                let new = &self.partial[start..];
                self.tags_end = new.iter().position(|&b| b == b' ').map(|i| start + i);
            }
            if take < piece.len() || too_long(strip_cr(&self.partial), self.tags_end) {
                self.partial.clear();
                self.tags_end = None;
                self.ready.push_back(Line::TooLong);
                self.discarding = !ended;
                continue;
            }
            if ended {
                let line = strip_cr(&self.partial);
                if !line.is_empty() {
                    let text = String::from_utf8_lossy(line).into_owned();
                    self.ready.push_back(Line::Text(text));
                }
                self.partial.clear();
                self.tags_end = None;
            }
        }
        // Keep the line buffer's capacity bounded too: a burst of long lines must not pin memory.
        if self.partial.capacity() > MAX_BUFFERED + 1 {
            self.partial.shrink_to(MAX_BUFFERED + 1);
        }
    }

    /// The next complete line, if any.
    pub fn next_line(&mut self) -> Option<Line> {
        self.ready.pop_front()
    }

    /// Whether complete lines wait to be taken (the conn task reads no more until they are).
    pub fn has_lines(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Bytes held for the line being assembled (at most [`MAX_BUFFERED`]).
    pub fn buffered(&self) -> usize {
        self.partial.len()
    }
}

/// The line without one trailing CR (the CR of a CR LF ending).
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Whether a line (or the start of one) already breaks the limits: the tags section may
/// take [`MAX_TAGS`] bytes, the rest [`MAX_LINE`] minus the CR LF.
/// `first_space` is where the line's first space is, if it has one yet.
fn too_long(line: &[u8], first_space: Option<usize>) -> bool {
    let body_limit = MAX_LINE - 2;
    if line.first() != Some(&b'@') {
        return line.len() > body_limit;
    }
    match first_space {
        // Tags, their trailing space, then the message.
        Some(space) => space + 1 > MAX_TAGS || line.len() - (space + 1) > body_limit,
        // Still inside the tags: they must leave room for their trailing space.
        None => line.len() > MAX_TAGS - 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(framer: &mut LineFramer) -> Vec<Line> {
        std::iter::from_fn(|| framer.next_line()).collect()
    }

    fn text(s: &str) -> Line {
        Line::Text(s.to_string())
    }

    #[test]
    fn lines_split_across_pushes_are_joined() {
        let mut f = LineFramer::new();
        f.push(b"NICK te");
        assert_eq!(f.next_line(), None);
        f.push(b"ster\r");
        assert_eq!(f.next_line(), None);
        f.push(b"\nUSER a 0 * :b\nPI");
        assert_eq!(
            drain(&mut f),
            vec![text("NICK tester"), text("USER a 0 * :b")]
        );
        f.push(b"NG x\r\n");
        assert_eq!(drain(&mut f), vec![text("PING x")]);
    }

    #[test]
    fn lf_and_crlf_endings_and_empty_lines() {
        let mut f = LineFramer::new();
        f.push(b"a\nb\r\n\r\n\n\rc\r\n");
        // A lone CR line is empty after stripping; a CR that is not before LF stays.
        assert_eq!(drain(&mut f), vec![text("a"), text("b"), text("\rc")]);
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily_and_nul_is_kept() {
        let mut f = LineFramer::new();
        f.push(b"PRIVMSG x :\xff\xfeok\0z\n");
        assert_eq!(
            drain(&mut f),
            vec![text("PRIVMSG x :\u{fffd}\u{fffd}ok\0z")]
        );
    }

    #[test]
    fn a_510_byte_line_fits_and_511_does_not() {
        let mut f = LineFramer::new();
        let ok = "x".repeat(510);
        let bad = "y".repeat(511);
        f.push(format!("{ok}\r\n{bad}\r\nnext\n").as_bytes());
        assert_eq!(drain(&mut f), vec![text(&ok), Line::TooLong, text("next")]);
    }

    #[test]
    fn overlong_line_is_reported_once_and_the_next_line_is_fine() {
        let mut f = LineFramer::new();
        for _ in 0..100 {
            f.push(&[b'z'; 1000]);
            assert!(f.buffered() <= MAX_BUFFERED);
        }
        f.push(b"zzz\r\nPING ok\r\n");
        assert_eq!(drain(&mut f), vec![Line::TooLong, text("PING ok")]);
    }

    #[test]
    fn tags_have_their_own_budget() {
        let mut f = LineFramer::new();
        let tags = format!("@{}", "t".repeat(MAX_TAGS - 2)); // plus the space: MAX_TAGS
        let body = "b".repeat(MAX_LINE - 2);
        f.push(format!("{tags} {body}\n").as_bytes());
        f.push(format!("{tags}t {body}\n").as_bytes());
        f.push(format!("{tags} {body}b\n").as_bytes());
        assert_eq!(
            drain(&mut f),
            vec![
                text(&format!("{tags} {body}")),
                Line::TooLong,
                Line::TooLong
            ]
        );
    }

    proptest! {
        #[test]
        fn arbitrary_chunks_never_panic_or_exceed_the_bound(
            chunks in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'@'), Just(b' '), any::<u8>()],
                    0..3000,
                ),
                0..20,
            )
        ) {
            let mut f = LineFramer::new();
            for chunk in &chunks {
                f.push(chunk);
                prop_assert!(f.buffered() <= MAX_BUFFERED);
                while let Some(line) = f.next_line() {
                    if let Line::Text(t) = line {
                        prop_assert!(!t.is_empty());
                        prop_assert!(!t.contains('\n'));
                        prop_assert!(t.len() <= MAX_BUFFERED * 3); // lossy decoding may grow it
                    }
                }
            }
        }

        #[test]
        fn chunking_does_not_change_the_lines(data in proptest::collection::vec(any::<u8>(), 0..2000), cut in 0usize..2000) {
            let cut = cut.min(data.len());
            let mut whole = LineFramer::new();
            whole.push(&data);
            let mut split = LineFramer::new();
            split.push(&data[..cut]);
            split.push(&data[cut..]);
            prop_assert_eq!(drain(&mut whole), drain(&mut split));
        }
    }
}
