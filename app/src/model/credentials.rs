//! Credentials: named secrets a workflow uses by reference (`"credential":
//! "github"` on an `http` node). Their values are sealed at rest, applied by the
//! engine when it sends a request, masked in whatever an upstream answers, and
//! never shown again after they are saved: what anyone reads of a credential is
//! its [`Credential`] record (name, kind, use), never its [`CredentialValue`].

use serde::{Deserialize, Serialize};

use super::definition::WorkflowDefinition;
use super::records::{UserId, WorkflowId};

/// The kinds of credential, as the API and the UI name them.
pub const CREDENTIAL_KINDS: [&str; 6] = ["bearer", "basic", "header", "query", "oauth2", "llm"];

/// The most credentials one user (or the instance, shared) may hold.
pub const MAX_CREDENTIALS: i64 = 200;

/// The longest credential name.
pub const MAX_CREDENTIAL_NAME_LEN: usize = 64;

/// The shortest secret part of a credential. Shorter values are not secrets
/// worth the name, and masking them in what upstreams answer would garble it.
pub const MIN_SECRET_LEN: usize = 6;

/// The largest secret part (a JWT or a PEM-sized token fits easily).
pub const MAX_SECRET_LEN: usize = 16 * 1024;

/// What a credential holds, by kind.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "lowercase", deny_unknown_fields)]
pub enum CredentialValue {
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// One header of the credential's choosing, e.g. `X-Api-Key: <value>`.
    Header { name: String, value: String },
    /// One query parameter added to the URL, e.g. `?api_key=<value>`.
    Query { name: String, value: String },
    /// An OAuth2 client: requests carry `Authorization: Bearer <access token>`,
    /// a token Weft obtains and refreshes itself.
    OAuth2(OAuth2Client),
    /// An LLM provider: what an `llm` node names in `provider` (or among its
    /// `fallbacks`). Never sent by an `http` node nor checked by a webhook.
    Llm(LlmProviderCredential),
}

/// The request shapes Weft speaks to LLM providers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmApi {
    /// `POST {base_url}/chat/completions`: OpenAI, Ollama, vLLM, llama.cpp, LiteLLM, …
    Openai,
    /// `POST {base_url}/messages`: Anthropic's Messages API.
    Anthropic,
}

impl LlmApi {
    pub fn name(self) -> &'static str {
        match self {
            LlmApi::Openai => "openai",
            LlmApi::Anthropic => "anthropic",
        }
    }
}

/// A named LLM provider.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmProviderCredential {
    pub api: LlmApi,
    /// e.g. `https://api.openai.com/v1`, `https://api.anthropic.com/v1`, `http://ollama:11434/v1`.
    pub base_url: String,
    /// None for servers that need no key (a local Ollama).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The model of a node that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_model: Option<String>,
}

/// How an OAuth2 credential obtains its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OAuthGrant {
    /// Machine to machine: Weft asks the token endpoint with the client's id
    /// and secret whenever it needs a token.
    ClientCredentials,
    /// On behalf of a person: they press Connect, sign in at the provider, and
    /// come back through Weft's `/oauth/callback`; Weft keeps the refresh token.
    AuthorizationCode,
}

/// What a user enters for an OAuth2 credential (the tokens are kept apart).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2Client {
    pub grant: OAuthGrant,
    /// Where tokens come from, e.g. `https://oauth2.googleapis.com/token`.
    pub token_url: String,
    /// Where a person signs in (authorization code only), e.g.
    /// `https://accounts.google.com/o/oauth2/v2/auth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    pub client_id: String,
    pub client_secret: String,
    /// Space-separated scopes, as the provider names them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// Never print a value, not even in a debug log.
impl std::fmt::Debug for CredentialValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialValue::{}(…)", self.kind())
    }
}

