//! Runs that go their whole way: branches, parallelism and its bounds,
//! timeouts, failures and retries.

use super::*;

#[tokio::test]
async fn the_documented_example_runs_and_takes_the_right_branch() {
    let h = harness(|_| {}).await;
    let (base, _) = upstream().await;
    let report = h
        .run(
            json!({"name": "Summarize a page", "nodes": [
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "{{ input.url }}"}},
                {"id": "ok", "type": "condition", "config": {"expr": "nodes.fetch.status == 200"}},
                {"id": "sum", "type": "llm", "config": {"model": "m", "prompt": "Summarize: {{ nodes.fetch.body.title }}"}},
                {"id": "oops", "type": "template", "config": {"template": "fetch failed: {{ nodes.fetch.status }}"}}
            ], "edges": [
                {"from": "fetch", "to": "ok"},
                {"from": "ok", "to": "sum", "branch": "true"},
                {"from": "ok", "to": "oops", "branch": "false"}
            ]}),
            json!({"url": format!("{base}/ok")}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(node(&report, "fetch").output.as_ref().unwrap()["body"]["title"], "Hello");
    assert_eq!(node(&report, "ok").output, Some(json!({"result": true})));
    let sum = node(&report, "sum").output.clone().unwrap();
    assert_eq!((sum["text"].as_str(), sum["cached"].as_bool()), (Some("echo: Summarize: Hello"), Some(false)));
    assert_eq!(sum["usage"]["total_tokens"], 5);
    assert_eq!(node(&report, "oops").status, NodeStatus::Skipped);

    // What was reported is what was stored.
    let stored = h.store.node_runs(Scope::Everyone, report.id).await.unwrap();
    assert_eq!(stored.len(), 4);
    for run in stored {
        assert_eq!(run.status, node(&report, &run.node_id).status, "{}", run.node_id);
        assert_eq!(run.output, node(&report, &run.node_id).output, "{}", run.node_id);
    }
    let execution = h.store.execution(Scope::Everyone, report.id).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded);
    assert!(execution.finished_at.is_some());
}

#[tokio::test]
async fn independent_nodes_run_at_the_same_time() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "fan out", "nodes": [
                {"id": "a", "type": "delay", "config": {"ms": 300}},
                {"id": "b", "type": "delay", "config": {"ms": 300}},
                {"id": "c", "type": "delay", "config": {"ms": 300}},
                {"id": "all", "type": "merge"}
            ], "edges": [{"from": "a", "to": "all"}, {"from": "b", "to": "all"}, {"from": "c", "to": "all"}]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    // Every branch started before any finished: their spans overlap.
    let starts: Vec<&str> = ["a", "b", "c"].iter().map(|id| node(&report, id).started_at.as_deref().unwrap()).collect();
    let ends: Vec<&str> = ["a", "b", "c"].iter().map(|id| node(&report, id).finished_at.as_deref().unwrap()).collect();
    assert!(starts.iter().max() < ends.iter().min(), "starts {starts:?} ends {ends:?}");
    let merged = node(&report, "all").output.clone().unwrap();
    assert_eq!(merged.as_object().unwrap().len(), 3);
}

#[tokio::test]
async fn the_per_execution_bound_is_respected() {
    let h = harness(|s| s.max_parallel_nodes = 1).await;
    let report = h
        .run(
            json!({"name": "serial", "nodes": [
                {"id": "a", "type": "delay", "config": {"ms": 50}},
                {"id": "b", "type": "delay", "config": {"ms": 50}}
            ]}),
            json!({}),
        )
        .await;
    let (a, b) = (node(&report, "a"), node(&report, "b"));
    let (first, second) = if a.started_at < b.started_at { (a, b) } else { (b, a) };
    assert!(first.finished_at.as_deref().unwrap() <= second.started_at.as_deref().unwrap(), "{report:?}");
}

