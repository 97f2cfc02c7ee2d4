//! The shared queue: runs spread over the processes, survive a kill or a
//! stop, a cron tick fires once, and a web process leaves runs to a worker.

use super::*;

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
        processes.push(Weft::start(&db, logs.path(), name, &["--cron-min-interval-secs", "1"]).await);
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
