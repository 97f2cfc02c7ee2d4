//! `/api/v1/executions` and starting runs: start (wait or not), get, list,
//! cancel, and a live event stream (server-sent events).

use std::convert::Infallible;

use app::model::*;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::stream::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{ErrorBody, Id};
use super::{page_position, ApiError, ApiState, Caller};
use crate::engine::follow::{follow, RunEventStream};
use crate::engine::{report_from_store, StartRequest};

type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize, Default)]
pub struct StartQuery {
    #[serde(default)]
    wait: bool,
}

#[derive(Deserialize)]
pub struct StartBody {
    #[serde(default)]
    input: Value,
}

/// Starts a run of the workflow's current version. Without `wait`: 202 with
/// `{"id", "status"}`; with `wait=true`: the finished execution (or, when it
/// paused at `wait` nodes, the execution with status `waiting`).
#[utoipa::path(post, path = "/api/v1/workflows/{id}/executions", tag = "executions",
    params(("id" = i64, Path), ("wait" = Option<bool>, Query, description = "Answer when the run has finished")),
    request_body(content = Object, description = "`{\"input\": …}` (optional)"),
    responses(
        (status = 200, description = "The finished run, or the run paused at `wait` nodes (with `wait=true`)", body = ExecutionReport),
        (status = 202, description = "Started: `{\"id\", \"status\"}`", body = Object),
        (status = 400, description = "The body is not `{\"input\": …}`", body = ErrorBody),
        (status = 404, description = "No such workflow", body = ErrorBody),
        (status = 503, description = "This process is shutting down", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn start(
    State(state): State<ApiState>,
    caller: Caller,
    Id(id): Id,
    query: Result<Query<StartQuery>, QueryRejection>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let Query(query) = query?;
    // The body is optional: no body runs with an empty input.
    let input = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice::<StartBody>(&body)
            .map_err(|e| {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_json", format!("the body is not {{\"input\": …}}: {e}"))
            })?
            .input
    };
    let input = if input.is_null() { Value::Object(Default::default()) } else { input };
    // `workflow` already carries the current version's definition; reading the
    // version again would be a second query for the same row.
    let workflow = state.store.workflow(caller.own(), id).await?;
    let version = WorkflowVersion {
        workflow_id: id,
        version: workflow.summary.current_version,
        created_at: workflow.summary.updated_at,
        definition: workflow.definition,
    };
    let handle = state.engine.start(StartRequest::new(&version, caller.0.id, Trigger::Api, input)).await?;
    if !query.wait {
        let body = json!({ "id": handle.execution.id, "status": handle.execution.status });
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let report = handle.done.await.map_err(|_| app::error::AppError::Internal)??;
    Ok(Json(report).into_response())
}

/// An execution with every node's state.
#[utoipa::path(get, path = "/api/v1/executions/{id}", tag = "executions", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The execution", body = ExecutionReport),
        (status = 404, description = "No such execution (or not readable by the caller)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn get(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<Json<ExecutionReport>> {
    let execution = state.store.execution(caller.readable(), id).await?;
    let runs = state.store.node_runs(caller.readable(), id).await?;
    Ok(Json(report_from_store(&execution, runs)))
}

/// An `agent` node's trace: its steps (of its last attempt), in order.
#[utoipa::path(get, path = "/api/v1/executions/{id}/nodes/{node}/steps", tag = "executions",
    params(("id" = i64, Path), ("node" = String, Path, description = "The agent node's id")),
    responses(
        (status = 200, description = "Each model turn and tool call, as recorded (empty for a node that recorded none)",
            body = [app::model::agent::AgentStep]),
        (status = 404, description = "No such execution (or not readable by the caller)", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn steps(
    State(state): State<ApiState>,
    caller: Caller,
    path: Result<axum::extract::Path<(i64, String)>, axum::extract::rejection::PathRejection>,
) -> ApiResult<Json<Vec<app::model::agent::AgentStep>>> {
    let axum::extract::Path((id, node)) = path?;
    let execution = state.store.execution(caller.readable(), id).await?;
    let items = state.store.node_items_of(execution.id).await?;
    Ok(Json(app::model::agent::last_epoch(&items, &node).1.into_iter().map(|(_, step)| step).collect()))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionListQuery {
    /// `queued`, `running`, `waiting`, `succeeded`, `failed` or `cancelled`.
    #[param(value_type = Option<app::model::ExecutionStatus>)]
    status: Option<String>,
    workflow_id: Option<i64>,
    /// Admins only: someone else's executions.
    owner_id: Option<i64>,
    /// Created at or after (milliseconds since the epoch).
    from: Option<i64>,
    /// Created before (milliseconds since the epoch).
    to: Option<i64>,
    /// The `next` cursor of the previous page.
    #[param(pattern = r"^(-?[0-9]+\.[0-9]+)?$")]
    after: Option<String>,
    /// Rows per page (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// Executions, newest first, paged by key: the caller's own, or everyone's for admins.
#[utoipa::path(get, path = "/api/v1/executions", tag = "executions", params(ExecutionListQuery),
    responses(
        (status = 200, description = "A page", body = Page<Execution>),
        (status = 400, description = "An unknown status, bad cursor or limit", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ExecutionListQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Execution>>> {
    let Query(query) = query?;
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(ExecutionStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown status `{text}` (one of: {})",
                ExecutionStatus::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?),
    };
    let filter = ExecutionFilter {
        workflow_id: query.workflow_id,
        owner_id: query.owner_id,
        status,
        from: query.from,
        to: query.to,
    };
    let (after, limit) = page_position(query.after.as_deref(), query.limit)?;
    Ok(Json(state.store.list_executions(caller.readable(), &filter, after, limit).await?))
}

/// Cancels an execution: a queued one at once, a running one in whichever process runs it.
#[utoipa::path(post, path = "/api/v1/executions/{id}/cancel", tag = "executions", params(("id" = i64, Path)),
    responses(
        (status = 202, description = "`{\"id\", \"cancelling\", \"cancelled\"}`", body = Object),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "It already ended", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn cancel(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<Response> {
    let status = state.runs.cancel(caller.readable(), id).await.map_err(|error| match error {
        app::error::AppError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "already_finished", message),
        other => other.into(),
    })?;
    let cancelled = status == ExecutionStatus::Cancelled;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "cancelling": !cancelled, "cancelled": cancelled })))
        .into_response())
}

/// The run's events as server-sent events (`node`, `token`, `streamed`,
/// `finished`), live whichever process runs it. The stream starts with the run
/// as it is: a `node` event per node that has a state (a node that already
/// ended also gets its `running` event first, with its start time), and a
/// `streamed` event with the text so far of each LLM node answering; then each
/// change. A finished run replays its node states and ends.
#[utoipa::path(get, path = "/api/v1/executions/{id}/events", tag = "executions", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "An event stream; each event's data is a RunEvent", content_type = "text/event-stream", body = RunEvent),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 429, description = "The caller holds as many event streams as one user may (WEFT_MAX_EVENT_STREAMS_PER_USER)", body = ErrorBody),
    ))]
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    Ok(sse(follow(&state.engine, state.store.clone(), caller.0.id, caller.readable(), id).await?))
}

/// The events of a run as server-sent events, named by kind. Shared by the
/// API and the pages' event route.
pub fn sse(events: RunEventStream) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(events.map(|event| Ok(to_sse(&event)))).keep_alive(KeepAlive::default())
}

fn to_sse(event: &RunEvent) -> Event {
    let name = match event {
        RunEvent::Node { .. } => "node",
        RunEvent::Token { .. } => "token",
        RunEvent::Streamed { .. } => "streamed",
        RunEvent::Items { .. } => "items",
        RunEvent::Step { .. } => "step",
        RunEvent::Finished { .. } => "finished",
    };
    Event::default().event(name).json_data(event).unwrap_or_default()
}
