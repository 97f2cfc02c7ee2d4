//! The REST API over real HTTP, on both backends: happy paths and error paths.

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::Api;
use support::TestDb;
use weft::server::RunningServer;

/// The server, a REST client for api@example.com, and one for other@example.com.
async fn start(db: &TestDb) -> (RunningServer, Api, Api) {
    let (server, base) = support::start_server(db).await;
    let api = Api::for_new_user(&server, &base, "api@example.com").await;
    let other = Api::for_new_user(&server, &base, "other@example.com").await;
    (server, api, other)
}

fn greeting(name: &str) -> Value {
    json!({"name": name, "nodes": [
        {"id": "hello", "type": "template", "config": {"template": "Hello {{ input.who }}"}},
        {"id": "wait", "type": "delay", "config": {"ms": 1}}
    ], "edges": [{"from": "hello", "to": "wait"}]})
}

use reqwest::Method;

on_both_backends!(
    workflows_are_created_listed_updated_exported_and_deleted,
    executions_start_wait_list_and_stream,
    a_viewer_joining_mid_run_gets_the_current_state_first,
    a_workflow_declares_its_input_and_a_bad_declaration_is_refused,
    errors_are_json_with_a_code_and_4xx,
    another_users_objects_are_not_found,
    metrics_count_requests_and_executions,
    templates_are_listed_and_installed,
    a_nul_character_is_refused_in_definitions_and_replaced_in_run_data,
    templates_read_the_owners_variables_over_the_instances,
    unknown_fields_are_refused_on_save_but_a_stored_workflow_with_one_still_runs,
    a_switch_takes_the_first_case_that_holds_else_default,
    a_node_with_for_each_runs_per_item_and_streams_its_progress,
    a_failed_run_starts_its_error_workflow_which_never_starts_another,
    a_run_waits_at_a_wait_node_until_the_api_resumes_it_once,
    the_resume_page_takes_one_approval_with_a_comment,
    a_workflow_node_calls_the_owners_workflows_and_never_in_a_loop,
    an_llm_answer_schema_must_be_a_json_schema,
);

