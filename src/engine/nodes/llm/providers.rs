//! Which providers an `llm` node asks, in order: its `provider` (an `llm`
//! credential, or the instance's settings when it names none), then its
//! `fallbacks`. A named provider was written by a user, so it is reached like
//! an `http` node's URL: through the address guard, its key masked in
//! whatever comes back. The instance's provider is an admin's setting and is
//! reached directly (a local Ollama is a common choice).

use app::model::node_config::LlmFallback;
use app::model::{LlmApi, UserId};

use super::Configured;
use crate::engine::nodes::http::credentials::{CredentialVault, Masker};

/// What the instance's own provider is called in outputs and errors.
pub const INSTANCE_PROVIDER: &str = "default";

/// One provider, ready to be asked.
pub struct Provider {
    /// The credential's name, or [`INSTANCE_PROVIDER`].
    pub label: String,
    pub api: LlmApi,
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    /// A user's provider: reached through the address guard.
    pub guarded: bool,
    /// Hides the key in errors (an upstream that quotes it).
    pub masker: Option<Masker>,
    /// A named provider's credential, whose use is recorded when it is asked
    /// (a fallback never reached is not "used").
    pub credential_id: Option<i64>,
}

impl Provider {
    /// What identifies the answers it gives, for the response cache: the
    /// same question to another provider or model is another answer.
    pub fn cache_identity(&self) -> String {
        format!("{} {} {} {}", self.label, self.api.name(), self.base_url, self.model)
    }

    /// How errors name it.
    pub fn who(&self) -> String {
        who(&self.label)
    }

    pub fn mask(&self, text: String) -> String {
        match &self.masker {
            Some(masker) => masker.text(&text).into_owned(),
            None => text,
        }
    }
}

fn who(label: &str) -> String {
    match label {
        INSTANCE_PROVIDER => "the LLM provider".to_string(),
        label => format!("the LLM provider `{label}`"),
    }
}

/// The node's providers in the order they are asked, each ready or with why
/// it cannot be used (asked in turn, a broken fallback is one more failure).
pub async fn resolve(
    provider: Option<&str>,
    model: &str,
    fallbacks: &[LlmFallback],
    current: &Configured,
    vault: &CredentialVault,
    owner: UserId,
) -> Vec<Result<Provider, String>> {
    let first = std::iter::once((provider, model));
    let rest = fallbacks.iter().map(|f| (f.provider.as_deref(), f.model.as_str()));
    let mut providers = Vec::with_capacity(1 + fallbacks.len());
    for (name, model) in first.chain(rest) {
        providers.push(match name {
            None => Ok(instance(current, model)),
            Some(name) => named(vault, owner, name, model).await.map_err(|error| format!("{}: {error}", who(name))),
        });
    }
    providers
}

fn instance(current: &Configured, model: &str) -> Provider {
    let settings = &current.settings;
    Provider {
        label: INSTANCE_PROVIDER.into(),
        api: LlmApi::Openai,
        base_url: settings.base_url.clone(),
        api_key: settings.api_key.as_ref().map(|key| key.expose().to_string()),
        model: if model.trim().is_empty() { settings.default_model.clone() } else { model.to_string() },
        guarded: false,
        masker: None,
        credential_id: None,
    }
}

async fn named(vault: &CredentialVault, owner: UserId, name: &str, model: &str) -> Result<Provider, String> {
    let (credential_id, opened) = vault.open_unmarked(owner, name).await?;
    let Some(provider) = opened.value().llm() else {
        return Err(format!(
            "credential `{name}` is a {} credential, not an LLM provider: make an `llm` credential for it",
            opened.value().kind()
        ));
    };
    let model = match (model.trim(), &provider.default_model) {
        ("", Some(default)) => default.clone(),
        ("", None) => {
            return Err(format!(
                "provider `{name}` has no default model: set the node's model (or the credential's default_model)"
            ))
        }
        (model, _) => model.to_string(),
    };
    Ok(Provider {
        label: name.to_string(),
        api: provider.api,
        base_url: provider.base_url.trim().trim_end_matches('/').to_string(),
        api_key: provider.api_key.clone(),
        model,
        guarded: true,
        masker: Some(opened.masker()),
        credential_id: Some(credential_id),
    })
}
