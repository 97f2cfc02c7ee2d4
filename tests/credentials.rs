//! Credentials over real HTTP: made and managed through the REST API, used by
//! an `http` node against a local upstream that checks them, and a canary
//! value looked for behind every door a secret could leak through.

mod support;

use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::client::Api;
use support::TestDb;

on_both_backends!(
    a_canary_credential_reaches_the_upstream_and_nothing_else,
    credentials_are_managed_by_name_and_refuse_bad_input_with_4xx,
    a_shared_credential_is_an_admins_to_make_and_everyones_to_use,
    a_key_rotation_reseals_every_secret_so_only_the_new_key_opens_them,
    an_llm_provider_is_a_credential_llm_nodes_name,
);

const CANARY: &str = "canary-7f3a9c41e2";

/// An upstream that wants `Bearer CANARY` (or `?key=CANARY`) and echoes
/// everything it was sent: in its body, and in a response header.
async fn echoing_upstream() -> String {
    async fn echo(headers: HeaderMap, RawQuery(query): RawQuery) -> axum::response::Response {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let query = query.unwrap_or_default();
        let status = if auth == format!("Bearer {CANARY}") || query.contains(CANARY) {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        let seen: Value = headers.iter().map(|(n, v)| (n.to_string(), json!(v.to_str().unwrap_or("")))).collect();
        (status, [("x-echo-authorization", auth)], axum::Json(json!({"headers": seen, "query": query}))).into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // `/hop` sends the caller to the same server under another origin (`localhost`).
    let elsewhere = format!("http://localhost:{}/echo", addr.port());
    let hop = move || async move { axum::response::Redirect::temporary(&elsewhere) };
    let routes = axum::Router::new().route("/echo", axum::routing::get(echo)).route("/hop", axum::routing::get(hop));
    tokio::spawn(async move { axum::serve(listener, routes).await });
    format!("http://{addr}")
}

fn assert_no_canary(door: &str, text: &str) {
    assert!(!text.contains(CANARY), "the canary leaked through {door}: {text}");
}

async fn a_canary_credential_reaches_the_upstream_and_nothing_else(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let api = Api::for_new_user(&server, &base, "canary@example.com").await;
    let upstream = echoing_upstream().await;

    let (status, created) = api
        .json(Method::POST, "/credentials", Some(json!({"name": "svc", "kind": "bearer", "data": {"token": CANARY}})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_no_canary("the create answer", &created.to_string());
    let (status, _) = api
        .json(
            Method::POST,
            "/credentials",
            Some(json!({"name": "svc-q", "kind": "query", "data": {"name": "key", "value": CANARY}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let workflow = json!({"name": "Call the service", "nodes": [
        {"id": "call", "type": "http", "config": {"method": "GET", "url": format!("{upstream}/echo"), "credential": "svc"}},
        {"id": "by_query", "type": "http", "config": {"method": "GET", "url": format!("{upstream}/echo?x=1"), "credential": "svc-q"}},
        {"id": "down", "type": "http", "on_error": "continue",
         "config": {"method": "GET", "url": "http://127.0.0.1:9/echo", "credential": "svc-q"}},
        {"id": "hop", "type": "http", "config": {"method": "GET", "url": format!("{upstream}/hop"), "credential": "svc"}},
        {"id": "show", "type": "template", "config": {"template": "{{ nodes.call.body.headers.authorization }} {{ nodes.down.error }}"}}
    ], "edges": [{"from": "call", "to": "show"}, {"from": "by_query", "to": "show"}, {"from": "down", "to": "show"}]});
    let id = api.create_workflow_id(&workflow).await;
    let (status, report) = api.run_execution(id, Some(json!({"input": {}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_no_canary("the run's answer", &report.to_string());
    let execution = report["id"].as_i64().expect("an execution id");
    let (_, details) = api.get_execution(execution).await;
    let text = details.to_string();
    assert_no_canary("the run view", &text);
    // The upstream got it (200, not 401) and echoed it back, masked.
    let node = |id: &str| &details["nodes"][id];
    assert_eq!(node("call")["output"]["status"], 200, "{details}");
    assert_eq!(node("call")["output"]["body"]["headers"]["authorization"], "Bearer ********");
    assert_eq!(node("call")["output"]["headers"]["x-echo-authorization"], "Bearer ********");
    assert_eq!(node("by_query")["output"]["status"], 200, "{details}");
    assert_eq!(node("by_query")["output"]["body"]["query"], "x=1&key=********");
    let error = node("down")["error"].as_str().unwrap_or_default();
    assert!(error.contains("key=********"), "the error quotes the URL, masked: {details}");
    assert_eq!(node("show")["output"]["text"], "Bearer ******** ".to_string() + error);
    // A redirect to another origin is not followed with the credential.
    assert_eq!(node("hop")["output"]["status"], 307, "{details}");

    // Versions, exports, lists, events, metrics, the database: no canary anywhere.
    let (_, got) = api.get_workflow(id).await;
    assert_no_canary("the workflow", &got.to_string());
    assert_no_canary("the export", &api.export_workflow(id).await.text().await.unwrap());
    let (_, listed) = api.json(Method::GET, "/credentials", None).await;
    assert_no_canary("the credential list", &listed.to_string());
    assert_eq!(listed[0]["used_by"], json!([{"id": id, "name": "Call the service"}]), "{listed}");
    assert!(listed[0]["last_used_at"].is_i64(), "{listed}");
    let (_, executions) = api.list_executions("").await;
    assert_no_canary("the history", &executions.to_string());
    let events = api.execution_events(execution).await.text().await.unwrap();
    assert!(events.contains("Bearer ********"), "{events}");
    assert_no_canary("the event stream", &events);
    assert_no_canary("the metrics", &api.metrics().await);
    let stored = support::everything_stored(db).await;
    assert!(stored.contains("Call the service") && stored.contains("x=1&key=********"), "the check reads the data");
    assert_no_canary("the database", &stored);
    // Every log line down to debug (Weft, the HTTP client and server, sqlx).
    let logs = support::logs();
    assert!(logs.contains("route=\"/api/v1/credentials\""), "the check reads the logs");
    assert_no_canary("the logs", &logs);
    server.stop.cancel();
}

async fn credentials_are_managed_by_name_and_refuse_bad_input_with_4xx(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let api = Api::for_new_user(&server, &base, "manager@example.com").await;
    let post = |body: Value| {
        let api = api.clone();
        async move { api.json(Method::POST, "/credentials", Some(body)).await }
    };
    for (body, status, says) in [
        (json!({"name": "has space", "kind": "bearer", "data": {"token": "long-enough"}}), 400, "contains ` `"),
        (json!({"name": "ok", "kind": "oauth9", "data": {}}), 400, "kind must be one of"),
        (json!({"name": "ok", "kind": "basic", "data": {"username": "u"}}), 400, "password"),
        (json!({"name": "ok", "kind": "bearer", "data": {"token": "short"}}), 400, "data.token must be at least 6"),
        (json!({"name": "ok", "kind": "bearer", "data": {"token": "long-enough"}, "shared": true}), 403, "admin"),
        (json!({"name": "ok", "kind": "bearer"}), 422, "data"),
    ] {
        let (got, answer) = post(body.clone()).await;
        assert_eq!(got.as_u16(), status, "{body} → {answer}");
        assert!(answer.to_string().contains(says), "{body} → {answer}");
    }
    let (status, _) = post(json!({"name": "gh", "kind": "bearer", "data": {"token": "first-token"}})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, answer) = post(json!({"name": "gh", "kind": "bearer", "data": {"token": "other-token"}})).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")));

    // Replaced under its name; a workflow using it keeps it from being deleted.
    let replace = json!({"kind": "header", "data": {"name": "X-Api-Key", "value": "second-value"}});
    let (status, answer) = api.json(Method::PUT, "/credentials/gh", Some(replace.clone())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{answer}");
    let (status, _) = api.json(Method::PUT, "/credentials/missing", Some(replace)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, listed) = api.json(Method::GET, "/credentials", None).await;
    assert_eq!(listed[0]["kind"], "header");
    let workflow = json!({"name": "Uses gh", "nodes": [
        {"id": "call", "type": "http", "config": {"method": "GET", "url": "https://example.com", "credential": "gh"}}
    ]});
    let id = api.create_workflow_id(&workflow).await;
    let (status, answer) = api.json(Method::DELETE, "/credentials/gh", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(answer["error"]["message"].as_str().unwrap().contains(&format!("Uses gh (#{id})")), "{answer}");
    api.delete_workflow(id).await;
    let (status, _) = api.json(Method::DELETE, "/credentials/gh", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A node naming a credential that does not exist fails with a message that says so.
    let workflow = json!({"name": "Missing", "nodes": [
        {"id": "call", "type": "http", "config": {"method": "GET", "url": "https://example.com", "credential": "nope"}}
    ]});
    let id = api.create_workflow_id(&workflow).await;
    let (_, report) = api.run_execution(id, None).await;
    assert!(report.to_string().contains("credential `nope` does not exist"), "{report}");
    // An invalid name in a definition is a validation message naming node and field.
    let bad = json!({"name": "Bad", "nodes": [
        {"id": "call", "type": "http", "config": {"method": "GET", "url": "https://example.com", "credential": "a b"}}
    ]});
    let (status, answer) = api.create_workflow(&bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer.to_string().contains("node `call` (http): config.credential"), "{answer}");

    // A literal secret header is allowed, with a warning naming node and header.
    let literal = json!({"name": "Literal", "nodes": [{"id": "call", "type": "http",
        "config": {"method": "GET", "url": "https://api.example", "headers": {"Authorization": "Bearer sk-live-123"}}}]});
    let (status, created) = api.create_workflow(&literal).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let warning = created["warnings"][0].as_str().unwrap_or_default();
    assert!(warning.contains("node `call` (http): header `Authorization`"), "{created}");
    assert!(created["id"].is_i64() && created["name"] == "Literal", "the summary is still there: {created}");
    let (status, saved) = api.update_workflow(created["id"].as_i64().unwrap(), &literal).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    assert_eq!(saved["warnings"].as_array().map(Vec::len), Some(1), "{saved}");
    server.stop.cancel();
}

async fn a_shared_credential_is_an_admins_to_make_and_everyones_to_use(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let admin_user = server.store.create_user("root@example.com", None, true).await.unwrap();
    let (_, key) =
        weft::api::create_api_key(server.store.as_ref(), admin_user.id, "t", Default::default()).await.unwrap();
    let admin = Api::new(&base, &key);
    let user = Api::for_new_user(&server, &base, "user@example.com").await;
    let upstream = echoing_upstream().await;
    let (status, made) = admin
        .json(
            Method::POST,
            "/credentials",
            Some(json!({"name": "team", "kind": "bearer", "data": {"token": CANARY}, "shared": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    assert_eq!(made["shared"], true);
    let (_, seen) = user.json(Method::GET, "/credentials", None).await;
    assert_eq!(seen[0]["name"], "team");
    assert_eq!(seen[0]["shared"], true);
    // The user can use it, but not replace or delete it.
    let (status, _) = user
        .json(
            Method::PUT,
            "/credentials/team?shared=true",
            Some(json!({"kind": "bearer", "data": {"token": "mine-now"}})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = user.json(Method::DELETE, "/credentials/team", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not theirs to delete");
    let workflow = json!({"name": "Team call", "nodes": [
        {"id": "call", "type": "http", "config": {"method": "GET", "url": format!("{upstream}/echo"), "credential": "team"}}
    ]});
    let id = user.create_workflow_id(&workflow).await;
    let (_, report) = user.run_execution(id, None).await;
    assert_no_canary("the run's answer", &report.to_string());
    assert!(report.to_string().contains("Bearer ********"), "{report}");
    let (status, answer) = admin.json(Method::DELETE, "/credentials/team?shared=true", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "the user's workflow uses it: {answer}");
    server.stop.cancel();
}

/// `weft secrets rotate`'s pass: every credential and the LLM key end up
/// sealed under the new key (the old one opens nothing), in one transaction;
/// a secret no key opens stops the pass before anything is written.
async fn a_key_rotation_reseals_every_secret_so_only_the_new_key_opens_them(db: &TestDb) {
    use std::sync::Arc;
    use weft::secrets::{reseal_all, SecretBox};
    let store = db.store().await;
    let (old, new) = ([1u8; 32], [2u8; 32]);
    let old_box = Arc::new(SecretBox::from_key(&old));
    let user = store.create_user("rotate@example.com", None, false).await.unwrap();
    let credentials = app::services::credentials::Credentials::new(store.clone(), old_box.clone());
    for name in ["one", "two"] {
        credentials.create(&user, name, "bearer", json!({"token": CANARY}), false).await.unwrap();
    }
    // An OAuth2 credential's tokens are re-sealed with its value.
    let first = store.sealed_credentials().await.unwrap()[0].id;
    let tokens = old_box.seal(r#"{"access_token":"at-rotate-me"}"#).unwrap();
    assert!(store.save_credential_tokens(first, None, &tokens).await.unwrap());
    let llm = json!({"base_url": "http://127.0.0.1:9", "api_key_sealed": old_box.seal("sk-rotate-me").unwrap()});
    store.put_setting("llm_provider", &llm).await.unwrap();

    // A box that opens neither key's secrets stops the pass; nothing changes.
    let stranger = SecretBox::from_key(&[3u8; 32]);
    assert!(reseal_all(store.as_ref(), &stranger).await.is_err());
    let before = store.sealed_credentials().await.unwrap();
    assert!(before.iter().all(|c| old_box.open(&c.sealed).is_ok()));
    assert_eq!(before[0].tokens.as_deref(), Some(tokens.as_str()));

    let rotating = SecretBox::from_key(&new).with_previous(&old);
    let done = reseal_all(store.as_ref(), &rotating).await.unwrap();
    assert_eq!((done.credentials, done.settings), (2, 1));
    let new_only = SecretBox::from_key(&new);
    for credential in store.sealed_credentials().await.unwrap() {
        assert!(new_only.open(&credential.sealed).unwrap().contains(CANARY));
        assert!(old_box.open(&credential.sealed).is_err(), "the old key opens nothing any more");
        if let Some(tokens) = &credential.tokens {
            assert!(new_only.open(tokens).unwrap().contains("at-rotate-me"));
            assert!(old_box.open(tokens).is_err());
        }
    }
    let setting = store.setting("llm_provider").await.unwrap().unwrap();
    assert_eq!(new_only.open(setting["api_key_sealed"].as_str().unwrap()).unwrap(), "sk-rotate-me");
    assert_eq!(setting["base_url"], "http://127.0.0.1:9", "the rest of the setting is kept");
    // Running it again (all already under the new key) is harmless.
    assert!(reseal_all(store.as_ref(), &new_only).await.is_ok());
}

/// An Anthropic-shaped provider that wants `x-api-key: CANARY` and answers
/// whole (not streamed), quoting the prompt.
async fn anthropic_upstream() -> String {
    async fn messages(headers: HeaderMap, axum::Json(body): axum::Json<Value>) -> axum::response::Response {
        if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(CANARY) {
            return (StatusCode::UNAUTHORIZED, "bad key").into_response();
        }
        let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
        axum::Json(json!({"model": body["model"], "content": [{"type": "text", "text": format!("claude: {prompt}")}],
            "usage": {"input_tokens": 3, "output_tokens": 2}}))
        .into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/v1/messages", axum::routing::post(messages));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/v1")
}

/// `llm` credentials over the REST API: checked by field, named by llm nodes
/// (and counted as their use), their key reaching the provider and nothing
/// else, and refused where they do not belong.
async fn an_llm_provider_is_a_credential_llm_nodes_name(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let api = Api::for_new_user(&server, &base, "llm-user@example.com").await;
    let upstream = anthropic_upstream().await;
    for (data, says) in [
        (json!({"api": "cohere", "base_url": upstream}), "\"openai\" or \"anthropic\""),
        (json!({"api": "anthropic", "base_url": "ftp://models.example"}), "data.base_url"),
        (json!({"api": "anthropic", "base_url": upstream, "api_key": "abc"}), "data.api_key"),
    ] {
        let (status, answer) =
            api.json(Method::POST, "/credentials", Some(json!({"name": "claude", "kind": "llm", "data": data}))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["error"]["message"].as_str().unwrap_or_default().contains(says), "{answer}");
    }
    let data = json!({"api": "anthropic", "base_url": upstream, "api_key": CANARY, "default_model": "claude-test"});
    let (status, created) =
        api.json(Method::POST, "/credentials", Some(json!({"name": "claude", "kind": "llm", "data": data}))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["kind"], "llm");
    assert_no_canary("the create answer", &created.to_string());

    let (status, refused) = api
        .create_workflow(&json!({"name": "Bad", "nodes": [
            {"id": "ask", "type": "llm", "config": {"prompt": "hi", "fallbacks": [{"provider": "no such/name"}]}}
        ]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.to_string().contains("node `ask` (llm): config.fallbacks[0].provider:"), "{refused}");

    let id = api
        .create_workflow_id(&json!({"name": "Ask Claude", "nodes": [
            {"id": "ask", "type": "llm", "config": {"provider": "claude", "prompt": "Hello {{ input.who }}"}},
            {"id": "misuse", "type": "http", "on_error": "continue",
             "config": {"method": "GET", "url": format!("{upstream}/messages"), "credential": "claude"}}
        ]}))
        .await;
    let (status, report) = api.run_execution(id, Some(json!({"input": {"who": "Ada"}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let execution = report["id"].as_i64().unwrap();
    let (_, details) = api.get_execution(execution).await;
    let ask = &details["nodes"]["ask"]["output"];
    assert_eq!(ask["text"], "claude: Hello Ada", "{details}");
    assert_eq!((ask["provider"].as_str(), ask["model"].as_str()), (Some("claude"), Some("claude-test")), "{details}");
    assert_eq!(ask["usage"]["total_tokens"], 5, "{details}");
    let misuse = details["nodes"]["misuse"]["error"].as_str().unwrap_or_default();
    assert!(misuse.contains("credential `claude` is an LLM provider"), "{details}");
    assert_no_canary("the run view", &details.to_string());

    // What the call spent: per day over the API, and in /metrics by provider and model.
    let (status, usage) = api.json(Method::GET, "/usage?days=3", None).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["today"]["calls"], 1, "{usage}");
    assert_eq!(
        (usage["today"]["prompt_tokens"].as_i64(), usage["today"]["completion_tokens"].as_i64()),
        (Some(3), Some(2))
    );
    assert_eq!(usage["days"].as_array().map(Vec::len), Some(1), "{usage}");
    assert_eq!(usage["budget"], Value::Null);
    let (status, refused) = api.json(Method::GET, "/usage?days=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let metrics = api.metrics().await;
    let line = metrics.lines().find(|l| l.starts_with("weft_llm_tokens_total{") && l.contains("provider=\"claude\""));
    let line = line.unwrap_or_else(|| panic!("no token count for claude in {metrics}"));
    assert!(line.contains("model=\"claude-test\""), "{line}");

    let (_, listed) = api.json(Method::GET, "/credentials", None).await;
    assert_eq!(listed[0]["used_by"], json!([{"id": id, "name": "Ask Claude"}]), "{listed}");
    assert_no_canary("the credential list", &listed.to_string());
    assert_no_canary("the database", &support::everything_stored(db).await);
    server.stop.cancel();
}
