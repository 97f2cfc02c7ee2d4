//! Named LLM providers (`llm` credentials), on both backends: Anthropic's
//! Messages API spoken natively (streamed and not, with a schema), rate limits
//! asked again after `Retry-After`, fallbacks in order when a provider is
//! down or keeps failing, the answering provider in the output and in the
//! cache key, keys masked in errors, and user-written base URLs kept out of
//! the network's inside like an `http` node's.

use std::sync::Mutex;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};

use super::*;

on_both_backends!(
    an_anthropic_provider_is_asked_in_its_own_shape_streamed_or_not,
    a_rate_limited_provider_is_asked_again_after_its_retry_after,
    a_failing_provider_falls_back_in_order_and_the_output_says_who_answered,
    the_cache_keeps_the_answers_of_different_providers_apart,
    a_named_provider_cannot_reach_inside_the_network,
    a_providers_key_never_shows_in_an_error,
    what_a_provider_claims_and_sends_is_bounded,
    a_slow_named_provider_holds_up_only_its_own_calls,
);

/// How a fake provider behaves.
#[derive(Clone, Copy)]
enum Mode {
    /// Anthropic's Messages API: typed events, or one JSON answer when the
    /// prompt says `PLAIN`; `PERSON` answers a person as JSON.
    Anthropic,
    /// OpenAI-compatible, answering 429 with `Retry-After: <secs>` to the
    /// first `times` requests, then answering.
    RateLimited { times: usize, secs: u64 },
    /// Always 503, naming no wait.
    Busy,
    /// 401 quoting the key it was sent.
    QuotesTheKey,
    /// OpenAI-compatible, claiming absurd usage and a huge model name; or
    /// with `FLOOD` in the prompt, streaming 11 MiB without end.
    Greedy,
    /// Answers after this many milliseconds.
    Slow(u64),
}

