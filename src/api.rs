//! The REST API (`/api/v1`, JSON), authenticated by API key. A key acts as its
//! user, under the same access rules as the UI: a user sees only their own
//! workflows and executions (admins read every execution), and anything else
//! answers 404.

mod auth;
mod credentials;
mod error;
mod executions;
pub mod hooks;
pub mod openapi;
pub mod resume;
mod templates;
mod usage;
mod variables;
mod workflows;

use std::sync::Arc;

use app::ports::{Runs, Store};
use app::services::credentials::Credentials;
use app::services::variables::Variables;
use app::services::workflows::Workflows;
use axum::routing::{get, post};
use axum::Router;

pub use auth::{create_api_key, ApiKeys, Caller};
pub use error::ApiError;
pub use executions::sse;
pub use hooks::KeptHeaders;

use crate::engine::Engine;
use crate::triggers::webhooks::HookCache;

/// What every API handler can reach.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn Store>,
    pub engine: Arc<Engine>,
    /// Cancelling, as the pages do it.
    pub runs: Arc<dyn Runs>,
    pub keys: Arc<ApiKeys>,
    pub hooks: Arc<HookCache>,
    /// How often webhooks may be called.
    pub hook_limits: Arc<hooks::limits::WebhookLimits>,
    pub workflows: Workflows,
    pub credentials: Credentials,
    pub variables: Variables,
    /// The request headers webhooks keep in their runs' input.
    pub webhook_headers: Arc<KeptHeaders>,
}

/// Where a page starts and how long it is, from `after` and `limit` query values.
fn page_position(after: Option<&str>, limit: Option<u32>) -> Result<(Option<app::model::Cursor>, u32), ApiError> {
    // `after=` (empty) is the first page, as an absent `after` is.
    let after = after.filter(|a| !a.is_empty());
    let after = after.map(app::model::Cursor::decode).transpose().map_err(ApiError::bad_request)?;
    Ok((after, app::model::page_size(limit).map_err(ApiError::bad_request)?))
}

/// `/hooks/{path}`, any method (each hook checks its own).
pub fn hooks_router<S: Clone + Send + Sync + 'static>(state: ApiState) -> Router<S> {
    Router::new().route("/{*path}", axum::routing::any(hooks::handle)).with_state(state)
}

pub fn router<S: Clone + Send + Sync + 'static>(state: ApiState) -> Router<S> {
    Router::new()
        .route("/workflows", post(workflows::create).get(workflows::list))
        .route("/workflows/{id}", get(workflows::get).put(workflows::update).delete(workflows::delete))
        .route("/workflows/{id}/export", get(workflows::export))
        .route("/workflows/{id}/executions", post(executions::start))
        .route("/executions", get(executions::list))
        .route("/executions/{id}", get(executions::get))
        .route("/executions/{id}/cancel", post(executions::cancel))
        .route("/executions/{id}/resume", post(resume::resume))
        .route("/executions/{id}/events", get(executions::events))
        .route("/executions/{id}/nodes/{node}/steps", get(executions::steps))
        .route("/credentials", post(credentials::create).get(credentials::list))
        .route("/credentials/{name}", axum::routing::put(credentials::replace).delete(credentials::delete))
        .route("/variables", get(variables::list))
        .route("/variables/{name}", axum::routing::put(variables::set).delete(variables::delete))
        .route("/usage", get(usage::report))
        .route("/templates", get(templates::list))
        .route("/templates/{slug}/install", post(templates::install))
        .route("/openapi.json", get(openapi::document))
        .fallback(|| async { ApiError::new(axum::http::StatusCode::NOT_FOUND, "not_found", "no such API endpoint") })
        .with_state(state)
}
