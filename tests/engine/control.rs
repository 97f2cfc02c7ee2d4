//! Runs stopped from outside: cancelled, taken over, or refused at the start.

use super::*;

#[tokio::test]
async fn a_run_can_be_cancelled_mid_run() {
    let h = harness(|_| {}).await;
    let version = h
        .version(json!({"name": "long", "nodes": [
            {"id": "wait", "type": "delay", "config": {"ms": 10000}},
            {"id": "after", "type": "template", "config": {"template": "x"}}
        ], "edges": [{"from": "wait", "to": "after"}]}))
        .await;
    let mut handle = h.engine.start(StartRequest::new(&version, h.owner.id, Trigger::Api, json!({}))).await.unwrap();
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
    let handle = h.engine.start(StartRequest::new(&version, h.owner.id, Trigger::Api, json!({}))).await.unwrap();
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
    let claimed = h.store.claim_executions(&heir, i64::MAX / 8, 10, &[]).await.unwrap();
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

#[tokio::test]
async fn a_definition_that_became_invalid_is_refused_at_run_time() {
    let h = harness(|_| {}).await;
    let mut version = h.version(llm_workflow("x", true)).await;
    version.definition.edges.push(serde_json::from_value(json!({"from": "ask", "to": "ask"})).unwrap());
    let error = h.engine.run(StartRequest::new(&version, h.owner.id, Trigger::Api, json!({}))).await.unwrap_err();
    assert!(matches!(error, app::error::AppError::Invalid(_)), "{error:?}");
}
