//! The queue: claims, leases, takeovers and the group commit's fencing.

use super::*;

crate::store_suite!(
    each_queued_execution_is_claimed_once,
    the_queued_runs_of_skipped_owners_wait_but_their_takeovers_do_not,
    an_expired_lease_is_taken_over_and_its_old_holder_is_fenced_off,
    leases_are_renewed_released_and_carry_cancel_requests,
    expired_leases_make_running_executions_claimable,
    a_group_commit_writes_only_the_executions_still_held,
);

async fn each_queued_execution_is_claimed_once(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "q@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Queued")).await.unwrap();
    assert_eq!(store.next_claimable_at("a", &[]).await.unwrap(), None, "an empty queue");
    let mut queued = Vec::new();
    for _ in 0..7 {
        queued.push(queue(store.as_ref(), &workflow).await);
    }
    assert_eq!(store.next_claimable_at("a", &[]).await.unwrap(), Some(0), "claimable now");
    // Three claimers at once, four rows each at most: every row goes to exactly one.
    let claims = futures::future::join_all(["a", "b", "c"].map(|who| {
        let store = store.clone();
        async move { store.claim_executions(&lease(who, 10_000), 5_000, 4, &[]).await.unwrap() }
    }))
    .await;
    let mut all: Vec<Execution> = claims.iter().flatten().cloned().collect();
    assert_eq!(ids(&all), ids(&queued), "all seven claimed, none twice: {claims:?}");
    all.retain(|e| e.status != ExecutionStatus::Running);
    assert!(all.is_empty(), "claimed executions are running");
    assert!(store.claim_executions(&lease("d", 10_000), 5_000, 4, &[]).await.unwrap().is_empty());
    assert_eq!(store.node_runs_of(&ids(&queued)).await.unwrap(), []);
}

async fn the_queued_runs_of_skipped_owners_wait_but_their_takeovers_do_not(store: Arc<dyn Store>) {
    let busy = user(store.as_ref(), "busy@example.com").await;
    let other = user(store.as_ref(), "other@example.com").await;
    let busy_flow = store.create_workflow(busy.id, &definition("Busy")).await.unwrap();
    let other_flow = store.create_workflow(other.id, &definition("Other")).await.unwrap();
    // The busy user's run of a dead process, then their queue, then the other user's run.
    let start = ExecutionStart::Running { lease: lease("dead", 1_000), started_at: 500 };
    let orphan = store.create_execution(&new_execution(&busy_flow, json!({}), start)).await.unwrap();
    let mut busy_queue = Vec::new();
    for _ in 0..3 {
        busy_queue.push(queue(store.as_ref(), &busy_flow).await);
    }
    let others = queue(store.as_ref(), &other_flow).await;

    assert_eq!(store.next_claimable_at("a", &[busy.id]).await.unwrap(), Some(0), "the other user's run");
    let claimed = store.claim_executions(&lease("a", 10_000), 5_000, 10, &[busy.id]).await.unwrap();
    assert_eq!(ids(&claimed), [orphan.id, others.id], "a takeover whoever owns it, then the queue past the busy user");
    assert_eq!(
        store.next_claimable_at("a", &[busy.id]).await.unwrap(),
        None,
        "only the skipped owner's queue is left: nothing to look at until their share frees up"
    );
    assert_eq!(store.next_claimable_at("a", &[]).await.unwrap(), Some(0));
    let claimed = store.claim_executions(&lease("a", 10_000), 5_000, 10, &[busy.id, other.id]).await.unwrap();
    assert!(claimed.is_empty(), "{claimed:?}");
    let claimed = store.claim_executions(&lease("a", 10_000), 5_000, 2, &[]).await.unwrap();
    assert_eq!(ids(&claimed), ids(&busy_queue[..2]), "in order once their owner has room");
}

async fn an_expired_lease_is_taken_over_and_its_old_holder_is_fenced_off(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "t@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Taken over")).await.unwrap();
    let start = ExecutionStart::Running { lease: lease("dead", 1_000), started_at: 500 };
    let execution = store.create_execution(&new_execution(&workflow, json!({}), start)).await.unwrap();
    assert!(store
        .record_node_runs(execution.id, "dead", &[node_run(execution.id, "greet", NodeStatus::Succeeded)])
        .await
        .unwrap());

    let waiting = queue(store.as_ref(), &workflow).await;
    let early = store.claim_executions(&lease("early", 9_000), 999, 1, &[]).await.unwrap();
    assert_eq!(ids(&early), [waiting.id], "the lease has not expired yet: only the queue is claimable");
    store.release_executions("early", &[waiting.id]).await.unwrap();
    // A takeover goes before the queue, however long the queue is.
    let claimed = store.claim_executions(&lease("heir", 9_000), 1_000, 1, &[]).await.unwrap();
    assert_eq!(ids(&claimed), [execution.id]);
    assert_eq!(claimed[0].started_at, Some(500), "a takeover keeps the start time");
    let recorded = store.node_runs_of(&[execution.id]).await.unwrap();
    assert_eq!(
        recorded.iter().map(|r| (r.node_id.as_str(), r.status)).collect::<Vec<_>>(),
        [("greet", NodeStatus::Succeeded)]
    );

    // The old holder wakes up: its renewal no longer holds the execution, it
    // cannot write node states over the heir's, and it cannot finish it.
    assert_eq!(store.renew_leases(&lease("dead", 20_000)).await.unwrap(), []);
    let stale = node_run(execution.id, "greet", NodeStatus::Failed);
    assert!(!store.record_node_runs(execution.id, "dead", std::slice::from_ref(&stale)).await.unwrap());
    assert_eq!(store.node_runs_of(&[execution.id]).await.unwrap()[0].status, NodeStatus::Succeeded);
    let error = store.record_node_runs(waiting.id, "heir", &[stale]).await.unwrap_err();
    assert!(matches!(error, AppError::BadRequest(_)), "states of one execution only: {error:?}");
    let outcome = ExecutionOutcome { status: ExecutionStatus::Failed, error: None, finished_at: 2_000 };
    let error = store.finish_execution(execution.id, "dead", &[], &outcome).await.unwrap_err();
    assert!(matches!(error, AppError::Conflict(_)), "{error:?}");
    assert_eq!(store.execution(Scope::Everyone, execution.id).await.unwrap().status, ExecutionStatus::Running);
    let outcome = ExecutionOutcome { status: ExecutionStatus::Succeeded, error: None, finished_at: 2_000 };
    store.finish_execution(execution.id, "heir", &[], &outcome).await.unwrap();
    assert_eq!(store.execution(Scope::Everyone, execution.id).await.unwrap().status, ExecutionStatus::Succeeded);
}

