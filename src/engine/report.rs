//! Execution reports: what a run did, node by node, with readable times.

use app::model::*;

/// Milliseconds since the epoch as RFC 3339 (UTC, millisecond precision).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The report of an execution as stored (for executions read back later, or
/// run by another process).
pub fn report_from_store(execution: &Execution, runs: Vec<NodeRun>) -> ExecutionReport {
    build_report(
        execution.id,
        execution.status,
        execution.error.clone(),
        execution.started_at,
        execution.finished_at,
        runs,
    )
}

pub(super) fn build_report(
    id: ExecutionId,
    status: ExecutionStatus,
    error: Option<String>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    runs: Vec<NodeRun>,
) -> ExecutionReport {
    let nodes = runs
        .into_iter()
        .map(|r| {
            let report = NodeReport {
                status: r.status,
                output: r.output,
                error: r.error,
                attempts: r.attempt,
                started_at: r.started_at.map(rfc3339),
                finished_at: r.finished_at.map(rfc3339),
            };
            (r.node_id, report)
        })
        .collect();
    ExecutionReport {
        id,
        status,
        error,
        started_at: started_at.map(rfc3339),
        finished_at: finished_at.map(rfc3339),
        nodes,
    }
}

/// What a run answers with: the output of the node its webhook names in
/// `respond_with` (`respond_with` overrides it), else of the last node, in
/// run order, that succeeded; `null` when there is none. A sync webhook
/// answers with it, and a `workflow` node outputs its child's.
pub fn answer_of(
    definition: &WorkflowDefinition,
    respond_with: Option<&str>,
    report: &ExecutionReport,
) -> serde_json::Value {
    let named = respond_with.map(str::to_owned).or_else(|| {
        definition.typed_triggers().into_iter().find_map(|trigger| match trigger {
            app::model::triggers::TriggerDefinition::Webhook(hook) => hook.respond_with,
            _ => None,
        })
    });
    let node = named.or_else(|| {
        let order = app::model::validation::topological_order(definition);
        order
            .into_iter()
            .rev()
            .find(|id| report.nodes.get(*id).is_some_and(|n| n.status == NodeStatus::Succeeded))
            .map(str::to_owned)
    });
    node.and_then(|id| report.nodes.get(&id)).and_then(|n| n.output.clone()).unwrap_or(serde_json::Value::Null)
}
