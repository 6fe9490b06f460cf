//! Port mapping on the home router (issue 13): ask the default gateway to forward a public
//! TCP port to our peer port, keep the mapping alive, remove it on shutdown, and tell the
//! publisher the mapped external address (published only while the mapping exists).
//!
//! Protocols: PCP (RFC 6887, [`pcp`]) first, then NAT-PMP (RFC 6886, [`natpmp`]), its
//! predecessor, on the same port 5351 of the default gateway, then UPnP-IGD ([`upnp`],
//! through igd-next: an SSDP search of the LAN); the one that answered is kept for
//! renewals and the removal.

pub mod gateway;
pub mod natpmp;
pub mod pcp;
pub mod upnp;

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
    #[error("the router did not answer PCP or NAT-PMP")]
    NoAnswer,
    #[error("the router refused: {0}")]
    Refused(&'static str),
    #[error(
        "the router's external address {0} is not public: another NAT is in front of it \
         (a carrier's, or a second router)"
    )]
    NotPublic(Ipv4Addr),
    #[error("UPnP: {0}")]
    Upnp(String),
    #[error("{port_control}; UPnP: {upnp}")]
    NoProtocol { port_control: String, upnp: String },
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
}

/// A mapping the router granted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// "PCP", "NAT-PMP" or "UPnP".
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

/// The protocols, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    Pcp,
    NatPmp,
    Upnp,
}

/// A PCP / NAT-PMP client of one router.
pub struct Client {
    router: SocketAddrV4,
    /// PCP's nonce: renewals and the removal must repeat it.
    nonce: [u8; 12],
    /// The protocol that granted our mapping (None: none yet).
    protocol: Option<Protocol>,
    /// The UPnP-IGD router, once found (it is found again when it stops answering).
    upnp: Option<upnp::Router>,
}

impl Client {
    /// A client of the router at `router` (its PCP / NAT-PMP port).
    pub fn new(router: SocketAddrV4) -> Client {
        Client {
            router,
            nonce: crate::identity::random_bytes().unwrap_or([0x5a; 12]),
            protocol: None,
            upnp: None,
        }
    }

    /// Our address as the router sees it (the source of our requests), which PCP carries.
    async fn local_ip(&self) -> Result<Ipv4Addr, PortmapError> {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        socket.connect(self.router).await?;
        match socket.local_addr()? {
            std::net::SocketAddr::V4(a) => Ok(*a.ip()),
            std::net::SocketAddr::V6(_) => Err(PortmapError::NoGateway),
        }
    }

    /// This client asks over NAT-PMP only (for tests of that protocol against real routers).
    pub fn natpmp_only(mut self) -> Client {
        self.protocol = Some(Protocol::NatPmp);
        self
    }

