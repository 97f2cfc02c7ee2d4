//! Where the process meets the network: who the client is behind a proxy,
//! who may read `/metrics`, and the security headers of every answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use app::server_context::ClientAddress;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::{Secret, TrustedProxy};

/// What every answer's Content-Security-Policy says besides scripts: nothing
/// from other sites, no plugins, no `<base>` elsewhere, no framing (with
/// `X-Frame-Options: DENY` for older browsers), forms post here only.
/// Stylesheets come from this site only; inline `style` *attributes* are
/// allowed (`style-src-attr`), since the server renders the virtualized list's
/// row positions and the charts' widths as `style="top: …"` before hydration;
/// a `<style>` element is not.
macro_rules! policy_base {
    () => {
        "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'; \
         style-src 'self'; style-src-attr 'unsafe-inline'"
    };
}
const POLICY_BASE: &str = policy_base!();

/// The policy of answers that are not pages (the API, server functions,
/// static files): scripts from this site only.
pub const STATIC_POLICY: &str = concat!(policy_base!(), "; script-src 'self' 'wasm-unsafe-eval'");

/// A page's policy: scripts from this site (the hydration bundle and the lazy
/// routes' chunks, loaded by `import()`), the page's inline scripts by their
/// nonce (the hydration bootstrap and the resources resolved while streaming:
/// Leptos puts the response's nonce on each), and compiling WebAssembly.
/// Never `'unsafe-eval'` or `'unsafe-inline'` for scripts. Under
/// `cargo leptos watch` the reload script's websocket is allowed too.
fn page_policy(nonce: &str) -> String {
    let reload = if std::env::var_os("LEPTOS_WATCH").is_some() { "; connect-src 'self' ws: wss:" } else { "" };
    format!("{POLICY_BASE}; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'{reload}")
}

/// Sets the page's Content-Security-Policy with the nonce Leptos made for
/// this response; called in every render's context (server functions have no
/// nonce and keep [`STATIC_POLICY`]).
pub fn provide_page_policy() {
    use leptos::prelude::use_context;
    let (Some(nonce), Some(response)) = (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    else {
        return;
    };
    if let Ok(policy) = HeaderValue::from_str(&page_policy(&nonce)) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
    }
}

/// Who the client of a request is: the TCP peer, unless the peer is one of
/// the trusted proxies (`WEFT_TRUSTED_PROXIES`); then the last address in
/// `X-Forwarded-For` that is not a trusted proxy. Each proxy appends the
/// address it got the request from, so reading from the right, the first
/// untrusted entry was written by a trusted proxy; what stands left of it was
/// written by the client and could be anything.
#[derive(Debug)]
pub struct ClientAddresses {
    trusted: Vec<TrustedProxy>,
}

impl ClientAddresses {
    pub fn new(trusted: Vec<TrustedProxy>) -> Self {
        Self { trusted }
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|proxy| proxy.contains(address))
    }

    /// The client of a request from `peer` carrying `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        // Every X-Forwarded-For line, in order, as one list.
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev() {
            // Something a trusted proxy would not write: stop at the last
            // address known good rather than guess.
            let Some(address) = forwarded_address(entry) else { break };
            client = address;
            if !self.is_trusted(address) {
                break;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry's address: `203.0.113.9`, `2001:db8::1`, or
/// with a port, `203.0.113.9:4711` or `[2001:db8::1]:4711`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    let address = entry.parse::<IpAddr>().or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip())).ok()?;
    Some(address.to_canonical())
}

/// Puts the request's [`ClientAddress`] in its extensions, for the sign-in
/// limits (and anything else that counts per client).
pub async fn client_address(
    State(addresses): State<Arc<ClientAddresses>>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()) {
        let client = addresses.client(peer, request.headers());
        request.extensions_mut().insert(ClientAddress(client));
    }
    next.run(request).await
}

/// Who may read `/metrics`.
///
/// With a token, whoever presents it as `Authorization: Bearer <token>`, from
/// anywhere; everyone else gets 401. Without one, a Prometheus on this machine:
/// the TCP peer is a loopback address and the request carries no proxy's
/// forwarding header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`), since a
/// reverse proxy on the same machine makes every outside request come from
/// loopback. Everyone else gets 404, as if there were no such page. A proxy
/// that forwards without saying so cannot be told apart: set a token then.
#[derive(Debug)]
pub struct MetricsAccess {
    token: Option<Secret>,
}

impl MetricsAccess {
    /// An empty token counts as none: it would let an empty `Bearer ` in.
    pub fn new(token: Option<Secret>) -> Self {
        Self { token: token.filter(|t| !t.expose().is_empty()) }
    }

    /// Whether a request from `peer` with `headers` may read the metrics.
    fn check(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<(), MetricsRefusal> {
        match &self.token {
            Some(token) => {
                let given = headers
                    .get(header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.split_once(' '))
                    .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    .map_or("", |(_, token)| token);
                if same_secret(given.trim().as_bytes(), token.expose().as_bytes()) {
                    Ok(())
                } else {
                    Err(MetricsRefusal::NeedsToken)
                }
            }
            None => {
                let local = peer.is_some_and(|p| p.ip().is_loopback());
                let forwarded = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| headers.contains_key(*h));
                if local && !forwarded {
                    Ok(())
                } else {
                    Err(MetricsRefusal::NotHere)
                }
            }
        }
    }
}

/// Why a request may not read `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MetricsRefusal {
    /// A token is set and the request did not present it: 401.
    NeedsToken,
    /// No token is set and the request is not local: 404, as if there were no such page.
    NotHere,
}

impl IntoResponse for MetricsRefusal {
    fn into_response(self) -> Response {
        match self {
            Self::NeedsToken => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"weft metrics\"")],
                "/metrics needs the metrics token: Authorization: Bearer <WEFT_METRICS_TOKEN>\n",
            )
                .into_response(),
            Self::NotHere => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        }
    }
}

