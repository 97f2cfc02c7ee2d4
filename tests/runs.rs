//! Runs from the pages' server functions, over real HTTP: start, the live event
//! stream behind the session, re-run from the failed node (reusing recorded
//! outputs), cancel, and who may see what.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{signed_in_user, TestDb};

on_both_backends!(
    a_run_started_from_the_page_streams_its_events_and_ends_with_every_node,
    re_running_from_the_failed_node_reuses_what_succeeded,
    a_re_run_takes_the_saved_version_unless_asked_for_the_runs_own,
    the_history_loads_unfiltered_and_filters_by_a_workflows_name,
    a_long_run_is_cancelled_from_the_page,
    runs_are_private_to_their_owner_and_readable_by_admins,
);

async fn call(client: &reqwest::Client, base: &str, function: &str, form: &[(&str, &str)]) -> reqwest::Response {
    client.post(format!("{base}/api/{function}")).form(form).send().await.unwrap()
}

async fn import(client: &reqwest::Client, base: &str, definition: Value) -> i64 {
    let response = call(client, base, "workflows/import", &[("definition", &definition.to_string())]).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn start(client: &reqwest::Client, base: &str, workflow: i64, input: &str) -> i64 {
    let response = call(client, base, "runs/start", &[("workflow_id", &workflow.to_string()), ("input", input)]).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// Polls the run view's data until the run has ended.
async fn finished(client: &reqwest::Client, base: &str, id: i64) -> Value {
    for _ in 0..200 {
        let details: Value = call(client, base, "runs/load", &[("id", &id.to_string())]).await.json().await.unwrap();
        if ["succeeded", "failed", "cancelled"].contains(&details["execution"]["status"].as_str().unwrap()) {
            return details;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("run {id} did not finish in 5 s");
}

fn node<'a>(details: &'a Value, id: &str) -> &'a Value {
    details["runs"].as_array().unwrap().iter().find(|r| r["node_id"] == id).unwrap_or_else(|| panic!("{id}: {details}"))
}

async fn a_run_started_from_the_page_streams_its_events_and_ends_with_every_node(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let workflow = import(
        &ada,
        &base,
        json!({
            "name": "Slow greeting",
            "nodes": [
                {"id": "wait", "type": "delay", "config": {"ms": 200}},
                {"id": "greet", "type": "template", "config": {"template": "Hello {{ input.who }}"}}
            ],
            "edges": [{"from": "wait", "to": "greet"}]
        }),
    )
    .await;
    let bad_input = call(&ada, &base, "runs/start", &[("workflow_id", &workflow.to_string()), ("input", "{who")]).await;
    assert_eq!(bad_input.status(), StatusCode::BAD_REQUEST);
    assert!(bad_input.text().await.unwrap().contains("the input is not valid JSON"));

    let id = start(&ada, &base, workflow, r#"{"who": "Ada"}"#).await;
    // The page's event stream, behind the session cookie: it follows the run to its end.
    let stream = ada.get(format!("{base}/executions/{id}/events")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(5), stream.text()).await.expect("the stream ends").unwrap();
    assert!(text.contains("event: node") && text.contains("\"node\":\"greet\""), "{text}");
    assert!(
        text.trim_end().ends_with(r#""status":"succeeded","error":null}"#) || text.contains("event: finished"),
        "{text}"
    );

    let details = finished(&ada, &base, id).await;
    assert_eq!(details["execution"]["status"], "succeeded");
    assert_eq!(details["execution"]["trigger"], "manual");
    let nodes: Vec<(&str, &str)> = details["definition"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n["type"].as_str().unwrap()))
        .collect();
    assert_eq!(nodes, [("wait", "delay"), ("greet", "template")], "the definition's order");
    assert_eq!(node(&details, "greet")["output"], json!({"text": "Hello Ada"}));
    assert_eq!(details["own"], json!(true));

    let anonymous = support::browser(None);
    let refused = anonymous.get(format!("{base}/executions/{id}/events")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

async fn re_running_from_the_failed_node_reuses_what_succeeded(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    // Port 1 refuses connections: `call` fails every time.
    let workflow = import(
        &ada,
        &base,
        json!({
            "name": "Flaky",
            "nodes": [
                {"id": "first", "type": "template", "config": {"template": "{{ input.n }}"}},
                {"id": "call", "type": "http", "config": {"method": "GET", "url": "http://127.0.0.1:1/"}}
            ],
            "edges": [{"from": "first", "to": "call"}]
        }),
    )
    .await;
    let id = start(&ada, &base, workflow, r#"{"n": 7}"#).await;
    let failed = finished(&ada, &base, id).await;
    assert_eq!(failed["execution"]["status"], "failed");

    let succeeded_run =
        start(&ada, &base, import(&ada, &base, serde_json::to_value(support::definition("Fine")).unwrap()).await, "{}")
            .await;
    finished(&ada, &base, succeeded_run).await;
    let refused = call(&ada, &base, "runs/rerun", &[("id", &succeeded_run.to_string()), ("from_failed", "true")]).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let again = call(&ada, &base, "runs/rerun", &[("id", &id.to_string()), ("from_failed", "true")]).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again_id = again.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_ne!(again_id, id);
    let rerun = finished(&ada, &base, again_id).await;
    assert_eq!(rerun["execution"]["status"], "failed");
    assert_eq!(rerun["execution"]["input"], json!({"n": 7}), "the same input");
    // `first` was not run again: its recorded run (times and output) was reused...
    assert_eq!(node(&rerun, "first")["output"], node(&failed, "first")["output"]);
    assert_eq!(node(&rerun, "first")["started_at"], node(&failed, "first")["started_at"]);
    // ...and `call` ran again, later.
    assert!(node(&rerun, "call")["started_at"].as_i64() > node(&failed, "call")["started_at"].as_i64());

    // A plain re-run runs everything again.
    let whole = call(&ada, &base, "runs/rerun", &[("id", &id.to_string()), ("from_failed", "false")]).await;
    let whole = finished(&ada, &base, whole.json::<Value>().await.unwrap()["id"].as_i64().unwrap()).await;
    assert!(node(&whole, "first")["started_at"].as_i64() > node(&failed, "first")["started_at"].as_i64());
}

async fn a_re_run_takes_the_saved_version_unless_asked_for_the_runs_own(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let broken = |source: &str| {
        json!({
            "name": "Fix me",
            "nodes": [
                {"id": "first", "type": "template", "config": {"template": "{{ input.n }}"}},
                {"id": "check", "type": "code", "config": {"source": source}},
                {"id": "after", "type": "template", "config": {"template": "{{ nodes.check }}"}}
            ],
            "edges": [{"from": "first", "to": "check"}, {"from": "check", "to": "after"}]
        })
    };
    let workflow = import(&ada, &base, broken("throw new Error('broken on purpose')")).await;
    let id = start(&ada, &base, workflow, r#"{"n": 7}"#).await;
    let failed = finished(&ada, &base, id).await;
    assert_eq!(failed["execution"]["status"], "failed");
    // The user fixes the node: v2.
    let fixed = broken("return 'fixed'").to_string();
    let saved = call(&ada, &base, "workflows/save", &[("id", &workflow.to_string()), ("definition", &fixed)]).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let details = finished(&ada, &base, id).await;
    assert_eq!((details["execution"]["version"].as_i64(), details["current_version"].as_i64()), (Some(1), Some(2)));

    // By default, from the failed node on v2: `first` is reused, `check` runs fixed.
    let again = call(&ada, &base, "runs/rerun", &[("id", &id.to_string()), ("from_failed", "true")]).await;
    let again = finished(&ada, &base, again.json::<Value>().await.unwrap()["id"].as_i64().unwrap()).await;
    assert_eq!(
        (again["execution"]["status"].as_str(), again["execution"]["version"].as_i64()),
        (Some("succeeded"), Some(2))
    );
    assert_eq!(node(&again, "first")["started_at"], node(&failed, "first")["started_at"], "reused, not run again");
    assert_eq!(node(&again, "after")["output"]["text"], "fixed");

    // On request, the run's own version: it fails as it did.
    for from_failed in ["true", "false"] {
        let form = [("id", id.to_string()), ("from_failed", from_failed.into()), ("version", "original".into())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let old = call(&ada, &base, "runs/rerun", &form).await;
        assert_eq!(old.status(), StatusCode::OK);
        let old = finished(&ada, &base, old.json::<Value>().await.unwrap()["id"].as_i64().unwrap()).await;
        assert_eq!(
            (old["execution"]["status"].as_str(), old["execution"]["version"].as_i64()),
            (Some("failed"), Some(1))
        );
    }
    // An unknown choice is a 400 that says so, not a 500.
    let bad =
        call(&ada, &base, "runs/rerun", &[("id", &id.to_string()), ("from_failed", "true"), ("version", "v9")]).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

async fn the_history_loads_unfiltered_and_filters_by_a_workflows_name(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let mine = import(&ada, &base, serde_json::to_value(support::definition("Nightly report")).unwrap()).await;
    let other = import(&ada, &base, serde_json::to_value(support::definition("Something else")).unwrap()).await;
    for workflow in [mine, mine, other] {
        let id = start(&ada, &base, workflow, "{}").await;
        finished(&ada, &base, id).await;
    }
    let history = |query: Value| {
        let ada = ada.clone();
        let url = format!("{base}/api/history/load");
        async move { ada.post(url).json(&json!({ "query": query })).send().await.unwrap() }
    };
    // What the browser sends when no filter is set (it used to be an empty form: a 400).
    let all =
        history(json!({"status": null, "workflow": null, "owner": null, "from": null, "to": null, "after": null}));
    let all = all.await;
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(all.json::<Value>().await.unwrap()["count"], 3);
    for typed in ["Nightly report", "nightly REPORT", mine.to_string().as_str()] {
        let named: Value = history(json!({ "workflow": typed })).await.json().await.unwrap();
        assert_eq!(named["count"], 2, "{typed}: {named}");
    }
    let unknown = history(json!({"workflow": "Nightly"})).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown.text().await.unwrap().contains("no workflow is named `Nightly`"));
}

async fn a_long_run_is_cancelled_from_the_page(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let workflow = import(
        &ada,
        &base,
        json!({
            "name": "Long", "nodes": [{"id": "sleep", "type": "delay", "config": {"ms": 30000}}], "edges": []
        }),
    )
    .await;
    let id = start(&ada, &base, workflow, "").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cancelled = call(&ada, &base, "runs/cancel", &[("id", &id.to_string())]).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let details = finished(&ada, &base, id).await;
    assert_eq!(details["execution"]["status"], "cancelled");
    let twice = call(&ada, &base, "runs/cancel", &[("id", &id.to_string())]).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
}

async fn runs_are_private_to_their_owner_and_readable_by_admins(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let bob = signed_in_user(server.store.as_ref(), &base, "bob@example.com", false).await;
    let root = signed_in_user(server.store.as_ref(), &base, "root@example.com", true).await;
    let workflow = import(&ada, &base, serde_json::to_value(support::definition("Ada's")).unwrap()).await;
    let id = start(&ada, &base, workflow, "{}").await;
    finished(&ada, &base, id).await;
    let id = id.to_string();

    for (function, form) in [
        ("runs/load", vec![("id", id.as_str())]),
        ("runs/cancel", vec![("id", id.as_str())]),
        ("runs/rerun", vec![("id", id.as_str()), ("from_failed", "false")]),
        ("workflows/load", vec![("id", "1")]),
    ] {
        let response = call(&bob, &base, function, &form).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{function}");
    }
    let started = call(&bob, &base, "runs/start", &[("workflow_id", &workflow.to_string()), ("input", "{}")]).await;
    assert_eq!(started.status(), StatusCode::NOT_FOUND);
    let stream = bob.get(format!("{base}/executions/{id}/events")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::NOT_FOUND);

    // An admin reads anyone's run, but re-runs only their own.
    let seen: Value = call(&root, &base, "runs/load", &[("id", &id)]).await.json().await.unwrap();
    assert_eq!((seen["execution"]["status"].as_str(), seen["own"].as_bool()), (Some("succeeded"), Some(false)));
    let rerun = call(&root, &base, "runs/rerun", &[("id", &id), ("from_failed", "false")]).await;
    assert_eq!(rerun.status(), StatusCode::NOT_FOUND);
}
