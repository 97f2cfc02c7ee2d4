//! What the editor asks the server for while a workflow is built, over real
//! HTTP: the last run's data (the data panel), the live preview of a
//! template, rendered by the engine, and one node tried alone with pinned
//! data; and how the bundle it runs from is cached.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::Browser;
use support::TestDb;

on_both_backends!(
    the_data_panel_gets_the_last_runs_input_and_outputs_sampled,
    a_template_previews_with_the_last_runs_data_and_errors_name_the_line,
    the_bundle_is_served_under_its_hash_for_a_year_and_pages_are_never_stored,
    a_node_is_tried_alone_with_the_last_run_and_pinned_outputs_and_nothing_is_stored,
    a_try_is_refused_what_a_run_is_refused_and_pinned_data_is_bounded_and_never_run,
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

/// `definition` with node `node`'s fields changed to those of `change`.
fn with_node(definition: &Value, node: &str, change: Value) -> Value {
    let mut definition = definition.clone();
    for n in definition["nodes"].as_array_mut().unwrap() {
        if n["id"] == node {
            for (key, value) in change.as_object().unwrap() {
                n[key] = value.clone();
            }
        }
    }
    definition
}

async fn try_node(browser: &Browser, workflow: Option<i64>, definition: &Value, node: &str) -> (StatusCode, Value) {
    let workflow = workflow.map(|id| id.to_string());
    let definition = definition.to_string();
    let mut form = vec![("definition", definition.as_str()), ("node", node)];
    if let Some(id) = &workflow {
        form.push(("workflow", id));
    }
    let response = browser.server_fn("editor/try-node", &form).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn greeter() -> Value {
    json!({
        "name": "Greeter",
        "nodes": [
            {"id": "fetch", "type": "template", "config": {"template": "{\"user\": {\"name\": \"{{ input.who }}\"}}", "json": true}},
            {"id": "greet", "type": "template", "config": {"template": "Hello {{ nodes.fetch.user.name }}"}}
        ],
        "edges": [{"from": "fetch", "to": "greet"}]
    })
}

async fn executions_of(store: &dyn app::ports::Store, workflow: i64) -> usize {
    let filter = app::model::ExecutionFilter { workflow_id: Some(workflow), ..Default::default() };
    store.list_executions(app::model::Scope::Everyone, &filter, None, 100).await.unwrap().items.len()
}

async fn a_node_is_tried_alone_with_the_last_run_and_pinned_outputs_and_nothing_is_stored(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let definition = greeter();
    let workflow = ada.import_workflow_id(&definition).await;

    // Never run: the node sees an empty input, and says what is missing.
    let (status, tried) = try_node(&ada, Some(workflow), &definition, "greet").await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(tried["execution"], Value::Null);
    // An undefined upstream renders as the template engine renders it in a run (empty, or an error naming it).
    let outcome = &tried["outcome"];
    assert!(
        outcome["Err"].as_str().is_some_and(|e| e.contains("nodes.fetch"))
            || outcome["Ok"]["value"] == json!({"text": "Hello "}),
        "{outcome}"
    );

    // Pinned upstream data is what it is built against, before any run (and for a workflow not yet created).
    let pinned = with_node(&definition, "fetch", json!({"pinned": {"user": {"name": "Pin"}}}));
    for workflow in [Some(workflow), None] {
        let (status, tried) = try_node(&ada, workflow, &pinned, "greet").await;
        assert_eq!(status, StatusCode::OK, "{tried}");
        assert_eq!(tried["outcome"]["Ok"]["value"], json!({"text": "Hello Pin"}));
        assert_eq!(tried["outcome"]["Ok"]["whole"], json!(true));
        assert_eq!(tried["pinned"], json!(["fetch"]));
    }

    // After a run: the recorded outputs, with the node as edited (not saved).
    let run = ada.start_run_id(workflow, r#"{"who": "Ada"}"#).await;
    assert_eq!(ada.finished_run(run).await["execution"]["status"], "succeeded");
    let edited = with_node(&definition, "greet", json!({"config": {"template": "Bye {{ nodes.fetch.user.name }}"}}));
    let (_, tried) = try_node(&ada, Some(workflow), &edited, "greet").await;
    assert_eq!(tried["outcome"]["Ok"]["value"], json!({"text": "Bye Ada"}));
    assert_eq!(tried["execution"], json!(run));
    assert_eq!(tried["pinned"], json!([]));
    // A pinned output takes the place of the recorded one.
    let edited_pinned = with_node(&edited, "fetch", json!({"pinned": {"user": {"name": "Pin"}}}));
    let (_, tried) = try_node(&ada, Some(workflow), &edited_pinned, "greet").await;
    assert_eq!(tried["outcome"]["Ok"]["value"], json!({"text": "Bye Pin"}));
    // The first node, tried: it reads the run's input (its own pin is not its input).
    let (_, tried) = try_node(&ada, Some(workflow), &edited_pinned, "fetch").await;
    assert_eq!(tried["outcome"]["Ok"]["value"], json!({"user": {"name": "Ada"}}));

    // Nothing of the tries was stored: one execution, its outputs as they were.
    assert_eq!(executions_of(server.store.as_ref(), workflow).await, 1);
    let last: Value =
        ada.server_fn("editor/last-run", &[("workflow", &workflow.to_string())]).await.json().await.unwrap();
    assert_eq!(last["outputs"]["greet"], json!({"text": "Hello Ada"}));

    // A node with for_each is tried on its first item.
    let per_item = json!({
        "name": "Per item",
        "nodes": [{"id": "each", "type": "template", "for_each": "input.rows", "config": {"template": "row {{ index }}: {{ item }}"}}],
        "edges": []
    });
    let per_item_id = ada.import_workflow_id(&per_item).await;
    let run = ada.start_run_id(per_item_id, r#"{"rows": ["a", "b", "c"]}"#).await;
    ada.finished_run(run).await;
    let (_, tried) = try_node(&ada, Some(per_item_id), &per_item, "each").await;
    assert_eq!(tried["outcome"]["Ok"]["value"], json!({"text": "row 0: a"}));
    assert_eq!(tried["items"], json!(3));

    // Saved with pinned data, the workflow runs its real nodes: runs never read pins.
    let saved = ada.save_workflow(workflow, &pinned.to_string()).await;
    assert_eq!(saved.status(), StatusCode::OK, "{}", saved.text().await.unwrap());
    let run = ada.start_run_id(workflow, r#"{"who": "Ada"}"#).await;
    let finished = ada.finished_run(run).await;
    let greet = finished["runs"].as_array().unwrap().iter().find(|n| n["node_id"] == "greet").unwrap().clone();
    assert_eq!(greet["output"], json!({"text": "Hello Ada"}), "{finished}");
}

async fn a_try_is_refused_what_a_run_is_refused_and_pinned_data_is_bounded_and_never_run(db: &TestDb) {
    // Room for a definition past the pinned-data limit: the limit, not the body's, answers.
    let (server, base) = support::start_server_configured(db, |s| s.limits.max_body_bytes = 1024 * 1024).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let definition = greeter();
    let workflow = ada.import_workflow_id(&definition).await;

    // An invalid definition: the validation messages, naming the node.
    let broken = with_node(&definition, "greet", json!({"config": {"template": "{{ oops"}}));
    let (status, body) = try_node(&ada, Some(workflow), &broken, "greet").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("greet"), "{body}");
    let (status, body) = try_node(&ada, Some(workflow), &definition, "nowhere").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.to_string().contains("no node `nowhere`"), "{body}");
    let (status, _) = try_node(&ada, Some(workflow), &json!("not a definition"), "greet").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Someone else's workflow: not found, and none of its runs' data is read.
    let bob = Browser::signed_in_user(server.store.as_ref(), &base, "bob@example.com", false).await;
    let (status, _) = try_node(&bob, Some(workflow), &definition, "greet").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // An http node tried alone meets the same address guard as in a run.
    let metadata = json!({
        "name": "Metadata",
        "nodes": [{"id": "steal", "type": "http", "config": {"method": "GET", "url": "http://169.254.169.254/latest/meta-data/"}}],
        "edges": []
    });
    let (status, tried) = try_node(&ada, None, &metadata, "steal").await;
    assert_eq!(status, StatusCode::OK);
    let error = tried["outcome"]["Err"].as_str().unwrap();
    assert!(error.contains("refusing to connect to 169.254.169.254"), "{error}");

    // Nodes that belong to a run are not tried alone, and say so.
    let waits = json!({
        "name": "Waits",
        "nodes": [{"id": "approve", "type": "wait", "config": {}}],
        "edges": []
    });
    let (status, tried) = try_node(&ada, None, &waits, "approve").await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert!(tried["outcome"]["Err"].as_str().unwrap().contains("run the workflow to try it"), "{tried}");

    // A path an output can never have is named on save, with what is there instead.
    let wrong_path = json!({
        "name": "Wrong path",
        "nodes": [
            {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "https://example.com"}},
            {"id": "sum", "type": "template", "config": {"template": "Summarise {{ nodes.fetch.output.body }}"}}
        ],
        "edges": [{"from": "fetch", "to": "sum"}]
    });
    let refused = ada.save_workflow(workflow, &wrong_path.to_string()).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = refused.text().await.unwrap();
    assert!(
        message.contains("`nodes.fetch.output` is undefined: an http node's output has `status`, `headers`, `body`"),
        "{message}"
    );

    // Pinned data is bounded: a save past the limit is refused, naming the node and the field.
    let huge = with_node(&definition, "fetch", json!({"pinned": {"text": "x".repeat(300 * 1024)}}));
    let refused = ada.save_workflow(workflow, &huge.to_string()).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = refused.text().await.unwrap();
    assert!(message.contains("node `fetch` (template): pinned:"), "{message}");
}