    /// This client asks over UPnP-IGD only (for tests of that protocol against real routers).
    pub fn upnp_only(mut self) -> Client {
        self.protocol = Some(Protocol::Upnp);
        self
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
        let mut buf = [0u8; 1100];
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
    /// one it picks: over PCP, else NAT-PMP (or over the one that worked before).
    pub async fn map(&mut self, port: u16) -> Result<Mapping, PortmapError> {
        if self.protocol == Some(Protocol::Upnp) {
            return match self.map_upnp(port).await {
                Ok(m) => self.check_public(port, m).await,
                Err(e) => {
                    (self.protocol, self.upnp) = (None, None);
                    Err(e)
                }
            };
        }
        let pcp = match self.protocol {
            Some(Protocol::NatPmp) => None,
            _ => Some(self.map_pcp(port).await),
        };
        let result = match pcp {
            Some(Ok(m)) => {
                self.protocol = Some(Protocol::Pcp);
                Ok(m)
            }
            // Keep PCP's reason when NAT-PMP has none better (no answer at all).
            Some(Err(pcp_error)) => match self.map_natpmp(port).await {
                Err(PortmapError::NoAnswer) => Err(pcp_error),
                other => other,
            },
            None => self.map_natpmp(port).await,
        };
        match result {
            Ok(m) => {
                if m.protocol == "NAT-PMP" {
                    self.protocol = Some(Protocol::NatPmp);
                }
                self.check_public(port, m).await
            }
            // Neither PCP nor NAT-PMP: UPnP-IGD, the most common on home routers.
            Err(e) => match self.map_upnp(port).await {
                Ok(m) => {
                    self.protocol = Some(Protocol::Upnp);
                    self.check_public(port, m).await
                }
                Err(upnp) => {
                    (self.protocol, self.upnp) = (None, None);
                    let upnp = match upnp {
                        PortmapError::Upnp(text) => text,
                        other => other.to_string(),
                    };
                    Err(PortmapError::NoProtocol {
                        port_control: e.to_string(),
                        upnp,
                    })
                }
            },
        }
    }

    async fn map_upnp(&mut self, port: u16) -> Result<Mapping, PortmapError> {
        let local = SocketAddrV4::new(self.local_ip().await?, port);
        if self.upnp.is_none() {
            self.upnp = Some(upnp::Router::find().await?);
        }
        let router = self.upnp.as_ref().ok_or(PortmapError::NoAnswer)?;
        let lifetime = u32::try_from(LIFETIME.as_secs()).unwrap_or(u32::MAX);
        let external = router.map(local, port, lifetime).await?;
        Ok(Mapping {
            protocol: "UPnP",
            external,
            lifetime: LIFETIME,
        })
    }

    /// A mapping to an address nobody on the internet reaches is removed, not published.
    async fn check_public(&mut self, port: u16, m: Mapping) -> Result<Mapping, PortmapError> {
        if m.external.port() == 0 {
            return Err(PortmapError::Refused("no external port"));
        }
        if !is_publishable(*m.external.ip()) {
            let _ = self.unmap(port).await;
            self.protocol = None;
            return Err(PortmapError::NotPublic(*m.external.ip()));
        }
        Ok(m)
    }

    async fn map_pcp(&self, port: u16) -> Result<Mapping, PortmapError> {
        let lifetime = u32::try_from(LIFETIME.as_secs()).unwrap_or(u32::MAX);
        let request =
            pcp::map_tcp_request(self.local_ip().await?, self.nonce, port, port, lifetime);
        let nonce = self.nonce;
        let (external, granted) = self
            .ask(&request, |r| pcp::parse_map_tcp(r, nonce, port))
            .await?;
        Ok(Mapping {
            protocol: "PCP",
            external,
            lifetime: Duration::from_secs(u64::from(granted)),
        })
    }

    async fn map_natpmp(&self, port: u16) -> Result<Mapping, PortmapError> {
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
        Ok(Mapping {
            protocol: "NAT-PMP",
            external: SocketAddrV4::new(ip, external),
            lifetime: Duration::from_secs(u64::from(granted)),
        })
    }

    /// Removes our mapping of TCP `port` (over the protocol that made it).
    pub async fn unmap(&self, port: u16) -> Result<(), PortmapError> {
        match self.protocol {
            Some(Protocol::Pcp) => {
                let request = pcp::map_tcp_request(self.local_ip().await?, self.nonce, port, 0, 0);
                let nonce = self.nonce;
                self.ask(&request, |r| pcp::parse_map_tcp(r, nonce, port))
                    .await
                    .map(|_| ())
            }
            Some(Protocol::Upnp) => match &self.upnp {
                Some(router) => router.unmap(port).await,
                None => Ok(()),
            },
            _ => self
                .ask(&natpmp::map_tcp_request(port, 0, 0), natpmp::parse_map_tcp)
                .await
                .map(|_| ()),
        }
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

/// Whether a host with these interface addresses needs a mapping: not when it has a
/// public IPv4 address itself (a VPS, a server: nothing to map, no router to bother).
pub fn needed(interfaces: &[std::net::IpAddr]) -> bool {
    use crate::policy::address::{AddressClass, classify};
    !interfaces
        .iter()
        .any(|ip| ip.is_ipv4() && classify(*ip) == AddressClass::Global)
}

/// The host's interface addresses now (none when they cannot be read).
pub fn interface_addresses() -> Vec<std::net::IpAddr> {
    if_addrs::get_if_addrs()
        .map(|all| all.iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
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
        let result = match &mut client {
            Some(c) => Ok(c),
            None => Client::for_default_gateway().map(|c| client.insert(c)),
        };
        let result = match result {
            // An attempt can take seconds (three protocols): shutdown does not wait for it.
            Ok(c) => tokio::select! {
                _ = shutdown.cancelled() => break,
                r = c.map(port) => r,
            },
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
    fn a_host_with_a_public_ipv4_address_maps_nothing() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(needed(&[ip("127.0.0.1"), ip("192.168.1.20")]));
        assert!(
            needed(&[ip("10.1.0.10"), ip("2001:4860::1")]),
            "IPv6 only is public"
        );
        assert!(needed(&[]));
        assert!(!needed(&[ip("127.0.0.1"), ip("8.8.4.4")]));
    }

    #[test]
    fn mappings_are_renewed_at_half_their_lifetime() {
        assert_eq!(renew_after(LIFETIME), Duration::from_secs(3600));
        assert_eq!(renew_after(Duration::ZERO), Duration::from_secs(1));
    }

    /// A fake NAT-PMP-only router on loopback: PCP gets "unsupported version", then the
    /// external-address and mapping requests are answered; the client maps over NAT-PMP,
    /// then unmaps over NAT-PMP.
    #[tokio::test]
    async fn a_natpmp_mapping_is_asked_for_and_removed() {
        let router = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(addr) = router.local_addr().unwrap() else {
            unreachable!()
        };
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 64];
            for _ in 0..4 {
                let (n, from) = router.recv_from(&mut buf).await.unwrap();
                seen.push(buf[..n].to_vec());
                let reply: Vec<u8> = if buf[0] == 2 {
                    vec![0, 129, 0, 1, 0, 0, 0, 1]
                } else if buf[1] == 0 {
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
        let mut client = Client::new(addr);
        let m = client.map(7667).await.unwrap();
        assert_eq!(m.protocol, "NAT-PMP");
        assert_eq!(m.external, "198.51.100.7:7667".parse().unwrap());
        assert_eq!(m.lifetime, LIFETIME);
        client.unmap(7667).await.unwrap();
        let seen = server.await.unwrap();
        assert_eq!(seen[0][0], 2, "PCP first");
        assert_eq!(seen[3], natpmp::map_tcp_request(7667, 0, 0));
    }

    /// A fake PCP router grants the mapping (on another port); renewal and removal repeat
    /// the nonce.
    #[tokio::test]
    async fn a_pcp_mapping_is_asked_for_renewed_and_removed() {
        let router = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let SocketAddr::V4(addr) = router.local_addr().unwrap() else {
            unreachable!()
        };
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 128];
            for _ in 0..3 {
                let (n, from) = router.recv_from(&mut buf).await.unwrap();
                let mut reply = buf[..n].to_vec();
                seen.push(reply.clone());
                reply[1] |= 0x80;
                reply[42..44].copy_from_slice(&7668u16.to_be_bytes());
                reply[44..60]
                    .copy_from_slice(&Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped().octets());
                router.send_to(&reply, from).await.unwrap();
            }
            seen
        });
        let mut client = Client::new(addr);
        let m = client.map(7667).await.unwrap();
        assert_eq!(m.protocol, "PCP");
        assert_eq!(m.external, "198.51.100.7:7668".parse().unwrap());
        assert_eq!(client.map(7667).await.unwrap(), m, "renewed");
        client.unmap(7667).await.unwrap();
        let seen = server.await.unwrap();
        assert_eq!(seen[0][24..36], seen[2][24..36], "the same nonce");
        assert_eq!(seen[2][4..8], [0, 0, 0, 0], "lifetime 0 removes");
        assert_eq!(
            seen[0][8..24],
            Ipv4Addr::LOCALHOST.to_ipv6_mapped().octets()
        );
    }
}
