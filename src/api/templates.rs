//! `/api/v1/templates`: the marketplace, for programs: list (searchable) and
//! install (copies a template into the caller's workflows).

use app::model::{normalized_search, MarketplaceTemplate, WorkflowSummary};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::error::ErrorBody;
use super::{ApiError, ApiState, Caller};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplateListQuery {
    search: Option<String>,
}

/// The marketplace's templates, searchable by name and description.
#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(TemplateListQuery),
    responses(
        (status = 200, description = "Every matching template", body = Vec<MarketplaceTemplate>),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
    query: Result<Query<TemplateListQuery>, QueryRejection>,
) -> Result<Json<Vec<MarketplaceTemplate>>, ApiError> {
    let Query(query) = query?;
    Ok(Json(state.store.list_templates(normalized_search(query.search.as_deref())).await?))
}

/// Copies a template into the caller's workflows (without its triggers).
#[utoipa::path(post, path = "/api/v1/templates/{slug}/install", tag = "templates", params(("slug" = String, Path)),
    responses(
        (status = 201, description = "The new workflow", body = WorkflowSummary),
        (status = 404, description = "No such template", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn install(
    State(state): State<ApiState>,
    caller: Caller,
    Path(slug): Path<String>,
) -> Result<(StatusCode, Json<WorkflowSummary>), ApiError> {
    let created = state.workflows.install_template(caller.0.id, &slug).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
