//! Server-side sessions. The browser holds a random token in an HttpOnly,
//! SameSite=Strict cookie; the database holds its SHA-256, the user and the
//! expiry. Resolved sessions are cached for a short while so that a page render,
//! which calls several server functions, costs at most one lookup.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::HeaderMap;
use rand::distr::{Alphanumeric, SampleString};

use crate::error::{AppError, AppResult};
use crate::model::{User, UserId};
use crate::ports::Store;

pub const SESSION_COOKIE: &str = "weft_session";
/// How long a session lasts after sign-in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a resolved session is trusted without asking the database. A
/// sign-out is forgotten at once in every process (the revocation signal);
/// this bounds a lost signal.
const SESSION_CACHE_TTL: Duration = Duration::from_secs(30);

pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

use crate::model::now_ms;

/// The session token a request carries in its cookie, if any.
pub fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// The `Set-Cookie` value that hands `token` to the browser (JavaScript cannot
/// read it; other sites' pages cannot make the browser send it; when `secure`,
/// it never travels over plain HTTP).
pub fn session_cookie(token: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}; Max-Age={}",
        SESSION_LIFETIME.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie (a `Secure` cookie
/// is only replaced by another `Secure` one).
pub fn expired_session_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict{secure}; Max-Age=0")
}

/// Sign-in attempts allowed: per email (guessing one account's password) and
/// per client address (trying many accounts). Counted twice: by each process
/// in memory (a refused attempt there costs no database write), and in the
/// database over the last minute, so that several processes sharing it still
/// allow only this many in all.
#[derive(Debug, Clone, Copy)]
pub struct SignInLimits {
    pub per_email_per_minute: u32,
    pub per_address_per_minute: u32,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self { per_email_per_minute: 5, per_address_per_minute: 30 }
    }
}

pub struct Accounts {
    cache: moka::future::Cache<String, User>,
    by_email: DefaultKeyedRateLimiter<String>,
    by_address: DefaultKeyedRateLimiter<IpAddr>,
    limits: SignInLimits,
    /// The minute this process last swept old sign-in attempts from the database.
    attempts_swept: AtomicI64,
    /// The minute this process last dropped the limiters' idle keys.
    limiters_pruned: AtomicI64,
    /// Once an admin exists it always will (nobody deletes the last one), so
    /// the set-up check stops asking the database.
    admin_exists: AtomicBool,
}

/// How far back the database's count of sign-in attempts looks.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(60);

/// The longest email address there can be (RFC 5321: a 254-character path).
pub const MAX_EMAIL_BYTES: usize = 254;

fn too_many_sign_ins() -> AppError {
    AppError::RateLimited("too many sign-in attempts; wait a minute and try again".into())
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).expect("at least one"))
}

impl Accounts {
    pub fn new(limits: SignInLimits) -> Arc<Self> {
        Arc::new(Self {
            cache: moka::future::Cache::builder().max_capacity(100_000).time_to_live(SESSION_CACHE_TTL).build(),
            by_email: RateLimiter::keyed(per_minute(limits.per_email_per_minute)),
            by_address: RateLimiter::keyed(per_minute(limits.per_address_per_minute)),
            limits,
            attempts_swept: AtomicI64::new(0),
            limiters_pruned: AtomicI64::new(0),
            admin_exists: AtomicBool::new(false),
        })
    }

    /// The user signed in with `token`, if the session exists and has not expired.
    pub async fn user(&self, store: &dyn Store, token: &str) -> AppResult<Option<User>> {
        let hash = sha256_hex(token);
        if let Some(user) = self.cache.get(&hash).await {
            return Ok(Some(user));
        }
        let user = store.session_user(&hash, now_ms()).await?;
        if let Some(user) = &user {
            self.cache.insert(hash, user.clone()).await;
        }
        Ok(user)
    }

    /// Starts a session for `user`; returns its token (for the cookie).
    pub async fn start_session(&self, store: &dyn Store, user: &User) -> AppResult<String> {
        let token = Alphanumeric.sample_string(&mut rand::rng(), 43);
        let now = now_ms();
        store.create_session(&sha256_hex(&token), user.id, now + SESSION_LIFETIME.as_millis() as i64).await?;
        // Sign-ins are rare: a good moment to sweep sessions that have expired.
        if let Err(error) = store.delete_expired_sessions(now).await {
            tracing::warn!(%error, "could not delete expired sessions");
        }
        Ok(token)
    }

    /// Forgets every cached session (another process ended one): the next
    /// request of each reads its session from the database again.
    pub fn forget_cached_sessions(&self) {
        self.cache.invalidate_all();
    }

    /// Ends every session of `user` but the one of `keep` (a session token);
    /// returns how many ended. Cached sessions here are forgotten at once;
    /// other processes forget theirs when told (see `credentials_revoked`).
    pub async fn end_other_sessions(&self, store: &dyn Store, user: UserId, keep: Option<&str>) -> AppResult<u64> {
        let keep = keep.map(sha256_hex);
        let ended = store.delete_user_sessions(user, keep.as_deref()).await?;
        self.cache.invalidate_all();
        Ok(ended)
    }

    pub async fn end_session(&self, store: &dyn Store, token: &str) -> AppResult<()> {
        let hash = sha256_hex(token);
        self.cache.invalidate(&hash).await;
        store.delete_session(&hash).await
    }

