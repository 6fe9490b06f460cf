//! The default gateway's IPv4 address, read from Linux's `/proc/net/route` (the router a
//! port mapping is asked of); the parsing is pure.

use std::net::Ipv4Addr;

/// The gateway of the first default route (destination 0.0.0.0, flag RTF_GATEWAY) in the
/// text of `/proc/net/route`, if any.
pub fn parse_default_gateway(route_table: &str) -> Option<Ipv4Addr> {
    const RTF_GATEWAY: u32 = 0x2;
    route_table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (destination, gateway, flags) = (fields.get(1)?, fields.get(2)?, fields.get(3)?);
        let flags = u32::from_str_radix(flags, 16).ok()?;
        if *destination != "00000000" || flags & RTF_GATEWAY == 0 {
            return None;
        }
        // The kernel prints the address in host byte order (little-endian here).
        let raw = u32::from_str_radix(gateway, 16).ok()?;
        Some(Ipv4Addr::from(raw.swap_bytes())).filter(|g| !g.is_unspecified())
    })
}

/// The default gateway of this host's network namespace (None where there is none, or
/// not on Linux).
pub fn default_gateway() -> Option<Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/route").ok()?;
    parse_default_gateway(&table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_route_gives_the_gateway() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     eth0\t0000020A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                     eth0\t00000000\t0100020A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(
            parse_default_gateway(table),
            Some(Ipv4Addr::new(10, 2, 0, 1))
        );
        assert_eq!(parse_default_gateway(&table[..table.len() / 2]), None);
        assert_eq!(parse_default_gateway("garbage\n1 2\n"), None);
    }
}
