//! The store story: one suite, run against SQLite and PostgreSQL alike.

mod support;

use std::sync::Arc;

use app::error::AppError;
use app::model::*;
use app::ports::{ExecutionOutcome, ExecutionStart, Finish, HeldExecution, Lease, NewExecution, Store};
use serde_json::json;
use support::definition;

store_suite!(
    users_are_unique_by_email,
    sessions_find_their_user_until_they_expire_or_end,
    sign_in_attempts_are_counted_per_subject_within_the_window,
    only_users_with_a_password_sign_in_and_count_as_admins,
    the_first_admin_is_created_once_even_by_racing_set_ups,
    a_workflow_starts_at_version_one_and_saves_new_versions,
    another_users_workflow_is_not_found,
    workflows_page_by_key_newest_first,
    name_search_ignores_case_and_matches_substrings,
    executions_record_node_runs_in_batches_and_finish_atomically,
    the_workflow_list_shows_the_latest_execution,
    executions_filter_and_page_by_key,
    history_counts_stop_at_the_cap_and_group_by_hour,
    several_workflows_are_read_at_once_within_the_scope,
    an_execution_of_a_version_that_does_not_exist_is_rejected,
    deleting_a_workflow_deletes_its_executions,
    settings_are_stored_and_replaced,
    templates_are_upserted_listed_and_searched,
    triggers_follow_the_current_version,
    a_schedule_tick_is_claimed_once,
    retention_deletes_only_finished_executions_in_batches,
    an_execution_started_at_once_is_created_running,
    each_queued_execution_is_claimed_once,
    an_expired_lease_is_taken_over_and_its_old_holder_is_fenced_off,
    leases_are_renewed_released_and_carry_cancel_requests,
    expired_leases_make_running_executions_claimable,
    a_group_commit_writes_only_the_executions_still_held,
    executions_created_together_come_back_in_order,
);

async fn user(store: &dyn Store, email: &str) -> User {
    store.create_user(email, Some("hash"), false).await.unwrap()
}

async fn users_are_unique_by_email(store: Arc<dyn Store>) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let ada = store.create_user("ada@example.com", Some("hash"), true).await.unwrap();
    assert!(ada.is_admin);
    let again = store.create_user("ada@example.com", None, false).await.unwrap_err();
    assert_eq!(again, AppError::Conflict("a user with email ada@example.com already exists".into()));
    assert_eq!(store.user_by_email("ada@example.com").await.unwrap(), Some(ada));
    assert_eq!(store.user_by_email("nobody@example.com").await.unwrap(), None);
    assert_eq!(store.count_users().await.unwrap(), 1);
}

async fn the_first_admin_is_created_once_even_by_racing_set_ups(store: Arc<dyn Store>) {
    let set_ups = (0..4).map(|i| {
        let store = store.clone();
        async move { store.create_first_admin(&format!("admin{i}@example.com"), "hash").await }
    });
    let results = futures::future::join_all(set_ups).await;
    let admins: Vec<&User> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(admins.len(), 1, "exactly one set-up wins: {results:?}");
    assert!(admins[0].is_admin);
    let already = AppError::Conflict("Weft is already set up; sign in instead".into());
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| *e == already), "{results:?}");
    assert_eq!(store.list_users().await.unwrap(), vec![admins[0].clone()]);
    // And once it is done, it stays done.
    assert_eq!(store.create_first_admin("late@example.com", "hash").await.unwrap_err(), already);
}

async fn sign_in_attempts_are_counted_per_subject_within_the_window(store: Arc<dyn Store>) {
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 1_000, 0).await.unwrap(), 1);
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 2_000, 0).await.unwrap(), 2);
    assert_eq!(store.record_sign_in_attempt("email:b@x.io", 2_500, 0).await.unwrap(), 1, "each subject its own");
    // Only attempts since the window's start count.
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 70_000, 10_000).await.unwrap(), 1);
    assert_eq!(store.delete_sign_in_attempts_before(10_000).await.unwrap(), 3);
    assert_eq!(store.record_sign_in_attempt("email:a@x.io", 71_000, 0).await.unwrap(), 2, "the old ones are gone");
}

