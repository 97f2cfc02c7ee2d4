//! `workflow` nodes, on both backends: a child per item of a `for_each`, a
//! failing child failing its node, runaway recursion stopped at the depth
//! limit, and a child cancelled (with its own child) when its parent is.

use super::*;

on_both_backends!(
    a_for_each_over_a_workflow_runs_one_child_per_item_in_item_order,
    a_failing_child_fails_the_node_with_its_error,
    recursion_is_stopped_at_the_depth_limit,
    cancelling_a_parent_cancels_its_child_and_grandchild,
    a_failing_parent_cancels_the_child_it_waits_for_not_one_it_left_running,
);

/// A saved workflow's id (written to the store directly: the save path's
/// checks, such as the loop check, are not in the way of what a test builds).
async fn saved(h: &Harness, definition: Value) -> WorkflowId {
    let definition: WorkflowDefinition = serde_json::from_value(definition).unwrap();
    h.store.create_workflow(h.owner.id, &definition).await.unwrap().id
}

fn calling(name: &str, workflow: WorkflowId, config: Value) -> Value {
    let mut node = json!({"id": "call", "type": "workflow", "config": {"workflow": workflow}});
    for (key, value) in config.as_object().unwrap() {
        node["config"][key] = value.clone();
    }
    json!({"name": name, "nodes": [node]})
}

async fn a_for_each_over_a_workflow_runs_one_child_per_item_in_item_order(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let tenfold = saved(
        &h,
        json!({"name": "Tenfold", "nodes": [
            {"id": "slow", "type": "delay", "config": {"ms": 30}},
            {"id": "times", "type": "template", "config": {"template": "{{ input * 10 }}", "json": true}}
        ], "edges": [{"from": "slow", "to": "times"}]}),
    )
    .await;
    let mut parent = calling("Map", tenfold, json!({}));
    parent["nodes"][0]["for_each"] = json!("input.items");
    parent["nodes"][0]["concurrency"] = json!(4);
    let report = h.run(parent, json!({"items": [1, 2, 3, 4, 5, 6, 7, 8]})).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    assert_eq!(node(&report, "call").output, Some(json!([10, 20, 30, 40, 50, 60, 70, 80])));
    let children = h.store.child_executions(report.id, false, 100).await.unwrap();
    assert_eq!(children.len(), 8);
    for child in &children {
        assert_eq!(child.trigger, Trigger::Workflow);
        assert_eq!(child.status, ExecutionStatus::Succeeded);
        let parent = child.parent.as_ref().expect("linked to its parent");
        assert_eq!((parent.execution, parent.node.as_str(), parent.depth), (report.id, "call", 1));
    }
    // What a parent resumed after a crash finds instead of starting a second child.
    let third = h.store.child_execution(report.id, "call", 2).await.unwrap().expect("the child of item 2");
    assert_eq!(third.input.to_value(), json!(3));
    assert!(h.store.child_execution(report.id, "call", 8).await.unwrap().is_none());
}

