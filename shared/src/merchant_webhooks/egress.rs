//! Safe egress to merchants' webhook URLs, which are untrusted input: the host is resolved once,
//! every address it resolves to must be a public one (not loopback, private, link-local, shared,
//! multicast, unspecified or a cloud metadata address), and the connection then goes to exactly
//! those addresses (no second lookup a DNS rebinding could answer differently), without following
//! redirects, with short timeouts.

use async_trait::async_trait;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// Not an absolute http(s) URL with a host.
    #[error("the URL must be an absolute https URL with a host")]
    Url,
    /// Plain http where https is required (live mode).
    #[error("the URL must use https")]
    NotHttps,
    /// The host did not resolve.
    #[error("the host {0} does not resolve")]
    Unresolved(String),
    /// The host resolves to an address we never call.
    #[error("the host {host} resolves to {address}, which is not a public address")]
    Forbidden {
        /// The URL's host.
        host: String,
        /// The first refused address.
        address: IpAddr,
    },
}

/// Turns a host name into addresses: the system's resolver in production, a fixed table in tests.
#[async_trait]
pub trait Resolver: Send + Sync {
    /// Every address `host` resolves to (for `port`).
    async fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr>;
}

/// How long a lookup may take before the host counts as not resolving.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// The operating system's resolver.
pub struct SystemResolver;

#[async_trait]
impl Resolver for SystemResolver {
    async fn lookup(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        // A name server that never answers must not hold a delivery (or a request) for ever.
        match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(addresses)) => addresses.collect(),
            Ok(Err(_)) | Err(_) => Vec::new(),
        }
    }
}

/// What the policy allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Plain http is refused (live mode).
    pub https_only: bool,
    /// Loopback receivers are allowed (local development only, by an explicit setting).
    pub allow_loopback: bool,
}

/// A URL that passed the checks, with the addresses the connection must go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The URL.
    pub url: url::Url,
    /// Its host.
    pub host: String,
    /// The addresses it resolved to, all allowed.
    pub addresses: Vec<SocketAddr>,
}

/// Whether `address` is one a merchant's URL may never reach.
pub fn is_forbidden(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(a: Ipv4Addr) -> bool {
    let [first, second, ..] = a.octets();
    a.is_loopback()
        || a.is_private()
        || a.is_link_local() // 169.254.0.0/16, the cloud metadata address among them
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_unspecified()
        || a.is_documentation()
        || first == 0
        || (first == 100 && (64..128).contains(&second)) // shared address space (carrier NAT)
        || (first == 192 && second == 0 && a.octets()[2] == 0) // IETF protocol assignments
        || (first == 198 && (18..20).contains(&second)) // benchmarking
        || first >= 240 // reserved
}

fn forbidden_v6(a: Ipv6Addr) -> bool {
    let first = a.segments()[0];
    a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fd00:ec2::254 (AWS metadata) among them
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && a.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && a.segments()[1] == 0xff9b // NAT64 of an IPv4 address
        || a.to_ipv4().is_some_and(forbidden_v4) // IPv4-compatible
}

/// Checks `url` against `policy`, resolving its host once with `resolver`: refused if any
/// address is forbidden (a name answering a public address first and a private one second is
/// refused too).
pub async fn check(
    url: &str,
    policy: Policy,
    resolver: &dyn Resolver,
) -> Result<Checked, EgressError> {
    let url = url::Url::parse(url).map_err(|_| EgressError::Url)?;
    match url.scheme() {
        "https" => {}
        "http" if !policy.https_only => {}
        "http" => return Err(EgressError::NotHttps),
        _ => return Err(EgressError::Url),
    }
    let host = url.host().ok_or(EgressError::Url)?;
    let port = url.port_or_known_default().ok_or(EgressError::Url)?;
    let addresses = match host {
        url::Host::Ipv4(ip) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
        url::Host::Ipv6(ip) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
        url::Host::Domain(name) => resolver.lookup(name, port).await,
    };
    let host = url.host_str().ok_or(EgressError::Url)?.to_string();
    if addresses.is_empty() {
        return Err(EgressError::Unresolved(host));
    }
    let allowed = |ip: IpAddr| policy.allow_loopback && ip.is_loopback();
    if let Some(refused) = addresses
        .iter()
        .map(SocketAddr::ip)
        .find(|ip| is_forbidden(*ip) && !allowed(*ip))
    {
        return Err(EgressError::Forbidden {
            host,
            address: refused,
        });
    }
    Ok(Checked {
        url,
        host,
        addresses,
    })
}

/// How long a delivery may take to connect, and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting.
    pub connect: Duration,
    /// The whole request, the response body included.
    pub total: Duration,
}

/// A client that reaches `checked`'s host only at its checked addresses and follows no redirect.
pub fn client_for(
    checked: &Checked,
    timeouts: Timeouts,
) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .resolve_to_addrs(&checked.host, &checked.addresses)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.total)
        .no_proxy()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_forbidden_and_public_ones_are_not() {
        for forbidden in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fc00::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(is_forbidden(forbidden.parse().unwrap()), "{forbidden}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "13.235.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_forbidden(public.parse().unwrap()), "{public}");
        }
    }
}