async fn sessions_find_their_user_until_they_expire_or_end(store: Arc<dyn Store>) {
    let ada = user(store.as_ref(), "ada@example.com").await;
    store.create_session("hash-1", ada.id, 2_000).await.unwrap();
    store.create_session("hash-2", ada.id, 5_000).await.unwrap();
    assert_eq!(store.session_user("hash-1", 1_999).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.session_user("hash-1", 2_000).await.unwrap(), None, "expired at its expiry time");
    assert_eq!(store.session_user("unknown", 0).await.unwrap(), None);
    assert_eq!(store.delete_expired_sessions(3_000).await.unwrap(), 1);
    assert_eq!(store.session_user("hash-2", 3_000).await.unwrap(), Some(ada));
    store.delete_session("hash-2").await.unwrap();
    assert_eq!(store.session_user("hash-2", 3_000).await.unwrap(), None);
    assert!(store.create_session("hash-3", 999_999, 5_000).await.is_err(), "a session needs a real user");
}

async fn only_users_with_a_password_sign_in_and_count_as_admins(store: Arc<dyn Store>) {
    let local = store.create_user(LOCAL_USER_EMAIL, None, false).await.unwrap();
    assert!(!store.has_admin().await.unwrap());
    assert_eq!(store.credentials(LOCAL_USER_EMAIL).await.unwrap(), None, "the local user cannot sign in");
    let bob = store.create_user("bob@example.com", Some("bob-hash"), false).await.unwrap();
    assert!(!store.has_admin().await.unwrap(), "bob is no admin");
    let ada = store.create_user("ada@example.com", Some("ada-hash"), true).await.unwrap();
    assert!(store.has_admin().await.unwrap());
    assert_eq!(store.credentials("ada@example.com").await.unwrap(), Some((ada.clone(), "ada-hash".to_string())));
    assert_eq!(store.list_users().await.unwrap(), vec![ada.clone(), bob]);

    let made_before = store.create_workflow(local.id, &definition("Old")).await.unwrap();
    store.transfer_ownership(local.id, ada.id).await.unwrap();
    assert_eq!(store.workflow(Scope::Owner(ada.id), made_before.id).await.unwrap().summary.owner_id, ada.id);
    assert!(store.workflow(Scope::Owner(local.id), made_before.id).await.is_err());
}

async fn a_workflow_starts_at_version_one_and_saves_new_versions(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "o@example.com").await;
    let created = store.create_workflow(owner.id, &definition("First")).await.unwrap();
    assert_eq!(created.current_version, 1);
    assert_eq!(created.last_execution, None);

    let v2 = store.save_workflow_version(Scope::Owner(owner.id), created.id, &definition("Renamed")).await.unwrap();
    assert_eq!(v2.version, 2);
    let current = store.workflow(Scope::Owner(owner.id), created.id).await.unwrap();
    assert_eq!(current.summary.name, "Renamed");
    assert_eq!(current.summary.current_version, 2);
    assert_eq!(current.definition, definition("Renamed"));

    // Old versions are immutable and still readable.
    let v1 = store.workflow_version(Scope::Owner(owner.id), created.id, 1).await.unwrap();
    assert_eq!(v1.definition, definition("First"));
    let versions: Vec<i32> =
        store.workflow_versions(Scope::Owner(owner.id), created.id).await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(versions, [2, 1]);
}

