//! What a caller asks the engine to run, and what it gets back.

use app::error::AppResult;
use app::model::*;
use serde_json::Value;
use tokio::sync::broadcast;

/// A run to start: a saved workflow version, who runs it, how, and with what.
///
/// ```ignore
/// engine.start(StartRequest::new(&version, owner, Trigger::Api, input)).await?;
/// ```
pub struct StartRequest<'a> {
    pub(super) version: &'a WorkflowVersion,
    /// The version's definition validated by the caller; `None`: the engine
    /// validates it (a run never trusts what was stored).
    pub(super) workflow: Option<ValidatedWorkflow>,
    pub(super) owner: UserId,
    pub(super) trigger: Trigger,
    pub(super) input: Value,
    /// Results of an earlier run that are not run again (see [`StartRequest::reusing`]).
    pub(super) reuse: Vec<NodeRun>,
    /// Set for a child run, started by a `workflow` node.
    pub(super) parent: Option<app::ports::ChildOf>,
}

impl<'a> StartRequest<'a> {
    pub fn new(version: &'a WorkflowVersion, owner: UserId, trigger: Trigger, input: Value) -> Self {
        Self { version, workflow: None, owner, trigger, input, reuse: Vec::new(), parent: None }
    }

    /// For a caller that holds the version already validated (webhooks cache
    /// it, so a call does not parse every template again).
    pub fn validated(self, workflow: ValidatedWorkflow) -> Self {
        Self { workflow: Some(workflow), ..self }
    }

    /// A run that reuses results of an earlier run (re-run from a failed
    /// node): the nodes in `reuse` are not run again, their recorded outputs
    /// feed the rest, as when a run is resumed after a takeover.
    pub fn reusing(self, reuse: Vec<NodeRun>) -> Self {
        Self { reuse, ..self }
    }

    /// A child run of a `workflow` node (see `nodes::workflow`).
    pub fn child_of(self, parent: app::ports::ChildOf) -> Self {
        Self { parent: Some(parent), ..self }
    }
}

/// A run that has been created and is running (here, or queued for another process).
pub struct RunHandle {
    pub execution: Execution,
    /// Every event of the run, from its first (subscribed before it started);
    /// for a run in another process only its `Finished` event.
    pub events: broadcast::Receiver<RunEvent>,
    pub done: tokio::task::JoinHandle<AppResult<ExecutionReport>>,
}
