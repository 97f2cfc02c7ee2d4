//! Retention: a background task that deletes finished executions older than a
//! maximum age, or beyond a maximum count per workflow, in small batches under
//! a time budget: after each batch it pauses long enough that deleting takes at
//! most `duty_percent` of the time (on SQLite the writer is shared with every
//! run, so an unthrottled pass over a million rows would hold it most of the
//! time). Every few batches, and at the end, it vacuums incrementally (SQLite;
//! the WAL is checkpointed after every write anyway), so the file stays bounded
//! during a long pass too.

use std::sync::Arc;
use std::time::Duration;

pub use crate::config::RetentionSettings;
use app::model::now_ms;
use app::ports::Store;

/// The shortest pause between two batches: queued writers go first.
const MIN_PAUSE: Duration = Duration::from_millis(20);
/// Batches between two compactions during a long pass.
const COMPACT_EVERY: u32 = 50;

/// Paces a pass: pauses after each batch in proportion to the time it took.
struct Budget {
    duty_percent: u32,
    batches: u32,
}

impl Budget {
    /// The pause after a batch that took `took`: `took × (100 − duty) / duty`.
    fn pause_after(&self, took: Duration) -> Duration {
        let duty = self.duty_percent.clamp(1, 100);
        (took * (100 - duty) / duty).max(MIN_PAUSE)
    }

    /// Runs one batch, then pauses (and compacts every so often); returns what it deleted.
    async fn batch(
        &mut self,
        store: &dyn Store,
        work: impl std::future::Future<Output = app::error::AppResult<u64>>,
    ) -> anyhow::Result<u64> {
        let started = std::time::Instant::now();
        let deleted = work.await?;
        let took = started.elapsed();
        metrics::counter!("weft_retention_deleted_total").increment(deleted);
        self.batches += 1;
        if deleted > 0 && self.batches.is_multiple_of(COMPACT_EVERY) {
            store.compact().await?;
        }
        tokio::time::sleep(self.pause_after(took)).await;
        Ok(deleted)
    }
}

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
    let mut budget = Budget { duty_percent: settings.duty_percent, batches: 0 };
    let mut deleted = 0;
    if settings.max_age_days > 0 {
        let before = now_ms() - i64::from(settings.max_age_days) * 24 * 3600 * 1000;
        loop {
            let n = budget.batch(store, store.delete_executions_before(before, batch)).await?;
            deleted += n;
            if n < u64::from(batch) {
                break;
            }
        }
    }
    if settings.max_per_workflow > 0 {
        for workflow in store.workflows_with_more_executions_than(settings.max_per_workflow).await? {
            loop {
                let n = budget
                    .batch(store, store.delete_executions_beyond(workflow, settings.max_per_workflow, batch))
                    .await?;
                deleted += n;
                if n < u64::from(batch) {
                    break;
                }
            }
        }
    }
    if deleted > 0 {
        store.compact().await?;
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deleting_takes_at_most_the_duty_share_of_the_time() {
        let budget = Budget { duty_percent: 10, batches: 0 };
        assert_eq!(budget.pause_after(Duration::from_millis(50)), Duration::from_millis(450));
        assert_eq!(budget.pause_after(Duration::from_micros(100)), MIN_PAUSE, "never less than the minimum");
        let flat_out = Budget { duty_percent: 100, batches: 0 };
        assert_eq!(flat_out.pause_after(Duration::from_millis(50)), MIN_PAUSE);
    }
}
