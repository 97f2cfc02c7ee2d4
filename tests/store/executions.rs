//! Executions and node runs: created, recorded, finished, and read back for the history.

use super::*;

crate::store_suite!(
    executions_record_node_runs_in_batches_and_finish_atomically,
    the_workflow_list_shows_the_latest_execution,
    executions_filter_and_page_by_key,
    history_counts_stop_at_the_cap_and_group_by_hour,
    an_execution_of_a_version_that_does_not_exist_is_rejected,
    an_execution_started_at_once_is_created_running,
    executions_created_together_come_back_in_order,
    ended_items_are_recorded_by_the_lease_holder_read_back_and_forgotten,
);

async fn executions_record_node_runs_in_batches_and_finish_atomically(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "e@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Big")).await.unwrap();
    let new = new_execution(&workflow, json!({"who": "world"}), ExecutionStart::Queued);
    let execution = store.create_execution(&new).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Queued);
    assert_eq!(execution.input.to_value(), json!({"who": "world"}));
    let claimed = store.claim_executions(&lease(WORKER, 60_000), 1_000, 10, &[]).await.unwrap();
    assert_eq!(ids(&claimed), [execution.id]);
    assert_eq!((claimed[0].status, claimed[0].started_at), (ExecutionStatus::Running, Some(1_000)));

    // More rows than one INSERT statement carries.
    let queued: Vec<NodeRun> =
        (0..1_200).map(|i| node_run(execution.id, &format!("n{i:04}"), NodeStatus::Queued)).collect();
    assert!(store.record_node_runs(execution.id, WORKER, &queued).await.unwrap());
    let mut done = node_run(execution.id, "n0000", NodeStatus::Succeeded);
    done.output = Some(json!({"text": "Hello world", "n": [1, 2]}));
    done.started_at = Some(1_001);
    done.finished_at = Some(1_002);
    let mut failed = node_run(execution.id, "n0001", NodeStatus::Failed);
    failed.attempt = 3;
    failed.error = Some("timed out after 50 ms".into());
    store
        .finish_execution(
            execution.id,
            WORKER,
            &[done.clone(), failed.clone()],
            &ExecutionOutcome {
                status: ExecutionStatus::Failed,
                error: Some("node n0001 failed".into()),
                finished_at: 1_003,
            },
        )
        .await
        .unwrap();

    let scope = Scope::Owner(owner.id);
    let finished = store.execution(scope, execution.id).await.unwrap();
    assert_eq!(finished.status, ExecutionStatus::Failed);
    assert_eq!((finished.started_at, finished.finished_at), (Some(1_000), Some(1_003)));
    assert_eq!(finished.error.as_deref(), Some("node n0001 failed"));
    let runs = store.node_runs(scope, execution.id).await.unwrap();
    assert_eq!(runs.len(), 1_200);
    assert!(runs.contains(&done), "the upsert replaced the queued row");
    assert!(runs.contains(&failed));
    assert_eq!(runs.iter().filter(|r| r.status == NodeStatus::Queued).count(), 1_198);

    let stranger = user(store.as_ref(), "x@example.com").await;
    assert_eq!(
        store.node_runs(Scope::Owner(stranger.id), execution.id).await.unwrap_err(),
        AppError::NotFound("execution".into())
    );
}

async fn the_workflow_list_shows_the_latest_execution(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "l@example.com").await;
    let ran = store.create_workflow(owner.id, &definition("Ran")).await.unwrap();
    store.create_workflow(owner.id, &definition("Never ran")).await.unwrap();
    start(store.as_ref(), &ran, json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let latest = start(store.as_ref(), &ran, json!({})).await;
    store
        .finish_execution(
            latest.id,
            WORKER,
            &[],
            &ExecutionOutcome { status: ExecutionStatus::Succeeded, error: None, finished_at: 5 },
        )
        .await
        .unwrap();

    let page = store.list_workflows(Scope::Owner(owner.id), None, None, 50).await.unwrap();
    let by_name = |name: &str| page.items.iter().find(|w| w.name == name).unwrap().clone();
    let last = by_name("Ran").last_execution.expect("Ran has executions");
    assert_eq!((last.id, last.status), (latest.id, ExecutionStatus::Succeeded));
    assert_eq!(by_name("Never ran").last_execution, None);
}

