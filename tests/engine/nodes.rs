//! The LLM and HTTP nodes against local fake upstreams.

use super::*;

#[tokio::test]
async fn llm_answers_stream_tokens_as_events() {
    let h = harness(|_| {}).await;
    let version = h.version(llm_workflow("stream me", true)).await;
    let mut handle = h.engine.start(StartRequest::new(&version, h.owner.id, Trigger::Manual, json!({}))).await.unwrap();
    let mut tokens = Vec::new();
    loop {
        match handle.events.recv().await {
            Ok(RunEvent::Token { text, .. }) => tokens.push(text),
            Ok(RunEvent::Finished { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert_eq!(tokens.concat(), "echo: stream me");
    assert_eq!(tokens.len(), 2);
    let report = handle.done.await.unwrap().unwrap();
    assert_eq!(node(&report, "ask").output.as_ref().unwrap()["model"], "fake-1");
}

#[tokio::test]
async fn a_listener_joining_mid_answer_gets_the_text_so_far_then_the_rest() {
    let h = harness(|_| {}).await;
    let version = h.version(llm_workflow("PAUSE half way", false)).await;
    let mut handle = h.engine.start(StartRequest::new(&version, h.owner.id, Trigger::Manual, json!({}))).await.unwrap();
    loop {
        match handle.events.recv().await.unwrap() {
            RunEvent::Token { .. } => break,
            RunEvent::Finished { .. } => panic!("the run ended before its first token"),
            _ => {}
        }
    }
    // The upstream now pauses 300 ms after the first half of its answer.
    let (so_far, mut live) = h.engine.subscribe(handle.execution.id).expect("the run is here");
    // The run as it is: the node running, then its text so far.
    assert!(
        matches!(&so_far[..], [RunEvent::Node { status: NodeStatus::Running, .. }, RunEvent::Streamed { .. }]),
        "{so_far:?}"
    );
    assert_eq!(so_far[1], RunEvent::Streamed { node: "ask".into(), text: "echo: PAUS".into() });
    let mut rest = String::new();
    loop {
        match live.recv().await.unwrap() {
            RunEvent::Token { text, .. } => rest.push_str(&text),
            RunEvent::Finished { .. } => break,
            _ => {}
        }
    }
    assert_eq!(rest, "E half way", "every token once: the text so far, then live");
    handle.done.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_plain_json_answer_is_accepted_too() {
    let h = harness(|_| {}).await;
    let report = h.run(llm_workflow("PLAIN please", false), json!({})).await;
    let output = node(&report, "ask").output.clone().unwrap();
    assert_eq!((output["text"].as_str(), output["model"].as_str()), (Some("echo: PLAIN please"), Some("fake-1")));
    assert_eq!(output["usage"]["total_tokens"], 5);
}

#[tokio::test]
async fn a_second_identical_run_is_answered_from_the_cache() {
    let h = harness(|_| {}).await;
    let first = h.run(llm_workflow("same question", true), json!({})).await;
    let second = h.run(llm_workflow("same question", true), json!({})).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1, "the second run made no upstream request");
    assert_eq!(node(&first, "ask").output.as_ref().unwrap()["cached"], false);
    assert_eq!(node(&second, "ask").output.as_ref().unwrap()["cached"], true);
    assert_eq!(node(&second, "ask").output.as_ref().unwrap()["text"], "echo: same question");
    assert_eq!(h.engine.services().llm.cache_stats(), (1, 1));

    // `cache: false` always asks.
    h.run(llm_workflow("same question", false), json!({})).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn ten_identical_concurrent_requests_make_one_upstream_call() {
    let h = harness(|_| {}).await;
    let version = h.version(llm_workflow("everyone asks this", true)).await;
    let runs = (0..10).map(|_| {
        let engine = h.engine.clone();
        let version = version.clone();
        let owner = h.owner.id;
        tokio::spawn(
            async move { engine.run(StartRequest::new(&version, owner, Trigger::Api, json!({}))).await.unwrap() },
        )
    });
    let reports = futures::future::join_all(runs).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1);
    for report in reports {
        let report = report.unwrap();
        assert_eq!(node(&report, "ask").output.as_ref().unwrap()["text"], "echo: everyone asks this");
    }
}

#[tokio::test]
async fn llm_upstream_errors_and_timeouts_fail_the_node_clearly() {
    let h = harness(|_| {}).await;
    let failed = h.run(llm_workflow("please FAIL", true), json!({})).await;
    let error = node(&failed, "ask").error.clone().unwrap();
    // A server error is asked again twice (bounded backoff), then fails the node.
    assert!(error.starts_with("the LLM provider answered 500: upstream exploded"), "{error}");
    assert!(error.ends_with("(asked 3 times)"), "{error}");
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 3);
    // A timeout is not asked again (a fallback would be asked next).
    let slow = h.run(llm_workflow("be SLOW", true), json!({})).await;
    assert_eq!(node(&slow, "ask").error.as_deref(), Some("the LLM provider timed out"));
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 4);
    // Errors are not cached: the next identical request asks again.
    h.run(llm_workflow("please FAIL", true), json!({})).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 7);
}

#[tokio::test]
async fn http_nodes_refuse_loopback_unless_allowed_and_cap_bodies() {
    let strict = harness(|s| s.http.allow_loopback = false).await;
    let (base, _) = upstream().await;
    let refused = strict
        .run(json!({"name": "sneaky", "nodes": [{"id": "get", "type": "http", "config": {"method": "GET", "url": format!("{base}/ok")}}]}), json!({}))
        .await;
    let error = node(&refused, "get").error.clone().unwrap();
    assert!(error.contains("refusing to connect to 127.0.0.1"), "{error}");
    let by_name = strict
        .run(json!({"name": "sneaky name", "nodes": [{"id": "get", "type": "http", "config": {"method": "GET", "url": base.replace("127.0.0.1", "localhost") + "/ok"}}]}), json!({}))
        .await;
    let error = node(&by_name, "get").error.clone().unwrap();
    assert!(error.contains("refusing to connect to localhost"), "{error}");

    let allowed = harness(|_| {}).await;
    let big = allowed
        .run(json!({"name": "big", "nodes": [{"id": "get", "type": "http", "config": {"method": "GET", "url": format!("{base}/big")}}]}), json!({}))
        .await;
    assert_eq!(node(&big, "get").error.as_deref(), Some("the response body is larger than the 16384-byte limit"));
}

/// A loopback service an attacker wants to reach, counting every request it gets.
async fn internal_target() -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let router = Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            "internal secrets"
        }
    });
    let base = serve(router).await;
    (base.rsplit(':').next().unwrap().parse().unwrap(), hits)
}