#[tokio::test]
async fn a_node_that_times_out_fails_the_run_and_cancels_the_rest() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "too slow", "nodes": [
                {"id": "slow", "type": "delay", "config": {"ms": 5000}, "timeout_ms": 50},
                {"id": "next", "type": "template", "config": {"template": "never"}}
            ], "edges": [{"from": "slow", "to": "next"}]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert_eq!(report.error.as_deref(), Some("node `slow` failed: timed out after 50 ms"));
    assert_eq!(node(&report, "slow").error.as_deref(), Some("timed out after 50 ms"));
    assert_eq!(node(&report, "next").status, NodeStatus::Cancelled);
}

#[tokio::test]
async fn a_failing_node_under_fail_cancels_running_siblings() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "boom", "nodes": [
                {"id": "boom", "type": "code", "config": {"source": "throw new Error('kaboom')"}},
                {"id": "sleeper", "type": "delay", "config": {"ms": 5000}}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    assert!(node(&report, "boom").error.as_deref().unwrap().contains("kaboom"));
    assert_eq!(node(&report, "sleeper").status, NodeStatus::Cancelled);
}

#[tokio::test]
async fn retries_run_until_an_attempt_succeeds() {
    let h = harness(|_| {}).await;
    let (base, calls) = upstream().await;
    let report = h
        .run(
            json!({"name": "sluggish", "nodes": [
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": format!("{base}/sluggish")},
                 "timeout_ms": 200, "retry": {"max_attempts": 3, "backoff_ms": 10}}
            ]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{report:?}");
    assert_eq!(node(&report, "fetch").attempts, 3);
    assert_eq!(node(&report, "fetch").output.as_ref().unwrap()["body"], "awake");

    let report = h
        .run(
            json!({"name": "flaky", "nodes": [
                {"id": "call", "type": "code", "config": {"source": "return 1"}},
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": format!("{base}/flaky")},
                 "retry": {"max_attempts": 3, "backoff_ms": 10}},
                {"id": "check", "type": "condition", "config": {"expr": "nodes.fetch.status == 200"}}
            ], "edges": [{"from": "call", "to": "fetch"}, {"from": "fetch", "to": "check"}]}),
            json!({}),
        )
        .await;
    // An HTTP 503 is an answer, not a failure; the condition sees it.
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(node(&report, "check").output, Some(json!({"result": false})));

    let report = h
        .run(
            json!({"name": "flaky code", "nodes": [
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": format!("{base}/flaky")}},
                {"id": "insist", "type": "code", "config": {"source": "if (nodes.fetch.status != 200) throw new Error('not yet'); return nodes.fetch.body"},
                 "retry": {"max_attempts": 3, "backoff_ms": 5}}
            ], "edges": [{"from": "fetch", "to": "insist"}]}),
            json!({}),
        )
        .await;
    // The code node's input does not change between attempts, so it fails all three.
    assert_eq!(node(&report, "insist").attempts, 3);
    assert_eq!(node(&report, "insist").status, NodeStatus::Failed);
}

#[tokio::test]
async fn a_failure_under_continue_reaches_downstream_as_an_error() {
    let h = harness(|_| {}).await;
    let report = h
        .run(
            json!({"name": "soldier on", "nodes": [
                {"id": "bad", "type": "code", "config": {"source": "throw new Error('nope')"}, "on_error": "continue"},
                {"id": "report", "type": "template", "config": {"template": "error was: {{ nodes.bad.error }}"}}
            ], "edges": [{"from": "bad", "to": "report"}]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert_eq!(node(&report, "bad").status, NodeStatus::Failed);
    let text = node(&report, "report").output.as_ref().unwrap()["text"].as_str().unwrap().to_string();
    assert!(text.starts_with("error was: script error") && text.contains("nope"), "{text}");
}

#[tokio::test]
async fn waiting_nodes_hold_no_slot_so_others_run_meanwhile() {
    let h = harness(|s| s.max_running_nodes = 2).await;
    let sleeper =
        h.version(json!({"name": "sleep", "nodes": [{"id": "nap", "type": "delay", "config": {"ms": 3000}}]})).await;
    let mut sleeping = Vec::new();
    for _ in 0..4 {
        sleeping
            .push(h.engine.start(StartRequest::new(&sleeper, h.owner.id, Trigger::Manual, json!({}))).await.unwrap());
    }
    // Four sleepers on two slots: a quick run still gets a slot at once.
    let started = std::time::Instant::now();
    let quick = h
        .run(
            json!({"name": "quick", "nodes": [{"id": "hi", "type": "template", "config": {"template": "hi"}}]}),
            json!({}),
        )
        .await;
    assert_eq!(quick.status, ExecutionStatus::Succeeded);
    assert!(started.elapsed() < Duration::from_millis(1500), "the quick run waited {:?}", started.elapsed());
    for handle in sleeping {
        assert_eq!(handle.done.await.unwrap().unwrap().status, ExecutionStatus::Succeeded);
    }
}

#[tokio::test]
async fn one_users_runs_cannot_take_every_node_slot() {
    // Four slots, half of them at most for one user.
    let h = harness(|s| {
        s.max_running_nodes = 4;
        s.max_user_share_percent = 50;
    })
    .await;
    let (base, _) = upstream().await;
    let busy = h
        .version(json!({"name": "busy", "nodes": [
            {"id": "get", "type": "http", "config": {"method": "GET", "url": format!("{base}/slow")}}
        ]}))
        .await;
    let mut hogging = Vec::new();
    for _ in 0..6 {
        hogging.push(h.engine.start(StartRequest::new(&busy, h.owner.id, Trigger::Manual, json!({}))).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (other, version) = other_users_quick_workflow(&h).await;
    let started = std::time::Instant::now();
    let report = h.engine.run(StartRequest::new(&version, other.id, Trigger::Manual, json!({}))).await.unwrap();
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert!(started.elapsed() < Duration::from_millis(1000), "the other user waited {:?}", started.elapsed());
    for handle in hogging {
        assert_eq!(handle.done.await.unwrap().unwrap().status, ExecutionStatus::Succeeded);
    }
}

#[tokio::test]
async fn one_users_queue_of_runs_cannot_keep_another_users_run_waiting() {
    // Room for four executions, half of them at most for one user.
    let h = harness(|s| {
        s.queue.max_running_executions = 4;
        s.max_user_share_percent = 50;
    })
    .await;
    // The claimer, which runs the queued executions as room frees up.
    h.engine.spawn_workers(true);
    let sleeper =
        h.version(json!({"name": "sleeper", "nodes": [{"id": "nap", "type": "delay", "config": {"ms": 1000}}]})).await;
    let mut queued = Vec::new();
    for _ in 0..6 {
        queued.push(h.engine.start(StartRequest::new(&sleeper, h.owner.id, Trigger::Manual, json!({}))).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut running = 0;
    for handle in &queued {
        let execution = h.store.execution(Scope::Everyone, handle.execution.id).await.unwrap();
        running += usize::from(execution.status == ExecutionStatus::Running);
    }
    assert_eq!(running, 2, "two run, four wait in the queue (the claimer passed them over)");
    assert_eq!(h.engine.running_executions(), 2);

    let (other, version) = other_users_quick_workflow(&h).await;
    let started = std::time::Instant::now();
    let report = h.engine.run(StartRequest::new(&version, other.id, Trigger::Manual, json!({}))).await.unwrap();
    assert_eq!(report.status, ExecutionStatus::Succeeded);
    assert!(started.elapsed() < Duration::from_millis(700), "the other user waited {:?}", started.elapsed());

    // The queued runs are claimed as the first ones end, two at a time.
    for handle in queued {
        assert_eq!(handle.done.await.unwrap().unwrap().status, ExecutionStatus::Succeeded);
    }
}

/// Another user, and a one-template workflow of theirs.
async fn other_users_quick_workflow(h: &Harness) -> (User, WorkflowVersion) {
    let other = h.store.create_user("other@example.com", None, false).await.unwrap();
    let quick: WorkflowDefinition = serde_json::from_value(
        json!({"name": "quick", "nodes": [{"id": "hi", "type": "template", "config": {"template": "hi"}}]}),
    )
    .unwrap();
    let created = h.store.create_workflow(other.id, &quick).await.unwrap();
    (other, h.store.workflow_version(Scope::Everyone, created.id, 1).await.unwrap())
}
