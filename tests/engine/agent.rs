//! `agent` nodes on both backends, against a local fake model that plans a
//! day with tools: it calls two tools at once, then a third, then answers
//! with what they gave it. In the OpenAI-compatible shape (streamed tool
//! calls) and in Anthropic's (`tool_use` and `tool_result` blocks); a model
//! that never stops calling tools, and calls that cannot run.

use std::sync::Mutex;

use app::model::agent::AgentStep;

use super::*;

on_both_backends!(
    an_agent_calls_two_tools_at_once_then_a_third_then_answers,
    an_anthropic_agent_speaks_in_tool_use_blocks,
    a_model_that_keeps_calling_tools_fails_at_max_steps,
    a_tool_call_that_cannot_run_is_an_error_the_model_reads,
);

/// What the fake model was asked, request by request.
#[derive(Clone, Default)]
struct FakeModel {
    requests: Arc<Mutex<Vec<Value>>>,
}

impl FakeModel {
    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }
}

/// Serves the fake model at `<url>/v1` in both shapes.
async fn fake_model() -> (String, FakeModel) {
    let fake = FakeModel::default();
    let router = Router::new()
        .route("/v1/chat/completions", post(openai_turn))
        .route("/v1/messages", post(anthropic_turn))
        .with_state(fake.clone());
    (format!("{}/v1", serve(router).await), fake)
}

/// What the model does next, from the prompt and the results it has.
enum Next {
    Call(Vec<(&'static str, Value)>),
    Answer(String),
}

fn plan(prompt: &str, results: &[String]) -> Next {
    if prompt.contains("LOOP") {
        return Next::Call(vec![("clock", json!({}))]);
    }
    if prompt.contains("BAD") {
        return match results.len() {
            // An unknown tool, arguments against the schema, arguments that are not JSON.
            0 => Next::Call(vec![
                ("teleport", json!({"to": "Mars"})),
                ("weather", json!({"city": 5})),
                ("search", json!("{\"q\": ")),
            ]),
            _ => Next::Answer(format!("could not: {}", results.join(" | "))),
        };
    }
    match results.len() {
        0 => Next::Call(vec![("weather", json!({"city": "Oslo"})), ("search", json!({"q": "museums"}))]),
        2 => Next::Call(vec![("clock", json!({"tz": "CET"}))]),
        _ => Next::Answer(format!("Plan from {}", results.join(" + "))),
    }
}

async fn openai_turn(State(fake): State<FakeModel>, Json(body): Json<Value>) -> Response {
    fake.requests.lock().unwrap().push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt = messages.iter().find(|m| m["role"] == "user").and_then(|m| m["content"].as_str()).unwrap_or("");
    let results: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect();
    let turn = messages.iter().filter(|m| m["role"] == "assistant").count();
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12});
    let events: Vec<Value> = match plan(prompt, &results) {
        // Each call streamed in pieces: its id and name, then its arguments in two parts.
        Next::Call(calls) => calls
            .iter()
            .enumerate()
            .flat_map(|(i, (name, args))| {
                // A string is sent as the arguments' text, as it is (JSON or not).
                let text = match args {
                    Value::String(text) => text.clone(),
                    args => args.to_string(),
                };
                let (a, b) = text.split_at(text.len() / 2);
                let id = format!("call_{turn}_{i}");
                [
                    json!({"choices": [{"delta": {"tool_calls": [{"index": i, "id": id, "type": "function",
                        "function": {"name": name, "arguments": a}}]}}]}),
                    json!({"choices": [{"delta": {"tool_calls": [{"index": i, "function": {"arguments": b}}]}}]}),
                ]
            })
            .collect(),
        Next::Answer(text) => vec![json!({"model": "planner-1", "choices": [{"delta": {"content": text}}]})],
    };
    let mut stream: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    stream.push_str(&format!("data: {}\n\ndata: [DONE]\n\n", json!({"choices": [], "usage": usage})));
    ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], stream).into_response()
}

async fn anthropic_turn(State(fake): State<FakeModel>, Json(body): Json<Value>) -> Response {
    fake.requests.lock().unwrap().push(body.clone());
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let prompt = messages[0]["content"].as_str().unwrap_or("");
    let blocks = messages
        .iter()
        .filter(|m| m["role"] == "user")
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default());
    let results: Vec<String> = blocks
        .filter(|b| b["type"] == "tool_result")
        .filter_map(|b| b["content"].as_str().map(str::to_owned))
        .collect();
    let content: Vec<Value> = match plan(prompt, &results) {
        Next::Call(calls) => calls
            .iter()
            .enumerate()
            .map(|(i, (name, args))| json!({"type": "tool_use", "id": format!("toolu_{}_{i}", results.len()), "name": name, "input": args}))
            .collect(),
        Next::Answer(text) => vec![json!({"type": "text", "text": text})],
    };
    Json(json!({"type": "message", "model": "claude-planner", "content": content,
        "stop_reason": "tool_use", "usage": {"input_tokens": 20, "output_tokens": 5}}))
    .into_response()
}