impl CredentialValue {
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialValue::Bearer { .. } => "bearer",
            CredentialValue::Basic { .. } => "basic",
            CredentialValue::Header { .. } => "header",
            CredentialValue::Query { .. } => "query",
            CredentialValue::OAuth2(_) => "oauth2",
            CredentialValue::Llm(_) => "llm",
        }
    }

    /// The LLM provider, for a credential of that kind.
    pub fn llm(&self) -> Option<&LlmProviderCredential> {
        match self {
            CredentialValue::Llm(provider) => Some(provider),
            _ => None,
        }
    }

    /// The OAuth2 client, for a credential of that kind.
    pub fn oauth2(&self) -> Option<&OAuth2Client> {
        match self {
            CredentialValue::OAuth2(client) => Some(client),
            _ => None,
        }
    }

    /// Reads `{"kind", "data"}` as the API sends it, with a message naming the
    /// field that is wrong.
    pub fn from_parts(kind: &str, data: serde_json::Value) -> Result<Self, String> {
        if !CREDENTIAL_KINDS.contains(&kind) {
            return Err(format!("kind must be one of {}, not `{kind}`", CREDENTIAL_KINDS.join(", ")));
        }
        let tagged = serde_json::json!({ "kind": kind, "data": data });
        let value: Self = serde_json::from_value(tagged).map_err(|e| {
            let fields = match kind {
                "bearer" => "{\"token\"}",
                "llm" => {
                    "{\"api\": \"openai\" or \"anthropic\", \"base_url\", \"api_key\"? (none for a local server), \
                     \"default_model\"?}"
                }
                "basic" => "{\"username\", \"password\"}",
                "oauth2" => {
                    "{\"grant\": \"client_credentials\" or \"authorization_code\", \"token_url\", \"authorize_url\" \
                     (authorization code), \"client_id\", \"client_secret\", \"scope\"?}"
                }
                _ => "{\"name\", \"value\"}",
            };
            let article = if matches!(kind, "llm" | "oauth2") { "an" } else { "a" };
            format!("data of {article} {kind} credential must be {fields} ({e})")
        })?;
        value.check()?;
        Ok(value)
    }

    /// Checks what serde cannot: lengths, and that a header or parameter name is usable.
    pub fn check(&self) -> Result<(), String> {
        let secret = |field: &str, value: &str| {
            let len = value.chars().count();
            if len < MIN_SECRET_LEN {
                Err(format!("data.{field} must be at least {MIN_SECRET_LEN} characters"))
            } else if value.len() > MAX_SECRET_LEN {
                Err(format!("data.{field} must be at most {MAX_SECRET_LEN} bytes"))
            } else if value.chars().any(|c| c.is_control()) {
                Err(format!("data.{field} must not contain control characters"))
            } else {
                Ok(())
            }
        };
        match self {
            CredentialValue::Bearer { token } => secret("token", token),
            CredentialValue::Basic { username, password } => {
                if username.is_empty() || username.contains(':') || username.chars().any(|c| c.is_control()) {
                    return Err("data.username must be non-empty, without `:` or control characters".into());
                }
                secret("password", password)
            }
            CredentialValue::Header { name, value } => {
                let token_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
                if name.is_empty() || name.len() > 128 || !name.chars().all(token_char) {
                    return Err(format!("data.name `{name}` is not a header name"));
                }
                secret("value", value)
            }
            CredentialValue::Query { name, value } => {
                if name.trim().is_empty() || name.len() > 128 {
                    return Err("data.name must be a query parameter name of 1 to 128 bytes".into());
                }
                secret("value", value)
            }
            CredentialValue::OAuth2(client) => {
                let endpoint = |field: &str, url: &str| {
                    let lower = url.to_ascii_lowercase();
                    let scheme = lower.starts_with("https://") || lower.starts_with("http://");
                    if !scheme || url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                        Err(format!("data.{field} must be an http or https URL, not `{url}`"))
                    } else {
                        Ok(())
                    }
                };
                endpoint("token_url", &client.token_url)?;
                match (&client.authorize_url, client.grant) {
                    (Some(url), _) => endpoint("authorize_url", url)?,
                    (None, OAuthGrant::AuthorizationCode) => {
                        return Err("data.authorize_url is needed for the authorization_code grant".into())
                    }
                    (None, OAuthGrant::ClientCredentials) => {}
                }
                if client.client_id.trim().is_empty()
                    || client.client_id.len() > 1024
                    || client.client_id.chars().any(|c| c.is_control())
                {
                    return Err("data.client_id must be 1 to 1024 characters, without control characters".into());
                }
                if client.scope.as_deref().is_some_and(|s| s.len() > 2048 || s.chars().any(|c| c.is_control())) {
                    return Err("data.scope must be at most 2048 characters, without control characters".into());
                }
                secret("client_secret", &client.client_secret)
            }
            CredentialValue::Llm(provider) => {
                let url = provider.base_url.to_ascii_lowercase();
                let scheme = url.starts_with("https://") || url.starts_with("http://");
                if !scheme || url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(format!("data.base_url must be an http or https URL, not `{}`", provider.base_url));
                }
                if let Some(key) = &provider.api_key {
                    secret("api_key", key)?;
                }
                let model_ok = |m: &String| !m.trim().is_empty() && m.len() <= 200 && !m.chars().any(char::is_control);
                if provider.default_model.as_ref().is_some_and(|m| !model_ok(m)) {
                    return Err("data.default_model must be 1 to 200 characters, without control characters".into());
                }
                Ok(())
            }
        }
    }
}

