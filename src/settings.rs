//! Instance settings changed in the browser (the [`Configuration`] port): kept
//! in the `settings` table, held in memory, applied to the engine at once, and
//! announced to the other processes (signal `settings`), which read them again.
//! Secrets among them (the LLM API key) are sealed ([`SecretBox`]) under a key
//! that never enters the database.

use std::sync::Arc;
use std::time::Duration;

use app::error::{AppError, AppResult};
use app::model::{LlmProvider, UsagePolicy};
use app::ports::{Configuration, Store};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::bus::{Bus, Notice};
use crate::config::Secret;
use crate::engine::Engine;
use crate::secrets::SecretBox;

const LLM_SETTING: &str = "llm_provider";
/// LLM prices and daily budgets ([`UsagePolicy`]).
const USAGE_SETTING: &str = "llm_usage_policy";

/// The LLM settings as stored: the API key sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLlm {
    base_url: String,
    default_model: String,
    cache_ttl_secs: u64,
    cache_capacity: u64,
    max_concurrency: u32,
    api_key_sealed: Option<String>,
}

pub struct EngineConfiguration {
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    signals: Arc<Bus>,
    secrets: Arc<SecretBox>,
}

impl EngineConfiguration {
    /// Reads the stored settings, applies them, and follows later changes.
    pub async fn start(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        signals: Arc<Bus>,
        secrets: Arc<SecretBox>,
    ) -> anyhow::Result<Arc<Self>> {
        let configuration = Arc::new(Self { store, engine, signals, secrets });
        configuration.reload().await?;
        let mut changes = configuration.signals.subscribe();
        let follower = Arc::downgrade(&configuration);
        tokio::spawn(async move {
            loop {
                let reload = match changes.recv().await {
                    Ok(Notice::SettingsChanged | Notice::Resync) => true,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => true,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    Ok(_) => false,
                };
                let Some(configuration) = follower.upgrade() else { break };
                if reload {
                    if let Err(error) = configuration.reload().await {
                        tracing::warn!(%error, "could not read the changed settings");
                    }
                }
            }
        });
        Ok(configuration)
    }

    async fn stored(&self) -> AppResult<Option<StoredLlm>> {
        match self.store.setting(LLM_SETTING).await? {
            Some(value) => Ok(Some(serde_json::from_value(value).map_err(|_| AppError::Internal)?)),
            None => Ok(None),
        }
    }

    /// Applies what is stored (settings saved in the browser win over the
    /// command line's; nothing stored keeps the command line's).
    async fn reload(&self) -> AppResult<()> {
        if let Some(value) = self.store.setting(USAGE_SETTING).await? {
            let policy: UsagePolicy = serde_json::from_value(value).map_err(|_| AppError::Internal)?;
            self.engine.services().llm.usage().set_policy(policy);
        }
        let Some(stored) = self.stored().await? else { return Ok(()) };
        let mut settings = self.engine.services().llm.settings();
        settings.base_url = stored.base_url;
        settings.default_model = stored.default_model;
        settings.cache_ttl = Duration::from_secs(stored.cache_ttl_secs);
        settings.cache_capacity = stored.cache_capacity;
        settings.max_concurrency = stored.max_concurrency as usize;
        settings.api_key = stored.api_key_sealed.as_deref().map(|s| self.secrets.open(s)).transpose()?.map(Secret::new);
        self.engine.services().llm.reconfigure(settings);
        Ok(())
    }
}

#[async_trait]
impl Configuration for EngineConfiguration {
    fn llm_provider(&self) -> LlmProvider {
        let settings = self.engine.services().llm.settings();
        LlmProvider {
            base_url: settings.base_url,
            default_model: settings.default_model,
            cache_ttl_secs: settings.cache_ttl.as_secs(),
            cache_capacity: settings.cache_capacity,
            max_concurrency: settings.max_concurrency as u32,
            has_api_key: settings.api_key.is_some(),
        }
    }

    async fn update_llm_provider(&self, provider: LlmProvider, api_key: Option<String>) -> AppResult<LlmProvider> {
        provider.check().map_err(AppError::BadRequest)?;
        let api_key_sealed = match api_key {
            Some(key) if key.is_empty() => None,
            Some(key) => Some(self.secrets.seal(&key)?),
            // Keep the key already stored, or the one from the command line.
            None => match self.stored().await?.and_then(|s| s.api_key_sealed) {
                Some(sealed) => Some(sealed),
                None => {
                    self.engine.services().llm.settings().api_key.map(|k| self.secrets.seal(k.expose())).transpose()?
                }
            },
        };
        let stored = StoredLlm {
            base_url: provider.base_url,
            default_model: provider.default_model,
            cache_ttl_secs: provider.cache_ttl_secs,
            cache_capacity: provider.cache_capacity,
            max_concurrency: provider.max_concurrency,
            api_key_sealed,
        };
        let value = serde_json::to_value(&stored).map_err(|_| AppError::Internal)?;
        self.store.put_setting(LLM_SETTING, &value).await?;
        self.reload().await?;
        self.signals.publish(Notice::SettingsChanged).await;
        Ok(self.llm_provider())
    }

    fn usage_policy(&self) -> UsagePolicy {
        self.engine.services().llm.usage().policy().as_ref().clone()
    }

    async fn update_usage_policy(&self, policy: UsagePolicy) -> AppResult<UsagePolicy> {
        policy.check().map_err(AppError::BadRequest)?;
        let value = serde_json::to_value(&policy).map_err(|_| AppError::Internal)?;
        self.store.put_setting(USAGE_SETTING, &value).await?;
        self.reload().await?;
        self.signals.publish(Notice::SettingsChanged).await;
        Ok(self.usage_policy())
    }
}