/// The tools' upstream: each request waits 300 ms, and the most in flight at once is kept.
#[derive(Clone, Default)]
struct Tools {
    in_flight: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
}

async fn tools_upstream() -> (String, Tools) {
    let tools = Tools::default();
    async fn slow(State(tools): State<Tools>, Json(body): Json<Value>) -> Json<Value> {
        tools.calls.fetch_add(1, Ordering::SeqCst);
        let now = tools.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        tools.most.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        tools.in_flight.fetch_sub(1, Ordering::SeqCst);
        Json(json!({"asked": body}))
    }
    let router = Router::new().route("/tool", post(slow)).with_state(tools.clone());
    (serve(router).await, tools)
}

/// The planner: `weather` and `search` are HTTP tools, `clock` a workflow.
async fn planner(h: &Harness, prompt: &str, provider: Option<&str>, tools_url: &str) -> Value {
    let clock = h
        .version(json!({"name": "Clock", "nodes": [
            {"id": "now", "type": "template", "config": {"template": "12:00 {{ input.tz }}"}}
        ]}))
        .await;
    let http = |name: &str| {
        json!({"method": "POST", "url": format!("{tools_url}/tool"),
               "headers": {"content-type": "application/json"},
               "body": format!("{{\"tool\": \"{name}\", \"args\": {{{{ args | tojson }}}}}}")})
    };
    let mut config = json!({
        "prompt": prompt,
        "system": "You plan days.",
        "max_steps": 3,
        "tools": [
            {"name": "weather", "description": "Weather in a city",
             "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
             "http": http("weather")},
            {"name": "search", "description": "Search the web",
             "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}},
             "http": http("search")},
            {"name": "clock", "description": "The time", "workflow": clock.workflow_id},
        ],
    });
    if let Some(provider) = provider {
        config["provider"] = json!(provider);
    }
    json!({"name": format!("plan {prompt}"), "nodes": [{"id": "plan", "type": "agent", "config": config}]})
}

fn steps_of(items: &[NodeItem]) -> Vec<AgentStep> {
    app::model::agent::last_epoch(items, "plan").1.into_iter().map(|(_, step)| step).collect()
}

fn kinds(steps: &[AgentStep]) -> Vec<&'static str> {
    steps
        .iter()
        .map(|step| match step {
            AgentStep::Model { .. } => "model",
            AgentStep::Tool { .. } => "tool",
            AgentStep::Failed { .. } => "failed",
        })
        .collect()
}

