//! `http` nodes: one shared, pooled client; templated method, url, headers and
//! body; a timeout; a cap on the response size; a guard ([`guard`]) that
//! refuses every address that is not public unless allowed; and credentials
//! ([`credentials`]) applied by reference and masked in what comes back.

pub mod credentials;
pub mod guard;
pub mod oauth;

use std::sync::Arc;
use std::time::Duration;

use app::model::node_config::HttpConfig;
use futures::StreamExt;
use serde_json::{Map, Value};

use self::credentials::{CredentialVault, OpenedCredential};
use self::guard::{AddressPolicy, AllowedHost, Destinations, GuardedResolver};
use super::template::Templates;
use super::NodeScope;

/// Which destinations HTTP nodes may reach, and how much they may read.
#[derive(Debug, Clone)]
pub struct HttpNodeSettings {
    pub allow_loopback: bool,
    /// Every other address that is not public: private, link-local, metadata,
    /// carrier-grade NAT, reserved, multicast.
    pub allow_private: bool,
    /// Hosts reachable whatever their address (internal services meant to be called).
    pub allowed_hosts: Vec<AllowedHost>,
    /// A proxy every request goes through. The proxy resolves names itself, so
    /// the address guard only sees IP literals: the proxy must do its own filtering.
    /// Without it no proxy is used, whatever `HTTP_PROXY` says.
    pub proxy: Option<String>,
    pub max_body_bytes: usize,
    pub default_timeout: Duration,
}

impl Default for HttpNodeSettings {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            allow_private: false,
            allowed_hosts: Vec::new(),
            proxy: None,
            max_body_bytes: 10 * 1024 * 1024,
            default_timeout: Duration::from_secs(30),
        }
    }
}

pub struct HttpNode {
    client: reqwest::Client,
    /// For requests that carry a credential: redirects stay on the first origin.
    credentialed_client: reqwest::Client,
    settings: HttpNodeSettings,
    destinations: Arc<Destinations>,
    vault: CredentialVault,
}

impl HttpNode {
    pub fn new(settings: HttpNodeSettings, vault: CredentialVault) -> anyhow::Result<Self> {
        let destinations = Arc::new(Destinations {
            policy: AddressPolicy { allow_loopback: settings.allow_loopback, allow_private: settings.allow_private },
            allowed_hosts: settings.allowed_hosts.clone(),
        });
        let client = |same_origin_only: bool| -> anyhow::Result<reqwest::Client> {
            let mut builder = reqwest::Client::builder()
                .dns_resolver(Arc::new(GuardedResolver { destinations: destinations.clone() }))
                .user_agent(concat!("weft/", env!("CARGO_PKG_VERSION")))
                .pool_max_idle_per_host(32)
                // Every hop is checked like the first request: a redirect to an IP
                // literal never reaches the resolver.
                .redirect(destinations.redirect_policy(same_origin_only))
                // A proxy from the environment would resolve names past the guard.
                .no_proxy();
            if let Some(proxy) = &settings.proxy {
                builder = builder.proxy(reqwest::Proxy::all(proxy)?);
            }
            Ok(builder.build()?)
        };
        let credentialed_client = client(true)?;
        let vault = vault.with_token_client(credentialed_client.clone());
        Ok(Self { client: client(false)?, credentialed_client, settings, destinations, vault })
    }

    /// The credentials nodes send, which webhooks check callers against too.
    pub fn vault(&self) -> &CredentialVault {
        &self.vault
    }

    /// The client for user-written destinations that carry a secret (a named
    /// LLM provider): every address checked, redirects kept on one origin.
    pub fn guarded_client(&self) -> &reqwest::Client {
        &self.credentialed_client
    }

    /// Whether a URL's literal address may be reached (names are checked as
    /// they resolve).
    pub fn check_destination(&self, url: &reqwest::Url) -> Result<(), String> {
        self.destinations.check_url(url)
    }

