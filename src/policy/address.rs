//! Which addresses the gateway may dial. A peer's DHT record is written by whoever holds the
//! peer's key, which anyone can make for free: without rules, a record makes the gateway
//! connect wherever its author likes (its own IRC port, the cloud metadata service at
//! 169.254.169.254, a printer on the LAN), and tells the author, by timing, what answered.
//!
//! Every check runs on the canonical form of the address ([`canonical_ip`]: `::ffff:a.b.c.d`
//! is `a.b.c.d`). Then:
//! - never dialled, whatever the config: port 0, unspecified, link-local, multicast,
//!   broadcast, shared address space (CGNAT, 100.64.0.0/10) and reserved ranges
//!   ([`AddressClass`]), and this gateway's own listening or published addresses;
//! - private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) and lab ranges (documentation
//!   and benchmarking) only when the gateway has an address in the same range itself (it is
//!   on such a network), or `[peer] dial` is `"private"` or `"loopback"`;
//! - loopback only when `[peer] dial = "loopback"` (tests and the demo say so);
//! - at most [`MAX_DIAL_ADDRS`] addresses of one record, each started at a fixed time
//!   ([`DIAL_STAGGER`]).
//!
//! Pure: the host's interface addresses and listeners are passed in ([`Host`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::canonical_ip;

/// Addresses of one record tried per dial, at most (a record may list 16): each costs a
/// connection to whoever the record names, so a hostile record gets few.
pub const MAX_DIAL_ADDRS: usize = 4;
/// The addresses of a dial are tried this far apart (Happy Eyeballs' connection attempt
/// delay, RFC 8305), each at its fixed time, not after the one before has failed: when the
/// record's last address reaches its author does not depend on how the others answered (a
/// closed port fails at once, a filtered one times out), so the author learns nothing about
/// the hosts its record names by timing the dial.
pub const DIAL_STAGGER: std::time::Duration = std::time::Duration::from_millis(250);

/// What the config lets the gateway dial beyond public addresses (`[peer] dial`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum DialScope {
    /// Public addresses; private and lab ranges only where the gateway has an address in
    /// the same range (the default).
    #[default]
    Public,
    /// Also every private and lab range (a LAN or VPN the gateway reaches through a router).
    Private,
    /// Also loopback (several gateways on one machine: tests, the demo).
    Loopback,
}

impl DialScope {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "public" => Some(Self::Public),
            "private" => Some(Self::Private),
            "loopback" => Some(Self::Loopback),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
            Self::Loopback => "loopback",
        }
    }
}

/// What an IP address is, as far as dialling goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// Globally routed unicast.
    Global,
    /// RFC 1918 (10/8, 172.16/12, 192.168/16) or IPv6 unique local (fc00::/7).
    Private,
    /// Documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20) or
    /// benchmarking (198.18/15): never on the internet, but used by labs and test networks.
    Lab,
    Loopback,
    Unspecified,
    LinkLocal,
    Multicast,
    Broadcast,
    /// 100.64.0.0/10, between a carrier's NAT and its customers.
    SharedCgnat,
    /// Anything else not globally routed (0/8, 240/4, 192.0.0/24, 6to4, IPv6 outside
    /// 2000::/3...).
    Reserved,
}

impl AddressClass {
    fn describe(self) -> &'static str {
        match self {
            Self::Global => "public",
            Self::Private => "private",
            Self::Lab => "documentation/benchmarking",
            Self::Loopback => "loopback",
            Self::Unspecified => "unspecified",
            Self::LinkLocal => "link-local",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::SharedCgnat => "carrier-grade NAT",
            Self::Reserved => "reserved",
        }
    }
}

