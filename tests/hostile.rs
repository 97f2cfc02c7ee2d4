//! Workflows and callers that attack the server: whatever they do, the
//! server keeps answering everyone else.

mod support;

use std::time::{Duration, Instant};

use app::model::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::client::{Api, Browser};
use support::TestDb;

on_both_backends!(
    runaway_templates_and_scripts_fail_at_their_limits_while_the_server_keeps_answering,
    one_user_holds_only_so_many_event_streams,
);

/// A workflow behind an asynchronous webhook at `path`, running `node`.
fn hooked(path: &str, node: Value) -> Value {
    json!({"name": format!("hostile {path}"),
           "triggers": [{"type": "webhook", "path": path, "method": "POST", "mode": "async"}],
           "nodes": [node]})
}

/// The runaway test measures latency on a loaded machine: its SQLite and
/// PostgreSQL runs take turns, or each would measure the other's load.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn runaway_templates_and_scripts_fail_at_their_limits_while_the_server_keeps_answering(db: &TestDb) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (server, base) = support::start_server_configured(db, |settings| {
        settings.engine.code.time_limit = Duration::from_secs(2);
        settings.engine.max_running_nodes = 64;
    })
    .await;
    let api = Api::for_new_user(&server, &base, "attacker@example.com").await;
    let browser = Browser::anonymous(&base);
    let spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    let spin_template = api
        .create_hook(&hooked(
            "spin-template",
            json!({"id": "spin", "type": "template", "timeout_ms": 300, "config": {"template": spin}}),
        ))
        .await;
    let spin_condition = api.create_hook(&hooked(
        "spin-condition",
        json!({"id": "spin", "type": "condition", "timeout_ms": 300,
               "config": {"expr": "range(100000) | map('string') | join | length > (range(100000) * 1000) | list | length"}}),
    ))
    .await;
    let spin_code = api
        .create_hook(&hooked(
            "spin-code",
            json!({"id": "spin", "type": "code", "config": {"source": "while (true) {}"}}),
        ))
        .await;
    let ping =
        api.create_hook(&hooked("ping", json!({"id": "hi", "type": "template", "config": {"template": "hi"}}))).await;

    let mut runaways = Vec::new();
    for i in 0..32 {
        let path = [&spin_template, &spin_condition, &spin_code, &spin_code][i % 4];
        let answer = browser.webhook(path, &json!({})).await;
        assert_eq!(answer.status(), StatusCode::ACCEPTED, "{path}");
        runaways.push(answer.json::<Value>().await.unwrap()["execution_id"].as_i64().unwrap());
    }
    // A flood of webhook calls beside them, from four clients.
    let flood_until = Instant::now() + Duration::from_secs(3);
    let floods: Vec<_> = (0..4)
        .map(|_| {
            let (browser, ping) = (browser.clone(), ping.clone());
            tokio::spawn(async move {
                let mut answered = 0;
                while Instant::now() < flood_until {
                    if browser.webhook(&ping, &json!({})).await.status() == StatusCode::ACCEPTED {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();

    // Meanwhile /healthz answers at once.
    let mut latencies = Vec::new();
    while Instant::now() < flood_until {
        let asked = Instant::now();
        assert_eq!(browser.healthz().await.status(), StatusCode::OK);
        latencies.push(asked.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100];
    let flooded: usize = futures::future::join_all(floods).await.into_iter().map(|n| n.unwrap()).sum();
    let slowest = latencies[latencies.len() - 1];
    println!(
        "/healthz p99 {p99:?}, slowest {slowest:?}, over {} probes; {flooded} webhook calls answered",
        latencies.len()
    );
    assert!(p99 < Duration::from_millis(50), "/healthz p99 was {p99:?}: {latencies:?}");
    assert!(slowest < Duration::from_millis(500), "/healthz stalled for {slowest:?}");
    assert!(flooded > 0);

    // Each runaway failed at its own limit, with a message that says which.
    for id in runaways {
        let execution = wait_finished(&server, id).await;
        assert_eq!(execution.status, ExecutionStatus::Failed, "{execution:?}");
        let error = execution.error.clone().unwrap_or_default();
        assert!(
            error.contains("timed out after 300 ms")
                || error.contains("steps and was stopped")
                || error.contains("longer than its 2000 ms limit"),
            "{error}"
        );
    }
}

async fn wait_finished(server: &weft::server::RunningServer, id: i64) -> Execution {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let execution = server.store.execution(Scope::Everyone, id).await.unwrap();
        if execution.status.is_finished() || Instant::now() > deadline {
            return execution;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn one_user_holds_only_so_many_event_streams(db: &TestDb) {
    let (server, base) =
        support::start_server_configured(db, |settings| settings.engine.max_event_streams_per_user = 2).await;
    let api = Api::for_new_user(&server, &base, "watcher@example.com").await;
    let other = Api::for_new_user(&server, &base, "other@example.com").await;
    let slow = json!({"name": "slow", "nodes": [{"id": "nap", "type": "delay", "config": {"ms": 5000}}]});
    let workflow = api.create_workflow_id(&slow).await;
    let (status, started) =
        api.json(reqwest::Method::POST, &format!("/workflows/{workflow}/executions"), Some(json!({}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{started}");
    let id = started["execution_id"].as_i64().or_else(|| started["id"].as_i64()).unwrap();
    let open = |api: &Api| api.request(reqwest::Method::GET, &format!("/executions/{id}/events")).send();
    let first = open(&api).await.unwrap();
    let second = open(&api).await.unwrap();
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    let third = open(&api).await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: Value = third.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("2 event streams are open already"), "{body}");
    // Another user is counted apart (and this run is not theirs to see); closing a stream frees its place.
    let elsewhere = other.request(reqwest::Method::GET, &format!("/executions/{id}/events")).send().await.unwrap();
    assert_eq!(elsewhere.status(), StatusCode::NOT_FOUND);
    drop(first);
    let mut reopened = open(&api).await.unwrap();
    for _ in 0..50 {
        if reopened.status() == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        reopened = open(&api).await.unwrap();
    }
    assert_eq!(reopened.status(), StatusCode::OK);
}
