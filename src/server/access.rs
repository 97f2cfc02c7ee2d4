//! Who may open what, decided before a page is rendered, and the cross-site
//! request check of server functions.

use app::server_context::ServerContext;
use app::ui::encode_query_value;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};

/// Pages are for signed-in users. Someone signed out is sent to `/login`
/// (and back afterwards); before the first admin exists, everyone is sent to
/// `/setup`. Server functions (`/api/…`) check the viewer themselves.
pub async fn page_access(State(ctx): State<ServerContext>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if !matches!(*request.method(), Method::GET | Method::HEAD) || path.starts_with("/api/") {
        return next.run(request).await;
    }
    let signed_in = match app::services::sessions::session_token(request.headers()) {
        Some(token) => ctx.accounts.user(ctx.store.as_ref(), token).await,
        None => Ok(None),
    };
    let needs_setup = ctx.accounts.needs_setup(ctx.store.as_ref()).await;
    let (signed_in, needs_setup) = match (signed_in, needs_setup) {
        (Ok(user), Ok(needs_setup)) => (user.is_some(), needs_setup),
        (Err(error), _) | (_, Err(error)) => {
            tracing::error!(%error, "checking page access failed");
            return (StatusCode::SERVICE_UNAVAILABLE, "the database is not answering; try again shortly")
                .into_response();
        }
    };
    let target = match (path, needs_setup, signed_in) {
        ("/setup", true, _) => None,
        (_, true, _) => Some("/setup".to_string()),
        ("/setup" | "/login", false, true) => Some("/".to_string()),
        ("/setup", false, false) => Some("/login".to_string()),
        ("/login", false, false) => None,
        (_, false, false) => Some(format!("/login?next={}", encode_query_value(path_and_query(&request)))),
        (_, false, true) => None,
    };
    match target {
        Some(target) => Redirect::to(&target).into_response(),
        None => next.run(request).await,
    }
}

fn path_and_query(request: &Request) -> &str {
    request.uri().path_and_query().map(|pq| pq.as_str()).unwrap_or("/")
}

/// Server functions that change something must come from Weft's own pages.
/// The session cookie is already `SameSite=Strict`; this is the second fence:
/// a browser request whose `Origin` is another site (or that the browser marks
/// `Sec-Fetch-Site: cross-site`) is refused. Programs that send neither (curl,
/// tests) carry no victim's cookie, so they pass.
pub async fn same_origin_server_functions(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_server_function = path.starts_with("/api/") && !path.starts_with("/api/v1/");
    if is_server_function && !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        if let Err(reason) = check_same_origin(request.headers()) {
            tracing::warn!(path, reason, "refused a cross-site server function call");
            return (StatusCode::FORBIDDEN, "cross-site requests are not accepted").into_response();
        }
    }
    next.run(request).await
}

fn check_same_origin(headers: &axum::http::HeaderMap) -> Result<(), &'static str> {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) == Some("cross-site") {
        return Err("Sec-Fetch-Site is cross-site");
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| "unreadable Origin")?;
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).ok_or("Origin without Host")?;
    let origin_host = origin.split_once("://").map(|(_, rest)| rest).unwrap_or("");
    if origin_host.eq_ignore_ascii_case(host) {
        Ok(())
    } else {
        Err("Origin is another site")
    }
}

/// Server functions answer 500 for any error the function did not give a
/// status itself, which includes arguments that do not parse (the function
/// never ran). Those errors are the caller's: this gives them the status their
/// kind names (400 for bad arguments). Only 500s are read, so the cost is nil.
pub async fn server_function_status(request: Request, next: Next) -> Response {
    let is_server_function = request.uri().path().starts_with("/api/") && !request.uri().path().starts_with("/api/v1/");
    let response = next.run(request).await;
    if !is_server_function || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong on the server").into_response();
    };
    if let Ok(error) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        if let Ok(status) = StatusCode::from_u16(error.status_code()) {
            parts.status = status;
        }
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), v.parse().unwrap())).collect()
    }

    #[test]
    fn only_same_site_origins_pass() {
        assert!(check_same_origin(&headers(&[("host", "weft.local:3000")])).is_ok());
        assert!(
            check_same_origin(&headers(&[("host", "weft.local:3000"), ("origin", "http://weft.local:3000")])).is_ok()
        );
        assert!(check_same_origin(&headers(&[("host", "weft.local:3000"), ("origin", "http://evil.example")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "weft.local:3000"), ("origin", "null")])).is_err());
        assert!(check_same_origin(&headers(&[("host", "weft.local"), ("sec-fetch-site", "cross-site")])).is_err());
    }

    #[test]
    fn the_return_path_is_encoded() {
        assert_eq!(encode_query_value("/settings?x=1&y=2"), "/settings%3Fx%3D1%26y%3D2");
    }
}