/// The class of `ip`, after canonicalisation.
pub fn classify(ip: IpAddr) -> AddressClass {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let o = ip.octets();
    if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_broadcast() {
        AddressClass::Broadcast
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_private() {
        AddressClass::Private
    } else if ip.is_documentation() || (o[0] == 198 && (o[1] & 0xfe) == 18) {
        AddressClass::Lab
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        AddressClass::SharedCgnat
    } else if o[0] == 0
        || o[0] >= 240
        || (o[0], o[1], o[2]) == (192, 0, 0)
        || (o[0], o[1], o[2]) == (192, 88, 99)
    {
        AddressClass::Reserved
    } else {
        AddressClass::Global
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let s = ip.segments();
    if ip.is_unspecified() {
        AddressClass::Unspecified
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_multicast() {
        AddressClass::Multicast
    } else if ip.is_unicast_link_local() {
        AddressClass::LinkLocal
    } else if ip.is_unique_local() {
        AddressClass::Private
    } else if (s[0], s[1]) == (0x2001, 0x0db8) || (s[0] == 0x3fff && s[1] < 0x1000) {
        AddressClass::Lab
    } else if (s[0] == 0x2001 && s[1] < 0x0200) || s[0] == 0x2002 {
        // IETF protocol assignments (Teredo among them), 6to4: tunnels to IPv4 addresses.
        AddressClass::Reserved
    } else if (s[0] & 0xe000) == 0x2000 {
        AddressClass::Global
    } else {
        // Only 2000::/3 is allocated for global unicast (NAT64, IPv4-compatible, site-local...).
        AddressClass::Reserved
    }
}

/// The private or lab range `ip` is in (as its network and prefix length), for "is the
/// gateway on that network too". `None` for other classes.
fn local_range(ip: IpAddr) -> Option<(IpAddr, u8)> {
    const V4: [([u8; 4], u8); 7] = [
        ([10, 0, 0, 0], 8),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([192, 0, 2, 0], 24),
        ([198, 51, 100, 0], 24),
        ([203, 0, 113, 0], 24),
        ([198, 18, 0, 0], 15),
    ];
    let ip = canonical_ip(ip);
    if !matches!(classify(ip), AddressClass::Private | AddressClass::Lab) {
        return None;
    }
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            V4.iter().find_map(|&(net, len)| {
                let mask = u32::MAX << (32 - u32::from(len));
                (bits & mask == u32::from(Ipv4Addr::from(net)))
                    .then_some((IpAddr::V4(Ipv4Addr::from(net)), len))
            })
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let len: u8 = match v6.segments()[0] {
                s if s & 0xfe00 == 0xfc00 => 7,
                0x2001 => 32,
                _ => 20,
            };
            let mask = u128::MAX << (128 - u32::from(len));
            Some((IpAddr::V6(Ipv6Addr::from(bits & mask)), len))
        }
    }
}

/// What the dialler knows about the host it runs on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Host<'a> {
    /// The host's interface addresses (all of them, loopback included).
    pub interfaces: &'a [IpAddr],
    /// The gateway's listening sockets (peer and IRC), as bound (`0.0.0.0` means every
    /// local address).
    pub listeners: &'a [SocketAddr],
    /// The addresses the gateway publishes in its own record.
    pub published: &'a [SocketAddr],
}

impl Host<'_> {
    /// Whether `addr` (canonical) reaches this gateway itself.
    fn is_own(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip();
        let local = |ip: IpAddr| {
            classify(ip) == AddressClass::Loopback
                || self.interfaces.iter().any(|&i| canonical_ip(i) == ip)
        };
        self.published
            .iter()
            .any(|p| SocketAddr::new(canonical_ip(p.ip()), p.port()) == addr)
            || self.listeners.iter().any(|l| {
                l.port() == addr.port()
                    && (canonical_ip(l.ip()) == ip || (l.ip().is_unspecified() && local(ip)))
            })
    }

    fn on_network_of(&self, ip: IpAddr) -> bool {
        let range = local_range(ip);
        range.is_some() && self.interfaces.iter().any(|&i| local_range(i) == range)
    }
}

