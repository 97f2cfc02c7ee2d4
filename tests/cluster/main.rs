//! Several real `weft serve` processes on one database: they share the queue,
//! a killed process loses nothing, a cron tick fires once, a stopped process
//! hands its runs over. Each process is the built binary, killed for real.

#[path = "../support/mod.rs"]
mod support;

mod agent;
mod calls;
mod for_each;
mod queue;
mod relay;
mod shared_state;
mod waits;

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::*;
use app::ports::Store;
use futures::StreamExt;
use serde_json::{json, Value};
use support::TestDb;

/// The tests here start several processes each and measure time bounds: run
/// one at a time so that they do not starve each other of the two cores.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// A `weft serve` process of the built binary.
struct Weft {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Weft {
    async fn start(db: &TestDb, logs: &std::path::Path, name: &str, extra: &[&str]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = logs.join(format!("{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_weft"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--http-allow-loopback", "--cron-tick-ms", "100"])
            .args(extra)
            .env("WEFT_DATABASE_URL", &db.settings.url)
            .env("RUST_LOG", "warn,weft=info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start weft");
        let weft = Self { child, base: format!("http://127.0.0.1:{port}"), log };
        for _ in 0..200 {
            if let Ok(response) = reqwest::get(format!("{}/readyz", weft.base)).await {
                if response.status().is_success() {
                    return weft;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{name} did not become ready:\n{}", weft.logs());
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown, no goodbye.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM: a graceful shutdown.
    fn terminate(&mut self) {
        let status = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().unwrap();
        assert!(status.success());
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Executions this process lost to another one while it was alive (its
    /// lease expired: a starved process): their nodes in flight may run twice.
    fn lost_leases(&self) -> HashSet<ExecutionId> {
        plain(&self.logs())
            .lines()
            .filter(|line| line.contains("another process took this run over"))
            .filter_map(|line| line.split("execution=").nth(1)?.split_whitespace().next()?.parse().ok())
            .collect()
    }
}

/// Log text without its colour codes.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

impl Drop for Weft {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP service the workflows call: it answers after `delay` and records
/// every call by its `Idempotency-Key`, to count how often each node ran.
#[derive(Clone, Default)]
struct Upstream {
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl Upstream {
    async fn start(delay: Duration) -> (Self, String) {
        let upstream = Upstream::default();
        let calls = upstream.calls.clone();
        let app = axum::Router::new().route(
            "/step",
            axum::routing::post(move |headers: axum::http::HeaderMap| {
                let calls = calls.clone();
                async move {
                    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("none");
                    *calls.lock().unwrap().entry(key.to_string()).or_default() += 1;
                    tokio::time::sleep(delay).await;
                    axum::Json(json!({"ok": true}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/step", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (upstream, url)
    }

    fn calls(&self) -> HashMap<String, usize> {
        self.calls.lock().unwrap().clone()
    }
}

fn step(id: &str, url: &str) -> Value {
    json!({"id": id, "type": "http", "config": {"method": "POST", "url": url}})
}

/// Five nodes: a fans out to b and c, which meet in d, then e.
fn five_steps(url: &str) -> WorkflowDefinition {
    let nodes: Vec<Value> = ["a", "b", "c", "d", "e"].iter().map(|id| step(id, url)).collect();
    serde_json::from_value(json!({
        "name": "Five steps",
        "nodes": nodes,
        "edges": [{"from": "a", "to": "b"}, {"from": "a", "to": "c"}, {"from": "b", "to": "d"},
                  {"from": "c", "to": "d"}, {"from": "d", "to": "e"}]
    }))
    .unwrap()
}

async fn owner_with_key(store: &dyn Store) -> (User, String) {
    let user = store.create_user("cluster@example.com", None, false).await.unwrap();
    let (_, key) = weft::api::create_api_key(store, user.id, "cluster", Default::default()).await.unwrap();
    (user, key)
}

/// Starts `count` executions (not waiting for them), spread over `bases`.
async fn start_executions(bases: &[String], key: &str, workflow: WorkflowId, count: usize) -> Vec<ExecutionId> {
    let client = reqwest::Client::new();
    futures::stream::iter(0..count)
        .map(|i| {
            let url = format!("{}/api/v1/workflows/{workflow}/executions", bases[i % bases.len()]);
            let request = client.post(url).bearer_auth(key).json(&json!({"input": {"i": i}}));
            async move {
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
                response.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

async fn count_by_status(store: &dyn Store, workflow: WorkflowId) -> HashMap<ExecutionStatus, usize> {
    let mut counts = HashMap::new();
    let filter = ExecutionFilter { workflow_id: Some(workflow), ..Default::default() };
    let mut after = None;
    loop {
        let page = store.list_executions(Scope::Everyone, &filter, after, 500).await.unwrap();
        for execution in &page.items {
            *counts.entry(execution.status).or_default() += 1;
        }
        match page.next {
            Some(next) => after = Some(Cursor::decode(&next).unwrap()),
            None => return counts,
        }
    }
}

async fn wait_until_all_finished(store: &dyn Store, workflow: WorkflowId, total: usize, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let counts = count_by_status(store, workflow).await;
        let finished: usize = counts.iter().filter(|(s, _)| s.is_finished()).map(|(_, n)| n).sum();
        if finished == total {
            return;
        }
        assert!(Instant::now() < deadline, "not all executions finished in time: {counts:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Executions running under a lease of process `pid` (worker ids are `host-pid-random`).
async fn running_on(db: &TestDb, pid: u32) -> Vec<String> {
    raw_query(db, &format!("SELECT id FROM executions WHERE status = 'running' AND lease_owner LIKE '%-{pid}-%'")).await
}

/// Executions last run (or running) by process `pid`.
async fn ran_by(db: &TestDb, pid: u32) -> Vec<String> {
    raw_query(db, &format!("SELECT id FROM executions WHERE lease_owner LIKE '%-{pid}-%'")).await
}

/// The executions a process held when it died, and the nodes it had recorded
/// as succeeded in them (read while its leases are still in place).
async fn held_by(db: &TestDb, pid: u32) -> (HashSet<ExecutionId>, HashSet<String>) {
    let held: HashSet<ExecutionId> = running_on(db, pid).await.into_iter().map(|r| r.parse().unwrap()).collect();
    let store = db.store().await;
    let ids: Vec<ExecutionId> = held.iter().copied().collect();
    let succeeded = store
        .node_runs_of(&ids)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.status == NodeStatus::Succeeded)
        .map(|r| format!("weft-{}-{}", r.execution_id, r.node_id))
        .collect();
    (held, succeeded)
}

/// One text column of a query, on either backend.
async fn raw_query(db: &TestDb, sql: &str) -> Vec<String> {
    use sqlx::Row;
    let url = &db.settings.url;
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        rows.iter().map(|r| r.get::<i64, _>(0).to_string()).collect()
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows = sqlx::query(sql).fetch_all(&pool).await.unwrap();
        rows.iter().map(|r| r.get::<i64, _>(0).to_string()).collect()
    }
}

/// Every execution succeeded with its five nodes; nodes that had succeeded
/// before the kill were never called again; only nodes of executions taken
/// over (`held`: those the dead process held) were called twice (the ones in
/// flight: at-least-once).
async fn assert_nothing_lost_or_repeated(
    store: &dyn Store,
    workflow: WorkflowId,
    total: usize,
    upstream: &Upstream,
    held: &HashSet<ExecutionId>,
    succeeded_before: &HashSet<String>,
) {
    let counts = count_by_status(store, workflow).await;
    assert_eq!(counts.get(&ExecutionStatus::Succeeded), Some(&total), "{counts:?}");
    let calls = upstream.calls();
    assert_eq!(calls.len(), total * 5, "every node of every execution ran");
    for key in succeeded_before {
        assert_eq!(calls.get(key), Some(&1), "{key} had succeeded before the kill and ran again");
    }
    for (key, count) in &calls {
        if *count > 1 {
            let execution: ExecutionId = key.split('-').nth(1).unwrap().parse().unwrap();
            assert!(held.contains(&execution), "{key} ran {count} times but its execution was not taken over");
        }
    }
}
