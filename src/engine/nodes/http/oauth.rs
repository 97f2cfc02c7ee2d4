//! OAuth2 credentials: the tokens behind `"credential": "name"` when the
//! credential is of kind `oauth2`.
//!
//! - Client credentials: Weft asks the token endpoint with the client's id and
//!   secret whenever it has no token that lasts another minute.
//! - Authorization code: a person presses Connect, Weft sends their browser to
//!   the provider with a sealed `state` (which credential, the PKCE verifier, an
//!   expiry), the provider sends it back to `/oauth/callback`, and Weft trades
//!   the code for tokens. Later requests refresh the access token with the
//!   refresh token before it expires, and again when an upstream answers 401.
//!
//! Tokens are sealed in the credential's row, apart from its value; two
//! processes refreshing at once settle it with a compare-and-swap write.

use std::sync::Arc;
use std::time::Duration;

use app::model::{now_ms, OAuth2Client, OAuthGrant, SealedCredential};
use base64::Engine as _;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::credentials::{CredentialVault, FailedRefresh};

/// A token that expires sooner than this is refreshed before it is sent.
const EXPIRY_MARGIN_MS: i64 = 60_000;

/// How long a person has between pressing Connect and coming back.
const AUTHORIZATION_WINDOW_MS: i64 = 10 * 60_000;

/// The most a token endpoint's answer may weigh.
const MAX_TOKEN_ANSWER: usize = 64 * 1024;

const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The most of a token endpoint's error text a run's error quotes.
const MAX_QUOTED_CHARS: usize = 300;

/// How long a failed token request answers for its credential: a token
/// endpoint that refuses or is down is asked again after this, not by every
/// request meanwhile.
pub const FAILED_REFRESH_PAUSE: Duration = Duration::from_secs(30);

/// What a token endpoint gave, as stored (sealed).
#[derive(Clone, Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Milliseconds since the epoch; none when the provider did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

/// Never print a token, not even in a debug log.
impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tokens {{ expires_at: {:?}, .. }}", self.expires_at)
    }
}

impl Tokens {
    /// Whether the access token may be sent now (it lasts past the margin).
    fn usable(&self, now: i64, stale: Option<&str>) -> bool {
        stale != Some(self.access_token.as_str()) && self.expires_at.is_none_or(|at| at - EXPIRY_MARGIN_MS > now)
    }
}

/// Which credential a person is connecting, carried through the provider in
/// `state`, sealed (so it cannot be forged or read on the way).
#[derive(Serialize, Deserialize)]
struct AuthorizationState {
    credential: i64,
    /// The PKCE verifier whose challenge went to the provider.
    verifier: String,
    redirect_uri: String,
    expires_at: i64,
}

