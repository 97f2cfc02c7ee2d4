//! `/hooks/{id}/{path}`: the request (method, headers, query, body) becomes the
//! run's input. Synchronous hooks answer with the output of the node they name
//! (or the last node that ran); asynchronous ones answer 202 with the id.
//! What a path runs comes from the [`HookCache`](crate::triggers::webhooks::HookCache).
//!
//! Only the headers named in [`KeptHeaders`] reach the input: a run's input is
//! stored and shown, and callers put credentials in headers under any name
//! (`Authorization`, `X-Api-Key`, a proxy's, a signature), so a list of what to
//! drop is never complete; a list of what to keep is.

pub mod auth;
pub mod limits;

use std::collections::{BTreeMap, BTreeSet};

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
    if let Some(auth) = &hook.auth {
        let vault = state.engine.services().http.vault();
        let call = auth::Call { headers: &headers, query: &query, body: &body, now_secs: now_ms() / 1000 };
        let passed = match vault.open(hook.target.owner_id, auth.credential()).await {
            Ok(credential) => auth::check(auth, &credential, &call).map_err(str::to_owned),
            Err(why) => Err(why),
        };
        if let Err(why) = passed {
            // For whoever reads the logs; the caller learns only that it failed.
            tracing::info!(path, workflow = hook.target.workflow_id, why, "webhook call refused");
            let message = "this webhook needs a valid credential or signature";
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "webhook_unauthorized", message));
        }
    }
    let headers = state.webhook_headers.input(&headers);
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let input =
        json!({ "method": method.as_str(), "path": hook.path, "headers": headers, "query": query, "body": body });
    let request = StartRequest::new(&hook.version, hook.target.owner_id, Trigger::Webhook, input)
        .validated(hook.workflow.clone());
    let handle = state.engine.start(request).await?;
    if hook.target.mode == WebhookMode::Async {
        return Ok((StatusCode::ACCEPTED, Json(json!({ "execution_id": handle.execution.id }))).into_response());
    }
    let report = handle.done.await.map_err(|_| AppError::Internal)??;
    if report.status != ExecutionStatus::Succeeded {
        // The caller may be anyone who knows the path: the reason (an
        // upstream's answer, a template's text) is for the owner, in the run view.
        let message = format!("the run ended {}; its owner can see why in the run view", report.status);
        let body = json!({ "error": { "code": "run_failed", "message": message, "execution_id": report.id } });
        return Ok((StatusCode::BAD_GATEWAY, Json(body)).into_response());
    }
    let answer = crate::engine::answer_of(&hook.version.definition, hook.target.respond_with.as_deref(), &report);
    let mut response = Json(answer).into_response();
    if let Ok(id) = report.id.to_string().parse() {
        response.headers_mut().insert("x-weft-execution", id);
    }
    Ok(response)
}

/// The request headers a webhook keeps in its run's input, by name.
#[derive(Debug, Clone)]
pub struct KeptHeaders(BTreeSet<String>);

impl KeptHeaders {
    /// What every webhook keeps: describing the request and naming the event,
    /// never authenticating it. Senders' event headers are listed by name
    /// (GitHub, GitLab, Gitea, Bitbucket, Shopify); their signature and token
    /// headers (`X-Hub-Signature-256`, `X-Gitlab-Token`, …) are not kept.
    pub const BUILT_IN: &[&str] = &[
        "accept",
        "accept-language",
        "content-length",
        "content-type",
        "user-agent",
        "x-event-key",
        "x-forwarded-for",
        "x-gitea-delivery",
        "x-gitea-event",
        "x-github-delivery",
        "x-github-event",
        "x-gitlab-event",
        "x-request-id",
        "x-shopify-topic",
    ];

    /// The built-in names and `extra` (lower-case header names, from
    /// `WEFT_WEBHOOK_HEADERS`).
    pub fn new(extra: &[String]) -> Self {
        let names = Self::BUILT_IN.iter().map(|n| n.to_string()).chain(extra.iter().map(|n| n.to_ascii_lowercase()));
        Self(names.collect())
    }

    /// The kept headers of a request as the input's `headers` object; a
    /// header sent several times has its values joined with `, `.
    pub fn input(&self, headers: &HeaderMap) -> Map<String, Value> {
        let mut kept = Map::new();
        for name in headers.keys().filter(|name| self.0.contains(name.as_str())) {
            let values: Vec<String> =
                headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
            kept.insert(name.as_str().to_string(), Value::String(values.join(", ")));
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_named_headers_are_kept_and_repeated_ones_are_joined() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("authorization", "Bearer a"),
            ("x-api-key", "b"),
            ("content-type", "application/json"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
            ("x-shop-secret", "c"),
        ] {
            headers.append(axum::http::HeaderName::from_static(name), value.parse().unwrap());
        }
        let kept = KeptHeaders::new(&[]).input(&headers);
        assert_eq!(
            Value::Object(kept),
            json!({"content-type": "application/json", "x-forwarded-for": "10.0.0.1, 10.0.0.2"})
        );
        let kept = KeptHeaders::new(&["X-Shop-Secret".into()]).input(&headers);
        assert_eq!(kept["x-shop-secret"], "c");
    }
}
