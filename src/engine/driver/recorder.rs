//! What the driver records of a run: every node's current state, which of
//! them changed since the last write, and what a resumed run replays.

use std::collections::BTreeSet;

use app::model::*;
use serde_json::Value;

use crate::engine::nodes::NodeOutput;
use crate::engine::scheduler::{NodeIndex, NodeState};

/// The current state of every node, and which changed since the last write.
pub(super) struct Recorder {
    pub runs: Vec<NodeRun>,
    pub dirty: BTreeSet<NodeIndex>,
}

impl Recorder {
    pub fn update(&mut self, node: NodeIndex, change: impl FnOnce(&mut NodeRun)) -> &NodeRun {
        change(&mut self.runs[node]);
        self.dirty.insert(node);
        &self.runs[node]
    }

    pub fn take_dirty(&mut self) -> Vec<NodeRun> {
        std::mem::take(&mut self.dirty).into_iter().map(|i| self.runs[i].clone()).collect()
    }
}

pub(super) fn node_state(status: NodeState) -> NodeStatus {
    match status {
        NodeState::Waiting | NodeState::Ready => NodeStatus::Queued,
        NodeState::Running => NodeStatus::Running,
        NodeState::Succeeded => NodeStatus::Succeeded,
        NodeState::Failed => NodeStatus::Failed,
        NodeState::Skipped => NodeStatus::Skipped,
        NodeState::Cancelled => NodeStatus::Cancelled,
    }
}

/// The result a node recorded before, if it ended (it is then not run again).
pub(super) fn recorded_result(node: &ValidatedNode, run: &NodeRun) -> Option<Result<NodeOutput, String>> {
    match run.status {
        NodeStatus::Succeeded => {
            let value = run.output.clone().unwrap_or(Value::Null);
            // A condition's branch is its recorded `result`, a switch's its recorded `case`.
            let branch = match &node.config {
                NodeConfig::Condition(_) => {
                    Some(if value.get("result").and_then(Value::as_bool).unwrap_or(false) { 0 } else { 1 })
                }
                NodeConfig::Switch(_) => {
                    let case = value.get("case").and_then(Value::as_str).unwrap_or_default();
                    node.config.branches().iter().position(|b| *b == case)
                }
                _ => None,
            };
            Some(Ok(NodeOutput { value, branch, bytes: None }))
        }
        NodeStatus::Failed => Some(Err(run.error.clone().unwrap_or_else(|| "failed".into()))),
        _ => None,
    }
}
