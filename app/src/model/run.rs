//! What a run reports: live events while it runs, and the result when it ends.
//! Shared by the CLI, the API and the live run view.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::records::{ExecutionId, ExecutionStatus, NodeStatus};

/// One thing that happened in a run, in the order it happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub enum RunEvent {
    /// A node changed state (queued, running — once per attempt —, succeeded, …).
    Node {
        node: String,
        status: NodeStatus,
        attempt: i32,
        #[serde(skip_serializing_if = "Option::is_none")]
        output: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        at: i64,
    },
    /// A piece of an LLM answer, as the provider streams it.
    Token { node: String, text: String },
    /// Everything a node has streamed so far in its current attempt: what a
    /// listener that joins mid-answer gets first. Replaces, not appends.
    Streamed { node: String, text: String },
    /// How far a node with `for_each` is: `done` of `total` items ended,
    /// `failed` of them with an error. Sent as items end (at most every 50 ms
    /// per node) and once more when the node ends.
    Items { node: String, done: usize, failed: usize, total: usize },
    /// An `agent` node recorded a step (the model answered, or a tool call
    /// ended): `index` is its place in the node's trace.
    Step { node: String, index: usize, step: super::agent::AgentStep },
    /// The run ended; nothing follows.
    Finished { status: ExecutionStatus, error: Option<String>, at: i64 },
}

/// The result of one node, as `weft run --json` and the API print it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NodeReport {
    pub status: NodeStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub attempts: i32,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A finished execution with every node's result; timestamps are RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExecutionReport {
    pub id: ExecutionId,
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub nodes: BTreeMap<String, NodeReport>,
}
