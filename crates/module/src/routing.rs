//! The module's view of the internet: name resolution and routes.
//!
//! The module believes it talks to the operators' real hosts (`zzhc.vnet.cn`, `117.161.2.41:5683`,
//! …). A [`Router`] resolves those names with a built-in table of the operators' public addresses
//! ([`WORLD_DNS`]) and maps each destination to where a stand-in server really listens, on loopback.
//! For the operators' services nothing leaves the machine: a destination with no route that is not
//! a loopback address is unreachable. (The host's own data sockets reach such a destination where
//! it is: see `crate::node`.) Name resolution can be made to fail on purpose, for one name or for
//! all.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use thiserror::Error;

/// The operators' host names and the public addresses the seeds and protocol facts give for them.
pub static WORLD_DNS: &[(&str, IpAddr)] = &[
    ("zzhc.vnet.cn", IpAddr::V4(Ipv4Addr::new(42, 99, 2, 15))),
    ("m.fxltsbl.com", IpAddr::V4(Ipv4Addr::new(117, 161, 2, 41))),
    (
        "shipei.fxltsbl.com",
        IpAddr::V4(Ipv4Addr::new(117, 161, 2, 7)),
    ),
    (
        "lwm2m.ctwing.cn",
        IpAddr::V4(Ipv4Addr::new(221, 229, 214, 202)),
    ),
];

/// The host part of a route: a name or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

impl Host {
    fn parse(text: &str) -> Host {
        match text.parse() {
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(text.to_ascii_lowercase()),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Traffic for `host` (and `port`, or any port) goes to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub host: Host,
    pub port: Option<u16>,
    pub to: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("bad route {0:?}: write NAME_OR_IP[:PORT]=IP:PORT, e.g. zzhc.vnet.cn:5683=127.0.0.1:15683")]
pub struct RouteParseError(String);

impl FromStr for Route {
    type Err = RouteParseError;

    /// `NAME_OR_IP[:PORT]=IP:PORT`; an IPv6 host is written in brackets.
    fn from_str(s: &str) -> Result<Route, RouteParseError> {
        let err = || RouteParseError(s.to_string());
        let (from, to) = s.split_once('=').ok_or_else(err)?;
        let to: SocketAddr = to.trim().parse().map_err(|_| err())?;
        let (host, port) = split_host_port(from.trim()).ok_or_else(err)?;
        Ok(Route {
            host: Host::parse(host),
            port,
            to,
        })
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}={}", self.host, self.to),
            None => write!(f, "{}={}", self.host, self.to),
        }
    }
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
pub(crate) fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            _ => (s, None),
        }
    };
    let port = port.map(str::parse).transpose().ok()?;
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b));
    valid_host.then_some((host, port))
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetError {
    #[error("DNS resolution of {0} failed")]
    DnsFailure(String),
    #[error("unknown host {0}")]
    NoSuchHost(String),
    #[error("no route to {0}")]
    Unreachable(SocketAddr),
}

/// Which names fail to resolve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum DnsFailures {
    #[default]
    None,
    Names(Vec<String>),
    All,
}

/// The module's resolver and routing table.
///
/// Clones share one table until one of them adds a route: a fleet's modules all route to the
/// same stand-ins, and so do a module's services, so each holds a pointer rather than a copy.
#[derive(Debug, Clone, Default)]
pub struct Router {
    routes: Arc<Vec<Route>>,
    failures: DnsFailures,
}

