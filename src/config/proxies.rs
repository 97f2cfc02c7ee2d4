//! Proxies named in settings (`WEFT_TRUSTED_PROXIES`): the peers whose
//! `X-Forwarded-For` is believed.

use std::net::IpAddr;

/// An address or a network (`10.0.0.5`, `fd00::1`, `10.0.0.0/8`, `fd00::/8`)
/// whose requests come from a reverse proxy this site runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `address` is this proxy (or in this network). An IPv4 address
    /// seen as IPv6 (`::ffff:10.0.0.5`, from a dual-stack socket) is the IPv4 one.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(network) & mask == u32::from(address) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(network) & mask == u128::from(address) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let refuse = || format!("`{text}` is not an IP address or network (10.0.0.5, 10.0.0.0/8, fd00::/8)");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = address.parse::<IpAddr>().map_err(|_| refuse())?.to_canonical();
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().ok().filter(|p| *p <= bits).ok_or_else(refuse)?,
            None => bits,
        };
        Ok(Self { network, prefix })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_and_networks_parse_and_match() {
        let one: TrustedProxy = "10.0.0.5".parse().unwrap();
        assert!(one.contains(ip("10.0.0.5")));
        assert!(one.contains(ip("::ffff:10.0.0.5")), "as a dual-stack socket sees it");
        assert!(!one.contains(ip("10.0.0.6")));
        let network: TrustedProxy = " 172.16.0.0/12".parse().unwrap();
        assert!(network.contains(ip("172.31.255.1")));
        assert!(!network.contains(ip("172.32.0.1")));
        let v6: TrustedProxy = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(!v6.contains(ip("10.0.0.5")));
        let everyone: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(everyone.contains(ip("203.0.113.9")));
        for bad in ["", "10.0.0", "10.0.0.0/33", "fd00::/129", "proxy.internal", "10.0.0.0/x"] {
            assert!(bad.parse::<TrustedProxy>().is_err(), "{bad:?} should be refused");
        }
    }
}