#[derive(Clone)]
struct FakeProvider {
    mode: Mode,
    requests: Arc<AtomicUsize>,
    /// Every request's headers and body.
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl FakeProvider {
    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn last(&self) -> (HeaderMap, Value) {
        self.seen.lock().unwrap().last().cloned().expect("a request")
    }
}

/// Serves a fake provider at `<url>/v1`.
async fn fake_provider(mode: Mode) -> (String, FakeProvider) {
    let fake = FakeProvider { mode, requests: Arc::default(), seen: Arc::default() };
    let router = Router::new()
        .route("/v1/messages", post(answer))
        .route("/v1/chat/completions", post(answer))
        .with_state(fake.clone());
    (format!("{}/v1", serve(router).await), fake)
}

async fn answer(State(fake): State<FakeProvider>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let count = fake.requests.fetch_add(1, Ordering::SeqCst);
    fake.seen.lock().unwrap().push((headers.clone(), body.clone()));
    let prompt = body["messages"][0]["content"].as_str().unwrap_or_default().to_string();
    match fake.mode {
        Mode::Anthropic if prompt.contains("OVERLOADED") && count == 0 => {
            let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
            let stream = format!("event: ping\ndata: {{\"type\": \"ping\"}}\n\nevent: error\ndata: {error}\n\n");
            ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], stream).into_response()
        }
        Mode::Anthropic => anthropic_answer(&body, &prompt),
        // Tool-call arguments without end, in one call; or 100 calls, one chunk each.
        Mode::Greedy if prompt.contains("ARGS") || prompt.contains("CALLS") => {
            let many = prompt.contains("CALLS");
            let chunk = move |i: usize| {
                let (index, arguments) = if many { (i, "{}".to_string()) } else { (0, "x".repeat(64 * 1024)) };
                let call =
                    json!({"index": index, "id": format!("c{i}"), "function": {"name": "t", "arguments": arguments}});
                Ok::<_, std::convert::Infallible>(format!(
                    "data: {}\n",
                    json!({"choices": [{"delta": {"tool_calls": [call]}}]})
                ))
            };
            let body = futures::stream::iter((0..180).map(chunk));
            ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], axum::body::Body::from_stream(body))
                .into_response()
        }
        Mode::Greedy if prompt.contains("FLOOD") => {
            let chunk = format!("data: {}\n", json!({"choices": [{"delta": {"content": "x".repeat(64 * 1024)}}]}));
            let body = futures::stream::iter((0..180).map(move |_| Ok::<_, std::convert::Infallible>(chunk.clone())));
            ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], axum::body::Body::from_stream(body))
                .into_response()
        }
        Mode::Greedy => Json(json!({"model": "m".repeat(1 << 20), "choices": [{"message": {"content": "ok"}}],
            "usage": {"prompt_tokens": 1_i64 << 62, "completion_tokens": 1_i64 << 62}}))
        .into_response(),
        Mode::RateLimited { times, secs } if count < times => {
            (StatusCode::TOO_MANY_REQUESTS, [("retry-after", secs.to_string())], "rate limited").into_response()
        }
        Mode::RateLimited { .. } => Json(json!({"model": "limited-1",
            "choices": [{"message": {"content": format!("finally: {prompt}")}}],
            "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}}))
        .into_response(),
        Mode::Busy => (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response(),
        Mode::Slow(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Json(json!({"choices": [{"message": {"content": "late"}}]})).into_response()
        }
        Mode::QuotesTheKey => {
            let key = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            (StatusCode::UNAUTHORIZED, format!("invalid key: {key}")).into_response()
        }
    }
}

fn anthropic_answer(body: &Value, prompt: &str) -> Response {
    let text = if prompt.contains("PERSON") {
        let asked = body["system"].as_str().unwrap_or_default();
        if asked.contains("JSON Schema") {
            r#"{"name": "Ada", "age": 36}"#.to_string()
        } else {
            "no schema".into()
        }
    } else {
        format!("claude says: {prompt}")
    };
    if body["stream"] != json!(true) || prompt.contains("PLAIN") {
        return Json(json!({"type": "message", "model": "claude-test-1", "role": "assistant",
            "content": [{"type": "text", "text": text}], "usage": {"input_tokens": 9, "output_tokens": 4}}))
        .into_response();
    }
    let (first, second) = text.split_at(text.len() / 2);
    let events = [
        (
            "message_start",
            json!({"type": "message_start", "message": {"model": "claude-test-1",
            "usage": {"input_tokens": 9, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": first}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": second}}),
        ),
        ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 4}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ];
    let stream: String = events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect();
    ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], stream).into_response()
}

/// A base URL nothing listens at.
async fn nothing_listening() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

fn ask(config: Value) -> Value {
    json!({"name": format!("ask {config}"), "nodes": [{"id": "ask", "type": "llm", "config": config}]})
}

fn output(report: &ExecutionReport) -> Value {
    node(report, "ask").output.clone().unwrap_or_else(|| panic!("no output: {:?}", node(report, "ask").error))
}

fn failure(report: &ExecutionReport) -> String {
    node(report, "ask").error.clone().unwrap_or_else(|| panic!("no error: {:?}", node(report, "ask").output))
}