async fn executions_filter_and_page_by_key(store: Arc<dyn Store>) {
    let alice = user(store.as_ref(), "a@example.com").await;
    let bob = user(store.as_ref(), "b@example.com").await;
    let first = store.create_workflow(alice.id, &definition("First")).await.unwrap();
    let second = store.create_workflow(alice.id, &definition("Second")).await.unwrap();
    let bobs = store.create_workflow(bob.id, &definition("Bob's")).await.unwrap();
    let mut failed = Vec::new();
    for i in 0..6 {
        let workflow = if i % 2 == 0 { &first } else { &second };
        let execution = start(store.as_ref(), workflow, json!({"i": i})).await;
        if i < 3 {
            let outcome =
                ExecutionOutcome { status: ExecutionStatus::Failed, error: Some("boom".into()), finished_at: 9 };
            store.finish_execution(execution.id, WORKER, &[], &outcome).await.unwrap();
            failed.push(execution.id);
        }
    }
    start(store.as_ref(), &bobs, json!({})).await;

    let list = |scope, filter: ExecutionFilter, after, limit| {
        let store = store.clone();
        async move { store.list_executions(scope, &filter, after, limit).await.unwrap() }
    };
    let alices = Scope::Owner(alice.id);
    assert_eq!(list(alices, ExecutionFilter::default(), None, 50).await.items.len(), 6);
    assert_eq!(list(Scope::Everyone, ExecutionFilter::default(), None, 50).await.items.len(), 7);
    let by_bob = ExecutionFilter { owner_id: Some(bob.id), ..Default::default() };
    assert_eq!(list(Scope::Everyone, by_bob.clone(), None, 50).await.items.len(), 1);
    assert!(list(alices, by_bob, None, 50).await.items.is_empty(), "a filter cannot widen the scope");

    let only_failed = ExecutionFilter { status: Some(ExecutionStatus::Failed), ..Default::default() };
    let mut ids: Vec<_> = list(alices, only_failed, None, 50).await.items.iter().map(|e| e.id).collect();
    ids.reverse();
    assert_eq!(ids, failed, "newest first");
    let of_first = ExecutionFilter { workflow_id: Some(first.id), ..Default::default() };
    assert_eq!(list(alices, of_first, None, 50).await.items.len(), 3);
    let in_the_future = ExecutionFilter { from: Some(i64::MAX - 1), ..Default::default() };
    assert!(list(alices, in_the_future, None, 50).await.items.is_empty());

    let page1 = list(alices, ExecutionFilter::default(), None, 4).await;
    let after = Cursor::decode(page1.next.as_deref().expect("a second page")).unwrap();
    let page2 = list(alices, ExecutionFilter::default(), Some(after), 4).await;
    assert_eq!((page1.items.len(), page2.items.len(), page2.next), (4, 2, None));
    assert!(page1.items.iter().all(|a| page2.items.iter().all(|b| a.id != b.id)));
}