    /// Counts a sign-in attempt in this process; refuses it when the email or
    /// the address has made too many lately. An email longer than any address
    /// can be is refused before it is counted: the limiter keeps each email it
    /// sees for a while, and megabyte "emails" would grow it without bound.
    pub fn check_sign_in_rate(&self, email: &str, address: Option<IpAddr>) -> AppResult<()> {
        if email.len() > MAX_EMAIL_BYTES {
            return Err(AppError::BadRequest(format!("an email address has at most {MAX_EMAIL_BYTES} characters")));
        }
        let minute = now_ms() / 60_000;
        if self.limiters_pruned.fetch_max(minute, Ordering::Relaxed) < minute {
            self.prune_limiters();
        }
        if let Some(address) = address {
            self.by_address.check_key(&address).map_err(|_| too_many_sign_ins())?;
        }
        self.by_email.check_key(&email.to_lowercase()).map_err(|_| too_many_sign_ins())
    }

    /// Drops the limiters' keys that have no attempt left to remember (done
    /// once a minute): without it every email and address ever tried stays.
    pub fn prune_limiters(&self) {
        self.by_email.retain_recent();
        self.by_email.shrink_to_fit();
        self.by_address.retain_recent();
        self.by_address.shrink_to_fit();
    }

    /// Emails and addresses the limiters remember.
    pub fn limited_keys(&self) -> usize {
        self.by_email.len() + self.by_address.len()
    }

    /// Counts a sign-in attempt in the database; refuses it when the email or
    /// the address made more than their limit in the last minute, through any
    /// process. Attempts older than that are swept, at most once a minute per process.
    pub async fn check_shared_sign_in_rate(
        &self,
        store: &dyn Store,
        email: &str,
        address: Option<IpAddr>,
    ) -> AppResult<()> {
        let now = now_ms();
        let since = now - SIGN_IN_WINDOW.as_millis() as i64;
        let minute = now / 60_000;
        if self.attempts_swept.fetch_max(minute, Ordering::Relaxed) < minute {
            if let Err(error) = store.delete_sign_in_attempts_before(since).await {
                tracing::warn!(%error, "could not delete old sign-in attempts");
            }
        }
        if let Some(address) = address {
            let attempts = store.record_sign_in_attempt(&format!("address:{address}"), now, since).await?;
            if attempts > i64::from(self.limits.per_address_per_minute) {
                return Err(too_many_sign_ins());
            }
        }
        let attempts = store.record_sign_in_attempt(&format!("email:{}", email.to_lowercase()), now, since).await?;
        if attempts > i64::from(self.limits.per_email_per_minute) {
            return Err(too_many_sign_ins());
        }
        Ok(())
    }

    pub async fn needs_setup(&self, store: &dyn Store) -> AppResult<bool> {
        if self.admin_exists.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let exists = store.has_admin().await?;
        if exists {
            self.admin_exists.store(true, Ordering::Relaxed);
        }
        Ok(!exists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(http::header::COOKIE, "theme=dark; weft_session=abc123; other=1".parse().unwrap());
        assert_eq!(session_token(&headers), Some("abc123"));
        headers.clear();
        headers.append(http::header::COOKIE, "weft_session=".parse().unwrap());
        assert_eq!(session_token(&headers), None);
    }

    #[test]
    fn sign_in_attempts_are_limited_per_email_and_per_address() {
        let accounts = Accounts::new(SignInLimits { per_email_per_minute: 2, per_address_per_minute: 3 });
        let here = Some("10.0.0.1".parse().unwrap());
        assert!(accounts.check_sign_in_rate("a@x.io", here).is_ok());
        assert!(accounts.check_sign_in_rate("A@x.io", here).is_ok());
        // The third attempt on the same email (any case) is refused...
        assert!(matches!(accounts.check_sign_in_rate("a@x.io", here), Err(AppError::RateLimited(_))));
        // ...and the address has now used its three.
        assert!(accounts.check_sign_in_rate("b@x.io", here).is_err());
        assert!(accounts.check_sign_in_rate("b@x.io", Some("10.0.0.2".parse().unwrap())).is_ok());
    }

    #[test]
    fn the_limiters_forget_keys_whose_attempts_have_expired() {
        // 60,000 a minute: one attempt is forgotten after a millisecond.
        let accounts = Accounts::new(SignInLimits { per_email_per_minute: 60_000, per_address_per_minute: 60_000 });
        for i in 0..1000 {
            let address = Some(std::net::IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]));
            accounts.check_sign_in_rate(&format!("user{i}@x.io"), address).unwrap();
        }
        assert_eq!(accounts.limited_keys(), 2000);
        std::thread::sleep(Duration::from_millis(20));
        accounts.prune_limiters();
        assert_eq!(accounts.limited_keys(), 0);
    }

    #[test]
    fn an_email_longer_than_any_address_is_refused_before_it_is_counted() {
        let accounts = Accounts::new(SignInLimits { per_email_per_minute: 1, per_address_per_minute: 1 });
        let huge = format!("{}@x.io", "a".repeat(2 * 1024 * 1024));
        let refused = accounts.check_sign_in_rate(&huge, None);
        assert!(matches!(refused, Err(AppError::BadRequest(ref m)) if m.contains("at most 254")), "{refused:?}");
        // Not counted: the address still has its one attempt.
        assert!(accounts.check_sign_in_rate("a@x.io", Some("10.0.0.1".parse().unwrap())).is_ok());
        assert_eq!(accounts.by_email.len(), 1, "only the real email is kept");
    }
}
