//! Retention: only finished executions go, in batches.

use super::*;

crate::store_suite!(retention_deletes_only_finished_executions_in_batches,);

async fn retention_deletes_only_finished_executions_in_batches(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "r@example.com").await;
    let busy = store.create_workflow(owner.id, &definition("Busy")).await.unwrap();
    let quiet = store.create_workflow(owner.id, &definition("Quiet")).await.unwrap();
    let done = ExecutionOutcome { status: ExecutionStatus::Succeeded, error: None, finished_at: 1 };
    let mut busy_runs = Vec::new();
    for _ in 0..5 {
        let e = start(store.as_ref(), &busy, json!({})).await;
        assert!(store.record_node_runs(e.id, WORKER, &[node_run(e.id, "greet", NodeStatus::Succeeded)]).await.unwrap());
        store.finish_execution(e.id, WORKER, &[], &done).await.unwrap();
        busy_runs.push(e.id);
    }
    let running = start(store.as_ref(), &busy, json!({})).await;
    let quiet_run = start(store.as_ref(), &quiet, json!({})).await;
    store.finish_execution(quiet_run.id, WORKER, &[], &done).await.unwrap();

    // Keep the newest two of each workflow (the running one counts, and stays):
    // four of Busy's finished runs go, in batches of two.
    assert_eq!(store.workflows_with_more_executions_than(2).await.unwrap(), [busy.id]);
    assert_eq!(store.delete_executions_beyond(busy.id, 2, 2).await.unwrap(), 2);
    assert_eq!(store.delete_executions_beyond(busy.id, 2, 2).await.unwrap(), 2);
    assert_eq!(store.delete_executions_beyond(busy.id, 2, 2).await.unwrap(), 0);
    assert_eq!(store.delete_executions_beyond(quiet.id, 2, 2).await.unwrap(), 0);
    let left: Vec<_> = store
        .list_executions(Scope::Everyone, &ExecutionFilter::default(), None, 50)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(left.contains(&running.id) && left.contains(&quiet_run.id), "{left:?}");
    assert!(left.contains(&busy_runs[4]) && !left.contains(&busy_runs[0]), "the oldest go first: {left:?}");
    assert_eq!(
        store.node_runs(Scope::Everyone, busy_runs[0]).await.unwrap_err(),
        AppError::NotFound("execution".into())
    );

    // Everything finished before "later" goes; the running execution stays.
    let later = i64::MAX / 2;
    assert_eq!(store.delete_executions_before(later, 100).await.unwrap(), 2);
    store.compact().await.unwrap();
    let left = store.list_executions(Scope::Everyone, &ExecutionFilter::default(), None, 50).await.unwrap().items;
    assert_eq!(left.iter().map(|e| e.id).collect::<Vec<_>>(), [running.id]);
}