async fn another_users_workflow_is_not_found(store: Arc<dyn Store>) {
    let alice = user(store.as_ref(), "alice@example.com").await;
    let bob = user(store.as_ref(), "bob@example.com").await;
    let secret = store.create_workflow(alice.id, &definition("Alice's")).await.unwrap();
    let as_bob = Scope::Owner(bob.id);
    let not_found = |what: &str| AppError::NotFound(what.into());
    assert_eq!(store.workflow(as_bob, secret.id).await.unwrap_err(), not_found("workflow"));
    assert_eq!(store.workflow_version(as_bob, secret.id, 1).await.unwrap_err(), not_found("workflow version"));
    assert_eq!(store.workflow_versions(as_bob, secret.id).await.unwrap_err(), not_found("workflow"));
    assert_eq!(
        store.save_workflow_version(as_bob, secret.id, &definition("Bob's now")).await.unwrap_err(),
        not_found("workflow")
    );
    assert_eq!(store.delete_workflow(as_bob, secret.id).await.unwrap_err(), not_found("workflow"));
    assert!(store.list_workflows(as_bob, None, None, 50).await.unwrap().items.is_empty());
    // Nothing Bob tried changed Alice's workflow; an admin sees it.
    let seen = store.workflow(Scope::Everyone, secret.id).await.unwrap();
    assert_eq!((seen.summary.name.as_str(), seen.summary.current_version), ("Alice's", 1));
}

async fn workflows_page_by_key_newest_first(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "p@example.com").await;
    let scope = Scope::Owner(owner.id);
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(store.create_workflow(owner.id, &definition(&format!("W{i}"))).await.unwrap().id);
    }
    // Saving the oldest makes it the most recently updated.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store.save_workflow_version(scope, ids[0], &definition("W0 again")).await.unwrap();

    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = store.list_workflows(scope, None, after, 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|w| w.id));
        pages += 1;
        match page.next {
            Some(next) => after = Some(Cursor::decode(&next).unwrap()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7, "every workflow exactly once: {seen:?}");
    assert_eq!(seen[0], ids[0], "the workflow saved last comes first");
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 7);
}

async fn name_search_ignores_case_and_matches_substrings(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "s@example.com").await;
    let other = user(store.as_ref(), "t@example.com").await;
    let scope = Scope::Owner(owner.id);
    for name in ["Summarize a page", "Classify a ticket", "Weekly SUMMARY report", "100% done_ok"] {
        store.create_workflow(owner.id, &definition(name)).await.unwrap();
    }
    store.create_workflow(other.id, &definition("Summary of someone else")).await.unwrap();
    let names = |page: Page<WorkflowSummary>| {
        let mut names: Vec<String> = page.items.into_iter().map(|w| w.name).collect();
        names.sort();
        names
    };
    assert_eq!(
        names(store.list_workflows(scope, Some("summ"), None, 50).await.unwrap()),
        ["Summarize a page", "Weekly SUMMARY report"]
    );
    assert_eq!(names(store.list_workflows(scope, Some("ticket"), None, 50).await.unwrap()), ["Classify a ticket"]);
    // Searches too short for the trigram index ignore case as well.
    assert_eq!(
        names(store.list_workflows(scope, Some("SU"), None, 50).await.unwrap()),
        ["Summarize a page", "Weekly SUMMARY report"]
    );
    // Short searches and wildcard characters match literally.
    assert_eq!(names(store.list_workflows(scope, Some("%"), None, 50).await.unwrap()), ["100% done_ok"]);
    assert_eq!(names(store.list_workflows(scope, Some("e_o"), None, 50).await.unwrap()), ["100% done_ok"]);
    assert!(store.list_workflows(scope, Some("nothing like it"), None, 50).await.unwrap().items.is_empty());
    // A NUL character is refused, not sent to the database (schemathesis found a 500).
    assert!(matches!(
        store.list_workflows(scope, Some("ab\0c"), None, 50).await,
        Err(AppError::BadRequest(message)) if message.contains("NUL")
    ));
    // Quotes cannot break out of the search.
    assert!(store.list_workflows(scope, Some("\"a\" OR \"b"), None, 50).await.unwrap().items.is_empty());
}

fn node_run(execution_id: ExecutionId, node_id: &str, status: NodeStatus) -> NodeRun {
    NodeRun {
        execution_id,
        node_id: node_id.into(),
        status,
        attempt: 1,
        input: None,
        output: None,
        error: None,
        started_at: None,
        finished_at: None,
    }
}

/// The process the suite's executions are leased to.
const WORKER: &str = "test-worker";

fn lease(owner: &str, expires_at: i64) -> Lease {
    Lease { owner: owner.into(), expires_at }
}

