//! An `agent` node in a process killed between its steps: the process that
//! resumes the run rebuilds the conversation from the recorded steps, so the
//! model is not asked again for a turn it answered and no tool call that
//! ended runs twice.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

#[tokio::test]
async fn on_sqlite_a_restart_resumes_an_agent_from_its_last_step() {
    let _serial = one_at_a_time().await;
    killed_between_steps(TestDb::sqlite()).await;
}

#[tokio::test]
async fn on_postgres_another_process_resumes_an_agent_from_its_last_step() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    killed_between_steps(db).await;
}

/// A model that calls two tools, then one, then answers; the first time it
/// is asked for its second turn it never answers (the process asking is
/// killed meanwhile). Counts the requests for each turn.
#[derive(Clone, Default)]
struct Model {
    by_turn: Arc<Mutex<HashMap<usize, usize>>>,
    hung: Arc<AtomicUsize>,
}

async fn model() -> (Model, String) {
    let model = Model::default();
    let state = model.clone();
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let model = state.clone();
            async move {
                let messages = body["messages"].as_array().cloned().unwrap_or_default();
                let turn = 1 + messages.iter().filter(|m| m["role"] == "assistant").count();
                *model.by_turn.lock().unwrap().entry(turn).or_default() += 1;
                if turn == 2 && model.hung.fetch_add(1, Ordering::SeqCst) == 0 {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                }
                let call = |i: usize| {
                    json!({"id": format!("c{turn}{i}"), "type": "function",
                    "function": {"name": "step", "arguments": format!("{{\"n\": {i}}}")}})
                };
                let message = match turn {
                    1 => json!({"role": "assistant", "content": null, "tool_calls": [call(0), call(1)]}),
                    2 => json!({"role": "assistant", "content": null, "tool_calls": [call(0)]}),
                    _ => json!({"role": "assistant", "content": format!("done after {} results",
                        messages.iter().filter(|m| m["role"] == "tool").count())}),
                };
                axum::Json(json!({"model": "m", "choices": [{"message": message}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (model, url)
}

async fn killed_between_steps(db: TestDb) {
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let (upstream, url) = Upstream::start(Duration::from_millis(10)).await;
    let (model, llm) = model().await;
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Agent",
        "nodes": [{"id": "plan", "type": "agent", "config": {"prompt": "Do the steps", "tools": [
            {"name": "step", "input_schema": {"type": "object", "properties": {"n": {"type": "integer"}}},
             "http": {"method": "POST", "url": url}}
        ]}}]
    }))
    .unwrap();
    let workflow = store.create_workflow(owner.id, &definition).await.unwrap().id;
    let flags = ["--lease-ms", "1500", "--llm-base-url", &llm];
    let mut first = Weft::start(&db, logs.path(), "first", &flags).await;
    let execution = start_executions(std::slice::from_ref(&first.base), &key, workflow, 1).await[0];

    // Killed once the first turn and both its calls are recorded, while the model is asked for the second.
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.node_items_of(execution).await.unwrap().len() < 3 || model.hung.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the first turn was not recorded:\n{}", first.logs());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill();

    let _second = Weft::start(&db, logs.path(), "second", &flags).await;
    wait_until_all_finished(store.as_ref(), workflow, 1, Duration::from_secs(30)).await;
    let runs = store.node_runs(Scope::Everyone, execution).await.unwrap();
    let plan = runs.iter().find(|r| r.node_id == "plan").unwrap();
    assert_eq!(plan.status, NodeStatus::Succeeded, "{:?}", plan.error);
    let output = plan.output.as_ref().unwrap();
    assert_eq!(output["text"], "done after 3 results");
    assert_eq!((output["turns"].as_u64(), output["tool_calls"].as_u64()), (Some(3), Some(3)));

    let by_turn = model.by_turn.lock().unwrap().clone();
    assert_eq!(by_turn.get(&1), Some(&1), "the recorded first turn was not asked again: {by_turn:?}");
    assert_eq!(by_turn.get(&2), Some(&2), "the second turn, cut by the kill, was asked again: {by_turn:?}");
    assert_eq!(by_turn.get(&3), Some(&1));
    let calls = upstream.calls();
    assert_eq!(calls.len(), 3, "three tool calls, each with its own key: {calls:?}");
    assert!(calls.values().all(|n| *n == 1), "no tool call ran twice: {calls:?}");

    // The whole trace stays with the run.
    let items = store.node_items_of(execution).await.unwrap();
    let kinds: Vec<String> = app::model::agent::last_epoch(&items, "plan")
        .1
        .into_iter()
        .map(|(_, step)| serde_json::to_value(step).unwrap()["kind"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(kinds, ["model", "tool", "tool", "model", "tool", "model"]);
    db.cleanup().await;
}
