//! `workflow` nodes: run another of the owner's workflows as a child run.
//!
//! The child is an execution like any other (queued, leased, taken over,
//! listed in the history), linked to its parent: the run, the node and, for
//! a node with `for_each`, the item. That link makes the call durable: a
//! parent resumed after a crash finds the child it started (and waits for it
//! again) instead of starting a second one.
//!
//! While it waits the node holds no node slot (like a `delay`): the child
//! takes slots of its own. Cancelling or failing the parent cancels its
//! children (see `Engine::cancel_children`).

use std::sync::{Arc, Weak};

use app::error::AppError;
use app::model::node_config::WorkflowCallConfig;
use app::model::*;
use app::ports::ChildOf;
use serde_json::{json, Value};

use super::template::Templates;
use super::NodeScope;
use crate::engine::{Engine, StartRequest};

/// Starts and waits for child runs; holds the engine weakly (the engine owns
/// the node services, which own this).
pub struct WorkflowCalls {
    engine: Weak<Engine>,
    /// The deepest a chain of `workflow` nodes may go (`WEFT_MAX_WORKFLOW_DEPTH`).
    max_depth: u32,
    /// The largest child input, as JSON: it is stored like an output.
    max_input_bytes: usize,
}

impl WorkflowCalls {
    pub fn new(engine: Weak<Engine>, max_depth: u32, max_input_bytes: usize) -> Self {
        Self { engine, max_depth, max_input_bytes }
    }

    pub async fn run(
        &self,
        config: &WorkflowCallConfig,
        scope: &NodeScope,
        templates: &Templates,
    ) -> Result<Value, String> {
        let item = scope.item.as_ref().map_or(0, |item| item.index as i64);
        let target = Target { workflow: config.workflow, version: config.version, wait: config.wait };
        let input = async {
            let expr = config.input_expr(scope.item.is_some());
            templates.evaluate_value("input", expr, scope).await
        };
        self.call(target, input, scope, item).await
    }

    /// Runs `target` as a child of the node, the call numbered `item` (the
    /// item of a `for_each`, an agent's tool call): a call made before a crash
    /// is found again by that number. `input` is evaluated only when a child
    /// is started.
    pub async fn call(
        &self,
        target: Target,
        input: impl std::future::Future<Output = Result<Value, String>>,
        scope: &NodeScope,
        item: i64,
    ) -> Result<Value, String> {
        let config = &target;
        let engine = self.engine.upgrade().ok_or("this Weft process is shutting down")?;
        let store = engine.store.clone();
        // A parent resumed after a crash finds the child it started.
        let existing = store.child_execution(scope.execution_id, &scope.node_id, item).await.map_err(store_error)?;
        // The child, and the version it runs once known (read back only for a child found).
        let (child, version) = match existing {
            // Started before a crash (or by an attempt that timed out): waited for again.
            Some(child) if !config.wait || !child.status.is_finished() => (child, None),
            Some(child) if child.status == ExecutionStatus::Succeeded => (child, None),
            // A retry of a node whose child failed runs the workflow again.
            _ => {
                let (child, version) = self.start_child(&engine, config, input.await?, scope, item).await?;
                (child, Some(version))
            }
        };
        if !config.wait {
            return Ok(json!({ "execution": child.id, "status": child.status }));
        }
        let report = engine.wait_until_finished(child.id).await.map_err(store_error)?;
        let version = match version {
            Some(version) => version,
            None => {
                store.workflow_version(Scope::Everyone, child.workflow_id, child.version).await.map_err(store_error)?
            }
        };
        let name = &version.definition.name;
        match report.status {
            ExecutionStatus::Succeeded => Ok(crate::engine::answer_of(&version.definition, None, &report)),
            ExecutionStatus::Cancelled => Err(format!("run {} of workflow `{name}` was cancelled", child.id)),
            _ => Err(format!(
                "run {} of workflow `{name}` failed: {}",
                child.id,
                report.error.as_deref().unwrap_or("no reason recorded")
            )),
        }
    }

    async fn start_child(
        &self,
        engine: &Arc<Engine>,
        config: &Target,
        input: Value,
        scope: &NodeScope,
        item: i64,
    ) -> Result<(Execution, WorkflowVersion), String> {
        if scope.depth >= self.max_depth as i32 {
            return Err(format!(
                "this run is {} workflow calls deep, the most allowed (WEFT_MAX_WORKFLOW_DEPTH = {}): \
                 do workflows call each other in a loop?",
                scope.depth, self.max_depth
            ));
        }
        let owner = Scope::Owner(scope.owner);
        let id = config.workflow;
        let not_yours = |error: AppError| match error {
            AppError::NotFound(_) => format!("workflow {id} does not exist or is not one of the owner's workflows"),
            other => store_error(other),
        };
        let version = match config.version {
            Some(number) => engine.store.workflow_version(owner, id, number).await.map_err(|error| match error {
                AppError::NotFound(_) => format!("workflow {id} has no version {number}, or is not the owner's"),
                other => store_error(other),
            })?,
            None => {
                let workflow = engine.store.workflow(owner, id).await.map_err(not_yours)?;
                WorkflowVersion {
                    workflow_id: id,
                    version: workflow.summary.current_version,
                    definition: workflow.definition,
                    created_at: workflow.summary.updated_at,
                }
            }
        };
        let size = crate::weigh::json_bytes(&input);
        if size > self.max_input_bytes {
            return Err(format!(
                "input: the child's input is {size} bytes of JSON, more than the {}-byte limit",
                self.max_input_bytes
            ));
        }
        let parent =
            ChildOf { execution: scope.execution_id, node: scope.node_id.clone(), item, depth: scope.depth + 1 };
        let request = StartRequest::new(&version, scope.owner, Trigger::Workflow, input).child_of(parent);
        let handle = engine.start(request).await.map_err(|error| match error {
            AppError::Invalid(errors) => {
                let reasons: Vec<String> = errors.into_iter().map(|e| e.message).collect();
                format!("workflow {id} (v{}) cannot run: {}", version.version, reasons.join("; "))
            }
            other => format!("could not start workflow {id}: {other}"),
        })?;
        Ok((handle.execution, version))
    }
}

/// Which workflow a call runs, and whether it waits for the child's answer.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub workflow: i64,
    /// A version to pin; none: the current one.
    pub version: Option<i32>,
    pub wait: bool,
}

fn store_error(error: AppError) -> String {
    format!("could not reach the database: {error}")
}