/// What pressing Connect leads to.
pub enum Connection {
    /// The person signs in at the provider: their browser goes to this URL.
    SignIn(String),
    /// The credential has a token already (client credentials).
    Connected,
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl CredentialVault {
    /// An access token for `credential`: the stored one while it lasts, else a
    /// new one from the token endpoint (one request per credential at a time).
    pub(super) async fn access_token(
        &self,
        credential: &SealedCredential,
        client: &OAuth2Client,
        stale: Option<&str>,
    ) -> Result<Tokens, String> {
        if let Some(tokens) = self.open_tokens(credential)? {
            if tokens.usable(now_ms(), stale) {
                return Ok(tokens);
            }
        }
        let lock = self.refreshing.get_with(credential.id, async { Arc::new(tokio::sync::Mutex::new(())) }).await;
        let _one_at_a_time = lock.lock().await;
        // Another request may have refreshed while this one waited.
        let latest = self.reread(credential).await?;
        let current = self.open_tokens(&latest)?;
        if let Some(tokens) = &current {
            if tokens.usable(now_ms(), stale) {
                return Ok(tokens.clone());
            }
        }
        let name = &credential.name;
        if let Some(failed) = self.failed_refresh.get(&credential.id).await {
            if failed.sealed == latest.sealed && failed.tokens == latest.tokens {
                let pause = FAILED_REFRESH_PAUSE.as_secs();
                return Err(format!("{} (asked again at most every {pause} s)", failed.error));
            }
        }
        let fresh = self.obtain(credential, client, current.as_ref()).await;
        let fresh = match fresh {
            Ok(fresh) => fresh,
            Err(error) => {
                let failed = FailedRefresh {
                    sealed: latest.sealed.clone(),
                    tokens: latest.tokens.clone(),
                    error: error.clone(),
                };
                self.failed_refresh.insert(credential.id, failed).await;
                return Err(error);
            }
        };
        let sealed = self.seal_tokens(&fresh)?;
        let saved = self
            .store
            .save_credential_tokens(credential.id, latest.tokens.as_deref(), &sealed)
            .await
            .map_err(|_| format!("credential `{name}`: its new token could not be stored"))?;
        if saved {
            return Ok(fresh);
        }
        // Another process stored its token first: use that one, so every
        // process sends the same (a rotated refresh token exists only once).
        let winner = self.reread(credential).await?;
        Ok(self.open_tokens(&winner)?.unwrap_or(fresh))
    }

    /// New tokens from the token endpoint: by client credentials, or with the refresh token.
    async fn obtain(
        &self,
        credential: &SealedCredential,
        client: &OAuth2Client,
        current: Option<&Tokens>,
    ) -> Result<Tokens, String> {
        let name = &credential.name;
        let fresh = match client.grant {
            OAuthGrant::ClientCredentials => {
                let mut form = vec![("grant_type", "client_credentials")];
                form.extend(client.scope.as_deref().map(|scope| ("scope", scope)));
                self.request_tokens(name, client, &form).await?
            }
            OAuthGrant::AuthorizationCode => {
                let refresh = current.and_then(|tokens| tokens.refresh_token.clone()).ok_or_else(|| {
                    format!("credential `{name}` is not connected: press Connect on the credentials page")
                })?;
                let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
                let mut fresh = self.request_tokens(name, client, &form).await?;
                // Providers that do not rotate refresh tokens send none back.
                fresh.refresh_token = fresh.refresh_token.or(Some(refresh));
                fresh
            }
        };
        Ok(fresh)
    }

    /// Connects `credential` (the credentials page's Connect button). With the
    /// authorization code grant: where to send the person's browser, the
    /// provider's sign-in page, with `redirect_uri` (Weft's callback) to come
    /// back to. With client credentials: a token is obtained now, which proves
    /// the client's id and secret.
    pub async fn connect(&self, credential: &SealedCredential, redirect_uri: &str) -> Result<Connection, String> {
        let value = self.open_value(credential)?;
        let name = &credential.name;
        let client = value.oauth2().ok_or_else(|| format!("credential `{name}` is not an OAuth2 credential"))?;
        if client.grant == OAuthGrant::ClientCredentials {
            // A person pressing Connect asks the token endpoint now, whatever failed before.
            self.failed_refresh.invalidate(&credential.id).await;
            let masker = super::credentials::OpenedCredential::for_value(value.clone()).masker();
            let tokens = self.access_token(credential, client, None).await;
            return tokens.map(|_| Connection::Connected).map_err(|error| masker.text(&error).into_owned());
        }
        let authorize_url = client.authorize_url.as_deref().unwrap_or_default();
        let mut url = reqwest::Url::parse(authorize_url)
            .map_err(|e| format!("credential `{name}`: authorize_url `{authorize_url}` is not a URL ({e})"))?;
        let verifier = base64url(&rand::random::<[u8; 32]>());
        let challenge = base64url(&Sha256::digest(verifier.as_bytes()));
        let state = AuthorizationState {
            credential: credential.id,
            verifier,
            redirect_uri: redirect_uri.to_string(),
            expires_at: now_ms() + AUTHORIZATION_WINDOW_MS,
        };
        let state = serde_json::to_string(&state).map_err(|e| e.to_string())?;
        let state = self.secrets.seal(&state).map_err(|_| "the authorization state could not be sealed".to_string())?;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(scope) = &client.scope {
                query.append_pair("scope", scope);
            }
        }
        Ok(Connection::SignIn(url.into()))
    }

