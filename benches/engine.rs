//! What a run costs. `scheduler/*` is the pure scheduling overhead (no I/O) of a
//! whole workflow; `run/*` is a whole execution through the engine on a SQLite
//! store: create, run every node, persist, finish. `chain_length/*` runs chains
//! of 2,500, 10,000 and 40,000 templates, each reading the one before: the time
//! per node stays flat when a run's cost is linear in its length (every node
//! start used to copy every output so far). `code_chain_length/*` does the
//! same with chains of 250 and 1,000 code nodes, each output 1 KB: a script
//! used to be handed every output so far, as JSON. `for_each_items/*` runs
//! one template node over lists of 100, 1,000 and 10,000 items.
//! `workflow_calls/*` is what a `workflow` node costs: one template node run
//! inline, the same node run as a child run (a second execution created,
//! run, finished and waited for), and a `for_each` over 100 child runs.

use std::sync::Arc;

use app::model::*;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use serde_json::json;
use weft::config::DatabaseSettings;
use weft::engine::scheduler::{Completion, Scheduler};
use weft::engine::{Engine, EngineSettings, StartRequest};

fn chain(n: usize) -> WorkflowDefinition {
    let nodes: Vec<_> = (0..n)
        .map(|i| json!({"id": format!("t{i}"), "type": "template", "config": {"template": "step {{ input.x }}"}}))
        .collect();
    let edges: Vec<_> = (1..n).map(|i| json!({"from": format!("t{}", i - 1), "to": format!("t{i}")})).collect();
    serde_json::from_value(json!({"name": format!("chain {n}"), "nodes": nodes, "edges": edges})).unwrap()
}

fn fan_out(n: usize) -> WorkflowDefinition {
    let mut nodes: Vec<_> = (0..n)
        .map(|i| json!({"id": format!("t{i}"), "type": "template", "config": {"template": "part {{ input.x }}"}}))
        .collect();
    nodes.push(json!({"id": "all", "type": "merge"}));
    let edges: Vec<_> = (0..n).map(|i| json!({"from": format!("t{i}"), "to": "all"})).collect();
    serde_json::from_value(json!({"name": format!("fan out {n}"), "nodes": nodes, "edges": edges})).unwrap()
}

fn bench_scheduler(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler");
    for (label, definition) in [("chain_200", chain(200)), ("fan_out_200", fan_out(200))] {
        let workflow = validate(&definition).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(label), &workflow, |b, workflow| {
            b.iter(|| {
                let mut scheduler = Scheduler::new(workflow);
                let mut ready = Vec::new();
                loop {
                    ready.extend(std::iter::from_fn(|| scheduler.next_ready()));
                    let Some(node) = ready.pop() else { break };
                    scheduler.complete(node, Completion::Succeeded { branch: None });
                }
                assert!(scheduler.is_finished());
            })
        });
    }
    group.finish();
}

fn bench_runs(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings::with_url(format!("sqlite://{}/bench.db", dir.path().display()));
    let (engine, owner, versions) = runtime.block_on(async {
        let store = weft::store::connect(&settings).await.unwrap();
        let owner = store.create_user("bench@example.com", None, false).await.unwrap();
        let mut versions = Vec::new();
        for definition in [chain(3), fan_out(10)] {
            let created = store.create_workflow(owner.id, &definition).await.unwrap();
            versions.push(store.workflow_version(Scope::Everyone, created.id, 1).await.unwrap());
        }
        (
            Engine::new(
                store,
                EngineSettings::default(),
                weft::bus::Bus::local(),
                std::sync::Arc::new(weft::secrets::SecretBox::ephemeral()),
            )
            .unwrap(),
            owner,
            versions,
        )
    });
    let engine: Arc<Engine> = engine;
    let mut group = c.benchmark_group("run");
    for (label, version) in [("chain_3_templates", &versions[0]), ("fan_out_10_templates_merge", &versions[1])] {
        group.bench_function(label, |b| {
            b.to_async(&runtime).iter(|| async {
                let report =
                    engine.run(StartRequest::new(version, owner.id, Trigger::Api, json!({"x": 1}))).await.unwrap();
                assert_eq!(report.status, ExecutionStatus::Succeeded);
            })
        });
    }
    group.finish();
}

