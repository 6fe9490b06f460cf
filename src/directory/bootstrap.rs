//! Where the DHT node finds its first peers, and what to tell the user when it finds none.
//!
//! Three sources, in this order: the configured `[dht] bootstrap` names, resolved again on
//! every try through the [`Resolve`] seam (so that a DNS failure at start does not keep the
//! gateway off the DHT until a restart); the nodes of the routing table saved in the data dir
//! by the last run ([`super::nodes_file`]); and, on the public DHT only, [`BUILTIN_NODES`], a
//! short list of node addresses that needs no DNS at all. Pure, except [`SystemResolver`].

use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};

/// Known addresses of long-running public mainline DHT nodes, used (beside the names and the
/// saved nodes) only when `[dht] bootstrap` is the default public list, so that a poisoned or
/// absent DNS does not keep a first run off the DHT.
///
/// Origin: the A records of the default names that other DHT clients ship as their own
/// DNS-free fallback (dht.transmissionbt.com: 87.98.162.88 and 212.129.33.59;
/// router.bittorrent.com: 67.215.246.10; dht.libtorrent.org: 185.157.221.247), as published
/// in 2024-2026. They were not probed from here and will rot: the saved routing table is the
/// main fallback. Tests never use this list (they configure their own bootstrap).
pub const BUILTIN_NODES: [&str; 4] = [
    "87.98.162.88:6881",
    "212.129.33.59:6881",
    "67.215.246.10:6881",
    "185.157.221.247:25401",
];

/// Turns a `host:port` bootstrap entry into IPv4 socket addresses (the DHT is IPv4 only).
/// Called again on every bootstrap try; tests give one that fails first and answers later.
pub trait Resolve: Send + Sync + 'static {
    fn resolve(&self, host_port: &str) -> std::io::Result<Vec<SocketAddrV4>>;
}

/// The system resolver (`getaddrinfo`, blocking: call it off the async runtime).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host_port: &str) -> std::io::Result<Vec<SocketAddrV4>> {
        let addrs: Vec<SocketAddrV4> = host_port
            .to_socket_addrs()?
            .filter_map(|a| match a {
                SocketAddr::V4(v4) => Some(v4),
                SocketAddr::V6(_) => None,
            })
            .collect();
        if addrs.is_empty() {
            return Err(std::io::Error::other("no IPv4 address"));
        }
        Ok(addrs)
    }
}

/// The outcome of resolving the configured names once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Every address found, in the order of the names.
    pub addrs: Vec<SocketAddrV4>,
    /// The names that did not resolve, with the resolver's error.
    pub failures: Vec<(String, String)>,
}

/// Resolves every name; a failure of one does not stop the others.
pub fn resolve_names(names: &[String], resolver: &dyn Resolve) -> Resolved {
    let mut resolved = Resolved::default();
    for name in names {
        match resolver.resolve(name) {
            Ok(addrs) => resolved.addrs.extend(addrs),
            Err(e) => resolved.failures.push((name.clone(), e.to_string())),
        }
    }
    resolved
}

/// The addresses to bootstrap from: resolved names, then saved nodes, then (when `builtin`)
/// [`BUILTIN_NODES`]; each address once, unusable ones (port 0, unspecified) left out.
pub fn candidates(resolved: &Resolved, saved: &[SocketAddrV4], builtin: bool) -> Vec<SocketAddrV4> {
    let builtin_nodes = BUILTIN_NODES
        .iter()
        .filter(|_| builtin)
        .filter_map(|s| s.parse::<SocketAddrV4>().ok());
    let mut out: Vec<SocketAddrV4> = Vec::new();
    for addr in resolved
        .addrs
        .iter()
        .chain(saved)
        .copied()
        .chain(builtin_nodes)
    {
        if usable(&addr) && !out.contains(&addr) {
            out.push(addr);
        }
    }
    out
}

/// Whether a node address can be sent to at all.
pub fn usable(addr: &SocketAddrV4) -> bool {
    addr.port() != 0
        && !addr.ip().is_unspecified()
        && !addr.ip().is_multicast()
        && !addr.ip().is_broadcast()
}

