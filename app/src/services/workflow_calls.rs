//! The workflows a definition calls through `workflow` nodes and agents'
//! workflow tools: each is one of
//! the owner's (and the pinned version exists), and no chain of calls leads
//! back to the workflow being saved. Checked on save, so a loop is refused
//! where it is written; a loop made some other way (a called workflow edited
//! afterwards to call back) is stopped at run time by the depth limit.

use std::collections::{HashMap, VecDeque};

use crate::error::{AppError, AppResult};
use crate::model::node_config::{AgentConfig, WorkflowCallConfig};
use crate::model::{Scope, UserId, ValidationError, WorkflowDefinition, WorkflowId};
use crate::ports::Store;

/// The most workflows the loop check reads for one save.
const MAX_WORKFLOWS_READ: usize = 200;

/// The calls of a definition: its `workflow` nodes and its agents' workflow
/// tools, each with the node and the field that names the workflow (nodes
/// whose config does not parse are validation's business, not this check's).
fn calls(definition: &WorkflowDefinition) -> Vec<(&str, String, WorkflowCallConfig)> {
    let mut found = Vec::new();
    for node in &definition.nodes {
        match node.kind.as_str() {
            "workflow" => {
                if let Ok(call) = serde_json::from_value(node.config.clone()) {
                    found.push((node.id.as_str(), "(workflow): config.workflow".to_string(), call));
                }
            }
            "agent" => {
                let Ok(agent) = serde_json::from_value::<AgentConfig>(node.config.clone()) else { continue };
                for (i, tool) in agent.tools.iter().enumerate() {
                    let Some(workflow) = tool.workflow else { continue };
                    let call = WorkflowCallConfig { workflow, version: tool.version, input: None, wait: true };
                    found.push((node.id.as_str(), format!("(agent): config.tools[{i}].workflow"), call));
                }
            }
            _ => {}
        }
    }
    found
}

/// Refuses calls to workflows that are not the owner's, to versions that do
/// not exist, and calls that loop back to `itself` (none for a new workflow).
pub(super) async fn check_calls(
    store: &dyn Store,
    owner: UserId,
    itself: Option<WorkflowId>,
    definition: &WorkflowDefinition,
) -> AppResult<()> {
    let mut errors = Vec::new();
    for (node, field, call) in calls(definition) {
        let refuse = |message: String| ValidationError {
            nodes: vec![node.to_string()],
            message: format!("node `{node}` {field}: {message}"),
        };
        if itself == Some(call.workflow) {
            errors.push(refuse("a workflow cannot call itself (each run would start another, without end)".into()));
            continue;
        }
        match called_definition(store, owner, &call).await {
            Ok(Some(_)) => {}
            Ok(None) => errors.push(refuse(match call.version {
                Some(version) => format!("workflow {} has no version {version}, or is not yours", call.workflow),
                None => format!("workflow {} does not exist or is not one of your workflows", call.workflow),
            })),
            Err(error) => return Err(error),
        }
        if let Some(itself) = itself {
            if let Some(path) = path_back(store, owner, &call, itself).await? {
                errors.push(refuse(format!(
                    "workflow {} calls this one back ({path} → this): workflows may not call each other in a loop",
                    call.workflow
                )));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(AppError::Invalid(errors))
    }
}

/// The definition a call would run: the pinned version, or the current one;
/// `None` when it is not the owner's or does not exist.
async fn called_definition(
    store: &dyn Store,
    owner: UserId,
    call: &WorkflowCallConfig,
) -> AppResult<Option<WorkflowDefinition>> {
    let found = match call.version {
        Some(version) => {
            store.workflow_version(Scope::Owner(owner), call.workflow, version).await.map(|v| v.definition)
        }
        None => store.workflow(Scope::Owner(owner), call.workflow).await.map(|w| w.definition),
    };
    match found {
        Ok(definition) => Ok(Some(definition)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// Follows calls from `first` (breadth first, each workflow once) and, when
/// one reaches `target`, says how: `5 → 7`.
async fn path_back(
    store: &dyn Store,
    owner: UserId,
    first: &WorkflowCallConfig,
    target: WorkflowId,
) -> AppResult<Option<String>> {
    // Each workflow reached, with the one whose call reached it.
    let mut reached: HashMap<WorkflowId, Option<WorkflowId>> = HashMap::from([(first.workflow, None)]);
    let mut next = VecDeque::from([first.clone()]);
    while let Some(call) = next.pop_front() {
        if reached.len() > MAX_WORKFLOWS_READ {
            break;
        }
        let Some(definition) = called_definition(store, owner, &call).await? else { continue };
        for (_, _, inner) in calls(&definition) {
            if inner.workflow == target {
                let mut path = vec![call.workflow];
                while let Some(Some(from)) = path.last().and_then(|at| reached.get(at)) {
                    path.push(*from);
                }
                let path: Vec<String> = path.iter().rev().map(ToString::to_string).collect();
                return Ok(Some(path.join(" → ")));
            }
            if let std::collections::hash_map::Entry::Vacant(entry) = reached.entry(inner.workflow) {
                entry.insert(Some(call.workflow));
                next.push_back(inner);
            }
        }
    }
    Ok(None)
}
