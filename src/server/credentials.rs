//! Cached credentials — browser sessions and API keys, each process's own
//! cache — forgotten everywhere when one process revokes some: a session
//! signed out or a key revoked stops working in every process at once, not
//! when their caches expire (30 s, 60 s).

use std::sync::{Arc, Weak};

use app::services::api_keys::ApiKeys;
use app::services::sessions::Accounts;
use tokio::sync::broadcast::error::RecvError;

use crate::bus::{Bus, Notice};

/// What a server function calls after revoking credentials.
pub fn announcer(signals: Arc<Bus>) -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(move || signals.publish_later(Notice::CredentialsRevoked))
}

/// Empties this process's caches whenever any process revokes credentials, or
/// when signals may have been missed. Sign-outs and revocations are rare: each
/// costs every cached session one database read.
pub fn follow_revocations(signals: &Bus, accounts: &Arc<Accounts>, api_keys: &Arc<ApiKeys>) {
    let mut changes = signals.subscribe();
    let (accounts, api_keys): (Weak<Accounts>, Weak<ApiKeys>) = (Arc::downgrade(accounts), Arc::downgrade(api_keys));
    tokio::spawn(async move {
        loop {
            let forget = match changes.recv().await {
                Ok(Notice::CredentialsRevoked | Notice::Resync) | Err(RecvError::Lagged(_)) => true,
                Ok(_) => false,
                Err(RecvError::Closed) => break,
            };
            if forget {
                let (Some(accounts), Some(api_keys)) = (accounts.upgrade(), api_keys.upgrade()) else { break };
                accounts.forget_cached_sessions();
                api_keys.forget_cached();
            }
        }
    });
}