/// What is wrong when the routing table stays empty, in words for the log and `&disims`.
/// `tried`: how many bootstrap addresses the node was given.
pub fn problem(resolved: &Resolved, tried: usize) -> String {
    let dns = resolved.failures.first().map(|(name, error)| {
        let more = match resolved.failures.len() - 1 {
            0 => String::new(),
            1 => " (and 1 more name)".to_string(),
            n => format!(" (and {n} more names)"),
        };
        format!("DNS failed for {name}: {error}{more}")
    });
    match (tried, dns) {
        (0, Some(dns)) => format!("DHT unreachable: {dns}"),
        (0, None) => "DHT unreachable: no bootstrap node configured".to_string(),
        (n, None) => format!(
            "DHT unreachable: no bootstrap node answered (tried {})",
            addresses(n)
        ),
        (n, Some(dns)) => format!(
            "DHT unreachable: no bootstrap node answered (tried {}); {dns}",
            addresses(n)
        ),
    }
}

fn addresses(n: usize) -> String {
    if n == 1 {
        "1 address".to_string()
    } else {
        format!("{n} addresses")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Table(Mutex<Vec<(&'static str, Result<&'static str, &'static str>)>>);

    impl Resolve for Table {
        fn resolve(&self, host_port: &str) -> std::io::Result<Vec<SocketAddrV4>> {
            let table = self.0.lock().unwrap();
            match table.iter().find(|(name, _)| *name == host_port) {
                Some((_, Ok(addr))) => Ok(vec![addr.parse().unwrap()]),
                Some((_, Err(e))) => Err(std::io::Error::other(*e)),
                None => Err(std::io::Error::other("unknown")),
            }
        }
    }

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_failing_name_does_not_stop_the_others() {
        let resolver = Table(Mutex::new(vec![
            ("a:1", Err("timed out")),
            ("b:2", Ok("192.0.2.2:2")),
        ]));
        let resolved = resolve_names(&names(&["a:1", "b:2"]), &resolver);
        assert_eq!(resolved.addrs, vec!["192.0.2.2:2".parse().unwrap()]);
        assert_eq!(
            resolved.failures,
            vec![("a:1".to_string(), "timed out".to_string())]
        );
    }

    #[test]
    fn candidates_are_names_then_saved_then_builtin_without_duplicates() {
        let resolved = Resolved {
            addrs: vec!["192.0.2.1:1".parse().unwrap()],
            failures: vec![],
        };
        let saved = [
            "192.0.2.1:1".parse().unwrap(),
            "192.0.2.3:3".parse().unwrap(),
            "0.0.0.0:5".parse().unwrap(),
            "192.0.2.4:0".parse().unwrap(),
        ];
        let without = candidates(&resolved, &saved, false);
        assert_eq!(
            without,
            vec![
                "192.0.2.1:1".parse().unwrap(),
                "192.0.2.3:3".parse().unwrap()
            ]
        );
        let with = candidates(&resolved, &saved, true);
        assert_eq!(with.len(), 2 + BUILTIN_NODES.len());
        assert_eq!(with[2], BUILTIN_NODES[0].parse().unwrap());
    }

    #[test]
    fn the_problem_names_the_cause() {
        let dns = Resolved {
            addrs: vec![],
            failures: vec![
                ("router.bittorrent.com:6881".into(), "no such host".into()),
                ("dht.libtorrent.org:25401".into(), "no such host".into()),
            ],
        };
        assert_eq!(
            problem(&dns, 0),
            "DHT unreachable: DNS failed for router.bittorrent.com:6881: no such host \
             (and 1 more name)"
        );
        assert_eq!(
            problem(&Resolved::default(), 3),
            "DHT unreachable: no bootstrap node answered (tried 3 addresses)"
        );
        assert!(problem(&dns, 2).starts_with(
            "DHT unreachable: no bootstrap node answered (tried 2 addresses); DNS failed for"
        ));
        assert_eq!(
            problem(&Resolved::default(), 0),
            "DHT unreachable: no bootstrap node configured"
        );
    }

    #[test]
    fn the_builtin_list_parses() {
        for node in BUILTIN_NODES {
            let addr: SocketAddrV4 = node.parse().unwrap();
            assert!(usable(&addr), "{node}");
        }
    }
}