fn new_execution(workflow: &WorkflowSummary, input: serde_json::Value, start: ExecutionStart) -> NewExecution {
    NewExecution {
        workflow_id: workflow.id,
        version: workflow.current_version,
        owner_id: workflow.owner_id,
        trigger: Trigger::Manual,
        input,
        start,
    }
}

/// An execution running under `WORKER`'s lease (far from expiring).
async fn start(store: &dyn Store, workflow: &WorkflowSummary, input: serde_json::Value) -> Execution {
    let start = ExecutionStart::Running { lease: lease(WORKER, i64::MAX / 4), started_at: 1 };
    store.create_execution(&new_execution(workflow, input, start)).await.unwrap()
}

async fn queue(store: &dyn Store, workflow: &WorkflowSummary) -> Execution {
    store.create_execution(&new_execution(workflow, json!({}), ExecutionStart::Queued)).await.unwrap()
}

fn ids(executions: &[Execution]) -> Vec<ExecutionId> {
    let mut ids: Vec<_> = executions.iter().map(|e| e.id).collect();
    ids.sort();
    ids
}

async fn executions_record_node_runs_in_batches_and_finish_atomically(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "e@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Big")).await.unwrap();
    let new = new_execution(&workflow, json!({"who": "world"}), ExecutionStart::Queued);
    let execution = store.create_execution(&new).await.unwrap();
    assert_eq!(execution.status, ExecutionStatus::Queued);
    assert_eq!(execution.input.to_value(), json!({"who": "world"}));
    let claimed = store.claim_executions(&lease(WORKER, 60_000), 1_000, 10).await.unwrap();
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

async fn several_workflows_are_read_at_once_within_the_scope(store: Arc<dyn Store>) {
    let alice = user(store.as_ref(), "a@example.com").await;
    let bob = user(store.as_ref(), "b@example.com").await;
    let first = store.create_workflow(alice.id, &definition("First")).await.unwrap();
    let second = store.create_workflow(alice.id, &definition("Second")).await.unwrap();
    store.save_workflow_version(Scope::Owner(alice.id), second.id, &definition("Second, v2")).await.unwrap();
    let bobs = store.create_workflow(bob.id, &definition("Bob's")).await.unwrap();
    let got = store.workflows(Scope::Owner(alice.id), &[second.id, bobs.id, first.id, 999_999]).await.unwrap();
    let names: Vec<(&str, &str, i32)> =
        got.iter().map(|w| (w.summary.name.as_str(), w.definition.name.as_str(), w.summary.current_version)).collect();
    assert_eq!(
        names,
        [("Second, v2", "Second, v2", 2), ("First", "First", 1)],
        "asked order, current versions, scoped"
    );
    assert_eq!(store.workflows(Scope::Everyone, &[bobs.id]).await.unwrap().len(), 1);
    assert!(store.workflows(Scope::Owner(alice.id), &[]).await.unwrap().is_empty());
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
        })
        .await
        .unwrap_err();
    assert_eq!(error, AppError::NotFound("workflow version".into()));
}

async fn deleting_a_workflow_deletes_its_executions(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "d@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Doomed")).await.unwrap();
    let execution = start(store.as_ref(), &workflow, json!({})).await;
    assert!(store
        .record_node_runs(execution.id, WORKER, &[node_run(execution.id, "greet", NodeStatus::Running)])
        .await
        .unwrap());
    store.delete_workflow(Scope::Owner(owner.id), workflow.id).await.unwrap();
    assert_eq!(store.workflow(Scope::Everyone, workflow.id).await.unwrap_err(), AppError::NotFound("workflow".into()));
    assert_eq!(
        store.execution(Scope::Everyone, execution.id).await.unwrap_err(),
        AppError::NotFound("execution".into())
    );
    assert_eq!(
        store.delete_workflow(Scope::Everyone, workflow.id).await.unwrap_err(),
        AppError::NotFound("workflow".into())
    );
}

async fn settings_are_stored_and_replaced(store: Arc<dyn Store>) {
    assert_eq!(store.setting("llm").await.unwrap(), None);
    store.put_setting("llm", &json!({"base_url": "http://127.0.0.1:9", "model": "small"})).await.unwrap();
    store.put_setting("llm", &json!({"base_url": "http://127.0.0.1:9", "model": "large"})).await.unwrap();
    assert_eq!(store.setting("llm").await.unwrap().unwrap()["model"], "large");
}