/// Checks a credential's name: what workflows write in `"credential"`.
pub fn check_credential_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_CREDENTIAL_NAME_LEN {
        return Err(format!("a credential name must be 1 to {MAX_CREDENTIAL_NAME_LEN} characters"));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.')) {
        return Err(format!("credential name `{name}` contains `{bad}`: use letters, digits, `_`, `-` and `.`"));
    }
    Ok(())
}

/// A workflow, by id and name, as a credential's "used by" lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkflowRef {
    pub id: WorkflowId,
    pub name: String,
}

/// A credential as anyone may see it: everything but its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Credential {
    pub id: i64,
    pub name: String,
    /// `bearer`, `basic`, `header`, `query`, `oauth2` or `llm`.
    pub kind: String,
    /// Made by an admin for every user: anyone may use it, nobody can read it.
    /// A user's own credential of the same name is used instead.
    pub shared: bool,
    /// The email of who made it.
    pub created_by: Option<String>,
    pub created_at: i64,
    /// When its value was last replaced.
    pub updated_at: i64,
    /// When a run last sent it.
    pub last_used_at: Option<i64>,
    /// OAuth2: when Weft last obtained tokens for it (None: not connected yet).
    pub connected_at: Option<i64>,
    /// The viewer's workflows whose current version uses it.
    pub used_by: Vec<WorkflowRef>,
}

/// A credential as the engine reads it: sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedCredential {
    pub id: i64,
    pub name: String,
    pub sealed: String,
    /// OAuth2: the tokens obtained so far, sealed.
    pub tokens: Option<String>,
}

/// Where a credential or a variable belongs: to one user, or to every user
/// (made by an admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ownership {
    User(UserId),
    Shared,
}

impl Ownership {
    pub fn user(self) -> Option<UserId> {
        match self {
            Ownership::User(user) => Some(user),
            Ownership::Shared => None,
        }
    }
}

/// The credential names a definition refers to (its `http` nodes', its `llm`
/// nodes' providers and fallbacks, and its webhooks'), sorted, each once: what
/// a credential's "used by" list is built from.
pub fn credentials_used(definition: &WorkflowDefinition) -> Vec<String> {
    let by_http = definition.nodes.iter().filter_map(|node| node.config.get("credential")?.as_str());
    let by_llm = definition.nodes.iter().filter(|node| node.kind == "llm" || node.kind == "agent").flat_map(|node| {
        let provider = node.config.get("provider").and_then(|p| p.as_str());
        let fallbacks = node.config.get("fallbacks").and_then(|f| f.as_array()).into_iter().flatten();
        provider.into_iter().chain(fallbacks.filter_map(|f| f.get("provider")?.as_str()))
    });
    // An agent's http tools.
    let by_tools = definition.nodes.iter().filter(|node| node.kind == "agent").flat_map(|node| {
        let tools = node.config.get("tools").and_then(|t| t.as_array()).into_iter().flatten();
        tools.filter_map(|tool| tool.get("http")?.get("credential")?.as_str())
    });
    let by_nodes = by_http.chain(by_llm).chain(by_tools);
    let by_webhooks = definition.triggers.iter().filter_map(|trigger| trigger.get("auth")?.get("credential")?.as_str());
    let mut names: Vec<String> =
        by_nodes.chain(by_webhooks).filter(|name| !name.is_empty()).map(str::to_owned).collect();
    names.sort();
    names.dedup();
    names
}