async fn leases_are_renewed_released_and_carry_cancel_requests(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "c@example.com").await;
    let stranger = user(store.as_ref(), "s@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Cancelled")).await.unwrap();
    let running = start(store.as_ref(), &workflow, json!({})).await;
    let waiting = queue(store.as_ref(), &workflow).await;

    let held = store.renew_leases(&lease(WORKER, i64::MAX / 4)).await.unwrap();
    assert_eq!(held, [HeldExecution { id: running.id, cancel_requested: false }]);

    // Someone else's execution is not found; a queued one is cancelled at once;
    // a running one is flagged for its process.
    let error = store.request_cancel(Scope::Owner(stranger.id), running.id).await.unwrap_err();
    assert_eq!(error, AppError::NotFound("execution".into()));
    assert_eq!(store.request_cancel(Scope::Owner(owner.id), waiting.id).await.unwrap(), ExecutionStatus::Cancelled);
    let cancelled = store.execution(Scope::Everyone, waiting.id).await.unwrap();
    assert_eq!(cancelled.status, ExecutionStatus::Cancelled);
    assert!(cancelled.finished_at.is_some());
    assert!(matches!(store.request_cancel(Scope::Everyone, waiting.id).await, Err(AppError::Conflict(_))));
    assert_eq!(store.request_cancel(Scope::Everyone, running.id).await.unwrap(), ExecutionStatus::Running);
    let held = store.renew_leases(&lease(WORKER, i64::MAX / 4)).await.unwrap();
    assert_eq!(held, [HeldExecution { id: running.id, cancel_requested: true }]);

    // Handed back (a shutdown): claimable by anyone at once.
    store.release_executions(WORKER, &[running.id]).await.unwrap();
    assert_eq!(store.renew_leases(&lease(WORKER, i64::MAX / 4)).await.unwrap(), []);
    assert_eq!(store.next_claimable_at(WORKER, &[]).await.unwrap(), Some(0));
    let claimed = store.claim_executions(&lease("next", 10_000), 5_000, 10, &[]).await.unwrap();
    assert_eq!(ids(&claimed), [running.id]);
}

async fn expired_leases_make_running_executions_claimable(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "x@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Restarted")).await.unwrap();
    let running = start(store.as_ref(), &workflow, json!({})).await;
    assert!(store.claim_executions(&lease("restarted", 10_000), 5_000, 10, &[]).await.unwrap().is_empty());
    assert_eq!(store.expire_leases().await.unwrap(), 1);
    let claimed = store.claim_executions(&lease("restarted", 10_000), 5_000, 10, &[]).await.unwrap();
    assert_eq!(ids(&claimed), [running.id]);
}

async fn a_group_commit_writes_only_the_executions_still_held(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "g@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Group")).await.unwrap();
    let mine = start(store.as_ref(), &workflow, json!({})).await;
    let lost = start(store.as_ref(), &workflow, json!({})).await;
    let finish = |id: ExecutionId, lease_owner: &str| Finish {
        id,
        lease_owner: lease_owner.into(),
        last_runs: vec![node_run(id, "greet", NodeStatus::Succeeded)],
        outcome: ExecutionOutcome { status: ExecutionStatus::Succeeded, error: None, finished_at: 7 },
    };
    let written = store.finish_executions(&[finish(mine.id, WORKER), finish(lost.id, "someone else")]).await.unwrap();
    assert_eq!(written, [true, false]);
    assert_eq!(store.execution(Scope::Everyone, mine.id).await.unwrap().status, ExecutionStatus::Succeeded);
    assert_eq!(store.node_runs(Scope::Everyone, mine.id).await.unwrap().len(), 1);
    assert_eq!(store.execution(Scope::Everyone, lost.id).await.unwrap().status, ExecutionStatus::Running);
    assert!(store.node_runs(Scope::Everyone, lost.id).await.unwrap().is_empty(), "nothing of it was written");
}
