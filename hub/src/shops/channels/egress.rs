//! Where a shop's channel may connect: shops name their own API base URL, so without a check a
//! tenant could point the hub at its own network (loopback services, the LAN, the cloud's
//! metadata endpoint) and read the answers back through the shop's health or orders.
//!
//! [`ShopUrlPolicy`] decides per IP address. It is applied on every connection, after DNS
//! resolution, by the resolver the channel's HTTP client uses ([`PolicyResolver`]: a name that
//! resolves only to refused addresses fails, refused addresses are dropped from the rest, so DNS
//! rebinding gains nothing); IP-literal URLs, which skip the resolver, are checked before each
//! request and at every redirect; redirects to another origin are never followed (a redirect
//! would carry the shop's token header along). The hub's API also refuses an IP-literal URL in a
//! refused range when a shop is bound or changed.
//!
//! Refused unless allowed: loopback, private (RFC 1918, fc00::/7, fec0::/10), link-local,
//! shared (CGNAT 100.64.0.0/10) and reserved ranges — allowed by `--allow-private-shop-urls` or
//! by an `--allow-shop-cidr` that contains the address; cloud metadata addresses — allowed only by
//! an `--allow-shop-cidr` that contains them; unspecified, multicast and broadcast — never.
//! IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address
//! they carry.

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::LazyLock;

/// Which addresses a shop's channel may connect to. The default refuses every non-public one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShopUrlPolicy {
    /// Allow loopback, private, link-local, shared and reserved addresses
    /// (`xt-hub serve --allow-private-shop-urls`): for a platform stand-in or an on-premises
    /// service on a private network. Metadata addresses stay refused.
    pub allow_private: bool,
    /// Ranges allowed whatever their class (`--allow-shop-cidr`, repeatable), metadata included;
    /// unspecified, multicast and broadcast addresses stay refused.
    pub allowed: Vec<IpNet>,
}

/// Why an address is not a public one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    Unspecified,
    Loopback,
    /// RFC 1918.
    Private,
    /// 100.64.0.0/10, carrier-grade NAT.
    Shared,
    LinkLocal,
    /// fc00::/7 and the deprecated site-local fec0::/10.
    UniqueLocal,
    /// A cloud's instance metadata service (169.254.169.254, fd00:ec2::254, 100.100.100.200, …).
    Metadata,
    Multicast,
    Broadcast,
    /// Reserved, documentation, benchmarking and tunnelling ranges: never a platform's address.
    Reserved,
}

impl AddressClass {
    fn as_str(self) -> &'static str {
        match self {
            AddressClass::Unspecified => "an unspecified",
            AddressClass::Loopback => "a loopback",
            AddressClass::Private => "a private",
            AddressClass::Shared => "a shared (CGNAT)",
            AddressClass::LinkLocal => "a link-local",
            AddressClass::UniqueLocal => "a unique-local",
            AddressClass::Metadata => "a cloud metadata",
            AddressClass::Multicast => "a multicast",
            AddressClass::Broadcast => "a broadcast",
            AddressClass::Reserved => "a reserved",
        }
    }

    /// Whether `--allow-private-shop-urls` lifts the refusal.
    fn lifted_by_allow_private(self) -> bool {
        matches!(
            self,
            AddressClass::Loopback
                | AddressClass::Private
                | AddressClass::Shared
                | AddressClass::LinkLocal
                | AddressClass::UniqueLocal
                | AddressClass::Reserved
        )
    }

    /// Whether an `--allow-shop-cidr` containing the address lifts the refusal.
    fn lifted_by_cidr(self) -> bool {
        !matches!(
            self,
            AddressClass::Unspecified | AddressClass::Multicast | AddressClass::Broadcast
        )
    }
}

/// Special ranges, most specific first (the first match decides).
const SPECIAL: &[(&str, AddressClass)] = &[
    ("169.254.169.254/32", AddressClass::Metadata),
    ("169.254.170.2/32", AddressClass::Metadata),
    ("100.100.100.200/32", AddressClass::Metadata),
    ("fd00:ec2::254/128", AddressClass::Metadata),
    ("255.255.255.255/32", AddressClass::Broadcast),
    ("0.0.0.0/8", AddressClass::Unspecified),
    ("127.0.0.0/8", AddressClass::Loopback),
    ("10.0.0.0/8", AddressClass::Private),
    ("172.16.0.0/12", AddressClass::Private),
    ("192.168.0.0/16", AddressClass::Private),
    ("100.64.0.0/10", AddressClass::Shared),
    ("169.254.0.0/16", AddressClass::LinkLocal),
    ("192.0.0.0/24", AddressClass::Reserved),
    ("192.0.2.0/24", AddressClass::Reserved),
    ("192.88.99.0/24", AddressClass::Reserved),
    ("198.18.0.0/15", AddressClass::Reserved),
    ("198.51.100.0/24", AddressClass::Reserved),
    ("203.0.113.0/24", AddressClass::Reserved),
    ("224.0.0.0/4", AddressClass::Multicast),
    ("240.0.0.0/4", AddressClass::Reserved),
    ("::/128", AddressClass::Unspecified),
    ("::1/128", AddressClass::Loopback),
    ("64:ff9b:1::/48", AddressClass::UniqueLocal),
    ("100::/64", AddressClass::Reserved),
    ("2001::/32", AddressClass::Reserved),
    ("2001:db8::/32", AddressClass::Reserved),
    ("fc00::/7", AddressClass::UniqueLocal),
    ("fe80::/10", AddressClass::LinkLocal),
    ("fec0::/10", AddressClass::UniqueLocal),
    ("ff00::/8", AddressClass::Multicast),
];

