//! Several real `weft serve` processes on one database: they share the queue,
//! a killed process loses nothing, a cron tick fires once, a stopped process
//! hands its runs over. Each process is the built binary, killed for real.

mod support;

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
    let (_, key) = weft::api::create_api_key(store, user.id, "cluster").await.unwrap();
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

#[tokio::test]
async fn three_processes_share_the_queue_and_a_killed_one_loses_nothing() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let (upstream, url) = Upstream::start(Duration::from_millis(20)).await;
    let workflow = store.create_workflow(owner.id, &five_steps(&url)).await.unwrap().id;

    // A short lease so that the takeover is quick; few slots per process so
    // that most executions wait in the queue and are claimed.
    let lease_ms = 2_000;
    let flags = ["--lease-ms", "2000", "--max-running-executions", "8"];
    let mut processes = Vec::new();
    for name in ["a", "b", "c"] {
        processes.push(Weft::start(&db, logs.path(), name, &flags).await);
    }
    let bases: Vec<String> = processes.iter().map(|p| p.base.clone()).collect();
    let total = 1_000;
    let ids = start_executions(&bases, &key, workflow, total).await;
    assert_eq!(ids.len(), total);

    // Kill b in the middle of the work, while it holds executions.
    let victim = processes[1].pid();
    let pool = sqlx::PgPool::connect(&db.settings.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (succeeded, held): (i64, i64) = sqlx::query_as(&format!(
            "SELECT COUNT(*) FILTER (WHERE status = 'succeeded'),
                    COUNT(*) FILTER (WHERE status = 'running' AND lease_owner LIKE '%-{victim}-%')
             FROM executions"
        ))
        .fetch_one(&pool)
        .await
        .unwrap();
        if succeeded >= total as i64 / 4 && held > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the work did not get going: {succeeded} succeeded, b holds {held}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    processes[1].kill();
    let killed_at = Instant::now();
    let (held, succeeded_before) = held_by(&db, victim).await;
    assert!(!held.is_empty(), "b held executions when it died");

    // Its executions are taken over once their leases expire.
    let takeover = loop {
        if running_on(&db, victim).await.is_empty() {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "nobody took b's executions over:\n{}",
            processes[0].logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        takeover <= Duration::from_millis(lease_ms + 1_000),
        "the takeover took {takeover:?}, more than the lease ({lease_ms} ms) and a second"
    );
    eprintln!("b held {} executions; taken over {takeover:?} after SIGKILL", held.len());

    wait_until_all_finished(store.as_ref(), workflow, total, Duration::from_secs(120)).await;
    // On a starved machine a live process may miss a renewal by a whole lease
    // (2 s here) and lose executions too; each such loss is logged where it
    // happened, and only those may repeat nodes besides b's.
    let mut may_repeat = held.clone();
    for process in &processes {
        let lost = process.lost_leases();
        if !lost.is_empty() {
            eprintln!("process {} lost {} leases while alive: {lost:?}", process.pid(), lost.len());
        }
        may_repeat.extend(lost);
    }
    assert_nothing_lost_or_repeated(store.as_ref(), workflow, total, &upstream, &may_repeat, &succeeded_before).await;
    let left = raw_query(&db, "SELECT id FROM executions WHERE status IN ('queued', 'running')").await;
    assert!(left.is_empty(), "nothing is left queued or running: {left:?}");
    // The survivors both worked.
    for survivor in [&processes[0], &processes[2]] {
        let pid = survivor.pid();
        assert!(!ran_by(&db, pid).await.is_empty(), "process {pid} ran nothing");
    }
    drop(processes);
    db.cleanup().await;
}

#[tokio::test]
async fn a_cron_tick_fires_once_across_three_processes() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, _) = owner_with_key(store.as_ref()).await;
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Every second",
        "triggers": [{"type": "cron", "schedule": "* * * * * *", "timezone": "UTC"}],
        "nodes": [{"id": "tick", "type": "template", "config": {"template": "{{ input.scheduled_at }}"}}]
    }))
    .unwrap();
    let workflow = store.create_workflow(owner.id, &definition).await.unwrap().id;
    let mut processes = Vec::new();
    for name in ["a", "b", "c"] {
        processes.push(Weft::start(&db, logs.path(), name, &[]).await);
    }
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    drop(processes);

    let filter = ExecutionFilter { workflow_id: Some(workflow), ..Default::default() };
    let fired = store.list_executions(Scope::Everyone, &filter, None, 100).await.unwrap().items;
    let mut ticks: HashMap<String, usize> = HashMap::new();
    for execution in &fired {
        *ticks.entry(execution.input.to_value()["scheduled_at"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(ticks.len() >= 3, "a schedule every second fired {} times in 4.5 s: {ticks:?}", ticks.len());
    assert!(ticks.values().all(|n| *n == 1), "each tick fires once: {ticks:?}");
    db.cleanup().await;
}

#[tokio::test]
async fn a_stopped_process_hands_its_runs_to_another_at_once() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let (upstream, url) = Upstream::start(Duration::from_millis(300)).await;
    let workflow = store.create_workflow(owner.id, &five_steps(&url)).await.unwrap().id;
    // A long lease: only a hand-back (not an expiry) can move the runs quickly.
    let flags = ["--lease-ms", "60000", "--shutdown-grace-ms", "100"];
    let mut leaving = Weft::start(&db, logs.path(), "leaving", &flags).await;
    let ids = start_executions(std::slice::from_ref(&leaving.base), &key, workflow, 10).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let staying = Weft::start(&db, logs.path(), "staying", &flags).await;
    let (held, succeeded_before) = held_by(&db, leaving.pid()).await;
    assert_eq!(held.len(), ids.len(), "the first process runs them all");

    let stopped_at = Instant::now();
    leaving.terminate();
    let status = leaving.child.wait().unwrap();
    assert!(status.success(), "a graceful shutdown exits 0:\n{}", leaving.logs());
    wait_until_all_finished(store.as_ref(), workflow, ids.len(), Duration::from_secs(20)).await;
    assert!(stopped_at.elapsed() < Duration::from_secs(15), "handed over long before the 60 s lease");
    assert_nothing_lost_or_repeated(store.as_ref(), workflow, ids.len(), &upstream, &held, &succeeded_before).await;
    let pid = staying.pid();
    assert_eq!(ran_by(&db, pid).await.len(), ids.len(), "the second process finished them");
    drop(staying);
    db.cleanup().await;
}

#[tokio::test]
async fn on_sqlite_a_restart_resumes_every_run_of_a_killed_process() {
    let _serial = one_at_a_time().await;
    let db = TestDb::sqlite();
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let (upstream, url) = Upstream::start(Duration::from_millis(100)).await;
    let workflow = store.create_workflow(owner.id, &five_steps(&url)).await.unwrap().id;

    let mut first = Weft::start(&db, logs.path(), "first", &[]).await;
    let total = 40;
    start_executions(std::slice::from_ref(&first.base), &key, workflow, total).await;
    // Let some nodes finish (and be written), then kill it mid-run.
    tokio::time::sleep(Duration::from_millis(350)).await;
    first.kill();
    let (held, succeeded_before) = held_by(&db, first.pid()).await;
    assert!(!held.is_empty() && !succeeded_before.is_empty(), "killed mid-run: {held:?} {succeeded_before:?}");

    // The default lease is 20 s; a restarted SQLite process resumes at once.
    let restarted_at = Instant::now();
    let _second = Weft::start(&db, logs.path(), "second", &[]).await;
    wait_until_all_finished(store.as_ref(), workflow, total, Duration::from_secs(30)).await;
    assert!(restarted_at.elapsed() < Duration::from_secs(10), "resumed without waiting for the leases");
    assert_nothing_lost_or_repeated(store.as_ref(), workflow, total, &upstream, &held, &succeeded_before).await;
    db.cleanup().await;
}

#[tokio::test]
async fn a_web_process_leaves_runs_to_a_worker_and_still_follows_them() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let (_upstream, url) = Upstream::start(Duration::from_millis(5)).await;
    let quick = store.create_workflow(owner.id, &five_steps(&url)).await.unwrap().id;
    let delays = |name: &str, ms: u64| -> WorkflowDefinition {
        serde_json::from_value(json!({
            "name": name,
            "nodes": [{"id": "one", "type": "delay", "config": {"ms": ms}},
                      {"id": "two", "type": "delay", "config": {"ms": ms}}],
            "edges": [{"from": "one", "to": "two"}]
        }))
        .unwrap()
    };
    let slow = store.create_workflow(owner.id, &delays("Slow", 300)).await.unwrap().id;
    let endless = store.create_workflow(owner.id, &delays("Endless", 60_000)).await.unwrap().id;
    let web = Weft::start(&db, logs.path(), "web", &["--role", "web"]).await;
    let worker = Weft::start(&db, logs.path(), "worker", &["--role", "worker"]).await;
    let client = reqwest::Client::new();

    // A worker serves health and metrics only.
    let api = client.get(format!("{}/api/v1/workflows", worker.base)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(api.status(), reqwest::StatusCode::NOT_FOUND);
    let metrics = client.get(format!("{}/metrics", worker.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("weft_executions_running_here"), "{metrics}");

    // Waiting through the web process for a run the worker does.
    let report: Value = client
        .post(format!("{}/api/v1/workflows/{quick}/executions?wait=true", web.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["nodes"].as_object().unwrap().len(), 5);
    let id = report["id"].as_i64().unwrap();
    let ran_by = raw_query(
        &db,
        &format!("SELECT id FROM executions WHERE id = {id} AND lease_owner LIKE '%-{}-%'", worker.pid()),
    )
    .await;
    assert_eq!(ran_by.len(), 1, "the worker ran it");

    // The event stream, served by the web process, follows the worker's run.
    let started = start_executions(std::slice::from_ref(&web.base), &key, slow, 1).await[0];
    let stream =
        client.get(format!("{}/api/v1/executions/{started}/events", web.base)).bearer_auth(&key).send().await.unwrap();
    let body = tokio::time::timeout(Duration::from_secs(10), stream.text()).await.expect("the stream ends").unwrap();
    assert!(body.contains("event: node") && body.contains("\"node\":\"two\""), "{body}");
    assert!(body.contains("event: finished") && body.contains("\"status\":\"succeeded\""), "{body}");

    // Cancelling through the web process stops the run on the worker at once.
    let long = start_executions(std::slice::from_ref(&web.base), &key, endless, 1).await[0];
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.execution(Scope::Everyone, long).await.unwrap().status != ExecutionStatus::Running {
        assert!(Instant::now() < deadline, "the worker did not claim it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let cancel =
        client.post(format!("{}/api/v1/executions/{long}/cancel", web.base)).bearer_auth(&key).send().await.unwrap();
    assert_eq!(cancel.status(), reqwest::StatusCode::ACCEPTED);
    let asked = Instant::now();
    loop {
        let execution = store.execution(Scope::Everyone, long).await.unwrap();
        if execution.status == ExecutionStatus::Cancelled {
            break;
        }
        // The lease renewal (every 5 s) would get there too; the signal is faster.
        assert!(asked.elapsed() < Duration::from_secs(3), "still {:?}:\n{}", execution.status, worker.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop((web, worker));
    db.cleanup().await;
}

/// Two `weft serve` processes, a and b, on one fresh PostgreSQL database that
/// has an admin, root@example.com (password `support::PASSWORD`); `None`
/// without PostgreSQL. The caller holds `one_at_a_time` first.
struct TwoProcesses {
    db: TestDb,
    logs: tempfile::TempDir,
    root: User,
    a: Weft,
    b: Weft,
}

impl TwoProcesses {
    async fn start() -> Option<Self> {
        let db = TestDb::postgres().await?;
        let logs = tempfile::tempdir().unwrap();
        let store = db.store().await;
        let hash = weft::cli::hash_password(support::PASSWORD).unwrap();
        let root = store.create_user("root@example.com", Some(&hash), true).await.unwrap();
        let a = Weft::start(&db, logs.path(), "a", &[]).await;
        let b = Weft::start(&db, logs.path(), "b", &[]).await;
        Some(Self { db, logs, root, a, b })
    }
}

#[tokio::test]
async fn a_settings_change_in_one_process_reaches_the_others() {
    let _serial = one_at_a_time().await;
    let Some(TwoProcesses { db, logs: _logs, a, b, .. }) = TwoProcesses::start().await else { return };
    // Sessions live in the database: signed in at a, the cookie works at b too.
    let admin = support::sign_in(&a.base, "root@example.com", support::PASSWORD).await.map_err(|r| r.status()).unwrap();
    let read_at_b = || async {
        admin.post(format!("{}/api/settings/llm", b.base)).send().await.unwrap().json::<Value>().await.unwrap()
    };
    assert_eq!(read_at_b().await["base_url"], "https://api.openai.com/v1");

    let saved = admin
        .post(format!("{}/api/settings/llm/save", a.base))
        .form(&[
            ("base_url", "http://127.0.0.1:9/v1"),
            ("default_model", "local-model"),
            ("cache_ttl_secs", "60"),
            ("cache_capacity", "10"),
            ("max_concurrency", "3"),
            ("api_key", "sk-shared"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), reqwest::StatusCode::OK);
    let started = std::time::Instant::now();
    loop {
        let seen = read_at_b().await;
        if seen["base_url"] == "http://127.0.0.1:9/v1" && seen["max_concurrency"] == 3 && seen["has_api_key"] == true {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(3), "b still has {seen}\n{}", b.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("b followed a's settings change after {:?}", started.elapsed());
    drop((a, b));
    db.cleanup().await;
}

#[tokio::test]
async fn revoked_credentials_stop_working_in_every_process_at_once() {
    let _serial = one_at_a_time().await;
    let Some(TwoProcesses { db, logs: _logs, root, a, b }) = TwoProcesses::start().await else { return };
    let store = db.store().await;
    let (key, secret) = app::services::api_keys::create_api_key(store.as_ref(), root.id, "cluster").await.unwrap();
    let admin = support::sign_in(&a.base, "root@example.com", support::PASSWORD).await.map_err(|r| r.status()).unwrap();

    // b caches both: the key (a minute) and the session (30 s).
    let api_at_b = || async {
        let url = format!("{}/api/v1/workflows", b.base);
        reqwest::Client::new().get(url).bearer_auth(&secret).send().await.unwrap().status()
    };
    let session_at_b = || async { admin.post(format!("{}/api/settings/llm", b.base)).send().await.unwrap().status() };
    assert_eq!(api_at_b().await, reqwest::StatusCode::OK);
    assert_eq!(session_at_b().await, reqwest::StatusCode::OK);

    async fn soon_refused<F: std::future::Future<Output = reqwest::StatusCode>>(what: &str, ask: impl Fn() -> F) {
        let started = Instant::now();
        while ask().await != reqwest::StatusCode::UNAUTHORIZED {
            assert!(started.elapsed() < Duration::from_secs(3), "b still accepts the {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        println!("b refused the {what} {:?} after it was revoked at a", started.elapsed());
    }

    let revoked = admin
        .post(format!("{}/api/accounts/api-keys/revoke", a.base))
        .form(&[("id", key.id.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), reqwest::StatusCode::OK);
    soon_refused("revoked API key", api_at_b).await;

    let signed_out = admin.post(format!("{}/api/accounts/sign-out", a.base)).send().await.unwrap();
    assert_eq!(signed_out.status(), reqwest::StatusCode::OK);
    soon_refused("ended session", session_at_b).await;

    drop((a, b));
    db.cleanup().await;
}

#[tokio::test]
async fn sign_in_attempts_are_limited_across_processes() {
    let _serial = one_at_a_time().await;
    let Some(TwoProcesses { db, logs: _logs, a, b, .. }) = TwoProcesses::start().await else { return };
    let attempt = |base: &str| {
        let base = base.to_owned();
        async move {
            match support::sign_in(&base, "root@example.com", "not-the-password").await {
                Ok(_) => panic!("a wrong password signed in"),
                Err(response) => response.status(),
            }
        }
    };
    // Five a minute per email, whichever process is asked: three at a, two at b...
    for base in [&a.base, &a.base, &a.base, &b.base, &b.base] {
        assert_eq!(attempt(base).await, reqwest::StatusCode::BAD_REQUEST);
    }
    // ...and b refuses the sixth, though it saw only two itself.
    assert_eq!(attempt(&b.base).await, reqwest::StatusCode::TOO_MANY_REQUESTS);
    drop((a, b));
    db.cleanup().await;
}

/// An OpenAI-compatible server that streams its answer slowly: eight pieces,
/// 300 ms apart.
async fn slow_llm() -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let pieces = ["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the lazy ", "dog."];
            let events = futures::stream::iter(pieces.into_iter().enumerate()).then(|(i, piece)| async move {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let event = json!({"model": "slow-1", "choices": [{"delta": {"content": piece}}]});
                Ok::<_, std::convert::Infallible>(format!("data: {event}\n\n"))
            });
            let done = futures::stream::once(async { Ok("data: [DONE]\n\n".to_string()) });
            let headers = [(axum::http::header::CONTENT_TYPE, "text/event-stream")];
            (headers, axum::body::Body::from_stream(events.chain(done)))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn a_web_process_shows_the_llm_text_of_a_run_on_a_worker_as_it_streams() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Ask",
        "nodes": [{"id": "ask", "type": "llm", "config": {"model": "m", "prompt": "Tell me about foxes"}}]
    }))
    .unwrap();
    let workflow = store.create_workflow(owner.id, &definition).await.unwrap().id;
    let llm = slow_llm().await;
    let web = Weft::start(&db, logs.path(), "web", &["--role", "web"]).await;
    let worker = Weft::start(&db, logs.path(), "worker", &["--role", "worker", "--llm-base-url", &llm]).await;

    let id = start_executions(std::slice::from_ref(&web.base), &key, workflow, 1).await[0];
    let client = reqwest::Client::new();
    let follow = || async {
        let url = format!("{}/api/v1/executions/{id}/events", web.base);
        let stream = client.get(url).bearer_auth(&key).send().await.unwrap();
        tokio::time::timeout(Duration::from_secs(15), stream.text()).await.expect("the stream ends").unwrap()
    };
    // A second follower joins half way through the answer.
    let (first, second) = tokio::join!(follow(), async {
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        follow().await
    });

    for (who, body) in [("first", &first), ("second", &second)] {
        let events: Vec<RunEvent> = body
            .split("\n\n")
            .filter_map(|block| block.lines().find_map(|line| line.strip_prefix("data:")))
            .map(|data| serde_json::from_str(data.trim()).unwrap())
            .collect();
        // Text arrived while the node was answering (before its end), and put
        // together as the run view does, it is the whole answer: the second
        // follower got the text so far first.
        let end = events
            .iter()
            .position(|e| matches!(e, RunEvent::Node { status: NodeStatus::Succeeded, .. }))
            .unwrap_or_else(|| panic!("{who}: the node succeeded: {body}\n{}", worker.logs()));
        let mut text = String::new();
        for event in &events[..end] {
            match event {
                RunEvent::Streamed { text: so_far, .. } => text = so_far.clone(),
                RunEvent::Token { text: more, .. } => text.push_str(more),
                _ => {}
            }
        }
        let relayed =
            events[..end].iter().filter(|e| matches!(e, RunEvent::Token { .. } | RunEvent::Streamed { .. })).count();
        assert!(relayed >= 2, "{who}: text came in pieces while the node answered, not only at its end: {body}");
        assert_eq!(text, "The quick brown fox jumps over the lazy dog.", "{who}: {body}");
        let RunEvent::Node { output: Some(output), .. } = &events[end] else { panic!("{body}") };
        assert_eq!(output["text"], "The quick brown fox jumps over the lazy dog.");
    }
    drop((web, worker));
    db.cleanup().await;
}
