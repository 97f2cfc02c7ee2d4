//! OAuth2 credentials end to end against a local fake authorization server:
//! Connect through the browser redirects (authorization code with PKCE), runs
//! that send the access token, a refresh before expiry, a refresh after the
//! upstream refuses a token, client credentials with one token request for a
//! burst of requests, and the tokens kept out of everything stored and shown.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Digest;
use support::client::{Api, Browser};
use support::TestDb;

on_both_backends!(
    authorization_code_connects_through_the_browser_and_refreshes_before_expiry_and_after_a_401,
    client_credentials_fetch_one_token_for_a_burst_and_forget_it_when_the_value_is_replaced,
);

/// Part of every secret the fake server hands out, looked for everywhere.
const MARK: &str = "oauthcanary";
const CLIENT_ID: &str = "weft-test-client";
const CLIENT_SECRET: &str = "client-secret-oauthcanary";

#[derive(Default)]
struct Provider {
    /// code → (PKCE challenge, redirect_uri)
    codes: HashMap<String, (String, String)>,
    access: HashSet<String>,
    refresh: HashSet<String>,
    issued: u32,
    /// Token requests with the client's right secret, by grant type.
    grants: HashMap<String, u32>,
    /// Every token request, refused ones included.
    requests: u32,
    /// Lifetime of the next access tokens, in seconds.
    lifetime: u64,
    /// What `/api` was last sent.
    seen: Vec<String>,
}

type Shared = Arc<Mutex<Provider>>;

impl Provider {
    fn issue(&mut self, with_refresh: bool) -> Value {
        self.issued += 1;
        let access = format!("at-{}-{MARK}", self.issued);
        self.access.insert(access.clone());
        let mut answer = json!({"access_token": access, "token_type": "Bearer", "expires_in": self.lifetime});
        if with_refresh {
            let refresh = format!("rt-{}-{MARK}", self.issued);
            self.refresh.insert(refresh.clone());
            answer["refresh_token"] = json!(refresh);
        }
        answer
    }
}

async fn authorize(State(provider): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let get = |k: &str| query.get(k).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("response_type") != "code" || get("code_challenge_method") != "S256" {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let mut provider = provider.lock().unwrap();
    let code = format!("code-{}", provider.codes.len() + 1);
    provider.codes.insert(code.clone(), (get("code_challenge"), get("redirect_uri")));
    let back = format!("{}?code={code}&state={}", get("redirect_uri"), urlencode(&get("state")));
    Redirect::to(&back).into_response()
}

async fn token(State(provider): State<Shared>, Form(form): Form<HashMap<String, String>>) -> Response {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let refuse = |error: &str| (StatusCode::BAD_REQUEST, Json(json!({"error": error}))).into_response();
    provider.lock().unwrap().requests += 1;
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client"}))).into_response();
    }
    let mut provider = provider.lock().unwrap();
    *provider.grants.entry(get("grant_type")).or_default() += 1;
    let answer = match get("grant_type").as_str() {
        "authorization_code" => {
            let Some((challenge, redirect_uri)) = provider.codes.remove(&get("code")) else {
                return refuse("invalid_grant");
            };
            let verified = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(get("code_verifier").as_bytes()));
            if verified != challenge || redirect_uri != get("redirect_uri") {
                return refuse("invalid_grant");
            }
            provider.issue(true)
        }
        // Refresh tokens rotate: the old one stops working.
        "refresh_token" => {
            if !provider.refresh.remove(&get("refresh_token")) {
                return refuse("invalid_grant");
            }
            provider.issue(true)
        }
        "client_credentials" => provider.issue(false),
        _ => return refuse("unsupported_grant_type"),
    };
    Json(answer).into_response()
}

