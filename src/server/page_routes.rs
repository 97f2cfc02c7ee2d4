//! Plain GET routes the pages use, authorized by the session cookie: a
//! workflow's definition as a download (the list's "Export"), and a run's live
//! events (server-sent events, which server functions cannot stream).

use std::sync::Arc;

use app::error::AppError;
use app::model::{Scope, User};
use app::server_context::ServerContext;
use app::services::sessions::session_token;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::engine::follow::follow;
use crate::engine::Engine;

#[derive(Clone)]
struct PageRoutes {
    ctx: ServerContext,
    engine: Arc<Engine>,
}

pub fn router<S: Clone + Send + Sync + 'static>(ctx: ServerContext, engine: Arc<Engine>) -> Router<S> {
    Router::new()
        .route("/workflows/{id}/definition.json", get(definition))
        .route("/executions/{id}/events", get(events))
        .with_state(PageRoutes { ctx, engine })
}

pub(super) async fn viewer(ctx: &ServerContext, headers: &HeaderMap) -> Result<User, AppError> {
    let token = session_token(headers).ok_or(AppError::Unauthorized)?;
    ctx.accounts.user(ctx.store.as_ref(), token).await?.ok_or(AppError::Unauthorized)
}

fn id_of(text: &str, what: &str) -> Result<i64, AppError> {
    text.parse().map_err(|_| AppError::NotFound(what.into()))
}

fn error_response(error: AppError) -> Response {
    let status = StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, error.to_string()).into_response()
}

async fn definition(State(routes): State<PageRoutes>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let result = async {
        let user = viewer(&routes.ctx, &headers).await?;
        routes.ctx.store.workflow(Scope::Owner(user.id), id_of(&id, "workflow")?).await
    }
    .await;
    match result {
        Ok(workflow) => {
            let file = format!("attachment; filename=\"workflow-{}.json\"", workflow.summary.id);
            ([(header::CONTENT_DISPOSITION, file)], Json(workflow.definition)).into_response()
        }
        Err(error) => error_response(error),
    }
}

async fn events(State(routes): State<PageRoutes>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let result = async {
        let user = viewer(&routes.ctx, &headers).await?;
        let scope = if user.is_admin { Scope::Everyone } else { Scope::Owner(user.id) };
        follow(&routes.engine, routes.ctx.store.clone(), user.id, scope, id_of(&id, "execution")?).await
    }
    .await;
    match result {
        Ok(events) => crate::api::sse(events).into_response(),
        Err(error) => error_response(error),
    }
}
