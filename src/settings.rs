//! Instance settings changed in the browser (the [`Configuration`] port): kept
//! in the `settings` table, held in memory, applied to the engine at once, and
//! announced to the other processes (signal `settings`), which read them again.
//! Secrets among them (the LLM API key) are sealed with ChaCha20-Poly1305 under
//! a key that never enters the database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use app::error::{AppError, AppResult};
use app::model::LlmProvider;
use app::ports::{Configuration, Store};
use async_trait::async_trait;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use serde::{Deserialize, Serialize};

use crate::bus::{Bus, Notice};
use crate::config::{Secret, SecretKeySource};
use crate::engine::Engine;

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// Seals and opens secrets: `hex(nonce ‖ ciphertext)`, a fresh random nonce each time.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self { cipher: ChaCha20Poly1305::new(Key::from_slice(key)) }
    }

    pub fn load(source: &SecretKeySource) -> anyhow::Result<Self> {
        let hex = match &source.key_hex {
            Some(hex) => hex.expose().to_owned(),
            None => match std::fs::read_to_string(&source.file) {
                Ok(text) => text,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => create_key_file(&source.file)?,
                Err(error) => return Err(error).with_context(|| format!("reading {}", source.file.display())),
            },
        };
        let key: [u8; 32] = from_hex(&hex)
            .and_then(|bytes| bytes.try_into().ok())
            .context("the secret key must be 64 hex digits (32 bytes)")?;
        Ok(Self::from_key(&key))
    }

    pub fn seal(&self, plain: &str) -> AppResult<String> {
        let nonce: [u8; 12] = rand::random();
        let sealed =
            self.cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).map_err(|_| AppError::Internal)?;
        Ok(to_hex(&[nonce.as_slice(), &sealed].concat()))
    }

    pub fn open(&self, sealed: &str) -> AppResult<String> {
        let bytes = from_hex(sealed).filter(|b| b.len() > 12).ok_or(AppError::Internal)?;
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), ciphertext).map_err(|_| {
            tracing::error!("a stored secret cannot be opened: was the secret key changed?");
            AppError::Internal
        })?;
        String::from_utf8(plain).map_err(|_| AppError::Internal)
    }
}

fn create_key_file(path: &PathBuf) -> anyhow::Result<String> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key: [u8; 32] = rand::random();
    let hex = to_hex(&key);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(hex.as_bytes())?;
            tracing::info!(path = %path.display(), "created a new secret key; back it up with the database");
            Ok(hex)
        }
        // Another process created it at the same moment: use theirs, once written.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            for _ in 0..100 {
                let text = std::fs::read_to_string(path)?;
                if text.trim().len() == 64 {
                    return Ok(text);
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            anyhow::bail!("{} exists but holds no key", path.display())
        }
        Err(error) => Err(error).with_context(|| format!("creating {}", path.display())),
    }
}

const LLM_SETTING: &str = "llm_provider";

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
    secrets: SecretBox,
}

impl EngineConfiguration {
    /// Reads the stored settings, applies them, and follows later changes.
    pub async fn start(
        store: Arc<dyn Store>,
        engine: Arc<Engine>,
        signals: Arc<Bus>,
        source: &SecretKeySource,
    ) -> anyhow::Result<Arc<Self>> {
        let configuration =
            Arc::new(Self { store, engine, signals, secrets: SecretBox::load(source).context("the secret key")? });
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let secrets = SecretBox::from_key(&[7; 32]);
        let sealed = secrets.seal("sk-live-123").unwrap();
        assert!(!sealed.contains("sk-live"));
        assert_ne!(sealed, secrets.seal("sk-live-123").unwrap(), "a fresh nonce each time");
        assert_eq!(secrets.open(&sealed).unwrap(), "sk-live-123");
        assert!(SecretBox::from_key(&[8; 32]).open(&sealed).is_err());
        assert!(secrets.open("zz").is_err());
    }

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("weft-key-{}", rand::random::<u64>()));
        let source = SecretKeySource { key_hex: None, file: dir.join("secret.key") };
        let sealed = SecretBox::load(&source).unwrap().seal("x").unwrap();
        assert_eq!(SecretBox::load(&source).unwrap().open(&sealed).unwrap(), "x");
        let bad = SecretKeySource { key_hex: Some("abc".into()), file: dir.join("unused") };
        assert!(SecretBox::load(&bad).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
