//! Server-side ports: what the app needs from the outside world, as traits the
//! server crate implements (the store on SQLite and PostgreSQL). The app itself
//! never depends on a database driver.

pub mod store;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::AppResult;
use crate::model::*;

pub use store::Store;

/// A new execution, as a trigger asks for it.
#[derive(Debug, Clone)]
pub struct NewExecution {
    pub workflow_id: WorkflowId,
    pub version: i32,
    pub owner_id: UserId,
    pub trigger: Trigger,
    pub input: Value,
    pub start: ExecutionStart,
    /// Set for a run started by a `workflow` node.
    pub parent: Option<ChildOf>,
}

/// Where a child run comes from: the parent run, its node, and for a node
/// with `for_each` the item (else 0). One child per (run, node, item): a
/// parent resumed after a crash finds the child it started.
#[derive(Debug, Clone, PartialEq)]
pub struct ChildOf {
    pub execution: ExecutionId,
    pub node: String,
    pub item: i64,
    pub depth: i32,
}

/// Whether a new execution waits in the queue or runs at once in the process
/// that creates it (which then holds its lease: no second write to claim it).
#[derive(Debug, Clone)]
pub enum ExecutionStart {
    Queued,
    Running { lease: Lease, started_at: i64 },
}

/// The end of one execution, as [`store::ExecutionStore::finish_executions`] writes it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub id: ExecutionId,
    pub lease_owner: String,
    pub last_runs: Vec<NodeRun>,
    pub outcome: ExecutionOutcome,
}

/// A process's hold on an execution it runs, until `expires_at` (ms) unless renewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The process: unique per process start.
    pub owner: String,
    pub expires_at: i64,
}

/// An execution a process holds, as the lease renewal reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldExecution {
    pub id: ExecutionId,
    /// Someone asked for it to be cancelled (possibly through another process).
    pub cancel_requested: bool,
}

/// How a finished execution ends.
#[derive(Debug, Clone)]
pub struct ExecutionOutcome {
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub finished_at: i64,
}

/// Starting and cancelling runs, as the pages ask for them. The server
/// implements it with its engine (which runs the execution here or queues it).
/// What the editor previews a template or tries a node with: a recorded
/// run's data (with the editor's pinned outputs over it), as node `node` sees it.
#[derive(Debug, Clone)]
pub struct RecordedData {
    /// None: the workflow never ran (its input is then `{}`).
    pub execution: Option<ExecutionId>,
    pub node: String,
    pub input: Value,
    /// Each node's output, by id.
    pub nodes: std::collections::BTreeMap<String, Value>,
    /// The node's upstream nodes (what a `merge` collects).
    pub upstream: Vec<String>,
}

/// What came of trying one node.
#[derive(Debug, Clone, PartialEq)]
pub struct TriedNode {
    pub output: Result<Value, String>,
    /// For a node with `for_each`: it ran for the first item of this many.
    pub items: Option<usize>,
}

#[async_trait]
pub trait Runs: Send + Sync + 'static {
    /// Starts a run of `version` for `owner`. Nodes in `reuse` (results of an
    /// earlier run) are not run again: their recorded outputs feed the rest.
    async fn start(
        &self,
        version: &WorkflowVersion,
        owner: UserId,
        trigger: Trigger,
        input: Value,
        reuse: Vec<NodeRun>,
    ) -> AppResult<Execution>;
    /// Asks for a run to be cancelled, wherever it runs; answers its status
    /// (`Cancelled` when it was still queued, `Running` while it stops).
    async fn cancel(&self, scope: Scope, id: ExecutionId) -> AppResult<ExecutionStatus>;
    /// Resumes node `node` of a run waiting there with `payload` as its output;
    /// answers the run's status (`Queued` when it was parked).
    async fn resume(&self, scope: Scope, id: ExecutionId, node: &str, payload: Value) -> AppResult<ExecutionStatus>;
    /// Renders `source`, the text of `field`, as node `data.node` of run
    /// `data.execution` would (with its input and outputs, `owner`'s `vars`)
    /// on the engine's template renderer, under its limits, without running
    /// anything: the editor's live preview. `Err` is the engine's own message.
    async fn preview_template(
        &self,
        owner: UserId,
        data: RecordedData,
        field: &str,
        source: &str,
    ) -> AppResult<Result<String, String>>;
    /// Runs `node` alone with `data` (nothing else runs, nothing is stored).
    async fn try_node(
        &self,
        owner: UserId,
        node: &crate::model::ValidatedNode,
        data: RecordedData,
    ) -> AppResult<TriedNode>;
}

/// The instance's settings that admins change in the settings page. Read from
/// memory; a change is stored, applied at once, and announced to the other
/// processes, which read it again.
#[async_trait]
pub trait Configuration: Send + Sync + 'static {
    fn llm_provider(&self) -> crate::model::LlmProvider;
    /// `api_key`: `None` keeps the stored key, `Some("")` removes it. The key
    /// is stored encrypted and never returned.
    async fn update_llm_provider(
        &self,
        provider: crate::model::LlmProvider,
        api_key: Option<String>,
    ) -> AppResult<crate::model::LlmProvider>;
    /// LLM prices per model and the daily budget per user.
    fn usage_policy(&self) -> crate::model::UsagePolicy;
    /// Checks, stores and applies a new price table and budgets.
    async fn update_usage_policy(&self, policy: crate::model::UsagePolicy) -> AppResult<crate::model::UsagePolicy>;
}

/// Seals a secret for storage. The app side can seal but never open: a
/// credential's value goes in and is only ever opened by the engine, when it
/// sends a request.
pub trait Sealer: Send + Sync + 'static {
    fn seal(&self, plain: &str) -> AppResult<String>;
}
