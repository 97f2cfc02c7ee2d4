//! Runs paused at `wait` nodes: a wait is recorded by the lease holder, the
//! run parks, a wait ends once (a second resume is refused), and a wait ended
//! while the run still went on queues it again the moment it parks.

use super::*;
use app::model::node_config::OnTimeout;

crate::store_suite!(
    a_wait_ends_once_and_queues_its_parked_run,
    a_wait_ended_before_its_run_parks_queues_it_at_once,
    waits_time_out_in_deadline_order_and_cancelling_a_parked_run_cancels_its_waits,
);

fn wait(execution: ExecutionId, node: &str, deadline: Option<i64>, on_timeout: OnTimeout) -> Wait {
    Wait { execution_id: execution, node_id: node.into(), created_at: 1_000, deadline, on_timeout }
}

fn waiting(execution: ExecutionId, node: &str) -> NodeRun {
    let mut run = node_run(execution, node, NodeStatus::Waiting);
    run.started_at = Some(1_000);
    run.input = Some(json!({"draft": "text"}));
    run
}

async fn a_wait_ends_once_and_queues_its_parked_run(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "wait@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Approval")).await.unwrap();
    let execution = start(store.as_ref(), &workflow, json!({})).await;
    let approve = wait(execution.id, "approve", None, OnTimeout::Fail);
    // Only the lease holder records a wait.
    assert!(!store.add_wait("someone-else", &approve, &waiting(execution.id, "approve")).await.unwrap());
    assert!(store.add_wait(WORKER, &approve, &waiting(execution.id, "approve")).await.unwrap());
    assert_eq!(store.waits_of(execution.id).await.unwrap(), std::slice::from_ref(&approve));

    let done = node_run(execution.id, "draft", NodeStatus::Succeeded);
    assert_eq!(store.park_execution(execution.id, "someone-else", std::slice::from_ref(&done), 1).await.unwrap(), None);
    let parked = store.park_execution(execution.id, WORKER, std::slice::from_ref(&done), 1).await.unwrap();
    assert_eq!(parked, Some(ExecutionStatus::Waiting));
    let scope = Scope::Owner(owner.id);
    assert_eq!(store.execution(scope, execution.id).await.unwrap().status, ExecutionStatus::Waiting);
    // Parked: nobody claims it, however late it is.
    assert!(store.claim_executions(&lease("other", i64::MAX / 2), i64::MAX / 4, 10, &[]).await.unwrap().is_empty());

    // Someone else's run is not found, whatever waits in it.
    let stranger = user(store.as_ref(), "stranger@example.com").await;
    let payload = WaitEnd::Resumed(json!({"approved": true}));
    let refused = store.end_wait(Scope::Owner(stranger.id), execution.id, "approve", &payload).await;
    assert!(matches!(refused, Err(AppError::NotFound(_))), "{refused:?}");

    assert_eq!(store.end_wait(scope, execution.id, "approve", &payload).await.unwrap(), ExecutionStatus::Queued);
    let runs = store.node_runs(scope, execution.id).await.unwrap();
    let approved = runs.iter().find(|r| r.node_id == "approve").unwrap();
    assert_eq!((approved.status, approved.output.clone()), (NodeStatus::Succeeded, Some(json!({"approved": true}))));
    assert_eq!(approved.input, Some(json!({"draft": "text"})), "what it received is kept");
    assert!(runs.contains(&done));
    assert!(store.waits_of(execution.id).await.unwrap().is_empty());

    // Used twice: refused, and nothing changes.
    let again = store.end_wait(scope, execution.id, "approve", &WaitEnd::Resumed(json!({"approved": false}))).await;
    assert!(matches!(again, Err(AppError::Conflict(_))), "{again:?}");
    // Queued again: claimed like any queued run, with its states.
    let claimed = store.claim_executions(&lease("other", 60_000), 2_000, 10, &[]).await.unwrap();
    assert_eq!(ids(&claimed), [execution.id]);
    assert_eq!(claimed[0].started_at, Some(1), "it keeps its start");
}

