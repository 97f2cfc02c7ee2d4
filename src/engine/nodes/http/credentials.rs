//! Credentials as the `http` node uses them: opened when the request is sent
//! (never placed in a template's context), applied to the request, and masked
//! in everything the request gives back: an upstream that echoes the token,
//! or an error that quotes the URL, records `********` instead.

use std::borrow::Cow;
use std::sync::Arc;

use app::model::{now_ms, CredentialValue, SealedCredential, UserId};
use app::ports::Store;
use base64::Engine as _;
use serde_json::Value;

use super::oauth::Tokens;
use crate::secrets::SecretBox;

/// What a masked secret reads as.
pub const MASK: &str = "********";

/// A token request that failed: with what (sealed value, sealed tokens), and why.
#[derive(Clone)]
pub(super) struct FailedRefresh {
    pub(super) sealed: String,
    pub(super) tokens: Option<String>,
    pub(super) error: String,
}

/// Opens the credentials runs refer to.
pub struct CredentialVault {
    pub(super) store: Arc<dyn Store>,
    pub(super) secrets: Arc<SecretBox>,
    /// What asks OAuth2 token endpoints: the `http` node's guarded client
    /// (a token URL is as user-written as any node's URL).
    pub(super) token_client: reqwest::Client,
    /// One OAuth2 refresh at a time per credential in this process: a burst of
    /// requests after expiry makes one token request, not one each.
    pub(super) refreshing: moka::future::Cache<i64, Arc<tokio::sync::Mutex<()>>>,
    /// A credential's last failed token request, for 30 s: requests in that
    /// time fail at once instead of asking a failing token endpoint again.
    /// Kept with the value and tokens it was made with: a replaced value, or
    /// new tokens (a Connect), try at once.
    pub(super) failed_refresh: moka::future::Cache<i64, FailedRefresh>,
}

impl CredentialVault {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<SecretBox>) -> Self {
        let refreshing = moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_idle(std::time::Duration::from_secs(600))
            .build();
        let failed_refresh = moka::future::Cache::builder()
            .max_capacity(10_000)
            .time_to_live(super::oauth::FAILED_REFRESH_PAUSE)
            .build();
        Self { store, secrets, token_client: reqwest::Client::new(), refreshing, failed_refresh }
    }

    /// Token requests go through `client` (set by the `http` node, whose client it is).
    pub(super) fn with_token_client(mut self, client: reqwest::Client) -> Self {
        self.token_client = client;
        self
    }

    /// The credential `name` as a run of `owner` uses it: their own, else a shared one.
    /// Read from the store every time, so a replaced value applies at once in
    /// every process (one indexed read per request that uses a credential).
    /// An OAuth2 credential's tokens are not fetched: this is what a webhook
    /// checks its caller against ([`Self::open_to_send`] is what a request sends).
    pub async fn open(&self, owner: UserId, name: &str) -> Result<OpenedCredential, String> {
        Ok(self.read(owner, name).await?.1)
    }

    /// The credential `name` ready to go on a request: for OAuth2, with an
    /// access token that is not about to expire (obtained or refreshed now if
    /// needed). `stale` is an access token the upstream just refused with a
    /// 401: a new one is obtained even if it has not expired.
    pub async fn open_to_send(
        &self,
        owner: UserId,
        name: &str,
        stale: Option<&str>,
    ) -> Result<OpenedCredential, String> {
        let (sealed, mut opened) = self.read(owner, name).await?;
        if let CredentialValue::OAuth2(client) = &opened.value {
            let tokens = self.access_token(&sealed, client, stale).await;
            // The token endpoint's answer may quote the client secret.
            let tokens = tokens.map_err(|error| opened.masker().text(&error).into_owned())?;
            opened.tokens = Some(tokens);
        }
        Ok(opened)
    }

    async fn read(&self, owner: UserId, name: &str) -> Result<(SealedCredential, OpenedCredential), String> {
        let (sealed, opened) = self.read_unmarked(owner, name).await?;
        self.mark_used(sealed.id);
        Ok((sealed, opened))
    }

    /// The credential `name` (with its id), without recording a use: for an
    /// LLM provider opened to be asked only if the ones before it fail.
    /// [`Self::mark_used`] records the use when it is sent.
    pub async fn open_unmarked(&self, owner: UserId, name: &str) -> Result<(i64, OpenedCredential), String> {
        let (sealed, opened) = self.read_unmarked(owner, name).await?;
        Ok((sealed.id, opened))
    }

    /// Records, off the caller's path, that credential `id` was sent now.
    pub fn mark_used(&self, id: i64) {
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.mark_credential_used(id, now_ms()).await {
                tracing::debug!(%error, "could not record a credential's last use");
            }
        });
    }

    async fn read_unmarked(&self, owner: UserId, name: &str) -> Result<(SealedCredential, OpenedCredential), String> {
        let sealed = self
            .store
            .credential_for_run(owner, name)
            .await
            .map_err(|_| format!("credential `{name}` could not be read"))?
            .ok_or_else(|| {
                format!("credential `{name}` does not exist: create it on the credentials page (or ask an admin to share one)")
            })?;
        let value = self.open_value(&sealed)?;
        Ok((sealed, OpenedCredential { value, tokens: None }))
    }

    pub(super) fn open_value(&self, sealed: &SealedCredential) -> Result<CredentialValue, String> {
        self.secrets.open(&sealed.sealed).ok().and_then(|plain| serde_json::from_str(&plain).ok()).ok_or_else(|| {
            format!("credential `{}` cannot be opened: was the instance's secret key changed?", sealed.name)
        })
    }
}