/// A chain where each template reads its predecessor's output.
fn reading_chain(n: usize) -> WorkflowDefinition {
    let nodes: Vec<_> = (0..n)
        .map(|i| {
            let template =
                if i == 0 { "start".to_string() } else { format!("{{{{ nodes.t{}.text | length }}}}", i - 1) };
            json!({"id": format!("t{i}"), "type": "template", "config": {"template": template}})
        })
        .collect();
    let edges: Vec<_> = (1..n).map(|i| json!({"from": format!("t{}", i - 1), "to": format!("t{i}")})).collect();
    serde_json::from_value(json!({"name": format!("reading chain {n}"), "nodes": nodes, "edges": edges})).unwrap()
}

fn bench_chain_length(c: &mut Criterion) {
    bench_chains(c, "chain_length", [2_500, 10_000, 40_000].map(|n| (n, reading_chain(n))));
}

/// Runs each chain (its length, its definition) through the engine on a
/// SQLite store, as one group with the time per node as throughput.
fn bench_chains<const N: usize>(c: &mut Criterion, group: &str, chains: [(usize, WorkflowDefinition); N]) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings::with_url(format!("sqlite://{}/chains.db", dir.path().display()));
    let (engine, owner, versions) = runtime.block_on(async {
        let store = weft::store::connect(&settings).await.unwrap();
        let owner = store.create_user("chains@example.com", None, false).await.unwrap();
        let mut versions = Vec::new();
        for (_, definition) in &chains {
            let created = store.create_workflow(owner.id, definition).await.unwrap();
            versions.push(store.workflow_version(Scope::Everyone, created.id, 1).await.unwrap());
        }
        (
            Engine::new(
                store,
                EngineSettings::default(),
                weft::bus::Bus::local(),
                std::sync::Arc::new(weft::secrets::SecretBox::ephemeral()),
            )
            .unwrap(),
            owner,
            versions,
        )
    });
    let mut group = c.benchmark_group(group);
    group.sample_size(10);
    for ((n, _), version) in chains.iter().zip(&versions) {
        group.throughput(criterion::Throughput::Elements(*n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), version, |b, version| {
            b.to_async(&runtime).iter(|| async {
                let report = engine.run(StartRequest::new(version, owner.id, Trigger::Api, json!({}))).await.unwrap();
                assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
            })
        });
    }
    group.finish();
}

/// A chain of code nodes, each returning 1 KB and reading its predecessor's count.
fn code_chain(n: usize) -> WorkflowDefinition {
    let nodes: Vec<_> = (0..n)
        .map(|i| {
            let before = if i == 0 { "0".to_string() } else { format!("nodes.c{}.n", i - 1) };
            let source = format!("return {{ n: {before} + 1, text: 'x'.repeat(1000) }};");
            json!({"id": format!("c{i}"), "type": "code", "config": {"source": source}})
        })
        .collect();
    let edges: Vec<_> = (1..n).map(|i| json!({"from": format!("c{}", i - 1), "to": format!("c{i}")})).collect();
    serde_json::from_value(json!({"name": format!("code chain {n}"), "nodes": nodes, "edges": edges})).unwrap()
}

fn bench_code_chain_length(c: &mut Criterion) {
    bench_chains(c, "code_chain_length", [250, 1_000].map(|n| (n, code_chain(n))));
}

/// One template node run once per item of `range(n)`: the time per item is
/// what `for_each` costs on top of a render (compare `chain_length`'s time per node).
fn for_each_items(n: usize) -> WorkflowDefinition {
    serde_json::from_value(json!({
        "name": format!("for each of {n}"),
        "nodes": [{"id": "t", "type": "template", "config": {"template": "item {{ item }} of {{ index }}"},
                   "for_each": format!("range({n})"), "concurrency": 16}]
    }))
    .unwrap()
}

fn bench_for_each(c: &mut Criterion) {
    bench_chains(c, "for_each_items", [100, 1_000, 10_000].map(|n| (n, for_each_items(n))));
}

