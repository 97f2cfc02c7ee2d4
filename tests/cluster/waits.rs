//! A run paused at a `wait` node outlives its process: it holds no lease and
//! nothing in memory, so after a SIGKILL a new process (SQLite: the restarted
//! one; PostgreSQL: another) receives the resume call and finishes the run.
//! The resume URL, rendered into an earlier node, works once.

use super::*;

#[tokio::test]
async fn on_sqlite_a_waiting_run_is_resumed_after_a_restart() {
    let _serial = one_at_a_time().await;
    resumed_by_a_new_process(TestDb::sqlite()).await;
}

#[tokio::test]
async fn on_postgres_a_waiting_run_is_resumed_by_another_process() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    resumed_by_a_new_process(db).await;
}

async fn resumed_by_a_new_process(db: TestDb) {
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Approve then publish",
        "nodes": [
            {"id": "ask", "type": "template", "config": {"template": "Approve? {{ resume_urls.approve }}"}},
            {"id": "approve", "type": "wait", "config": {"timeout_ms": 600000}},
            {"id": "publish", "type": "template",
             "config": {"template": "{{ nodes.approve.approved }} {{ nodes.approve.comment }}"}}
        ],
        "edges": [{"from": "ask", "to": "approve"}, {"from": "approve", "to": "publish"}]
    }))
    .unwrap();
    let workflow = store.create_workflow(owner.id, &definition).await.unwrap().id;
    // Resume tokens are signed with the instance's key: every process has the same.
    let secret = weft::secrets::SecretBox::new_key_hex();
    let flags = ["--secret-key", secret.as_str()];
    let mut first = Weft::start(&db, logs.path(), "first", &flags).await;
    let execution = start_executions(std::slice::from_ref(&first.base), &key, workflow, 1).await[0];

    let deadline = Instant::now() + Duration::from_secs(20);
    while store.execution(Scope::Everyone, execution).await.unwrap().status != ExecutionStatus::Waiting {
        assert!(Instant::now() < deadline, "the run never parked:\n{}", first.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let runs = store.node_runs(Scope::Everyone, execution).await.unwrap();
    let ask = runs.iter().find(|r| r.node_id == "ask").unwrap();
    let text = ask.output.as_ref().unwrap()["text"].as_str().unwrap().to_string();
    let path = text.strip_prefix("Approve? ").unwrap().to_string();
    assert!(path.starts_with(&format!("/resume/{execution}/approve/")), "{text}");
    assert!(store.waits_of(execution).await.unwrap().len() == 1);
    first.kill();

    let second = Weft::start(&db, logs.path(), "second", &flags).await;
    let client = reqwest::Client::new();
    let page = client.get(format!("{}{path}", second.base)).send().await.unwrap();
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert!(page.text().await.unwrap().contains("waits for you"));
    // A forged token is refused like a run that does not exist.
    let forged = format!("{}/resume/{execution}/approve/{}", second.base, "A".repeat(43));
    assert_eq!(client.post(forged).json(&json!({})).send().await.unwrap().status(), reqwest::StatusCode::NOT_FOUND);

    let answer = json!({"approved": true, "comment": "ship it"});
    let resumed = client.post(format!("{}{path}", second.base)).json(&answer).send().await.unwrap();
    assert_eq!(resumed.status(), reqwest::StatusCode::ACCEPTED, "{}", second.logs());
    wait_until_all_finished(store.as_ref(), workflow, 1, Duration::from_secs(30)).await;
    let finished = store.execution(Scope::Everyone, execution).await.unwrap();
    assert_eq!(finished.status, ExecutionStatus::Succeeded, "{:?}", finished.error);
    let runs = store.node_runs(Scope::Everyone, execution).await.unwrap();
    let publish = runs.iter().find(|r| r.node_id == "publish").unwrap();
    assert_eq!(publish.output, Some(json!({"text": "True ship it"})));

    // Once only.
    let again = client.post(format!("{}{path}", second.base)).json(&answer).send().await.unwrap();
    assert_eq!(again.status(), reqwest::StatusCode::CONFLICT);
    db.cleanup().await;
}
