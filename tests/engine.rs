//! The engine end to end: real nodes, a real store (SQLite), and local fake
//! upstreams (an OpenAI-compatible LLM server and a plain HTTP server).

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::model::*;
use app::ports::Store;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::StreamExt;
use serde_json::{json, Value};
use support::TestDb;
use weft::engine::{Engine, EngineSettings};

/// An OpenAI-compatible server. The prompt steers it: `FAIL` answers 500,
/// `SLOW` waits two seconds, `PLAIN` answers with one JSON document even when
/// asked to stream (as some servers do), `PAUSE` streams the first half of its
/// answer, waits 300 ms, then the rest; otherwise `stream: true` gets events.
#[derive(Clone, Default)]
struct FakeLlm {
    requests: Arc<AtomicUsize>,
}

async fn chat(State(fake): State<FakeLlm>, Json(body): Json<Value>) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    let prompt = body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    tokio::time::sleep(Duration::from_millis(100)).await;
    if prompt.contains("FAIL") {
        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "upstream exploded").into_response();
    }
    if prompt.contains("SLOW") {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let answer = format!("echo: {prompt}");
    if body["stream"] == json!(true) && !prompt.contains("PLAIN") {
        let (first, second) = answer.split_at(answer.len() / 2);
        let events = [
            json!({"model": "fake-1", "choices": [{"delta": {"content": first}}]}),
            json!({"model": "fake-1", "choices": [{"delta": {"content": second}}]}),
            json!({"model": "fake-1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ];
        let mut chunks: Vec<String> = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        chunks.push("data: [DONE]\n\n".into());
        if prompt.contains("PAUSE") {
            let body = futures::stream::iter(chunks.into_iter().enumerate()).then(|(i, chunk)| async move {
                if i == 1 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Ok::<_, std::convert::Infallible>(chunk)
            });
            let headers = [(axum::http::header::CONTENT_TYPE, "text/event-stream")];
            return (headers, axum::body::Body::from_stream(body)).into_response();
        }
        let text = chunks.concat();
        return ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], text).into_response();
    }
    Json(json!({"model": "fake-1", "choices": [{"message": {"content": answer}}], "usage": {"total_tokens": 5}}))
        .into_response()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A plain upstream: `/flaky` answers 503 twice then 200; `/sluggish` hangs
/// twice then answers at once; `/big` sends 64 KiB.
async fn upstream() -> (String, Arc<AtomicUsize>) {
    let flaky = Arc::new(AtomicUsize::new(0));
    let counter = flaky.clone();
    let sluggish = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/sluggish",
            get(move || {
                let sluggish = sluggish.clone();
                async move {
                    if sluggish.fetch_add(1, Ordering::SeqCst) < 2 {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                    }
                    "awake"
                }
            }),
        )
        .route("/ok", get(|| async { Json(json!({"title": "Hello"})) }))
        .route(
            "/flaky",
            get(move || {
                let counter = counter.clone();
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                        Err(axum::http::StatusCode::SERVICE_UNAVAILABLE)
                    } else {
                        Ok("finally")
                    }
                }
            }),
        )
        .route("/big", get(|| async { "x".repeat(64 * 1024) }));
    (serve(router).await, flaky)
}

struct Harness {
    _db: TestDb,
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    owner: User,
    llm: FakeLlm,
}

async fn harness(adjust: impl FnOnce(&mut EngineSettings)) -> Harness {
    let db = TestDb::sqlite();
    let store = db.store().await;
    let owner = store.create_user("runner@example.com", None, false).await.unwrap();
    let llm = FakeLlm::default();
    let llm_url = serve(Router::new().route("/v1/chat/completions", post(chat)).with_state(llm.clone())).await;
    let mut settings = EngineSettings::default();
    settings.llm.base_url = format!("{llm_url}/v1");
    settings.llm.timeout = Duration::from_millis(1_000);
    settings.http.allow_loopback = true;
    settings.http.max_body_bytes = 16 * 1024;
    adjust(&mut settings);
    let engine = Engine::new(store.clone(), settings, weft::signals::Signals::local()).unwrap();
    Harness { _db: db, store, engine, owner, llm }
}

impl Harness {
    async fn version(&self, definition: Value) -> WorkflowVersion {
        let definition: WorkflowDefinition = serde_json::from_value(definition).unwrap();
        let created = self.store.create_workflow(self.owner.id, &definition).await.unwrap();
        self.store.workflow_version(Scope::Everyone, created.id, 1).await.unwrap()
    }

