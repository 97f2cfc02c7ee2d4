//! Server functions of accounts. Every one of them checks who is asking.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{ApiKey, User};
#[cfg(feature = "ssr")]
use crate::server_context::{client_address, set_cookie, with_status, ServerContext};
#[cfg(feature = "ssr")]
use crate::services::{api_keys, passwords, sessions};

/// Who is looking at the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    pub user: Option<User>,
    /// No admin exists yet: the first start's set-up is due.
    pub needs_setup: bool,
}

/// A key just created: the full secret is in this answer only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

#[cfg(feature = "ssr")]
fn normalized_email(email: &str) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
    if !valid {
        return Err(AppError::BadRequest(format!("`{email}` is not an email address")));
    }
    Ok(email)
}

#[server(endpoint = "accounts/viewer")]
pub async fn current_viewer() -> Result<Viewer, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer_if_signed_in().await?;
            let needs_setup = user.is_none() && ctx.accounts.needs_setup(ctx.store.as_ref()).await?;
            Ok(Viewer { user, needs_setup })
        }
        .await,
    )
}

/// Creates the first admin and signs them in; refused once an admin exists.
/// What was made before accounts existed becomes theirs.
#[server(endpoint = "accounts/setup")]
pub async fn set_up_admin(email: String, password: String) -> Result<User, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            if !ctx.accounts.needs_setup(ctx.store.as_ref()).await? {
                return Err(AppError::Conflict("Weft is already set up; sign in instead".into()));
            }
            let email = normalized_email(&email)?;
            passwords::check_password_rules(&password)?;
            let hash = passwords::hash_password(password).await?;
            // Checked again where it is decided: two set-ups can both pass the
            // check above while their passwords hash.
            let admin = ctx.store.create_first_admin(&email, &hash).await?;
            if let Some(local) = ctx.store.user_by_email(crate::model::LOCAL_USER_EMAIL).await? {
                ctx.store.transfer_ownership(local.id, admin.id).await?;
            }
            let token = ctx.accounts.start_session(ctx.store.as_ref(), &admin).await?;
            set_cookie(&sessions::session_cookie(&token, ctx.secure_cookies));
            Ok(admin)
        }
        .await,
    )
}

#[server(endpoint = "accounts/sign-in")]
pub async fn sign_in(email: String, password: String) -> Result<User, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let email = email.trim().to_lowercase();
            ctx.accounts.check_sign_in_rate(&email, client_address())?;
            ctx.accounts.check_shared_sign_in_rate(ctx.store.as_ref(), &email, client_address()).await?;
            let found = ctx.store.credentials(&email).await?;
            let (user, hash) = match found {
                Some((user, hash)) => (Some(user), Some(hash)),
                None => (None, None),
            };
            // The same message (and the same work) whether the email exists or not.
            let wrong = || AppError::BadRequest("the email or the password is wrong".into());
            if !passwords::verify_password(password, hash).await {
                return Err(wrong());
            }
            let user = user.ok_or_else(wrong)?;
            if user.disabled_at.is_some() {
                return Err(AppError::Forbidden("this account is disabled; an admin can enable it again".into()));
            }
            let token = ctx.accounts.start_session(ctx.store.as_ref(), &user).await?;
            set_cookie(&sessions::session_cookie(&token, ctx.secure_cookies));
            Ok(user)
        }
        .await,
    )
}

#[server(endpoint = "accounts/sign-out")]
pub async fn sign_out() -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            if let Some(token) = ServerContext::session_token() {
                ctx.accounts.end_session(ctx.store.as_ref(), &token).await?;
                (ctx.credentials_revoked)();
            }
            set_cookie(&sessions::expired_session_cookie(ctx.secure_cookies));
            Ok(())
        }
        .await,
    )
}

