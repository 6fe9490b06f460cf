//! Splits a session's byte stream into data records: a 4-byte big-endian length, masked in
//! version 2 ([`LengthMask`]: each header is XORed with the next 4 bytes of the peer's
//! length keystream), then the body. A declared length above the maximum ends the session
//! before anything is allocated for it.

use bytes::BytesMut;
use tokio_util::codec::Decoder;

use crate::crypto::RECORD_HEADER_LEN;
use crate::crypto::obfs::LengthMask;

/// The decoder of one direction's records.
#[derive(Debug)]
pub struct RecordCodec {
    mask: Option<LengthMask>,
    max: usize,
    /// The body length of the record being read, once its header is taken.
    body: Option<usize>,
}

impl RecordCodec {
    /// `mask`: the peer's length mask (version 2), `None` for plain headers (version 1).
    pub fn new(mask: Option<LengthMask>, max: usize) -> Self {
        Self {
            mask,
            max,
            body: None,
        }
    }
}

impl Decoder for RecordCodec {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        let len = match self.body {
            Some(len) => len,
            None => {
                if src.len() < RECORD_HEADER_LEN {
                    return Ok(None);
                }
                let mut header = [0u8; RECORD_HEADER_LEN];
                header.copy_from_slice(&src.split_to(RECORD_HEADER_LEN));
                // Unmasked exactly once per header, in order: the keystream advances.
                if let Some(mask) = &mut self.mask {
                    mask.apply(&mut header);
                }
                let len = crate::crypto::record_len(header, self.max).map_err(|e| {
                    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                })?;
                self.body = Some(len);
                len
            }
        };
        if src.len() < len {
            src.reserve(len - src.len());
            return Ok(None);
        }
        self.body = None;
        Ok(Some(src.split_to(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_records_split_whatever_the_chunks() {
        let mut codec = RecordCodec::new(None, 100);
        let mut src = BytesMut::new();
        let mut out = Vec::new();
        let stream = [
            &[0u8, 0, 0, 3, 1, 2][..],
            &[3, 0, 0],
            &[0, 0, 0, 0, 0, 1, 9],
        ];
        for chunk in stream {
            src.extend_from_slice(chunk);
            while let Some(record) = codec.decode(&mut src).unwrap() {
                out.push(record.to_vec());
            }
        }
        assert_eq!(out, vec![vec![1, 2, 3], vec![], vec![9]]);
    }

    #[test]
    fn a_record_over_the_maximum_is_refused_before_its_body() {
        let mut codec = RecordCodec::new(None, 10);
        let mut src = BytesMut::from(&[0u8, 0, 0, 11][..]);
        assert!(codec.decode(&mut src).is_err());
    }
}