/// A credential in the clear, for the length of one request.
pub struct OpenedCredential {
    value: CredentialValue,
    /// OAuth2: the tokens the request is sent with.
    tokens: Option<Tokens>,
}

impl OpenedCredential {
    /// A credential's value without tokens (what masks the value's own secrets).
    pub fn for_value(value: CredentialValue) -> Self {
        Self { value, tokens: None }
    }

    #[cfg(test)]
    pub fn for_tests(value: CredentialValue) -> Self {
        Self::for_value(value)
    }

    /// The OAuth2 access token this request carries (to name it stale after a 401).
    pub fn access_token(&self) -> Option<&str> {
        self.tokens.as_ref().map(|tokens| tokens.access_token.as_str())
    }

    pub fn value(&self) -> &CredentialValue {
        &self.value
    }

    /// The secret part: what signs a webhook's payload (a token, a password, a value).
    pub fn secret(&self) -> &str {
        match &self.value {
            CredentialValue::Bearer { token } => token,
            CredentialValue::Basic { password, .. } => password,
            CredentialValue::Header { value, .. } | CredentialValue::Query { value, .. } => value,
            CredentialValue::OAuth2(client) => &client.client_secret,
            CredentialValue::Llm(provider) => provider.api_key.as_deref().unwrap_or_default(),
        }
    }

