//! Retention: a background task that deletes finished executions older than a
//! maximum age, or beyond a maximum count per workflow, in small batches with
//! pauses between them, so running workflows never wait behind it. On SQLite it
//! then checkpoints the WAL and vacuums incrementally so the file stays bounded.

use std::sync::Arc;
use std::time::Duration;

use app::ports::Store;
use clap::Args;

use crate::store::now_ms;

#[derive(Debug, Clone, Args)]
pub struct RetentionSettings {
    /// Delete finished executions older than this many days (0: keep forever).
    #[arg(long = "retention-max-age-days", env = "WEFT_RETENTION_MAX_AGE_DAYS", default_value_t = 30)]
    pub max_age_days: u32,
    /// Keep at most this many finished executions per workflow (0: no limit).
    #[arg(long = "retention-max-per-workflow", env = "WEFT_RETENTION_MAX_PER_WORKFLOW", default_value_t = 1000)]
    pub max_per_workflow: u32,
    /// How often retention runs, in seconds (0: never).
    #[arg(long = "retention-interval-secs", env = "WEFT_RETENTION_INTERVAL_SECS", default_value_t = 300)]
    pub interval_secs: u64,
    /// Executions deleted per transaction.
    #[arg(long = "retention-batch", env = "WEFT_RETENTION_BATCH", default_value_t = 500)]
    pub batch: u32,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self { max_age_days: 30, max_per_workflow: 1000, interval_secs: 300, batch: 500 }
    }
}

/// The pause between two batches: long enough for queued writers to go first.
const PAUSE: Duration = Duration::from_millis(20);

pub fn spawn(store: Arc<dyn Store>, settings: RetentionSettings) -> Option<tokio::task::JoinHandle<()>> {
    if settings.interval_secs == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut interval = tokio::time::interval(Duration::from_secs(settings.interval_secs));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            match run_once(store.as_ref(), &settings).await {
                Ok(0) => {}
                Ok(deleted) => tracing::info!(deleted, "retention deleted old executions"),
                Err(error) => tracing::warn!(%error, "retention could not finish this pass"),
            }
        }
    }))
}

/// One pass: deletes everything due, batch by batch; returns how many executions.
pub async fn run_once(store: &dyn Store, settings: &RetentionSettings) -> anyhow::Result<u64> {
    let batch = settings.batch.max(1);
    let mut deleted = 0;
    if settings.max_age_days > 0 {
        let before = now_ms() - i64::from(settings.max_age_days) * 24 * 3600 * 1000;
        loop {
            let n = store.delete_executions_before(before, batch).await?;
            deleted += n;
            if n < u64::from(batch) {
                break;
            }
            tokio::time::sleep(PAUSE).await;
        }
    }
    if settings.max_per_workflow > 0 {
        for workflow in store.workflows_with_more_executions_than(settings.max_per_workflow).await? {
            loop {
                let n = store.delete_executions_beyond(workflow, settings.max_per_workflow, batch).await?;
                deleted += n;
                if n < u64::from(batch) {
                    break;
                }
                tokio::time::sleep(PAUSE).await;
            }
        }
    }
    if deleted > 0 {
        store.compact().await?;
    }
    Ok(deleted)
}
