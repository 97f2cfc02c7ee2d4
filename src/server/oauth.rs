//! The browser's side of connecting an OAuth2 credential: the credentials
//! page's Connect button opens `/oauth/connect/{name}`. For the authorization
//! code grant it sends the person to the provider, who sends them back to
//! `/oauth/callback`, which stores the tokens; for client credentials it
//! obtains a token at once. Either way the person lands on the credentials
//! page, which says what happened.
//!
//! The callback needs no session: the session cookie is `SameSite=Strict`, so
//! a browser coming back from another site does not send it. What it acts on
//! is named by the sealed `state` Weft made when the signed-in owner pressed
//! Connect, and the code is useless without the PKCE verifier inside it.

use std::sync::Arc;

use app::model::Ownership;
use app::server_context::ServerContext;
use app::ui::encode_query_value;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;

use crate::engine::nodes::http::oauth::Connection;
use crate::engine::Engine;

/// Where providers send people back, after Weft's public URL.
pub const CALLBACK_PATH: &str = "oauth/callback";

#[derive(Clone)]
struct OAuthRoutes {
    ctx: ServerContext,
    engine: Arc<Engine>,
    /// `WEFT_PUBLIC_URL` (with its trailing `/`), which the callback URL is
    /// made from; without it, the address the browser used.
    public_url: Option<String>,
}

pub fn router<S: Clone + Send + Sync + 'static>(
    ctx: ServerContext,
    engine: Arc<Engine>,
    public_url: Option<String>,
) -> Router<S> {
    Router::new()
        .route("/oauth/connect/{name}", get(connect))
        .route("/oauth/callback", get(callback))
        .with_state(OAuthRoutes { ctx, engine, public_url })
}

#[derive(Deserialize)]
struct ConnectQuery {
    #[serde(default)]
    shared: bool,
}

/// Back to the credentials page, saying what happened.
fn back(outcome: Result<String, String>) -> Response {
    let query = match outcome {
        Ok(name) => format!("connected={}", encode_query_value(&name)),
        // A provider's error text is anyone's: kept short.
        Err(error) => format!("oauth_error={}", encode_query_value(&error.chars().take(300).collect::<String>())),
    };
    Redirect::to(&format!("/credentials?{query}")).into_response()
}

/// The callback URL providers must know, as the browser reaches Weft.
fn callback_url(routes: &OAuthRoutes, headers: &HeaderMap) -> Result<String, String> {
    if let Some(public) = &routes.public_url {
        return Ok(format!("{public}{CALLBACK_PATH}"));
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .ok_or("the request names no host: set WEFT_PUBLIC_URL")?;
    Ok(format!("http://{host}/{CALLBACK_PATH}"))
}

async fn connect(
    State(routes): State<OAuthRoutes>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Query(query): Query<ConnectQuery>,
) -> Response {
    let Ok(user) = super::page_routes::viewer(&routes.ctx, &headers).await else {
        let next = format!("/oauth/connect/{name}");
        return Redirect::to(&format!("/login?next={}", encode_query_value(&next))).into_response();
    };
    let outcome = async {
        let owner = match query.shared {
            true if user.is_admin => Ownership::Shared,
            true => return Err("only an admin can connect a shared credential".to_string()),
            false => Ownership::User(user.id),
        };
        let credential = routes
            .ctx
            .store
            .owned_credential(owner, &name)
            .await
            .map_err(|_| "the credential could not be read".to_string())?
            .ok_or_else(|| format!("there is no credential `{name}` to connect"))?;
        let redirect_uri = callback_url(&routes, &headers)?;
        routes.engine.services().http.vault().connect(&credential, &redirect_uri).await
    }
    .await;
    match outcome {
        Ok(Connection::SignIn(provider)) => Redirect::to(&provider).into_response(),
        Ok(Connection::Connected) => back(Ok(name)),
        Err(error) => back(Err(error)),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(State(routes): State<OAuthRoutes>, Query(query): Query<CallbackQuery>) -> Response {
    let outcome = match (query.code, query.state, query.error) {
        (_, _, Some(error)) => {
            let detail = query.error_description.map(|d| format!(": {d}")).unwrap_or_default();
            Err(format!("the provider did not connect the credential ({error}{detail})"))
        }
        (Some(code), Some(state), None) => {
            let finished = routes.engine.services().http.vault().finish_authorization(&code, &state).await;
            if let Err(error) = &finished {
                tracing::info!(error, "an OAuth2 connection failed");
            }
            finished
        }
        _ => Err("the provider came back without a code and a state".to_string()),
    };
    back(outcome)
}