async fn history_counts_stop_at_the_cap_and_group_by_hour(store: Arc<dyn Store>) {
    let alice = user(store.as_ref(), "a@example.com").await;
    let bob = user(store.as_ref(), "b@example.com").await;
    let first = store.create_workflow(alice.id, &definition("First")).await.unwrap();
    let bobs = store.create_workflow(bob.id, &definition("Bob's")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let execution = start(store.as_ref(), &first, json!({"i": i})).await;
        if i < 2 {
            let outcome = ExecutionOutcome { status: ExecutionStatus::Failed, error: None, finished_at: 9 };
            store.finish_execution(execution.id, WORKER, &[], &outcome).await.unwrap();
        }
        ids.push(execution.id);
    }
    start(store.as_ref(), &bobs, json!({})).await;
    let alices = Scope::Owner(alice.id);
    let all = ExecutionFilter::default();
    assert_eq!(store.count_executions_up_to(alices, &all, 100).await.unwrap(), 5);
    assert_eq!(store.count_executions_up_to(Scope::Everyone, &all, 100).await.unwrap(), 6);
    assert_eq!(store.count_executions_up_to(Scope::Everyone, &all, 3).await.unwrap(), 3, "counting stops at the cap");
    let failed = ExecutionFilter { status: Some(ExecutionStatus::Failed), ..Default::default() };
    assert_eq!(store.count_executions_up_to(alices, &failed, 100).await.unwrap(), 2);

    // All were created just now: one hour, two statuses (queued ones count as queued).
    let per_hour = store.executions_per_hour(alices, &all).await.unwrap();
    let hour = per_hour[0].hour;
    assert_eq!(hour % 3_600_000, 0);
    let counts: Vec<(ExecutionStatus, i64)> = per_hour.iter().map(|c| (c.status, c.count)).collect();
    assert!(per_hour.iter().all(|c| c.hour == hour), "{per_hour:?}");
    assert_eq!(counts.iter().map(|c| c.1).sum::<i64>(), 5);
    assert!(counts.contains(&(ExecutionStatus::Failed, 2)), "{counts:?}");

    // Names of several workflows in one call, within the scope.
    let mut names = store.workflow_names(alices, &[first.id, bobs.id, 999_999]).await.unwrap();
    names.sort();
    assert_eq!(names, vec![(first.id, "First".to_string())], "bob's is outside alice's scope");
    assert_eq!(store.workflow_names(Scope::Everyone, &[first.id, bobs.id]).await.unwrap().len(), 2);
    assert!(store.workflow_names(alices, &[]).await.unwrap().is_empty());
}

async fn an_execution_of_a_version_that_does_not_exist_is_rejected(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "v@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("One version")).await.unwrap();
    let error = store
        .create_execution(&NewExecution {
            workflow_id: workflow.id,
            version: 7,
            owner_id: owner.id,
            trigger: Trigger::Api,
            input: json!(null),
            start: ExecutionStart::Queued,
            parent: None,
        })
        .await
        .unwrap_err();
    assert_eq!(error, AppError::NotFound("workflow version".into()));
}

async fn an_execution_started_at_once_is_created_running(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "now@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Now")).await.unwrap();
    let new = NewExecution {
        workflow_id: workflow.id,
        version: 1,
        owner_id: owner.id,
        trigger: Trigger::Webhook,
        input: json!({"x": 1}),
        start: ExecutionStart::Running { lease: lease(WORKER, 60_000), started_at: 42 },
        parent: None,
    };
    let execution = store.create_execution(&new).await.unwrap();
    assert_eq!(
        (execution.status, execution.started_at, execution.created_at),
        (ExecutionStatus::Running, Some(42), 42)
    );
    // Leased to its creator: nobody else may claim it before the lease expires.
    assert!(store.claim_executions(&lease("other", 90_000), 59_999, 10, &[]).await.unwrap().is_empty());
    assert_eq!(store.next_claimable_at("other", &[]).await.unwrap(), Some(60_000));
    assert_eq!(store.next_claimable_at(WORKER, &[]).await.unwrap(), None, "its own leases are not counted");
}

