//! `/api/v1/variables`: values templates read as `vars.NAME`, the caller's
//! own and (admins, with `?shared=true`) the instance's.

use app::model::Variable;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::credentials::SharedQuery;
use super::error::ErrorBody;
use super::{ApiError, ApiState, Caller};

type ApiResult<T> = Result<T, ApiError>;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariableValue {
    #[schema(max_length = 8192)]
    value: String,
}

/// The caller's variables and the instance's (`shared`), by name.
#[utoipa::path(get, path = "/api/v1/variables", tag = "variables",
    responses(
        (status = 200, description = "Every variable the caller's runs may read", body = Vec<Variable>),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<Variable>>> {
    Ok(Json(state.variables.list(&caller.0).await?))
}

/// Sets a variable (made or replaced).
#[utoipa::path(put, path = "/api/v1/variables/{name}", tag = "variables",
    params(("name" = String, Path), SharedQuery), request_body = VariableValue,
    responses(
        (status = 204, description = "Set"),
        (status = 400, description = "A bad name or value, or too many variables", body = ErrorBody),
        (status = 403, description = "An instance-wide variable, set by someone not an admin", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn set(
    State(state): State<ApiState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<SharedQuery>, QueryRejection>,
    body: Result<Json<VariableValue>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let (Path(name), Query(query), Json(body)) = (name?, query?, body?);
    state.variables.set(&caller.0, &name, &body.value, query.shared).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/variables/{name}", tag = "variables",
    params(("name" = String, Path), SharedQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "An instance-wide variable, deleted by someone not an admin", body = ErrorBody),
        (status = 404, description = "No such variable", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<SharedQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let (Path(name), Query(query)) = (name?, query?);
    state.variables.delete(&caller.0, &name, query.shared).await?;
    Ok(StatusCode::NO_CONTENT)
}
