//! Server functions of the credentials page. The form sends one `name` and
//! one `value` field whatever the kind (a bearer token is a value; basic auth
//! is a username and a password; an OAuth2 client is an id and a secret, plus
//! [`KindFields`]; an LLM provider is a base URL and an API key, plus its
//! API and default model): [`credential_data`] makes the kind's data.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::Credential;
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// The credentials the viewer may use, and whether they may make shared ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CredentialList {
    pub credentials: Vec<Credential>,
    pub can_share: bool,
}

/// The fields some kinds have besides a name and a value: an OAuth2 client's
/// (besides its id and secret), an LLM provider's (besides its base URL and key).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KindFields {
    /// `authorization_code` or `client_credentials`.
    pub grant: String,
    pub token_url: String,
    pub authorize_url: String,
    pub scope: String,
    /// An LLM provider's API: `openai` or `anthropic`.
    pub api: String,
    /// An LLM provider's default model.
    pub model: String,
}

/// The API's `data` for a kind, from the form's fields.
pub fn credential_data(kind: &str, name: &str, value: &str, oauth: &KindFields) -> serde_json::Value {
    let optional = |text: &str| (!text.trim().is_empty()).then(|| text.trim().to_string());
    match kind {
        "bearer" => serde_json::json!({ "token": value }),
        "basic" => serde_json::json!({ "username": name, "password": value }),
        "llm" => serde_json::json!({
            "api": if oauth.api.is_empty() { "openai" } else { oauth.api.as_str() },
            "base_url": name.trim(),
            "api_key": optional(value),
            "default_model": optional(&oauth.model),
        }),
        "oauth2" => serde_json::json!({
            "grant": oauth.grant,
            "token_url": oauth.token_url.trim(),
            "authorize_url": optional(&oauth.authorize_url).filter(|_| oauth.grant != "client_credentials"),
            "client_id": name.trim(),
            "client_secret": value,
            "scope": optional(&oauth.scope),
        }),
        _ => serde_json::json!({ "name": name, "value": value }),
    }
}

#[server(endpoint = "credentials/list")]
pub async fn list_credentials() -> Result<CredentialList, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            Ok(CredentialList { credentials: ctx.credentials.list(&user).await?, can_share: user.is_admin })
        }
        .await,
    )
}

// One argument per form field (an OAuth2 client has six, an LLM provider five).
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "credentials/create")]
pub async fn create_credential(
    name: String,
    kind: String,
    #[server(default)] field: String,
    value: String,
    #[server(default)] shared: bool,
    #[server(default)] grant: String,
    #[server(default)] token_url: String,
    #[server(default)] authorize_url: String,
    #[server(default)] scope: String,
    #[server(default)] api: String,
    #[server(default)] model: String,
) -> Result<Credential, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            let oauth = KindFields { grant, token_url, authorize_url, scope, api, model };
            let data = credential_data(&kind, &field, &value, &oauth);
            ctx.credentials.create(&user, name.trim(), &kind, data, shared).await
        }
        .await,
    )
}

// One argument per form field (an OAuth2 client has six, an LLM provider five).
#[allow(clippy::too_many_arguments)]
#[server(endpoint = "credentials/replace")]
pub async fn replace_credential(
    name: String,
    kind: String,
    #[server(default)] field: String,
    value: String,
    #[server(default)] shared: bool,
    #[server(default)] grant: String,
    #[server(default)] token_url: String,
    #[server(default)] authorize_url: String,
    #[server(default)] scope: String,
    #[server(default)] api: String,
    #[server(default)] model: String,
) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            let oauth = KindFields { grant, token_url, authorize_url, scope, api, model };
            let data = credential_data(&kind, &field, &value, &oauth);
            ctx.credentials.replace(&user, &name, &kind, data, shared).await
        }
        .await,
    )
}

#[server(endpoint = "credentials/delete")]
pub async fn delete_credential(name: String, #[server(default)] shared: bool) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            ctx.credentials.delete(&user, &name, shared).await
        }
        .await,
    )
}