static SPECIAL_NETS: LazyLock<Vec<(IpNet, AddressClass)>> = LazyLock::new(|| {
    SPECIAL
        .iter()
        .map(|(net, class)| (net.parse().expect("a valid special range"), *class))
        .collect()
});

/// The IPv4 address an IPv6 address carries, for the forms that reach IPv4 hosts: IPv4-mapped
/// (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) and 6to4
/// (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        // `::` and `::1` are IPv6's own unspecified and loopback addresses.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(tail()),
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
    }
}

/// Parses an `--allow-shop-cidr` entry: `10.1.0.0/16`, or one address (`192.0.2.7`, `::1`).
pub fn parse_cidr(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("invalid shop cidr {s:?}: expected an ip address or a cidr"))
}

/// The class of a non-public address; `None` for a public one.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    let ip = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    SPECIAL_NETS
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map(|(_, class)| *class)
}

/// A connection the policy refused: the reason a shop's health shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `host` is the name or IP literal the URL gave, `ip` what it resolved to.
    #[error("{} address the hub does not connect to for shops (an operator may allow it with \
             `xt-hub serve --allow-private-shop-urls` or `--allow-shop-cidr`)",
            which(host, ip, *class))]
    Address {
        host: String,
        ip: IpAddr,
        class: AddressClass,
    },
    /// Only the origins: a full URL could carry a signature or a token.
    #[error(
        "the platform redirected from {from} to {to}: redirects to another host are not followed"
    )]
    CrossOrigin { from: String, to: String },
    #[error("the platform redirected more than {} times", REDIRECTS_MAX)]
    TooManyRedirects,
}

/// `"10.0.0.7 is a private"`, `"localhost resolves to 127.0.0.1, a loopback"`.
fn which(host: &str, ip: &IpAddr, class: AddressClass) -> String {
    if *host == ip.to_string() {
        format!("{host} is {}", class.as_str())
    } else {
        format!("{host} resolves to {ip}, {}", class.as_str())
    }
}

/// Redirects followed within one origin.
pub const REDIRECTS_MAX: usize = 5;

impl ShopUrlPolicy {
    /// Whether the channel may connect to `ip`; else its class.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), AddressClass> {
        let Some(class) = classify(ip) else {
            return Ok(());
        };
        let canonical = ip.to_canonical();
        let listed = self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical));
        if (listed && class.lifted_by_cidr())
            || (self.allow_private && class.lifted_by_allow_private())
        {
            Ok(())
        } else {
            Err(class)
        }
    }

    /// Checks the host of `url` if it is an IP literal (names are checked when they resolve).
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        let ip = match url.host() {
            Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
            _ => return Ok(()),
        };
        self.check_ip(ip).map_err(|class| Refused::Address {
            host: ip.to_string(),
            ip,
            class,
        })
    }

    /// The redirect policy of a channel's client: within the same origin only, at most
    /// [`REDIRECTS_MAX`] times, each target checked like the first URL.
    pub fn redirects(&self) -> reqwest::redirect::Policy {
        let policy = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            let first = attempt.previous().first().map(url::Url::origin);
            let to = attempt.url().origin();
            if attempt.previous().len() > REDIRECTS_MAX {
                return attempt.error(Refused::TooManyRedirects);
            }
            if let Some(from) = first.filter(|from| *from != to) {
                let refused = Refused::CrossOrigin {
                    from: from.ascii_serialization(),
                    to: to.ascii_serialization(),
                };
                return attempt.error(refused);
            }
            match policy.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        })
    }

    /// The resolver of a channel's client.
    pub fn resolver(&self) -> std::sync::Arc<PolicyResolver> {
        std::sync::Arc::new(PolicyResolver {
            policy: self.clone(),
        })
    }
}

/// Resolves with the system resolver and keeps only the addresses the policy allows.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: ShopUrlPolicy,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(resolve_allowed(
            self.policy.clone(),
            name.as_str().to_owned(),
        ))
    }
}

async fn resolve_allowed(
    policy: ShopUrlPolicy,
    host: String,
) -> Result<Addrs, Box<dyn std::error::Error + Send + Sync>> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
    let mut refused = None;
    let allowed: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| match policy.check_ip(a.ip()) {
            Ok(()) => true,
            Err(class) => {
                refused.get_or_insert((a.ip(), class));
                false
            }
        })
        .collect();
    match (allowed.is_empty(), refused) {
        (true, Some((ip, class))) => Err(Box::new(Refused::Address { host, ip, class })),
        _ => Ok(Box::new(allowed.into_iter())),
    }
}