    /// Finishes a connection the provider sent back to the callback: trades
    /// `code` for tokens and stores them. Returns the credential's name.
    pub async fn finish_authorization(&self, code: &str, state: &str) -> Result<String, String> {
        let state: AuthorizationState = self
            .secrets
            .open(state)
            .ok()
            .and_then(|plain| serde_json::from_str(&plain).ok())
            .ok_or("the sign-in answer does not come from a Connect started here (unknown state)")?;
        if state.expires_at < now_ms() {
            return Err("the sign-in took longer than 10 minutes: press Connect again".into());
        }
        let credential = self
            .store
            .credential_by_id(state.credential)
            .await
            .map_err(|_| "the credential could not be read".to_string())?
            .ok_or("the credential was deleted while connecting")?;
        let value = self.open_value(&credential)?;
        let client = value.oauth2().ok_or("the credential is no longer an OAuth2 credential")?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", state.redirect_uri.as_str()),
            ("code_verifier", state.verifier.as_str()),
        ];
        let tokens = self.request_tokens(&credential.name, client, &form).await?;
        let sealed = self.seal_tokens(&tokens)?;
        // Connecting again replaces whatever tokens there were.
        let current = self.reread(&credential).await?.tokens;
        let saved = self.store.save_credential_tokens(credential.id, current.as_deref(), &sealed).await;
        if !matches!(saved, Ok(true)) {
            return Err(format!(
                "credential `{}`: the tokens could not be stored; press Connect again",
                credential.name
            ));
        }
        Ok(credential.name)
    }

    /// Asks `client`'s token endpoint for tokens with `grant` (form fields).
    /// The client authenticates in the body (`client_id`, `client_secret`),
    /// which every major provider accepts.
    async fn request_tokens(
        &self,
        name: &str,
        client: &OAuth2Client,
        grant: &[(&str, &str)],
    ) -> Result<Tokens, String> {
        let failed = |why: String| format!("credential `{name}`: the token endpoint {why}");
        let mut form: Vec<(&str, &str)> = grant.to_vec();
        form.push(("client_id", &client.client_id));
        form.push(("client_secret", &client.client_secret));
        let response = self
            .token_client
            .post(&client.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .timeout(TOKEN_REQUEST_TIMEOUT)
            .send()
            .await
            .map_err(|e| failed(format!("could not be reached ({})", super::describe(&e))))?;
        let status = response.status();
        let is_form = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("x-www-form-urlencoded"));
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failed(format!("answer was cut ({})", super::describe(&e))))?;
            if body.len() + chunk.len() > MAX_TOKEN_ANSWER {
                return Err(failed(format!("answer is larger than {MAX_TOKEN_ANSWER} bytes")));
            }
            body.extend_from_slice(&chunk);
        }
        // GitHub answers a form unless asked for JSON; some answer it anyway.
        let answer: Value = if is_form {
            let fields =
                url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())));
            Value::Object(fields.collect())
        } else {
            serde_json::from_slice(&body).map_err(|_| failed(format!("answered {status} with something not JSON")))?
        };
        if let Some(error) = answer.get("error").and_then(Value::as_str) {
            // The endpoint's words go into the run's error: kept short.
            let short = |text: &str| text.chars().take(MAX_QUOTED_CHARS).collect::<String>();
            let (error, detail) =
                (short(error), short(answer.get("error_description").and_then(Value::as_str).unwrap_or("")));
            return Err(failed(format!(
                "refused ({status} {error}{}{detail})",
                if detail.is_empty() { "" } else { ": " }
            )));
        }
        if !status.is_success() {
            return Err(failed(format!("answered {status}")));
        }
        parse_tokens(&answer, now_ms()).map_err(failed)
    }

    async fn reread(&self, credential: &SealedCredential) -> Result<SealedCredential, String> {
        self.store
            .credential_by_id(credential.id)
            .await
            .map_err(|_| format!("credential `{}` could not be read", credential.name))?
            .ok_or_else(|| format!("credential `{}` was deleted", credential.name))
    }

    fn open_tokens(&self, credential: &SealedCredential) -> Result<Option<Tokens>, String> {
        let Some(sealed) = &credential.tokens else { return Ok(None) };
        let tokens = self.secrets.open(sealed).ok().and_then(|plain| serde_json::from_str(&plain).ok());
        tokens.map(Some).ok_or_else(|| {
            format!("credential `{}`: its tokens cannot be opened: was the secret key changed?", credential.name)
        })
    }

    fn seal_tokens(&self, tokens: &Tokens) -> Result<String, String> {
        let plain = serde_json::to_string(tokens).map_err(|e| e.to_string())?;
        self.secrets.seal(&plain).map_err(|_| "a token could not be sealed".to_string())
    }
}

