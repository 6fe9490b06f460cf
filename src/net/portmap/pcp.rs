//! PCP (RFC 6887) MAP requests and responses for TCP over IPv4, byte by byte, without IO.
//! A lifetime of 0 removes a mapping; renewals and the removal repeat the first request's
//! nonce, which is how the router knows they are ours.

use std::net::{Ipv4Addr, SocketAddrV4};

use super::PortmapError;

const VERSION: u8 = 2;
const OP_MAP: u8 = 1;
/// The R bit: set in responses.
const RESPONSE: u8 = 0x80;
const TCP: u8 = 6;
/// Common header (24) + MAP opcode data (36).
const LEN: usize = 60;

/// An IPv4 address as PCP carries it: IPv4-mapped IPv6 (`::ffff:a.b.c.d`).
fn mapped(ip: Ipv4Addr) -> [u8; 16] {
    ip.to_ipv6_mapped().octets()
}

/// MAP TCP `internal` (on `client`, the address we send from) to `suggested` external port
/// for `lifetime` seconds, with our `nonce`.
pub fn map_tcp_request(
    client: Ipv4Addr,
    nonce: [u8; 12],
    internal: u16,
    suggested: u16,
    lifetime: u32,
) -> [u8; LEN] {
    let mut m = [0u8; LEN];
    m[0] = VERSION;
    m[1] = OP_MAP;
    m[4..8].copy_from_slice(&lifetime.to_be_bytes());
    m[8..24].copy_from_slice(&mapped(client));
    m[24..36].copy_from_slice(&nonce);
    m[36] = TCP;
    m[40..42].copy_from_slice(&internal.to_be_bytes());
    m[42..44].copy_from_slice(&suggested.to_be_bytes());
    // Suggested external address: "any IPv4" (::ffff:0.0.0.0).
    m[44..60].copy_from_slice(&mapped(Ipv4Addr::UNSPECIFIED));
    m
}

/// RFC 6887's result codes, as the log and `status` show them.
fn result_text(code: u8) -> &'static str {
    match code {
        1 => "unsupported version",
        2 => "not authorized (mapping disabled on the router)",
        3 => "malformed request",
        4 => "unsupported opcode",
        7 => "network failure (the router has no usable external address)",
        8 => "out of resources",
        9 => "unsupported protocol",
        10 => "over our quota of mappings",
        11 => "cannot provide an external port",
        12 => "address mismatch (a NAT between us and the router)",
        _ => "unknown result code",
    }
}

/// A granted mapping in the response to our MAP request with `nonce` for `internal`:
/// (external address, lifetime in seconds).
pub fn parse_map_tcp(
    reply: &[u8],
    nonce: [u8; 12],
    internal: u16,
) -> Result<(SocketAddrV4, u32), PortmapError> {
    if reply.len() < 4 {
        return Err(PortmapError::Malformed("short PCP response"));
    }
    if reply[0] == 0 && reply.len() >= 4 {
        // A NAT-PMP-only router answers "unsupported version" in its own format.
        return Err(PortmapError::Refused("the router speaks NAT-PMP, not PCP"));
    }
    if reply[0] != VERSION || reply[1] != OP_MAP | RESPONSE {
        return Err(PortmapError::Malformed("not the PCP response we asked for"));
    }
    if reply[3] != 0 {
        return Err(PortmapError::Refused(result_text(reply[3])));
    }
    if reply.len() < LEN {
        return Err(PortmapError::Malformed("short PCP response"));
    }
    if reply[24..36] != nonce
        || reply[36] != TCP
        || u16::from_be_bytes([reply[40], reply[41]]) != internal
    {
        return Err(PortmapError::Malformed("a response to another request"));
    }
    let lifetime = u32::from_be_bytes([reply[4], reply[5], reply[6], reply[7]]);
    let port = u16::from_be_bytes([reply[42], reply[43]]);
    let mut ip = [0u8; 16];
    ip.copy_from_slice(&reply[44..60]);
    let ip = std::net::Ipv6Addr::from(ip)
        .to_ipv4_mapped()
        .ok_or(PortmapError::Malformed(
            "an external address that is not IPv4",
        ))?;
    Ok((SocketAddrV4::new(ip, port), lifetime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_request_is_laid_out_as_rfc_6887_says() {
        let r = map_tcp_request(Ipv4Addr::new(10, 1, 0, 10), [7; 12], 7667, 7667, 7200);
        assert_eq!(r[..4], [2, 1, 0, 0]);
        assert_eq!(r[4..8], 7200u32.to_be_bytes());
        assert_eq!(
            r[8..24],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 0, 10]
        );
        assert_eq!(r[24..36], [7; 12]);
        assert_eq!(r[36..40], [6, 0, 0, 0]);
        assert_eq!(r[40..44], [0x1d, 0xf3, 0x1d, 0xf3]);
        assert_eq!(
            r[44..60],
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0]
        );
    }

    /// A response is the request with R set, a result, lifetime, epoch and the assigned
    /// address.
    fn response(nonce: [u8; 12], result: u8) -> Vec<u8> {
        let mut r = map_tcp_request(Ipv4Addr::new(10, 1, 0, 10), nonce, 7667, 7667, 0).to_vec();
        r[1] |= RESPONSE;
        r[3] = result;
        r[4..8].copy_from_slice(&3600u32.to_be_bytes());
        r[8..24].fill(0);
        r[42..44].copy_from_slice(&7668u16.to_be_bytes());
        r[44..60].copy_from_slice(&mapped(Ipv4Addr::new(198, 51, 100, 7)));
        r
    }

    #[test]
    fn responses_are_checked_and_parsed() {
        let ok = response([7; 12], 0);
        assert_eq!(
            parse_map_tcp(&ok, [7; 12], 7667).unwrap(),
            ("198.51.100.7:7668".parse().unwrap(), 3600)
        );
        assert!(matches!(
            parse_map_tcp(&ok, [8; 12], 7667),
            Err(PortmapError::Malformed(_))
        ));
        assert!(matches!(
            parse_map_tcp(&response([7; 12], 2), [7; 12], 7667),
            Err(PortmapError::Refused(t)) if t.contains("not authorized")
        ));
        assert!(matches!(
            parse_map_tcp(&[0, 129, 0, 1, 0, 0, 0, 0], [7; 12], 7667),
            Err(PortmapError::Refused(t)) if t.contains("NAT-PMP")
        ));
        assert!(parse_map_tcp(&ok[..40], [7; 12], 7667).is_err());
    }
}
