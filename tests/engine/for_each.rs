//! Nodes with `for_each`: one run per item, bounded concurrency, item order
//! kept, retries, time limits and `on_error` per item, the item limit, LLM
//! items coalescing, and progress events.

use std::time::Instant;

use super::*;

fn one_node(node: Value) -> Value {
    json!({"name": format!("for each {}", node["id"]), "nodes": [node]})
}

fn output(report: &ExecutionReport, id: &str) -> Value {
    node(report, id).output.clone().unwrap_or_else(|| panic!("{id} has no output: {report:?}"))
}

#[tokio::test]
async fn a_thousand_items_sixteen_at_a_time_take_about_a_sixteenth_of_the_serial_time() {
    let h = harness(|_| {}).await;
    let items = |concurrency: u32| {
        one_node(json!({"id": "wait", "type": "delay", "config": {"ms": 3},
                        "for_each": "range(1000)", "concurrency": concurrency}))
    };
    let mut took = Vec::new();
    for concurrency in [1, 16] {
        let started = Instant::now();
        let report = h.run(items(concurrency), json!({})).await;
        took.push(started.elapsed());
        assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
        assert_eq!(output(&report, "wait").as_array().unwrap().len(), 1000);
    }
    let ratio = took[0].as_secs_f64() / took[1].as_secs_f64();
    eprintln!("1,000 items of 3 ms: serial {:?}, 16 at a time {:?}: {ratio:.1}× faster", took[0], took[1]);
    // 16× in theory; the timer's granularity and a shared machine take some.
    assert!(ratio > 10.0, "16 at a time was only {ratio:.1}× faster than one at a time");
}

#[tokio::test]
async fn items_see_item_and_index_and_the_output_keeps_the_items_order() {
    let h = harness(|_| {}).await;
    let definition = json!({"name": "people", "nodes": [
        {"id": "greet", "type": "template", "config": {"template": "{{ index }}:{{ item.name }}"},
         "for_each": "input.people", "concurrency": 3},
        {"id": "double", "type": "code", "config": {"source": "return item * 2 + index;"},
         "for_each": "range(nodes.greet | length)"},
        {"id": "count", "type": "template", "config": {"template": "{{ nodes.greet | length }} {{ nodes.double[4] }}"}}
    ], "edges": [{"from": "greet", "to": "double"}, {"from": "double", "to": "count"}]});
    let people: Vec<Value> = (0..10).map(|i| json!({"name": format!("p{i}")})).collect();
    let report = h.run(definition, json!({"people": people})).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    let greetings: Vec<Value> = (0..10).map(|i| json!({"text": format!("{i}:p{i}")})).collect();
    assert_eq!(output(&report, "greet"), Value::Array(greetings));
    assert_eq!(output(&report, "double"), json!([0, 3, 6, 9, 12, 15, 18, 21, 24, 27]));
    assert_eq!(output(&report, "count"), json!({"text": "10 12"}));
}

#[tokio::test]
async fn a_failing_item_fails_the_node_by_its_index_unless_the_node_continues() {
    let h = harness(|_| {}).await;
    let source = "if (item === 3) throw new Error('bad item'); return item;";
    let node_with = |on_error: &str| {
        one_node(json!({"id": "each", "type": "code", "config": {"source": source},
                        "for_each": "range(6)", "on_error": on_error}))
    };
    let failed = h.run(node_with("fail"), json!({})).await;
    assert_eq!(failed.status, ExecutionStatus::Failed);
    let error = node(&failed, "each").error.clone().unwrap();
    assert!(error.starts_with("item 3 of 6: script error: Error: bad item"), "{error}");

    let continued = h.run(node_with("continue"), json!({})).await;
    assert_eq!(continued.status, ExecutionStatus::Succeeded, "{:?}", continued.error);
    let items = output(&continued, "each");
    assert_eq!(items[2], json!(2));
    assert!(items[3]["error"].as_str().unwrap().contains("bad item"), "{items}");
    assert_eq!(items[5], json!(5));
}

