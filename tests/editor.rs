//! What the editor asks the server for while a workflow is built, over real
//! HTTP: the last run's data (the data panel) and the live preview of a
//! template, rendered by the engine; and how the bundle it runs from is cached.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::Browser;
use support::TestDb;

on_both_backends!(
    the_data_panel_gets_the_last_runs_input_and_outputs_sampled,
    a_template_previews_with_the_last_runs_data_and_errors_name_the_line,
    the_bundle_is_served_under_its_hash_for_a_year_and_pages_are_never_stored,
);

async fn import_shaper(ada: &Browser) -> i64 {
    ada.import_workflow_id(&json!({
        "name": "Shaper",
        "nodes": [
            {"id": "shape", "type": "template", "config": {
                "template": "{\"user\": {\"name\": \"{{ input.who }}\"}, \"rows\": {{ range(100) | list | tojson }}, \"long\": \"{% for i in range(500) %}xxxxxxxxxx{% endfor %}\"}",
                "json": true}},
            {"id": "greet", "type": "template", "config": {"template": "Hello {{ nodes.shape.user.name }}"}}
        ],
        "edges": [{"from": "shape", "to": "greet"}]
    }))
    .await
}

async fn the_data_panel_gets_the_last_runs_input_and_outputs_sampled(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let workflow = import_shaper(&ada).await;
    let id = workflow.to_string();

    let never: Value = ada.server_fn("editor/last-run", &[("workflow", &id)]).await.json().await.unwrap();
    assert_eq!(never, Value::Null, "no run yet");

    let run = ada.start_run_id(workflow, r#"{"who": "Ada"}"#).await;
    assert_eq!(ada.finished_run(run).await["execution"]["status"], "succeeded");
    let last = ada.server_fn("editor/last-run", &[("workflow", &id)]).await;
    assert_eq!(last.status(), StatusCode::OK);
    let last: Value = last.json().await.unwrap();
    assert_eq!(last["execution"], json!(run));
    assert_eq!(last["input"], json!({"who": "Ada"}));
    assert_eq!(last["outputs"]["greet"], json!({"text": "Hello Ada"}));
    let shape = &last["outputs"]["shape"];
    assert_eq!(shape["user"]["name"], "Ada");
    // A sample of the shape: 20 of the 100 rows, the start of the long string.
    assert_eq!(shape["rows"].as_array().unwrap().len(), 20);
    assert_eq!(shape["long"].as_str().unwrap().chars().count(), 301);

    // Someone else's workflow has no run for them to see.
    let bob = Browser::signed_in_user(server.store.as_ref(), &base, "bob@example.com", false).await;
    let theirs: Value = bob.server_fn("editor/last-run", &[("workflow", &id)]).await.json().await.unwrap();
    assert_eq!(theirs, Value::Null);
}

async fn a_template_previews_with_the_last_runs_data_and_errors_name_the_line(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let workflow = import_shaper(&ada).await;
    let id = workflow.to_string();
    let preview = |source: &'static str| {
        let ada = &ada;
        let id = id.clone();
        async move {
            let response = ada
                .server_fn(
                    "editor/preview",
                    &[("workflow", &id), ("node", "greet"), ("field", "template"), ("source", source)],
                )
                .await;
            (response.status(), response.text().await.unwrap())
        }
    };
    assert_eq!(preview("Hello {{ input.who }}").await, (StatusCode::OK, "\"NoRun\"".to_string()));

    let run = ada.start_run_id(workflow, r#"{"who": "Ada"}"#).await;
    ada.finished_run(run).await;
    let (status, body) =
        preview("Hi {{ nodes.shape.user.name }}, {{ nodes.shape.user }} {{ nodes.shape.rows | length }}").await;
    assert_eq!(status, StatusCode::OK);
    let body: Value = serde_json::from_str(&body).unwrap();
    // The engine's rendering: an object prints as JSON, and the whole output is there (not the panel's sample).
    assert_eq!(body, json!({"Rendered": {"execution": run, "text": "Hi Ada, {\"name\":\"Ada\"} 100"}}));

    let (_, body) = preview("line one\n{{ nodes.shape.usr.name }}").await;
    let error = serde_json::from_str::<Value>(&body).unwrap()["Failed"]["error"].as_str().unwrap().to_string();
    assert!(error.contains("line 2") && error.contains("nodes.shape.usr") && error.contains("`user`"), "{error}");
    let (_, body) = preview("{{ oops").await;
    let error = serde_json::from_str::<Value>(&body).unwrap()["Failed"]["error"].as_str().unwrap().to_string();
    assert!(error.contains("line 1") && error.contains("unexpected end of input"), "{error}");

    // A runaway loop ends on the engine's fuel, as it would in a run.
    let (status, body) =
        preview("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Failed"), "{body}");

    // Too long to preview: a 400 that says so.
    let long = "x".repeat(40 * 1024);
    let refused = ada
        .server_fn("editor/preview", &[("workflow", &id), ("node", "greet"), ("field", "template"), ("source", &long)])
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("too long to preview"));
}

async fn the_bundle_is_served_under_its_hash_for_a_year_and_pages_are_never_stored(db: &TestDb) {
    let unique = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let site = std::env::temp_dir().join(format!("weft-site-{}-{unique}", std::process::id()));
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/weft_bg.wasm"), b"\0asm not really").unwrap();
    std::fs::write(site.join("pkg/weft.css"), "body { margin: 0 }").unwrap();
    let root = site.to_string_lossy().into_owned();
    let (server, base) =
        support::start_server_configured_site(db, |_| {}, |options| options.site_root = root.clone().into()).await;
    // An admin: with none, every page leads to the first start's set-up.
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", true).await;

    let page = ada.page("/").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let html = page.text().await.unwrap();
    let at = html.find("/assets/").expect("the shell names the bundle by its hash");
    let prefix = &html[at..at + "/assets/".len() + 16];
    assert!(prefix["/assets/".len()..].chars().all(|c| c.is_ascii_hexdigit()), "{prefix}");
    assert!(html.contains(&format!("{prefix}/pkg/weft.css")), "the stylesheet too");

    let wasm = ada.page(&format!("{prefix}/pkg/weft_bg.wasm")).await;
    assert_eq!(wasm.status(), StatusCode::OK);
    assert_eq!(wasm.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert_eq!(wasm.bytes().await.unwrap().as_ref(), b"\0asm not really");
    // Served to anyone: the sign-in page needs it too.
    let anonymous = Browser::anonymous(&base).page(&format!("{prefix}/pkg/weft.css")).await;
    assert_eq!(anonymous.status(), StatusCode::OK);
    // Another build's address is not found; the plain path is checked before each use.
    assert_eq!(ada.page("/assets/0123456789abcdef/pkg/weft_bg.wasm").await.status(), StatusCode::NOT_FOUND);
    let plain = ada.page("/pkg/weft.css").await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()["cache-control"], "no-cache");
    // Server functions are never stored either.
    let listed = ada.server_fn("workflows/list", &[]).await;
    assert_eq!(listed.headers()["cache-control"], "no-store");
    std::fs::remove_dir_all(&site).unwrap();
}