    pub async fn run(&self, config: &HttpConfig, scope: &NodeScope, templates: &Templates) -> Result<Value, String> {
        let mut credential = match &config.credential {
            Some(name) => Some(self.vault.open_to_send(scope.owner, name, None).await?),
            None => None,
        };
        if credential.as_ref().is_some_and(|c| c.value().llm().is_some()) {
            let name = config.credential.as_deref().unwrap_or_default();
            return Err(format!(
                "credential `{name}` is an LLM provider: name it in an llm node's `provider`, not here"
            ));
        }
        let mut result = self.exchange(config, scope, templates, credential.as_ref()).await;
        // An OAuth2 token the upstream refuses (revoked, or expired early) is
        // replaced once and the request sent again.
        let refused = credential
            .as_ref()
            .and_then(|c| c.access_token().map(str::to_owned))
            .filter(|_| matches!(&result, Ok(answer) if answer["status"] == 401));
        if let (Some(stale), Some(name)) = (refused, &config.credential) {
            let renewed = self.vault.open_to_send(scope.owner, name, Some(&stale)).await?;
            result = self.exchange(config, scope, templates, Some(&renewed)).await;
            credential = Some(renewed);
        }
        match &credential {
            None => result,
            // Whatever comes back may quote the secret: an echoing upstream, an
            // error naming the URL its query parameter is on.
            Some(credential) => {
                let masker = credential.masker();
                result.map(|value| masker.value(value)).map_err(|error| masker.text(&error).into_owned())
            }
        }
    }

    async fn exchange(
        &self,
        config: &HttpConfig,
        scope: &NodeScope,
        templates: &Templates,
        credential: Option<&OpenedCredential>,
    ) -> Result<Value, String> {
        // Every templated field in one render job: method, url, headers, then a text body.
        let mut fields = vec![("method".to_string(), config.method.clone()), ("url".to_string(), config.url.clone())];
        // The credential's header replaces one of the same name the workflow sets.
        let replaced = credential.and_then(OpenedCredential::header_name);
        let headers: Vec<(String, String)> = config
            .headers
            .iter()
            .flatten()
            .filter(|(name, _)| !replaced.is_some_and(|r| r.eq_ignore_ascii_case(name)))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        fields.extend(headers.iter().map(|(name, value)| (format!("headers.{name}"), value.clone())));
        if let Some(Value::String(text)) = &config.body {
            fields.push(("body".to_string(), text.clone()));
        }
        let mut rendered = templates.render_fields(fields, scope).await?.into_iter();
        let method = rendered.next().unwrap_or_default().trim().to_uppercase();
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("method: `{method}` is not an HTTP method"))?;
        let url_text = rendered.next().unwrap_or_default();
        let mut url = reqwest::Url::parse(url_text.trim())
            .map_err(|e| format!("url: `{}` is not a valid URL ({e})", url_text.trim()))?;
        self.destinations.check_url(&url)?;
        let client = match credential {
            Some(credential) => {
                credential.apply_to_url(&mut url);
                &self.credentialed_client
            }
            None => &self.client,
        };
        let timeout = config.timeout_ms.map(Duration::from_millis).unwrap_or(self.settings.default_timeout);
        let mut request = client.request(method, url).timeout(timeout);
        for (name, _) in &headers {
            request = request.header(name.as_str(), rendered.next().unwrap_or_default());
        }
        request = match &config.body {
            None => request,
            Some(Value::String(_)) => request.body(rendered.next().unwrap_or_default()),
            Some(json) => request.json(json),
        };
        if let Some(credential) = credential {
            request = credential.apply_to_request(request);
        }
        request = request.header("x-weft-node", &scope.node_id);
        // Unless the workflow sets its own: a repeat after a takeover carries the same key.
        if !config.headers.iter().flatten().any(|(name, _)| name.eq_ignore_ascii_case("idempotency-key")) {
            request = request.header("idempotency-key", &scope.idempotency_key);
        }

        let response = request.send().await.map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let mut headers = Map::new();
        for (name, value) in response.headers() {
            headers.insert(name.as_str().to_string(), Value::String(value.to_str().unwrap_or("").to_string()));
        }
        let is_json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("json"));
        let body = self.read_capped(response).await?;
        let body = if is_json {
            serde_json::from_slice(&body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
        } else {
            Value::String(String::from_utf8_lossy(&body).into_owned())
        };
        Ok(serde_json::json!({ "status": status, "headers": headers, "body": body }))
    }

    async fn read_capped(&self, response: reqwest::Response) -> Result<Vec<u8>, String> {
        let cap = self.settings.max_body_bytes;
        if response.content_length().is_some_and(|len| len as usize > cap) {
            return Err(format!("the response body is larger than the {cap}-byte limit"));
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe(&e))?;
            if body.len() + chunk.len() > cap {
                return Err(format!("the response body is larger than the {cap}-byte limit"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A reqwest error with its cause chain (the resolver's refusal is in there).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return "the request timed out".to_string();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