/// The policy's refusal in an error's source chain, if that is why it failed.
pub(crate) fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn special_ranges_are_classified_and_public_ones_are_not() {
        for (addr, class) in [
            ("127.0.0.1", AddressClass::Loopback),
            ("127.8.9.10", AddressClass::Loopback),
            ("::1", AddressClass::Loopback),
            ("::ffff:127.0.0.1", AddressClass::Loopback),
            ("::127.0.0.1", AddressClass::Loopback),
            ("64:ff9b::7f00:1", AddressClass::Loopback),
            ("2002:7f00:1::", AddressClass::Loopback),
            ("0.0.0.0", AddressClass::Unspecified),
            ("::", AddressClass::Unspecified),
            ("10.1.2.3", AddressClass::Private),
            ("172.31.255.255", AddressClass::Private),
            ("192.168.1.1", AddressClass::Private),
            ("::ffff:10.0.0.1", AddressClass::Private),
            ("100.64.0.1", AddressClass::Shared),
            ("169.254.1.1", AddressClass::LinkLocal),
            ("fe80::1", AddressClass::LinkLocal),
            ("fd12:3456::1", AddressClass::UniqueLocal),
            ("169.254.169.254", AddressClass::Metadata),
            ("::ffff:169.254.169.254", AddressClass::Metadata),
            ("fd00:ec2::254", AddressClass::Metadata),
            ("100.100.100.200", AddressClass::Metadata),
            ("224.0.0.1", AddressClass::Multicast),
            ("ff02::1", AddressClass::Multicast),
            ("255.255.255.255", AddressClass::Broadcast),
            ("240.0.0.1", AddressClass::Reserved),
            ("2001:db8::1", AddressClass::Reserved),
        ] {
            assert_eq!(classify(ip(addr)), Some(class), "{addr}");
        }
        for public in [
            "8.8.8.8",
            "140.205.94.189",
            "2400:3200::1",
            "64:ff9b::808:808",
            "::ffff:1.2.3.4",
            "172.32.0.1",
        ] {
            assert_eq!(classify(ip(public)), None, "{public}");
        }
    }

    #[test]
    fn the_flag_lifts_private_ranges_and_cidrs_lift_what_they_contain() {
        let strict = ShopUrlPolicy::default();
        assert_eq!(
            strict.check_ip(ip("127.0.0.1")),
            Err(AddressClass::Loopback)
        );
        assert_eq!(strict.check_ip(ip("8.8.8.8")), Ok(()));
        let private = ShopUrlPolicy {
            allow_private: true,
            allowed: Vec::new(),
        };
        assert_eq!(private.check_ip(ip("127.0.0.1")), Ok(()));
        assert_eq!(private.check_ip(ip("10.9.8.7")), Ok(()));
        assert_eq!(
            private.check_ip(ip("169.254.169.254")),
            Err(AddressClass::Metadata)
        );
        assert_eq!(
            private.check_ip(ip("0.0.0.0")),
            Err(AddressClass::Unspecified)
        );
        let listed = ShopUrlPolicy {
            allow_private: false,
            allowed: vec!["10.1.0.0/16".parse().unwrap(), "0.0.0.0/0".parse().unwrap()],
        };
        assert_eq!(listed.check_ip(ip("10.1.2.3")), Ok(()));
        assert_eq!(listed.check_ip(ip("::ffff:10.1.2.3")), Ok(()));
        assert_eq!(
            listed.check_ip(ip("255.255.255.255")),
            Err(AddressClass::Broadcast)
        );
        let one = ShopUrlPolicy {
            allow_private: false,
            allowed: vec!["10.1.0.0/16".parse().unwrap()],
        };
        assert_eq!(one.check_ip(ip("10.2.0.1")), Err(AddressClass::Private));
    }

    #[test]
    fn ip_literal_urls_are_checked_in_every_spelling() {
        let strict = ShopUrlPolicy::default();
        for url in [
            "http://127.0.0.1:9/top",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::1]:8080/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0:80",
        ] {
            let url = url::Url::parse(url).unwrap();
            let err = strict.check_url(&url).unwrap_err();
            assert!(
                err.to_string().contains("--allow-private-shop-urls"),
                "{err}"
            );
        }
        let named = url::Url::parse("http://localhost:9").unwrap();
        assert!(
            strict.check_url(&named).is_ok(),
            "names are checked when they resolve"
        );
        let err = strict
            .check_url(&url::Url::parse("http://10.0.0.7/").unwrap())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "10.0.0.7 is a private address the hub does not connect to for shops (an operator \
             may allow it with `xt-hub serve --allow-private-shop-urls` or `--allow-shop-cidr`)"
        );
    }
}
