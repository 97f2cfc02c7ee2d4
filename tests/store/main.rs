//! The store story: one suite, run against SQLite and PostgreSQL alike, one
//! module per feature of the store.

#[path = "../support/mod.rs"]
mod support;

mod accounts;
mod chart;
mod credentials;
mod executions;
mod queue;
mod retention;
mod settings;
mod triggers;
mod usage;
mod variables;
mod waits;
mod workflows;

use std::sync::Arc;

use app::error::AppError;
use app::model::*;
use app::ports::{ExecutionOutcome, ExecutionStart, Finish, HeldExecution, Lease, NewExecution, Store};
use serde_json::json;
use support::definition;

async fn user(store: &dyn Store, email: &str) -> User {
    store.create_user(email, Some("hash"), false).await.unwrap()
}

fn node_run(execution_id: ExecutionId, node_id: &str, status: NodeStatus) -> NodeRun {
    NodeRun {
        execution_id,
        node_id: node_id.into(),
        status,
        attempt: 1,
        input: None,
        output: None,
        error: None,
        started_at: None,
        finished_at: None,
    }
}

/// The process the suite's executions are leased to.
const WORKER: &str = "test-worker";

fn lease(owner: &str, expires_at: i64) -> Lease {
    Lease { owner: owner.into(), expires_at }
}

fn new_execution(workflow: &WorkflowSummary, input: serde_json::Value, start: ExecutionStart) -> NewExecution {
    NewExecution {
        workflow_id: workflow.id,
        version: workflow.current_version,
        owner_id: workflow.owner_id,
        trigger: Trigger::Manual,
        input,
        start,
        parent: None,
    }
}

/// An execution running under `WORKER`'s lease (far from expiring).
async fn start(store: &dyn Store, workflow: &WorkflowSummary, input: serde_json::Value) -> Execution {
    let start = ExecutionStart::Running { lease: lease(WORKER, i64::MAX / 4), started_at: 1 };
    store.create_execution(&new_execution(workflow, input, start)).await.unwrap()
}

async fn queue(store: &dyn Store, workflow: &WorkflowSummary) -> Execution {
    store.create_execution(&new_execution(workflow, json!({}), ExecutionStart::Queued)).await.unwrap()
}

fn ids(executions: &[Execution]) -> Vec<ExecutionId> {
    let mut ids: Vec<_> = executions.iter().map(|e| e.id).collect();
    ids.sort();
    ids
}

fn with_triggers(name: &str, triggers: serde_json::Value) -> WorkflowDefinition {
    let mut definition = definition(name);
    definition.triggers = triggers.as_array().unwrap().clone();
    definition
}