/// Words in a header name that say its value is a secret.
const SECRET_HEADER_WORDS: [&str; 7] = ["authorization", "api-key", "apikey", "api_key", "token", "secret", "cookie"];

/// The `http` nodes' headers that look like a secret written into the
/// definition (`Authorization: Bearer sk-…`), as (node, header) pairs: such a
/// value is stored in every version and shown to whoever reads the workflow.
/// A value computed by a template (`{{ … }}`) is not literal.
pub fn literal_secret_headers(definition: &WorkflowDefinition) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for node in definition.nodes.iter().filter(|n| n.kind == "http") {
        let Some(headers) = node.config.get("headers").and_then(|h| h.as_object()) else { continue };
        for (name, value) in headers {
            let lower = name.to_ascii_lowercase();
            let literal = value.as_str().is_some_and(|v| !v.trim().is_empty() && !v.contains("{{"));
            if literal && SECRET_HEADER_WORDS.iter().any(|word| lower.contains(word)) {
                found.push((node.id.clone(), name.clone()));
            }
        }
    }
    found
}

/// What the editor and the API say of each literal secret header.
pub fn literal_secret_warnings(definition: &WorkflowDefinition) -> Vec<String> {
    literal_secret_headers(definition)
        .into_iter()
        .map(|(node, header)| {
            format!(
                "node `{node}` (http): header `{header}` holds a literal value that looks like a secret; \
                 store it as a credential and set config.credential instead"
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_read_by_kind_with_messages_naming_the_field() {
        let bearer = CredentialValue::from_parts("bearer", json!({"token": "ghp_canary123"})).unwrap();
        assert_eq!(bearer.kind(), "bearer");
        let error = CredentialValue::from_parts("bearer", json!({"token": "abc"})).unwrap_err();
        assert!(error.contains("data.token") && error.contains("at least 6"), "{error}");
        let error = CredentialValue::from_parts("basic", json!({"user": "x"})).unwrap_err();
        assert!(error.contains("username") && error.contains("password"), "{error}");
        let error = CredentialValue::from_parts("oauth9", json!({})).unwrap_err();
        assert!(error.contains("kind must be one of"), "{error}");
        let error = CredentialValue::from_parts("header", json!({"name": "X Key", "value": "secret-1"})).unwrap_err();
        assert!(error.contains("not a header name"), "{error}");
        let error = CredentialValue::from_parts("bearer", json!({"token": "line\nbreak"})).unwrap_err();
        assert!(error.contains("control characters"), "{error}");
        let error = CredentialValue::from_parts("bearer", json!({"token": "long-enough", "extra": 1})).unwrap_err();
        assert!(error.contains("unknown field"), "{error}");
    }

    #[test]
    fn oauth2_clients_name_the_field_that_is_wrong() {
        let data = |extra: serde_json::Value| {
            let mut data = json!({"grant": "authorization_code", "token_url": "https://auth.example/token",
                "authorize_url": "https://auth.example/authorize", "client_id": "weft", "client_secret": "s3cret-1"});
            data.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            data
        };
        let value = CredentialValue::from_parts("oauth2", data(json!({"scope": "repo read:user"}))).unwrap();
        assert_eq!(value.kind(), "oauth2");
        assert_eq!(value.oauth2().unwrap().grant, OAuthGrant::AuthorizationCode);
        let error = CredentialValue::from_parts("oauth2", data(json!({"authorize_url": null}))).unwrap_err();
        assert!(error.contains("data.authorize_url is needed"), "{error}");
        let error = CredentialValue::from_parts("oauth2", data(json!({"token_url": "ftp://x"}))).unwrap_err();
        assert!(error.contains("data.token_url"), "{error}");
        let error = CredentialValue::from_parts("oauth2", data(json!({"client_secret": "abc"}))).unwrap_err();
        assert!(error.contains("data.client_secret"), "{error}");
        let error = CredentialValue::from_parts("oauth2", data(json!({"grant": "password"}))).unwrap_err();
        assert!(error.contains("client_credentials"), "{error}");
        let machine = json!({"grant": "client_credentials", "token_url": "https://auth.example/token",
            "client_id": "weft", "client_secret": "s3cret-1"});
        assert!(CredentialValue::from_parts("oauth2", machine).is_ok());
    }

    #[test]
    fn llm_providers_name_the_field_that_is_wrong() {
        let data = json!({"api": "anthropic", "base_url": "https://api.anthropic.com/v1", "api_key": "sk-ant-123"});
        let value = CredentialValue::from_parts("llm", data).unwrap();
        assert_eq!(value.llm().unwrap().api, LlmApi::Anthropic);
        // A local server needs no key.
        let local = json!({"api": "openai", "base_url": "http://ollama:11434/v1", "default_model": "llama3.2"});
        assert!(CredentialValue::from_parts("llm", local).is_ok());
        let error = CredentialValue::from_parts("llm", json!({"api": "cohere", "base_url": "https://x"})).unwrap_err();
        assert!(error.contains("\"openai\" or \"anthropic\""), "{error}");
        let error =
            CredentialValue::from_parts("llm", json!({"api": "openai", "base_url": "file:///etc"})).unwrap_err();
        assert!(error.contains("data.base_url"), "{error}");
        let short = json!({"api": "openai", "base_url": "https://x.example", "api_key": "abc"});
        assert!(CredentialValue::from_parts("llm", short).unwrap_err().contains("data.api_key"));
        let blank = json!({"api": "openai", "base_url": "https://x.example", "default_model": " "});
        assert!(CredentialValue::from_parts("llm", blank).unwrap_err().contains("data.default_model"));
    }

    #[test]
    fn debug_output_never_shows_a_value() {
        let value = CredentialValue::Bearer { token: "ghp_canary123".into() };
        assert!(!format!("{value:?}").contains("canary"));
    }

    #[test]
    fn names_are_plain_words() {
        assert!(check_credential_name("github").is_ok());
        assert!(check_credential_name("stripe.live_2").is_ok());
        assert!(check_credential_name("").is_err());
        assert!(check_credential_name("two words").unwrap_err().contains("` `"));
        assert!(check_credential_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn a_definition_lists_the_credentials_its_nodes_name() {
        let definition: WorkflowDefinition = serde_json::from_value(json!({
            "name": "w",
            "nodes": [
                {"id": "a", "type": "http", "config": {"method": "GET", "url": "https://x", "credential": "gh"}},
                {"id": "b", "type": "http", "config": {"method": "GET", "url": "https://x", "credential": "gh"}},
                {"id": "c", "type": "http", "config": {"method": "GET", "url": "https://x", "credential": "api"}},
                {"id": "d", "type": "template", "config": {"template": "x"}},
                {"id": "e", "type": "llm", "config": {"prompt": "x", "provider": "claude",
                    "fallbacks": [{"provider": "ollama"}, {"model": "gpt-4o-mini"}]}}
            ],
            "triggers": [{"type": "webhook", "path": "p", "auth": {"type": "credential", "credential": "hook"}}]
        }))
        .unwrap();
        assert_eq!(credentials_used(&definition), ["api", "claude", "gh", "hook", "ollama"]);
    }

    #[test]
    fn literal_secret_headers_are_found_and_templated_ones_are_not() {
        let definition: WorkflowDefinition = serde_json::from_value(json!({
            "name": "w",
            "nodes": [
                {"id": "a", "type": "http", "config": {"method": "GET", "url": "https://x", "headers": {
                    "Authorization": "Bearer sk-live-1", "X-Api-Key": "k-123456", "Accept": "text/plain",
                    "X-Auth-Token": "{{ input.token }}"
                }}},
                {"id": "b", "type": "template", "config": {"template": "Authorization: x"}}
            ]
        }))
        .unwrap();
        assert_eq!(
            literal_secret_headers(&definition),
            vec![("a".to_string(), "Authorization".to_string()), ("a".to_string(), "X-Api-Key".to_string())]
        );
        assert!(literal_secret_warnings(&definition)[0].contains("node `a` (http): header `Authorization`"));
    }
}