    async fn run(&self, definition: Value, input: Value) -> ExecutionReport {
        let version = self.version(definition).await;
        self.engine.run(&version, self.owner.id, Trigger::Manual, input).await.unwrap()
    }
}

fn node<'a>(report: &'a ExecutionReport, id: &str) -> &'a NodeReport {
    report.nodes.get(id).unwrap_or_else(|| panic!("no node {id} in {report:?}"))
}

#[tokio::test]
async fn the_documented_example_runs_and_takes_the_right_branch() {
    let h = harness(|_| {}).await;
    let (base, _) = upstream().await;
    let report = h
        .run(
            json!({"name": "Summarize a page", "nodes": [
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "{{ input.url }}"}},
                {"id": "ok", "type": "condition", "config": {"expr": "nodes.fetch.status == 200"}},
                {"id": "sum", "type": "llm", "config": {"model": "m", "prompt": "Summarize: {{ nodes.fetch.body.title }}"}},
                {"id": "oops", "type": "template", "config": {"template": "fetch failed: {{ nodes.fetch.status }}"}}
            ], "edges": [
                {"from": "fetch", "to": "ok"},
                {"from": "ok", "to": "sum", "branch": "true"},
                {"from": "ok", "to": "oops", "branch": "false"}
            ]}),
            json!({"url": format!("{base}/ok")}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(node(&report, "fetch").output.as_ref().unwrap()["body"]["title"], "Hello");
    assert_eq!(node(&report, "ok").output, Some(json!({"result": true})));
    let sum = node(&report, "sum").output.clone().unwrap();
    assert_eq!((sum["text"].as_str(), sum["cached"].as_bool()), (Some("echo: Summarize: Hello"), Some(false)));
    assert_eq!(sum["usage"]["total_tokens"], 5);
    assert_eq!(node(&report, "oops").status, NodeStatus::Skipped);

    // What was reported is what was stored.
    let stored = h.store.node_runs(Scope::Everyone, report.id).await.unwrap();
    assert_eq!(stored.len(), 4);
    for run in stored {
        assert_eq!(run.status, node(&report, &run.node_id).status, "{}", run.node_id);
        assert_eq!(run.output, node(&report, &run.node_id).output, "{}", run.node_id);
    }
    let execution = h.store.execution(Scope::Everyone, report.id).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert!(execution.finished_at.is_some());
}

#[tokio::test]
async fn independent_nodes_run_at_the_same_time() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "fan out", "nodes": [
                {"id": "a", "type": "delay", "config": {"ms": 300}},
                {"id": "b", "type": "delay", "config": {"ms": 300}},
                {"id": "c", "type": "delay", "config": {"ms": 300}},
                {"id": "all", "type": "merge"}
            ], "edges": [{"from": "a", "to": "all"}, {"from": "b", "to": "all"}, {"from": "c", "to": "all"}]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    // Every branch started before any finished: their spans overlap.
    let starts: Vec<&str> = ["a", "b", "c"].iter().map(|id| node(&report, id).started_at.as_deref().unwrap()).collect();
    let ends: Vec<&str> = ["a", "b", "c"].iter().map(|id| node(&report, id).finished_at.as_deref().unwrap()).collect();
    assert!(starts.iter().max() < ends.iter().min(), "starts {starts:?} ends {ends:?}");
    let merged = node(&report, "all").output.clone().unwrap();
    assert_eq!(merged.as_object().unwrap().len(), 3);
}

#[tokio::test]
async fn the_per_execution_bound_is_respected() {
    let h = harness(|s| s.max_parallel_nodes = 1).await;
    let report = h
        .run(
            json!({"name": "serial", "nodes": [
                {"id": "a", "type": "delay", "config": {"ms": 50}},
                {"id": "b", "type": "delay", "config": {"ms": 50}}
            ]}),
            json!({}),
        )
        .await;
    let (a, b) = (node(&report, "a"), node(&report, "b"));
    let (first, second) = if a.started_at < b.started_at { (a, b) } else { (b, a) };
    assert!(first.finished_at.as_deref().unwrap() <= second.started_at.as_deref().unwrap(), "{report:?}");
}

#[tokio::test]
async fn a_node_that_times_out_fails_the_run_and_cancels_the_rest() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "too slow", "nodes": [
                {"id": "slow", "type": "delay", "config": {"ms": 5000}, "timeout_ms": 50},
                {"id": "next", "type": "template", "config": {"template": "never"}}
            ], "edges": [{"from": "slow", "to": "next"}]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("node `slow` failed: timed out after 50 ms"));
    assert_eq!(node(&report, "slow").error.as_deref(), Some("timed out after 50 ms"));
    assert_eq!(node(&report, "next").status, NodeStatus::Cancelled);
}

