//! Port mapping on the home router (issue 13): ask the default gateway to forward a public
//! TCP port to our peer port, keep the mapping alive, remove it on shutdown, and tell the
//! publisher the mapped external address (published only while the mapping exists).
//!
//! Protocols: NAT-PMP (RFC 6886, [`natpmp`]) for now; PCP and UPnP-IGD are still to come
//! (miniupnpd and most home routers speak NAT-PMP or PCP on the same port 5351).

pub mod gateway;
pub mod natpmp;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// The lifetime we ask for: RFC 6886 recommends two hours.
pub const LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);
/// After a failure (no router answers, or it refuses), ask again this long after: a
/// router that comes up later, or whose WAN comes up later, is found within minutes.
pub const RETRY: Duration = Duration::from_secs(5 * 60);
/// The first wait for an answer; doubled per retry ([`TRIES`] tries: 0.25 + 0.5 + 1 + 2 s).
const FIRST_WAIT: Duration = Duration::from_millis(250);
const TRIES: u32 = 4;

/// What can go wrong while asking for a mapping.
#[derive(Debug, thiserror::Error)]
pub enum PortmapError {
    #[error("no default gateway to ask")]
    NoGateway,
    #[error("the router did not answer NAT-PMP")]
    NoAnswer,
    #[error("the router refused: {0}")]
    Refused(&'static str),
    #[error(
        "the router's external address {0} is not public: another NAT is in front of it \
         (a carrier's, or a second router)"
    )]
    NotPublic(Ipv4Addr),
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// A mapping the router granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// "NAT-PMP" (later "PCP", "UPnP").
    pub protocol: &'static str,
    /// Where the internet reaches our peer port.
    pub external: SocketAddrV4,
    /// How long the router keeps it unless renewed.
    pub lifetime: Duration,
}

/// Where the port mapping stands, for the publisher and `status`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum State {
    /// Not asked for yet (or mapping is off).
    #[default]
    Idle,
    /// The router granted this mapping; it is renewed.
    Mapped(Mapping),
    /// No mapping, and why (asked again every [`RETRY`]).
    Failed(String),
}

impl State {
    /// The mapping, while there is one.
    pub fn mapped(&self) -> Option<&Mapping> {
        match self {
            State::Mapped(m) => Some(m),
            _ => None,
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Idle => write!(f, "Port mapping: not asked for"),
            State::Mapped(m) => write!(
                f,
                "Port mapping: {} on the router, reachable at {}",
                m.protocol, m.external
            ),
            State::Failed(why) => write!(f, "Port mapping: none ({why})"),
        }
    }
}

/// A NAT-PMP client of one router.
pub struct Client {
    router: SocketAddrV4,
}

impl Client {
    /// A client of the router at `router` (its NAT-PMP port).
    pub fn new(router: SocketAddrV4) -> Client {
        Client { router }
    }

    /// A client of this host's default gateway.
    pub fn for_default_gateway() -> Result<Client, PortmapError> {
        let gateway = gateway::default_gateway().ok_or(PortmapError::NoGateway)?;
        Ok(Client::new(SocketAddrV4::new(gateway, natpmp::SERVER_PORT)))
    }

    /// Sends `request` and waits for an answer that `parse` accepts, retrying as RFC 6886
    /// says (doubling waits).
    async fn ask<T>(
        &self,
        request: &[u8],
        parse: impl Fn(&[u8]) -> Result<T, PortmapError>,
    ) -> Result<T, PortmapError> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        socket.connect(self.router).await?;
        let mut wait = FIRST_WAIT;
        let mut buf = [0u8; 64];
        for _ in 0..TRIES {
            socket.send(request).await?;
            let deadline = tokio::time::Instant::now() + wait;
            loop {
                match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                    Err(_) => break,
                    // ICMP port unreachable: no NAT-PMP server there.
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        return Err(PortmapError::NoAnswer);
                    }
                    Ok(Err(e)) => return Err(e.into()),
                    Ok(Ok(n)) => match parse(&buf[..n]) {
                        Err(PortmapError::Malformed(_)) => continue,
                        other => return other,
                    },
                }
            }
            wait *= 2;
        }
        Err(PortmapError::NoAnswer)
    }

    /// Maps TCP `port` (ours) to the same external port if the router agrees, else to the
    /// one it picks.
    pub async fn map(&self, port: u16) -> Result<Mapping, PortmapError> {
        let ip = self
            .ask(&natpmp::external_address_request(), |r| {
                natpmp::parse_external_address(r)
            })
            .await?;
        let lifetime = u32::try_from(LIFETIME.as_secs()).unwrap_or(u32::MAX);
        let request = natpmp::map_tcp_request(port, port, lifetime);
        let (_, external, granted) = self
            .ask(&request, |r| {
                natpmp::parse_map_tcp(r).and_then(|m| {
                    if m.0 == port {
                        Ok(m)
                    } else {
                        Err(PortmapError::Malformed("a mapping of another port"))
                    }
                })
            })
            .await?;
        if external == 0 {
            return Err(PortmapError::Refused("no external port"));
        }
        if !is_publishable(ip) {
            // Not worth keeping: nobody on the internet reaches it.
            let _ = self.unmap(port).await;
            return Err(PortmapError::NotPublic(ip));
        }
        Ok(Mapping {
            protocol: "NAT-PMP",
            external: SocketAddrV4::new(ip, external),
            lifetime: Duration::from_secs(u64::from(granted)),
        })
    }

    /// Removes our mapping of TCP `port`.
    pub async fn unmap(&self, port: u16) -> Result<(), PortmapError> {
        self.ask(&natpmp::map_tcp_request(port, 0, 0), natpmp::parse_map_tcp)
            .await
            .map(|_| ())
    }
}