impl Router {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route; a later route for the same host and port replaces the earlier one.
    pub fn add_route(&mut self, route: Route) {
        let routes = Arc::make_mut(&mut self.routes);
        routes.retain(|r| !(r.host == route.host && r.port == route.port));
        routes.push(route);
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Makes resolution of `name` fail, or of every name when `name` is `None`.
    pub fn fail_dns(&mut self, name: Option<&str>) {
        self.failures = match (name, std::mem::take(&mut self.failures)) {
            (None, _) | (Some(_), DnsFailures::All) => DnsFailures::All,
            (Some(n), DnsFailures::Names(mut names)) => {
                names.push(n.to_ascii_lowercase());
                DnsFailures::Names(names)
            }
            (Some(n), DnsFailures::None) => DnsFailures::Names(vec![n.to_ascii_lowercase()]),
        };
    }

    /// Lets every name resolve again.
    pub fn restore_dns(&mut self) {
        self.failures = DnsFailures::None;
    }

    /// Resolves a host name as the module's DNS would, unless resolution is made to fail.
    pub fn resolve(&self, name: &str) -> Result<IpAddr, NetError> {
        let name = name.to_ascii_lowercase();
        let failing = match &self.failures {
            DnsFailures::None => false,
            DnsFailures::All => true,
            DnsFailures::Names(names) => names.contains(&name),
        };
        if failing {
            return Err(NetError::DnsFailure(name));
        }
        self.public_ip(&name).ok_or(NetError::NoSuchHost(name))
    }

    /// A name's public address: the operators' from [`WORLD_DNS`]; for another name with a route,
    /// the address the route leads to.
    fn public_ip(&self, name: &str) -> Option<IpAddr> {
        WORLD_DNS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, ip)| *ip)
            .or_else(|| self.name_route(name, None).map(|r| r.to.ip()))
    }

    /// The address the module sends to for `host` (a name or an address) and `port`: its public
    /// address, after resolving a name.
    pub fn resolve_to_address(&self, host: &str, port: u16) -> Result<SocketAddr, NetError> {
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => self.resolve(host)?,
        };
        Ok(SocketAddr::new(ip, port))
    }

    /// Where a datagram the module sends to the public address `world` really goes. A route for
    /// a name that resolves to `world`'s address wins over a route for the address; a route with a
    /// port wins over one without. With no route, only loopback addresses are reachable.
    pub fn local_for(&self, world: SocketAddr) -> Result<SocketAddr, NetError> {
        let named = |port| {
            self.routes.iter().find(|r| {
                r.port == port
                    && matches!(&r.host, Host::Name(n) if self.public_ip(n) == Some(world.ip()))
            })
        };
        let route = named(Some(world.port()))
            .or_else(|| named(None))
            .or_else(|| self.ip_route(world.ip(), Some(world.port())))
            .or_else(|| self.ip_route(world.ip(), None));
        match route {
            Some(route) => Ok(route.to),
            None if world.ip().is_loopback() => Ok(world),
            None => Err(NetError::Unreachable(world)),
        }
    }

    /// The address where traffic for the public address `ip` goes, whatever its port (a ping's
    /// destination): the first route for it, or `ip` itself.
    pub fn local_ip_for(&self, ip: IpAddr) -> IpAddr {
        self.routes
            .iter()
            .find(|r| match &r.host {
                Host::Ip(host) => *host == ip,
                Host::Name(name) => self.public_ip(name) == Some(ip),
            })
            .map_or(ip, |r| r.to.ip())
    }

    fn name_route(&self, name: &str, port: Option<u16>) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.port == port && matches!(&r.host, Host::Name(n) if n == name))
    }

    fn ip_route(&self, ip: IpAddr, port: Option<u16>) -> Option<&Route> {
        self.routes
            .iter()
            .find(|r| r.port == port && r.host == Host::Ip(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(s: &str) -> Route {
        s.parse().unwrap()
    }

    #[test]
    fn clones_share_the_routes_until_one_adds_a_route() {
        let mut router = Router::new();
        router.add_route(route("zzhc.vnet.cn=127.0.0.1:1"));
        let mut clone = router.clone();
        assert!(Arc::ptr_eq(&router.routes, &clone.routes), "one table");
        clone.add_route(route("lwm2m.ctwing.cn=127.0.0.1:2"));
        assert!(!Arc::ptr_eq(&router.routes, &clone.routes));
        assert_eq!(router.routes(), [route("zzhc.vnet.cn=127.0.0.1:1")]);
        assert_eq!(clone.routes().len(), 2);
    }

    fn local(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Where a datagram for `host:port` goes: (public address, real address).
    fn send(router: &Router, host: &str, port: u16) -> Result<(SocketAddr, SocketAddr), NetError> {
        let world = router.resolve_to_address(host, port)?;
        Ok((world, router.local_for(world)?))
    }

    #[test]
    fn parses_routes() {
        let r = route("zzhc.vnet.cn:5683=127.0.0.1:15683");
        assert_eq!(
            (r.host.clone(), r.port),
            (Host::Name("zzhc.vnet.cn".into()), Some(5683))
        );
        assert_eq!(r.to_string(), "zzhc.vnet.cn:5683=127.0.0.1:15683");
        let r = route("117.161.2.41=127.0.0.1:5683");
        assert_eq!(
            (r.host, r.port),
            (Host::Ip("117.161.2.41".parse().unwrap()), None)
        );
        let r = route("[2001:db8::1]:5683=[::1]:5683");
        assert_eq!(r.port, Some(5683));
        for bad in [
            "",
            "a=b",
            "x=127.0.0.1",
            "h:99999=127.0.0.1:1",
            "=127.0.0.1:1",
            "a b=127.0.0.1:1",
        ] {
            assert!(bad.parse::<Route>().is_err(), "{bad}");
        }
    }

    #[test]
    fn operator_names_resolve_to_their_public_addresses() {
        let router = Router::new();
        assert_eq!(
            router.resolve("ZZHC.vnet.cn"),
            Ok("42.99.2.15".parse().unwrap())
        );
        assert_eq!(
            router.resolve("m.fxltsbl.com"),
            Ok("117.161.2.41".parse().unwrap())
        );
        assert_eq!(
            router.resolve("example.org"),
            Err(NetError::NoSuchHost("example.org".into()))
        );
    }

    #[test]
    fn routes_by_name_and_by_address() {
        let mut router = Router::new();
        router.add_route(route("zzhc.vnet.cn=127.0.0.1:15683"));
        router.add_route(route("114.255.193.236:5683=127.0.0.1:25683"));
        router.add_route(route("117.161.2.41=127.0.0.1:35683"));
        assert_eq!(
            send(&router, "zzhc.vnet.cn", 5683),
            Ok((local("42.99.2.15:5683"), local("127.0.0.1:15683")))
        );
        assert_eq!(
            send(&router, "114.255.193.236", 5683).unwrap().1,
            local("127.0.0.1:25683")
        );
        assert_eq!(
            send(&router, "114.255.193.236", 9999),
            Err(NetError::Unreachable(local("114.255.193.236:9999")))
        );
        assert_eq!(
            send(&router, "m.fxltsbl.com", 5683).unwrap().1,
            local("127.0.0.1:35683")
        );
        // A route for the name wins over one for its address.
        router.add_route(route("m.fxltsbl.com:5683=127.0.0.1:45683"));
        assert_eq!(
            send(&router, "117.161.2.41", 5683).unwrap().1,
            local("127.0.0.1:45683")
        );
    }

    #[test]
    fn a_named_route_for_an_unknown_name_also_resolves_it() {
        let mut router = Router::new();
        router.add_route(route("my.platform=127.0.0.2:5683"));
        assert_eq!(
            router.resolve("my.platform"),
            Ok("127.0.0.2".parse().unwrap())
        );
        // Sent to the name's port, the datagram still goes where the route says.
        assert_eq!(
            send(&router, "my.platform", 1).unwrap().1,
            local("127.0.0.2:5683")
        );
    }

    #[test]
    fn loopback_needs_no_route_and_nothing_else_is_reachable() {
        let router = Router::new();
        assert_eq!(
            send(&router, "127.0.0.1", 5683).unwrap().1,
            local("127.0.0.1:5683")
        );
        assert!(matches!(
            send(&router, "8.8.8.8", 53),
            Err(NetError::Unreachable(_))
        ));
    }

    #[test]
    fn a_ping_goes_where_any_route_for_the_address_leads() {
        let mut router = Router::new();
        router.add_route(route("47.100.1.2:5000=127.0.0.1:15000"));
        router.add_route(route("lwm2m.ctwing.cn=127.0.0.2:5683"));
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(router.local_ip_for(ip("47.100.1.2")), ip("127.0.0.1"));
        assert_eq!(router.local_ip_for(ip("221.229.214.202")), ip("127.0.0.2"));
        assert_eq!(
            router.local_ip_for(ip("8.8.8.8")),
            ip("8.8.8.8"),
            "unrouted"
        );
    }

    #[test]
    fn dns_fails_on_purpose() {
        let mut router = Router::new();
        router.add_route(route("zzhc.vnet.cn=127.0.0.1:15683"));
        router.fail_dns(Some("zzhc.vnet.cn"));
        assert_eq!(
            send(&router, "zzhc.vnet.cn", 5683),
            Err(NetError::DnsFailure("zzhc.vnet.cn".into()))
        );
        assert!(router.resolve("m.fxltsbl.com").is_ok());
        router.fail_dns(None);
        assert!(router.resolve("m.fxltsbl.com").is_err());
        router.restore_dns();
        assert!(send(&router, "zzhc.vnet.cn", 5683).is_ok());
    }
}