async fn a_failing_child_fails_the_node_with_its_error(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let broken = saved(
        &h,
        json!({"name": "Broken", "nodes": [{"id": "boom", "type": "code", "config": {"source": "throw new Error('no stock')"}}]}),
    )
    .await;
    let report = h.run(calling("Order", broken, json!({})), json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    let error = node(&report, "call").error.clone().unwrap_or_default();
    assert!(error.contains("of workflow `Broken` failed") && error.contains("no stock"), "{error}");

    // A retry runs the workflow again: a new child per attempt, the last one answers.
    let (base, _) = upstream().await;
    let flaky = saved(
        &h,
        json!({"name": "Flaky", "nodes": [
            {"id": "get", "type": "http", "config": {"method": "GET", "url": "{{ input.base }}/flaky"}},
            {"id": "check", "type": "code", "config": {"source": "if (nodes.get.status !== 200) throw new Error('got ' + nodes.get.status); return nodes.get;"}}
        ], "edges": [{"from": "get", "to": "check"}]}),
    )
    .await;
    let mut retrying = calling("Retrying", flaky, json!({"input": "{'base': input.base}"}));
    retrying["nodes"][0]["retry"] = json!({"max_attempts": 3, "backoff_ms": 1});
    let report = h.run(retrying, json!({"base": base})).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    assert_eq!(node(&report, "call").attempts, 3);
    assert_eq!(node(&report, "call").output.as_ref().map(|o| o["status"].clone()), Some(json!(200)));
    let children = h.store.child_executions(report.id, false, 10).await.unwrap();
    let statuses: Vec<ExecutionStatus> = children.iter().map(|c| c.status).collect();
    assert_eq!(statuses, [ExecutionStatus::Failed, ExecutionStatus::Failed, ExecutionStatus::Succeeded]);

    let report = h.run(calling("Ghost", 987_654, json!({})), json!({})).await;
    let error = node(&report, "call").error.clone().unwrap_or_default();
    assert_eq!(error, "workflow 987654 does not exist or is not one of the owner's workflows");
}

async fn recursion_is_stopped_at_the_depth_limit(db: &TestDb) {
    let h = harness_on(db, |settings| settings.max_workflow_depth = 3).await;
    // A workflow calling itself (the save path refuses this; a stored one may still say it).
    let id = saved(
        &h,
        json!({"name": "Ouroboros", "nodes": [{"id": "t", "type": "template", "config": {"template": "x"}}]}),
    )
    .await;
    let definition: WorkflowDefinition = serde_json::from_value(calling("Ouroboros", id, json!({}))).unwrap();
    let version = h.store.save_workflow_version(Scope::Everyone, id, &definition).await.unwrap();
    let report = h.engine.run(StartRequest::new(&version, h.owner.id, Trigger::Manual, json!({}))).await.unwrap();
    assert_eq!(report.status, ExecutionStatus::Failed);
    let error = report.error.unwrap_or_default();
    assert!(error.contains("3 workflow calls deep") && error.contains("WEFT_MAX_WORKFLOW_DEPTH = 3"), "{error}");
    // The root and three generations below it, no more.
    let page = h.store.list_executions(Scope::Everyone, &Default::default(), None, 100).await.unwrap();
    let mut depths: Vec<i32> = page.items.iter().map(|e| e.parent.as_ref().map_or(0, |p| p.depth)).collect();
    depths.sort();
    assert_eq!(depths, [0, 1, 2, 3]);
    assert!(page.items.iter().all(|e| e.status == ExecutionStatus::Failed));
}

async fn cancelling_a_parent_cancels_its_child_and_grandchild(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    h.engine.spawn_workers(true);
    // The grandchild waits for a person: it is parked, not running.
    let approval = saved(&h, json!({"name": "Approval", "nodes": [{"id": "ok", "type": "wait", "config": {}}]})).await;
    let middle = saved(&h, calling("Middle", approval, json!({}))).await;
    let top = h.version(calling("Top", middle, json!({}))).await;
    let handle = h.engine.start(StartRequest::new(&top, h.owner.id, Trigger::Manual, json!({}))).await.unwrap();
    let root = handle.execution.id;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (child, grandchild) = loop {
        let child = h.store.child_executions(root, false, 10).await.unwrap().pop();
        if let Some(child) = child {
            if let Some(grandchild) = h.store.child_executions(child.id, false, 10).await.unwrap().pop() {
                if grandchild.status == ExecutionStatus::Waiting {
                    break (child.id, grandchild.id);
                }
            }
        }
        assert!(std::time::Instant::now() < deadline, "the grandchild never waited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(h.engine.cancel_run(Scope::Owner(h.owner.id), root).await.unwrap(), ExecutionStatus::Running);
    let report = handle.done.await.unwrap().unwrap();
    assert_eq!(report.status, ExecutionStatus::Cancelled);
    for id in [child, grandchild] {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let execution = h.store.execution(Scope::Everyone, id).await.unwrap();
            if execution.status == ExecutionStatus::Cancelled {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "run {id} was not cancelled: {execution:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The status run `id` ends with (within 10 s).
async fn ended(h: &Harness, id: ExecutionId) -> ExecutionStatus {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let execution = h.store.execution(Scope::Everyone, id).await.unwrap();
        if execution.status.is_finished() {
            return execution.status;
        }
        assert!(std::time::Instant::now() < deadline, "run {id} did not end: {execution:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_failing_parent_cancels_the_child_it_waits_for_not_one_it_left_running(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let slow =
        saved(&h, json!({"name": "Slow", "nodes": [{"id": "nap", "type": "delay", "config": {"ms": 800}}]})).await;
    let parent = json!({"name": "Fails midway", "nodes": [
        {"id": "fire", "type": "workflow", "config": {"workflow": slow, "wait": false}},
        {"id": "waits", "type": "workflow", "config": {"workflow": slow}},
        {"id": "pause", "type": "delay", "config": {"ms": 200}},
        {"id": "boom", "type": "code", "config": {"source": "throw new Error('midway')"}}
    ], "edges": [{"from": "pause", "to": "boom"}]});
    let report = h.run(parent, json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    let fired = h.store.child_execution(report.id, "fire", 0).await.unwrap().expect("the child left running");
    let waited = h.store.child_execution(report.id, "waits", 0).await.unwrap().expect("the child waited for");
    assert_eq!(ended(&h, waited.id).await, ExecutionStatus::Cancelled);
    assert_eq!(ended(&h, fired.id).await, ExecutionStatus::Succeeded);
}
