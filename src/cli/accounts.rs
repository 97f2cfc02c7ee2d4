//! `weft user create` and `weft api-key create`: accounts and keys for automation.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::config::DatabaseSettings;
use crate::store;

/// Hashes a password with argon2id, as sign-in expects it.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Ok(app::services::passwords::hash_password_blocking(password)?)
}

/// The password: prompted for on a terminal, else the first line of stdin.
fn read_password() -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Password: ")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    };
    app::services::passwords::check_password_rules(&password)?;
    Ok(password)
}

pub async fn create_user(email: &str, admin: bool, database: &DatabaseSettings) -> ExitCode {
    let result = async {
        let email = email.trim().to_lowercase();
        let email = email.as_str();
        if !email.contains('@') {
            anyhow::bail!("`{email}` is not an email address");
        }
        let password = read_password()?;
        let store = store::connect(database).await?;
        let user = store.create_user(email, Some(&hash_password(&password)?), admin).await?;
        println!("created {} user {} (id {})", if admin { "admin" } else { "regular" }, user.email, user.id);
        anyhow::Ok(())
    }
    .await;
    report(result)
}

pub async fn create_api_key(
    email: &str,
    name: &str,
    expires_in_days: Option<u32>,
    read_only: bool,
    database: &DatabaseSettings,
) -> ExitCode {
    let result = async {
        let limits = app::services::api_keys::key_limits(expires_in_days, read_only, app::model::now_ms())?;
        let store = store::connect(database).await?;
        let user = store.user_by_email(email).await?.ok_or_else(|| anyhow::anyhow!("no user with email {email}"))?;
        let (key, secret) = crate::api::create_api_key(store.as_ref(), user.id, name, limits).await?;
        eprintln!("API key {} ({}) for {}; it is shown only this once:", key.prefix, key.name, user.email);
        println!("{secret}");
        anyhow::Ok(())
    }
    .await;
    report(result)
}

fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("weft: {error:#}");
            ExitCode::FAILURE
        }
    }
}
