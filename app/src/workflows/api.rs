//! Server functions of the workflows feature. Their bodies run on the server;
//! the browser gets a typed client for each.

use leptos::prelude::*;

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{normalized_search, page_size, Cursor, WorkflowDefinition};
use crate::model::{Page, WorkflowId, WorkflowSummary};
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// The caller's workflows, last updated first, one page at a time; each with
/// its latest execution, from the same query.
#[server(endpoint = "workflows/list")]
pub async fn list_workflows(
    search: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
) -> Result<Page<WorkflowSummary>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let scope = ctx.own_scope().await?;
            let after = after.as_deref().filter(|a| !a.is_empty()).map(Cursor::decode).transpose();
            let after = after.map_err(AppError::BadRequest)?;
            let limit = page_size(limit).map_err(AppError::BadRequest)?;
            ctx.store.list_workflows(scope, normalized_search(search.as_deref()), after, limit).await
        }
        .await,
    )
}

/// Deletes one of the caller's workflows, with its versions and executions.
#[server(endpoint = "workflows/delete")]
pub async fn delete_workflow(id: WorkflowId) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.workflows.delete(ctx.own_scope().await?, id).await
        }
        .await,
    )
}

/// Copies the current version of one of the caller's workflows into a new
/// workflow named "… (copy)". Its triggers are left out: two workflows cannot
/// answer the same webhook path, and a copy should not start firing on a schedule.
#[server(endpoint = "workflows/duplicate")]
pub async fn duplicate_workflow(id: WorkflowId) -> Result<WorkflowSummary, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let owner = ctx.viewer().await?;
            ctx.workflows.duplicate(owner.id, id).await
        }
        .await,
    )
}

/// Creates a workflow from a pasted or uploaded definition (JSON text).
#[server(endpoint = "workflows/import")]
pub async fn import_workflow(definition: String) -> Result<WorkflowSummary, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let owner = ctx.viewer().await?;
            // A Weft definition, or an n8n export (converted; the form shows its report).
            let (definition, _) = crate::model::n8n::definition_from_text(&definition).map_err(AppError::BadRequest)?;
            ctx.workflows.create(owner.id, &definition).await
        }
        .await,
    )
}

/// What the workflow page shows, in one call.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WorkflowDetails {
    pub workflow: crate::model::Workflow,
    /// Newest first.
    pub versions: Vec<crate::model::WorkflowVersion>,
    /// Its cron schedules, with the next planned firing.
    pub schedules: Vec<crate::model::Schedule>,
    /// Its latest executions, newest first.
    pub recent: Vec<crate::model::Execution>,
    /// Its webhooks: (method, address), called at `/hooks/{address}`.
    #[serde(default)]
    pub webhooks: Vec<(String, String)>,
}

/// How many recent executions the workflow page lists.
pub const RECENT_RUNS: u32 = 10;

#[server(endpoint = "workflows/load")]
pub async fn load_workflow(id: WorkflowId) -> Result<WorkflowDetails, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let scope = ctx.own_scope().await?;
            let filter = crate::model::ExecutionFilter { workflow_id: Some(id), ..Default::default() };
            // Independent reads, issued together.
            // (The addresses are read only if the workflow is the viewer's: try_join fails as a whole.)
            let (workflow, versions, schedules, recent, webhooks) = futures::try_join!(
                ctx.store.workflow(scope, id),
                ctx.store.workflow_versions(scope, id),
                ctx.store.workflow_schedules(scope, id),
                ctx.store.list_executions(scope, &filter, None, RECENT_RUNS),
                ctx.store.webhook_addresses(id),
            )?;
            Ok(WorkflowDetails { workflow, versions, schedules, recent: recent.items, webhooks })
        }
        .await,
    )
}

/// Makes an earlier version current again, as a new version (versions never change).
#[server(endpoint = "workflows/restore")]
pub async fn restore_version(id: WorkflowId, version: i32) -> Result<crate::model::WorkflowVersion, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let scope = ctx.own_scope().await?;
            ctx.workflows.restore(scope, id, version).await
        }
        .await,
    )
}

/// Saves an edited definition (JSON) as a new version of one of the viewer's workflows.
#[server(endpoint = "workflows/save")]
pub async fn save_workflow(id: WorkflowId, definition: String) -> Result<crate::model::WorkflowVersion, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let scope = ctx.own_scope().await?;
            let definition = WorkflowDefinition::from_json(&definition).map_err(AppError::BadRequest)?;
            ctx.workflows.save(scope, id, &definition).await
        }
        .await,
    )
}

/// What a new workflow starts as: one `start` node passing the run's input on.
/// The editor opens a new workflow with it and creates it on the first save.
pub fn starter_definition(name: &str) -> crate::model::WorkflowDefinition {
    let name = name.trim();
    let name = if name.is_empty() { "Untitled workflow" } else { name };
    serde_json::from_value(serde_json::json!({
        "name": name,
        "nodes": [{"id": "start", "type": "template", "config": {"template": "{{ input | tojson }}", "json": true},
                   "position": {"x": 0, "y": 0}}],
        "edges": [],
    }))
    .expect("the starter definition is well-formed")
}

/// Creates a workflow with one node, to be built in the editor (the API's
/// way; the app's "New workflow" creates it on the editor's first save).
#[server(endpoint = "workflows/create")]
pub async fn create_workflow(name: String) -> Result<WorkflowSummary, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let owner = ctx.viewer().await?;
            ctx.workflows.create(owner.id, &starter_definition(&name)).await
        }
        .await,
    )
}

/// The most workflows one batch call returns.
pub const MAX_BATCH: usize = 200;

/// Several of the viewer's workflows (with their current definitions) in one
/// call; ids that are not theirs are left out. The client cache
/// ([`super::WorkflowCache`]) fetches through it.
#[server(endpoint = "workflows/by-ids")]
pub async fn load_workflows(ids: Vec<WorkflowId>) -> Result<Vec<crate::model::Workflow>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let scope = ctx.own_scope().await?;
            if ids.len() > MAX_BATCH {
                return Err(AppError::BadRequest(format!("at most {MAX_BATCH} workflows at once, not {}", ids.len())));
            }
            ctx.store.workflows(scope, &ids).await
        }
        .await,
    )
}