async fn an_anthropic_provider_is_asked_in_its_own_shape_streamed_or_not(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let (url, claude) = fake_provider(Mode::Anthropic).await;
    let data =
        json!({"api": "anthropic", "base_url": url, "api_key": "sk-ant-test-123", "default_model": "claude-test"});
    h.credential("claude", "llm", data).await;

    let version =
        h.version(ask(json!({"provider": "claude", "system": "Be brief.", "prompt": "Hello", "cache": false}))).await;
    let mut handle = h.engine.start(StartRequest::new(&version, h.owner.id, Trigger::Manual, json!({}))).await.unwrap();
    let mut tokens = Vec::new();
    loop {
        match handle.events.recv().await {
            Ok(RunEvent::Token { text, .. }) => tokens.push(text),
            Ok(RunEvent::Finished { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let report = handle.done.await.unwrap().unwrap();
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    let answer = output(&report);
    assert_eq!(answer["text"], "claude says: Hello");
    assert_eq!(answer["model"], "claude-test-1");
    assert_eq!(answer["provider"], "claude");
    assert_eq!(answer["usage"], json!({"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}));
    let (headers, body) = claude.last();
    assert_eq!(headers["x-api-key"], "sk-ant-test-123");
    assert!(headers.get("authorization").is_none(), "Anthropic's key goes in x-api-key only");
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert_eq!(body["model"], "claude-test", "the credential's default model");
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["messages"], json!([{"role": "user", "content": "Hello"}]));
    assert_eq!(body["max_tokens"], 4096);
    assert_eq!(body["stream"], true);
    // The tokens streamed live, as from any provider.
    assert_eq!(tokens.concat(), "claude says: Hello");
    assert!(tokens.len() >= 2, "{tokens:?}");

    let plain =
        h.run(ask(json!({"provider": "claude", "model": "claude-other", "prompt": "PLAIN hi"})), json!({})).await;
    assert_eq!(output(&plain)["text"], "claude says: PLAIN hi");
    assert_eq!(output(&plain)["usage"]["total_tokens"], 13);
    assert_eq!(claude.last().1["model"], "claude-other", "the node's model wins over the default");

    let schema = json!({"type": "object", "required": ["name", "age"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}});
    let shaped =
        h.run(ask(json!({"provider": "claude", "prompt": "PERSON: Ada, 36", "schema": schema})), json!({})).await;
    assert_eq!(output(&shaped), json!({"name": "Ada", "age": 36}));
    assert!(claude.last().1.get("response_format").is_none(), "the Messages API has no such field");
}

async fn a_rate_limited_provider_is_asked_again_after_its_retry_after(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let (url, limited) = fake_provider(Mode::RateLimited { times: 1, secs: 1 }).await;
    h.credential("limited", "llm", json!({"api": "openai", "base_url": url, "default_model": "m"})).await;
    let started = Instant::now();
    let report = h.run(ask(json!({"provider": "limited", "prompt": "hi", "cache": false})), json!({})).await;
    assert_eq!(output(&report)["text"], "finally: hi");
    assert_eq!(output(&report)["provider"], "limited");
    assert_eq!(limited.requests(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited the second it asked for: {:?}", started.elapsed());

    // A wait longer than Weft waits is not waited for: with nowhere else to go, the node fails saying so.
    let (url, patient) = fake_provider(Mode::RateLimited { times: 100, secs: 120 }).await;
    h.credential("patient", "llm", json!({"api": "openai", "base_url": url, "default_model": "m"})).await;
    let started = Instant::now();
    let report = h.run(ask(json!({"provider": "patient", "prompt": "hi"})), json!({})).await;
    assert_eq!(
        failure(&report),
        "the LLM provider `patient` answered 429: rate limited (it asked to wait 120 s, more than the 10 s Weft waits)"
    );
    assert_eq!(patient.requests(), 1);
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
}

async fn a_failing_provider_falls_back_in_order_and_the_output_says_who_answered(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    h.credential("down", "llm", json!({"api": "openai", "base_url": nothing_listening().await, "default_model": "m"}))
        .await;
    let (url, busy) = fake_provider(Mode::Busy).await;
    h.credential("busy", "llm", json!({"api": "anthropic", "base_url": url, "api_key": "sk-ant-busy-1"})).await;
    let fallbacks = json!([{"provider": "busy", "model": "claude-test"}, {"model": "m"}]);
    let report = h
        .run(ask(json!({"provider": "down", "prompt": "hi", "cache": false, "fallbacks": fallbacks})), json!({}))
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    // The instance's provider (the harness's fake) answered, after `busy` was asked three times.
    assert_eq!(output(&report)["provider"], "default");
    assert_eq!(output(&report)["text"], "echo: hi");
    assert_eq!(busy.requests(), 3);
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1);

    // When every provider fails, the error says what each did, in order.
    let report = h
        .run(
            ask(json!({"provider": "down", "prompt": "hi", "fallbacks": [{"provider": "busy", "model": "x"}]})),
            json!({}),
        )
        .await;
    let error = failure(&report);
    assert!(error.starts_with("the LLM provider `down` could not be reached: "), "{error}");
    assert!(error.ends_with("; then the LLM provider `busy` answered 503: overloaded (asked 3 times)"), "{error}");

    // A fallback that cannot be used is one more failure, not the node's end.
    let fallbacks = json!([{"provider": "nobody"}, {"model": "m"}]);
    let report = h
        .run(ask(json!({"provider": "down", "prompt": "hi", "cache": false, "fallbacks": fallbacks})), json!({}))
        .await;
    assert_eq!(output(&report)["provider"], "default");

    // A credential of another kind is not a provider.
    h.credential("github", "bearer", json!({"token": "ghp_canary123"})).await;
    let report = h.run(ask(json!({"provider": "github", "prompt": "hi"})), json!({})).await;
    assert!(failure(&report).contains("credential `github` is a bearer credential, not an LLM provider"));
    let report = h.run(ask(json!({"provider": "nobody", "prompt": "hi"})), json!({})).await;
    assert!(failure(&report).starts_with("the LLM provider `nobody`: credential `nobody` does not exist"));
}

async fn the_cache_keeps_the_answers_of_different_providers_apart(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let (url, claude) = fake_provider(Mode::Anthropic).await;
    h.credential("claude", "llm", json!({"api": "anthropic", "base_url": url, "default_model": "c"})).await;
    let by_claude = h.run(ask(json!({"provider": "claude", "model": "m", "prompt": "same"})), json!({})).await;
    let by_default = h.run(ask(json!({"model": "m", "prompt": "same"})), json!({})).await;
    assert_eq!(output(&by_claude)["text"], "claude says: same");
    assert_eq!(output(&by_default)["text"], "echo: same");
    assert_eq!(output(&by_default)["cached"], false);
    let again = h.run(ask(json!({"provider": "claude", "model": "m", "prompt": "same"})), json!({})).await;
    assert_eq!((output(&again)["cached"].clone(), output(&again)["provider"].clone()), (json!(true), json!("claude")));
    assert_eq!(claude.requests(), 1);
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1);

    // A fallback never reached is not recorded as used; the provider asked is.
    h.credential(
        "spare",
        "llm",
        json!({"api": "openai", "base_url": "https://spare.example/v1", "default_model": "m"}),
    )
    .await;
    let config = json!({"provider": "claude", "prompt": "other", "fallbacks": [{"provider": "spare"}]});
    assert_eq!(output(&h.run(ask(config), json!({})).await)["provider"], "claude");
    let last_used = |name: &'static str| {
        let store = h.store.clone();
        let owner = h.owner.id;
        async move {
            let listed = store.list_credentials(owner).await.unwrap();
            listed.into_iter().find(|c| c.name == name).unwrap().last_used_at
        }
    };
    for _ in 0..100 {
        if last_used("claude").await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(last_used("claude").await.is_some());
    assert_eq!(last_used("spare").await, None);
}

async fn a_named_provider_cannot_reach_inside_the_network(db: &TestDb) {
    // The instance's provider is an admin's setting and stays reachable on
    // loopback; a user's provider is as user-written as an http node's URL.
    let h = harness_on(db, |settings| settings.http.allow_loopback = false).await;
    let (url, inside) = fake_provider(Mode::Anthropic).await;
    h.credential("inside", "llm", json!({"api": "anthropic", "base_url": url, "default_model": "c"})).await;
    let port = url.rsplit(':').next().unwrap().trim_end_matches("/v1").to_string();
    let by_name = format!("http://localhost:{port}/v1");
    h.credential("by-name", "llm", json!({"api": "openai", "base_url": by_name, "default_model": "c"})).await;
    let metadata = "http://169.254.169.254/latest";
    h.credential("metadata", "llm", json!({"api": "openai", "base_url": metadata, "default_model": "c"})).await;
    for name in ["inside", "by-name", "metadata"] {
        let report = h.run(ask(json!({"provider": name, "prompt": "hi", "cache": false})), json!({})).await;
        let error = failure(&report);
        assert!(error.starts_with(&format!("the LLM provider `{name}`")), "{error}");
        assert!(error.contains("loopback") || error.contains("non-public"), "{name}: {error}");
    }
    assert_eq!(inside.requests(), 0);
    let fine = h.run(ask(json!({"model": "m", "prompt": "hi", "cache": false})), json!({})).await;
    assert_eq!(output(&fine)["provider"], "default");
}

async fn a_providers_key_never_shows_in_an_error(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let (url, _) = fake_provider(Mode::QuotesTheKey).await;
    h.credential("leaky", "llm", json!({"api": "openai", "base_url": url, "api_key": "sk-live-canary-42"})).await;
    let report = h.run(ask(json!({"provider": "leaky", "model": "m", "prompt": "hi"})), json!({})).await;
    let error = failure(&report);
    assert_eq!(error, "the LLM provider `leaky` answered 401: invalid key: Bearer ********");
    let stored = format!("{:?}", h.store.node_runs(Scope::Everyone, report.id).await.unwrap());
    assert!(stored.contains("********") && !stored.contains("canary"), "{stored}");
}

async fn what_a_provider_claims_and_sends_is_bounded(db: &TestDb) {
    // Time to stream 11 MiB on a busy debug build: the byte limit, not the clock, must end the flood.
    let h = harness_on(db, |s| s.llm.timeout = std::time::Duration::from_secs(60)).await;
    let (url, _) = fake_provider(Mode::Greedy).await;
    h.credential("greedy", "llm", json!({"api": "openai", "base_url": url, "default_model": "m"})).await;
    h.engine.services().llm.usage().set_policy(UsagePolicy { daily_tokens_per_user: Some(1000), ..Default::default() });
    let report = h.run(ask(json!({"provider": "greedy", "prompt": "hi", "cache": false})), json!({})).await;
    assert_eq!(output(&report)["model"].as_str().map(str::len), Some(200), "a model name is cut to 200 bytes");
    let spent = h.store.llm_usage(UsageOf::Execution(report.id), 0).await.unwrap();
    assert_eq!((spent.prompt_tokens, spent.completion_tokens), (1_000_000_000, 1_000_000_000), "clamped per call");
    // The claim did not wrap the day's total around: the budget holds.
    let refused = h.run(ask(json!({"model": "m", "prompt": "hi", "cache": false})), json!({})).await;
    assert!(failure(&refused).starts_with("the daily LLM budget is spent: 2,000,000,000 of 1,000 tokens"));
    h.engine.services().llm.usage().set_policy(UsagePolicy::default());
    let flood = h.run(ask(json!({"provider": "greedy", "prompt": "FLOOD", "cache": false})), json!({})).await;
    assert_eq!(failure(&flood), "the LLM provider `greedy` answered more than the 10485760-byte limit");
    // Tool calls count too, though an llm node offers no tools: by their bytes, and by their number.
    let args = h.run(ask(json!({"provider": "greedy", "prompt": "ARGS", "cache": false})), json!({})).await;
    assert_eq!(failure(&args), "the LLM provider `greedy` answered more than the 10485760-byte limit");
    let calls = h.run(ask(json!({"provider": "greedy", "prompt": "CALLS", "cache": false})), json!({})).await;
    assert_eq!(failure(&calls), "the LLM provider `greedy` asked for more than 64 tool calls in one answer");
}

async fn a_slow_named_provider_holds_up_only_its_own_calls(db: &TestDb) {
    // One request in flight at a time: the slow provider's call takes its own
    // base URL's permit, not the instance's.
    let h = harness_on(db, |settings| settings.llm.max_concurrency = 1).await;
    let (url, slow) = fake_provider(Mode::Slow(800)).await;
    h.credential("tarpit", "llm", json!({"api": "openai", "base_url": url, "default_model": "m"})).await;
    let version = h.version(ask(json!({"provider": "tarpit", "prompt": "hi", "cache": false}))).await;
    let (engine, owner) = (h.engine.clone(), h.owner.id);
    let stuck = tokio::spawn(async move {
        engine.run(StartRequest::new(&version, owner, Trigger::Manual, json!({}))).await.unwrap()
    });
    while slow.requests() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let other = h.run(ask(json!({"model": "m", "prompt": "meanwhile", "cache": false})), json!({})).await;
    let waited = started.elapsed();
    assert_eq!(output(&other)["provider"], "default");
    assert!(!stuck.is_finished(), "the instance's call ended first ({waited:?})");
    assert_eq!(output(&stuck.await.unwrap())["text"], "late");
}