/// Reads a token endpoint's answer (RFC 6749 §5.1): an access token of type
/// bearer, maybe a refresh token, maybe a lifetime in seconds (a number, or a
/// string of one as some providers send).
fn parse_tokens(answer: &Value, now: i64) -> Result<Tokens, String> {
    let text = |field: &str| answer.get(field).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned);
    let access_token = text("access_token").ok_or("answered without an access_token")?;
    if let Some(kind) = text("token_type") {
        if !kind.eq_ignore_ascii_case("bearer") {
            return Err(format!("gave a `{kind}` token; only bearer tokens can be sent"));
        }
    }
    if access_token.len() > 16 * 1024 || access_token.chars().any(|c| c.is_control()) {
        return Err("gave an access token that cannot go in a header".into());
    }
    let lifetime = match answer.get("expires_in") {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let expires_at = lifetime.filter(|secs| secs.is_finite() && *secs >= 0.0).map(|secs| now + (secs * 1000.0) as i64);
    Ok(Tokens { access_token, refresh_token: text("refresh_token"), expires_at })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn token_answers_are_read_as_providers_send_them() {
        let tokens = parse_tokens(
            &json!({"access_token": "at-1", "token_type": "Bearer", "expires_in": 3600, "refresh_token": "rt-1"}),
            1_000,
        )
        .unwrap();
        assert_eq!((tokens.access_token.as_str(), tokens.refresh_token.as_deref()), ("at-1", Some("rt-1")));
        assert_eq!(tokens.expires_at, Some(1_000 + 3_600_000));
        // A lifetime as a string; no token type (GitHub's form answer).
        let tokens = parse_tokens(&json!({"access_token": "at-2", "expires_in": "60"}), 0).unwrap();
        assert_eq!(tokens.expires_at, Some(60_000));
        assert!(parse_tokens(&json!({"token_type": "bearer"}), 0).unwrap_err().contains("access_token"));
        assert!(parse_tokens(&json!({"access_token": "x", "token_type": "mac"}), 0).unwrap_err().contains("mac"));
        assert!(parse_tokens(&json!({"access_token": "a\nb"}), 0).is_err());
    }

    #[test]
    fn a_token_is_refreshed_a_minute_before_it_expires_or_once_refused() {
        let tokens = Tokens { access_token: "at".into(), refresh_token: None, expires_at: Some(100_000) };
        assert!(tokens.usable(100_000 - EXPIRY_MARGIN_MS - 1, None));
        assert!(!tokens.usable(100_000 - EXPIRY_MARGIN_MS, None));
        assert!(!tokens.usable(0, Some("at")), "refused by the upstream");
        let forever = Tokens { expires_at: None, ..tokens };
        assert!(forever.usable(i64::MAX, None));
    }
}
