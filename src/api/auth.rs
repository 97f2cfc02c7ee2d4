//! Who an API request acts as: the user of its `Authorization: Bearer` key
//! (keys themselves live in `app::services::api_keys`).

use app::error::AppError;
use app::model::{Scope, User};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

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
        Ok(Caller(state.keys.authenticate(state.store.as_ref(), presented.trim()).await?))
    }
}
