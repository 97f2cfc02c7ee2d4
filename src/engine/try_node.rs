//! Trying one node from the editor: the node runs once with what a recorded
//! run (or the editor's pinned data) gives it, and nothing else runs and
//! nothing is stored. It is bounded like a node in a run: it waits for one of
//! the owner's node slots, it has the node's timeout (at most [`MAX_TRY_MS`]),
//! and its output has the same size limit.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use app::model::{ExecutionId, NodeConfig, UserId, ValidatedNode};
use serde_json::Value;

use super::events::RunEvents;
use super::nodes::{Item, NodeScope, ScopeSizes};
use super::Engine;

/// The longest a try may take: a person is waiting in the editor.
pub const MAX_TRY_MS: u64 = 120_000;

/// What a tried node sees.
pub struct TryScope {
    pub owner: UserId,
    /// The recorded run the data comes from (none: the workflow never ran; its input is then `{}`).
    pub execution: Option<ExecutionId>,
    pub input: Value,
    /// Each upstream node's output, by id: pinned in the editor, else recorded.
    pub outputs: BTreeMap<String, Value>,
    /// The node's upstream nodes (what a `merge` collects).
    pub upstream: Vec<String>,
    /// The owner's variables (`vars`).
    pub vars: Value,
}

/// What came of a try.
#[derive(Debug, Clone, PartialEq)]
pub struct Tried {
    pub output: Result<Value, String>,
    /// For a node with `for_each`: it ran for the first item of this many.
    pub items: Option<usize>,
}

/// Why a node cannot be tried alone, if it cannot: it belongs to a run.
pub fn why_not_tried(config: &NodeConfig) -> Option<&'static str> {
    match config {
        NodeConfig::Wait(_) => Some("a wait node pauses a run: run the workflow to try it"),
        NodeConfig::Workflow(_) => Some("a workflow node starts a child run: run the workflow to try it"),
        NodeConfig::Agent(_) => Some("an agent node records its steps in its run: run the workflow to try it"),
        _ => None,
    }
}

impl TryScope {
    /// The scope node `node` runs (or a preview renders) in.
    pub fn into_node_scope(self, node: &str) -> NodeScope {
        let execution = self.execution.unwrap_or(0);
        let sizes = ScopeSizes {
            input: crate::weigh::json_bytes(&self.input),
            outputs: self.outputs.iter().map(|(id, output)| (id.clone(), crate::weigh::json_bytes(output))).collect(),
        };
        let live_inputs = self.upstream.into_iter().filter(|id| self.outputs.contains_key(id)).collect();
        NodeScope {
            execution_id: execution,
            depth: 0,
            node_id: node.to_string(),
            owner: self.owner,
            // Not the key of a run's attempt: a try is a request of its own.
            idempotency_key: format!("weft-try-{execution}-{node}-{:016x}", rand::random::<u64>()),
            input: Arc::new(self.input),
            nodes: self.outputs.into_iter().map(|(id, output)| (id, Arc::new(output))).collect(),
            sizes,
            live_inputs,
            vars: Arc::new(self.vars),
            resume_urls: Arc::new(Value::Object(Default::default())),
            item: None,
        }
    }
}

impl Engine {
    /// Runs `node` once in `scope` (see the module); its failure is `Tried::output`'s error.
    pub async fn try_node(&self, node: &ValidatedNode, scope: TryScope) -> Tried {
        if let Some(why) = why_not_tried(&node.config) {
            return Tried { output: Err(why.to_string()), items: None };
        }
        let mut node_scope = scope.into_node_scope(&node.id);
        let mut items = None;
        if let Some(for_each) = &node.policy.for_each {
            let list = self
                .services
                .templates
                .evaluate_list(&for_each.expr, &node_scope, self.settings.max_for_each_items)
                .await;
            match list {
                Ok(list) if list.is_empty() => {
                    return Tried { output: Err("for_each gave no items: nothing to try".into()), items: Some(0) }
                }
                Ok(list) => {
                    items = Some(list.len());
                    let first = list.into_iter().next().unwrap_or(Value::Null);
                    let bytes = crate::weigh::json_bytes(&first);
                    node_scope.item = Some(Item { value: Arc::new(first), index: 0, bytes });
                }
                Err(error) => return Tried { output: Err(format!("for_each: {error}")), items: None },
            }
        }
        let timeout = node.policy.timeout_ms.unwrap_or(MAX_TRY_MS).min(MAX_TRY_MS);
        let events = RunEvents::detached();
        let slot = match node.config {
            NodeConfig::Delay(_) => None,
            _ => Some(self.slots.acquire(node_scope.owner).await),
        };
        let work = self.services.run(&node.config, &node_scope, &events);
        let output = tokio::time::timeout(Duration::from_millis(timeout), work)
            .await
            .unwrap_or_else(|_| Err(format!("timed out after {timeout} ms")))
            .map(|output| output.value);
        drop(slot);
        metrics::counter!("weft_node_tries_total", "kind" => node.config.kind()).increment(1);
        Tried { output, items }
    }
}
