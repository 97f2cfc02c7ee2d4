//! What server functions find in their context: the store, and who is asking.

use std::sync::Arc;

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{Scope, User, WorkflowId};
use crate::ports::Store;

/// Provided by the server to every server function and SSR render.
#[derive(Clone)]
pub struct ServerContext {
    pub store: Arc<dyn Store>,
    /// The owner of everything created through the UI until accounts exist: a
    /// built-in user that cannot sign in. Sign-in replaces this with the session's user.
    pub local_user: User,
    /// Tells the server that a workflow was created, saved or deleted, so that
    /// webhook caches and the cron scheduler (in every process) follow.
    pub workflow_changed: Arc<dyn Fn(WorkflowId) + Send + Sync>,
}

impl ServerContext {
    pub fn current() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| {
            tracing::error!("server function called without a ServerContext");
            AppError::Internal
        })
    }

    /// The scope of the user making the request.
    pub fn viewer_scope(&self) -> Scope {
        Scope::Owner(self.local_user.id)
    }
}

/// Sets the HTTP status of a server function's response from its error, so a
/// caller's mistake answers 4xx rather than 500.
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(error) = &result {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            let code =
                http::StatusCode::from_u16(error.status_code()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            response.set_status(code);
        }
    }
    result
}