async fn an_agent_calls_two_tools_at_once_then_a_third_then_answers(db: &TestDb) {
    let (model_url, model) = fake_model().await;
    let h = harness_on(db, |settings| settings.llm.base_url = model_url.clone()).await;
    let (tools_url, tools) = tools_upstream().await;
    let version = h.version(planner(&h, "Plan a day in Oslo", None, &tools_url).await).await;
    let mut handle = h.engine.start(StartRequest::new(&version, h.owner.id, Trigger::Manual, json!({}))).await.unwrap();
    let mut live_steps = Vec::new();
    loop {
        match handle.events.recv().await {
            Ok(RunEvent::Step { node, index, .. }) => {
                assert_eq!(node, "plan");
                live_steps.push(index);
            }
            Ok(RunEvent::Finished { .. }) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let report = handle.done.await.unwrap().unwrap();
    let plan = node(&report, "plan");
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", plan.error);
    let output = plan.output.clone().unwrap();
    // The answer holds what each tool gave back.
    let text = output["text"].as_str().unwrap();
    assert!(text.starts_with("Plan from "), "{text}");
    assert!(text.contains(r#""args":{"city":"Oslo"}"#) && text.contains(r#""q":"museums""#), "{text}");
    assert!(text.contains("12:00 CET"), "the workflow tool's answer: {text}");
    assert_eq!((output["turns"].as_u64(), output["tool_calls"].as_u64()), (Some(3), Some(3)));
    assert_eq!(output["usage"]["total_tokens"], 36);
    assert_eq!(output["provider"], "default");
    // The two calls of the first turn ran at once.
    assert_eq!(tools.calls.load(Ordering::SeqCst), 2);
    assert_eq!(tools.most.load(Ordering::SeqCst), 2, "the first turn's two calls run in parallel");

    // The model was told of the tools, then given each result, in the order it asked.
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0]["tools"][0]["function"]["name"], "weather");
    assert_eq!(requests[0]["tools"][2]["function"]["parameters"], json!({"type": "object"}));
    let second = requests[1]["messages"].as_array().unwrap();
    assert_eq!(second[0], json!({"role": "system", "content": "You plan days."}));
    assert_eq!(second[2]["tool_calls"][1]["function"]["arguments"], r#"{"q":"museums"}"#);
    assert_eq!((second[3]["role"].as_str(), second[3]["tool_call_id"].as_str()), (Some("tool"), Some("call_0_0")));
    assert_eq!(second[4]["tool_call_id"], "call_0_1");

    // The trace: every step, in order, with each call's input and output.
    let items = h.store.node_items_of(report.id).await.unwrap();
    let steps = steps_of(&items);
    assert_eq!(kinds(&steps), ["model", "tool", "tool", "model", "tool", "model"]);
    // Each step was announced as it was recorded (two parallel calls' writes may end in either order).
    live_steps.sort();
    assert_eq!(live_steps, [0, 1, 2, 3, 4, 5]);
    let AgentStep::Model { turn: 1, calls, .. } = &steps[0] else { panic!("{:?}", steps[0]) };
    assert_eq!(calls.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["weather", "search"]);
    let clock = steps.iter().find_map(|s| match s {
        AgentStep::Tool { name, input, output, error: None, .. } if name == "clock" => Some((input, output)),
        _ => None,
    });
    let (input, output) = clock.expect("the clock call's step");
    assert_eq!(input, &json!({"tz": "CET"}));
    assert_eq!(output.as_ref().unwrap()["text"], "12:00 CET");
    // The workflow tool ran as a child run of this one.
    let children = h.store.child_executions(report.id, false, 10).await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].parent.as_ref().unwrap().node, "plan");
    // Usage: one record per turn.
    let usage = h.store.llm_usage(UsageOf::Execution(report.id), 0).await.unwrap();
    assert_eq!((usage.calls, usage.prompt_tokens + usage.completion_tokens), (3, 36));
}

async fn an_anthropic_agent_speaks_in_tool_use_blocks(db: &TestDb) {
    let (model_url, model) = fake_model().await;
    let h = harness_on(db, |_| {}).await;
    h.credential("claude", "llm", json!({"api": "anthropic", "base_url": model_url, "default_model": "claude-x"}))
        .await;
    let (tools_url, _tools) = tools_upstream().await;
    let report = h.run(planner(&h, "Plan a day in Oslo", Some("claude"), &tools_url).await, json!({})).await;
    let plan = node(&report, "plan");
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", plan.error);
    let output = plan.output.clone().unwrap();
    assert!(output["text"].as_str().unwrap().contains("12:00 CET"), "{output}");
    assert_eq!((output["provider"].as_str(), output["model"].as_str()), (Some("claude"), Some("claude-planner")));
    let requests = model.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0]["system"], "You plan days.");
    assert_eq!(requests[0]["tools"][0]["input_schema"]["required"], json!(["city"]));
    let second = requests[1]["messages"].as_array().unwrap();
    assert_eq!(second[1]["content"][0]["type"], "tool_use");
    assert_eq!(second[1]["content"][1]["input"], json!({"q": "museums"}));
    assert_eq!(second[2]["role"], "user");
    assert_eq!(second[2]["content"][0]["tool_use_id"], "toolu_0_0");
    assert_eq!(second[2]["content"][1]["is_error"], false);
}

async fn a_model_that_keeps_calling_tools_fails_at_max_steps(db: &TestDb) {
    let (model_url, model) = fake_model().await;
    let h = harness_on(db, |settings| settings.llm.base_url = model_url.clone()).await;
    let (tools_url, _tools) = tools_upstream().await;
    let report = h.run(planner(&h, "LOOP forever", None, &tools_url).await, json!({})).await;
    assert_eq!(report.status, ExecutionStatus::Failed);
    let error = node(&report, "plan").error.clone().unwrap();
    assert_eq!(
        error,
        "the model took all 3 turns (max_steps) without answering; it was still calling tools (clock): \
         raise max_steps, or say in the prompt when to stop"
    );
    assert_eq!(model.requests().len(), 3, "no turn past max_steps");
    let steps = steps_of(&h.store.node_items_of(report.id).await.unwrap());
    // The third turn's call is not run: its result could never be read.
    assert_eq!(kinds(&steps), ["model", "tool", "model", "tool", "model", "failed"]);
}

async fn a_tool_call_that_cannot_run_is_an_error_the_model_reads(db: &TestDb) {
    let (model_url, _model) = fake_model().await;
    let h = harness_on(db, |settings| settings.llm.base_url = model_url.clone()).await;
    let (tools_url, tools) = tools_upstream().await;
    let report = h.run(planner(&h, "BAD plans", None, &tools_url).await, json!({})).await;
    let plan = node(&report, "plan");
    assert_eq!(report.status, ExecutionStatus::Succeeded, "{:?}", plan.error);
    let text = plan.output.as_ref().unwrap()["text"].as_str().unwrap().to_string();
    assert!(text.contains("there is no tool `teleport`; the tools are: weather, search, clock"), "{text}");
    assert!(text.contains("the arguments do not follow the tool's input_schema: at /city: 5 is not of type"), "{text}");
    assert!(text.contains(r#"the arguments are not a JSON object: the model sent `{"q": `"#), "{text}");
    assert_eq!(tools.calls.load(Ordering::SeqCst), 0, "nothing ran with bad arguments");
    let steps = steps_of(&h.store.node_items_of(report.id).await.unwrap());
    assert_eq!(steps.iter().filter(|s| s.failed()).count(), 3, "{steps:?}");
}
