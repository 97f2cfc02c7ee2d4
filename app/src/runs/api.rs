//! Server functions of runs.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{Execution, ExecutionId, ExecutionStatus, NodeRun, WorkflowId};
#[cfg(feature = "ssr")]
use crate::model::{NodeStatus, Scope, Trigger, WorkflowVersion};
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// A node of the version that ran, as the run view lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunNode {
    pub id: String,
    pub kind: String,
}

/// Everything the run view shows, in one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDetails {
    pub execution: Execution,
    pub workflow_name: String,
    /// In the definition's order.
    pub nodes: Vec<RunNode>,
    pub runs: Vec<NodeRun>,
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
            let (version, runs) = futures::try_join!(
                ctx.store.workflow_version(scope, execution.workflow_id, execution.version),
                ctx.store.node_runs(scope, id),
            )?;
            let nodes =
                version.definition.nodes.iter().map(|n| RunNode { id: n.id.clone(), kind: n.kind.clone() }).collect();
            let own = execution.owner_id == viewer.id;
            Ok(RunDetails { execution, workflow_name: version.definition.name, nodes, runs, own })
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

/// Runs an execution's version again with the same input. `from_failed`: only
/// the nodes that did not succeed run; the others' recorded outputs are reused.
#[server(endpoint = "runs/rerun")]
pub async fn rerun(id: ExecutionId, from_failed: bool) -> Result<Execution, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let owner = ctx.viewer().await?;
            let scope = Scope::Owner(owner.id);
            let execution = ctx.store.execution(scope, id).await?;
            if from_failed && execution.status != ExecutionStatus::Failed {
                return Err(AppError::BadRequest("only a failed run can be re-run from where it failed".into()));
            }
            let version = ctx.store.workflow_version(scope, execution.workflow_id, execution.version).await?;
            let reuse = if from_failed {
                let runs = ctx.store.node_runs(scope, id).await?;
                runs.into_iter().filter(|r| r.status == NodeStatus::Succeeded).collect()
            } else {
                Vec::new()
            };
            ctx.runs.start(&version, owner.id, Trigger::Manual, execution.input.to_value(), reuse).await
        }
        .await,
    )
}