/// Changes the viewer's password, given the current one, and signs out every
/// other session of theirs (a stolen session ends with the old password).
#[server(endpoint = "accounts/password")]
pub async fn change_password(current: String, new: String) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            // Guessing the current password through this form counts like signing in.
            ctx.accounts.check_sign_in_rate(&user.email, client_address())?;
            ctx.accounts.check_shared_sign_in_rate(ctx.store.as_ref(), &user.email, client_address()).await?;
            passwords::check_password_rules(&new)?;
            let hash = ctx.store.credentials(&user.email).await?.map(|(_, hash)| hash);
            if !passwords::verify_password(current, hash).await {
                return Err(AppError::BadRequest("the current password is wrong".into()));
            }
            let hash = passwords::hash_password(new).await?;
            ctx.store.set_password_hash(user.id, &hash).await?;
            let token = ServerContext::session_token();
            ctx.accounts.end_other_sessions(ctx.store.as_ref(), user.id, token.as_deref()).await?;
            (ctx.credentials_revoked)();
            Ok(())
        }
        .await,
    )
}

/// Ends every session of the viewer, this one included: for a lost laptop or
/// a shared computer left signed in.
#[server(endpoint = "accounts/sign-out-everywhere")]
pub async fn sign_out_everywhere() -> Result<u64, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            let ended = ctx.accounts.end_other_sessions(ctx.store.as_ref(), user.id, None).await?;
            (ctx.credentials_revoked)();
            set_cookie(&sessions::expired_session_cookie(ctx.secure_cookies));
            Ok(ended)
        }
        .await,
    )
}

/// Every user who can sign in (admins only).
#[server(endpoint = "accounts/users")]
pub async fn list_users() -> Result<Vec<User>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.admin().await?;
            ctx.store.list_users().await
        }
        .await,
    )
}

/// Creates a user (admins only).
#[server(endpoint = "accounts/users/create")]
pub async fn create_user(email: String, password: String, admin: Option<String>) -> Result<User, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.admin().await?;
            let email = normalized_email(&email)?;
            passwords::check_password_rules(&password)?;
            let hash = passwords::hash_password(password).await?;
            ctx.store.create_user(&email, Some(&hash), admin.is_some_and(|a| a == "on" || a == "true")).await
        }
        .await,
    )
}

/// Disables a user, or enables them again (admins only; not oneself).
/// Disabling ends their sessions and stops their keys in every process at
/// once, and their webhooks and schedules start nothing; nothing of theirs is deleted.
#[server(endpoint = "accounts/users/disable")]
pub async fn set_user_disabled(id: i64, disabled: bool) -> Result<User, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let admin = ctx.admin().await?;
            if admin.id == id && disabled {
                return Err(AppError::BadRequest("you cannot disable your own account".into()));
            }
            ctx.store.set_user_disabled(id, disabled).await?;
            if disabled {
                ctx.accounts.end_other_sessions(ctx.store.as_ref(), id, None).await?;
            }
            // Every process forgets the user's cached sessions, keys and
            // webhook paths, and looks at the schedules again.
            (ctx.credentials_revoked)();
            ctx.store.user(id).await
        }
        .await,
    )
}

/// The viewer's API keys, revoked ones included (newest first).
#[server(endpoint = "accounts/api-keys")]
pub async fn list_api_keys() -> Result<Vec<ApiKey>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            ctx.store.list_api_keys(user.id).await
        }
        .await,
    )
}

/// Creates an API key for the viewer: `expires_in_days` (none: it never
/// expires) and `read_only` (it may only read) limit what it can do.
#[server(endpoint = "accounts/api-keys/create")]
pub async fn create_api_key(
    name: String,
    #[server(default)] expires_in_days: Option<u32>,
    #[server(default)] read_only: bool,
) -> Result<CreatedApiKey, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            let limits = api_keys::key_limits(expires_in_days, read_only, crate::model::now_ms())?;
            let (key, secret) = api_keys::create_api_key(ctx.store.as_ref(), user.id, &name, limits).await?;
            Ok(CreatedApiKey { key, secret })
        }
        .await,
    )
}

#[server(endpoint = "accounts/api-keys/revoke")]
pub async fn revoke_api_key(id: i64) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            ctx.api_keys.revoke(ctx.store.as_ref(), user.id, id).await?;
            (ctx.credentials_revoked)();
            Ok(())
        }
        .await,
    )
}
