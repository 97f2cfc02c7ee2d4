//! The LLM settings over real HTTP: only admins change them, the API key is
//! stored sealed and never sent back, and a change is in use at once (a run's
//! `llm` node reaches the new provider with the new key).

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::Browser;
use support::TestDb;

on_both_backends!(
    an_admin_points_runs_at_another_llm_provider_and_its_key_stays_secret,
    a_non_admin_can_neither_read_nor_see_the_llm_settings
);

/// A provider that records the `Authorization` header of each call and answers plainly.
async fn fake_provider() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    async fn chat(
        State(seen): State<Arc<Mutex<Vec<Option<String>>>>>,
        headers: HeaderMap,
        Json(body): Json<Value>,
    ) -> Json<Value> {
        let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string());
        seen.lock().unwrap().push(auth);
        let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
        Json(json!({"model": body["model"], "choices": [{"message": {"content": format!("fake says: {prompt}")}}]}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = Router::new().route("/v1/chat/completions", post(chat)).with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/v1"), seen)
}

fn form<'a>(url: &'a str, key: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut form = vec![
        ("base_url", url),
        ("default_model", "fake-model"),
        ("cache_ttl_secs", "0"),
        ("cache_capacity", "100"),
        ("max_concurrency", "4"),
    ];
    if let Some(key) = key {
        form.push(("api_key", key));
    }
    form
}

/// Runs `workflow` from the page and waits for it to end; the run's details.
async fn run_llm(browser: &Browser, workflow: i64) -> Value {
    let started: Value = browser.start_run(workflow, "{}").await.json().await.unwrap();
    browser.finished_run(started["id"].as_i64().unwrap()).await
}

async fn an_admin_points_runs_at_another_llm_provider_and_its_key_stays_secret(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let admin = Browser::signed_in_user(server.store.as_ref(), &base, "root@example.com", true).await;
    let user = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let (provider, seen) = fake_provider().await;

    let refused = user.save_llm_settings(&form(&provider, Some("sk-nope"))).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let bad = admin.save_llm_settings(&form("ftp://nowhere", None)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("http(s) URL"));

    let saved = admin.save_llm_settings(&form(&provider, Some("sk-test-123"))).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let text = saved.text().await.unwrap();
    assert!(!text.contains("sk-test-123"), "the key is never sent back: {text}");
    let saved: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((saved["has_api_key"].as_bool(), saved["base_url"].as_str()), (Some(true), Some(provider.as_str())));
    // Stored sealed.
    let stored = server.store.setting("llm_provider").await.unwrap().expect("stored");
    assert!(!stored.to_string().contains("sk-test-123"), "{stored}");
    // Admins read them back (without the key).
    let read: Value = admin.llm_settings().await.json().await.unwrap();
    assert_eq!(read, saved);

    // In use at once, without a restart: the model default and the key reach the provider.
    let definition = json!({"name": "Ask", "nodes": [{"id": "ask", "type": "llm", "config": {"model": "", "prompt": "hello"}}], "edges": []});
    let imported = user.import_workflow(&definition.to_string()).await;
    assert_eq!(imported.status(), StatusCode::OK, "an empty model means the default one");
    let imported: Value = imported.json().await.unwrap();
    let workflow = imported["id"].as_i64().unwrap();
    let details = run_llm(&user, workflow).await;
    assert_eq!(details["execution"]["status"], "succeeded", "{details}");
    let output = &details["runs"][0]["output"];
    assert_eq!((output["text"].as_str(), output["model"].as_str()), (Some("fake says: hello"), Some("fake-model")));
    assert_eq!(seen.lock().unwrap().last().cloned().flatten().as_deref(), Some("Bearer sk-test-123"));

    // Saving without a key keeps it; removing it stops sending it.
    admin.save_llm_settings(&form(&provider, None)).await;
    run_llm(&user, workflow).await;
    assert_eq!(seen.lock().unwrap().last().cloned().flatten().as_deref(), Some("Bearer sk-test-123"));
    let mut removing = form(&provider, None);
    removing.push(("remove_api_key", "true"));
    let removed: Value = admin.save_llm_settings(&removing).await.json().await.unwrap();
    assert_eq!(removed["has_api_key"], json!(false));
    run_llm(&user, workflow).await;
    assert_eq!(seen.lock().unwrap().last().cloned().flatten(), None);
}

/// The provider's address names internal hosts: only admins read it, and the
/// settings page shows the section to admins only.
async fn a_non_admin_can_neither_read_nor_see_the_llm_settings(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let admin = Browser::signed_in_user(server.store.as_ref(), &base, "root@example.com", true).await;
    let user = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let internal = "http://llm.corp.internal:11434/v1";
    assert_eq!(admin.save_llm_settings(&form(internal, None)).await.status(), StatusCode::OK);

    let refused = user.llm_settings().await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let text = refused.text().await.unwrap();
    assert!(text.contains("only an admin"), "a clear refusal: {text}");
    assert!(!text.contains("llm.corp.internal"), "{text}");
    let anonymous = user.without_session().llm_settings().await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let page = user.page("/settings").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-testid=\"settings-page\""), "the settings page itself is shown: {html}");
    assert!(!html.contains("llm.corp.internal"), "no internal host on a non-admin's page: {html}");
    assert!(!html.contains("data-testid=\"llm-settings\""), "no LLM section for a non-admin: {html}");

    let admin_page = admin.page("/settings").await.text().await.unwrap();
    assert!(admin_page.contains("data-testid=\"llm-settings\""), "{admin_page}");
    assert!(admin_page.contains("llm.corp.internal"), "{admin_page}");
}