/// Lets a request through to `/metrics` only as [`MetricsAccess`] says.
pub async fn metrics_access(State(access): State<Arc<MetricsAccess>>, request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0);
    match access.check(peer, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

/// Whether `given` equals `expected`, in a time that depends only on
/// `expected`'s length: no byte of the token can be learnt from how long a
/// wrong guess took.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let mut difference = u8::from(given.len() != expected.len());
    for (i, byte) in expected.iter().enumerate() {
        difference |= byte ^ given.get(i).copied().unwrap_or(!byte);
    }
    std::hint::black_box(difference) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (header::HeaderName::from_static(name), value.parse().unwrap())).collect()
    }

    fn status(result: Result<(), MetricsRefusal>) -> StatusCode {
        result.map_or_else(|r| r.into_response().status(), |()| StatusCode::OK)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let addresses = ClientAddresses::new(vec!["10.0.0.2".parse().unwrap(), "10.9.0.0/16".parse().unwrap()]);
        let forwarded = |value: &str| headers(&[("x-forwarded-for", value)]);
        // Not a proxy: its X-Forwarded-For is whatever it wrote.
        assert_eq!(addresses.client(ip("203.0.113.5"), &forwarded("198.51.100.1")), ip("203.0.113.5"));
        // A trusted proxy: the last entry that is not a trusted proxy.
        assert_eq!(addresses.client(ip("10.0.0.2"), &forwarded("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(addresses.client(ip("10.0.0.2"), &forwarded("198.51.100.1, 203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(
            addresses.client(ip("10.0.0.2"), &forwarded("198.51.100.1,203.0.113.7, 10.9.3.4")),
            ip("203.0.113.7")
        );
        assert_eq!(addresses.client(ip("::ffff:10.0.0.2"), &forwarded("203.0.113.7:5555")), ip("203.0.113.7"));
        assert_eq!(addresses.client(ip("10.0.0.2"), &forwarded("[2001:db8::7]:443")), ip("2001:db8::7"));
        // Several header lines are one list, in order.
        let mut lines = forwarded("198.51.100.1");
        lines.append("x-forwarded-for", "203.0.113.8".parse().unwrap());
        assert_eq!(addresses.client(ip("10.0.0.2"), &lines), ip("203.0.113.8"));
        // Without the header, or with garbage where the proxy writes, the
        // last address known: the proxy itself, or the inner proxy.
        assert_eq!(addresses.client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        assert_eq!(addresses.client(ip("10.0.0.2"), &forwarded("unknown")), ip("10.0.0.2"));
        assert_eq!(addresses.client(ip("10.0.0.2"), &forwarded("junk, 10.9.0.1")), ip("10.9.0.1"));
        // Only trusted proxies all the way: the first of them.
        assert_eq!(addresses.client(ip("10.0.0.2"), &forwarded("10.9.0.1, 10.9.0.2")), ip("10.9.0.1"));
        // No trusted proxies at all: always the peer.
        let none = ClientAddresses::new(Vec::new());
        assert_eq!(none.client(ip("127.0.0.1"), &forwarded("203.0.113.7")), ip("127.0.0.1"));
    }

    #[test]
    fn without_a_token_only_unforwarded_loopback_peers_read_the_metrics() {
        let access = MetricsAccess::new(None);
        assert_eq!(status(access.check(peer("127.0.0.1"), &HeaderMap::new())), StatusCode::OK);
        assert_eq!(status(access.check(peer("::1"), &HeaderMap::new())), StatusCode::OK);
        assert_eq!(status(access.check(peer("192.0.2.7"), &HeaderMap::new())), StatusCode::NOT_FOUND);
        assert_eq!(status(access.check(peer("10.0.0.1"), &HeaderMap::new())), StatusCode::NOT_FOUND);
        assert_eq!(status(access.check(None, &HeaderMap::new())), StatusCode::NOT_FOUND);
        let proxied = headers(&[("x-forwarded-for", "192.0.2.7")]);
        assert_eq!(status(access.check(peer("127.0.0.1"), &proxied)), StatusCode::NOT_FOUND);
        assert_eq!(
            status(MetricsAccess::new(Some("".into())).check(peer("192.0.2.7"), &HeaderMap::new())),
            StatusCode::NOT_FOUND,
            "an empty token is no token"
        );
    }

    #[test]
    fn with_a_token_everyone_must_present_it() {
        let access = MetricsAccess::new(Some("s3cret-token".into()));
        let bearer = |value: &str| headers(&[("authorization", value)]);
        assert_eq!(status(access.check(peer("192.0.2.7"), &bearer("Bearer s3cret-token"))), StatusCode::OK);
        assert_eq!(status(access.check(peer("192.0.2.7"), &bearer("bearer s3cret-token"))), StatusCode::OK);
        for wrong in ["Bearer s3cret-toke", "Bearer s3cret-token2", "Bearer ", "Basic s3cret-token", "s3cret-token"] {
            assert_eq!(status(access.check(peer("127.0.0.1"), &bearer(wrong))), StatusCode::UNAUTHORIZED, "{wrong}");
        }
        assert_eq!(status(access.check(peer("127.0.0.1"), &HeaderMap::new())), StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn the_static_policy_is_the_page_policy_with_scripts_from_this_site_only() {
        assert_eq!(STATIC_POLICY, format!("{POLICY_BASE}; script-src 'self' 'wasm-unsafe-eval'"));
        let page = page_policy("abc");
        assert!(page.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'"), "{page}");
        assert!(!page.contains(" 'unsafe-eval'") && !page.contains("script-src 'unsafe-inline'"), "{page}");
    }

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"abcd", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }
}
