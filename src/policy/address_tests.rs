//! Tests of the dial rules. The property tests check [`classify`] against an oracle written
//! independently: the special ranges spelled out as numeric (first, last) tables from the
//! RFCs (6890, 1918, 6598, 5737, 2544, 4291, 4193, 3849, 9637), where the implementation
//! uses std's address methods and octet patterns.

use super::*;
use proptest::prelude::*;

/// IPv4 ranges, inclusive, first match wins; anything else is global.
const V4_TABLE: &[(u32, u32, AddressClass)] = &[
    (0x0000_0000, 0x0000_0000, AddressClass::Unspecified),
    (0x0000_0000, 0x00ff_ffff, AddressClass::Reserved),
    (0x0a00_0000, 0x0aff_ffff, AddressClass::Private),
    (0x6440_0000, 0x647f_ffff, AddressClass::SharedCgnat),
    (0x7f00_0000, 0x7fff_ffff, AddressClass::Loopback),
    (0xa9fe_0000, 0xa9fe_ffff, AddressClass::LinkLocal),
    (0xac10_0000, 0xac1f_ffff, AddressClass::Private),
    (0xc000_0000, 0xc000_00ff, AddressClass::Reserved),
    (0xc000_0200, 0xc000_02ff, AddressClass::Lab),
    (0xc058_6300, 0xc058_63ff, AddressClass::Reserved),
    (0xc0a8_0000, 0xc0a8_ffff, AddressClass::Private),
    (0xc612_0000, 0xc613_ffff, AddressClass::Lab),
    (0xc633_6400, 0xc633_64ff, AddressClass::Lab),
    (0xcb00_7100, 0xcb00_71ff, AddressClass::Lab),
    (0xe000_0000, 0xefff_ffff, AddressClass::Multicast),
    (0xffff_ffff, 0xffff_ffff, AddressClass::Broadcast),
    (0xf000_0000, 0xffff_ffff, AddressClass::Reserved),
];

/// IPv6 ranges, inclusive, first match wins; anything else is reserved. (IPv4-mapped
/// addresses are looked up in [`V4_TABLE`] by the oracle before this.)
const V6_TABLE: &[(u128, u128, AddressClass)] = &[
    (0, 0, AddressClass::Unspecified),
    (1, 1, AddressClass::Loopback),
    (0xff00 << 112, u128::MAX, AddressClass::Multicast),
    (0xfe80 << 112, (0xfec0 << 112) - 1, AddressClass::LinkLocal),
    (0xfc00 << 112, (0xfe00 << 112) - 1, AddressClass::Private),
    (
        0x2001_0db8 << 96,
        (0x2001_0db9 << 96) - 1,
        AddressClass::Lab,
    ),
    (
        0x3fff_0000 << 96,
        (0x3fff_1000 << 96) - 1,
        AddressClass::Lab,
    ),
    (
        0x2001_0000 << 96,
        (0x2001_0200 << 96) - 1,
        AddressClass::Reserved,
    ),
    (0x2002 << 112, (0x2003 << 112) - 1, AddressClass::Reserved),
    (0x2000 << 112, (0x4000 << 112) - 1, AddressClass::Global),
];

fn oracle_v4(ip: u32) -> AddressClass {
    V4_TABLE
        .iter()
        .find(|(first, last, _)| (*first..=*last).contains(&ip))
        .map_or(AddressClass::Global, |(_, _, class)| *class)
}

fn oracle(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => oracle_v4(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            if bits >> 32 == 0xffff {
                return oracle_v4(bits as u32);
            }
            V6_TABLE
                .iter()
                .find(|(first, last, _)| (*first..=*last).contains(&bits))
                .map_or(AddressClass::Reserved, |(_, _, class)| *class)
        }
    }
}

/// IPv4 addresses: uniform, or near the edges of a table range (where mistakes hide).
fn any_v4() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (0..V4_TABLE.len(), any::<bool>(), 0u32..4).prop_map(|(i, end, d)| {
            let (first, last, _) = V4_TABLE[i];
            if end {
                last.wrapping_add(d).wrapping_sub(1)
            } else {
                first.wrapping_add(d).wrapping_sub(1)
            }
        }),
    ]
}

