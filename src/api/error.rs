//! API errors: JSON with a stable code and a message, and the matching status.

use app::error::AppError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: Vec::new() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::NotFound(what) => Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found")),
            AppError::Invalid(errors) => Self {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                code: "invalid_definition",
                message: "the workflow definition is invalid".into(),
                details: errors.into_iter().map(|e| e.message).collect(),
            },
            AppError::BadRequest(message) => Self::bad_request(message),
            AppError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            AppError::Unavailable(message) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message),
            AppError::Unauthorized => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "a valid API key is required")
            }
            AppError::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            AppError::RateLimited(message) => Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message),
            AppError::Internal | AppError::Transport(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on the server")
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "bad_json" };
        Self::new(status, code, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", rejection.body_text())
    }
}

/// The body of every API error (and its schema in the OpenAPI document).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable: `not_found`, `bad_request`, `bad_json`,
    /// `too_large`, `invalid_definition`, `conflict`, `already_finished`,
    /// `unauthorized`, `key_expired`, `read_only_key`, `forbidden`,
    /// `method_not_allowed`, `rate_limited`, `unavailable`, `internal`, …
    pub code: &'static str,
    pub message: String,
    /// Every problem, when there are several (validation).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code, message: self.message, details: self.details } };
        (self.status, Json(body)).into_response()
    }
}

/// An id in the path; anything but an integer is an object that does not exist.
pub struct Id(pub i64);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(id) = axum::extract::Path::<i64>::from_request_parts(parts, state).await?;
        Ok(Id(id))
    }
}
