//! Sealing secrets at rest (the LLM key, credentials): ChaCha20-Poly1305 under
//! the instance's secret key (`WEFT_SECRET_KEY` or a key file beside the
//! database), which never enters the database.

use std::path::PathBuf;

use anyhow::Context;
use app::error::{AppError, AppResult};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

use crate::config::SecretKeySource;

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

/// Seals and opens secrets: `hex(nonce ‖ ciphertext)`, a fresh random nonce
/// each time. During a key rotation it also opens what the previous key sealed.
/// It also signs (HMAC-SHA256 under a key derived from the same secret key):
/// the tokens of resume URLs, which must not be guessable nor stored.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
    previous: Option<ChaCha20Poly1305>,
    signing: [u8; 32],
    previous_signing: Option<[u8; 32]>,
}

/// The signing key: derived, so that no key serves two purposes.
fn signing_key(key: &[u8; 32]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::new().chain_update(b"weft signing key\0").chain_update(key).finalize().into()
}

fn mac(key: &[u8; 32], message: &str) -> hmac::Hmac<sha2::Sha256> {
    use hmac::Mac;
    let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message.as_bytes());
    mac
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
            previous: None,
            signing: signing_key(key),
            previous_signing: None,
        }
    }

    /// This box, also opening what `previous` sealed (while a rotation is under way).
    pub fn with_previous(mut self, previous: &[u8; 32]) -> Self {
        self.previous = Some(ChaCha20Poly1305::new(Key::from_slice(previous)));
        self.previous_signing = Some(signing_key(previous));
        self
    }

    /// A signature of `message`: 43 URL-safe characters.
    pub fn sign(&self, message: &str) -> String {
        use base64::Engine as _;
        use hmac::Mac;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac(&self.signing, message).finalize().into_bytes())
    }

    /// Whether `signature` is [`SecretBox::sign`]'s for `message` (under this
    /// key or, during a rotation, the previous one), compared in constant time.
    pub fn verify(&self, message: &str, signature: &str) -> bool {
        use base64::Engine as _;
        use hmac::Mac;
        let Ok(tag) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature) else { return false };
        std::iter::once(&self.signing)
            .chain(self.previous_signing.as_ref())
            .any(|key| mac(key, message).verify_slice(&tag).is_ok())
    }

    /// A new random key, as 64 hex digits.
    pub fn new_key_hex() -> String {
        to_hex(&rand::random::<[u8; 32]>())
    }

    /// A box with a random key, for tests and benchmarks: nothing it seals
    /// outlives the process.
    pub fn ephemeral() -> Self {
        Self::from_key(&rand::random())
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
        let key = key_bytes(&hex).context("the secret key must be 64 hex digits (32 bytes)")?;
        let secrets = Self::from_key(&key);
        match &source.previous_hex {
            None => Ok(secrets),
            Some(previous) => {
                let previous =
                    key_bytes(previous.expose()).context("the previous secret key must be 64 hex digits (32 bytes)")?;
                anyhow::ensure!(previous != key, "the previous secret key is the current one");
                Ok(secrets.with_previous(&previous))
            }
        }
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
        let nonce = Nonce::from_slice(nonce);
        let opened = self.cipher.decrypt(nonce, ciphertext).or_else(|error| match &self.previous {
            Some(previous) => previous.decrypt(nonce, ciphertext),
            None => Err(error),
        });
        let plain = opened.map_err(|_| {
            tracing::error!("a stored secret cannot be opened: was the secret key changed?");
            AppError::Internal
        })?;
        String::from_utf8(plain).map_err(|_| AppError::Internal)
    }
}

fn key_bytes(hex: &str) -> Option<[u8; 32]> {
    from_hex(hex).and_then(|bytes| bytes.try_into().ok())
}

/// What a re-sealing pass changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    pub credentials: usize,
    pub settings: usize,
}

/// Re-seals every stored secret under the box's current key, in one
/// transaction: each credential, and each `…_sealed` field of the settings
/// (the LLM API key). What cannot be opened (with the current or the previous
/// key) stops the pass before anything is written.
pub async fn reseal_all(store: &dyn app::ports::Store, secrets: &SecretBox) -> anyhow::Result<Resealed> {
    let mut credentials = store.sealed_credentials().await?;
    for credential in &mut credentials {
        let id = credential.id;
        let reseal = |sealed: &str| -> anyhow::Result<String> {
            let plain = secrets.open(sealed).map_err(|_| {
                anyhow::anyhow!("credential #{id} cannot be opened with the current or the previous key")
            })?;
            Ok(secrets.seal(&plain)?)
        };
        credential.sealed = reseal(&credential.sealed)?;
        credential.tokens = credential.tokens.as_deref().map(reseal).transpose()?;
    }
    let mut settings = Vec::new();
    for (key, mut value) in store.settings().await? {
        let mut changed = false;
        if let Some(fields) = value.as_object_mut() {
            for (name, field) in fields.iter_mut().filter(|(name, _)| name.ends_with("_sealed")) {
                if let Some(sealed) = field.as_str() {
                    let plain = secrets.open(sealed).map_err(|_| {
                        anyhow::anyhow!("setting {key}.{name} cannot be opened with the current or the previous key")
                    })?;
                    *field = serde_json::Value::String(secrets.seal(&plain)?);
                    changed = true;
                }
            }
        }
        if changed {
            settings.push((key, value));
        }
    }
    store.reseal(&credentials, &settings).await?;
    Ok(Resealed { credentials: credentials.len(), settings: settings.len() })
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

impl app::ports::Sealer for SecretBox {
    fn seal(&self, plain: &str) -> AppResult<String> {
        SecretBox::seal(self, plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let secrets = SecretBox::from_key(&[7; 32]);
        let signature = secrets.sign("resume:12:approve");
        assert_eq!(signature.len(), 43);
        assert!(secrets.verify("resume:12:approve", &signature));
        assert!(!secrets.verify("resume:13:approve", &signature));
        assert!(!secrets.verify("resume:12:approve", "not base64 !"));
        assert!(!SecretBox::from_key(&[8; 32]).verify("resume:12:approve", &signature));
        assert!(SecretBox::from_key(&[8; 32]).with_previous(&[7; 32]).verify("resume:12:approve", &signature));
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key() {
        let secrets = SecretBox::from_key(&[7; 32]);
        let sealed = secrets.seal("sk-live-123").unwrap();
        assert!(!sealed.contains("sk-live"));
        assert_ne!(sealed, secrets.seal("sk-live-123").unwrap(), "a fresh nonce each time");
        assert_eq!(secrets.open(&sealed).unwrap(), "sk-live-123");
        assert!(SecretBox::from_key(&[8; 32]).open(&sealed).is_err());
        assert!(secrets.open("zz").is_err());
        // While rotating, the new box opens what the old key sealed; it seals under the new key only.
        let rotating = SecretBox::from_key(&[8; 32]).with_previous(&[7; 32]);
        assert_eq!(rotating.open(&sealed).unwrap(), "sk-live-123");
        assert!(secrets.open(&rotating.seal("new").unwrap()).is_err());
    }

    #[test]
    fn a_key_file_is_created_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("weft-key-{}", rand::random::<u64>()));
        let source = SecretKeySource { key_hex: None, file: dir.join("secret.key"), previous_hex: None };
        let sealed = SecretBox::load(&source).unwrap().seal("x").unwrap();
        assert_eq!(SecretBox::load(&source).unwrap().open(&sealed).unwrap(), "x");
        let bad = SecretKeySource { key_hex: Some("abc".into()), file: dir.join("unused"), previous_hex: None };
        assert!(SecretBox::load(&bad).is_err());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
