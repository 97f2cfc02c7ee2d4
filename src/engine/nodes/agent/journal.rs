//! An agent's steps, written one by one as they happen (in the node-items
//! table, fenced by the run's lease like every write of a run), and what the
//! conversation is, rebuilt from them.
//!
//! Each attempt of the node is an epoch (the rows' `attempt`): a resumed run
//! goes on with the last epoch unless it ended in a failure, in which case
//! the node is being retried and starts a new conversation. Earlier epochs'
//! rows stay (the trace shows the last one) and go with the execution.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::agent::{AgentStep, ToolCall};
use app::model::{ExecutionId, NodeItem, RunEvent};

use super::{result_text, PendingCalls};
use crate::engine::events::RunEvents;
use crate::engine::nodes::llm::turns::{ToolResult, Turn};
use crate::engine::nodes::NodeScope;
use crate::engine::Engine;

pub(super) struct Journal {
    engine: Arc<Engine>,
    execution: ExecutionId,
    node: String,
    events: RunEvents,
    epoch: i32,
    written: Mutex<Written>,
}

#[derive(Default)]
struct Written {
    steps: Vec<AgentStep>,
    /// The index the next step is written at (past any written before a crash).
    next_index: usize,
}

/// Where the conversation is.
#[derive(Debug, PartialEq)]
pub(super) enum Progress {
    /// The model's last turn called no tool: that is its answer.
    Answered,
    /// Calls of the model's last turn that have no result yet.
    ToolsPending { turn: u32, calls: PendingCalls },
    /// The model is to be asked, with the turns so far; `taken` turns were.
    Ask { turns: Vec<Turn>, taken: u32 },
}

impl Journal {
    /// The node's steps written so far, if this run is resumed, and the epoch to go on in.
    pub async fn open(engine: &Arc<Engine>, scope: &NodeScope, events: &RunEvents) -> Result<Self, String> {
        let items = engine
            .store
            .node_items_of(scope.execution_id)
            .await
            .map_err(|e| format!("could not read the agent's steps: {e}"))?;
        let (last_epoch, rows) = app::model::agent::last_epoch(&items, &scope.node_id);
        let next_index = rows.last().map_or(0, |(index, _)| index + 1);
        let steps: Vec<AgentStep> = rows.into_iter().map(|(_, step)| step).collect();
        let failed = matches!(steps.last(), Some(AgentStep::Failed { .. }));
        let written = if steps.is_empty() || failed { Written::default() } else { Written { steps, next_index } };
        // A new conversation writes from index 0 in a new epoch, over the old rows.
        let epoch = if written.steps.is_empty() { last_epoch + 1 } else { last_epoch };
        Ok(Self {
            engine: engine.clone(),
            execution: scope.execution_id,
            node: scope.node_id.clone(),
            events: events.clone(),
            epoch,
            written: Mutex::new(written),
        })
    }

    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    pub fn steps(&self) -> Vec<AgentStep> {
        self.written.lock().expect("agent steps").steps.clone()
    }

    pub fn progress(&self) -> Progress {
        progress(&self.written.lock().expect("agent steps").steps)
    }

    /// Writes a step (and only then is it part of the conversation). Fails
    /// when another process took the run over: this one must stop.
    pub async fn record(&self, step: AgentStep) -> Result<(), String> {
        let index = {
            let mut written = self.written.lock().expect("agent steps");
            written.next_index += 1;
            written.next_index - 1
        };
        // Stored, and so kept in the conversation, without NUL characters
        // (see `app::model::nul`): a model or a tool may send them.
        let mut output = serde_json::to_value(&step).map_err(|e| e.to_string())?;
        app::model::nul::replace_nul(&mut output);
        let step: AgentStep = serde_json::from_value(output.clone()).map_err(|e| e.to_string())?;
        let item = NodeItem {
            execution_id: self.execution,
            node_id: self.node.clone(),
            index,
            output,
            failed: step.failed(),
            attempt: self.epoch,
        };
        let held = self
            .engine
            .store
            .record_node_items(self.execution, &self.engine.worker_id, std::slice::from_ref(&item))
            .await
            .map_err(|e| format!("could not record the agent's step: {e}"))?;
        if !held {
            return Err("the run was taken over by another process".into());
        }
        self.written.lock().expect("agent steps").steps.push(step.clone());
        self.events.send(RunEvent::Step { node: self.node.clone(), index, step });
        Ok(())
    }

