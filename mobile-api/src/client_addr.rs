//! The client's address: the TCP peer, or — only when the peer is a trusted proxy — the
//! rightmost `X-Forwarded-For` address that is not itself a trusted proxy. Sign-in throttling
//! per address keys on it.

use crate::error::ApiError;
use crate::routes::AppState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Most `X-Forwarded-For` entries looked at, from the right; a longer chain is cut there.
pub const FORWARDED_HOPS_MAX: usize = 16;

/// The proxies whose `X-Forwarded-For` is believed (addresses or CIDR ranges).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    /// Parses `10.0.0.0/8`, `::1` or `192.0.2.7` (an address is a one-address range).
    pub fn parse_entry(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        s.parse::<IpNet>()
            .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
            .map_err(|_| format!("invalid trusted proxy {s:?}: expected an ip address or cidr"))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client address of a request from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        // All X-Forwarded-For headers form one list, left (client) to right (nearest proxy).
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev().take(FORWARDED_HOPS_MAX) {
            // What a trusted proxy appended is trusted; anything unreadable ends the walk at
            // the last address a trusted proxy vouched for.
            let Ok(ip) = hop.parse::<IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The client's address (see the module docs); `None` when the server was started without
/// connect info (tests calling the router directly), then only per-account throttling applies.
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The extractor, not the extension, so tests' `MockConnectInfo` works too.
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ConnectInfo(a)| a.ip());
        Ok(ClientAddr(
            peer.map(|p| state.trusted_proxies.client(p, &parts.headers)),
        ))
    }
}

/// Headers by which a proxy says it forwards someone else's request.
const FORWARDING_HEADERS: &[&str] = &["forwarded", "x-forwarded-for", "x-real-ip"];

/// Whether the request comes straight from a process on this host: the TCP peer is a loopback
/// address and no forwarding header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) is present —
/// a reverse proxy on the same host connects from loopback too, but on behalf of anyone, and
/// says so with one of those headers. `false` without connect info.
pub(crate) struct DirectLoopback(pub(crate) bool);

impl FromRequestParts<AppState> for DirectLoopback {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = ConnectInfo::<SocketAddr>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|ConnectInfo(a)| a.ip());
        Ok(DirectLoopback(direct_loopback(peer, &parts.headers)))
    }
}

fn direct_loopback(peer: Option<IpAddr>, headers: &HeaderMap) -> bool {
    peer.is_some_and(|ip| ip.to_canonical().is_loopback())
        && FORWARDING_HEADERS.iter().all(|h| !headers.contains_key(*h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::new(
            list.iter()
                .map(|s| TrustedProxies::parse_entry(s).unwrap())
                .collect(),
        )
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_an_unforwarded_loopback_peer_is_direct() {
        let none = HeaderMap::new();
        assert!(direct_loopback(Some(ip("127.0.0.1")), &none));
        assert!(direct_loopback(Some(ip("::1")), &none));
        assert!(direct_loopback(Some(ip("::ffff:127.0.0.1")), &none));
        assert!(!direct_loopback(Some(ip("192.0.2.7")), &none));
        assert!(!direct_loopback(None, &none));
        assert!(!direct_loopback(
            Some(ip("127.0.0.1")),
            &xff(&["198.51.100.1"])
        ));
        for header in FORWARDING_HEADERS {
            let mut h = HeaderMap::new();
            h.insert(*header, HeaderValue::from_static("for=198.51.100.1"));
            assert!(!direct_loopback(Some(ip("127.0.0.1")), &h), "{header}");
        }
    }

    #[test]
    fn untrusted_peers_forwarded_for_is_ignored() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            p.client(ip("203.0.113.9"), &xff(&["198.51.100.1"])),
            ip("203.0.113.9")
        );
        assert_eq!(
            TrustedProxies::default().client(ip("127.0.0.1"), &xff(&["1.2.3.4"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn rightmost_untrusted_address_behind_trusted_proxies_is_the_client() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.7"]);
        // The client forged a leftmost entry; the proxies appended the real one.
        let h = xff(&["6.6.6.6, 198.51.100.1", "10.1.1.1"]);
        assert_eq!(p.client(ip("192.0.2.7"), &h), ip("198.51.100.1"));
        assert_eq!(
            p.client(ip("10.0.0.2"), &xff(&["198.51.100.1"])),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn trusted_peer_without_or_with_garbage_forwarded_for_is_the_client() {
        let p = proxies(&["10.0.0.1"]);
        assert_eq!(p.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(
            p.client(ip("10.0.0.1"), &xff(&["nonsense"])),
            ip("10.0.0.1")
        );
        // Unreadable left of a real entry: the real one stands.
        assert_eq!(
            p.client(ip("10.0.0.1"), &xff(&["junk, 198.51.100.4"])),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_ranges() {
        let p = proxies(&["127.0.0.1"]);
        assert_eq!(
            p.client(ip("::ffff:127.0.0.1"), &xff(&["198.51.100.1"])),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn entries_parse_as_addresses_or_ranges() {
        assert!(TrustedProxies::parse_entry("10.0.0.0/8").is_ok());
        assert!(TrustedProxies::parse_entry("::1").is_ok());
        assert!(TrustedProxies::parse_entry("fd00::/8").is_ok());
        let err = TrustedProxies::parse_entry("10.0.0.0/33").unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
    }
}
