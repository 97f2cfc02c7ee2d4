//! API keys: `weft_<prefix>_<secret>`. The prefix finds the key; the secret is
//! checked against its SHA-256. A fast hash is right here (unlike passwords):
//! the secret is 32 random characters, so there is nothing to brute-force, and
//! a key is checked on every request. Checked keys are cached for a minute.

use std::sync::Arc;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};

use super::sessions::sha256_hex;
use crate::error::{AppError, AppResult};
use crate::model::{ApiKey, ApiKeyLimits, User, UserId};
use crate::ports::Store;

const KEY_PREFIX: &str = "weft_";

/// Valid keys recently seen, by their full text's hash. Revoking invalidates
/// at once here, and in other processes when the revocation signal reaches
/// them (the server follows it); the TTL bounds a lost signal.
pub struct ApiKeys {
    cache: moka::future::Cache<String, Arc<(ApiKey, User)>>,
}

impl Default for ApiKeys {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder().max_capacity(10_000).time_to_live(Duration::from_secs(60)).build(),
        }
    }
}

/// The longest an API key may be made to last, in days (ten years).
pub const MAX_KEY_DAYS: u32 = 3650;

/// What a key made now may do: read only or not, and for `expires_in_days` (`None`: no expiry).
pub fn key_limits(expires_in_days: Option<u32>, read_only: bool, now: i64) -> AppResult<ApiKeyLimits> {
    let expires_at = match expires_in_days {
        None => None,
        Some(days @ 1..=MAX_KEY_DAYS) => Some(now + i64::from(days) * 86_400_000),
        Some(days) => {
            return Err(AppError::BadRequest(format!(
                "an API key lasts 1 to {MAX_KEY_DAYS} days, or has no expiry; {days} days is not allowed"
            )))
        }
    };
    Ok(ApiKeyLimits { expires_at, read_only })
}

/// Creates a key for a user; returns the record and the full key (shown once).
pub async fn create_api_key(
    store: &dyn Store,
    user: UserId,
    name: &str,
    limits: ApiKeyLimits,
) -> AppResult<(ApiKey, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::BadRequest("an API key needs a name of 1 to 100 characters".into()));
    }
    let (prefix, secret) = {
        let mut rng = rand::rng();
        (Alphanumeric.sample_string(&mut rng, 10), Alphanumeric.sample_string(&mut rng, 32))
    };
    let key = store.create_api_key(user, name, &prefix, &sha256_hex(&secret), limits).await?;
    Ok((key, format!("{KEY_PREFIX}{prefix}_{secret}")))
}

impl ApiKeys {
    /// The key presented and its user. An expired key is returned too (with
    /// its expiry): the caller refuses it with a message that says so.
    pub async fn authenticate(&self, store: &dyn Store, presented: &str) -> AppResult<Arc<(ApiKey, User)>> {
        let cache_key = sha256_hex(presented);
        if let Some(hit) = self.cache.get(&cache_key).await {
            return Ok(hit);
        }
        let (prefix, secret) =
            presented.strip_prefix(KEY_PREFIX).and_then(|rest| rest.split_once('_')).ok_or(AppError::Unauthorized)?;
        let (key, secret_hash, user) = store.api_key_by_prefix(prefix).await?.ok_or(AppError::Unauthorized)?;
        if !constant_time_eq(sha256_hex(secret).as_bytes(), secret_hash.as_bytes()) {
            return Err(AppError::Unauthorized);
        }
        let found = Arc::new((key, user));
        self.cache.insert(cache_key, found.clone()).await;
        Ok(found)
    }

    /// Forgets every cached key (another process revoked one).
    pub fn forget_cached(&self) {
        self.cache.invalidate_all();
    }

    pub async fn revoke(&self, store: &dyn Store, user: UserId, id: i64) -> AppResult<()> {
        store.revoke_api_key(user, id).await?;
        let revoked: Vec<String> =
            self.cache.iter().filter(|(_, entry)| entry.0.id == id).map(|(k, _)| (*k).clone()).collect();
        for key in revoked {
            self.cache.invalidate(&key).await;
        }
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
