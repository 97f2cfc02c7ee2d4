//! Credentials as the `http` node uses them: opened when the request is sent
//! (never placed in a template's context), applied to the request, and masked
//! in everything the request gives back: an upstream that echoes the token,
//! or an error that quotes the URL, records `********` instead.

use std::borrow::Cow;
use std::sync::Arc;

use app::model::{now_ms, CredentialValue, UserId};
use app::ports::Store;
use base64::Engine as _;
use serde_json::Value;

use crate::secrets::SecretBox;

/// What a masked secret reads as.
pub const MASK: &str = "********";

/// Opens the credentials runs refer to.
pub struct CredentialVault {
    store: Arc<dyn Store>,
    secrets: Arc<SecretBox>,
}

impl CredentialVault {
    pub fn new(store: Arc<dyn Store>, secrets: Arc<SecretBox>) -> Self {
        Self { store, secrets }
    }

    /// The credential `name` as a run of `owner` uses it: their own, else a shared one.
    /// Read from the store every time, so a replaced value applies at once in
    /// every process (one indexed read per request that uses a credential).
    pub async fn open(&self, owner: UserId, name: &str) -> Result<OpenedCredential, String> {
        let sealed = self
            .store
            .credential_for_run(owner, name)
            .await
            .map_err(|_| format!("credential `{name}` could not be read"))?
            .ok_or_else(|| {
                format!("credential `{name}` does not exist: create it on the credentials page (or ask an admin to share one)")
            })?;
        let value = self
            .secrets
            .open(&sealed.sealed)
            .ok()
            .and_then(|plain| serde_json::from_str::<CredentialValue>(&plain).ok())
            .ok_or_else(|| format!("credential `{name}` cannot be opened: was the instance's secret key changed?"))?;
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.mark_credential_used(sealed.id, now_ms()).await {
                tracing::debug!(%error, "could not record a credential's last use");
            }
        });
        Ok(OpenedCredential { value })
    }
}

/// A credential in the clear, for the length of one request.
pub struct OpenedCredential {
    value: CredentialValue,
}

impl OpenedCredential {
    #[cfg(test)]
    pub fn for_tests(value: CredentialValue) -> Self {
        Self { value }
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
            _ => None,
        }
    }

    /// The header this credential sets, if any (a workflow's own header of that
    /// name gives way to it).
    pub fn header_name(&self) -> Option<&str> {
        match &self.value {
            CredentialValue::Bearer { .. } | CredentialValue::Basic { .. } => Some("authorization"),
            CredentialValue::Header { name, .. } => Some(name),
            CredentialValue::Query { .. } => None,
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
            CredentialValue::Bearer { .. } | CredentialValue::Basic { .. } => {
                self.authorization().and_then(|value| header("authorization", value))
            }
            CredentialValue::Header { name, value } => header(name, value.clone()),
            CredentialValue::Query { .. } => None,
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
        OpenedCredential { value }
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
