//! Server functions of runs.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{Execution, ExecutionId, ExecutionStatus, NodeRun, RerunVersion, WorkflowDefinition, WorkflowId};
#[cfg(feature = "ssr")]
use crate::model::{Scope, Trigger, WorkflowVersion};
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// Everything the run view shows, in one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetails {
    pub execution: Execution,
    /// The definition of the version that ran: its nodes (listed and drawn in
    /// its order), its edges (to say why a node was skipped), its name.
    pub definition: WorkflowDefinition,
    pub runs: Vec<NodeRun>,
    /// The workflow's current version: what a re-run uses unless told to use
    /// the run's own.
    pub current_version: i32,
    /// The viewer owns it (and may re-run it); admins may look at anyone's.
    pub own: bool,
}

/// Parses the input box: empty is `{}`; anything else must be JSON.
#[cfg(feature = "ssr")]
fn parse_input(input: &str) -> Result<serde_json::Value, AppError> {
    if input.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    serde_json::from_str(input).map_err(|e| AppError::BadRequest(format!("the input is not valid JSON: {e}")))
}

#[server(endpoint = "runs/load")]
pub async fn load_run(id: ExecutionId) -> Result<RunDetails, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let viewer = ctx.viewer().await?;
            let scope = if viewer.is_admin { Scope::Everyone } else { Scope::Owner(viewer.id) };
            let execution = ctx.store.execution(scope, id).await?;
            let (workflow, runs) =
                futures::try_join!(ctx.store.workflow(scope, execution.workflow_id), ctx.store.node_runs(scope, id),)?;
            let current_version = workflow.summary.current_version;
            // Most runs are of the current version: its definition is already here.
            let definition = if execution.version == current_version {
                workflow.definition
            } else {
                ctx.store.workflow_version(scope, execution.workflow_id, execution.version).await?.definition
            };
            let own = execution.owner_id == viewer.id;
            Ok(RunDetails { execution, definition, runs, current_version, own })
        }
        .await,
    )
}

/// The most child runs of one node the run view lists.
pub const CHILD_RUNS_SHOWN: u32 = 200;

/// The runs a `workflow` node of run `id` started, oldest first.
#[server(endpoint = "runs/children")]
pub async fn load_child_runs(id: ExecutionId, node: String) -> Result<Vec<Execution>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            // Someone else's run is not found, whatever it started.
            let execution = ctx.store.execution(ctx.readable_scope().await?, id).await?;
            let children = ctx.store.child_executions(execution.id, false, CHILD_RUNS_SHOWN).await?;
            Ok(children.into_iter().filter(|child| child.parent.as_ref().is_some_and(|p| p.node == node)).collect())
        }
        .await,
    )
}

/// The steps of an `agent` node of run `id` (its last attempt's), in order:
/// the trace the run view shows under the node.
#[server(endpoint = "runs/agent-steps")]
pub async fn load_agent_steps(id: ExecutionId, node: String) -> Result<Vec<crate::model::agent::AgentStep>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            // Someone else's run is not found, and neither are its steps.
            let execution = ctx.store.execution(ctx.readable_scope().await?, id).await?;
            let items = ctx.store.node_items_of(execution.id).await?;
            Ok(crate::model::agent::last_epoch(&items, &node).1.into_iter().map(|(_, step)| step).collect())
        }
        .await,
    )
}

/// Starts a run of the current version of one of the viewer's workflows.
#[server(endpoint = "runs/start")]
pub async fn start_run(workflow_id: WorkflowId, input: String) -> Result<Execution, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let owner = ctx.viewer().await?;
            let input = parse_input(&input)?;
            let workflow = ctx.store.workflow(Scope::Owner(owner.id), workflow_id).await?;
            let version = WorkflowVersion {
                workflow_id,
                version: workflow.summary.current_version,
                definition: workflow.definition,
                created_at: workflow.summary.updated_at,
            };
            ctx.runs.start(&version, owner.id, Trigger::Manual, input, Vec::new()).await
        }
        .await,
    )
}

#[server(endpoint = "runs/cancel")]
pub async fn cancel_run(id: ExecutionId) -> Result<ExecutionStatus, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.runs.cancel(ctx.readable_scope().await?, id).await
        }
        .await,
    )
}

/// Answers a `wait` node of a run from the run view: the node's output is
/// `{"approved", "comment", "by"}` (who answered), and the run goes on.
#[server(endpoint = "runs/resume")]
pub async fn resume_run(
    id: ExecutionId,
    node: String,
    approved: bool,
    comment: String,
) -> Result<ExecutionStatus, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let viewer = ctx.viewer().await?;
            let scope = if viewer.is_admin { Scope::Everyone } else { Scope::Owner(viewer.id) };
            let payload = serde_json::json!({ "approved": approved, "comment": comment, "by": viewer.email });
            ctx.runs.resume(scope, id, &node, payload).await
        }
        .await,
    )
}

/// Runs an execution again with the same input, on the workflow's current
/// version (the default) or on the version it ran. `from_failed`: only the
/// nodes that did not succeed run again — and, on a newer version, the nodes
/// that changed and everything below them; the others' recorded outputs are
/// reused (see [`crate::model::reusable_results`]).
#[server(endpoint = "runs/rerun")]
pub async fn rerun(id: ExecutionId, from_failed: bool, version: Option<RerunVersion>) -> Result<Execution, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let owner = ctx.viewer().await?;
            let scope = Scope::Owner(owner.id);
            let execution = ctx.store.execution(scope, id).await?;
            if from_failed && execution.status != ExecutionStatus::Failed {
                return Err(AppError::BadRequest("only a failed run can be re-run from where it failed".into()));
            }
            let original = ctx.store.workflow_version(scope, execution.workflow_id, execution.version).await?;
            let target = match version.unwrap_or_default() {
                RerunVersion::Original => original.clone(),
                RerunVersion::Current => {
                    let workflow = ctx.store.workflow(scope, execution.workflow_id).await?;
                    WorkflowVersion {
                        workflow_id: execution.workflow_id,
                        version: workflow.summary.current_version,
                        definition: workflow.definition,
                        created_at: workflow.summary.updated_at,
                    }
                }
            };
            let reuse = if from_failed {
                let runs = ctx.store.node_runs(scope, id).await?;
                crate::model::reusable_results(&original.definition, &target.definition, runs)
            } else {
                Vec::new()
            };
            ctx.runs.start(&target, owner.id, Trigger::Manual, execution.input.to_value(), reuse).await
        }
        .await,
    )
}
