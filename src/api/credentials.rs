//! `/api/v1/credentials`: a user's named secrets, and (admins) shared ones.
//! Values go in and never come out: every answer carries names, kinds and use.

use app::model::Credential;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::error::ErrorBody;
use super::{ApiError, ApiState, Caller};

type ApiResult<T> = Result<T, ApiError>;

/// A new credential. `data` by kind: bearer `{"token"}`, basic
/// `{"username", "password"}`, header `{"name", "value"}`, query `{"name", "value"}`,
/// oauth2 `{"grant": "client_credentials" | "authorization_code", "token_url",
/// "authorize_url" (authorization code), "client_id", "client_secret", "scope"?}`
/// (an authorization-code credential is connected from the credentials page),
/// llm `{"api": "openai" | "anthropic", "base_url", "api_key"?, "default_model"?}`
/// (an LLM provider, named in an `llm` node's `"provider"` or `"fallbacks"`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCredential {
    /// What workflows write in an `http` node's `"credential"` or an `llm` node's
    /// `"provider"` (letters, digits, `_`, `-`, `.`).
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_.-]+$")]
    name: String,
    /// `bearer`, `basic`, `header`, `query`, `oauth2` or `llm`.
    kind: String,
    #[schema(value_type = Object)]
    data: Value,
    /// Admins only: a credential every user may use and nobody can read.
    #[serde(default)]
    shared: bool,
}

/// A replacement value under the same name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialValueBody {
    kind: String,
    #[schema(value_type = Object)]
    data: Value,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SharedQuery {
    /// Act on the shared (instance-wide) one of that name (admins only).
    #[serde(default)]
    pub(super) shared: bool,
}

/// Creates a credential. Its value is sealed and never shown again.
#[utoipa::path(post, path = "/api/v1/credentials", tag = "credentials", request_body = NewCredential,
    responses(
        (status = 201, description = "Created (without its value)", body = Credential),
        (status = 400, description = "A bad name, kind or value; the message names the field", body = ErrorBody),
        (status = 403, description = "A shared credential, asked for by someone not an admin", body = ErrorBody),
        (status = 409, description = "A credential of that name exists", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    body: Result<Json<NewCredential>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Credential>)> {
    let Json(new) = body?;
    let created = state.credentials.create(&caller.0, &new.name, &new.kind, new.data, new.shared).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The credentials the caller may use (their own, then shared ones), with
/// the caller's workflows that use each. Never their values.
#[utoipa::path(get, path = "/api/v1/credentials", tag = "credentials",
    responses(
        (status = 200, description = "Every credential the caller may use", body = Vec<Credential>),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn list(State(state): State<ApiState>, caller: Caller) -> ApiResult<Json<Vec<Credential>>> {
    Ok(Json(state.credentials.list(&caller.0).await?))
}

/// Replaces a credential's value, keeping its name: workflows using it go on working.
#[utoipa::path(put, path = "/api/v1/credentials/{name}", tag = "credentials",
    params(("name" = String, Path), SharedQuery), request_body = CredentialValueBody,
    responses(
        (status = 204, description = "Replaced"),
        (status = 400, description = "A bad kind or value", body = ErrorBody),
        (status = 403, description = "A shared credential, asked for by someone not an admin", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn replace(
    State(state): State<ApiState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<SharedQuery>, QueryRejection>,
    body: Result<Json<CredentialValueBody>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let (Path(name), Query(query), Json(body)) = (name?, query?, body?);
    state.credentials.replace(&caller.0, &name, &body.kind, body.data, query.shared).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a credential; refused while a workflow uses it.
#[utoipa::path(delete, path = "/api/v1/credentials/{name}", tag = "credentials",
    params(("name" = String, Path), SharedQuery),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A shared credential, asked for by someone not an admin", body = ErrorBody),
        (status = 404, description = "No such credential", body = ErrorBody),
        (status = 409, description = "Workflows use it; the message lists them", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Caller,
    name: Result<Path<String>, PathRejection>,
    query: Result<Query<SharedQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let (Path(name), Query(query)) = (name?, query?);
    state.credentials.delete(&caller.0, &name, query.shared).await?;
    Ok(StatusCode::NO_CONTENT)
}
