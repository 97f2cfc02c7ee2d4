//! Which destinations `http` nodes may reach.
//!
//! Only global unicast addresses are reachable by default: loopback, private,
//! link-local, metadata, carrier-grade NAT, documentation, benchmarking,
//! multicast, reserved, and the IPv6 ranges that embed or tunnel to IPv4
//! (NAT64, 6to4, Teredo, IPv4-compatible) are refused. The refusal is applied
//! at three places, so no request can reach an address the policy refuses:
//! - the URL of the first request and of every redirect hop ([`Destinations::check_url`]),
//!   which catches IP literals, including the spellings `http://2130706433/`
//!   and `http://[::ffff:127.0.0.1]/` (the URL parser normalises them);
//! - the client's DNS resolver ([`GuardedResolver`]), which filters what a
//!   name resolves to, so the address checked is the address connected to
//!   (no window for DNS rebinding).
//!
//! An admin can name hosts that are reachable anyway (`WEFT_HTTP_ALLOW_HOSTS`),
//! for the internal services a workflow is meant to call.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::config::unbracketed;
pub use crate::config::AllowedHost;

/// The most redirects one request follows.
pub const MAX_REDIRECTS: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_loopback: bool,
    /// Every other address that is not global unicast.
    pub allow_private: bool,
}

impl AddressPolicy {
    /// Why an address is refused, or `None` when it may be reached.
    pub fn refusal(self, ip: IpAddr) -> Option<&'static str> {
        match classify(ip) {
            Reach::Global => None,
            Reach::Loopback => (!self.allow_loopback).then_some("a loopback address"),
            Reach::Internal => {
                (!self.allow_private).then_some("a private, link-local, metadata or otherwise non-public address")
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    Global,
    Loopback,
    Internal,
}

fn classify(ip: IpAddr) -> Reach {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => classify_v4(v4),
            None => classify_v6(v6),
        },
    }
}

fn classify_v4(ip: Ipv4Addr) -> Reach {
    let [a, b, c, _] = ip.octets();
    if a == 127 {
        return Reach::Loopback;
    }
    let internal = a == 0 // "this network", 0.0.0.0 reaches the local host
        || a == 10
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    if internal {
        Reach::Internal
    } else {
        Reach::Global
    }
}

fn classify_v6(ip: Ipv6Addr) -> Reach {
    if ip == Ipv6Addr::LOCALHOST {
        return Reach::Loopback;
    }
    let [first, second, ..] = ip.segments();
    // Global unicast is 2000::/3; within it, Teredo and the other protocol
    // assignments (2001::/23), documentation (2001:db8::/32) and 6to4
    // (2002::/16) lead to addresses the policy cannot see. Everything outside
    // 2000::/3 (unique local, link-local, multicast, NAT64 64:ff9b::/96,
    // IPv4-compatible ::/96, unspecified) is internal.
    let global_unicast = (first & 0xe000) == 0x2000;
    let tunnelled_or_reserved = (first == 0x2001 && (second < 0x0200 || second == 0x0db8)) || first == 0x2002;
    if global_unicast && !tunnelled_or_reserved {
        Reach::Global
    } else {
        Reach::Internal
    }
}

/// The address policy plus the hosts allowed anyway.
#[derive(Debug, Clone)]
pub struct Destinations {
    pub policy: AddressPolicy,
    pub allowed_hosts: Vec<AllowedHost>,
}

