//! Who may reach what, over real HTTP: `/metrics`, the session cookie, the
//! client address behind proxies, and the security headers of every answer.

mod support;

use reqwest::StatusCode;
use support::client::Browser;
use support::TestDb;

on_both_backends!(
    metrics_without_a_token_answer_only_local_requests_that_no_proxy_forwarded,
    metrics_with_a_token_require_it_from_everyone,
);

/// Without `WEFT_METRICS_TOKEN`, `/metrics` is for a Prometheus on the same
/// machine: a loopback peer that no proxy forwarded. Through a reverse proxy
/// on the same machine every request comes from loopback, but carries the
/// proxy's forwarding headers: those are refused as if `/metrics` did not exist.
async fn metrics_without_a_token_answer_only_local_requests_that_no_proxy_forwarded(db: &TestDb) {
    let (_server, base) = support::start_server(db).await;
    let browser = Browser::anonymous(&base);
    let local = browser.page("/metrics").await;
    assert_eq!(local.status(), StatusCode::OK);
    assert!(local.text().await.unwrap().contains("weft_"));
    for (header, value) in
        [("x-forwarded-for", "203.0.113.9"), ("forwarded", "for=203.0.113.9;proto=https"), ("x-real-ip", "203.0.113.9")]
    {
        let proxied = browser.get_raw("/metrics").header(header, value).send().await.unwrap();
        assert_eq!(proxied.status(), StatusCode::NOT_FOUND, "{header}");
        assert!(!proxied.text().await.unwrap().contains("weft_"), "{header}");
    }
}

/// With `WEFT_METRICS_TOKEN`, `/metrics` wants it, even from loopback.
async fn metrics_with_a_token_require_it_from_everyone(db: &TestDb) {
    let (_server, base) = support::start_server_with(db, |settings| {
        settings.edge.metrics_token = Some("metrics-s3cret".into());
    })
    .await;
    let browser = Browser::anonymous(&base);
    let bare = browser.page("/metrics").await;
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bare.headers()["www-authenticate"], "Bearer realm=\"weft metrics\"");
    assert!(bare.text().await.unwrap().contains("metrics token"));
    for wrong in ["Bearer metrics-s3cre", "Bearer metrics-s3cret-and-more", "Basic metrics-s3cret", "Bearer "] {
        let refused = browser.get_raw("/metrics").header("authorization", wrong).send().await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    let allowed = browser.get_raw("/metrics").bearer_auth("metrics-s3cret").send().await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert!(allowed.text().await.unwrap().contains("weft_http_requests_total"));
    // The token is for /metrics only: health stays open to load balancers.
    assert_eq!(browser.healthz().await.status(), StatusCode::OK);
}
