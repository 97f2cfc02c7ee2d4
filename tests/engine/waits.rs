//! `wait` nodes: a run parks (holding no place and no task), one resume of
//! several wins and the run goes on, a timeout fails or continues the node,
//! a failing branch cancels the wait, and a parked run is cancelled at once.

use super::*;

fn approval(config: Value) -> Value {
    json!({"name": format!("approval {config}"), "nodes": [
        {"id": "approve", "type": "wait", "config": config},
        {"id": "after", "type": "template", "config": {"template": "{{ nodes.approve | tojson }}"}}
    ], "edges": [{"from": "approve", "to": "after"}]})
}

/// The execution once it finished (its waits ended and it was claimed again).
async fn finished(h: &Harness, id: ExecutionId) -> Execution {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let execution = h.store.execution(Scope::Everyone, id).await.unwrap();
        if execution.status.is_finished() {
            return execution;
        }
        assert!(std::time::Instant::now() < deadline, "run {id} did not finish: {execution:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn output_of(h: &Harness, id: ExecutionId, node: &str) -> Option<Value> {
    let runs = h.store.node_runs(Scope::Everyone, id).await.unwrap();
    runs.into_iter().find(|r| r.node_id == node).and_then(|r| r.output)
}

#[tokio::test]
async fn a_waiting_run_holds_nothing_and_one_resume_of_several_wins() {
    let h = harness(|_| {}).await;
    h.engine.spawn_workers(true);
    let report = h.run(approval(json!({})), json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Waiting);
    assert_eq!(node(&report, "approve").status, NodeStatus::Waiting);
    assert_eq!(node(&report, "after").status, NodeStatus::Queued);
    // (The claimer may hold a place for a moment while it looks at the queue.)
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while h.engine.running_executions() > 0 {
        assert!(std::time::Instant::now() < deadline, "a parked run holds no place");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stored = h.store.execution(Scope::Everyone, report.id).await.unwrap();
    assert_eq!(stored.status, ExecutionStatus::Waiting);

    let scope = Scope::Owner(h.owner.id);
    let tries = futures::future::join_all((0..5).map(|i| {
        let end = WaitEnd::Resumed(json!({"answer": i}));
        let engine = h.engine.clone();
        async move { engine.end_wait(scope, report.id, None, &end).await }
    }))
    .await;
    assert_eq!(tries.iter().filter(|t| t.is_ok()).count(), 1, "{tries:?}");
    assert!(tries.iter().filter_map(|t| t.as_ref().err()).all(|e| matches!(e, app::error::AppError::Conflict(_))));

    let done = finished(&h, report.id).await;
    assert_eq!(done.status, ExecutionStatus::Succeeded, "{:?}", done.error);
    let answer = output_of(&h, report.id, "approve").await.unwrap();
    let after = output_of(&h, report.id, "after").await.unwrap();
    let told: Value = serde_json::from_str(after["text"].as_str().unwrap()).unwrap();
    assert_eq!(told, answer, "the node after the wait saw the answer");
    assert!(h.store.waits_of(report.id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_wait_nobody_answers_fails_or_continues_as_configured() {
    let h = harness(|_| {}).await;
    h.engine.spawn_workers(true);
    let failing = h.run(approval(json!({"timeout_ms": 150})), json!({})).await;
    let continuing = h.run(approval(json!({"timeout_ms": 150, "on_timeout": "continue"})), json!({})).await;
    assert_eq!((failing.status, continuing.status), (ExecutionStatus::Waiting, ExecutionStatus::Waiting));

    let failed = finished(&h, failing.id).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    assert!(failed.error.as_deref().unwrap().contains("nobody resumed it within 150 ms"), "{:?}", failed.error);
    let went_on = finished(&h, continuing.id).await;
    assert_eq!(went_on.status, ExecutionStatus::Succeeded, "{:?}", went_on.error);
    assert_eq!(output_of(&h, continuing.id, "after").await, Some(json!({"text": "{\"timed_out\": true}"})));
}

#[tokio::test]
async fn a_failing_branch_cancels_the_wait_and_a_parked_run_is_cancelled_at_once() {
    let h = harness(|_| {}).await;
    let broken = json!({"name": "broken", "nodes": [
        {"id": "approve", "type": "wait", "config": {}},
        {"id": "boom", "type": "code", "config": {"source": "throw new Error('no');"}}
    ]});
    let report = h.run(broken, json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(node(&report, "approve").status, NodeStatus::Cancelled);
    assert!(h.store.waits_of(report.id).await.unwrap().is_empty(), "the cancelled wait is gone");

    let parked = h.run(approval(json!({})), json!({})).await;
    assert_eq!(parked.status, ExecutionStatus::Waiting);
    let scope = Scope::Owner(h.owner.id);
    assert_eq!(h.store.request_cancel(scope, parked.id).await.unwrap(), ExecutionStatus::Cancelled);
    let runs = h.store.node_runs(scope, parked.id).await.unwrap();
    assert_eq!(runs.iter().find(|r| r.node_id == "approve").unwrap().status, NodeStatus::Cancelled);
    let late = h.engine.end_wait(scope, parked.id, Some("approve"), &WaitEnd::Resumed(json!({}))).await;
    assert!(matches!(late, Err(app::error::AppError::Conflict(_))), "{late:?}");
}