/// A template node inline, the same node in a child run, and 100 child runs.
fn bench_workflow_calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings::with_url(format!("sqlite://{}/calls.db", dir.path().display()));
    let body = json!({"id": "t", "type": "template", "config": {"template": "hello {{ input.n }}"}});
    let (engine, owner, cases) = runtime.block_on(async {
        let store = weft::store::connect(&settings).await.unwrap();
        let owner = store.create_user("calls@example.com", None, false).await.unwrap();
        let save = |definition: serde_json::Value| save_workflow(store.clone(), owner.id, definition);
        let inline = save(json!({"name": "inline", "nodes": [body.clone()]})).await;
        let child = save(json!({"name": "child", "nodes": [body.clone()]})).await;
        let call =
            json!({"id": "call", "type": "workflow", "config": {"workflow": child.workflow_id, "input": "{'n': 1}"}});
        let one = save(json!({"name": "one call", "nodes": [call.clone()]})).await;
        let mut map = call;
        map["for_each"] = json!("range(100)");
        map["concurrency"] = json!(16);
        map["config"]["input"] = json!("{'n': item}");
        let hundred = save(json!({"name": "100 calls", "nodes": [map]})).await;
        let engine = Engine::new(
            store,
            EngineSettings::default(),
            weft::bus::Bus::local(),
            Arc::new(weft::secrets::SecretBox::ephemeral()),
        )
        .unwrap();
        (engine, owner, [("inline", 1, inline), ("child_run", 1, one), ("children_100", 100, hundred)])
    });
    let mut group = c.benchmark_group("workflow_calls");
    group.sample_size(20);
    for (label, n, version) in &cases {
        group.throughput(criterion::Throughput::Elements(*n));
        group.bench_function(*label, |b| {
            b.to_async(&runtime).iter(|| async {
                let report = engine.run(StartRequest::new(version, owner.id, Trigger::Api, json!({}))).await.unwrap();
                assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
            })
        });
    }
    group.finish();
}

/// Stores `definition` as a workflow of `owner`'s; its first version.
async fn save_workflow(
    store: Arc<dyn app::ports::Store>,
    owner: UserId,
    definition: serde_json::Value,
) -> WorkflowVersion {
    let definition: WorkflowDefinition = serde_json::from_value(definition).unwrap();
    let created = store.create_workflow(owner, &definition).await.unwrap();
    store.workflow_version(Scope::Everyone, created.id, 1).await.unwrap()
}

