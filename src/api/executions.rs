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
use futures::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::Id;
use super::{page_position, ApiError, ApiState, Caller};
use crate::engine::report_from_store;

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
    let handle = state.engine.start(&version, caller.0.id, Trigger::Api, input).await?;
    if !query.wait {
        let body = json!({ "id": handle.execution.id, "status": handle.execution.status });
        return Ok((StatusCode::ACCEPTED, Json(body)).into_response());
    }
    let report = handle.done.await.map_err(|_| app::error::AppError::Internal)??;
    Ok(Json(report).into_response())
}

pub async fn get(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<Json<ExecutionReport>> {
    let execution = state.store.execution(caller.readable(), id).await?;
    let runs = state.store.node_runs(caller.readable(), id).await?;
    Ok(Json(report_from_store(&execution, runs)))
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    workflow_id: Option<i64>,
    owner_id: Option<i64>,
    from: Option<i64>,
    to: Option<i64>,
    after: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
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

pub async fn cancel(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<Response> {
    let execution = state.store.execution(caller.readable(), id).await?;
    if execution.owner_id != caller.0.id && !caller.0.is_admin {
        return Err(app::error::AppError::NotFound("execution".into()).into());
    }
    if execution.status.is_finished() {
        let message = format!("the execution already ended ({})", execution.status);
        return Err(ApiError::new(StatusCode::CONFLICT, "already_finished", message));
    }
    if !state.engine.cancel(id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_running_here",
            "the execution is not running in this process",
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "cancelling": true }))).into_response())
}

/// Live events of a running execution; for a finished one, its final node
/// states and the `finished` event, then the stream ends.
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // Subscribe before reading the stored state: a run that ends in between is
    // then either followed live or read back finished (it stores its end before
    // closing its channel), never missed.
    let live = state.engine.subscribe(id);
    let execution = state.store.execution(caller.readable(), id).await?;
    let replay: Vec<RunEvent> = if live.is_some() {
        Vec::new()
    } else {
        let runs = state.store.node_runs(caller.readable(), id).await?;
        let mut events: Vec<RunEvent> = runs
            .into_iter()
            .map(|r| RunEvent::Node {
                node: r.node_id,
                status: r.status,
                attempt: r.attempt,
                output: r.output,
                error: r.error,
                at: r.finished_at.or(r.started_at).unwrap_or(execution.created_at),
            })
            .collect();
        if execution.status.is_finished() {
            events.push(RunEvent::Finished {
                status: execution.status,
                error: execution.error.clone(),
                at: execution.finished_at.unwrap_or(execution.created_at),
            });
        }
        events
    };
    let to_sse = |event: &RunEvent| {
        let name = match event {
            RunEvent::Node { .. } => "node",
            RunEvent::Token { .. } => "token",
            RunEvent::Finished { .. } => "finished",
        };
        Ok(Event::default().event(name).json_data(event).unwrap_or_default())
    };
    let replayed = stream::iter(replay.iter().map(to_sse).collect::<Vec<_>>());
    let live = stream::unfold(live, move |receiver| async move {
        let mut receiver = receiver?;
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    let last = matches!(event, RunEvent::Finished { .. });
                    return Some((to_sse(&event), if last { None } else { Some(receiver) }));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(replayed.chain(live)).keep_alive(KeepAlive::default()))
}
