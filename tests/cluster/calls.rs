//! A `workflow` node in a process killed while its child runs: the process
//! that resumes the parent finds the child it started (resumed too) and
//! waits for it; no second child is started.

use super::*;

#[tokio::test]
async fn on_sqlite_a_restart_resumes_a_parent_without_starting_a_second_child() {
    let _serial = one_at_a_time().await;
    killed_while_the_child_runs(TestDb::sqlite()).await;
}

#[tokio::test]
async fn on_postgres_another_process_resumes_a_parent_without_starting_a_second_child() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    killed_while_the_child_runs(db).await;
}

async fn killed_while_the_child_runs(db: TestDb) {
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let child: WorkflowDefinition = serde_json::from_value(json!({"name": "Slow child", "nodes": [
        {"id": "nap", "type": "delay", "config": {"ms": 1500}},
        {"id": "answer", "type": "template", "config": {"template": "{\"got\": {{ input.n }}}", "json": true}}
    ], "edges": [{"from": "nap", "to": "answer"}]}))
    .unwrap();
    let child = store.create_workflow(owner.id, &child).await.unwrap().id;
    let parent: WorkflowDefinition = serde_json::from_value(json!({"name": "Parent", "nodes": [
        {"id": "call", "type": "workflow", "config": {"workflow": child, "input": "{'n': 7}"}}
    ]}))
    .unwrap();
    let parent = store.create_workflow(owner.id, &parent).await.unwrap().id;
    let flags = ["--lease-ms", "1500"];
    let mut first = Weft::start(&db, logs.path(), "first", &flags).await;
    let execution = start_executions(std::slice::from_ref(&first.base), &key, parent, 1).await[0];

    let deadline = Instant::now() + Duration::from_secs(20);
    while store.child_executions(execution, false, 10).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "no child was started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();

    let _second = Weft::start(&db, logs.path(), "second", &flags).await;
    wait_until_all_finished(store.as_ref(), parent, 1, Duration::from_secs(30)).await;
    let runs = store.node_runs(Scope::Everyone, execution).await.unwrap();
    let call = runs.iter().find(|r| r.node_id == "call").unwrap();
    assert_eq!(call.status, NodeStatus::Succeeded, "{:?}", call.error);
    assert_eq!(call.output, Some(json!({"got": 7})));
    let children = store.child_executions(execution, false, 10).await.unwrap();
    assert_eq!(children.len(), 1, "one child, resumed, not a second: {children:?}");
    assert_eq!(children[0].status, ExecutionStatus::Succeeded);
    db.cleanup().await;
}
