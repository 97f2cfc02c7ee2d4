//! `agent` nodes: the model is asked with the tools it may call; the calls
//! it makes run (several at once when it makes several), their results go
//! back to it, and so on until it answers without calling a tool, or has
//! taken `max_steps` turns (the node then fails, saying so).
//!
//! Every step (a model turn, each tool call's end) is written as it happens
//! ([`journal`]), before the next one starts: a run resumed after a crash
//! rebuilds the conversation from the steps written and goes on from the
//! last one, without asking the model again or calling a tool twice. The
//! steps are the trace the run view shows.

mod journal;
mod tools;

use std::sync::{Arc, Weak};
use std::time::Instant;

use app::model::agent::{AgentStep, ToolCall};
use app::model::node_config::AgentConfig;
use serde_json::{json, Value};

use self::journal::{Journal, Progress};
use super::llm::turns::ToolSpec;
use super::llm::Question;
use super::{NodeScope, NodeServices};
use crate::engine::events::RunEvents;
use crate::engine::Engine;

/// Runs agents; holds the engine weakly (to write steps and start workflow tools).
pub struct Agents {
    engine: Weak<Engine>,
}

impl Agents {
    pub fn new(engine: Weak<Engine>) -> Self {
        Self { engine }
    }

    pub async fn run(
        &self,
        services: &NodeServices,
        config: &AgentConfig,
        scope: &NodeScope,
        events: &RunEvents,
    ) -> Result<Value, String> {
        let engine = self.engine.upgrade().ok_or("this Weft process is shutting down")?;
        let journal = Journal::open(&engine, scope, events).await?;
        match self.converse(&engine, services, config, scope, events, &journal).await {
            Ok(output) => Ok(output),
            Err(error) => {
                // A retry starts a new conversation; a resumed run (no failure
                // written) goes on with this one.
                journal.record_failure(&error).await;
                Err(error)
            }
        }
    }

    async fn converse(
        &self,
        engine: &Arc<Engine>,
        services: &NodeServices,
        config: &AgentConfig,
        scope: &NodeScope,
        events: &RunEvents,
        journal: &Journal,
    ) -> Result<Value, String> {
        let templates = &services.templates;
        let tools = config
            .tools
            .iter()
            .map(|tool| ToolSpec {
                name: tool.name.clone(),
                description: tool.description.clone(),
                input_schema: tool.input_schema.clone(),
            })
            .collect();
        let question = Question {
            system: match config.system.as_deref() {
                Some(system) => Some(templates.render("system", system, scope).await?),
                None => None,
            },
            prompt: templates.render("prompt", &config.prompt, scope).await?,
            temperature: config.temperature,
            max_tokens: config.max_tokens,
            tools,
        };
        let toolbox = tools::Toolbox::new(&config.tools, services, journal.epoch())?;
        let (llm, outbound) = (&services.llm, &services.http);
        let providers =
            llm.providers(config.provider.as_deref(), &config.model, &config.fallbacks, scope.owner, outbound).await;
        loop {
            match journal.progress() {
                Progress::Answered => return Ok(output(&journal.steps())),
                // The last turn's calls are not run: their results could not be read.
                Progress::ToolsPending { turn, .. } if turn >= config.max_steps => {
                    return Err(out_of_steps(config.max_steps, &journal.steps()));
                }
                Progress::ToolsPending { turn, calls } => {
                    toolbox.run_calls(turn, calls, scope, journal, engine).await?;
                }
                Progress::Ask { turns, taken } => {
                    if taken >= config.max_steps {
                        return Err(out_of_steps(config.max_steps, &journal.steps()));
                    }
                    let started = Instant::now();
                    // A node slot of the run's owner is held while the agent
                    // works (a model turn, an HTTP tool call), not while it
                    // waits for a workflow tool's child run (which takes its own).
                    let slot = engine.slots.acquire(scope.owner).await;
                    let answer = llm.turn(&providers, &question, &turns, scope, events, outbound).await?;
                    drop(slot);
                    journal
                        .record(AgentStep::Model {
                            turn: taken + 1,
                            text: answer.text,
                            calls: answer.tool_calls,
                            provider: answer.provider,
                            model: answer.model,
                            usage: answer.usage,
                            ms: started.elapsed().as_millis() as u64,
                        })
                        .await?;
                }
            }
        }
    }
}

