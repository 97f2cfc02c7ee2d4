//! Who an API request acts as: the user of its `Authorization: Bearer` key
//! (keys themselves live in `app::services::api_keys`).

use app::error::AppError;
use app::model::now_ms;
use app::model::{Scope, User};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};

pub use app::services::api_keys::{create_api_key, ApiKeys};

use super::{ApiError, ApiState};

/// The user an API request acts as.
pub struct Caller(pub User);

impl Caller {
    /// What the caller may see of workflows: their own.
    pub fn own(&self) -> Scope {
        Scope::Owner(self.0.id)
    }

    /// What the caller may read of executions: their own, or all for admins.
    pub fn readable(&self) -> Scope {
        if self.0.is_admin {
            Scope::Everyone
        } else {
            Scope::Owner(self.0.id)
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(AppError::Unauthorized)?;
        let found = state.keys.authenticate(state.store.as_ref(), presented.trim()).await?;
        let (key, user) = found.as_ref();
        if let Some(expired) = key.expires_at.filter(|_| key.expired(now_ms())) {
            let message =
                format!("the API key {} expired at {}; create a new one in the settings", key.prefix, iso(expired));
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "key_expired", message));
        }
        if key.read_only && !matches!(parts.method, Method::GET | Method::HEAD) {
            let message = format!(
                "the API key {} is read-only: it may read, not {} {}",
                key.prefix,
                parts.method,
                parts.uri.path()
            );
            return Err(ApiError::new(StatusCode::FORBIDDEN, "read_only_key", message));
        }
        Ok(Caller(user.clone()))
    }
}

/// A time in milliseconds since the epoch, as RFC 3339 (UTC).
fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
