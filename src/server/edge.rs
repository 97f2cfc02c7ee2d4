//! Where the process meets the network: who may read `/metrics`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::config::Secret;

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
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"abcd", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }
}