#[tokio::test]
async fn a_failing_node_under_fail_cancels_running_siblings() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "boom", "nodes": [
                {"id": "boom", "type": "code", "config": {"source": "throw new Error('kaboom')"}},
                {"id": "sleeper", "type": "delay", "config": {"ms": 5000}}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert!(node(&report, "boom").error.as_deref().unwrap().contains("kaboom"));
    assert_eq!(node(&report, "sleeper").status, NodeStatus::Cancelled);
}

#[tokio::test]
async fn retries_run_until_an_attempt_succeeds() {
    let h = harness(|_| {}).await;
    let (base, calls) = upstream().await;
    let report = h
        .run(
            json!({"name": "sluggish", "nodes": [
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": format!("{base}/sluggish")},
                 "timeout_ms": 200, "retry": {"max_attempts": 3, "backoff_ms": 10}}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(node(&report, "fetch").attempts, 3);
    assert_eq!(node(&report, "fetch").output.as_ref().unwrap()["body"], "awake");

    let report = h
        .run(
            json!({"name": "flaky", "nodes": [
                {"id": "call", "type": "code", "config": {"source": "return 1"}},
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": format!("{base}/flaky")},
                 "retry": {"max_attempts": 3, "backoff_ms": 10}},
                {"id": "check", "type": "condition", "config": {"expr": "nodes.fetch.status == 200"}}
            ], "edges": [{"from": "call", "to": "fetch"}, {"from": "fetch", "to": "check"}]}),
            json!({}),
        )
        .await;
    // An HTTP 503 is an answer, not a failure; the condition sees it.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(node(&report, "check").output, Some(json!({"result": false})));

    let report = h
        .run(
            json!({"name": "flaky code", "nodes": [
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": format!("{base}/flaky")}},
                {"id": "insist", "type": "code", "config": {"source": "if (nodes.fetch.status != 200) throw new Error('not yet'); return nodes.fetch.body"},
                 "retry": {"max_attempts": 3, "backoff_ms": 5}}
            ], "edges": [{"from": "fetch", "to": "insist"}]}),
            json!({}),
        )
        .await;
    // The code node's input does not change between attempts, so it fails all three.
    assert_eq!(node(&report, "insist").attempts, 3);
    assert_eq!(node(&report, "insist").status, NodeStatus::Failed);
}

#[tokio::test]
async fn a_failure_under_continue_reaches_downstream_as_an_error() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "soldier on", "nodes": [
                {"id": "bad", "type": "code", "config": {"source": "throw new Error('nope')"}, "on_error": "continue"},
                {"id": "report", "type": "template", "config": {"template": "error was: {{ nodes.bad.error }}"}}
            ], "edges": [{"from": "bad", "to": "report"}]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert_eq!(node(&report, "bad").status, NodeStatus::Failed);
    let text = node(&report, "report").output.as_ref().unwrap()["text"].as_str().unwrap().to_string();
    assert!(text.starts_with("error was: script error") && text.contains("nope"), "{text}");
}

#[tokio::test]
async fn a_run_can_be_cancelled_mid_run() {
    let h = harness(|_| {}).await;
    let version = h
        .version(json!({"name": "long", "nodes": [
            {"id": "wait", "type": "delay", "config": {"ms": 10000}},
            {"id": "after", "type": "template", "config": {"template": "x"}}
        ], "edges": [{"from": "wait", "to": "after"}]}))
        .await;
    let mut handle = h.engine.start(&version, h.owner.id, Trigger::Api, json!({})).await.unwrap();
    // Wait until the delay is running, then cancel.
    loop {
        if let RunEvent::Node { node, status: NodeStatus::Running, .. } = handle.events.recv().await.unwrap() {
            assert_eq!(node, "wait");
            break;
        }
    }
    assert!(h.engine.cancel(handle.execution.id));
    let report = handle.done.await.unwrap().unwrap();
    assert_eq!(report.status, ExecutionStatus::Cancelled);
    assert_eq!(node(&report, "wait").status, NodeStatus::Cancelled);
    assert_eq!(node(&report, "after").status, NodeStatus::Cancelled);
    let stored = h.store.execution(Scope::Everyone, report.id).await.unwrap();
    assert_eq!(stored.status, ExecutionStatus::Cancelled);
    assert!(!h.engine.cancel(report.id), "a finished run cannot be cancelled");
}

/// What happens to a run in a process that stalled past its lease: another
/// process took the execution over, so this one must stop and write nothing
/// more over the states the other process now writes.
#[tokio::test]
async fn a_run_taken_over_by_another_process_stops_at_its_next_write() {
    let h = harness(|_| {}).await;
    let version = h
        .version(json!({"name": "stolen", "nodes": [
            {"id": "short", "type": "delay", "config": {"ms": 300}},
            {"id": "long", "type": "delay", "config": {"ms": 10000}},
            {"id": "after", "type": "template", "config": {"template": "x"}}
        ], "edges": [{"from": "short", "to": "long"}, {"from": "long", "to": "after"}]}))
        .await;
    let handle = h.engine.start(&version, h.owner.id, Trigger::Api, json!({})).await.unwrap();
    let id = handle.execution.id;
    let stored_statuses = || async {
        let runs = h.store.node_runs_of(&[id]).await.unwrap();
        let mut statuses: Vec<(String, NodeStatus)> = runs.into_iter().map(|r| (r.node_id, r.status)).collect();
        statuses.sort_by(|a, b| a.0.cmp(&b.0));
        statuses
    };
    // Once `short` is stored as running, the execution's lease is taken (a
    // claim that sees it expired, as another process would).
    while !stored_statuses().await.contains(&("short".into(), NodeStatus::Running)) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let heir = app::ports::Lease { owner: "heir".into(), expires_at: i64::MAX / 4 };
    let claimed = h.store.claim_executions(&heir, i64::MAX / 8, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
    let at_takeover = stored_statuses().await;

    // `short` ends and `long` starts: the flush of those states is refused and
    // the run stops there, long before `long` would end.
    let error = tokio::time::timeout(Duration::from_secs(5), handle.done)
        .await
        .expect("the run stops at its first write after the takeover")
        .unwrap()
        .unwrap_err();
    assert!(matches!(error, app::error::AppError::Conflict(_)), "{error:?}");
    assert_eq!(stored_statuses().await, at_takeover, "nothing was written over the heir's states");
    let execution = h.store.execution(Scope::Everyone, id).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Running, "the heir finishes it");
}

fn llm_workflow(prompt: &str, cache: bool) -> Value {
    json!({"name": format!("ask {prompt} {cache}"), "nodes": [
        {"id": "ask", "type": "llm", "config": {"model": "m", "prompt": prompt, "temperature": 0.2, "cache": cache}}
    ]})
}

#[tokio::test]
async fn llm_answers_stream_tokens_as_events() {
    let h = harness(|_| {}).await;
    let version = h.version(llm_workflow("stream me", true)).await;
    let mut handle = h.engine.start(&version, h.owner.id, Trigger::Manual, json!({})).await.unwrap();
    let mut tokens = Vec::new();
    loop {
        match handle.events.recv().await {
            Ok(RunEvent::Token { text, .. }) => tokens.push(text),
            Ok(RunEvent::Finished { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert_eq!(tokens.concat(), "echo: stream me");
    assert_eq!(tokens.len(), 2);
    let report = handle.done.await.unwrap().unwrap();
    assert_eq!(node(&report, "ask").output.as_ref().unwrap()["model"], "fake-1");
}

#[tokio::test]
async fn a_listener_joining_mid_answer_gets_the_text_so_far_then_the_rest() {
    let h = harness(|_| {}).await;
    let version = h.version(llm_workflow("PAUSE half way", false)).await;
    let mut handle = h.engine.start(&version, h.owner.id, Trigger::Manual, json!({})).await.unwrap();
    loop {
        match handle.events.recv().await.unwrap() {
            RunEvent::Token { .. } => break,
            RunEvent::Finished { .. } => panic!("the run ended before its first token"),
            _ => {}
        }
    }
    // The upstream now pauses 300 ms after the first half of its answer.
    let (so_far, mut live) = h.engine.subscribe(handle.execution.id).expect("the run is here");
    // The run as it is: the node running, then its text so far.
    assert!(
        matches!(&so_far[..], [RunEvent::Node { status: NodeStatus::Running, .. }, RunEvent::Streamed { .. }]),
        "{so_far:?}"
    );
    assert_eq!(so_far[1], RunEvent::Streamed { node: "ask".into(), text: "echo: PAUS".into() });
    let mut rest = String::new();
    loop {
        match live.recv().await.unwrap() {
            RunEvent::Token { text, .. } => rest.push_str(&text),
            RunEvent::Finished { .. } => break,
            _ => {}
        }
    }
    assert_eq!(rest, "E half way", "every token once: the text so far, then live");
    handle.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_plain_json_answer_is_accepted_too() {
    let h = harness(|_| {}).await;
    let report = h.run(llm_workflow("PLAIN please", false), json!({})).await;
    let output = node(&report, "ask").output.clone().unwrap();
    assert_eq!((output["text"].as_str(), output["model"].as_str()), (Some("echo: PLAIN please"), Some("fake-1")));
    assert_eq!(output["usage"]["total_tokens"], 5);
}

#[tokio::test]
async fn a_second_identical_run_is_answered_from_the_cache() {
    let h = harness(|_| {}).await;
    let first = h.run(llm_workflow("same question", true), json!({})).await;
    let second = h.run(llm_workflow("same question", true), json!({})).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1, "the second run made no upstream request");
    assert_eq!(node(&first, "ask").output.as_ref().unwrap()["cached"], false);
    assert_eq!(node(&second, "ask").output.as_ref().unwrap()["cached"], true);
    assert_eq!(node(&second, "ask").output.as_ref().unwrap()["text"], "echo: same question");
    assert_eq!(h.engine.services().llm.cache_stats(), (1, 1));

    // `cache: false` always asks.
    h.run(llm_workflow("same question", false), json!({})).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn ten_identical_concurrent_requests_make_one_upstream_call() {
    let h = harness(|_| {}).await;
    let version = h.version(llm_workflow("everyone asks this", true)).await;
    let runs = (0..10).map(|_| {
        let engine = h.engine.clone();
        let version = version.clone();
        let owner = h.owner.id;
        tokio::spawn(async move { engine.run(&version, owner, Trigger::Api, json!({})).await.unwrap() })
    });
    let reports = futures::future::join_all(runs).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1);
    for report in reports {
        let report = report.unwrap();
        assert_eq!(node(&report, "ask").output.as_ref().unwrap()["text"], "echo: everyone asks this");
    }
}

#[tokio::test]
async fn llm_upstream_errors_and_timeouts_fail_the_node_clearly() {
    let h = harness(|_| {}).await;
    let failed = h.run(llm_workflow("please FAIL", true), json!({})).await;
    let error = node(&failed, "ask").error.clone().unwrap();
    assert!(error.starts_with("the LLM provider answered 500: upstream exploded"), "{error}");
    let slow = h.run(llm_workflow("be SLOW", true), json!({})).await;
    assert_eq!(node(&slow, "ask").error.as_deref(), Some("the LLM provider timed out"));
    // Errors are not cached: the next identical request asks again.
    h.run(llm_workflow("please FAIL", true), json!({})).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn http_nodes_refuse_loopback_unless_allowed_and_cap_bodies() {
    let strict = harness(|s| s.http.allow_loopback = false).await;
    let (base, _) = upstream().await;
    let refused = strict
        .run(json!({"name": "sneaky", "nodes": [{"id": "get", "type": "http", "config": {"method": "GET", "url": format!("{base}/ok")}}]}), json!({}))
        .await;
    let error = node(&refused, "get").error.clone().unwrap();
    assert!(error.contains("refusing to connect to 127.0.0.1"), "{error}");
    let by_name = strict
        .run(json!({"name": "sneaky name", "nodes": [{"id": "get", "type": "http", "config": {"method": "GET", "url": base.replace("127.0.0.1", "localhost") + "/ok"}}]}), json!({}))
        .await;
    let error = node(&by_name, "get").error.clone().unwrap();
    assert!(error.contains("refusing to connect to localhost"), "{error}");

    let allowed = harness(|_| {}).await;
    let big = allowed
        .run(json!({"name": "big", "nodes": [{"id": "get", "type": "http", "config": {"method": "GET", "url": format!("{base}/big")}}]}), json!({}))
        .await;
    assert_eq!(node(&big, "get").error.as_deref(), Some("the response body is larger than the 16384-byte limit"));
}

#[tokio::test]
async fn a_definition_that_became_invalid_is_refused_at_run_time() {
    let h = harness(|_| {}).await;
    let mut version = h.version(llm_workflow("x", true)).await;
    version.definition.edges.push(serde_json::from_value(json!({"from": "ask", "to": "ask"})).unwrap());
    let error = h.engine.run(&version, h.owner.id, Trigger::Api, json!({})).await.unwrap_err();
    assert!(matches!(error, app::error::AppError::Invalid(_)), "{error:?}");
}
