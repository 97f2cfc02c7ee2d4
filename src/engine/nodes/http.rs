//! `http` nodes: one shared, pooled client; templated method, url, headers and
//! body; a timeout; a cap on the response size; and a guard that refuses
//! loopback, private, link-local and metadata addresses unless allowed.
//!
//! The guard sits in the client's DNS resolver, so the address checked is the
//! address connected to (no window for DNS rebinding); URLs with a literal IP
//! never reach a resolver and are checked before the request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use app::model::node_config::HttpConfig;
use futures::StreamExt;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::{Map, Value};

use super::template::render;
use super::NodeScope;

/// Which destinations HTTP nodes may reach, and how much they may read.
#[derive(Debug, Clone)]
pub struct HttpNodeSettings {
    pub allow_loopback: bool,
    /// Private, link-local, carrier-grade NAT and cloud metadata addresses.
    pub allow_private: bool,
    pub max_body_bytes: usize,
    pub default_timeout: Duration,
}

impl Default for HttpNodeSettings {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            allow_private: false,
            max_body_bytes: 10 * 1024 * 1024,
            default_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_loopback: bool,
    pub allow_private: bool,
}

impl AddressPolicy {
    /// Why an address is refused, or `None` when it may be reached.
    pub fn refusal(self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if ip.is_loopback() {
            return (!self.allow_loopback).then_some("a loopback address");
        }
        let private = match ip {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                v4.is_private()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || v4.is_broadcast()
                    || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
            }
            IpAddr::V6(v6) => {
                let first = v6.segments()[0];
                v6.is_unspecified() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
            }
        };
        (private && !self.allow_private).then_some("a private, link-local or metadata address")
    }
}

/// A resolver that drops refused addresses, so the client can only connect to allowed ones.
struct GuardedResolver {
    policy: AddressPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
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

pub struct HttpNode {
    client: reqwest::Client,
    settings: HttpNodeSettings,
}

impl HttpNode {
    pub fn new(settings: HttpNodeSettings) -> anyhow::Result<Self> {
        let policy = AddressPolicy { allow_loopback: settings.allow_loopback, allow_private: settings.allow_private };
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver { policy }))
            .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(32)
            // Redirects could lead anywhere; the resolver still guards every hop.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()?;
        Ok(Self { client, settings })
    }

    fn policy(&self) -> AddressPolicy {
        AddressPolicy { allow_loopback: self.settings.allow_loopback, allow_private: self.settings.allow_private }
    }

    pub async fn run(&self, config: &HttpConfig, scope: &NodeScope) -> Result<Value, String> {
        let method = render("method", &config.method, scope)?.trim().to_uppercase();
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("method: `{method}` is not an HTTP method"))?;
        let url_text = render("url", &config.url, scope)?;
        let url = reqwest::Url::parse(url_text.trim())
            .map_err(|e| format!("url: `{}` is not a valid URL ({e})", url_text.trim()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("url: only http and https are allowed, not `{}`", url.scheme()));
        }
        if let Some(ip) = literal_ip(&url) {
            if let Some(why) = self.policy().refusal(ip) {
                return Err(format!("refusing to connect to {ip}: it is {why}"));
            }
        }
        let timeout = config.timeout_ms.map(Duration::from_millis).unwrap_or(self.settings.default_timeout);
        let mut request = self.client.request(method, url).timeout(timeout);
        for (name, value) in config.headers.iter().flatten() {
            request = request.header(name.as_str(), render(&format!("headers.{name}"), value, scope)?);
        }
        request = match &config.body {
            None => request,
            Some(Value::String(text)) => request.body(render("body", text, scope)?),
            Some(json) => request.json(json),
        };
        request = request.header("x-weft-node", &scope.node_id);
        // Unless the workflow sets its own: a repeat after a takeover carries the same key.
        if !config.headers.iter().flatten().any(|(name, _)| name.eq_ignore_ascii_case("idempotency-key")) {
            request = request.header("idempotency-key", &scope.idempotency_key);
        }

        let response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut headers = Map::new();
        for (name, value) in response.headers() {
            headers.insert(name.as_str().to_string(), Value::String(value.to_str().unwrap_or("").to_string()));
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = self.read_capped(response).await?;
        let body = if is_json {
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        } else {
            Value::String(String::from_utf8_lossy(&body).into_owned())
        };
        Ok(serde_json::json!({ "status": status, "headers": headers, "body": body }))
    }

    async fn read_capped(&self, response: reqwest::Response) -> Result<Vec<u8>, String> {
        let cap = self.settings.max_body_bytes;
        if response.content_length().is_some_and(|len| len as usize > cap) {
            return Err(format!("the response body is larger than the {cap}-byte limit"));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe(&e))?;
            if body.len() + chunk.len() > cap {
                return Err(format!("the response body is larger than the {cap}-byte limit"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn literal_ip(url: &reqwest::Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// A reqwest error with its cause chain (the resolver's refusal is in there).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "the request timed out".to_string();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: AddressPolicy = AddressPolicy { allow_loopback: false, allow_private: false };

    #[test]
    fn internal_addresses_are_refused_by_default() {
        for ip in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(STRICT.refusal(ip.parse().unwrap()).is_some(), "{ip} should be refused");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "1.1.1.1"] {
            assert_eq!(STRICT.refusal(ip.parse().unwrap()), None, "{ip} should be allowed");
        }
    }

    #[test]
    fn loopback_can_be_allowed_alone() {
        let policy = AddressPolicy { allow_loopback: true, allow_private: false };
        assert_eq!(policy.refusal("127.0.0.1".parse().unwrap()), None);
        assert!(policy.refusal("10.0.0.1".parse().unwrap()).is_some());
    }
}
