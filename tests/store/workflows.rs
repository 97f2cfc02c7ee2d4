//! Workflows, their versions, pages and search.

use super::*;

crate::store_suite!(
    a_workflow_starts_at_version_one_and_saves_new_versions,
    another_users_workflow_is_not_found,
    workflows_page_by_key_newest_first,
    name_search_ignores_case_and_matches_substrings,
    several_workflows_are_read_at_once_within_the_scope,
    deleting_a_workflow_deletes_its_executions,
);

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
