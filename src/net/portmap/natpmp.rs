//! NAT-PMP (RFC 6886) messages, byte by byte, without IO: the external-address request and
//! the TCP mapping request (a lifetime of 0 removes a mapping), and their responses.

use std::net::Ipv4Addr;

use super::PortmapError;

/// The port a NAT-PMP (and PCP) server listens on, on the default gateway.
pub const SERVER_PORT: u16 = 5351;
/// NAT-PMP's version number (PCP is 2).
const VERSION: u8 = 0;
const OP_EXTERNAL_ADDRESS: u8 = 0;
const OP_MAP_TCP: u8 = 2;
/// A response's opcode is the request's plus 128.
const RESPONSE: u8 = 128;

/// `[0, 0]`: what is your external address?
pub fn external_address_request() -> [u8; 2] {
    [VERSION, OP_EXTERNAL_ADDRESS]
}

/// Map TCP `internal` to `suggested` external port for `lifetime` seconds (0 removes it;
/// then `suggested` must be 0).
pub fn map_tcp_request(internal: u16, suggested: u16, lifetime: u32) -> [u8; 12] {
    let mut m = [0u8; 12];
    m[0] = VERSION;
    m[1] = OP_MAP_TCP;
    m[4..6].copy_from_slice(&internal.to_be_bytes());
    m[6..8].copy_from_slice(&suggested.to_be_bytes());
    m[8..12].copy_from_slice(&lifetime.to_be_bytes());
    m
}

/// The header every response starts with; checks version, opcode and result code.
fn check_header(reply: &[u8], op: u8, len: usize) -> Result<(), PortmapError> {
    if reply.len() < len {
        return Err(PortmapError::Malformed("short NAT-PMP response"));
    }
    if reply[0] != VERSION || reply[1] != op | RESPONSE {
        return Err(PortmapError::Malformed(
            "not the NAT-PMP response we asked for",
        ));
    }
    match u16::from_be_bytes([reply[2], reply[3]]) {
        0 => Ok(()),
        code => Err(PortmapError::Refused(result_text(code))),
    }
}

/// RFC 6886's result codes, as the log and `status` show them.
fn result_text(code: u16) -> &'static str {
    match code {
        1 => "unsupported version",
        2 => "not authorized (mapping disabled on the router)",
        3 => "network failure (the router has no usable external address)",
        4 => "out of resources",
        5 => "unsupported opcode",
        _ => "unknown result code",
    }
}

/// The external address in a response to [`external_address_request`].
pub fn parse_external_address(reply: &[u8]) -> Result<Ipv4Addr, PortmapError> {
    check_header(reply, OP_EXTERNAL_ADDRESS, 12)?;
    Ok(Ipv4Addr::new(reply[8], reply[9], reply[10], reply[11]))
}

/// A granted TCP mapping: (internal port, external port, lifetime in seconds).
pub fn parse_map_tcp(reply: &[u8]) -> Result<(u16, u16, u32), PortmapError> {
    check_header(reply, OP_MAP_TCP, 16)?;
    let internal = u16::from_be_bytes([reply[8], reply[9]]);
    let external = u16::from_be_bytes([reply[10], reply[11]]);
    let lifetime = u32::from_be_bytes([reply[12], reply[13], reply[14], reply[15]]);
    Ok((internal, external, lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_laid_out_as_rfc_6886_says() {
        assert_eq!(external_address_request(), [0, 0]);
        assert_eq!(
            map_tcp_request(7667, 7667, 7200),
            [0, 2, 0, 0, 0x1d, 0xf3, 0x1d, 0xf3, 0, 0, 0x1c, 0x20]
        );
        assert_eq!(map_tcp_request(7667, 0, 0)[6..], [0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn responses_are_parsed_and_refusals_named() {
        let ext = [0, 128, 0, 0, 0, 0, 0, 9, 198, 51, 100, 7];
        assert_eq!(
            parse_external_address(&ext).unwrap(),
            Ipv4Addr::new(198, 51, 100, 7)
        );
        let map = [
            0, 130, 0, 0, 0, 0, 0, 9, 0x1d, 0xf3, 0x1d, 0xf4, 0, 0, 0x0e, 0x10,
        ];
        assert_eq!(parse_map_tcp(&map).unwrap(), (7667, 7668, 3600));
        let failure = [0, 128, 0, 3, 0, 0, 0, 9, 0, 0, 0, 0];
        assert!(matches!(
            parse_external_address(&failure),
            Err(PortmapError::Refused(text)) if text.contains("network failure")
        ));
        assert!(parse_map_tcp(&map[..12]).is_err());
        assert!(parse_map_tcp(&ext).is_err(), "an answer to another request");
    }
}