async fn executions_created_together_come_back_in_order(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "o@example.com").await;
    let first = store.create_workflow(owner.id, &definition("First")).await.unwrap();
    let second = store.create_workflow(owner.id, &definition("Second")).await.unwrap();
    // More than one INSERT carries, alternating workflows and kinds of start.
    let asked: Vec<NewExecution> = (0..250)
        .map(|i| {
            let workflow = if i % 3 == 0 { &first } else { &second };
            let start = if i % 2 == 0 {
                ExecutionStart::Queued
            } else {
                ExecutionStart::Running { lease: lease(WORKER, 60_000), started_at: 1_000 + i }
            };
            new_execution(workflow, json!({ "i": i }), start)
        })
        .collect();
    let created = store.create_executions(&asked).await.unwrap();
    assert_eq!(created.len(), asked.len());
    for (i, (asked, created)) in asked.iter().zip(&created).enumerate() {
        assert_eq!(
            (created.workflow_id, &created.input.to_value()),
            (asked.workflow_id, &json!({ "i": i })),
            "row {i}"
        );
        let running = matches!(asked.start, ExecutionStart::Running { .. });
        assert_eq!(created.status == ExecutionStatus::Running, running, "row {i}");
    }
    assert!(created.windows(2).all(|pair| pair[0].id < pair[1].id));
    // One unknown version fails the whole group, and nothing of it is written.
    let mut bad = asked[..3].to_vec();
    bad[1].version = 99;
    assert_eq!(store.create_executions(&bad).await.unwrap_err(), AppError::NotFound("workflow version".into()));
    let all = store.list_executions(Scope::Everyone, &ExecutionFilter::default(), None, 500).await.unwrap();
    assert_eq!(all.items.len(), 250);
}

async fn ended_items_are_recorded_by_the_lease_holder_read_back_and_forgotten(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "items@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Items")).await.unwrap();
    let execution = store.create_execution(&new_execution(&workflow, json!({}), ExecutionStart::Queued)).await.unwrap();
    store.claim_executions(&lease(WORKER, 60_000), 1_000, 10, &[]).await.unwrap();
    let item = |node: &str, index: usize, output: serde_json::Value, failed: bool| NodeItem {
        execution_id: execution.id,
        node_id: node.into(),
        index,
        output,
        failed,
        attempt: 1,
    };
    // More than one INSERT carries, and one item recorded twice (the second wins).
    let mut items: Vec<NodeItem> = (0..1_200).map(|i| item("each", i, json!({"n": i}), false)).collect();
    items.push(item("other", 0, json!({"error": "timed out"}), true));
    assert!(store.record_node_items(execution.id, WORKER, &items).await.unwrap());
    let mut again = item("each", 7, json!({"n": "seven"}), false);
    again.attempt = 2;
    assert!(store.record_node_items(execution.id, WORKER, std::slice::from_ref(&again)).await.unwrap());

    let read = store.node_items_of(execution.id).await.unwrap();
    assert_eq!(read.len(), 1_201);
    assert!(read.contains(&again));
    assert!(read.contains(&item("each", 1_199, json!({"n": 1_199}), false)));
    assert!(read.contains(&item("other", 0, json!({"error": "timed out"}), true)));

    // Another process (its lease taken over) writes nothing.
    assert!(!store.record_node_items(execution.id, "someone-else", &[item("each", 0, json!(0), false)]).await.unwrap());
    assert!(store.node_items_of(execution.id).await.unwrap().contains(&item("each", 0, json!({"n": 0}), false)));
    // Items of another execution are refused.
    let mut stray = item("each", 0, json!(0), false);
    stray.execution_id += 1;
    assert!(matches!(store.record_node_items(execution.id, WORKER, &[stray]).await, Err(AppError::BadRequest(_))));

    // An agent's steps stay when the for_each nodes' items go.
    let step = item("agent", 0, json!({"kind": "failed", "error": "x"}), true);
    assert!(store.record_node_items(execution.id, WORKER, std::slice::from_ref(&step)).await.unwrap());
    store.forget_node_items(execution.id, &["each".to_string(), "other".to_string()]).await.unwrap();
    assert_eq!(store.node_items_of(execution.id).await.unwrap(), [step]);
    store.forget_node_items(execution.id, &[]).await.unwrap();
    assert_eq!(store.node_items_of(execution.id).await.unwrap().len(), 1);
}