/// The protected API: wants a current access token; echoes it back (so the
/// test sees it masked in the recorded output).
async fn api(State(provider): State<Shared>, headers: HeaderMap) -> Response {
    let sent = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let token = sent.strip_prefix("Bearer ").unwrap_or("").to_string();
    let mut provider = provider.lock().unwrap();
    provider.seen.push(token.clone());
    if provider.access.contains(&token) {
        Json(json!({"ok": true, "you_sent": sent})).into_response()
    } else {
        (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_token", "you_sent": sent}))).into_response()
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

async fn fake_provider(lifetime: u64) -> (Shared, String) {
    let provider: Shared = Arc::new(Mutex::new(Provider { lifetime, ..Default::default() }));
    let routes = axum::Router::new()
        .route("/authorize", axum::routing::get(authorize))
        .route("/token", axum::routing::post(token))
        .route("/api", axum::routing::get(api))
        // Hostile token endpoints: an answer past Weft's 64 KiB cap, and a refusal with 100,000 characters of text.
        .route("/token-huge", axum::routing::post(|| async { Json(json!({"access_token": "x".repeat(100_000)})) }))
        .route(
            "/token-chatty",
            axum::routing::post(|| async {
                (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": "invalid_client", "error_description": "y".repeat(60_000)})),
                )
            }),
        )
        .with_state(provider.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await });
    (provider, format!("http://{addr}"))
}

/// A user with both a browser session (to press Connect) and an API key; an
/// admin, so pages are served (a fresh instance without one sends everyone to `/setup`).
async fn user(server: &weft::server::RunningServer, base: &str, email: &str) -> (Browser, Api) {
    let browser = Browser::signed_in_user(server.store.as_ref(), base, email, true).await;
    let user = server.store.user_by_email(email).await.unwrap().unwrap();
    let (_, key) =
        weft::api::create_api_key(server.store.as_ref(), user.id, "tests", Default::default()).await.unwrap();
    (browser, Api::new(base, &key))
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

fn grants(provider: &Shared, grant: &str) -> u32 {
    provider.lock().unwrap().grants.get(grant).copied().unwrap_or(0)
}

async fn run(api: &Api, workflow: i64) -> Value {
    let (status, report) = api.run_execution(workflow, Some(json!({"input": {}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    report
}

async fn authorization_code_connects_through_the_browser_and_refreshes_before_expiry_and_after_a_401(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    // The first tokens last 30 s: less than the minute Weft keeps in hand.
    let (provider, fake) = fake_provider(30).await;
    let (browser, api) = user(&server, &base, "oauth@example.com").await;
    let (status, created) = api
        .json(
            Method::POST,
            "/credentials",
            Some(json!({"name": "google", "kind": "oauth2", "data": {
                "grant": "authorization_code", "authorize_url": format!("{fake}/authorize"),
                "token_url": format!("{fake}/token"), "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "scope": "calendar.readonly"
            }})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "oauth2");
    assert!(created["connected_at"].is_null());

    let workflow = json!({"name": "Calendar", "nodes": [
        {"id": "call", "type": "http", "config": {"method": "GET", "url": format!("{fake}/api"), "credential": "google"}}
    ]});
    let id = api.create_workflow_id(&workflow).await;

    // Not connected yet: the run says what to do.
    let (_, report) = api.run_execution(id, Some(json!({"input": {}}))).await;
    assert_eq!(report["status"], "failed", "{report}");
    assert!(report.to_string().contains("not connected: press Connect"), "{report}");

    // Connect: Weft → the provider's sign-in (with PKCE) → the callback → the credentials page.
    let connect = browser.page("/oauth/connect/google").await;
    assert!(connect.status().is_redirection(), "{}", connect.status());
    let sign_in = location(&connect);
    assert!(sign_in.starts_with(&format!("{fake}/authorize?")), "{sign_in}");
    let sign_in_url = reqwest::Url::parse(&sign_in).unwrap();
    let params: HashMap<_, _> = sign_in_url.query_pairs().into_owned().collect();
    assert_eq!(params["redirect_uri"], format!("{base}/oauth/callback"));
    assert_eq!(params["scope"], "calendar.readonly");
    assert!(!sign_in.contains(MARK), "the client secret stays out of the browser's URLs");
    let outside = support::browser(None);
    let provider_answer = outside.get(&sign_in).send().await.unwrap();
    let callback = location(&provider_answer);
    assert!(callback.starts_with(&format!("{base}/oauth/callback?code=")), "{callback}");

    // A forged state is refused and connects nothing.
    let forged = outside.get(format!("{base}/oauth/callback?code=code-1&state=00ff")).send().await.unwrap();
    assert!(location(&forged).starts_with("/credentials?oauth_error="), "{}", location(&forged));
    // The provider saying no comes back as a message.
    let denied =
        outside.get(format!("{base}/oauth/callback?error=access_denied&error_description=nope")).send().await.unwrap();
    assert!(location(&denied).contains("access_denied"), "{}", location(&denied));

    // The real one, from a browser without Weft's cookie (a SameSite=Strict
    // cookie is not sent on the way back from another site).
    let back = outside.get(&callback).send().await.unwrap();
    assert_eq!(location(&back), "/credentials?connected=google");
    assert_eq!(grants(&provider, "authorization_code"), 1);
    let (_, listed) = api.json(Method::GET, "/credentials", None).await;
    assert!(listed[0]["connected_at"].as_i64().is_some(), "{listed}");
    // The code is single use: the same callback again fails.
    let again = outside.get(&callback).send().await.unwrap();
    assert!(location(&again).starts_with("/credentials?oauth_error="), "{}", location(&again));

    // The first token expires within the minute: it is refreshed before it is sent.
    provider.lock().unwrap().lifetime = 3600;
    let report = run(&api, id).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(grants(&provider, "refresh_token"), 1);
    assert_eq!(provider.lock().unwrap().seen.last().unwrap(), &format!("at-2-{MARK}"));
    // The echoed token is masked in what is recorded.
    assert_eq!(report["nodes"]["call"]["output"]["body"]["you_sent"], "Bearer ********", "{report}");

    // A token that lasts is reused: no token request.
    run(&api, id).await;
    assert_eq!((grants(&provider, "refresh_token"), provider.lock().unwrap().issued), (1, 2));

    // The provider revokes it: the 401 makes Weft refresh once and send again.
    provider.lock().unwrap().access.clear();
    let report = run(&api, id).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["nodes"]["call"]["output"]["status"], 200);
    assert_eq!(grants(&provider, "refresh_token"), 2);

    // No token, refresh token or client secret anywhere Weft stores or shows.
    let stored = support::everything_stored(db).await;
    assert!(stored.contains("oauth@example.com"), "the database dump sees stored data");
    assert!(!stored.contains(MARK), "a token or the client secret is stored in the clear");
    let (_, executions) = api.json(Method::GET, &format!("/executions?workflow_id={id}"), None).await;
    let execution = report["id"].as_i64().unwrap();
    let (_, details) = api.get_execution(execution).await;
    for (door, text) in [
        ("the credential list", listed.to_string()),
        ("the history", executions.to_string()),
        ("the run view", details.to_string()),
        ("the run answer", report.to_string()),
        ("the logs (down to debug)", support::logs()),
    ] {
        assert!(!text.contains(MARK), "a secret leaked through {door}: {text}");
    }
    let page = browser.page("/credentials?connected=google").await;
    assert_eq!(page.status(), StatusCode::OK, "{:?}", page.headers());
    let page = page.text().await.unwrap();
    assert!(page.contains("Connected google") && !page.contains(MARK), "the credentials page: {page}");
    drop(server);
}

async fn client_credentials_fetch_one_token_for_a_burst_and_forget_it_when_the_value_is_replaced(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let (provider, fake) = fake_provider(3600).await;
    let (browser, api) = user(&server, &base, "machine@example.com").await;
    let data = json!({"grant": "client_credentials", "token_url": format!("{fake}/token"),
        "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let (status, created) =
        api.json(Method::POST, "/credentials", Some(json!({"name": "svc", "kind": "oauth2", "data": data}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");

    // Four requests at once before any token exists: one token request.
    let call = |id: &str| {
        json!({"id": id, "type": "http",
        "config": {"method": "GET", "url": format!("{fake}/api"), "credential": "svc"}})
    };
    let workflow = json!({"name": "Burst", "nodes": [call("a"), call("b"), call("c"), call("d")]});
    let id = api.create_workflow_id(&workflow).await;
    let report = run(&api, id).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(grants(&provider, "client_credentials"), 1);
    run(&api, id).await;
    assert_eq!(grants(&provider, "client_credentials"), 1, "the stored token is reused");

    // Replacing the value forgets the tokens (they belong to the old client).
    let (status, _) = api.json(Method::PUT, "/credentials/svc", Some(json!({"kind": "oauth2", "data": data}))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, listed) = api.json(Method::GET, "/credentials", None).await;
    assert!(listed[0]["connected_at"].is_null(), "{listed}");
    // Connect with client credentials obtains a token at once.
    let connected = browser.page("/oauth/connect/svc").await;
    assert_eq!(location(&connected), "/credentials?connected=svc");
    assert_eq!(grants(&provider, "client_credentials"), 2);

    // A wrong secret: the token endpoint's refusal, with the secret masked.
    let wrong = json!({"grant": "client_credentials", "token_url": format!("{fake}/token"),
        "client_id": CLIENT_ID, "client_secret": "wrong-secret-1"});
    api.json(Method::PUT, "/credentials/svc", Some(json!({"kind": "oauth2", "data": wrong}))).await;
    let (_, report) = api.run_execution(id, Some(json!({"input": {}}))).await;
    assert_eq!(report["status"], "failed", "{report}");
    let text = report.to_string();
    assert!(text.contains("token endpoint refused") && text.contains("invalid_client"), "{text}");
    assert!(!text.contains("wrong-secret-1"), "the secret is masked in the error: {text}");
    let asked = provider.lock().unwrap().requests;
    // A failing token endpoint is not asked again by every request for a while.
    let (_, again) = api.run_execution(id, Some(json!({"input": {}}))).await;
    assert!(again.to_string().contains("asked again at most every 30 s"), "{again}");
    assert_eq!(provider.lock().unwrap().requests, asked, "no new token request");
    // Pressing Connect asks at once.
    let refused = browser.page("/oauth/connect/svc").await;
    assert!(location(&refused).contains("invalid_client"), "{}", location(&refused));
    assert_eq!(provider.lock().unwrap().requests, asked + 1);
    // So does a replaced value.
    api.json(Method::PUT, "/credentials/svc", Some(json!({"kind": "oauth2", "data": data}))).await;
    assert_eq!(run(&api, id).await["status"], "succeeded");

    // What a hostile token endpoint answers is bounded: no answer past 64 KiB is read, no
    // refusal text past 300 characters reaches the run's record.
    for (endpoint, expected) in [("token-huge", "larger than 65536 bytes"), ("token-chatty", "invalid_client: yyy")] {
        let hostile = json!({"grant": "client_credentials", "token_url": format!("{fake}/{endpoint}"),
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
        api.json(Method::PUT, "/credentials/svc", Some(json!({"kind": "oauth2", "data": hostile}))).await;
        let (_, report) = api.run_execution(id, Some(json!({"input": {}}))).await;
        assert_eq!(report["status"], "failed", "{endpoint}");
        let error = report["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(expected), "{endpoint}: {}", &error[..error.len().min(400)]);
        assert!(error.len() < 1_000, "{endpoint}: the error quotes {} bytes", error.len());
    }

    drop(server);
}