/// An OpenAI-compatible provider on 127.0.0.1 that answers at once.
async fn instant_provider() -> String {
    async fn answer() -> axum::Json<serde_json::Value> {
        axum::Json(json!({"model": "bench-1", "choices": [{"message": {"content": "ok"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/v1/chat/completions", axum::routing::post(answer));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/v1")
}

fn bench_llm_calls(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings::with_url(format!("sqlite://{}/llm.db", dir.path().display()));
    let (engine, owner, cases) = runtime.block_on(async {
        let url = instant_provider().await;
        let store = weft::store::connect(&settings).await.unwrap();
        let owner = store.create_user("llm@example.com", None, false).await.unwrap();
        let secrets = Arc::new(weft::secrets::SecretBox::ephemeral());
        let value = CredentialValue::from_parts("llm", json!({"api": "openai", "base_url": url, "default_model": "m"}));
        let sealed = secrets.seal(&serde_json::to_string(&value.unwrap()).unwrap()).unwrap();
        store.create_credential(Ownership::User(owner.id), owner.id, "local", "llm", &sealed).await.unwrap();
        let save = |definition: serde_json::Value| save_workflow(store.clone(), owner.id, definition);
        let ask = |config: serde_json::Value| json!({"name": "ask", "nodes": [{"id": "ask", "type": "llm", "config": config}]});
        let instance = save(ask(json!({"model": "m", "prompt": "hi", "cache": false}))).await;
        let named = save(ask(json!({"provider": "local", "prompt": "hi", "cache": false}))).await;
        let hundred = save(json!({"name": "100", "nodes": [{"id": "ask", "type": "llm", "for_each": "range(100)",
            "concurrency": 16, "config": {"provider": "local", "prompt": "hi {{ item }}", "cache": false}}]}))
        .await;
        let mut engine_settings = EngineSettings::default();
        engine_settings.llm.base_url = url;
        engine_settings.http.allow_loopback = true;
        let engine = Engine::new(store, engine_settings, weft::bus::Bus::local(), secrets).unwrap();
        let cases = [
            ("instance_provider", 1, instance, false),
            ("named_provider", 1, named.clone(), false),
            ("named_provider_with_budget", 1, named, true),
            ("for_each_100", 100, hundred, false),
        ];
        (engine, owner, cases)
    });
    let mut group = c.benchmark_group("llm_calls");
    group.sample_size(20);
    for (label, n, version, budget) in &cases {
        let policy = UsagePolicy { daily_tokens_per_user: budget.then_some(i64::MAX), ..Default::default() };
        engine.services().llm.usage().set_policy(policy);
        group.throughput(criterion::Throughput::Elements(*n));
        group.bench_function(*label, |b| {
            b.to_async(&runtime).iter(|| async {
                let report = engine.run(StartRequest::new(version, owner.id, Trigger::Api, json!({}))).await.unwrap();
                assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
            })
        });
    }
    group.finish();
}

/// A local model that calls `echo` twice per turn until it has `turns - 1`
/// turns of results (the prompt says how many turns), then answers; and the
/// `echo` tool it calls. Both answer at once.
async fn agent_fixture() -> String {
    async fn model(axum::Json(body): axum::Json<serde_json::Value>) -> axum::Json<serde_json::Value> {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let turns: usize = messages[0]["content"].as_str().and_then(|p| p.parse().ok()).unwrap_or(1);
        let taken = messages.iter().filter(|m| m["role"] == "assistant").count();
        let message = if taken + 1 < turns {
            let call = |i: usize| {
                json!({"id": format!("c{taken}{i}"), "type": "function",
                "function": {"name": "echo", "arguments": format!("{{\"n\": {i}}}")}})
            };
            json!({"role": "assistant", "content": null, "tool_calls": [call(0), call(1)]})
        } else {
            json!({"role": "assistant", "content": "done"})
        };
        axum::Json(json!({"model": "bench-1", "choices": [{"message": message}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}}))
    }
    async fn echo(axum::Json(body): axum::Json<serde_json::Value>) -> axum::Json<serde_json::Value> {
        axum::Json(body)
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(model))
        .route("/echo", axum::routing::post(echo));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// What an agent costs beside the model and tool calls themselves: each step
/// is written before the next starts. `llm_node` is one plain llm call to the
/// same model; `one_turn` an agent answering at once (its steps read, one
/// written); `three_turns` an agent taking 3 turns with 2 tool calls in each of
/// the first two (3 model calls, 4 HTTP tool calls, 7 steps written).
fn bench_agents(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = DatabaseSettings::with_url(format!("sqlite://{}/agents.db", dir.path().display()));
    let (engine, owner, cases) = runtime.block_on(async {
        let url = agent_fixture().await;
        let store = weft::store::connect(&settings).await.unwrap();
        let owner = store.create_user("agents@example.com", None, false).await.unwrap();
        let save = |definition: serde_json::Value| save_workflow(store.clone(), owner.id, definition);
        let tools = json!([{"name": "echo", "input_schema": {"type": "object"},
            "http": {"method": "POST", "url": format!("{url}/echo"), "body": {"n": 1}}}]);
        let agent = |turns: &str| {
            json!({"name": "agent", "nodes": [{"id": "a", "type": "agent",
                "config": {"model": "m", "prompt": turns, "tools": tools}}]})
        };
        let llm = save(json!({"name": "llm", "nodes": [{"id": "a", "type": "llm",
            "config": {"model": "m", "prompt": "1", "cache": false}}]}))
        .await;
        let one = save(agent("1")).await;
        let three = save(agent("3")).await;
        let mut engine_settings = EngineSettings::default();
        engine_settings.llm.base_url = format!("{url}/v1");
        engine_settings.http.allow_loopback = true;
        let secrets = Arc::new(weft::secrets::SecretBox::ephemeral());
        let engine = Engine::new(store, engine_settings, weft::bus::Bus::local(), secrets).unwrap();
        (engine, owner, [("llm_node", llm), ("one_turn", one), ("three_turns", three)])
    });
    let mut group = c.benchmark_group("agents");
    group.sample_size(20);
    for (label, version) in &cases {
        group.bench_function(*label, |b| {
            b.to_async(&runtime).iter(|| async {
                let report = engine.run(StartRequest::new(version, owner.id, Trigger::Api, json!({}))).await.unwrap();
                assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_scheduler,
    bench_runs,
    bench_chain_length,
    bench_code_chain_length,
    bench_for_each,
    bench_workflow_calls,
    bench_llm_calls,
    bench_agents
);
criterion_main!(benches);
