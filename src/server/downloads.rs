//! Files the pages link to, served to the signed-in user by their session:
//! a workflow's definition as a JSON download (the list's "Export").

use app::accounts::sessions::session_token;
use app::error::AppError;
use app::model::Scope;
use app::server_context::ServerContext;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

pub fn router<S: Clone + Send + Sync + 'static>(ctx: ServerContext) -> Router<S> {
    Router::new().route("/workflows/{id}/definition.json", get(definition)).with_state(ctx)
}

async fn definition(State(ctx): State<ServerContext>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let result = async {
        let token = session_token(&headers).ok_or(AppError::Unauthorized)?;
        let user = ctx.accounts.user(ctx.store.as_ref(), token).await?.ok_or(AppError::Unauthorized)?;
        let id: i64 = id.parse().map_err(|_| AppError::NotFound("workflow".into()))?;
        ctx.store.workflow(Scope::Owner(user.id), id).await
    }
    .await;
    match result {
        Ok(workflow) => {
            let file = format!("attachment; filename=\"workflow-{}.json\"", workflow.summary.id);
            ([(header::CONTENT_DISPOSITION, file)], Json(workflow.definition)).into_response()
        }
        Err(error) => {
            let status = StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (status, error.to_string()).into_response()
        }
    }
}
