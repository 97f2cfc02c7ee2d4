//! Runs from the pages' server functions, over real HTTP: start, the live event
//! stream behind the session, re-run from the failed node (reusing recorded
//! outputs), cancel, and who may see what.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::Browser;
use support::TestDb;

on_both_backends!(
    a_run_started_from_the_page_streams_its_events_and_ends_with_every_node,
    re_running_from_the_failed_node_reuses_what_succeeded,
    a_re_run_takes_the_saved_version_unless_asked_for_the_runs_own,
    the_history_loads_unfiltered_and_filters_by_a_workflows_name,
    a_long_run_is_cancelled_from_the_page,
    runs_are_private_to_their_owner_and_readable_by_admins,
);

fn node<'a>(details: &'a Value, id: &str) -> &'a Value {
    details["runs"].as_array().unwrap().iter().find(|r| r["node_id"] == id).unwrap_or_else(|| panic!("{id}: {details}"))
}

async fn a_run_started_from_the_page_streams_its_events_and_ends_with_every_node(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let workflow = ada
        .import_workflow_id(&json!({
            "name": "Slow greeting",
            "nodes": [
                {"id": "wait", "type": "delay", "config": {"ms": 200}},
                {"id": "greet", "type": "template", "config": {"template": "Hello {{ input.who }}"}}
            ],
            "edges": [{"from": "wait", "to": "greet"}]
        }))
        .await;
    let bad_input = ada.start_run(workflow, "{who").await;
    assert_eq!(bad_input.status(), StatusCode::BAD_REQUEST);
    assert!(bad_input.text().await.unwrap().contains("the input is not valid JSON"));

    let id = ada.start_run_id(workflow, r#"{"who": "Ada"}"#).await;
    // The page's event stream, behind the session cookie: it follows the run to its end.
    let stream = ada.events(id).await;
    assert_eq!(stream.status(), StatusCode::OK);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let text = tokio::time::timeout(Duration::from_secs(5), stream.text()).await.expect("the stream ends").unwrap();
    assert!(text.contains("event: node") && text.contains("\"node\":\"greet\""), "{text}");
    assert!(
        text.trim_end().ends_with(r#""status":"succeeded","error":null}"#) || text.contains("event: finished"),
        "{text}"
    );

    let details = ada.finished_run(id).await;
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

    let refused = ada.without_session().events(id).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
}

async fn re_running_from_the_failed_node_reuses_what_succeeded(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    // Port 1 refuses connections: `call` fails every time.
    let workflow = ada
        .import_workflow_id(&json!({
            "name": "Flaky",
            "nodes": [
                {"id": "first", "type": "template", "config": {"template": "{{ input.n }}"}},
                {"id": "call", "type": "http", "config": {"method": "GET", "url": "http://127.0.0.1:1/"}}
            ],
            "edges": [{"from": "first", "to": "call"}]
        }))
        .await;
    let id = ada.start_run_id(workflow, r#"{"n": 7}"#).await;
    let failed = ada.finished_run(id).await;
    assert_eq!(failed["execution"]["status"], "failed");

    let fine = ada.import_workflow_id(&serde_json::to_value(support::definition("Fine")).unwrap()).await;
    let succeeded_run = ada.start_run_id(fine, "{}").await;
    ada.finished_run(succeeded_run).await;
    let refused = ada.rerun(succeeded_run, true, None).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);

    let again = ada.rerun(id, true, None).await;
    assert_eq!(again.status(), StatusCode::OK);
    let again_id = again.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    assert_ne!(again_id, id);
    let rerun = ada.finished_run(again_id).await;
    assert_eq!(rerun["execution"]["status"], "failed");
    assert_eq!(rerun["execution"]["input"], json!({"n": 7}), "the same input");
    // `first` was not run again: its recorded run (times and output) was reused...
    assert_eq!(node(&rerun, "first")["output"], node(&failed, "first")["output"]);
    assert_eq!(node(&rerun, "first")["started_at"], node(&failed, "first")["started_at"]);
    // ...and `call` ran again, later.
    assert!(node(&rerun, "call")["started_at"].as_i64() > node(&failed, "call")["started_at"].as_i64());

    // A plain re-run runs everything again.
    let whole = ada.rerun(id, false, None).await;
    let whole = ada.finished_run(whole.json::<Value>().await.unwrap()["id"].as_i64().unwrap()).await;
    assert!(node(&whole, "first")["started_at"].as_i64() > node(&failed, "first")["started_at"].as_i64());
}

async fn a_re_run_takes_the_saved_version_unless_asked_for_the_runs_own(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
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
    let workflow = ada.import_workflow_id(&broken("throw new Error('broken on purpose')")).await;
    let id = ada.start_run_id(workflow, r#"{"n": 7}"#).await;
    let failed = ada.finished_run(id).await;
    assert_eq!(failed["execution"]["status"], "failed");
    // The user fixes the node: v2.
    let fixed = broken("return 'fixed'").to_string();
    let saved = ada.save_workflow(workflow, &fixed).await;
    assert_eq!(saved.status(), StatusCode::OK);
    let details = ada.finished_run(id).await;
    assert_eq!((details["execution"]["version"].as_i64(), details["current_version"].as_i64()), (Some(1), Some(2)));

    // By default, from the failed node on v2: `first` is reused, `check` runs fixed.
    let again = ada.rerun(id, true, None).await;
    let again = ada.finished_run(again.json::<Value>().await.unwrap()["id"].as_i64().unwrap()).await;
    assert_eq!(
        (again["execution"]["status"].as_str(), again["execution"]["version"].as_i64()),
        (Some("succeeded"), Some(2))
    );
    assert_eq!(node(&again, "first")["started_at"], node(&failed, "first")["started_at"], "reused, not run again");
    assert_eq!(node(&again, "after")["output"]["text"], "fixed");

    // On request, the run's own version: it fails as it did.
    for from_failed in [true, false] {
        let old = ada.rerun(id, from_failed, Some("original")).await;
        assert_eq!(old.status(), StatusCode::OK);
        let old = ada.finished_run(old.json::<Value>().await.unwrap()["id"].as_i64().unwrap()).await;
        assert_eq!(
            (old["execution"]["status"].as_str(), old["execution"]["version"].as_i64()),
            (Some("failed"), Some(1))
        );
    }
    // An unknown choice is a 400 that says so, not a 500.
    let bad = ada.rerun(id, true, Some("v9")).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

async fn the_history_loads_unfiltered_and_filters_by_a_workflows_name(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let mine = ada.import_workflow_id(&serde_json::to_value(support::definition("Nightly report")).unwrap()).await;
    let other = ada.import_workflow_id(&serde_json::to_value(support::definition("Something else")).unwrap()).await;
    for workflow in [mine, mine, other] {
        let id = ada.start_run_id(workflow, "{}").await;
        ada.finished_run(id).await;
    }
    // What the browser sends when no filter is set (it used to be an empty form: a 400).
    let all =
        ada.history(json!({"status": null, "workflow": null, "owner": null, "from": null, "to": null, "after": null}));
    let all = all.await;
    assert_eq!(all.status(), StatusCode::OK);
    assert_eq!(all.json::<Value>().await.unwrap()["count"], 3);
    for typed in ["Nightly report", "nightly REPORT", mine.to_string().as_str()] {
        let named: Value = ada.history(json!({ "workflow": typed })).await.json().await.unwrap();
        assert_eq!(named["count"], 2, "{typed}: {named}");
    }
    let unknown = ada.history(json!({"workflow": "Nightly"})).await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown.text().await.unwrap().contains("no workflow is named `Nightly`"));

    // What the list fetches as it is scrolled: the rows after a cursor, by the
    // same filters, none twice; a cursor that is not one is a 400.
    let ids = |page: &Value| -> Vec<i64> {
        page["items"].as_array().unwrap().iter().map(|row| row["execution"]["id"].as_i64().unwrap()).collect()
    };
    let all: Value = ada.history_rows(json!({})).await.json().await.unwrap();
    let newest = &all["items"][0]["execution"];
    let cursor = format!("{}.{}", newest["created_at"], newest["id"]);
    let older: Value = ada.history_rows(json!({ "after": cursor })).await.json().await.unwrap();
    assert_eq!(ids(&older), ids(&all)[1..].to_vec(), "the rows after the newest: {older}");
    let mine_older: Value =
        ada.history_rows(json!({ "after": cursor, "workflow": "Nightly report" })).await.json().await.unwrap();
    assert!(mine_older["items"].as_array().unwrap().iter().all(|row| row["execution"]["workflow_id"] == mine));
    let bad = ada.history_rows(json!({ "after": "yesterday" })).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("is not a valid page cursor"));
}

async fn a_long_run_is_cancelled_from_the_page(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let workflow = ada
        .import_workflow_id(&json!({
            "name": "Long", "nodes": [{"id": "sleep", "type": "delay", "config": {"ms": 30000}}], "edges": []
        }))
        .await;
    let id = ada.start_run_id(workflow, "").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let cancelled = ada.cancel_run(id).await;
    assert_eq!(cancelled.status(), StatusCode::OK);
    let details = ada.finished_run(id).await;
    assert_eq!(details["execution"]["status"], "cancelled");
    let twice = ada.cancel_run(id).await;
    assert_eq!(twice.status(), StatusCode::CONFLICT);
}

async fn runs_are_private_to_their_owner_and_readable_by_admins(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let ada = Browser::signed_in_user(server.store.as_ref(), &base, "ada@example.com", false).await;
    let bob = Browser::signed_in_user(server.store.as_ref(), &base, "bob@example.com", false).await;
    let root = Browser::signed_in_user(server.store.as_ref(), &base, "root@example.com", true).await;
    let workflow = ada.import_workflow_id(&serde_json::to_value(support::definition("Ada's")).unwrap()).await;
    let id = ada.start_run_id(workflow, "{}").await;
    ada.finished_run(id).await;
    let id_text = id.to_string();

    for (function, form) in [
        ("runs/load", vec![("id", id_text.as_str())]),
        ("runs/cancel", vec![("id", id_text.as_str())]),
        ("runs/rerun", vec![("id", id_text.as_str()), ("from_failed", "false")]),
        ("workflows/load", vec![("id", "1")]),
    ] {
        let response = bob.server_fn(function, &form).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{function}");
    }
    let started = bob.start_run(workflow, "{}").await;
    assert_eq!(started.status(), StatusCode::NOT_FOUND);
    let stream = bob.events(id).await;
    assert_eq!(stream.status(), StatusCode::NOT_FOUND);

    // An admin reads anyone's run, but re-runs only their own.
    let seen: Value = root.load_run(id).await.json().await.unwrap();
    assert_eq!((seen["execution"]["status"].as_str(), seen["own"].as_bool()), (Some("succeeded"), Some(false)));
    let rerun = root.rerun(id, false, None).await;
    assert_eq!(rerun.status(), StatusCode::NOT_FOUND);
}