async fn a_wait_ended_before_its_run_parks_queues_it_at_once(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "race@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Race")).await.unwrap();
    let execution = start(store.as_ref(), &workflow, json!({})).await;
    for node in ["a", "b"] {
        let (w, run) = (wait(execution.id, node, None, OnTimeout::Fail), waiting(execution.id, node));
        assert!(store.add_wait(WORKER, &w, &run).await.unwrap());
    }
    // Resumed while the run still goes on elsewhere in its graph: it stays running.
    let status = store.end_wait(Scope::Everyone, execution.id, "a", &WaitEnd::Resumed(json!({}))).await.unwrap();
    assert_eq!(status, ExecutionStatus::Running);
    // It parks waiting for two, one of which ended meanwhile: queued, not waiting.
    let parked = store.park_execution(execution.id, WORKER, &[], 2).await.unwrap();
    assert_eq!(parked, Some(ExecutionStatus::Queued));
    assert_eq!(store.waits_of(execution.id).await.unwrap().len(), 1, "`b` still waits");
}

async fn waits_time_out_in_deadline_order_and_cancelling_a_parked_run_cancels_its_waits(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "timeout@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Timeouts")).await.unwrap();
    assert_eq!(store.next_wait_deadline().await.unwrap(), None);
    let first = start(store.as_ref(), &workflow, json!({})).await;
    let second = start(store.as_ref(), &workflow, json!({})).await;
    let soon = wait(first.id, "soon", Some(5_000), OnTimeout::Fail);
    let later = wait(second.id, "later", Some(9_000), OnTimeout::Continue);
    let never = wait(second.id, "never", None, OnTimeout::Fail);
    for w in [&soon, &later, &never] {
        assert!(store.add_wait(WORKER, w, &waiting(w.execution_id, &w.node_id)).await.unwrap());
    }
    for execution in [&first, &second] {
        let waits = store.waits_of(execution.id).await.unwrap().len();
        store.park_execution(execution.id, WORKER, &[], waits).await.unwrap();
    }
    assert_eq!(store.next_wait_deadline().await.unwrap(), Some(5_000));
    assert!(store.waits_due(4_999, 10).await.unwrap().is_empty());
    assert_eq!(store.waits_due(10_000, 10).await.unwrap(), [soon.clone(), later.clone()]);

    // A timeout fails the node, or (on_timeout continue) lets it succeed.
    store.end_wait(Scope::Everyone, first.id, "soon", &WaitEnd::TimedOut).await.unwrap();
    store.end_wait(Scope::Everyone, second.id, "later", &WaitEnd::TimedOut).await.unwrap();
    let runs = store.node_runs(Scope::Everyone, first.id).await.unwrap();
    assert_eq!(runs[0].status, NodeStatus::Failed);
    assert_eq!(runs[0].error.as_deref(), Some("nobody resumed it within 4000 ms"));
    let runs = store.node_runs(Scope::Everyone, second.id).await.unwrap();
    let later_run = runs.iter().find(|r| r.node_id == "later").unwrap();
    assert_eq!((later_run.status, later_run.output.clone()), (NodeStatus::Succeeded, Some(json!({"timed_out": true}))));
    assert_eq!(store.next_wait_deadline().await.unwrap(), None, "`never` has no deadline");

    // The second run was queued by its timeout; the first too. Park the second
    // again waiting for `never` only, then cancel it: the wait goes with it.
    store.claim_executions(&lease(WORKER, i64::MAX / 4), 20_000, 10, &[]).await.unwrap();
    assert_eq!(store.park_execution(second.id, WORKER, &[], 1).await.unwrap(), Some(ExecutionStatus::Waiting));
    assert_eq!(store.request_cancel(Scope::Owner(owner.id), second.id).await.unwrap(), ExecutionStatus::Cancelled);
    assert!(store.waits_of(second.id).await.unwrap().is_empty());
    let never_run = store.node_runs(Scope::Everyone, second.id).await.unwrap();
    let never_run = never_run.iter().find(|r| r.node_id == "never").unwrap();
    assert_eq!(never_run.status, NodeStatus::Cancelled);
    let ended = store.end_wait(Scope::Everyone, second.id, "never", &WaitEnd::Resumed(json!({}))).await;
    assert!(matches!(ended, Err(AppError::Conflict(_))), "{ended:?}");
}