fn any_v6() -> impl Strategy<Value = u128> {
    prop_oneof![
        any::<u128>(),
        (0..V6_TABLE.len(), any::<bool>(), 0u128..4, any::<u64>()).prop_map(
            |(i, end, d, noise)| {
                let (first, last, _) = V6_TABLE[i];
                match (end, d) {
                    (_, 3) => first.wrapping_add(u128::from(noise)),
                    (true, d) => last.wrapping_add(d).wrapping_sub(1),
                    (false, d) => first.wrapping_add(d).wrapping_sub(1),
                }
            }
        ),
    ]
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any_v4().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any_v6().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
        // IPv4-mapped IPv6.
        any_v4().prop_map(|v| IpAddr::V6(Ipv4Addr::from(v).to_ipv6_mapped())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn classify_agrees_with_the_range_tables(ip in any_ip()) {
        prop_assert_eq!(classify(ip), oracle(ip), "{}", ip);
    }

    /// With the most permissive scope and no own address, exactly the unicast classes that
    /// the tables allow are dialled; nothing else ever is, mapped or not.
    #[test]
    fn only_allowed_classes_are_ever_dialled(ip in any_ip(), port in any::<u16>(), scope in 0u8..3) {
        let scope = [DialScope::Public, DialScope::Private, DialScope::Loopback][usize::from(scope)];
        let verdict = check(SocketAddr::new(ip, port), scope, &Host::default());
        let allowed = port != 0 && match oracle(ip) {
            AddressClass::Global => true,
            AddressClass::Private | AddressClass::Lab => scope >= DialScope::Private,
            AddressClass::Loopback => scope == DialScope::Loopback,
            _ => false,
        };
        prop_assert_eq!(verdict.is_ok(), allowed, "{} {:?}", ip, verdict);
        if let Ok(dialled) = verdict {
            // What is dialled is the canonical form (never a mapped address).
            prop_assert!(!matches!(dialled.ip(), IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()));
        }
    }
}

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_addresses_of_the_issue_are_refused_by_default() {
    let host = Host::default();
    for (addr, why) in [
        (
            "[::ffff:0.0.0.0]:7667",
            Skip::Never(AddressClass::Unspecified),
        ),
        ("[::ffff:127.0.0.1]:6667", Skip::LoopbackNotAllowed),
        ("127.0.0.1:6667", Skip::LoopbackNotAllowed),
        ("[::1]:6667", Skip::LoopbackNotAllowed),
        ("169.254.169.254:80", Skip::Never(AddressClass::LinkLocal)),
        (
            "[::ffff:169.254.169.254]:80",
            Skip::Never(AddressClass::LinkLocal),
        ),
        ("[fe80::1]:80", Skip::Never(AddressClass::LinkLocal)),
        ("100.64.0.1:80", Skip::Never(AddressClass::SharedCgnat)),
        ("224.0.0.1:80", Skip::Never(AddressClass::Multicast)),
        ("255.255.255.255:80", Skip::Never(AddressClass::Broadcast)),
        ("192.168.1.1:80", Skip::NotOnNetwork(AddressClass::Private)),
        ("[fd00::1]:80", Skip::NotOnNetwork(AddressClass::Private)),
        ("1.2.3.4:0", Skip::PortZero),
    ] {
        assert_eq!(
            check(sock(addr), DialScope::Public, &host),
            Err(why),
            "{addr}"
        );
    }
    assert_eq!(
        check(sock("[::ffff:1.2.3.4]:7667"), DialScope::Public, &host),
        Ok(sock("1.2.3.4:7667"))
    );
    assert!(check(sock("[2a01:4f8::1]:7667"), DialScope::Public, &host).is_ok());
}

#[test]
fn private_ranges_are_dialled_only_where_the_host_has_an_address_in_them() {
    let interfaces = [ip("127.0.0.1"), ip("10.77.0.1"), ip("fd12:3456::1")];
    let host = Host {
        interfaces: &interfaces,
        ..Host::default()
    };
    // On 10/8 and fd00::/8 (inside fc00::/7): those ranges are reachable.
    assert!(check(sock("10.1.2.3:7667"), DialScope::Public, &host).is_ok());
    assert!(check(sock("[::ffff:10.77.0.2]:7667"), DialScope::Public, &host).is_ok());
    assert!(check(sock("[fd99::2]:7667"), DialScope::Public, &host).is_ok());
    // Not on 192.168/16 or 172.16/12, nor on a documentation range.
    for other in ["192.168.0.1:7667", "172.16.0.1:7667", "203.0.113.5:7667"] {
        assert!(matches!(
            check(sock(other), DialScope::Public, &host),
            Err(Skip::NotOnNetwork(_))
        ));
        assert!(check(sock(other), DialScope::Private, &host).is_ok());
    }
    // A lab network (the NAT lab's TEST-NET-3) counts as one the host is on.
    let lab = [ip("203.0.113.1")];
    let host = Host {
        interfaces: &lab,
        ..Host::default()
    };
    assert!(check(sock("203.0.113.9:7667"), DialScope::Public, &host).is_ok());
    assert!(check(sock("198.51.100.9:7667"), DialScope::Public, &host).is_err());
    // Loopback needs the loopback scope, whatever the interfaces.
    assert!(check(sock("127.0.0.2:7667"), DialScope::Private, &host).is_err());
    assert!(check(sock("127.0.0.2:7667"), DialScope::Loopback, &host).is_ok());
}

#[test]
fn our_own_listening_and_published_addresses_are_never_dialled() {
    let interfaces = [ip("127.0.0.1"), ip("192.168.1.20")];
    let listeners = [sock("0.0.0.0:7667"), sock("127.0.0.1:6667")];
    let published = [sock("198.51.100.7:7667")];
    let host = Host {
        interfaces: &interfaces,
        listeners: &listeners,
        published: &published,
    };
    let scope = DialScope::Loopback;
    for own in [
        "127.0.0.1:7667",
        "127.0.0.9:7667",
        "[::ffff:127.0.0.1]:6667",
        "192.168.1.20:7667",
        "198.51.100.7:7667",
        "[::ffff:198.51.100.7]:7667",
    ] {
        assert_eq!(check(sock(own), scope, &host), Err(Skip::Own), "{own}");
    }
    // The same ports elsewhere, and other ports here, are somebody else.
    for other in ["192.168.1.21:7667", "127.0.0.1:7668", "127.0.0.2:6667"] {
        assert!(check(sock(other), scope, &host).is_ok(), "{other}");
    }
}

#[test]
fn a_plan_tries_a_few_distinct_addresses_and_says_what_it_skipped() {
    let listeners = [sock("127.0.0.1:7667")];
    let host = Host {
        listeners: &listeners,
        ..Host::default()
    };
    let mut addrs = vec![
        sock("127.0.0.1:7667"),
        sock("169.254.169.254:80"),
        sock("1.1.1.1:7667"),
        sock("[::ffff:1.1.1.1]:7667"),
    ];
    addrs.extend((2..=7).map(|i| sock(&format!("1.1.1.{i}:7667"))));
    let plan = DialPlan::of(&addrs, DialScope::Public, &host);
    assert_eq!(plan.dial.len(), MAX_DIAL_ADDRS);
    assert_eq!(plan.dial[0], sock("1.1.1.1:7667"));
    assert!(plan.lists_own());
    assert_eq!(plan.skipped.len(), addrs.len() - MAX_DIAL_ADDRS);
    let text = plan.describe_skipped();
    assert!(
        text.contains("127.0.0.1:7667 (this gateway's own address)"),
        "{text}"
    );
    assert!(
        text.contains("169.254.169.254:80 (link-local address, never dialled)"),
        "{text}"
    );
    assert!(
        text.contains("(listed twice)") && text.contains("only the first 4"),
        "{text}"
    );
}

#[test]
fn scopes_parse_from_their_names() {
    for scope in [DialScope::Public, DialScope::Private, DialScope::Loopback] {
        assert_eq!(DialScope::parse(scope.as_str()), Some(scope));
    }
    assert_eq!(DialScope::parse("everything"), None);
}
