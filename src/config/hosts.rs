//! Hosts named in settings (`WEFT_HTTP_ALLOW_HOSTS`).

use url::Url;

/// A host an admin allowed whatever its address: `name`, `name:port`,
/// `10.0.0.5:8080` or `[fd00::1]:443`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    /// Lower case; an IPv6 address without its brackets.
    pub host: String,
    /// `None`: every port.
    pub port: Option<u16>,
}

impl std::str::FromStr for AllowedHost {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let url =
            Url::parse(&format!("http://{text}/")).map_err(|e| format!("`{text}` is not a host or host:port ({e})"))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| format!("`{text}` names no host"))?;
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(format!("`{text}` is not a host or host:port"));
        }
        // `url` drops a port that is the scheme's default; `host:80` still means port 80 only.
        let port = url.port().or_else(|| text.ends_with(":80").then_some(80));
        Ok(Self { host: unbracketed(host).to_ascii_lowercase(), port })
    }
}

pub fn unbracketed(host: &str) -> &str {
    host.trim_start_matches('[').trim_end_matches(']')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_with_and_without_ports() {
        let parse = |text: &str| text.parse::<AllowedHost>();
        assert_eq!(parse("Internal.Example").unwrap(), AllowedHost { host: "internal.example".into(), port: None });
        assert_eq!(parse("10.0.0.5:8080").unwrap(), AllowedHost { host: "10.0.0.5".into(), port: Some(8080) });
        assert_eq!(parse("[fd00::1]:443").unwrap(), AllowedHost { host: "fd00::1".into(), port: Some(443) });
        assert_eq!(parse("svc:80").unwrap().port, Some(80));
        for bad in ["http://x/", "a/b", "", "user@host", "host:99999"] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
