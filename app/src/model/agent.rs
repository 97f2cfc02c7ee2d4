//! An `agent` node's trace: what each step did, recorded as it happens (so a
//! resumed run goes on from the last step) and shown in the run view. The
//! node's config is [`AgentConfig`](super::node_config::AgentConfig).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A tool call as the model asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ToolCall {
    /// The provider's id for the call (results are matched to calls by it).
    pub id: String,
    pub name: String,
    /// The arguments: a JSON object, or the text the model sent when it was not JSON.
    pub input: Value,
}

/// One recorded step of an agent: what the run view's trace shows, and what
/// a resumed agent rebuilds its conversation from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum AgentStep {
    /// The model answered (turn 1, 2, …): text, and the tools it calls.
    Model {
        turn: u32,
        text: String,
        #[serde(default)]
        calls: Vec<ToolCall>,
        provider: String,
        model: String,
        #[serde(default)]
        usage: Value,
        ms: u64,
    },
    /// One tool call ended: its result, or why it has none (also given to the model).
    Tool {
        turn: u32,
        /// The call's id ([`ToolCall::id`]).
        call: String,
        name: String,
        input: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        ms: u64,
    },
    /// The attempt failed: a retry starts a new conversation.
    Failed { error: String },
}

impl AgentStep {
    /// Whether the step is an error (a failed tool call, or the attempt's end).
    pub fn failed(&self) -> bool {
        matches!(self, AgentStep::Tool { error: Some(_), .. } | AgentStep::Failed { .. })
    }
}

/// An agent node's steps of its last attempt (epoch), in order, with their
/// index, from the execution's recorded items; and that epoch (0: none).
pub fn last_epoch(items: &[super::NodeItem], node: &str) -> (i32, Vec<(usize, AgentStep)>) {
    let mine = items.iter().filter(|item| item.node_id == node);
    let epoch = mine.clone().map(|item| item.attempt).max().unwrap_or(0);
    let mut steps: Vec<(usize, AgentStep)> = mine
        .filter(|item| item.attempt == epoch)
        .filter_map(|item| Some((item.index, serde_json::from_value(item.output.clone()).ok()?)))
        .collect();
    steps.sort_by_key(|(index, _)| *index);
    (epoch, steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_are_tagged_by_kind() {
        let step = AgentStep::Tool {
            turn: 1,
            call: "c1".into(),
            name: "weather".into(),
            input: json!({"city": "Oslo"}),
            output: None,
            error: Some("no such city".into()),
            ms: 3,
        };
        let value = serde_json::to_value(&step).unwrap();
        assert_eq!(value["kind"], "tool");
        assert!(step.failed());
        assert_eq!(serde_json::from_value::<AgentStep>(value).unwrap(), step);
    }
}
