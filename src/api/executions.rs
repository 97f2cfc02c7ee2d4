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

use super::error::{ErrorBody, Id};
use super::{page_position, ApiError, ApiState, Caller};
use crate::engine::report_from_store;
use crate::signals::Signal;

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
/// `{"id", "status"}`; with `wait=true`: the finished execution.
#[utoipa::path(post, path = "/api/v1/workflows/{id}/executions", tag = "executions",
    params(("id" = i64, Path), ("wait" = Option<bool>, Query, description = "Answer when the run has finished")),
    request_body(content = Object, description = "`{\"input\": …}` (optional)"),
    responses(
        (status = 200, description = "The finished run (with `wait=true`)", body = ExecutionReport),
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
    let handle =
        state.engine.start(crate::engine::StartRequest::new(&version, caller.0.id, Trigger::Api, input)).await?;
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExecutionListQuery {
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
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
    #[param(minimum = 1, maximum = 200)]
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

/// Cancels a queued execution at once, or asks the process running it to stop
/// it (directly when it runs here, else by a signal, with the lease renewal as
/// the fallback that reaches it within a quarter lease).
/// Cancels an execution: a queued one at once, a running one in whichever process runs it.
#[utoipa::path(post, path = "/api/v1/executions/{id}/cancel", tag = "executions", params(("id" = i64, Path)),
    responses(
        (status = 202, description = "`{\"id\", \"cancelling\", \"cancelled\"}`", body = Object),
        (status = 404, description = "No such execution", body = ErrorBody),
        (status = 409, description = "It already ended", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn cancel(State(state): State<ApiState>, caller: Caller, Id(id): Id) -> ApiResult<Response> {
    let runs = crate::server::EngineRuns { engine: state.engine.clone(), store: state.store.clone() };
    let status = app::ports::Runs::cancel(&runs, caller.readable(), id).await.map_err(|error| match error {
        app::error::AppError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "already_finished", message),
        other => other.into(),
    })?;
    let cancelled = status == ExecutionStatus::Cancelled;
    Ok((StatusCode::ACCEPTED, Json(json!({ "id": id, "cancelling": !cancelled, "cancelled": cancelled })))
        .into_response())
}

/// How often the event stream of an execution running in another process
/// reads its stored state (the runner writes node states every 50 ms).
const REMOTE_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// Live events of an execution: followed in memory when it runs here; when it
/// runs in another process (or waits in the queue), its stored node states are
/// followed instead, so the stream works whichever process runs it. For a
/// finished execution: its final node states and the `finished` event.
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
    ))]
pub async fn events(
    State(state): State<ApiState>,
    caller: Caller,
    Id(id): Id,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    Ok(event_stream(state.store.clone(), &state.engine, caller.readable(), id).await?)
}

