//! The real server on 127.0.0.1:0 with a fresh database, driven over HTTP.

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::client::Browser;
use support::TestDb;
use weft::server::RunningServer;

/// The server and a browser signed in as an admin.
async fn start(db: &TestDb) -> (RunningServer, Browser) {
    let (server, base) = support::start_server(db).await;
    let admin = Browser::signed_in_user(server.store.as_ref(), &base, "admin@example.com", true).await;
    (server, admin)
}

on_both_backends!(
    health_and_readiness_answer,
    the_home_page_is_server_rendered_with_hydration_scripts,
    an_imported_workflow_appears_in_the_rendered_list,
    an_imported_cron_workflow_is_scheduled_at_once,
    bad_definitions_are_4xx_with_the_validation_messages,
    names_are_escaped_in_the_html,
    pages_are_compressed,
    requests_carry_an_id_and_bodies_are_limited,
);

async fn health_and_readiness_answer(db: &TestDb) {
    let (_server, session) = start(db).await;
    let anonymous = session.without_session();
    let health = anonymous.healthz().await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = anonymous.readyz().await;
    assert_eq!((ready.status(), ready.text().await.unwrap().as_str()), (StatusCode::OK, "ready"));
}

async fn the_home_page_is_server_rendered_with_hydration_scripts(db: &TestDb) {
    let (_server, session) = start(db).await;
    let page = session.page("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<h1>Workflows</h1>"), "{html}");
    assert!(html.contains("/pkg/weft.js"), "the page loads the WASM glue: {html}");
    assert!(html.contains("No workflows yet"), "{html}");
    let missing = session.without_session().page("/no/such/page").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

async fn an_imported_cron_workflow_is_scheduled_at_once(db: &TestDb) {
    let (server, session) = start(db).await;
    // Let the scheduler settle into its sleep: with no schedules it waits for a signal.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut definition = support::definition("Nightly");
    definition.triggers = vec![serde_json::json!({"type": "cron", "schedule": "0 3 * * *", "timezone": "UTC"})];
    let response = session.import_workflow(&serde_json::to_string(&definition).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    for _ in 0..50 {
        let schedules = server.store.workflow_schedules(app::model::Scope::Everyone, id).await.unwrap();
        if schedules[0].next_fire_at.is_some() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("a schedule imported through the UI was not planned within a second");
}

async fn an_imported_workflow_appears_in_the_rendered_list(db: &TestDb) {
    let (_server, session) = start(db).await;
    let definition = support::definition("Greet and wait");
    let response = session.import_workflow(&serde_json::to_string(&definition).unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!((created["name"].as_str(), created["current_version"].as_i64()), (Some("Greet and wait"), Some(1)));

    let html = session.page("/").await.text().await.unwrap();
    assert!(html.contains("Greet and wait"), "{html}");
    let listed: serde_json::Value = session.list_workflows(&[("search", "greet")]).await.json().await.unwrap();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
}

async fn bad_definitions_are_4xx_with_the_validation_messages(db: &TestDb) {
    let (_server, session) = start(db).await;
    let not_json = session.import_workflow("{\"name\": ").await;
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert!(not_json.text().await.unwrap().contains("not valid JSON"));

    let cyclic = json!({"name": "Loop", "nodes": [
        {"id": "a", "type": "delay", "config": {"ms": 1}},
        {"id": "b", "type": "delay", "config": {"ms": 1}}
    ], "edges": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]});
    let response = session.import_workflow(&cyclic.to_string()).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "as the REST API answers");
    let body = response.text().await.unwrap();
    assert!(body.contains("the graph has a cycle"), "{body}");

    let bad_cursor = session.list_workflows(&[("after", "yesterday")]).await;
    assert_eq!(bad_cursor.status(), StatusCode::BAD_REQUEST);

    // Arguments that do not parse never reach the function: still the caller's mistake.
    let bad_id = session.server_fn("runs/load", &[("id", "abc")]).await;
    assert_eq!(bad_id.status(), StatusCode::BAD_REQUEST);
    assert!(bad_id.text().await.unwrap().contains("bad arguments"));

    // Nothing invalid was saved.
    let listed: serde_json::Value = session.list_workflows(&[]).await.json().await.unwrap();
    assert_eq!(listed["items"], json!([]));
}

async fn names_are_escaped_in_the_html(db: &TestDb) {
    let (_server, session) = start(db).await;
    let evil = support::definition("<img src=x onerror=alert(1)>");
    let imported = session.import_workflow(&serde_json::to_string(&evil).unwrap()).await;
    assert_eq!(imported.status(), StatusCode::OK, "{}", imported.text().await.unwrap());
    let html = session.page("/").await.text().await.unwrap();
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
}

async fn pages_are_compressed(db: &TestDb) {
    let (_server, session) = start(db).await;
    // reqwest here has no decompression features, so the raw header is visible.
    let page = session.get_raw("/").header("accept-encoding", "br, gzip").send().await.unwrap();
    assert_eq!(page.headers().get("content-encoding").map(|v| v.to_str().unwrap()), Some("br"));
}

async fn requests_carry_an_id_and_bodies_are_limited(db: &TestDb) {
    let (_server, session) = start(db).await;
    let anonymous = session.without_session();
    let response = anonymous.healthz().await;
    let id = response.headers().get("x-request-id").expect("a request id").to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let given = anonymous.get_raw("/healthz").header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(given.headers()["x-request-id"], "abc-123", "a caller's id is kept");

    // The test server accepts 64 KiB bodies.
    let huge = "x".repeat(100 * 1024);
    let response = session.import_workflow(&huge).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
