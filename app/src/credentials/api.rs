//! Server functions of the credentials page. The form sends one `name` and
//! one `value` field whatever the kind (a bearer token is a value; basic auth
//! is a username and a password): [`credential_data`] makes the kind's data.

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

/// The API's `data` for a kind, from the form's two fields.
pub fn credential_data(kind: &str, name: &str, value: &str) -> serde_json::Value {
    match kind {
        "bearer" => serde_json::json!({ "token": value }),
        "basic" => serde_json::json!({ "username": name, "password": value }),
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

#[server(endpoint = "credentials/create")]
pub async fn create_credential(
    name: String,
    kind: String,
    #[server(default)] field: String,
    value: String,
    #[server(default)] shared: bool,
) -> Result<Credential, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            let data = credential_data(&kind, &field, &value);
            ctx.credentials.create(&user, name.trim(), &kind, data, shared).await
        }
        .await,
    )
}

#[server(endpoint = "credentials/replace")]
pub async fn replace_credential(
    name: String,
    kind: String,
    #[server(default)] field: String,
    value: String,
    #[server(default)] shared: bool,
) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            let data = credential_data(&kind, &field, &value);
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
