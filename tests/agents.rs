//! `agent` nodes over real HTTP: a definition with a bad agent is refused
//! with messages naming the node and field, a good one runs against a local
//! fake model and tool, and its trace is read through the REST API (and only
//! by who may read the run).

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::client::Api;
use support::TestDb;

on_both_backends!(an_agents_definition_is_checked_and_its_trace_is_read_over_the_api);

/// An OpenAI-compatible model that calls `lookup` once, then answers with its result.
async fn fake_model() -> String {
    async fn turn(axum::Json(body): axum::Json<Value>) -> axum::Json<Value> {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let result = messages.iter().find(|m| m["role"] == "tool").and_then(|m| m["content"].as_str());
        let message = match result {
            None => json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "lookup", "arguments": "{\"word\": \"weft\"}"}}]}),
            Some(result) => json!({"role": "assistant", "content": format!("found {result}")}),
        };
        axum::Json(json!({"model": "m-1", "choices": [{"message": message}],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}}))
    }
    async fn lookup(axum::extract::Query(query): axum::extract::Query<Value>) -> axum::Json<Value> {
        axum::Json(json!({"meaning": format!("{} = threads across the warp", query["word"].as_str().unwrap_or("?"))}))
    }
    let routes = axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(turn))
        .route("/lookup", axum::routing::get(lookup));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, routes).await });
    format!("http://{addr}")
}

async fn an_agents_definition_is_checked_and_its_trace_is_read_over_the_api(db: &TestDb) {
    let (server, base) = support::start_server(db).await;
    let api = Api::for_new_user(&server, &base, "agent-user@example.com").await;
    let fake = fake_model().await;
    let (status, _) = api
        .json(
            Method::POST,
            "/credentials",
            Some(json!({"name": "model", "kind": "llm", "data": {"api": "openai", "base_url": format!("{fake}/v1"), "default_model": "m"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    for (node, says) in [
        (
            json!({"id": "plan", "type": "agent", "config": {"prompt": "go", "tools": [
                {"name": "lookup", "input_schema": {"type": "string"}, "workflow": 1}]}}),
            "node `plan` (agent): config.tools[0].input_schema must be a JSON Schema of an object",
        ),
        (
            json!({"id": "plan", "type": "agent", "config": {"prompt": "go", "tools": [{"name": "x", "workflw": 1}]}}),
            "node `plan` (agent): config.tools[0].workflw: unknown field `workflw`",
        ),
        (
            json!({"id": "plan", "type": "agent", "config": {"prompt": "go", "max_steps": 500}}),
            "node `plan` (agent): config.max_steps must be 1 to 50, not 500",
        ),
        (
            json!({"id": "plan", "type": "agent", "config": {"prompt": "go", "tools": [{"name": "x", "workflow": 999}]}}),
            "node `plan` (agent): config.tools[0].workflow: workflow 999 does not exist or is not one of your workflows",
        ),
        (
            json!({"id": "plan", "type": "agent", "for_each": "input.rows", "config": {"prompt": "go"}}),
            "for_each is not available on agent nodes",
        ),
    ] {
        let (status, refused) = api.create_workflow(&json!({"name": "Bad agent", "nodes": [node]})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert!(refused.to_string().contains(says), "{says}: {refused}");
    }

    let id = api
        .create_workflow_id(&json!({"name": "Look it up", "nodes": [
            {"id": "plan", "type": "agent", "config": {"provider": "model", "prompt": "What is {{ input.word }}?",
             "tools": [{"name": "lookup", "description": "A dictionary",
                        "input_schema": {"type": "object", "properties": {"word": {"type": "string"}}},
                        "http": {"method": "GET", "url": format!("{fake}/lookup?word={{{{ args.word }}}}")}}]}},
            {"id": "after", "type": "template", "config": {"template": "{{ nodes.plan.text }}"}}
        ], "edges": [{"from": "plan", "to": "after"}]}))
        .await;
    let (status, report) = api.run_execution(id, Some(json!({"input": {"word": "weft"}}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "succeeded", "{report}");
    let output = &report["nodes"]["plan"]["output"];
    assert!(output["text"].as_str().unwrap().contains("threads across the warp"), "{output}");
    assert_eq!((output["turns"].as_u64(), output["tool_calls"].as_u64()), (Some(2), Some(1)));
    assert_eq!(output["provider"], "model");
    let execution = report["id"].as_i64().unwrap();

    let (status, steps) = api.json(Method::GET, &format!("/executions/{execution}/nodes/plan/steps"), None).await;
    assert_eq!(status, StatusCode::OK, "{steps}");
    let kinds: Vec<&str> = steps.as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["model", "tool", "model"]);
    assert_eq!(steps[0]["calls"][0]["input"], json!({"word": "weft"}));
    assert_eq!(steps[1]["output"]["status"], 200);
    assert_eq!(steps[2]["usage"]["total_tokens"], 6);
    // A node that is not an agent has no steps; someone else's run is not found.
    let (status, none) = api.json(Method::GET, &format!("/executions/{execution}/nodes/after/steps"), None).await;
    assert_eq!((status, none), (StatusCode::OK, json!([])));
    let stranger = Api::for_new_user(&server, &base, "stranger@example.com").await;
    let (status, _) = stranger.json(Method::GET, &format!("/executions/{execution}/nodes/plan/steps"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