    /// The `Authorization` header value of a bearer or basic credential.
    pub fn authorization(&self) -> Option<String> {
        match &self.value {
            CredentialValue::Bearer { token } => Some(format!("Bearer {token}")),
            CredentialValue::Basic { username, password } => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
                Some(format!("Basic {encoded}"))
            }
            CredentialValue::OAuth2(_) => self.access_token().map(|token| format!("Bearer {token}")),
            _ => None,
        }
    }

    /// The header this credential sets, if any (a workflow's own header of that
    /// name gives way to it).
    pub fn header_name(&self) -> Option<&str> {
        match &self.value {
            CredentialValue::Bearer { .. } | CredentialValue::Basic { .. } | CredentialValue::OAuth2(_) => {
                Some("authorization")
            }
            CredentialValue::Header { name, .. } => Some(name),
            CredentialValue::Query { .. } | CredentialValue::Llm(_) => None,
        }
    }

    /// Adds a query credential to the URL.
    pub fn apply_to_url(&self, url: &mut reqwest::Url) {
        if let CredentialValue::Query { name, value } = &self.value {
            url.query_pairs_mut().append_pair(name, value);
        }
    }

    /// Adds a header credential to the request, marked sensitive (kept out of
    /// reqwest's and hyper's debug output).
    pub fn apply_to_request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let header = |name: &str, value: String| {
            let mut value = reqwest::header::HeaderValue::try_from(value).ok()?;
            value.set_sensitive(true);
            Some((reqwest::header::HeaderName::try_from(name).ok()?, value))
        };
        let pair = match &self.value {
            CredentialValue::Bearer { .. } | CredentialValue::Basic { .. } | CredentialValue::OAuth2(_) => {
                self.authorization().and_then(|value| header("authorization", value))
            }
            CredentialValue::Header { name, value } => header(name, value.clone()),
            CredentialValue::Query { .. } | CredentialValue::Llm(_) => None,
        };
        match pair {
            Some((name, value)) => request.header(name, value),
            None => request,
        }
    }

    /// What must never be recorded: the secret, and the forms it travels in.
    pub fn masker(&self) -> Masker {
        let mut secrets = match &self.value {
            CredentialValue::Bearer { token } => vec![token.clone()],
            CredentialValue::Basic { username, password } => vec![
                password.clone(),
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}")),
            ],
            CredentialValue::Header { value, .. } => vec![value.clone()],
            CredentialValue::Query { value, .. } => {
                let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
                vec![value.clone(), encoded]
            }
            CredentialValue::Llm(provider) => provider.api_key.iter().cloned().collect(),
            CredentialValue::OAuth2(client) => {
                let mut secrets = vec![client.client_secret.clone()];
                if let Some(tokens) = &self.tokens {
                    secrets.push(tokens.access_token.clone());
                    secrets.extend(tokens.refresh_token.clone());
                }
                // Tokens come from a server, not a person: one too short to
                // be worth the name would garble whatever it is masked in.
                secrets.retain(|secret| secret.len() >= app::model::credentials::MIN_SECRET_LEN);
                secrets
            }
        };
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Masker { secrets }
    }
}

/// Replaces a credential's secrets in text and JSON.
pub struct Masker {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl Masker {
    pub fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), MASK));
            }
        }
        out
    }

    /// Masks every string (and object key) in a JSON value.
    pub fn value(&self, value: Value) -> Value {
        match value {
            Value::String(text) => match self.text(&text) {
                Cow::Borrowed(_) => Value::String(text),
                Cow::Owned(masked) => Value::String(masked),
            },
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.value(v)).collect()),
            Value::Object(map) => {
                Value::Object(map.into_iter().map(|(k, v)| (self.text(&k).into_owned(), self.value(v))).collect())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opened(value: CredentialValue) -> OpenedCredential {
        OpenedCredential { value, tokens: None }
    }

    #[test]
    fn secrets_are_masked_in_text_and_json_in_every_form_they_travel() {
        let basic = opened(CredentialValue::Basic { username: "ann".into(), password: "hunter22".into() });
        let encoded = base64::engine::general_purpose::STANDARD.encode("ann:hunter22");
        let masker = basic.masker();
        let echoed = serde_json::json!({
            "headers": {"authorization": format!("Basic {encoded}")},
            "body": ["pw=hunter22", {"hunter22": 1}],
            "count": 3
        });
        let masked = masker.value(echoed);
        let text = masked.to_string();
        assert!(!text.contains("hunter22") && !text.contains(&encoded), "{text}");
        assert_eq!(masked["headers"]["authorization"], format!("Basic {MASK}"));
        assert_eq!(masked["count"], 3);

        let query = opened(CredentialValue::Query { name: "key".into(), value: "a b&c=d!".into() });
        let error = "error sending request for url (https://api.example/x?key=a+b%26c%3Dd%21)";
        assert_eq!(
            query.masker().text(error),
            format!("error sending request for url (https://api.example/x?key={MASK})")
        );
        assert!(matches!(query.masker().text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_query_credential_goes_on_the_url_and_a_header_one_names_its_header() {
        let query = opened(CredentialValue::Query { name: "api_key".into(), value: "s3cret-v".into() });
        let mut url = reqwest::Url::parse("https://api.example/v1?x=1").unwrap();
        query.apply_to_url(&mut url);
        assert_eq!(url.as_str(), "https://api.example/v1?x=1&api_key=s3cret-v");
        assert_eq!(query.header_name(), None);
        let header = opened(CredentialValue::Header { name: "X-Api-Key".into(), value: "k-123456".into() });
        assert_eq!(header.header_name(), Some("X-Api-Key"));
    }
}
