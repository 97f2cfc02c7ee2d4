//! What server functions find in their context: the store, the accounts, and
//! who is asking.

use std::sync::Arc;

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::{Scope, User};
use crate::ports::{Configuration, Runs, Store};
use crate::services::api_keys::ApiKeys;
use crate::services::credentials::Credentials;
use crate::services::sessions::{session_token, Accounts};
use crate::services::variables::Variables;
use crate::services::workflows::Workflows;

/// Provided by the server to every server function and SSR render.
#[derive(Clone)]
pub struct ServerContext {
    pub store: Arc<dyn Store>,
    pub accounts: Arc<Accounts>,
    /// Shared with the REST API, so a key revoked in the UI stops working at once.
    pub api_keys: Arc<ApiKeys>,
    pub runs: Arc<dyn Runs>,
    pub configuration: Arc<dyn Configuration>,
    /// Every workflow write goes through it.
    pub workflows: Workflows,
    /// Credentials: sealed on the way in, never read back.
    pub credentials: Credentials,
    /// Variables templates read as `vars.NAME`.
    pub variables: Variables,
    /// Tells every process that a session ended or an API key was revoked,
    /// so none keeps accepting it from its cache.
    pub credentials_revoked: Arc<dyn Fn() + Send + Sync>,
    /// Whether the session cookie is `Secure` (Weft is served over HTTPS).
    pub secure_cookies: bool,
}

impl ServerContext {
    pub fn current() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| {
            tracing::error!("server function called without a ServerContext");
            AppError::Internal
        })
    }

    /// The session token of the request being served, if it carries one.
    pub fn session_token() -> Option<String> {
        let parts = use_context::<http::request::Parts>()?;
        session_token(&parts.headers).map(str::to_owned)
    }

    /// The signed-in user making the request, if any.
    pub async fn viewer_if_signed_in(&self) -> Result<Option<User>, AppError> {
        match Self::session_token() {
            Some(token) => self.accounts.user(self.store.as_ref(), &token).await,
            None => Ok(None),
        }
    }

    /// The signed-in user making the request; `Unauthorized` for anyone else.
    pub async fn viewer(&self) -> Result<User, AppError> {
        self.viewer_if_signed_in().await?.ok_or(AppError::Unauthorized)
    }

    /// The signed-in user, who must be an admin.
    pub async fn admin(&self) -> Result<User, AppError> {
        let user = self.viewer().await?;
        if !user.is_admin {
            return Err(AppError::Forbidden("only an admin can do this".into()));
        }
        Ok(user)
    }

    /// What the viewer may see of workflows (and change): their own.
    pub async fn own_scope(&self) -> Result<Scope, AppError> {
        Ok(Scope::Owner(self.viewer().await?.id))
    }

    /// What the viewer may read of executions: their own, or everyone's for admins.
    pub async fn readable_scope(&self) -> Result<Scope, AppError> {
        let user = self.viewer().await?;
        Ok(if user.is_admin { Scope::Everyone } else { Scope::Owner(user.id) })
    }
}

/// Sets the HTTP status of a server function's response from its error, so a
/// caller's mistake answers 4xx rather than 500.
pub fn with_status<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(error) = &result {
        set_status(error.status_code());
    }
    result
}

pub fn set_status(code: u16) {
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
    }
}

/// Adds a `Set-Cookie` header to the response being built.
pub fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) =
        (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value))
    {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// The client's address as the server worked it out (the TCP peer, or what a
/// trusted proxy says in `X-Forwarded-For`), put in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::IpAddr);

/// The address of the client making the request (for sign-in rate limits):
/// the server's [`ClientAddress`], else the TCP peer.
pub fn client_address() -> Option<std::net::IpAddr> {
    let parts = use_context::<http::request::Parts>()?;
    parts
        .extensions
        .get::<ClientAddress>()
        .map(|client| client.0)
        .or_else(|| parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip()))
}
