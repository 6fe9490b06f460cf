//! Frame padding (issue 14; docs/protocol.md, "Padding"): in a version 2 session every
//! sealed frame carries one [`WireMessage::Padding`] of a random length in
//! `0..=frame_padding` (none when the draw is 0), so that frames of the same messages (an
//! Ack, a Ping, the same chat) do not have the same length on the wire. The lengths are
//! drawn from a [`PadRng`] keyed once per session from the operating system. Version 1
//! sessions never pad: their peers may predate the message type.

use super::PeerError;
use super::wire::{self, MAX_PADDING, PADDING_OVERHEAD, WireError, WireMessage};
use crate::crypto::MAX_PLAINTEXT;
use crate::crypto::obfs::PadRng;

/// The default bound of a frame's padding (`[transport] frame_padding`): the fixed-size
/// frames a session sends by itself (an Ack alone: 39 bytes on the wire, a Ping or Pong:
/// 31; a chat: 50 plus its text) become one of 65 lengths each, which covers the gaps
/// between them and the length of a short text, for 35 bytes a frame on average (the 3
/// bytes of the message and 32 of padding).
pub const DEFAULT_FRAME_PADDING: usize = 64;
/// The largest bound: beyond a few kilobytes padding costs bandwidth without hiding more
/// (a frame of 4 KiB already spans several TCP segments, whose sizes a censor sees anyway).
pub const MAX_FRAME_PADDING: usize = 4096;

/// A session's frame padding: the random source and the bound.
#[derive(Debug)]
pub(super) struct FramePad {
    rng: PadRng,
    max: usize,
}

impl FramePad {
    /// The padding of a session made by handshake `version` with bound `max` (clipped to
    /// [`MAX_FRAME_PADDING`]): `None` in version 1 or when `max` is 0.
    pub(super) fn for_session(version: u16, max: usize) -> Result<Option<Self>, PeerError> {
        if version < 2 || max == 0 {
            return Ok(None);
        }
        Ok(Some(Self::new(
            crate::identity::random_bytes()?,
            max.min(MAX_FRAME_PADDING),
        )))
    }

    fn new(key: [u8; 32], max: usize) -> Self {
        Self {
            rng: PadRng::new(key),
            max,
        }
    }

    /// Appends one Padding message of a random length in `0..=max` to the plaintext of a
    /// frame about to be sealed (nothing when the draw is 0), shortened so that the frame
    /// stays within [`MAX_PLAINTEXT`] (nothing when there is no room for the message).
    pub(super) fn pad(&mut self, plain: &mut Vec<u8>) -> Result<(), WireError> {
        let room = MAX_PLAINTEXT.saturating_sub(plain.len() + PADDING_OVERHEAD);
        let n = self.rng.below(self.max + 1).min(room).min(MAX_PADDING);
        if n > 0 {
            wire::push(plain, &WireMessage::Padding(n))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_and_a_zero_bound_never_pad() {
        assert!(FramePad::for_session(1, 64).unwrap().is_none());
        assert!(FramePad::for_session(2, 0).unwrap().is_none());
        let pad = FramePad::for_session(2, MAX_FRAME_PADDING + 1).unwrap();
        assert_eq!(pad.map(|p| p.max), Some(MAX_FRAME_PADDING));
    }

    #[test]
    fn padding_is_one_skippable_message_within_the_bound() {
        let mut pad = FramePad::new([3; 32], 64);
        let mut lengths = std::collections::HashSet::new();
        for _ in 0..500 {
            let mut plain = Vec::new();
            wire::push(&mut plain, &WireMessage::Ping(1)).unwrap();
            let before = plain.len();
            pad.pad(&mut plain).unwrap();
            let added = plain.len() - before;
            assert!(added == 0 || (PADDING_OVERHEAD + 1..=PADDING_OVERHEAD + 64).contains(&added));
            lengths.insert(added);
            let messages: Vec<_> = wire::messages(&plain).map(Result::unwrap).collect();
            assert_eq!(messages[0], WireMessage::Ping(1));
            match &messages[1..] {
                [] => assert_eq!(added, 0),
                [WireMessage::Padding(n)] => assert_eq!(n + PADDING_OVERHEAD, added),
                other => panic!("{other:?}"),
            }
            if added > 0 {
                assert!(plain[before + PADDING_OVERHEAD..].iter().all(|&b| b == 0));
            }
        }
        // 65 possible lengths, 500 draws: nearly all of them come up.
        assert!(lengths.len() > 55, "{}", lengths.len());
    }

    #[test]
    fn a_full_frame_is_padded_less_or_not_at_all() {
        let mut pad = FramePad::new([4; 32], MAX_FRAME_PADDING);
        for room in [
            0,
            1,
            PADDING_OVERHEAD,
            PADDING_OVERHEAD + 1,
            PADDING_OVERHEAD + 10,
        ] {
            for _ in 0..50 {
                let mut plain = vec![0u8; MAX_PLAINTEXT - room];
                pad.pad(&mut plain).unwrap();
                assert!(plain.len() <= MAX_PLAINTEXT, "room {room}");
            }
        }
        // With 13 bytes of room the padding is cut to 10, not dropped (the draws are
        // almost all above 10).
        let mut cut = 0;
        for _ in 0..50 {
            let mut plain = vec![0u8; MAX_PLAINTEXT - PADDING_OVERHEAD - 10];
            pad.pad(&mut plain).unwrap();
            cut += usize::from(plain.len() == MAX_PLAINTEXT);
        }
        assert!(cut > 40, "{cut}");
    }
}