/// An llm node's `schema` is checked on save: an object, and a JSON Schema.
async fn an_llm_answer_schema_must_be_a_json_schema(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let with_schema = |schema: Value| {
        json!({"name": "Extract", "nodes": [
            {"id": "extract", "type": "llm", "config": {"prompt": "Who? {{ input.text }}", "schema": schema}}
        ]})
    };
    for (schema, expected) in [
        (json!({"type": "strnig"}), "node `extract` (llm): config.schema: is not a valid JSON Schema"),
        (json!("a person"), "node `extract` (llm): config.schema: must be a JSON Schema (an object"),
        (json!({"$ref": "http://169.254.169.254/latest/meta-data"}), "config.schema: is not a valid JSON Schema"),
    ] {
        let (status, body) = api.create_workflow(&with_schema(schema)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body.to_string().contains(expected), "{body}");
    }
    let (status, body) =
        api.create_workflow(&with_schema(json!({"type": "object", "properties": {"name": {"type": "string"}}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn caller(name: &str, calls: i64, wait: bool) -> Value {
    json!({"name": name, "nodes": [
        {"id": "call", "type": "workflow", "config": {"workflow": calls, "input": "{'n': input.n}", "wait": wait}},
        {"id": "after", "type": "template", "config": {"template": "got {{ nodes.call | tojson }}"}}
    ], "edges": [{"from": "call", "to": "after"}]})
}

/// `workflow` nodes: a child run answers its parent and links back to it;
/// references must be the owner's workflows, and calls may not loop.
async fn a_workflow_node_calls_the_owners_workflows_and_never_in_a_loop(db: &TestDb) {
    let (_server, api, other) = start(db).await;
    let double = api
        .create_workflow_id(&json!({"name": "Double", "nodes": [
            {"id": "twice", "type": "template", "config": {"template": "{\"n\": {{ input.n * 2 }}}", "json": true}}
        ]}))
        .await;
    let parent = api.create_workflow_id(&caller("Parent", double, true)).await;
    let (status, report) = api.run_execution(parent, Some(json!({"input": {"n": 21}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["nodes"]["call"]["output"], json!({"n": 42}), "{report}");
    assert_eq!(report["nodes"]["after"]["output"]["text"], "got {\"n\": 42}", "{report}");
    let child = &runs_of(&api, double, 1).await[0];
    assert_eq!(child["trigger"], "workflow");
    assert_eq!(child["parent"], json!({"execution": report["id"], "node": "call", "depth": 1}), "{child}");

    // Another user's workflow, one that does not exist, itself, or a loop: refused with the node named.
    let refused = |definition: Value| {
        let api = api.clone();
        async move {
            let (status, body) = api.create_workflow(&definition).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            body.to_string()
        }
    };
    let theirs = other.create_workflow_id(&greeting("Theirs")).await;
    let text = refused(caller("Borrower", theirs, true)).await;
    assert!(
        text.contains(&format!(
            "node `call` (workflow): config.workflow: workflow {theirs} does not exist or is not one of your workflows"
        )),
        "{text}"
    );
    let mut pinned = caller("Pinned", double, true);
    pinned["nodes"][0]["config"]["version"] = json!(9);
    assert!(refused(pinned).await.contains(&format!("workflow {double} has no version 9")));
    let mut bad_input = caller("Bad input", double, true);
    bad_input["nodes"][0]["config"]["input"] = json!("{'n': ");
    assert!(refused(bad_input).await.contains("node `call` (workflow): config.input:"));
    let (status, body) = api.update_workflow(parent, &caller("Parent", parent, true)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("a workflow cannot call itself"), "{body}");
    // Double → Parent → Double would loop.
    let (status, body) = api.update_workflow(double, &caller("Double", parent, true)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains(&format!("workflow {parent} calls this one back ({parent} → this)")), "{body}");

    // Without waiting: the node starts the child and goes on.
    let slow = api
        .create_workflow_id(&json!({"name": "Slow", "nodes": [{"id": "nap", "type": "delay", "config": {"ms": 400}}]}))
        .await;
    let fire = api.create_workflow_id(&caller("Fire and forget", slow, false)).await;
    let (_, report) = api.run_execution(fire, Some(json!({"input": {"n": 1}}))).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    let started = report["nodes"]["call"]["output"]["execution"].as_i64().expect("the child's id");
    let (_, child) = api.get_execution(started).await;
    assert_ne!(child["status"], "succeeded", "the parent did not wait for it: {child}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, child) = api.get_execution(started).await;
        if child["status"] == "succeeded" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the child ran on alone: {child}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // Cancelling a parent cancels the child it waits for.
    let waits = api.create_workflow_id(&caller("Waits for slow", slow, true)).await;
    let long = json!({"name": "Slow", "nodes": [{"id": "nap", "type": "delay", "config": {"ms": 60000}}]});
    let (status, body) = api.update_workflow(slow, &long).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, started) = api.start_execution(waits, Some(json!({"input": {"n": 1}}))).await;
    let parent_run = started["id"].as_i64().unwrap();
    let child = loop {
        let (_, listed) = api.list_executions(&format!("workflow_id={slow}")).await;
        let runs = listed["items"].as_array().unwrap();
        if let Some(child) = runs.iter().find(|r| r["parent"]["execution"] == json!(parent_run)) {
            break child["id"].as_i64().unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (status, _) = api.cancel_execution(parent_run).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, parent) = api.get_execution(parent_run).await;
        let (_, child) = api.get_execution(child).await;
        if parent["status"] == "cancelled" && child["status"] == "cancelled" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "parent {parent}\nchild {child}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `vars.NAME`: the instance's variables (set by an admin), the user's own over them.
async fn templates_read_the_owners_variables_over_the_instances(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let root = server.store.create_user("root@example.com", None, true).await.unwrap();
    let (_, key) = weft::api::create_api_key(server.store.as_ref(), root.id, "t", Default::default()).await.unwrap();
    let admin = Api::new(&base, &key);
    let api = Api::for_new_user(&server, &base, "vars@example.com").await;
    let put = |api: &Api, path: &str, value: &str| {
        let (api, path, value) = (api.clone(), path.to_string(), value.to_string());
        async move { api.json(Method::PUT, &path, Some(json!({"value": value}))).await.0 }
    };
    assert_eq!(
        put(&admin, "/variables/base_url?shared=true", "https://instance.example").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(put(&admin, "/variables/channel?shared=true", "#ops").await, StatusCode::NO_CONTENT);
    assert_eq!(put(&api, "/variables/base_url", "https://mine.example").await, StatusCode::NO_CONTENT);
    assert_eq!(put(&api, "/variables/team?shared=true", "x").await, StatusCode::FORBIDDEN);
    assert_eq!(put(&api, "/variables/bad-name", "x").await, StatusCode::BAD_REQUEST);
    let workflow = json!({"name": "Uses vars", "nodes": [
        {"id": "say", "type": "template", "config": {"template": "{{ vars.base_url }} {{ vars.channel }} [{{ vars.missing }}]"}}
    ]});
    let id = api.create_workflow_id(&workflow).await;
    let (_, report) = api.run_execution(id, None).await;
    assert_eq!(report["nodes"]["say"]["output"]["text"], "https://mine.example #ops []", "{report}");
    // The admin's own runs see the instance's value.
    let id = admin.create_workflow_id(&workflow).await;
    let (_, report) = admin.run_execution(id, None).await;
    assert_eq!(report["nodes"]["say"]["output"]["text"], "https://instance.example #ops []", "{report}");
    let (_, listed) = api.json(Method::GET, "/variables", None).await;
    let seen: Vec<(String, bool)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_string(), v["shared"].as_bool().unwrap()))
        .collect();
    assert_eq!(seen, [("base_url".into(), false), ("base_url".into(), true), ("channel".into(), true)]);
    assert_eq!(api.json(Method::DELETE, "/variables/base_url", None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(api.json(Method::DELETE, "/variables/base_url", None).await.0, StatusCode::NOT_FOUND);
    server.stop.cancel();
}

async fn workflows_are_created_listed_updated_exported_and_deleted(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let (status, created) = api.create_workflow(&greeting("Greeter")).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();

    let (status, list) = api.list_workflows("search=greet").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"][0]["id"], id);

    let (status, updated) = api.update_workflow(id, &greeting("Greeter v2")).await;
    assert_eq!((status, updated["version"].as_i64()), (StatusCode::OK, Some(2)));
    let (_, got) = api.get_workflow(id).await;
    assert_eq!(got["definition"]["name"], "Greeter v2");
    assert_eq!(got["workflow"]["current_version"], 2);

    let export = api.export_workflow(id).await;
    assert!(export.headers()["content-disposition"].to_str().unwrap().contains("attachment"));
    let exported: Value = export.json().await.unwrap();
    assert_eq!(exported, greeting("Greeter v2"));

    let (status, _) = api.delete_workflow(id).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.get_workflow(id).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn executions_start_wait_list_and_stream(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let (_, created) = api.create_workflow(&greeting("Runner")).await;
    let id = created["id"].as_i64().unwrap();

    let (status, report) = api.run_execution(id, Some(json!({"input": {"who": "Ada"}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "succeeded");
    assert_eq!(report["nodes"]["hello"]["output"]["text"], "Hello Ada");

    let (status, started) = api.start_execution(id, Some(json!({"input": {}}))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let execution = started["id"].as_i64().unwrap();
    // The stream ends with `finished`, whether it attached live or after the end.
    let events = api.execution_events(execution).await;
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let body = events.text().await.unwrap();
    assert!(body.contains("event: finished"), "{body}");

    let (_, got) = api.get_execution(execution).await;
    assert_eq!(got["status"], "succeeded");
    let (_, listed) = api.list_executions(&format!("workflow_id={id}&status=succeeded&limit=1")).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["next"].is_string(), "two executions, one per page: {listed}");

    let (status, error) = api.cancel_execution(execution).await;
    assert_eq!((status, error["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("already_finished")));
}

/// The events a stream sends within `window`, as `(event name, data)` pairs.
async fn events_within(mut response: reqwest::Response, window: std::time::Duration) -> Vec<(String, Value)> {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline, response.chunk()).await {
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    text.split("\n\n")
        .filter_map(|frame| {
            let field = |name: &str| frame.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
            Some((field("event:")?.to_string(), serde_json::from_str(field("data:")?).ok()?))
        })
        .collect()
}

async fn a_viewer_joining_mid_run_gets_the_current_state_first(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let definition = json!({"name": "Slow", "nodes": [
        {"id": "start", "type": "template", "config": {"template": "go"}},
        {"id": "wait", "type": "delay", "config": {"ms": 3000}},
        {"id": "done", "type": "template", "config": {"template": "done"}}
    ], "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}]});
    let (_, created) = api.create_workflow(&definition).await;
    let id = created["id"].as_i64().unwrap();
    let (_, started) = api.start_execution(id, Some(json!({"input": {}}))).await;
    let execution = started["id"].as_i64().unwrap();
    // Join once `start` is done and `wait` sleeps: nothing happens for seconds,
    // so whatever arrives at once is the catch-up.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let stream = api.execution_events(execution).await;
    let first = events_within(stream, std::time::Duration::from_millis(800)).await;
    let state_of = |node: &str| {
        first.iter().rev().find(|(name, data)| name == "node" && data["node"] == node).map(|(_, data)| data.clone())
    };
    let start = state_of("start").unwrap_or_else(|| panic!("no state of `start` at once: {first:?}"));
    assert_eq!(start["status"], "succeeded", "{first:?}");
    assert_eq!(start["output"]["text"], "go");
    let wait = state_of("wait").unwrap_or_else(|| panic!("no state of `wait` at once: {first:?}"));
    assert_eq!(wait["status"], "running", "{first:?}");
    assert!(state_of("done").is_none_or(|done| done["status"] == "queued"), "{first:?}");
    let started_first =
        first.iter().position(|(name, data)| name == "node" && data["node"] == "start" && data["status"] == "running");
    assert!(started_first.is_some(), "`start` also says when it started (its span on the timeline): {first:?}");
}

async fn a_workflow_declares_its_input_and_a_bad_declaration_is_refused(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let mut definition = greeting("Declared");
    definition["input"] = json!([{"name": "who", "type": "string", "required": true, "example": "Ada"}]);
    let (status, created) = api.create_workflow(&definition).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().unwrap();
    let (_, got) = api.get_workflow(id).await;
    assert_eq!(got["definition"]["input"], definition["input"], "stored and given back as declared");

    definition["input"] = json!([{"name": "who", "type": "person"}]);
    let (status, error) = api.update_workflow(id, &definition).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert!(error.to_string().contains("input field `who`: type `person` is not one of"), "{error}");
    let (_, got) = api.get_workflow(id).await;
    assert_eq!(got["workflow"]["current_version"], 1, "nothing saved: {got}");
}

async fn errors_are_json_with_a_code_and_4xx(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let (no_key, body) = api.without_key().list_workflows("").await;
    assert_eq!(no_key, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (bad_key, _) = api.with_key("weft_nope_nope").list_workflows("").await;
    assert_eq!(bad_key, StatusCode::UNAUTHORIZED);

    // Page sizes outside 1–500 are refused, not silently changed; an empty cursor is the first page.
    for limit in ["0", "501", "4294967296"] {
        let (status, body) = api.list_executions(&format!("limit={limit}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "limit={limit}: {body}");
    }
    let (status, body) = api.list_workflows("limit=501").await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit must be between 1 and 500, not 501"))
    );
    assert_eq!(api.list_workflows("after=&limit=200").await.0, StatusCode::OK);

    let bad_json = api
        .request(Method::POST, "/workflows")
        .header("content-type", "application/json")
        .body("{\"name\":")
        .send()
        .await
        .unwrap();
    assert_eq!(bad_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(bad_json.json::<Value>().await.unwrap()["error"]["code"], "bad_json");

    let cyclic = json!({"name": "Loop", "nodes": [{"id": "a", "type": "delay", "config": {"ms": 1}}], "edges": [{"from": "a", "to": "a"}]});
    let (status, invalid) = api.create_workflow(&cyclic).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(invalid["error"]["code"], "invalid_definition");
    assert_eq!(invalid["error"]["details"][0], "the graph has a cycle: a → a");

    let (status, _) = api.get_workflow(999999).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.json(Method::GET, "/workflows/not-a-number", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = api.list_executions("status=exploded").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"].as_str().unwrap().contains("unknown status `exploded`"));
    let (status, _) = api.list_workflows("after=garbage").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.json(Method::GET, "/nothing/here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn another_users_objects_are_not_found(db: &TestDb) {
    let (_server, api, other) = start(db).await;
    let (_, created) = api.create_workflow(&greeting("Mine")).await;
    let id = created["id"].as_i64().unwrap();
    let (_, report) = api.run_execution(id, None).await;
    let execution = report["id"].as_i64().unwrap();

    for (method, path) in [
        (Method::GET, format!("/workflows/{id}")),
        (Method::PUT, format!("/workflows/{id}")),
        (Method::DELETE, format!("/workflows/{id}")),
        (Method::POST, format!("/workflows/{id}/executions")),
        (Method::GET, format!("/executions/{execution}")),
        (Method::POST, format!("/executions/{execution}/cancel")),
        (Method::GET, format!("/executions/{execution}/events")),
    ] {
        let response = other.request(method.clone(), &path).json(&greeting("Theirs")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    let (_, listed) = other.list_executions("").await;
    assert_eq!(listed["items"], json!([]));
    // The owner's workflow is untouched.
    let (_, got) = api.get_workflow(id).await;
    assert_eq!(got["definition"]["name"], "Mine");
}

async fn metrics_count_requests_and_executions(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let (_, created) = api.create_workflow(&greeting("Measured")).await;
    let id = created["id"].as_i64().unwrap();
    api.run_execution(id, None).await;
    let text = api.metrics().await;
    for expected in [
        "weft_http_requests_total{route=\"/api/v1/workflows\",method=\"POST\",status=\"201\"}",
        "weft_http_request_duration_seconds_bucket{route=\"/api/v1/workflows/{id}/executions\"",
        "weft_executions_started_total{trigger=\"api\"}",
        "weft_executions_finished_total{status=\"succeeded\",trigger=\"api\"}",
        "weft_node_duration_seconds_bucket{kind=\"template\"",
        "weft_db_pool_connections{state=\"idle\"}",
        "weft_nodes_waiting_for_slot 0",
        "weft_llm_cache_hits",
    ] {
        assert!(text.contains(expected), "missing {expected} in:\n{text}");
    }
}

async fn templates_are_listed_and_installed(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let mut definition: app::model::WorkflowDefinition = serde_json::from_value(greeting("Greeter template")).unwrap();
    definition.triggers = vec![json!({"type": "webhook", "path": "template-hook"})];
    _server.store.upsert_template("greeter", "Says hello to whoever calls", &definition, None).await.unwrap();

    let (status, listed) = api.list_templates("search=HELLO").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed[0]["slug"], "greeter");
    let (_, none) = api.list_templates("search=nothing-like-it").await;
    assert_eq!(none, json!([]));

    let (status, installed) = api.install_template("greeter").await;
    assert_eq!((status, installed["name"].as_str()), (StatusCode::CREATED, Some("Greeter template")));
    // Installing twice works: the template's webhook is not copied, so nothing collides.
    let (status, _) = api.install_template("greeter").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api.install_template("no-such-template").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// PostgreSQL's text cannot hold U+0000; both backends behave the same (see
/// `app::model::nul`): refused where people write it, replaced where a run
/// receives it, and never a 500.
async fn a_nul_character_is_refused_in_definitions_and_replaced_in_run_data(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let (status, refused) = api.create_workflow(&greeting("Nul\u{0}name")).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_definition"))
    );
    assert!(refused["error"]["details"][0].as_str().unwrap().contains("NUL character (U+0000)"), "{refused}");

    // An upstream that answers with a NUL character, and an input holding one.
    let upstream =
        axum::Router::new().route("/nul", axum::routing::get(|| async { axum::Json(json!({"a": "x\u{0}y"})) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/nul", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let workflow = json!({"name": "Nul data", "nodes": [
        {"id": "fetch", "type": "http", "config": {"method": "GET", "url": url}},
        {"id": "join", "type": "template", "config": {"template": "{{ input.s }}|{{ nodes.fetch.body.a }}"}}
    ], "edges": [{"from": "fetch", "to": "join"}]});
    let (_, created) = api.create_workflow(&workflow).await;
    let id = created["id"].as_i64().unwrap();
    let (status, report) = api.run_execution(id, Some(json!({"input": {"s": "a\u{0}b"}}))).await;
    assert_eq!((status, report["status"].as_str()), (StatusCode::OK, Some("succeeded")), "{report}");
    assert_eq!(report["nodes"]["join"]["output"]["text"], "a\u{FFFD}b|x\u{FFFD}y");
    let (_, stored) = api.get_execution(report["id"].as_i64().unwrap()).await;
    assert_eq!(stored["nodes"]["fetch"]["output"]["body"]["a"], "x\u{FFFD}y", "{stored}");

    // Any other text that reaches the database: a 4xx, not a 500.
    let (status, _) = api.install_template("a%00b").await;
    assert!(status.is_client_error(), "{status}");
}

/// Every `$ref` in `value`.
fn refs<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(target)) => found.push(target),
                    _ => refs(inner, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|inner| refs(inner, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint_it_lists() {
    let db = TestDb::sqlite();
    let (_server, api, _) = start(&db).await;
    // Public: a client needs it before it has a key.
    let response = api.openapi().await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");

    let mut documented = Vec::new();
    for (path, operations) in doc["paths"].as_object().unwrap() {
        for method in operations.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let expected = [
        "DELETE /api/v1/credentials/{name}",
        "DELETE /api/v1/variables/{name}",
        "DELETE /api/v1/workflows/{id}",
        "GET /api/v1/credentials",
        "GET /api/v1/executions",
        "GET /api/v1/executions/{id}",
        "GET /api/v1/executions/{id}/events",
        "GET /api/v1/executions/{id}/nodes/{node}/steps",
        "GET /api/v1/templates",
        "GET /api/v1/usage",
        "GET /api/v1/variables",
        "GET /api/v1/workflows",
        "GET /api/v1/workflows/{id}",
        "GET /api/v1/workflows/{id}/export",
        "POST /api/v1/credentials",
        "POST /api/v1/executions/{id}/cancel",
        "POST /api/v1/executions/{id}/resume",
        "POST /api/v1/templates/{slug}/install",
        "POST /api/v1/workflows",
        "POST /api/v1/workflows/{id}/executions",
        "PUT /api/v1/credentials/{name}",
        "PUT /api/v1/variables/{name}",
        "PUT /api/v1/workflows/{id}",
    ];
    assert_eq!(documented, expected);

    // Every schema a path or schema refers to is in the document.
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(targets.contains(&"#/components/schemas/ExecutionReport"), "{targets:?}");
    for target in targets {
        let name = target.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected $ref {target}"));
        assert!(doc["components"]["schemas"].get(name).is_some(), "{target} is referred to but not defined");
    }

    // Every documented path is served (an unknown one falls through to "no such API endpoint").
    for line in documented {
        let (method, path) = line.split_once(' ').unwrap();
        let path = path.trim_start_matches("/api/v1").replace("{id}", "999999").replace("{slug}", "nope");
        let (_, body) = api.json(method.parse().unwrap(), &path, None).await;
        assert_ne!(body["error"]["message"], "no such API endpoint", "{method} {path} is documented but not served");
    }
    db.cleanup().await;
}

async fn unknown_fields_are_refused_on_save_but_a_stored_workflow_with_one_still_runs(db: &TestDb) {
    let (server, api, _) = start(db).await;
    let mut typo = greeting("Typo");
    typo["nodes"][1]["config"]["timout_ms"] = json!(5);
    typo["nodes"][0]["schema"] = json!({"type": "object"});
    let (status, refused) = api.create_workflow(&typo).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let text = refused.to_string();
    assert!(text.contains("node `hello`: unknown field `schema`"), "{text}");
    assert!(text.contains("node `wait` (delay): config.timout_ms is not a field of a delay node"), "{text}");

    // One stored before the check (written straight to the store): it opens, runs, and keeps its field.
    let owner = server.store.user_by_email("api@example.com").await.unwrap().unwrap();
    let definition: app::model::WorkflowDefinition = serde_json::from_value(typo.clone()).unwrap();
    let stored = server.store.create_workflow(owner.id, &definition).await.unwrap();
    let (status, report) = api.run_execution(stored.id, Some(json!({"input": {"who": "Ada"}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "succeeded", "{report}");
    let (_, got) = api.get_workflow(stored.id).await;
    assert_eq!(got["definition"]["nodes"][0]["schema"]["type"], "object", "nothing stored is lost");
    // Saving it again asks for the fields to go.
    let (status, _) = api.update_workflow(stored.id, &typo).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, saved) = api.update_workflow(stored.id, &greeting("Typo")).await;
    assert_eq!(status, StatusCode::OK, "{saved}");
}

async fn a_switch_takes_the_first_case_that_holds_else_default(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let reply = |id: &str, text: &str| json!({"id": id, "type": "template", "config": {"template": text}});
    let workflow = json!({"name": "Route by size", "nodes": [
        {"id": "route", "type": "switch", "config": {"cases": [
            {"name": "huge", "expr": "input.n > 100"},
            {"name": "big", "expr": "input.n > 10"},
            {"name": "also_big", "expr": "input.n > 10"}
        ]}},
        reply("huge", "huge"), reply("big", "big"), reply("other", "other"),
        {"id": "done", "type": "merge", "config": {}}
    ], "edges": [
        {"from": "route", "to": "huge", "branch": "huge"},
        {"from": "route", "to": "big", "branch": "big"},
        {"from": "route", "to": "big", "branch": "also_big"},
        {"from": "route", "to": "other", "branch": "default"},
        {"from": "huge", "to": "done"}, {"from": "big", "to": "done"}, {"from": "other", "to": "done"}
    ]});
    let id = api.create_workflow_id(&workflow).await;
    for (n, case, ran, skipped) in
        [(500, "huge", "huge", "big"), (50, "big", "big", "other"), (5, "default", "other", "huge")]
    {
        let (status, report) = api.run_execution(id, Some(json!({"input": {"n": n}}))).await;
        assert_eq!(status, StatusCode::OK, "{report}");
        assert_eq!(report["status"], "succeeded", "{report}");
        assert_eq!(report["nodes"]["route"]["output"]["case"], case, "{report}");
        assert_eq!(report["nodes"][ran]["status"], "succeeded", "{report}");
        assert_eq!(report["nodes"][skipped]["status"], "skipped", "{report}");
        assert_eq!(report["nodes"]["done"]["output"][ran]["text"], ran, "{report}");
    }
    // A branch that is not a case is refused, naming the choices.
    let mut wrong = workflow.clone();
    wrong["edges"][0]["branch"] = json!("giant");
    let (status, refused) = api.create_workflow(&wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.to_string().contains("branch must be one of \\\"huge\\\", \\\"big\\\""), "{refused}");
}

async fn a_node_with_for_each_runs_per_item_and_streams_its_progress(db: &TestDb) {
    let (_server, api, _) = start(db).await;
    let workflow = json!({"name": "Each row", "nodes": [
        {"id": "row", "type": "template", "config": {"template": "{{ index }}: {{ item.name | upper }}"},
         "for_each": "input.rows", "concurrency": 4},
        {"id": "pace", "type": "delay", "config": {"ms": 30}, "for_each": "nodes.row", "concurrency": 2},
        {"id": "all", "type": "template", "config": {"template": "{{ nodes.row | map(attribute='text') | join(', ') }}"}}
    ], "edges": [{"from": "row", "to": "pace"}, {"from": "pace", "to": "all"}]});
    let id = api.create_workflow_id(&workflow).await;
    let rows: Vec<Value> = (0..20).map(|i| json!({"name": format!("r{i}")})).collect();
    let (status, report) = api.run_execution(id, Some(json!({"input": {"rows": rows[..3].to_vec()}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["nodes"]["all"]["output"]["text"], "0: R0, 1: R1, 2: R2", "{report}");
    assert_eq!(report["nodes"]["pace"]["output"].as_array().unwrap().len(), 3);

    // Twenty rows paced two at a time (~300 ms): the stream tells how far `pace` is.
    let (_, started) = api.start_execution(id, Some(json!({"input": {"rows": rows}}))).await;
    let stream = api.execution_events(started["id"].as_i64().unwrap()).await;
    let events = events_within(stream, std::time::Duration::from_secs(5)).await;
    let progress: Vec<&Value> =
        events.iter().filter(|(name, data)| name == "items" && data["node"] == "pace").map(|(_, data)| data).collect();
    assert!(progress.len() >= 2, "{events:?}");
    assert!(progress.iter().all(|p| p["total"] == 20 && p["failed"] == 0), "{progress:?}");
    assert_eq!(progress.last().unwrap()["done"], 20, "{progress:?}");
    assert!(events.iter().any(|(name, data)| name == "finished" && data["status"] == "succeeded"), "{events:?}");

    // A bad concurrency or expression is refused on save, naming the node and the field.
    let mut wrong = workflow.clone();
    wrong["nodes"][1]["concurrency"] = json!(500);
    wrong["nodes"][0]["for_each"] = json!("input.rows |");
    let (status, refused) = api.create_workflow(&wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let text = refused.to_string();
    assert!(text.contains("node `pace`: concurrency must be a whole number from 1 to 50, not 500"), "{refused}");
    assert!(text.contains("node `row`: for_each: syntax error"), "{refused}");
}

/// The runs of `workflow` (newest first) once there are `count`, within a few seconds.
async fn runs_of(api: &Api, workflow: i64, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let (_, listed) = api.list_executions(&format!("workflow_id={workflow}&status=succeeded")).await;
        let (_, failed) = api.list_executions(&format!("workflow_id={workflow}&status=failed")).await;
        let mut runs: Vec<Value> = listed["items"].as_array().unwrap().clone();
        runs.extend(failed["items"].as_array().unwrap().iter().cloned());
        if runs.len() >= count {
            return runs;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("workflow {workflow} did not get {count} finished runs");
}

async fn a_failed_run_starts_its_error_workflow_which_never_starts_another(db: &TestDb) {
    let (server, api, other) = start(db).await;
    let alert = api
        .create_workflow_id(&json!({"name": "Alert", "nodes": [{"id": "say", "type": "template", "config": {"template":
            "{{ input.workflow.name }} v{{ input.workflow.version }} failed at {{ input.failed_node }} (run {{ input.execution }}, {{ input.trigger }}): {{ input.error }}; order {{ input.input.order }}"}}]}))
        .await;
    let failing = |name: &str, on_failure: Option<i64>| {
        let mut definition = json!({"name": name, "nodes": [
            {"id": "fine", "type": "template", "config": {"template": "ok"}},
            {"id": "charge", "type": "code", "config": {"source": "throw new Error('card declined')"}}
        ], "edges": [{"from": "fine", "to": "charge"}]});
        if let Some(id) = on_failure {
            definition["on_failure"] = json!({"workflow": id});
        }
        definition
    };
    let checkout = api.create_workflow_id(&failing("Checkout", Some(alert))).await;
    let (_, report) = api.run_execution(checkout, Some(json!({"input": {"order": 42}}))).await;
    assert_eq!(report["status"], "failed", "{report}");
    let failed_id = report["id"].as_i64().unwrap();

    let runs = runs_of(&api, alert, 1).await;
    assert_eq!(runs[0]["trigger"], "failure");
    let (_, alerted) = api.get_execution(runs[0]["id"].as_i64().unwrap()).await;
    let text = alerted["nodes"]["say"]["output"]["text"].as_str().unwrap_or_default().to_string();
    let expected = format!(
        "Checkout v1 failed at charge (run {failed_id}, api): node `charge` failed: script error: Error: card declined"
    );
    assert!(text.starts_with(&expected) && text.ends_with("; order 42"), "{alerted}");

    // An error workflow that fails starts nothing more, whatever it names.
    let broken_alert = api.create_workflow_id(&failing("Broken alert", Some(alert))).await;
    let billing = api.create_workflow_id(&failing("Billing", Some(broken_alert))).await;
    api.run_execution(billing, Some(json!({"input": {}}))).await;
    assert_eq!(runs_of(&api, broken_alert, 1).await[0]["status"], "failed");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(runs_of(&api, alert, 1).await.len(), 1, "the failing error workflow started no other");

    // A workflow without one of its own uses the instance's default, when an admin set one.
    let plain = api.create_workflow_id(&failing("Plain", None)).await;
    api.run_execution(plain, Some(json!({"input": {}}))).await;
    server.store.put_setting("default_error_workflow", &json!(alert)).await.unwrap();
    api.run_execution(plain, Some(json!({"input": {"order": 7}}))).await;
    let runs = runs_of(&api, alert, 2).await;
    assert_eq!(runs.len(), 2, "one run for the failure after the default was set: {runs:?}");

    // Only an error workflow of the owner's, and not itself, can be named.
    let strangers = other
        .create_workflow_id(
            &json!({"name": "Theirs", "nodes": [{"id": "t", "type": "template", "config": {"template": "x"}}]}),
        )
        .await;
    for (on_failure, expected) in [
        (
            json!({"workflow": strangers}),
            format!("on_failure.workflow: workflow {strangers} is not one of the owner's workflows"),
        ),
        (
            json!({"workflow": "Alert"}),
            "on_failure.workflow must be the id of one of your workflows (a number), not \"Alert\"".to_string(),
        ),
        (json!({"workflow": alert, "when": "always"}), "on_failure.when is not a field".to_string()),
    ] {
        let mut definition = failing("Refused", None);
        definition["on_failure"] = on_failure;
        let (status, refused) = api.create_workflow(&definition).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.to_string().contains(&expected.replace('"', "\\\"")), "{expected}: {refused}");
    }
    let (status, refused) = api
        .update_workflow(alert, &{
            let mut own = failing("Alert", Some(alert));
            own["on_failure"] = json!({"workflow": alert});
            own
        })
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.to_string().contains("a workflow cannot be its own error workflow"), "{refused}");
}

async fn a_run_waits_at_a_wait_node_until_the_api_resumes_it_once(db: &TestDb) {
    let (server, api, other) = start(db).await;
    let review = api
        .create_workflow_id(&json!({"name": "Review", "nodes": [
            {"id": "draft", "type": "template", "config": {"template": "Draft for {{ input.who }}"}},
            {"id": "review", "type": "wait", "config": {"timeout_ms": 600000}},
            {"id": "send", "type": "template", "config": {"template": "{{ nodes.review.verdict }}: {{ nodes.draft.text }}"}}
        ], "edges": [{"from": "draft", "to": "review"}, {"from": "review", "to": "send"}]}))
        .await;
    let (status, report) = api.run_execution(review, Some(json!({"input": {"who": "Ada"}}))).await;
    assert_eq!((status, report["status"].as_str()), (StatusCode::OK, Some("waiting")), "{report}");
    assert_eq!(report["nodes"]["review"]["status"], "waiting");
    let id = report["id"].as_i64().unwrap();
    let (_, listed) = api.list_executions("status=waiting").await;
    assert_eq!(listed["items"][0]["id"], id, "the history filters waiting runs");

    let resume = |api: &Api, query: &str, body: Option<Value>| {
        let (api, path) = (api.clone(), format!("/executions/{id}/resume{query}"));
        async move { api.json(Method::POST, &path, body).await }
    };
    // Someone else cannot see it, let alone resume it; bad input is named.
    assert_eq!(resume(&other, "", Some(json!({}))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(resume(&api, "?node=draft", Some(json!({}))).await.0, StatusCode::CONFLICT);
    let (status, body) = resume(&api, "?node=review", Some(json!({"verdict": "approved"}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["status"], "queued");
    let (status, body) = resume(&api, "", Some(json!({"verdict": "again"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "used once: {body}");

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let finished = loop {
        let (_, got) = api.get_execution(id).await;
        if got["status"] == "succeeded" || got["status"] == "failed" {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "the resumed run did not finish: {got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["nodes"]["send"]["output"]["text"], "approved: Draft for Ada");
    assert_eq!(finished["nodes"]["review"]["output"], json!({"verdict": "approved"}));

    // Not JSON: a clear 400, and nothing changes.
    let text = api.request(Method::POST, &format!("/executions/{id}/resume")).body("{not json").send().await.unwrap();
    assert_eq!(text.status(), StatusCode::BAD_REQUEST);
    server.stop.cancel();
}

/// The page behind a resume URL (no key: the token is the permission): it
/// shows the buttons only for a valid token and a node that waits, and its
/// form resumes the run once with `{"approved", "comment"}`.
async fn the_resume_page_takes_one_approval_with_a_comment(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let api = Api::for_new_user(&server, &base, "pages@example.com").await;
    let review = api
        .create_workflow_id(&json!({"name": "Review", "nodes": [
            {"id": "ask", "type": "template", "config": {"template": "{{ resume_urls.review }}"}},
            {"id": "review", "type": "wait", "config": {}},
            {"id": "send", "type": "template", "config": {"template": "{{ nodes.review.approved }} {{ nodes.review.comment }}"}}
        ], "edges": [{"from": "ask", "to": "review"}, {"from": "review", "to": "send"}]}))
        .await;
    let (_, report) = api.run_execution(review, Some(json!({"input": {}}))).await;
    assert_eq!(report["status"], "waiting", "{report}");
    let id = report["id"].as_i64().unwrap();
    let path = report["nodes"]["ask"]["output"]["text"].as_str().unwrap().to_string();
    let url = format!("{base}{path}");
    let browser = reqwest::Client::new();
    let get = |url: String| {
        let browser = browser.clone();
        async move {
            let response = browser.get(url).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };
    let submit = |fields: &'static [(&'static str, &'static str)]| {
        let (browser, url) = (browser.clone(), url.clone());
        async move {
            let response = browser.post(url).form(fields).send().await.unwrap();
            (response.status(), response.text().await.unwrap())
        }
    };

    let (status, page) = get(url.clone()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("data-testid=\"resume-approve\"") && page.contains("<code>review</code>"), "{page}");
    // A forged token, or another node's with this one's token, shows nothing of the run.
    let token = path.rsplit('/').next().unwrap();
    for forged in [format!("{base}/resume/{id}/review/{}", "A".repeat(43)), format!("{base}/resume/{id}/send/{token}")]
    {
        let (status, page) = get(forged).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
        assert!(!page.contains("resume-approve"), "{page}");
    }
    // A form without a decision is named and changes nothing.
    let (status, page) = submit(&[("comment", "hm")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("Choose approve or reject"), "{page}");

    let (status, page) = submit(&[("decision", "approve"), ("comment", "ship <it>")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Thank you"), "{page}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let finished = loop {
        let (_, got) = api.get_execution(id).await;
        if got["status"] != "queued" && got["status"] != "running" {
            break got;
        }
        assert!(std::time::Instant::now() < deadline, "the approved run did not finish: {got}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(finished["status"], "succeeded", "{finished}");
    assert_eq!(finished["nodes"]["review"]["output"], json!({"approved": true, "comment": "ship <it>"}));

    // Used once: the page and the form both say so.
    let (status, page) = get(url.clone()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    let (status, page) = submit(&[("decision", "reject")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("Already answered"), "{page}");
    server.stop.cancel();
}