impl Destinations {
    /// Whether a URL may be requested: the first request and every redirect hop.
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("only http and https URLs are allowed, not `{}`", url.scheme()));
        }
        let host = unbracketed(url.host_str().unwrap_or_default()).to_ascii_lowercase();
        let port = url.port_or_known_default();
        let mut named = self.allowed_hosts.iter().filter(|allowed| allowed.host == host).peekable();
        if named.peek().is_some() {
            return match named.any(|allowed| allowed.port.is_none() || allowed.port == port) {
                true => Ok(()),
                false => Err(format!("refusing to connect to {host}: only other ports of it are allowed")),
            };
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            _ => None,
        };
        match literal.and_then(|ip| self.policy.refusal(ip).map(|why| (ip, why))) {
            Some((ip, why)) => Err(format!("refusing to connect to {ip}: it is {why}")),
            None => Ok(()),
        }
    }

    /// Whether a name resolves without the address filter (it is allowed by
    /// name; [`Self::check_url`] has already checked the port).
    fn trusts_name(&self, name: &str) -> bool {
        self.allowed_hosts.iter().any(|allowed| allowed.host.eq_ignore_ascii_case(name))
    }

    /// The redirect policy: at most [`MAX_REDIRECTS`] hops, each checked like the first request.
    /// With `same_origin_only` (requests that carry a credential), a redirect
    /// to another origin is not followed: the 3xx answer is the node's output,
    /// and the credential never reaches a host it was not meant for.
    pub fn redirect_policy(self: &Arc<Self>, same_origin_only: bool) -> reqwest::redirect::Policy {
        let destinations = self.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                let error = format!("more than {MAX_REDIRECTS} redirects");
                return attempt.error(error);
            }
            let first = attempt.previous().first().map(|url| url.origin());
            if same_origin_only && first.is_some_and(|origin| origin != attempt.url().origin()) {
                return attempt.stop();
            }
            match destinations.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(why) => {
                    let error = format!("redirected to {}: {why}", attempt.url());
                    attempt.error(error)
                }
            }
        })
    }
}

/// A resolver that drops refused addresses, so the client can only connect to allowed ones.
pub struct GuardedResolver {
    pub destinations: Arc<Destinations>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let destinations = self.destinations.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if destinations.trusts_name(&host) {
                return Ok(Box::new(resolved.into_iter()) as Addrs);
            }
            let policy = destinations.policy;
            let allowed: Vec<SocketAddr> =
                resolved.iter().copied().filter(|a| policy.refusal(a.ip()).is_none()).collect();
            if allowed.is_empty() {
                let why = resolved.first().and_then(|a| policy.refusal(a.ip())).unwrap_or("no address");
                return Err(format!("refusing to connect to {host}: it resolves to {why}").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: AddressPolicy = AddressPolicy { allow_loopback: false, allow_private: false };

    #[test]
    fn every_address_that_is_not_global_unicast_is_refused() {
        for ip in [
            "127.0.0.1",
            "127.255.0.9",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.170",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
        ] {
            assert!(STRICT.refusal(ip.parse().unwrap()).is_some(), "{ip} should be refused");
        }
        for ip in
            ["93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:2800:220:1::1", "2001:4860:4860::8888", "::ffff:1.1.1.1"]
        {
            assert_eq!(STRICT.refusal(ip.parse().unwrap()), None, "{ip} should be allowed");
        }
    }

    #[test]
    fn loopback_can_be_allowed_alone() {
        let policy = AddressPolicy { allow_loopback: true, allow_private: false };
        assert_eq!(policy.refusal("127.0.0.1".parse().unwrap()), None);
        assert!(policy.refusal("10.0.0.1".parse().unwrap()).is_some());
    }

    fn strict_with(allowed: &[&str]) -> Destinations {
        Destinations { policy: STRICT, allowed_hosts: allowed.iter().map(|a| a.parse().unwrap()).collect() }
    }

    #[test]
    fn urls_with_literal_addresses_are_checked_in_every_spelling() {
        let strict = strict_with(&[]);
        for url in [
            "http://127.0.0.1:8080/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0.0.0.0/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
        ] {
            let error = strict.check_url(&url.parse().unwrap()).unwrap_err();
            assert!(error.starts_with("refusing to connect to"), "{url}: {error}");
        }
        assert!(strict.check_url(&"ftp://example.com/".parse().unwrap()).is_err());
        assert!(strict.check_url(&"https://example.com/".parse().unwrap()).is_ok());
    }

    #[test]
    fn allowed_hosts_open_exactly_their_host_and_port() {
        let destinations = strict_with(&["127.0.0.1:9000", "Internal.Example", "[fd00::5]:443"]);
        let check = |url: &str| destinations.check_url(&url.parse().unwrap());
        assert!(check("http://127.0.0.1:9000/x").is_ok());
        assert!(check("http://127.0.0.1:9001/x").is_err());
        assert!(check("http://internal.example:1234/").is_ok());
        assert!(check("https://[fd00::5]/").is_ok());
        assert!(check("http://[fd00::5]/").is_err());
        assert!(destinations.trusts_name("INTERNAL.example"));
        assert!(!destinations.trusts_name("other.example"));
    }
}