#[tokio::test]
async fn retries_and_time_limits_apply_to_each_item() {
    let h = harness(|_| {}).await;
    let (base, _) = upstream().await;
    // `/sluggish` hangs twice, then answers at once: the first item times out
    // twice and succeeds on its third attempt, the others on their first.
    let retried = h
        .run(
            one_node(
                json!({"id": "get", "type": "http", "config": {"method": "GET", "url": format!("{base}/sluggish")},
                            "for_each": "range(3)", "concurrency": 1, "timeout_ms": 300,
                            "retry": {"max_attempts": 3, "backoff_ms": 1}}),
            ),
            json!({}),
        )
        .await;
    assert_eq!(retried.status, ExecutionStatus::Succeeded, "{:?}", retried.error);
    let bodies: Vec<Value> = output(&retried, "get").as_array().unwrap().iter().map(|r| r["body"].clone()).collect();
    assert_eq!(bodies, [json!("awake"), json!("awake"), json!("awake")]);

    // Each item has the node's time limit: the slow one times out alone.
    let limited = h
        .run(
            one_node(
                json!({"id": "get", "type": "http", "config": {"method": "GET", "url": format!("{base}{{{{ item }}}}")},
                            "for_each": "['/ok', '/slow', '/ok']", "timeout_ms": 300, "on_error": "continue"}),
            ),
            json!({}),
        )
        .await;
    let items = output(&limited, "get");
    assert_eq!(items[0]["body"], json!({"title": "Hello"}));
    assert_eq!(items[1], json!({"error": "timed out after 300 ms"}));
    assert_eq!(items[2]["status"], 200);
}

#[tokio::test]
async fn lists_too_long_and_expressions_that_give_no_list_fail_clearly() {
    let h = harness(|settings| settings.max_for_each_items = 50).await;
    let each =
        |expr: &str| one_node(json!({"id": "t", "type": "template", "config": {"template": "x"}, "for_each": expr}));
    let cases = [
        ("range(51)", "for_each: the list has 51 items, more than the 50 one node may run"),
        ("input", "for_each: the expression gave map, not a list"),
        ("input.missing", "for_each: the expression gave nothing (undefined or none), not a list"),
        ("input.n + 'a'", "for_each: template error"),
    ];
    for (expr, expected) in cases {
        let report = h.run(each(expr), json!({"n": 1})).await;
        assert_eq!(report.status, ExecutionStatus::Failed, "{expr}");
        let error = node(&report, "t").error.clone().unwrap();
        assert!(error.starts_with(expected), "{expr}: {error}");
    }
    let empty = h.run(each("[]"), json!({})).await;
    assert_eq!(output(&empty, "t"), json!([]));
    assert_eq!(output(&h.run(each("range(50)"), json!({})).await, "t").as_array().unwrap().len(), 50);
}

#[tokio::test]
async fn the_items_outputs_together_are_held_to_the_node_output_limit() {
    let h = harness(|settings| settings.max_output_bytes = 4_000).await;
    let report = h
        .run(
            one_node(json!({"id": "t", "type": "template", "config": {"template": "{{ 'x' * 100 }}"},
                            "for_each": "range(100)", "concurrency": 4})),
            json!({}),
        )
        .await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    let error = node(&report, "t").error.clone().unwrap();
    assert!(error.starts_with("the items' outputs add up to more than the 4000-byte limit"), "{error}");
}

#[tokio::test]
async fn llm_items_run_at_once_identical_prompts_coalesce_and_each_has_its_usage() {
    let h = harness(|_| {}).await;
    let definition = one_node(json!({"id": "ask", "type": "llm",
        "config": {"model": "m", "prompt": "translate {{ item }}"},
        "for_each": "input.words", "concurrency": 4}));
    let started = Instant::now();
    let report = h.run(definition, json!({"words": ["chat", "chien", "chat", "chat"]})).await;
    let took = started.elapsed();
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    let answers = output(&report, "ask");
    let texts: Vec<&str> = answers.as_array().unwrap().iter().map(|a| a["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        ["echo: translate chat", "echo: translate chien", "echo: translate chat", "echo: translate chat"]
    );
    // Two distinct prompts, asked at once: two requests, in about one answer's time (100 ms each).
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 2);
    assert!(took < Duration::from_millis(350), "the items did not run at once: {took:?}");
    assert!(answers.as_array().unwrap().iter().all(|a| a["usage"]["total_tokens"] == 5), "{answers}");
}

#[tokio::test]
async fn progress_is_told_as_items_end_and_once_more_at_the_end() {
    let h = harness(|_| {}).await;
    let version = h
        .version(one_node(json!({"id": "wait", "type": "delay", "config": {"ms": 20},
                                 "for_each": "range(40)", "concurrency": 2})))
        .await;
    let mut handle = h.engine.start(StartRequest::new(&version, h.owner.id, Trigger::Manual, json!({}))).await.unwrap();
    let mut seen = Vec::new();
    loop {
        match handle.events.recv().await {
            Ok(RunEvent::Items { node, done, failed, total }) => {
                assert_eq!((node.as_str(), failed, total), ("wait", 0, 40));
                seen.push(done);
            }
            Ok(RunEvent::Finished { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress went back: {seen:?}");
    assert_eq!(seen.last(), Some(&40), "{seen:?}");
    // 40 items over ~400 ms, told at most every 50 ms: several steps, not one per item.
    assert!(seen.len() >= 4 && seen.len() < 40, "{seen:?}");
    assert_eq!(handle.done.await.unwrap().unwrap().status, ExecutionStatus::Succeeded);
}
