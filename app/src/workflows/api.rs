//! Server functions of the workflows feature. Their bodies run on the server;
//! the browser gets a typed client for each.

use leptos::prelude::*;

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{validate, Cursor, WorkflowDefinition};
use crate::model::{Page, WorkflowSummary};
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// How many workflows one page of the list holds.
pub const WORKFLOW_PAGE_SIZE: u32 = 50;

/// The caller's workflows, last updated first, one page at a time.
#[server(endpoint = "workflows/list")]
pub async fn list_workflows(search: Option<String>, after: Option<String>) -> Result<Page<WorkflowSummary>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let after = after.as_deref().map(Cursor::decode).transpose().map_err(AppError::BadRequest)?;
            let search = search.as_deref().map(str::trim).filter(|s| !s.is_empty());
            ctx.store.list_workflows(ctx.viewer_scope(), search, after, WORKFLOW_PAGE_SIZE).await
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
            let definition = WorkflowDefinition::from_json(&definition).map_err(AppError::BadRequest)?;
            validate(&definition).map_err(AppError::Invalid)?;
            let created = ctx.store.create_workflow(ctx.local_user.id, &definition).await?;
            (ctx.workflow_changed)(created.id);
            Ok(created)
        }
        .await,
    )
}
