//! The history chart's counts (kept in a rollup as runs end and go) against
//! the runs themselves: per scope, owner, workflow, status and range, after
//! runs end, are cancelled, and are deleted with their workflow or by age.

use std::collections::BTreeMap;

use super::*;

crate::store_suite!(the_chart_counts_what_the_history_lists_as_runs_end_and_go);

const HOUR: i64 = 3_600_000;
/// An hour long past, where the runs of this test are created.
const BASE: i64 = 400_000 * HOUR;

/// Starts a run created at `at`, and ends it with `status` unless it is `Running`.
async fn run_at(store: &dyn Store, workflow: &WorkflowSummary, at: i64, status: ExecutionStatus) -> Execution {
    let start = ExecutionStart::Running { lease: lease(WORKER, i64::MAX / 4), started_at: at };
    let execution = store.create_execution(&new_execution(workflow, json!({}), start)).await.unwrap();
    if status != ExecutionStatus::Running {
        end(store, &execution, status).await;
    }
    execution
}

/// Ends a running run (leased to `WORKER`) with `status`.
async fn end(store: &dyn Store, execution: &Execution, status: ExecutionStatus) {
    let finish = Finish {
        id: execution.id,
        lease_owner: WORKER.into(),
        last_runs: Vec::new(),
        outcome: ExecutionOutcome { status, error: None, finished_at: execution.created_at + 5 },
    };
    assert_eq!(store.finish_executions(&[finish]).await.unwrap(), [true]);
}

/// The chart, and the same counted from the listed runs: they must agree.
async fn assert_chart_agrees(store: &dyn Store, scope: Scope, filter: &ExecutionFilter) {
    let listed = store.list_executions(scope, filter, None, MAX_PAGE_SIZE).await.unwrap();
    assert!(listed.next.is_none(), "the test's runs fit one page");
    let mut expected: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for execution in &listed.items {
        *expected.entry((execution.created_at.div_euclid(HOUR) * HOUR, execution.status.as_str())).or_default() += 1;
    }
    let chart = store.executions_per_hour(scope, filter).await.unwrap();
    let charted: BTreeMap<(i64, &str), i64> =
        chart.iter().map(|count| ((count.hour, count.status.as_str()), count.count)).collect();
    assert_eq!(charted, expected, "{scope:?} {filter:?}");
    assert_eq!(chart.len(), charted.len(), "one count per hour and status");
}

/// Every combination of scope and filter the history can ask for.
async fn assert_all_agree(store: &dyn Store, alice: &User, bob: &User, workflows: &[WorkflowId]) {
    let ranges = [
        (None, None),
        (Some(BASE), Some(BASE + 3 * HOUR)),
        // Not on the hour: the part-hours at both ends are counted run by run.
        (Some(BASE + 10 * 60_000), Some(BASE + 2 * HOUR + 5 * 60_000)),
        (Some(BASE + 60_000), Some(BASE + 30 * 60_000)),
        (Some(BASE + HOUR + 1), None),
        (None, Some(BASE + HOUR)),
    ];
    let statuses =
        [None, Some(ExecutionStatus::Succeeded), Some(ExecutionStatus::Running), Some(ExecutionStatus::Cancelled)];
    let mut filters = Vec::new();
    for (from, to) in ranges {
        for status in statuses {
            filters.push(ExecutionFilter { from, to, status, ..Default::default() });
            filters.push(ExecutionFilter { from, to, status, owner_id: Some(alice.id), ..Default::default() });
            for workflow in workflows {
                filters.push(ExecutionFilter { from, to, status, workflow_id: Some(*workflow), ..Default::default() });
            }
        }
    }
    filters.push(ExecutionFilter { workflow_id: Some(workflows[0]), owner_id: Some(bob.id), ..Default::default() });
    for filter in &filters {
        for scope in [Scope::Everyone, Scope::Owner(alice.id), Scope::Owner(bob.id)] {
            assert_chart_agrees(store, scope, filter).await;
        }
    }
}

async fn the_chart_counts_what_the_history_lists_as_runs_end_and_go(store: Arc<dyn Store>) {
    use ExecutionStatus::*;
    let store = store.as_ref();
    let alice = user(store, "alice@example.com").await;
    let bob = user(store, "bob@example.com").await;
    let first = store.create_workflow(alice.id, &definition("First")).await.unwrap();
    let second = store.create_workflow(alice.id, &definition("Second")).await.unwrap();
    let bobs = store.create_workflow(bob.id, &definition("Bob's")).await.unwrap();
    let minutes = |hour: i64, minute: i64| BASE + hour * HOUR + minute * 60_000;
    let plan = [
        (&first, minutes(0, 0), Succeeded),
        (&first, minutes(0, 5), Failed),
        (&first, minutes(0, 45), Succeeded),
        (&first, minutes(1, 0), Running),
        (&first, minutes(2, 4), Succeeded),
        (&first, minutes(2, 59), Failed),
        (&second, minutes(0, 20), Succeeded),
        (&second, minutes(1, 30), Succeeded),
        (&second, minutes(3, 0), Failed),
        (&bobs, minutes(0, 1), Failed),
        (&bobs, minutes(1, 1), Succeeded),
        (&bobs, minutes(2, 10), Running),
    ];
    for (workflow, at, status) in plan {
        run_at(store, workflow, at, status).await;
    }
    // Queued now, then cancelled before it ran: counted as it changes.
    let queued = queue(store, &first).await;
    queue(store, &bobs).await;
    assert_eq!(store.request_cancel(Scope::Everyone, queued.id).await.unwrap(), Cancelled);
    let workflows = [first.id, second.id, bobs.id];
    assert_all_agree(store, &alice, &bob, &workflows).await;

    // The still running end; a workflow goes with its runs.
    let running = ExecutionFilter { status: Some(Running), ..Default::default() };
    for execution in store.list_executions(Scope::Everyone, &running, None, 10).await.unwrap().items {
        end(store, &execution, Failed).await;
    }
    store.delete_workflow(Scope::Everyone, second.id).await.unwrap();
    assert_all_agree(store, &alice, &bob, &workflows).await;

    // Retention by age and by count.
    assert_eq!(store.delete_executions_before(minutes(1, 0), 100).await.unwrap(), 4);
    assert_eq!(store.delete_executions_beyond(first.id, 2, 100).await.unwrap(), 2);
    assert_all_agree(store, &alice, &bob, &workflows).await;
}
