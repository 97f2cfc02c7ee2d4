//! `/hooks/{path}`: the request (method, headers, query, body) becomes the
//! run's input. Synchronous hooks answer with the output of the node they name
//! (or the last node that ran); asynchronous ones answer 202 with the id.
//!
//! What a path runs comes from a moka cache (read-through, bounded, invalidated
//! when the workflow is saved or deleted, in this process or another: saves are
//! signalled to every process), so a webhook call costs no query to find what
//! to run. Entries also expire after a minute, in case a signal was lost.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::Store;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::api::{ApiError, ApiState};
use crate::engine::StartRequest;
use crate::signals::{Signal, Signals};
use tokio::sync::broadcast::error::RecvError;

/// A webhook's target and the definition it runs.
pub struct Hook {
    pub target: WebhookTarget,
    pub version: WorkflowVersion,
    pub workflow: ValidatedWorkflow,
}

pub struct HookCache {
    cache: Option<moka::future::Cache<String, Arc<Hook>>>,
    /// Wakes the cron scheduler: a saved workflow may carry a new schedule.
    pub schedules_changed: Arc<tokio::sync::Notify>,
    signals: Arc<Signals>,
}

impl HookCache {
    /// `enabled: false` reads the store on every call (for measuring the cache).
    /// Follows other processes' saves through `signals`.
    pub fn new(enabled: bool, signals: Arc<Signals>) -> Self {
        let cache = enabled.then(|| {
            moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .support_invalidation_closures()
                .build()
        });
        let hooks = Self { cache, schedules_changed: Arc::new(tokio::sync::Notify::new()), signals };
        hooks.follow_signals();
        hooks
    }

    fn follow_signals(&self) {
        let mut signals = self.signals.subscribe();
        let cache = self.cache.clone();
        let schedules_changed = self.schedules_changed.clone();
        tokio::spawn(async move {
            loop {
                match signals.recv().await {
                    Ok(Signal::WorkflowChanged(workflow)) => {
                        forget(cache.as_ref(), workflow);
                        schedules_changed.notify_one();
                    }
                    Ok(Signal::Resync) | Err(RecvError::Lagged(_)) => {
                        if let Some(cache) = &cache {
                            cache.invalidate_all();
                        }
                        schedules_changed.notify_one();
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    pub async fn resolve(&self, store: &Arc<dyn Store>, path: &str) -> AppResult<Arc<Hook>> {
        let load = async {
            let target = store.webhook(path).await?.ok_or_else(|| AppError::NotFound("webhook".into()))?;
            let version = store.workflow_version(Scope::Everyone, target.workflow_id, target.version).await?;
            let workflow = validate(&version.definition).map_err(AppError::Invalid)?;
            Ok::<_, AppError>(Arc::new(Hook { target, version, workflow }))
        };
        match &self.cache {
            None => load.await,
            Some(cache) => cache.try_get_with(path.to_string(), load).await.map_err(|e| (*e).clone()),
        }
    }

    /// Forgets what this workflow's hooks run (it was saved or deleted), here
    /// at once and in every other process by a signal.
    pub fn workflow_changed(&self, workflow: WorkflowId) {
        forget(self.cache.as_ref(), workflow);
        self.schedules_changed.notify_one();
        self.signals.publish_later(Signal::WorkflowChanged(workflow));
    }
}

fn forget(cache: Option<&moka::future::Cache<String, Arc<Hook>>>, workflow: WorkflowId) {
    if let Some(cache) = cache {
        let _ = cache.invalidate_entries_if(move |_, hook| hook.target.workflow_id == workflow);
    }
}

pub async fn handle(
    State(state): State<ApiState>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let hook = state.hooks.resolve(&state.store, &path).await?;
    if method.as_str() != hook.target.method {
        let message = format!("this webhook accepts {} requests", hook.target.method);
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message));
    }
    let headers: Map<String, Value> = headers
        .iter()
        .filter(|(name, _)| *name != axum::http::header::AUTHORIZATION && *name != axum::http::header::COOKIE)
        .map(|(name, value)| (name.as_str().to_string(), Value::String(value.to_str().unwrap_or_default().to_string())))
        .collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let input = json!({ "method": method.as_str(), "path": path, "headers": headers, "query": query, "body": body });
    let request = StartRequest::new(&hook.version, hook.target.owner_id, Trigger::Webhook, input)
        .validated(hook.workflow.clone());
    let handle = state.engine.start(request).await?;
    if hook.target.mode == WebhookMode::Async {
        return Ok((StatusCode::ACCEPTED, Json(json!({ "execution_id": handle.execution.id }))).into_response());
    }
    let report = handle.done.await.map_err(|_| AppError::Internal)??;
    if report.status != ExecutionStatus::Succeeded {
        let message = report.error.clone().unwrap_or_else(|| format!("the run ended {}", report.status));
        let body = json!({ "error": { "code": "run_failed", "message": message, "execution_id": report.id } });
        return Ok((StatusCode::BAD_GATEWAY, Json(body)).into_response());
    }
    let answer = answering_node(&hook, &report).and_then(|id| report.nodes.get(id)).and_then(|n| n.output.clone());
    let mut response = Json(answer.unwrap_or(Value::Null)).into_response();
    if let Ok(id) = report.id.to_string().parse() {
        response.headers_mut().insert("x-weft-execution", id);
    }
    Ok(response)
}

/// The node named by `respond_with`, or else the last node (in run order)
/// that succeeded.
fn answering_node<'a>(hook: &'a Hook, report: &ExecutionReport) -> Option<&'a str> {
    if let Some(named) = &hook.target.respond_with {
        return Some(named.as_str());
    }
    let order = app::model::validation::topological_order(&hook.version.definition);
    order.into_iter().rev().find(|id| report.nodes.get(*id).is_some_and(|n| n.status == NodeStatus::Succeeded))
}
