//! UPnP-IGD through the `igd-next` crate: find the router by SSDP on the LAN, ask it to
//! forward a TCP port to us, and remove that forward. The SOAP and XML are igd-next's.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use igd_next::aio::Gateway;
use igd_next::aio::tokio::Tokio;
use igd_next::{PortMappingProtocol, SearchOptions};

use super::PortmapError;

/// How long the SSDP search waits for a router to answer.
const SEARCH: Duration = Duration::from_secs(3);
/// What the router's list of forwards calls ours.
const DESCRIPTION: &str = "DiSIMS gateway";

/// A router found by SSDP that speaks UPnP-IGD.
pub struct Router {
    gateway: Gateway<Tokio>,
}

impl Router {
    /// Searches the LAN for an IGD router.
    pub async fn find() -> Result<Router, PortmapError> {
        let mut options = SearchOptions::default();
        options.timeout = Some(SEARCH);
        options.single_search_timeout = Some(SEARCH);
        let gateway = igd_next::aio::tokio::search_gateway(options)
            .await
            .map_err(|e| PortmapError::Upnp(e.to_string()))?;
        Ok(Router { gateway })
    }

    /// Forwards TCP `external` on the router to `local` for `lifetime` seconds; returns
    /// the router's external address with that port.
    pub async fn map(
        &self,
        local: SocketAddrV4,
        external: u16,
        lifetime: u32,
    ) -> Result<SocketAddrV4, PortmapError> {
        let ip = self
            .gateway
            .get_external_ip()
            .await
            .map_err(|e| PortmapError::Upnp(e.to_string()))?;
        let IpAddr::V4(ip) = ip else {
            return Err(PortmapError::Upnp("an IPv6 external address".into()));
        };
        self.gateway
            .add_port(
                PortMappingProtocol::TCP,
                external,
                SocketAddr::V4(local),
                lifetime,
                DESCRIPTION,
            )
            .await
            .map_err(|e| PortmapError::Upnp(e.to_string()))?;
        Ok(SocketAddrV4::new(ip, external))
    }

    /// Removes the forward of TCP `external`.
    pub async fn unmap(&self, external: u16) -> Result<(), PortmapError> {
        self.gateway
            .remove_port(PortMappingProtocol::TCP, external)
            .await
            .map_err(|e| PortmapError::Upnp(e.to_string()))
    }
}
