//! Who may reach what, over real HTTP: `/metrics`, the session cookie, the
//! client address behind proxies, and the security headers of every answer.

mod support;

use reqwest::{Method, StatusCode};
use support::client::{Api, Browser};
use support::TestDb;

on_both_backends!(
    metrics_without_a_token_answer_only_local_requests_that_no_proxy_forwarded,
    metrics_with_a_token_require_it_from_everyone,
    the_session_cookie_is_secure_when_weft_is_served_over_https,
    the_session_cookie_is_not_secure_without_an_https_public_url,
    sign_in_limits_count_the_forwarded_client_behind_a_trusted_proxy,
    sign_in_limits_ignore_x_forwarded_for_from_anyone_else,
    every_answer_carries_the_security_headers,
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
    let (_server, base) = support::start_server_configured(db, |settings| {
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

/// The `Set-Cookie` of a sign-in (as `email`, with the test password) and of a sign-out.
async fn session_cookies(server: &weft::server::RunningServer, base: &str) -> (String, String) {
    let hash = weft::cli::hash_password(support::PASSWORD).unwrap();
    server.store.create_user("cookie@example.com", Some(&hash), false).await.unwrap();
    let browser = Browser::anonymous(base);
    let form = [("email", "cookie@example.com"), ("password", support::PASSWORD)];
    let signed_in = browser.server_fn("accounts/sign-in", &form).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let set = signed_in.headers()["set-cookie"].to_str().unwrap().to_string();
    let cookie = support::session_cookie_of(&signed_in).unwrap();
    let signed_out = Browser::with_cookie(base, &cookie).sign_out().await;
    let unset = signed_out.headers()["set-cookie"].to_str().unwrap().to_string();
    (set, unset)
}

/// Served over HTTPS (`WEFT_PUBLIC_URL=https://…`), the session cookie is
/// `Secure`: a browser never sends it over plain HTTP, where anyone on the
/// path could read it (a link to `http://` the same host is enough).
async fn the_session_cookie_is_secure_when_weft_is_served_over_https(db: &TestDb) {
    let (server, base) = support::start_server_configured(db, |settings| {
        settings.edge.public_url = Some("https://weft.example.com".into());
    })
    .await;
    let (set, unset) = session_cookies(&server, &base).await;
    for cookie in [&set, &unset] {
        let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
        assert!(attributes.contains(&"Secure"), "{cookie}");
        assert!(attributes.contains(&"HttpOnly") && attributes.contains(&"SameSite=Strict"), "{cookie}");
    }
}

/// Without an `https` public URL (a local install on http://127.0.0.1) the
/// cookie cannot be `Secure`: the browser would drop it on plain HTTP.
async fn the_session_cookie_is_not_secure_without_an_https_public_url(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let (set, _) = session_cookies(&server, &base).await;
    assert!(!set.split(';').any(|a| a.trim() == "Secure"), "{set}");
}

/// Tries to sign in as a new unknown email each time (so only the per-address
/// limit can refuse), with `X-Forwarded-For: forwarded`; the status.
async fn sign_in_from(browser: &Browser, attempt: usize, forwarded: &str) -> StatusCode {
    let email = format!("nobody{attempt}@example.com");
    let form = [("email", email.as_str()), ("password", "wrong-password")];
    let response = browser
        .post_raw("/api/accounts/sign-in")
        .header("x-forwarded-for", forwarded)
        .form(&form)
        .send()
        .await
        .unwrap();
    response.status()
}

/// The sign-in limiter allows 30 attempts a minute per client address. Behind
/// a trusted proxy every request comes from the proxy: the client is the last
/// address in `X-Forwarded-For` that is not a trusted proxy (what the proxy
/// itself appended), so clients are counted apart, and one cannot escape its
/// count by putting other addresses in front of its own.
async fn sign_in_limits_count_the_forwarded_client_behind_a_trusted_proxy(db: &TestDb) {
    let (_server, base) = support::start_server_configured(db, |settings| {
        settings.edge.trusted_proxies = vec!["127.0.0.1".parse().unwrap(), "10.9.0.0/16".parse().unwrap()];
    })
    .await;
    let browser = Browser::anonymous(&base);
    for attempt in 0..30 {
        assert_eq!(sign_in_from(&browser, attempt, "203.0.113.1").await, StatusCode::BAD_REQUEST, "attempt {attempt}");
    }
    assert_eq!(sign_in_from(&browser, 30, "203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    // Spoofed entries in front of the proxy's own do not help, nor does an
    // inner trusted proxy after the client.
    assert_eq!(sign_in_from(&browser, 31, "198.51.100.7, 203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(sign_in_from(&browser, 32, "198.51.100.7, 203.0.113.1, 10.9.0.4").await, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has its own count.
    assert_eq!(sign_in_from(&browser, 33, "203.0.113.2").await, StatusCode::BAD_REQUEST);
}

/// From a peer that is not a trusted proxy, `X-Forwarded-For` is whatever the
/// client wrote: a fresh made-up address per attempt must not reset its count.
async fn sign_in_limits_ignore_x_forwarded_for_from_anyone_else(db: &TestDb) {
    let (_server, base) = support::start_server_configured(db, |settings| {
        settings.edge.trusted_proxies = vec!["10.9.0.0/16".parse().unwrap()];
    })
    .await;
    let browser = Browser::anonymous(&base);
    for attempt in 0..30 {
        let made_up = format!("198.51.100.{attempt}");
        assert_eq!(sign_in_from(&browser, attempt, &made_up).await, StatusCode::BAD_REQUEST, "attempt {attempt}");
    }
    assert_eq!(sign_in_from(&browser, 30, "198.51.100.200").await, StatusCode::TOO_MANY_REQUESTS);
}

/// The policy's directives by name: `script-src` → its sources.
fn directives(policy: &str) -> std::collections::HashMap<String, Vec<String>> {
    policy
        .split(';')
        .filter_map(|directive| {
            let mut words = directive.split_whitespace().map(str::to_string);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// Checks the headers every answer carries; the answer's policy.
fn assert_security_headers(what: &str, response: &reqwest::Response) -> String {
    let headers = response.headers();
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{what}");
    assert_eq!(header("referrer-policy").as_deref(), Some("same-origin"), "{what}");
    assert_eq!(header("x-frame-options").as_deref(), Some("DENY"), "{what}");
    let policy = header("content-security-policy").unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert_eq!(headers.get_all("content-security-policy").iter().count(), 1, "{what}: one policy");
    let directives = directives(&policy);
    let sources = |name: &str| directives.get(name).unwrap_or_else(|| panic!("{what}: no {name} in {policy}")).clone();
    assert_eq!(sources("frame-ancestors"), ["'none'"], "{what}");
    assert_eq!(sources("object-src"), ["'none'"], "{what}");
    assert_eq!(sources("base-uri"), ["'self'"], "{what}");
    assert_eq!(sources("default-src"), ["'self'"], "{what}");
    let script = sources("script-src");
    assert!(script.contains(&"'wasm-unsafe-eval'".to_string()), "{what}: {policy}");
    for forbidden in ["'unsafe-eval'", "'unsafe-inline'", "*", "data:", "http:", "https:"] {
        assert!(!script.contains(&forbidden.to_string()), "{what}: {forbidden} in {policy}");
    }
    assert!(!sources("style-src").contains(&"'unsafe-inline'".to_string()), "{what}: {policy}");
    policy
}

/// The nonce every inline `<script>` of `html` carries (all the same one).
fn script_nonce(html: &str) -> String {
    let mut nonces = std::collections::BTreeSet::new();
    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').unwrap()];
        let nonce = tag.split("nonce=\"").nth(1).unwrap_or_else(|| panic!("a script without a nonce: <script{tag}>"));
        nonces.insert(nonce[..nonce.find('"').unwrap()].to_string());
    }
    assert_eq!(nonces.len(), 1, "one nonce per page: {nonces:?}");
    nonces.into_iter().next().unwrap()
}

/// Every answer (pages, server functions, the API, its errors, static files,
/// health) says: no sniffing, no framing, no referrer beyond this site, and a
/// Content-Security-Policy. A page's policy allows exactly its own inline
/// scripts, by a nonce fresh for each answer, and WebAssembly; never eval.
async fn every_answer_carries_the_security_headers(db: &TestDb) {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(site.path().join("pkg")).unwrap();
    std::fs::write(site.path().join("pkg/weft.css"), "body { margin: 0 }").unwrap();
    std::fs::write(site.path().join("favicon.svg"), "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();
    let root = site.path().to_str().unwrap().to_string();
    let (server, base) =
        support::start_server_configured_site(db, |_| {}, |options| options.site_root = root.into()).await;
    let admin = Browser::signed_in_user(server.store.as_ref(), &base, "admin@example.com", true).await;
    let anonymous = admin.without_session();
    let api = Api::for_new_user(&server, &base, "api@example.com").await;

    let mut nonces = Vec::new();
    for (what, browser, path) in [("home page", &admin, "/"), ("sign-in page", &anonymous, "/login")] {
        let page = browser.page(path).await;
        assert_eq!(page.status(), StatusCode::OK, "{what}");
        let policy = assert_security_headers(what, &page);
        let html = page.text().await.unwrap();
        let nonce = script_nonce(&html);
        let script = directives(&policy)["script-src"].clone();
        assert!(script.contains(&format!("'nonce-{nonce}'")), "{what}: the page's nonce in {policy}");
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a fresh nonce for each answer");

    let others = [
        ("an API answer", api.request(Method::GET, "/workflows").send().await.unwrap(), StatusCode::OK),
        (
            "an API error",
            api.without_key().request(Method::GET, "/workflows").send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
        ),
        ("the OpenAPI document", api.request(Method::GET, "/openapi.json").send().await.unwrap(), StatusCode::OK),
        ("a server function", admin.list_users().await, StatusCode::OK),
        ("a stylesheet", anonymous.page("/pkg/weft.css").await, StatusCode::OK),
        ("a static file", anonymous.page("/favicon.svg").await, StatusCode::OK),
        ("a missing page", admin.page("/no-such-page").await, StatusCode::NOT_FOUND),
        ("a redirect to sign in", anonymous.page("/history").await, StatusCode::SEE_OTHER),
        ("health", anonymous.healthz().await, StatusCode::OK),
    ];
    for (what, response, status) in others {
        assert_eq!(response.status(), status, "{what}");
        assert_security_headers(what, &response);
    }
}