async fn templates_are_upserted_listed_and_searched(store: Arc<dyn Store>) {
    let author = user(store.as_ref(), "m@example.com").await;
    store
        .upsert_template("summarize-url", "Fetch a page and summarize it", &definition("Summarize a URL"), None)
        .await
        .unwrap();
    store
        .upsert_template("classify", "Route support messages", &definition("Classify"), Some(author.id))
        .await
        .unwrap();
    let replaced = store
        .upsert_template("classify", "Route support messages by topic", &definition("Classify and route"), None)
        .await
        .unwrap();
    assert_eq!(replaced.name, "Classify and route");
    assert_eq!(store.list_templates(None).await.unwrap().len(), 2);
    assert!(matches!(store.list_templates(Some("a\0")).await, Err(AppError::BadRequest(_))), "NUL is refused");
    let found = store.list_templates(Some("TOPIC")).await.unwrap();
    assert_eq!(found.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(), ["classify"]);
    assert_eq!(store.template("summarize-url").await.unwrap().definition, definition("Summarize a URL"));
    assert_eq!(store.template("nope").await.unwrap_err(), AppError::NotFound("template".into()));
}

fn with_triggers(name: &str, triggers: serde_json::Value) -> WorkflowDefinition {
    let mut definition = definition(name);
    definition.triggers = triggers.as_array().unwrap().clone();
    definition
}

async fn triggers_follow_the_current_version(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "h@example.com").await;
    let hooked = with_triggers(
        "Hooked",
        json!([{"type": "webhook", "path": "greet", "mode": "async", "respond_with": "greet"}]),
    );
    let workflow = store.create_workflow(owner.id, &hooked).await.unwrap();
    let target = store.webhook("greet").await.unwrap().expect("the webhook exists");
    assert_eq!((target.workflow_id, target.owner_id, target.version), (workflow.id, owner.id, 1));
    assert_eq!(
        (target.method.as_str(), target.mode, target.respond_with.as_deref()),
        ("POST", WebhookMode::Async, Some("greet"))
    );
    assert_eq!(store.webhook("nope").await.unwrap(), None);

    // Another workflow cannot take the path; nothing of it is saved.
    let thief =
        store.create_workflow(owner.id, &with_triggers("Thief", json!([{"type": "webhook", "path": "greet"}]))).await;
    assert_eq!(
        thief.unwrap_err(),
        AppError::Conflict("webhook path `greet` is already used by another workflow".into())
    );
    assert_eq!(store.list_workflows(Scope::Owner(owner.id), None, None, 50).await.unwrap().items.len(), 1);

    // A new version moves the path and adds a schedule.
    let moved = with_triggers(
        "Hooked",
        json!([{"type": "webhook", "path": "hello"}, {"type": "cron", "schedule": "* * * * *"}]),
    );
    store.save_workflow_version(Scope::Owner(owner.id), workflow.id, &moved).await.unwrap();
    assert_eq!(store.webhook("greet").await.unwrap(), None);
    assert_eq!(store.webhook("hello").await.unwrap().unwrap().version, 2);
    let schedules = store.workflow_schedules(Scope::Owner(owner.id), workflow.id).await.unwrap();
    assert_eq!((schedules.len(), schedules[0].timezone.as_str(), schedules[0].next_fire_at), (1, "UTC", None));

    store.delete_workflow(Scope::Owner(owner.id), workflow.id).await.unwrap();
    assert_eq!(store.webhook("hello").await.unwrap(), None);
    assert!(store.schedules_to_plan(i64::MAX, 10).await.unwrap().is_empty());
}

