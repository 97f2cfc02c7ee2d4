//! `/api/v1/workflows`: create, list, get, update (a new version), delete, export.

use app::model::{normalized_search, Page, WorkflowDefinition, WorkflowSummary};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ErrorBody, Id};
use super::{page_position, ApiError, ApiState, Caller};

type ApiResult<T> = Result<T, ApiError>;

fn definition_from(body: Result<Json<Value>, JsonRejection>) -> ApiResult<WorkflowDefinition> {
    let Json(value) = body?;
    let definition =
        serde_json::from_value(value).map_err(|e| ApiError::bad_request(format!("not a workflow definition: {e}")))?;
    Ok(definition)
}

/// A workflow just made, with advice about its definition.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CreatedWorkflow {
    #[serde(flatten)]
    workflow: WorkflowSummary,
    /// What the definition should not do but may (e.g. an `http` header
    /// holding a literal secret: store it as a credential instead).
    warnings: Vec<String>,
}

/// Creates a workflow (version 1) from a definition.
#[utoipa::path(post, path = "/api/v1/workflows", tag = "workflows", request_body = WorkflowDefinition,
    responses(
        (status = 201, description = "Created, with `warnings` (advice, e.g. a literal secret header)", body = CreatedWorkflow),
        (status = 400, description = "Not JSON, or not a definition", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "The definition is invalid; `details` lists every problem", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<CreatedWorkflow>)> {
    let definition = definition_from(body)?;
    let created = state.workflows.create(caller.0.id, &definition).await?;
    let warnings = app::model::literal_secret_warnings(&definition);
    Ok((StatusCode::CREATED, Json(CreatedWorkflow { workflow: created, warnings })))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkflowListQuery {
    /// Names containing this, ignoring case.
    search: Option<String>,
    /// The `next` cursor of the previous page.
    #[param(pattern = r"^(-?[0-9]+\.[0-9]+)?$")]
    after: Option<String>,
    /// Rows per page (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The caller's workflows, newest first, paged by key.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", params(WorkflowListQuery),
    responses(
        (status = 200, description = "A page", body = Page<WorkflowSummary>),
        (status = 400, description = "A bad cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<WorkflowListQuery>, QueryRejection>,
) -> ApiResult<Json<Page<WorkflowSummary>>> {
    let Query(query) = query?;
    let (after, limit) = page_position(query.after.as_deref(), query.limit)?;
    let search = normalized_search(query.search.as_deref());
    Ok(Json(state.store.list_workflows(caller.own(), search, after, limit).await?))
}

/// A workflow: `{"workflow": summary, "definition": …, "schedules": [{"schedule", "timezone", "next": [3 times]}],
/// "webhooks": [{"method", "url"}]}` (a webhook's URL is `/hooks/{id}/{path}`, its id random and kept across versions).
#[utoipa::path(get, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The workflow with its current definition", body = Object),
        (status = 404, description = "No such workflow (or not the caller's)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn get(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<Json<Value>> {
    let workflow = state.store.workflow(caller.own(), id).await?;
    let upcoming: Vec<Value> = workflow
        .definition
        .typed_triggers()
        .into_iter()
        .filter_map(|t| match t {
            app::model::TriggerDefinition::Cron(cron) => {
                Some(json!({ "schedule": cron.schedule, "timezone": cron.timezone, "next": crate::triggers::cron::upcoming(&cron, 3) }))
            }
            _ => None,
        })
        .collect();
    let webhooks: Vec<Value> = state
        .store
        .webhook_addresses(id)
        .await?
        .into_iter()
        .map(|(method, address)| json!({ "method": method, "url": format!("/hooks/{address}") }))
        .collect();
    Ok(Json(json!({
        "workflow": workflow.summary,
        "definition": workflow.definition,
        "schedules": upcoming,
        "webhooks": webhooks,
    })))
}

/// Saves a new immutable version: `{"workflow_id", "version", "warnings"}`
/// (`warnings`: advice about the definition, e.g. a literal secret header).
#[utoipa::path(put, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = i64, Path)),
    request_body = WorkflowDefinition,
    responses(
        (status = 200, description = "The new version", body = Object),
        (status = 400, description = "Not JSON, or not a definition", body = ErrorBody),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 415, description = "The body is not `application/json`", body = ErrorBody),
        (status = 422, description = "The definition is invalid", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<ApiState>,
    caller: Caller,
    Id(id): Id,
    body: Result<Json<Value>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    let definition = definition_from(body)?;
    let version = state.workflows.save(caller.own(), id, &definition).await?;
    let warnings = app::model::literal_secret_warnings(&definition);
    Ok(Json(json!({ "workflow_id": version.workflow_id, "version": version.version, "warnings": warnings })))
}

/// Deletes a workflow with its versions and executions.
#[utoipa::path(delete, path = "/api/v1/workflows/{id}", tag = "workflows", params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn delete(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<StatusCode> {
    state.workflows.delete(caller.own(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current definition, as a file to download.
#[utoipa::path(get, path = "/api/v1/workflows/{id}/export", tag = "workflows", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The definition", body = WorkflowDefinition),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn export(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<impl IntoResponse> {
    let workflow = state.store.workflow(caller.own(), id).await?;
    let file = format!("attachment; filename=\"workflow-{id}.json\"");
    Ok(([(header::CONTENT_DISPOSITION, file)], Json(workflow.definition)))
}