/// Whether a router's external address is worth publishing: a public one (or a lab's
/// documentation range); not a private or carrier-grade NAT address, which means another
/// NAT sits between the router and the internet (double NAT).
pub fn is_publishable(ip: Ipv4Addr) -> bool {
    use crate::policy::address::{AddressClass, classify};
    matches!(
        classify(std::net::IpAddr::V4(ip)),
        AddressClass::Global | AddressClass::Lab
    )
}

/// When to renew a mapping granted for `lifetime`: at half of it (RFC 6886), at least a
/// second from now.
pub fn renew_after(lifetime: Duration) -> Duration {
    (lifetime / 2).max(Duration::from_secs(1))
}

/// Keeps TCP `port` mapped on the default gateway until `shutdown`, then removes the
/// mapping. `state` says where it stands; the log says what happened, once per change.
pub async fn run(port: u16, state: watch::Sender<State>, shutdown: CancellationToken) {
    let mut client = None;
    loop {
        let result = match &client {
            Some(c) => Ok(c),
            None => Client::for_default_gateway().map(|c| &*client.insert(c)),
        };
        let result = match result {
            Ok(c) => c.map(port).await,
            Err(e) => Err(e),
        };
        let (next, wait) = match result {
            Ok(m) => {
                let wait = renew_after(m.lifetime);
                (State::Mapped(m), wait)
            }
            Err(e) => {
                client = None;
                (State::Failed(e.to_string()), RETRY)
            }
        };
        if *state.borrow() != next {
            tracing::info!("{next}");
        }
        state.send_replace(next);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    if state.borrow().mapped().is_some() {
        if let Some(c) = client {
            match c.unmap(port).await {
                Ok(()) => tracing::info!("Port mapping: removed from the router"),
                Err(e) => tracing::warn!("Port mapping: could not remove it: {e}"),
            }
        }
        state.send_replace(State::Idle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn only_a_public_external_address_is_published() {
        assert!(is_publishable(Ipv4Addr::new(198, 51, 100, 7)));
        assert!(is_publishable(Ipv4Addr::new(8, 8, 4, 4)));
        for behind_another_nat in [
            Ipv4Addr::new(100, 64, 3, 4),
            Ipv4Addr::new(192, 168, 1, 2),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::UNSPECIFIED,
        ] {
            assert!(!is_publishable(behind_another_nat), "{behind_another_nat}");
        }
    }

    #[test]
    fn mappings_are_renewed_at_half_their_lifetime() {
        assert_eq!(renew_after(LIFETIME), Duration::from_secs(3600));
        assert_eq!(renew_after(Duration::ZERO), Duration::from_secs(1));
    }

    /// A fake router on loopback answers the external-address and mapping requests; the
    /// client maps, then unmaps.
    #[tokio::test]
    async fn a_mapping_is_asked_for_and_removed() {
        let router = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(addr) = router.local_addr().unwrap() else {
            unreachable!()
        };
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 64];
            for _ in 0..3 {
                let (n, from) = router.recv_from(&mut buf).await.unwrap();
                seen.push(buf[..n].to_vec());
                let reply: Vec<u8> = if buf[1] == 0 {
                    vec![0, 128, 0, 0, 0, 0, 0, 1, 198, 51, 100, 7]
                } else {
                    let mut r = vec![0, 130, 0, 0, 0, 0, 0, 1];
                    r.extend_from_slice(&buf[4..6]);
                    r.extend_from_slice(&buf[6..8]);
                    r.extend_from_slice(&buf[8..12]);
                    r
                };
                router.send_to(&reply, from).await.unwrap();
            }
            seen
        });
        let client = Client::new(addr);
        let m = client.map(7667).await.unwrap();
        assert_eq!(m.external, "198.51.100.7:7667".parse().unwrap());
        assert_eq!(m.lifetime, LIFETIME);
        client.unmap(7667).await.unwrap();
        let seen = server.await.unwrap();
        assert_eq!(seen[2], natpmp::map_tcp_request(7667, 0, 0));
    }
}
