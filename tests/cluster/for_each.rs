//! A node with `for_each` in a process killed mid-list: the process that
//! resumes the run keeps the items recorded before the kill and runs only the
//! others (each item's requests carry the item's own idempotency key).

use super::*;

#[tokio::test]
async fn on_sqlite_a_restart_resumes_a_for_each_without_rerunning_ended_items() {
    let _serial = one_at_a_time().await;
    killed_mid_list(TestDb::sqlite()).await;
}

#[tokio::test]
async fn on_postgres_another_process_resumes_a_for_each_without_rerunning_ended_items() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    killed_mid_list(db).await;
}

async fn killed_mid_list(db: TestDb) {
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let (upstream, url) = Upstream::start(Duration::from_millis(40)).await;
    let total = 80;
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Each item",
        "nodes": [{"id": "each", "type": "http", "config": {"method": "POST", "url": url},
                   "for_each": format!("range({total})"), "concurrency": 4}]
    }))
    .unwrap();
    let workflow = store.create_workflow(owner.id, &definition).await.unwrap().id;
    // A short lease: on PostgreSQL the second process takes the run over once it expires.
    let flags = ["--lease-ms", "1500"];
    let mut first = Weft::start(&db, logs.path(), "first", &flags).await;
    let execution = start_executions(std::slice::from_ref(&first.base), &key, workflow, 1).await[0];

    // Kill it once a good part of the list is recorded (80 items, 4 at a time, 40 ms each: ~800 ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.node_items_of(execution).await.unwrap().len() < total / 4 {
        assert!(Instant::now() < deadline, "no items were recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();
    let recorded: HashSet<usize> = store.node_items_of(execution).await.unwrap().iter().map(|i| i.index).collect();
    assert!(recorded.len() < total, "killed after the list ended");

    let _second = Weft::start(&db, logs.path(), "second", &flags).await;
    wait_until_all_finished(store.as_ref(), workflow, 1, Duration::from_secs(30)).await;
    let runs = store.node_runs(Scope::Everyone, execution).await.unwrap();
    let each = runs.iter().find(|r| r.node_id == "each").unwrap();
    assert_eq!(each.status, NodeStatus::Succeeded, "{:?}", each.error);
    let items = each.output.as_ref().unwrap().as_array().unwrap();
    assert_eq!(items.len(), total);
    assert!(items.iter().all(|item| item["body"] == json!({"ok": true})), "{items:?}");

    let calls = upstream.calls();
    for index in 0..total {
        let count = calls.get(&format!("weft-{execution}-each-{index}")).copied().unwrap_or(0);
        if recorded.contains(&index) {
            assert_eq!(count, 1, "item {index} ended before the kill, yet ran {count} times");
        } else {
            // Items in flight at the kill ran again; the rest ran once.
            assert!((1..=2).contains(&count), "item {index} ran {count} times");
        }
    }
    // Ended items are recorded in batches (every 50 ms, the driver's flush
    // interval): besides the 4 in flight, the few that ended since the last
    // write (~100 items/s here, more while a commit is slow) run again. Far
    // fewer than the 20+ recorded before the kill, which ran once (above).
    let twice = calls.values().filter(|n| **n > 1).count();
    assert!(twice <= 16, "only the items in flight or ended since the last write may run twice, {twice} did");
    assert!(store.node_items_of(execution).await.unwrap().is_empty(), "the finished run's items were forgotten");
    eprintln!("{} of {total} items recorded before the kill; {twice} ran again", recorded.len());
    db.cleanup().await;
}