    /// Writes that the attempt failed (so a retry starts anew); a write that
    /// fails is only logged: the node fails either way.
    pub async fn record_failure(&self, error: &str) {
        if let Err(problem) = self.record(AgentStep::Failed { error: error.to_string() }).await {
            tracing::warn!(execution = self.execution, node = %self.node, %problem, "could not record the agent's failure");
        }
    }
}

/// Where a conversation is, from its steps in order.
fn progress(steps: &[AgentStep]) -> Progress {
    let mut turns = Vec::new();
    let mut taken = 0;
    let mut calls: Vec<ToolCall> = Vec::new();
    let mut results: HashMap<String, ToolResult> = HashMap::new();
    for step in steps {
        match step {
            AgentStep::Model { turn, text, calls: asked, .. } => {
                if !calls.is_empty() {
                    turns.push(Turn::ToolResults(ordered_results(&calls, &mut results)));
                }
                taken = *turn;
                turns.push(Turn::Assistant { text: text.clone(), calls: asked.clone() });
                calls = asked.clone();
                results.clear();
            }
            AgentStep::Tool { call, output, error, .. } => {
                let (content, is_error) = match (output, error) {
                    (_, Some(error)) => (error.clone(), true),
                    (Some(output), None) => (result_text(output), false),
                    (None, None) => ("null".to_string(), false),
                };
                results.insert(call.clone(), ToolResult { id: call.clone(), content, is_error });
            }
            AgentStep::Failed { .. } => {}
        }
    }
    if taken == 0 {
        return Progress::Ask { turns, taken };
    }
    if calls.is_empty() {
        return Progress::Answered;
    }
    let pending: PendingCalls =
        calls.iter().cloned().enumerate().filter(|(_, call)| !results.contains_key(&call.id)).collect();
    if !pending.is_empty() {
        return Progress::ToolsPending { turn: taken, calls: pending };
    }
    turns.push(Turn::ToolResults(ordered_results(&calls, &mut results)));
    Progress::Ask { turns, taken }
}

/// The results of `calls`, in the order they were asked for.
fn ordered_results(calls: &[ToolCall], results: &mut HashMap<String, ToolResult>) -> Vec<ToolResult> {
    calls
        .iter()
        .map(|call| {
            results.get(&call.id).cloned().unwrap_or_else(|| ToolResult {
                id: call.id.clone(),
                content: "no result was recorded".into(),
                is_error: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn model(turn: u32, calls: &[&str]) -> AgentStep {
        AgentStep::Model {
            turn,
            text: format!("turn {turn}"),
            calls: calls.iter().map(|id| ToolCall { id: id.to_string(), name: "t".into(), input: json!({}) }).collect(),
            provider: "default".into(),
            model: "m".into(),
            usage: json!(null),
            ms: 1,
        }
    }

    fn tool(call: &str, error: Option<&str>) -> AgentStep {
        AgentStep::Tool {
            turn: 1,
            call: call.into(),
            name: "t".into(),
            input: json!({}),
            output: error.is_none().then(|| json!({"ok": call})),
            error: error.map(str::to_owned),
            ms: 1,
        }
    }

    #[test]
    fn a_conversation_goes_on_from_its_last_written_step() {
        assert_eq!(progress(&[]), Progress::Ask { turns: vec![], taken: 0 });
        // Two calls asked, one ended before the crash: only the other runs.
        let steps = [model(1, &["a", "b"]), tool("b", Some("down"))];
        match progress(&steps) {
            Progress::ToolsPending { turn: 1, calls } => {
                assert_eq!(calls.iter().map(|(at, c)| (*at, c.id.as_str())).collect::<Vec<_>>(), [(0, "a")]);
            }
            other => panic!("{other:?}"),
        }
        // Both ended: the model is asked again, with the results in the order it asked.
        let steps = [model(1, &["a", "b"]), tool("b", Some("down")), tool("a", None)];
        let Progress::Ask { turns, taken: 1 } = progress(&steps) else { panic!() };
        let Turn::ToolResults(results) = &turns[1] else { panic!("{turns:?}") };
        assert_eq!((results[0].id.as_str(), results[0].is_error), ("a", false));
        assert_eq!((results[1].content.as_str(), results[1].is_error), ("down", true));
        // A turn without calls is the answer.
        let mut steps = steps.to_vec();
        steps.push(model(2, &[]));
        assert_eq!(progress(&steps), Progress::Answered);
    }
}
