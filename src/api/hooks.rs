//! `/hooks/{path}`: the request (method, headers, query, body) becomes the
//! run's input. Synchronous hooks answer with the output of the node they name
//! (or the last node that ran); asynchronous ones answer 202 with the id.
//! What a path runs comes from the [`HookCache`](crate::triggers::webhooks::HookCache).

pub mod limits;

use std::collections::BTreeMap;

use app::error::AppError;
use app::model::*;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{ApiError, ApiState};
use crate::engine::StartRequest;
use crate::triggers::webhooks::Hook;

pub async fn handle(
    State(state): State<ApiState>,
    method: Method,
    Path(path): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let hook = state.hooks.resolve(&state.store, &path).await?;
    if let Err(too_many) = state.hook_limits.check(&path, hook.target.owner_id) {
        return Ok(*too_many);
    }
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