/// The events of an execution as server-sent events: live from the engine when
/// it runs here, else followed in the store. Shared by the API and the pages.
pub async fn event_stream(
    store: std::sync::Arc<dyn app::ports::Store>,
    engine: &crate::engine::Engine,
    scope: Scope,
    id: ExecutionId,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, app::error::AppError> {
    // Subscribe before reading the stored state: a run that ends in between is
    // then either followed live or read back finished (it stores its end before
    // closing its channel), never missed.
    let live = engine.subscribe(id);
    let execution = store.execution(scope, id).await?;
    let events: std::pin::Pin<Box<dyn Stream<Item = RunEvent> + Send>> = match live {
        Some((so_far, receiver)) => Box::pin(stream::iter(so_far).chain(follow_live(receiver))),
        None => Box::pin(follow_stored(store, engine.signals().clone(), scope, execution)),
    };
    let events = events.take_until(engine.shutting_down());
    Ok(Sse::new(events.map(|event| Ok(to_sse(&event)))).keep_alive(KeepAlive::default()))
}

fn to_sse(event: &RunEvent) -> Event {
    let name = match event {
        RunEvent::Node { .. } => "node",
        RunEvent::Token { .. } => "token",
        RunEvent::Streamed { .. } => "streamed",
        RunEvent::Finished { .. } => "finished",
    };
    Event::default().event(name).json_data(event).unwrap_or_default()
}

fn follow_live(receiver: tokio::sync::broadcast::Receiver<RunEvent>) -> impl Stream<Item = RunEvent> {
    stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    let last = matches!(event, RunEvent::Finished { .. });
                    return Some((event, if last { None } else { Some(receiver) }));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// Node events for every stored node state that changed since the last look,
/// until the execution is finished; and, while it runs, the LLM text its
/// process relays (asked for with `Watch`, kept coming with `Watching` while
/// this stream is open; see `engine::relay`).
fn follow_stored(
    store: std::sync::Arc<dyn app::ports::Store>,
    signals: std::sync::Arc<crate::signals::Signals>,
    scope: Scope,
    execution: Execution,
) -> impl Stream<Item = RunEvent> {
    let (sender, receiver) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        // Subscribed before the first watch goes out: no relayed text is missed.
        let mut relayed = signals.subscribe_text();
        let id = execution.id;
        let mut preread = Some(execution);
        let mut seen: std::collections::HashMap<String, (NodeStatus, i32)> = Default::default();
        let mut poll = tokio::time::interval(REMOTE_POLL);
        // A slow look (or a slow client) does not make the next ones come in a burst.
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watched_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    let execution = match preread.take() {
                        Some(execution) => execution,
                        None => match store.execution(scope, id).await {
                            Ok(execution) => execution,
                            Err(_) => return,
                        },
                    };
                    let Ok(runs) = store.node_runs(scope, id).await else { return };
                    let mut node_started = false;
                    for run in runs {
                        let key = (run.status, run.attempt);
                        let before = seen.insert(run.node_id.clone(), key);
                        if before == Some(key) {
                            continue;
                        }
                        node_started |= run.status == NodeStatus::Running;
                        // First seen already ended: say when it started too, as a
                        // live run's catch-up does (its span on the timeline).
                        if let (None, Some(started_at)) = (before, run.started_at) {
                            if run.status != NodeStatus::Running {
                                let started = RunEvent::Node {
                                    node: run.node_id.clone(),
                                    status: NodeStatus::Running,
                                    attempt: run.attempt,
                                    output: None,
                                    error: None,
                                    at: started_at,
                                };
                                if sender.send(started).await.is_err() {
                                    return;
                                }
                            }
                        }
                        let event = RunEvent::Node {
                            at: run.finished_at.or(run.started_at).unwrap_or(execution.created_at),
                            node: run.node_id,
                            status: run.status,
                            attempt: run.attempt,
                            output: run.output,
                            error: run.error,
                        };
                        if sender.send(event).await.is_err() {
                            return;
                        }
                    }
                    if execution.status.is_finished() {
                        let _ = sender
                            .send(RunEvent::Finished {
                                status: execution.status,
                                error: execution.error.clone(),
                                at: execution.finished_at.unwrap_or(execution.created_at),
                            })
                            .await;
                        return;
                    }
                    // Watch at once, again as soon as a node is seen running (the
                    // run has surely started where it runs: a watch that came
                    // earlier may have found nothing to relay), then now and then.
                    let signal = if node_started || watched_at.is_none() {
                        Some(Signal::Watch(id))
                    } else if watched_at.is_some_and(|at| at.elapsed() >= crate::engine::relay::WATCH_RENEW) {
                        Some(Signal::Watching(id))
                    } else {
                        None
                    };
                    if let Some(signal) = signal {
                        signals.publish(signal).await;
                        watched_at = Some(tokio::time::Instant::now());
                    }
                }
                text = relayed.recv() => match text {
                    Ok(text) if text.execution == id => {
                        for event in text.events.iter().cloned() {
                            // Text that arrives after its node's end is stale: the
                            // node's output has the whole answer.
                            let node = match &event {
                                RunEvent::Token { node, .. } | RunEvent::Streamed { node, .. } => node,
                                _ => continue,
                            };
                            let ended = seen.get(node).is_some_and(|(status, _)| {
                                !matches!(status, NodeStatus::Queued | NodeStatus::Running)
                            });
                            if !ended && sender.send(event).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(_) => {}
                    // Text was lost: ask for each node's text so far again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => signals.publish(Signal::Watch(id)).await,
                    // Cannot happen: this task holds the signals, and so the sender.
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = sender.closed() => return,
            }
        }
    });
    stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|event| (event, receiver)) })
}