/// The node's output once the model answered: its answer, how many turns and
/// tool calls it took, and the usage of all its turns.
fn output(steps: &[AgentStep]) -> Value {
    let mut usage = json!({"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0});
    let (mut turns, mut tool_calls) = (0, 0);
    let mut last = None;
    for step in steps {
        match step {
            AgentStep::Model { usage: used, .. } => {
                turns += 1;
                for kind in ["prompt_tokens", "completion_tokens", "total_tokens"] {
                    let sum = usage[kind].as_u64().unwrap_or(0).saturating_add(used[kind].as_u64().unwrap_or(0));
                    usage[kind] = json!(sum);
                }
                last = Some(step);
            }
            AgentStep::Tool { .. } => tool_calls += 1,
            AgentStep::Failed { .. } => {}
        }
    }
    let (text, provider, model) = match last {
        Some(AgentStep::Model { text, provider, model, .. }) => (text.as_str(), provider.as_str(), model.as_str()),
        _ => ("", "", ""),
    };
    json!({
        "text": text,
        "turns": turns,
        "tool_calls": tool_calls,
        "usage": usage,
        "provider": provider,
        "model": model,
    })
}

/// Why an agent that used up its turns failed, with what it still wanted.
fn out_of_steps(max_steps: u32, steps: &[AgentStep]) -> String {
    let wanted: Vec<&str> = steps
        .iter()
        .rev()
        .find_map(|step| match step {
            AgentStep::Model { calls, .. } => Some(calls.iter().map(|c| c.name.as_str()).collect()),
            _ => None,
        })
        .unwrap_or_default();
    format!(
        "the model took all {max_steps} turns (max_steps) without answering; it was still calling tools ({}): \
         raise max_steps, or say in the prompt when to stop",
        wanted.join(", ")
    )
}

/// What a tool's result says to the model: its output as JSON, cut to
/// [`MAX_RESULT_BYTES`] (a tool that answers megabytes would fill the
/// model's context and be sent again on every turn).
fn result_text(output: &Value) -> String {
    let text = output.to_string();
    if text.len() <= MAX_RESULT_BYTES {
        return text;
    }
    let mut end = MAX_RESULT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… (cut: the result is {} bytes, only the first {MAX_RESULT_BYTES} are shown)", &text[..end], text.len())
}

/// The most of one tool result the model is given.
const MAX_RESULT_BYTES: usize = 32 * 1024;

/// The calls of a model turn with their place in it (what makes a workflow
/// tool's child run found again after a crash).
type PendingCalls = Vec<(usize, ToolCall)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_sums_every_turn() {
        let model = |turn, text: &str, calls: Vec<ToolCall>, tokens: u64| AgentStep::Model {
            turn,
            text: text.into(),
            calls,
            provider: "default".into(),
            model: "m".into(),
            usage: json!({"prompt_tokens": tokens, "completion_tokens": 1, "total_tokens": tokens + 1}),
            ms: 1,
        };
        let call = ToolCall { id: "c".into(), name: "clock".into(), input: json!({}) };
        let steps = vec![
            model(1, "", vec![call], 10),
            AgentStep::Tool {
                turn: 1,
                call: "c".into(),
                name: "clock".into(),
                input: json!({}),
                output: Some(json!("12:00")),
                error: None,
                ms: 1,
            },
            model(2, "It is noon.", vec![], 20),
        ];
        let out = output(&steps);
        assert_eq!(out["text"], "It is noon.");
        assert_eq!((out["turns"].as_u64(), out["tool_calls"].as_u64()), (Some(2), Some(1)));
        assert_eq!(out["usage"], json!({"prompt_tokens": 30, "completion_tokens": 2, "total_tokens": 32}));
        assert!(out_of_steps(2, &steps[..2]).contains("(clock)"));
    }

    #[test]
    fn a_huge_result_is_cut_on_a_character_boundary() {
        let text = result_text(&json!("é".repeat(MAX_RESULT_BYTES)));
        assert!(text.len() < MAX_RESULT_BYTES + 200);
        assert!(text.contains("(cut: the result is"));
        assert_eq!(result_text(&json!({"ok": true})), "{\"ok\":true}");
    }
}
