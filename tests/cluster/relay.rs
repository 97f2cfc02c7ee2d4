//! The LLM text of a run on a worker, shown live by a web process.

use super::*;

/// An OpenAI-compatible server that streams its answer slowly: eight pieces,
/// 300 ms apart.
async fn slow_llm() -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(|| async {
            let pieces = ["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the lazy ", "dog."];
            let events = futures::stream::iter(pieces.into_iter().enumerate()).then(|(i, piece)| async move {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                let event = json!({"model": "slow-1", "choices": [{"delta": {"content": piece}}]});
                Ok::<_, std::convert::Infallible>(format!("data: {event}\n\n"))
            });
            let done = futures::stream::once(async { Ok("data: [DONE]\n\n".to_string()) });
            let headers = [(axum::http::header::CONTENT_TYPE, "text/event-stream")];
            (headers, axum::body::Body::from_stream(events.chain(done)))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The events of a server-sent event stream's whole text.
fn sse_events(body: &str) -> Vec<RunEvent> {
    body.split("\n\n")
        .filter_map(|block| block.lines().find_map(|line| line.strip_prefix("data:")))
        .map(|data| serde_json::from_str(data.trim()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_web_process_shows_the_llm_text_of_a_run_on_a_worker_as_it_streams() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Ask",
        "nodes": [{"id": "ask", "type": "llm", "config": {"model": "m", "prompt": "Tell me about foxes"}}]
    }))
    .unwrap();
    let workflow = store.create_workflow(owner.id, &definition).await.unwrap().id;
    let llm = slow_llm().await;
    let web = Weft::start(&db, logs.path(), "web", &["--role", "web"]).await;
    let worker = Weft::start(&db, logs.path(), "worker", &["--role", "worker", "--llm-base-url", &llm]).await;

    let id = start_executions(std::slice::from_ref(&web.base), &key, workflow, 1).await[0];
    let client = reqwest::Client::new();
    let follow = || async {
        let url = format!("{}/api/v1/executions/{id}/events", web.base);
        let stream = client.get(url).bearer_auth(&key).send().await.unwrap();
        tokio::time::timeout(Duration::from_secs(15), stream.text()).await.expect("the stream ends").unwrap()
    };
    // A second follower joins half way through the answer.
    let (first, second) = tokio::join!(follow(), async {
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        follow().await
    });

    for (who, body) in [("first", &first), ("second", &second)] {
        let events = sse_events(body);
        // Text arrived while the node was answering (before its end), and put
        // together as the run view does, it is the whole answer: the second
        // follower got the text so far first.
        let end = events
            .iter()
            .position(|e| matches!(e, RunEvent::Node { status: NodeStatus::Succeeded, .. }))
            .unwrap_or_else(|| panic!("{who}: the node succeeded: {body}\n{}", worker.logs()));
        let mut text = String::new();
        for event in &events[..end] {
            match event {
                RunEvent::Streamed { text: so_far, .. } => text = so_far.clone(),
                RunEvent::Token { text: more, .. } => text.push_str(more),
                _ => {}
            }
        }
        let relayed =
            events[..end].iter().filter(|e| matches!(e, RunEvent::Token { .. } | RunEvent::Streamed { .. })).count();
        assert!(relayed >= 2, "{who}: text came in pieces while the node answered, not only at its end: {body}");
        assert_eq!(text, "The quick brown fox jumps over the lazy dog.", "{who}: {body}");
        let RunEvent::Node { output: Some(output), .. } = &events[end] else { panic!("{body}") };
        assert_eq!(output["text"], "The quick brown fox jumps over the lazy dog.");
    }
    drop((web, worker));
    db.cleanup().await;
}

#[tokio::test]
async fn a_web_process_shows_how_far_a_for_each_on_a_worker_is() {
    let _serial = one_at_a_time().await;
    let Some(db) = TestDb::postgres().await else { return };
    let logs = tempfile::tempdir().unwrap();
    let store = db.store().await;
    let (owner, key) = owner_with_key(store.as_ref()).await;
    // 30 items, two at a time, 60 ms each: about 900 ms of progress.
    let definition: WorkflowDefinition = serde_json::from_value(json!({
        "name": "Paced",
        "nodes": [{"id": "pace", "type": "delay", "config": {"ms": 60}, "for_each": "range(30)", "concurrency": 2}]
    }))
    .unwrap();
    let workflow = store.create_workflow(owner.id, &definition).await.unwrap().id;
    let web = Weft::start(&db, logs.path(), "web", &["--role", "web"]).await;
    let worker = Weft::start(&db, logs.path(), "worker", &["--role", "worker"]).await;

    let id = start_executions(std::slice::from_ref(&web.base), &key, workflow, 1).await[0];
    let url = format!("{}/api/v1/executions/{id}/events", web.base);
    let stream = reqwest::Client::new().get(url).bearer_auth(&key).send().await.unwrap();
    let body = tokio::time::timeout(Duration::from_secs(15), stream.text()).await.expect("the stream ends").unwrap();
    let events = sse_events(&body);
    let end = events
        .iter()
        .position(|e| matches!(e, RunEvent::Node { status: NodeStatus::Succeeded, .. }))
        .unwrap_or_else(|| panic!("the node succeeded: {body}\n{}", worker.logs()));
    let told: Vec<usize> = events[..end]
        .iter()
        .filter_map(|e| match e {
            RunEvent::Items { done, total: 30, .. } => Some(*done),
            _ => None,
        })
        .collect();
    assert!(told.iter().any(|done| (1..30).contains(done)), "progress came through the web process: {body}");
    assert!(told.windows(2).all(|w| w[0] <= w[1]), "{told:?}");
    db.cleanup().await;
}