async fn a_schedule_tick_is_claimed_once(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "c@example.com").await;
    let cron =
        with_triggers("Ticking", json!([{"type": "cron", "schedule": "*/5 * * * *", "timezone": "Europe/Paris"}]));
    store.create_workflow(owner.id, &cron).await.unwrap();
    let planned = store.schedules_to_plan(1_000, 10).await.unwrap();
    assert_eq!(planned.len(), 1);
    let id = planned[0].id;
    assert!(store.claim_schedule(id, None, 5_000).await.unwrap(), "the first planner wins");
    assert!(!store.claim_schedule(id, None, 5_000).await.unwrap(), "a second planner loses");
    assert!(store.schedules_to_plan(4_999, 10).await.unwrap().is_empty(), "not due yet");
    let due = store.schedules_to_plan(5_000, 10).await.unwrap();
    assert_eq!(due[0].next_fire_at, Some(5_000));
    let claims = futures::future::join_all((0..5).map(|_| store.claim_schedule(id, Some(5_000), 10_000))).await;
    assert_eq!(
        claims.into_iter().filter(|c| *c.as_ref().unwrap()).count(),
        1,
        "one of five concurrent claims fires the tick"
    );
}

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
    };
    let execution = store.create_execution(&new).await.unwrap();
    assert_eq!(
        (execution.status, execution.started_at, execution.created_at),
        (ExecutionStatus::Running, Some(42), 42)
    );
    // Leased to its creator: nobody else may claim it before the lease expires.
    assert!(store.claim_executions(&lease("other", 90_000), 59_999, 10).await.unwrap().is_empty());
    assert_eq!(store.next_claimable_at("other").await.unwrap(), Some(60_000));
    assert_eq!(store.next_claimable_at(WORKER).await.unwrap(), None, "its own leases are not counted");
}

async fn each_queued_execution_is_claimed_once(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "q@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Queued")).await.unwrap();
    assert_eq!(store.next_claimable_at("a").await.unwrap(), None, "an empty queue");
    let mut queued = Vec::new();
    for _ in 0..7 {
        queued.push(queue(store.as_ref(), &workflow).await);
    }
    assert_eq!(store.next_claimable_at("a").await.unwrap(), Some(0), "claimable now");
    // Three claimers at once, four rows each at most: every row goes to exactly one.
    let claims = futures::future::join_all(["a", "b", "c"].map(|who| {
        let store = store.clone();
        async move { store.claim_executions(&lease(who, 10_000), 5_000, 4).await.unwrap() }
    }))
    .await;
    let mut all: Vec<Execution> = claims.iter().flatten().cloned().collect();
    assert_eq!(ids(&all), ids(&queued), "all seven claimed, none twice: {claims:?}");
    all.retain(|e| e.status != ExecutionStatus::Running);
    assert!(all.is_empty(), "claimed executions are running");
    assert!(store.claim_executions(&lease("d", 10_000), 5_000, 4).await.unwrap().is_empty());
    assert_eq!(store.node_runs_of(&ids(&queued)).await.unwrap(), []);
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
    let early = store.claim_executions(&lease("early", 9_000), 999, 1).await.unwrap();
    assert_eq!(ids(&early), [waiting.id], "the lease has not expired yet: only the queue is claimable");
    store.release_executions("early", &[waiting.id]).await.unwrap();
    // A takeover goes before the queue, however long the queue is.
    let claimed = store.claim_executions(&lease("heir", 9_000), 1_000, 1).await.unwrap();
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
    assert_eq!(store.next_claimable_at(WORKER).await.unwrap(), Some(0));
    let claimed = store.claim_executions(&lease("next", 10_000), 5_000, 10).await.unwrap();
    assert_eq!(ids(&claimed), [running.id]);
}

async fn expired_leases_make_running_executions_claimable(store: Arc<dyn Store>) {
    let owner = user(store.as_ref(), "x@example.com").await;
    let workflow = store.create_workflow(owner.id, &definition("Restarted")).await.unwrap();
    let running = start(store.as_ref(), &workflow, json!({})).await;
    assert!(store.claim_executions(&lease("restarted", 10_000), 5_000, 10).await.unwrap().is_empty());
    assert_eq!(store.expire_leases().await.unwrap(), 1);
    let claimed = store.claim_executions(&lease("restarted", 10_000), 5_000, 10).await.unwrap();
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
