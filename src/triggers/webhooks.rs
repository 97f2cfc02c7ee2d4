//! What each webhook path runs, from a moka cache (read-through, bounded,
//! invalidated when the workflow is saved or deleted, in this process or
//! another: saves are signalled to every process), so a webhook call costs no
//! query to find what to run. Entries also expire after a minute, in case a
//! signal was lost. The HTTP handler is `api::hooks`.

use std::sync::Arc;
use std::time::Duration;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::Store;

use crate::bus::{Bus, Notice};
use tokio::sync::broadcast::error::RecvError;

/// A webhook's target and the definition it runs.
pub struct Hook {
    pub target: WebhookTarget,
    pub version: WorkflowVersion,
    pub workflow: ValidatedWorkflow,
    /// The trigger's path, as its definition says (the address without its id).
    pub path: String,
    /// What its callers must prove (the trigger's `auth`).
    pub auth: Option<WebhookAuth>,
}

pub struct HookCache {
    cache: Option<moka::future::Cache<String, Arc<Hook>>>,
    /// Wakes the cron scheduler: a saved workflow may carry a new schedule.
    pub schedules_changed: Arc<tokio::sync::Notify>,
    signals: Arc<Bus>,
}

impl HookCache {
    /// `enabled: false` reads the store on every call (for measuring the cache).
    /// Follows other processes' saves through `signals`.
    pub fn new(enabled: bool, signals: Arc<Bus>) -> Self {
        let cache = enabled.then(|| {
            moka::future::Cache::builder()
                .max_capacity(10_000)
                .weigher(|path: &String, hook: &Arc<Hook>| {
                    crate::weigh::in_pages(path.len() + crate::weigh::json_bytes(&hook.version.definition))
                })
                .time_to_live(Duration::from_secs(60))
                .support_invalidation_closures()
                .build()
        });
        let hooks = Self { cache, schedules_changed: Arc::new(tokio::sync::Notify::new()), signals };
        hooks.follow_signals();
        hooks
    }

    fn follow_signals(&self) {
        let mut signals = self.signals.subscribe();
        let cache = self.cache.clone();
        let schedules_changed = self.schedules_changed.clone();
        tokio::spawn(async move {
            loop {
                match signals.recv().await {
                    Ok(Notice::WorkflowChanged(workflow)) => {
                        forget(cache.as_ref(), workflow);
                        schedules_changed.notify_one();
                    }
                    // Credentials revoked may mean a user was disabled: their paths stop answering.
                    Ok(Notice::Resync | Notice::CredentialsRevoked) | Err(RecvError::Lagged(_)) => {
                        if let Some(cache) = &cache {
                            cache.invalidate_all();
                        }
                        schedules_changed.notify_one();
                    }
                    Ok(_) => {}
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    pub async fn resolve(&self, store: &Arc<dyn Store>, path: &str) -> AppResult<Arc<Hook>> {
        let load = async {
            let target = store.webhook(path).await?.ok_or_else(|| AppError::NotFound("webhook".into()))?;
            let version = store.workflow_version(Scope::Everyone, target.workflow_id, target.version).await?;
            let workflow = validate(&version.definition).map_err(AppError::Invalid)?;
            let trigger = version.definition.typed_triggers().into_iter().find_map(|trigger| match trigger {
                TriggerDefinition::Webhook(hook) if triggers::hook_address_matches(&target.path, &hook.path) => {
                    Some(hook)
                }
                _ => None,
            });
            let (path, auth) =
                trigger.map(|hook| (hook.path, hook.auth)).unwrap_or_else(|| (target.path.clone(), None));
            Ok::<_, AppError>(Arc::new(Hook { target, version, workflow, path, auth }))
        };
        match &self.cache {
            None => load.await,
            Some(cache) => cache.try_get_with(path.to_string(), load).await.map_err(|e| (*e).clone()),
        }
    }

    /// Forgets what this workflow's hooks run (it was saved or deleted), here
    /// at once and in every other process by a signal.
    pub fn workflow_changed(&self, workflow: WorkflowId) {
        forget(self.cache.as_ref(), workflow);
        self.schedules_changed.notify_one();
        self.signals.publish_later(Notice::WorkflowChanged(workflow));
    }
}

fn forget(cache: Option<&moka::future::Cache<String, Arc<Hook>>>, workflow: WorkflowId) {
    if let Some(cache) = cache {
        let _ = cache.invalidate_entries_if(move |_, hook| hook.target.workflow_id == workflow);
    }
}