/// Why an address of a record is not dialled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    PortZero,
    /// Never dialled, whatever the config.
    Never(AddressClass),
    /// Private or lab range the gateway is not on, and the config does not allow.
    NotOnNetwork(AddressClass),
    /// Loopback, and the config does not say `dial = "loopback"`.
    LoopbackNotAllowed,
    /// The gateway's own listening or published address.
    Own,
    /// Listed before (in some form) in the same record.
    Duplicate,
    /// Beyond [`MAX_DIAL_ADDRS`].
    OverLimit,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PortZero => f.write_str("port 0"),
            Self::Never(class) => write!(f, "{} address, never dialled", class.describe()),
            Self::NotOnNetwork(class) => write!(
                f,
                "{} address on a network this gateway is not on ([peer] dial)",
                class.describe()
            ),
            Self::LoopbackNotAllowed => f.write_str("loopback, not dialled ([peer] dial)"),
            Self::Own => f.write_str("this gateway's own address"),
            Self::Duplicate => f.write_str("listed twice"),
            Self::OverLimit => write!(f, "only the first {MAX_DIAL_ADDRS} usable are tried"),
        }
    }
}

/// Whether `addr` may be dialled at all: the canonical address to dial, or why not.
pub fn check(addr: SocketAddr, scope: DialScope, host: &Host) -> Result<SocketAddr, Skip> {
    let addr = SocketAddr::new(canonical_ip(addr.ip()), addr.port());
    if addr.port() == 0 {
        return Err(Skip::PortZero);
    }
    let class = classify(addr.ip());
    match class {
        AddressClass::Global | AddressClass::Private | AddressClass::Lab => {}
        AddressClass::Loopback => {}
        never => return Err(Skip::Never(never)),
    }
    if host.is_own(addr) {
        return Err(Skip::Own);
    }
    match class {
        AddressClass::Loopback if scope < DialScope::Loopback => Err(Skip::LoopbackNotAllowed),
        AddressClass::Private | AddressClass::Lab
            if scope < DialScope::Private && !host.on_network_of(addr.ip()) =>
        {
            Err(Skip::NotOnNetwork(class))
        }
        _ => Ok(addr),
    }
}

/// What a dial does with a record's addresses: the ones to try, in the record's order, and
/// the others with the reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DialPlan {
    pub dial: Vec<SocketAddr>,
    pub skipped: Vec<(SocketAddr, Skip)>,
}

impl DialPlan {
    /// Sorts `addrs` out: at most [`MAX_DIAL_ADDRS`] distinct dialable ones are kept.
    pub fn of(addrs: &[SocketAddr], scope: DialScope, host: &Host) -> Self {
        let mut plan = Self::default();
        for &addr in addrs {
            match check(addr, scope, host) {
                Ok(canonical) if plan.dial.contains(&canonical) => {
                    plan.skipped.push((addr, Skip::Duplicate));
                }
                Ok(_) if plan.dial.len() >= MAX_DIAL_ADDRS => {
                    plan.skipped.push((addr, Skip::OverLimit));
                }
                Ok(canonical) => plan.dial.push(canonical),
                Err(skip) => plan.skipped.push((addr, skip)),
            }
        }
        plan
    }

    /// Whether the record lists this gateway's own address.
    pub fn lists_own(&self) -> bool {
        self.skipped.iter().any(|(_, s)| *s == Skip::Own)
    }

    /// "a (why), b (why)": the skipped addresses, for the user; empty when none was.
    pub fn describe_skipped(&self) -> String {
        self.skipped
            .iter()
            .map(|(addr, why)| format!("{addr} ({why})"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Whether an address can stand in a record at all (a reader refuses a record with one
/// that cannot: port 0, unspecified, multicast, broadcast, in any form). Whether this
/// gateway dials it is [`check`]'s business.
pub fn is_well_formed(addr: &SocketAddr) -> bool {
    addr.port() != 0
        && !matches!(
            classify(addr.ip()),
            AddressClass::Unspecified | AddressClass::Multicast | AddressClass::Broadcast
        )
}

#[cfg(test)]
#[path = "address_tests.rs"]
mod tests;
