//! Error workflows (see `app::model::on_failure`): when a run fails, the
//! workflow its definition names in `on_failure`, else the instance's default
//! (an admin's setting), is started like any run, with what failed as its
//! input. A run started this way starts none itself.

use std::sync::Arc;

use app::error::AppResult;
use app::model::on_failure::DEFAULT_ERROR_WORKFLOW;
use app::model::*;

use super::{Engine, StartRequest};

/// Starts the error workflow of a failed run, if it has one; its execution id.
pub(super) async fn start_error_workflow(
    engine: &Arc<Engine>,
    failed: ExecutionId,
    named: Option<OnFailure>,
    report: &ExecutionReport,
) -> AppResult<Option<ExecutionId>> {
    let store = engine.store.clone();
    let execution = store.execution(Scope::Everyone, failed).await?;
    if execution.trigger == Trigger::Failure {
        return Ok(None);
    }
    // A workflow's own choice is one of its owner's workflows; the instance's
    // default is an admin's, and runs for everyone's failures.
    let (target, scope) = match named {
        Some(on_failure) => (on_failure.workflow, Scope::Owner(execution.owner_id)),
        None => match store.setting(DEFAULT_ERROR_WORKFLOW).await?.and_then(|id| id.as_i64()) {
            Some(id) => (id, Scope::Everyone),
            None => return Ok(None),
        },
    };
    let error_workflow = store.workflow(scope, target).await?;
    let failed_version = store.workflow_version(Scope::Everyone, execution.workflow_id, execution.version).await?;
    let input = FailureInput {
        execution: failed,
        workflow: FailedWorkflow {
            id: execution.workflow_id,
            name: failed_version.definition.name,
            version: execution.version,
        },
        failed_node: failing_node(report),
        error: report.error.clone(),
        trigger: execution.trigger,
        input: execution.input.to_value(),
    };
    let version = store.workflow_version(Scope::Everyone, target, error_workflow.summary.current_version).await?;
    let input = serde_json::to_value(input).map_err(|_| app::error::AppError::Internal)?;
    let request = StartRequest::new(&version, error_workflow.summary.owner_id, Trigger::Failure, input);
    let started = engine.start(request).await?;
    Ok(Some(started.execution.id))
}

/// The node that failed the run: the last to fail (a node that failed under
/// `on_error: continue` failed before it; once it failed, nothing else ran on).
fn failing_node(report: &ExecutionReport) -> Option<String> {
    report
        .nodes
        .iter()
        .filter(|(_, node)| node.status == NodeStatus::Failed)
        .max_by(|(_, a), (_, b)| a.finished_at.cmp(&b.finished_at))
        .map(|(id, _)| id.clone())
}