/// A redirector: `/to?url=…` answers 302 to that URL.
async fn redirector() -> String {
    #[derive(serde::Deserialize)]
    struct To {
        url: String,
    }
    let router =
        Router::new()
            .route(
                "/to",
                get(|axum::extract::Query(to): axum::extract::Query<To>| async move {
                    axum::response::Redirect::to(&to.url)
                }),
            )
            .route("/ok", get(|| async { "public page" }));
    serve(router).await
}

#[tokio::test]
async fn a_redirect_to_an_internal_address_is_refused_in_every_spelling() {
    let (port, hits) = internal_target().await;
    let redirector = redirector().await;
    // Only the redirector is reachable (an admin-allowed host); loopback is refused.
    let allowed: weft::config::AllowedHost = redirector.trim_start_matches("http://").parse().unwrap();
    let h = harness(move |s| {
        s.http.allow_loopback = false;
        s.http.allowed_hosts = vec![allowed];
    })
    .await;
    let fetch = |url: String| {
        let target = format!("{redirector}/to?url={}", urlencode(&url));
        json!({"name": format!("hop to {url}"), "nodes": [
            {"id": "get", "type": "http", "config": {"method": "GET", "url": target}}
        ]})
    };

    // Redirects are still followed where they lead somewhere allowed.
    let fine = h.run(fetch(format!("{redirector}/ok")), json!({})).await;
    assert_eq!(node(&fine, "get").output.as_ref().unwrap()["body"], "public page");

    for hop in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://2130706433:{port}/"),
        format!("http://0x7f.0.0.1:{port}/"),
        format!("http://0.0.0.0:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://[::1]:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let report = h.run(fetch(hop.clone()), json!({})).await;
        let error = node(&report, "get").error.clone().unwrap_or_else(|| panic!("{hop} was followed: {report:?}"));
        assert!(error.contains("refusing to connect to"), "{hop}: {error}");
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "no request reached the internal service");
}

#[tokio::test]
async fn redirect_chains_stop_after_five_hops() {
    let redirector = redirector().await;
    let mut url = format!("{redirector}/ok");
    for _ in 0..6 {
        url = format!("{redirector}/to?url={}", urlencode(&url));
    }
    let h = harness(|_| {}).await;
    let long = h
        .run(
            json!({"name": "long", "nodes": [{"id": "get", "type": "http", "config": {"method": "GET", "url": url}}]}),
            json!({}),
        )
        .await;
    let error = node(&long, "get").error.clone().unwrap();
    assert!(error.contains("more than 5 redirects"), "{error}");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn an_output_larger_than_the_limit_fails_its_node_and_nothing_downstream_sees_it() {
    let h = harness(|s| s.max_output_bytes = 64 * 1024).await;
    let report = h
        .run(
            json!({"name": "big", "nodes": [
                {"id": "big", "type": "code", "config": {"source": "return new Array(100000).fill('x');"}},
                {"id": "after", "type": "template", "config": {"template": "{{ nodes.big | length }}"}}
            ], "edges": [{"from": "big", "to": "after"}]}),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    let error = node(&report, "big").error.clone().unwrap();
    assert_eq!(error, "the output is 400001 bytes of JSON, more than the 65536-byte limit for one node");
    assert!(node(&report, "after").output.is_none());
}

#[tokio::test]
async fn cached_llm_answers_are_not_shared_between_users_unless_configured() {
    for (shared, upstream_calls) in [(false, 2), (true, 1)] {
        let h = harness(|s| s.llm.cache_shared = shared).await;
        let other = h.store.create_user("other@example.com", None, false).await.unwrap();
        h.run(llm_workflow("what did they ask", true), json!({})).await;
        let definition: WorkflowDefinition = serde_json::from_value(llm_workflow("what did they ask", true)).unwrap();
        let created = h.store.create_workflow(other.id, &definition).await.unwrap();
        let version = h.store.workflow_version(Scope::Everyone, created.id, 1).await.unwrap();
        let report = h.engine.run(StartRequest::new(&version, other.id, Trigger::Manual, json!({}))).await.unwrap();
        assert_eq!(node(&report, "ask").output.as_ref().unwrap()["cached"], shared, "shared: {shared}");
        assert_eq!(h.llm.requests.load(Ordering::SeqCst), upstream_calls, "shared: {shared}");
    }
}
