//! The engine end to end: real nodes, a real store (SQLite), and local fake
//! upstreams (an OpenAI-compatible LLM server and a plain HTTP server).

#[path = "../support/mod.rs"]
mod support;

mod agent;
mod calls;
mod control;
mod for_each;
mod n8n;
mod nodes;
mod providers;
mod runs;
mod structured;
mod usage;
mod waits;

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
use weft::engine::{Engine, EngineSettings, StartRequest};
use weft::secrets::SecretBox;

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
    let answer = match body.get("response_format") {
        Some(format) => {
            // Steered by the first question: a retry's last turn says what was wrong.
            let turns = body["messages"].as_array().cloned().unwrap_or_default();
            let asked = turns.iter().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or("");
            structured_answer(asked, format, turns.len())
        }
        None => format!("echo: {prompt}"),
    };
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

/// An answer for a request that asks for JSON following a schema. `PERSON`
/// answers one (fenced in Markdown, as models do); `SLOPPY` chats first and
/// answers properly when told what was wrong; `STUBBORN` never follows it.
fn structured_answer(prompt: &str, format: &Value, turns: usize) -> String {
    if format["type"] != "json_schema" || !format["json_schema"]["schema"].is_object() {
        return "no schema was sent".into();
    }
    let person = r#"{"name": "Ada", "age": 36}"#;
    if prompt.contains("PERSON") {
        format!("```json\n{person}\n```")
    } else if prompt.contains("SLOPPY") && turns < 3 {
        format!("Sure! Here it is: {person}")
    } else if prompt.contains("STUBBORN") {
        r#"{"name": 5}"#.into()
    } else {
        person.into()
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A plain upstream: `/flaky` answers 503 twice then 200; `/sluggish` hangs
/// twice then answers at once; `/slow` answers after 1.5 s; `/big` sends 64 KiB.
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
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                "slow"
            }),
        )
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
    /// Kept for the harness's life when the harness made it.
    _db: Option<TestDb>,
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    owner: User,
    llm: FakeLlm,
    /// What seals the credentials the engine opens.
    secrets: Arc<SecretBox>,
}

async fn harness(adjust: impl FnOnce(&mut EngineSettings)) -> Harness {
    let db = TestDb::sqlite();
    let store = db.store().await;
    Harness { _db: Some(db), ..harness_over(store, adjust).await }
}

/// A harness over a database the caller keeps (a test run on both backends).
async fn harness_on(db: &TestDb, adjust: impl FnOnce(&mut EngineSettings)) -> Harness {
    harness_over(db.store().await, adjust).await
}

async fn harness_over(store: Arc<dyn Store>, adjust: impl FnOnce(&mut EngineSettings)) -> Harness {
    let owner = store.create_user("runner@example.com", None, false).await.unwrap();
    let llm = FakeLlm::default();
    let llm_url = serve(Router::new().route("/v1/chat/completions", post(chat)).with_state(llm.clone())).await;
    let mut settings = EngineSettings::default();
    settings.llm.base_url = format!("{llm_url}/v1");
    settings.llm.timeout = Duration::from_millis(1_000);
    settings.http.allow_loopback = true;
    settings.http.max_body_bytes = 16 * 1024;
    adjust(&mut settings);
    let secrets = Arc::new(SecretBox::ephemeral());
    let engine = Engine::new(store.clone(), settings, weft::bus::Bus::local(), secrets.clone()).unwrap();
    Harness { _db: None, store, engine, owner, llm, secrets }
}

impl Harness {
    /// Stores a credential of the owner's, sealed as the credentials page would.
    async fn credential(&self, name: &str, kind: &str, data: Value) {
        let value = CredentialValue::from_parts(kind, data).unwrap();
        let sealed = self.secrets.seal(&serde_json::to_string(&value).unwrap()).unwrap();
        self.store.create_credential(Ownership::User(self.owner.id), self.owner.id, name, kind, &sealed).await.unwrap();
    }

    async fn version(&self, definition: Value) -> WorkflowVersion {
        let definition: WorkflowDefinition = serde_json::from_value(definition).unwrap();
        let created = self.store.create_workflow(self.owner.id, &definition).await.unwrap();
        self.store.workflow_version(Scope::Everyone, created.id, 1).await.unwrap()
    }

    async fn run(&self, definition: Value, input: Value) -> ExecutionReport {
        let version = self.version(definition).await;
        self.engine.run(StartRequest::new(&version, self.owner.id, Trigger::Manual, input)).await.unwrap()
    }
}

fn node<'a>(report: &'a ExecutionReport, id: &str) -> &'a NodeReport {
    report.nodes.get(id).unwrap_or_else(|| panic!("no node {id} in {report:?}"))
}

/// One LLM node asking `prompt`.
fn llm_workflow(prompt: &str, cache: bool) -> Value {
    json!({"name": format!("ask {prompt} {cache}"), "nodes": [
        {"id": "ask", "type": "llm", "config": {"model": "m", "prompt": prompt, "temperature": 0.2, "cache": cache}}
    ]})
}
