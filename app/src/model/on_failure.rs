//! Error workflows: a workflow may name another of its owner's workflows to
//! run when one of its runs fails (`"on_failure": {"workflow": 12}`); an
//! admin may name one for every workflow that names none. The error workflow
//! gets what failed as its input ([`FailureInput`]). Runs it starts never
//! start another, so a failing error workflow cannot set off a chain.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::records::{ExecutionId, Trigger, WorkflowId};

/// `on_failure` in a definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct OnFailure {
    /// The id of one of the owner's workflows.
    pub workflow: WorkflowId,
}

/// Reads `on_failure` as written; the message says what is wrong.
pub fn parse_on_failure(value: &Value) -> Result<OnFailure, String> {
    let workflow = value.get("workflow").ok_or_else(|| {
        format!("on_failure must be {{\"workflow\": <the id of one of your workflows>}}, not {value}")
    })?;
    match workflow.as_i64() {
        Some(id) if id > 0 => Ok(OnFailure { workflow: id }),
        _ => Err(format!("on_failure.workflow must be the id of one of your workflows (a number), not {workflow}")),
    }
}

/// The input of an error workflow's run: what failed, where, and with what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureInput {
    pub execution: ExecutionId,
    pub workflow: FailedWorkflow,
    /// The first node that failed (none when the run failed outside its nodes).
    pub failed_node: Option<String>,
    pub error: Option<String>,
    pub trigger: Trigger,
    /// The failed run's own input.
    pub input: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedWorkflow {
    pub id: WorkflowId,
    pub name: String,
    pub version: i32,
}

/// The settings key of the instance's default error workflow.
pub const DEFAULT_ERROR_WORKFLOW: &str = "default_error_workflow";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn on_failure_names_a_workflow_by_its_id() {
        assert_eq!(parse_on_failure(&json!({"workflow": 12})), Ok(OnFailure { workflow: 12 }));
        let wrong = parse_on_failure(&json!({"workflow": "alerts"})).unwrap_err();
        assert_eq!(wrong, "on_failure.workflow must be the id of one of your workflows (a number), not \"alerts\"");
        assert!(parse_on_failure(&json!(12)).unwrap_err().starts_with("on_failure must be {\"workflow\""));
        assert!(parse_on_failure(&json!({"workflow": 0})).is_err());
    }
}
