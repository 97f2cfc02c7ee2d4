//! Running an agent's tool calls: each call's arguments are checked against
//! its tool's schema, then the tool runs (a workflow as a child run, or an
//! HTTP request whose templates read `args`); several calls of one turn run
//! at once. A call that fails is not the agent's failure: its error is the
//! result the model reads (it may try another way).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use app::model::agent::{AgentStep, ToolCall};
use app::model::node_config::{AgentTool, MAX_TOOL_CALLS_PER_TURN, TOOL_CALL_CONCURRENCY};
use futures::StreamExt;
use serde_json::{json, Value};

use super::journal::Journal;
use super::PendingCalls;
use crate::engine::nodes::workflow::Target;
use crate::engine::nodes::{Item, NodeScope, NodeServices};
use crate::engine::Engine;

/// The largest tool result kept whole in the trace (larger: the text the model read).
const MAX_KEPT_RESULT_BYTES: usize = 64 * 1024;
/// The longest error kept and given to the model.
const MAX_ERROR_BYTES: usize = 4096;

/// `text` cut to at most `max` bytes, on a character boundary.
fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// An agent's tools, their schemas compiled once per run of the node.
pub(super) struct Toolbox<'a> {
    tools: HashMap<&'a str, (&'a AgentTool, jsonschema::Validator)>,
    names: Vec<&'a str>,
    services: &'a NodeServices,
    epoch: i32,
}

impl<'a> Toolbox<'a> {
    pub fn new(tools: &'a [AgentTool], services: &'a NodeServices, epoch: i32) -> Result<Self, String> {
        let mut compiled = HashMap::new();
        for tool in tools {
            let validator = jsonschema::validator_for(&tool.input_schema)
                .map_err(|e| format!("tool `{}`: input_schema is not a valid JSON Schema: {e}", tool.name))?;
            compiled.insert(tool.name.as_str(), (tool, validator));
        }
        let names = tools.iter().map(|tool| tool.name.as_str()).collect();
        Ok(Self { tools: compiled, names, services, epoch })
    }

    /// Runs the calls (at most [`TOOL_CALL_CONCURRENCY`] at once) and writes
    /// each one's step as it ends. Fails only when a step cannot be written.
    pub async fn run_calls(
        &self,
        turn: u32,
        calls: PendingCalls,
        scope: &NodeScope,
        journal: &Journal,
        engine: &Arc<Engine>,
    ) -> Result<(), String> {
        let mut running = futures::stream::iter(calls)
            .map(|(position, call)| async move {
                let started = Instant::now();
                let result = if position >= MAX_TOOL_CALLS_PER_TURN {
                    Err(format!(
                        "not run: at most {MAX_TOOL_CALLS_PER_TURN} tool calls of one turn run; ask for the rest in the next turn"
                    ))
                } else {
                    self.call(turn, position, &call, scope, engine).await
                };
                let ToolCall { id, name, input } = call;
                // What is kept is what the model reads: a result past the
                // limit is kept as the text it was given.
                let (output, error) = match result {
                    Ok(output) if crate::weigh::json_bytes(&output) > MAX_KEPT_RESULT_BYTES => {
                        (Some(Value::String(super::result_text(&output))), None)
                    }
                    Ok(output) => (Some(output), None),
                    Err(error) => (None, Some(cut(error, MAX_ERROR_BYTES))),
                };
                let ms = started.elapsed().as_millis() as u64;
                journal.record(AgentStep::Tool { turn, call: id, name, input, output, error, ms }).await
            })
            .buffer_unordered(TOOL_CALL_CONCURRENCY);
        while let Some(written) = running.next().await {
            written?;
        }
        Ok(())
    }

    async fn call(
        &self,
        turn: u32,
        position: usize,
        call: &ToolCall,
        scope: &NodeScope,
        engine: &Arc<Engine>,
    ) -> Result<Value, String> {
        let Some((tool, schema)) = self.tools.get(call.name.as_str()) else {
            let name: String = call.name.chars().take(64).collect();
            return Err(format!("there is no tool `{name}`; the tools are: {}", self.names.join(", ")));
        };
        match &call.input {
            Value::Object(_) => {}
            // Kept as the model wrote it when it is not JSON (see `turns::parse_arguments`).
            Value::String(text) => {
                let shown: String = text.chars().take(200).collect();
                return Err(format!("the arguments are not a JSON object: the model sent `{shown}`"));
            }
            other => return Err(format!("the arguments must be a JSON object, not {other}")),
        }
        let problems: Vec<String> = schema
            .iter_errors(&call.input)
            .take(5)
            .map(|error| match error.instance_path().as_str() {
                "" => error.to_string(),
                path => format!("at {path}: {error}"),
            })
            .collect();
        if !problems.is_empty() {
            return Err(format!("the arguments do not follow the tool's input_schema: {}", problems.join("; ")));
        }
        if let Some(workflow) = tool.workflow {
            let target = Target { workflow, version: tool.version, wait: true };
            // The child is found again after a crash by this number: the
            // epoch, the turn and the call's place in it.
            let key = i64::from(self.epoch) * 1_000_000 + i64::from(turn) * 1_000 + position as i64;
            let input = call.input.clone();
            return self.services.workflows.call(target, async { Ok(input) }, scope, key).await;
        }
        let Some(http) = &tool.http else { return Err(format!("tool `{}` runs nothing", tool.name)) };
        let mut tool_scope = scope.clone();
        tool_scope.idempotency_key = format!("{}-{}-{turn}-{position}", scope.idempotency_key, self.epoch);
        tool_scope.item = Some(Item {
            bytes: crate::weigh::json_bytes(&call.input),
            value: Arc::new(call.input.clone()),
            index: position,
        });
        let slot = engine.slots.acquire(scope.owner).await;
        let answer = self.services.http.run(http, &tool_scope, &self.services.templates).await?;
        drop(slot);
        // The model needs what was answered, not the transport's headers.
        Ok(json!({"status": answer["status"], "body": answer["body"]}))
    }
}
