//! `llm` nodes with a `schema`, on both backends: the answer is parsed JSON
//! that follows the schema; a stray answer is asked for once more with what
//! was wrong; a second miss fails the node with the problems; only answers
//! that follow the schema are cached.

use super::*;

on_both_backends!(
    an_answer_following_the_schema_is_the_nodes_output_and_is_cached,
    a_stray_answer_is_asked_for_again_once_then_fails_with_the_problems,
);

fn extract(prompt: &str, cache: bool) -> Value {
    json!({"name": format!("extract {prompt} {cache}"), "nodes": [
        {"id": "extract", "type": "llm", "config": {"prompt": prompt, "cache": cache, "schema": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name", "age"]
        }}},
        {"id": "greet", "type": "template", "config": {"template": "{{ nodes.extract.name }} is {{ nodes.extract.age }}"}}
    ], "edges": [{"from": "extract", "to": "greet"}]})
}

async fn an_answer_following_the_schema_is_the_nodes_output_and_is_cached(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let report = h.run(extract("Who is in PERSON: Ada, 36", true), json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    assert_eq!(node(&report, "extract").output, Some(json!({"name": "Ada", "age": 36})));
    assert_eq!(node(&report, "greet").output, Some(json!({"text": "Ada is 36"})));
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1);
    let again = h.run(extract("Who is in PERSON: Ada, 36", true), json!({})).await;
    assert_eq!(node(&again, "extract").output, Some(json!({"name": "Ada", "age": 36})));
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 1, "answered from the cache");
}

async fn a_stray_answer_is_asked_for_again_once_then_fails_with_the_problems(db: &TestDb) {
    let h = harness_on(db, |_| {}).await;
    let report = h.run(extract("SLOPPY: Ada, 36", false), json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", report.error);
    assert_eq!(node(&report, "extract").output, Some(json!({"name": "Ada", "age": 36})));
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 2, "asked once more");

    let report = h.run(extract("STUBBORN: Ada, 36", true), json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    let error = node(&report, "extract").error.clone().unwrap_or_default();
    assert!(error.contains("the answer does not follow the schema, even when asked again"), "{error}");
    assert!(error.contains("at /name: 5 is not of type \"string\""), "{error}");
    assert!(error.contains("\"age\" is a required property"), "{error}");
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 4);
    // A failure is not cached: the next run asks again.
    h.run(extract("STUBBORN: Ada, 36", true), json!({})).await;
    assert_eq!(h.llm.requests.load(Ordering::SeqCst), 6);
}
