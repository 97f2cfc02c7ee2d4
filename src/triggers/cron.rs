//! The cron scheduler: every tick it plans schedules whose next time is
//! unknown and fires those that are due. Each firing is claimed with a
//! conditional update of `next_fire_at`, so with several processes on one
//! database each tick fires exactly once.

use std::sync::Arc;
use std::time::Duration;

use app::model::{CronTrigger, Schedule, Scope, Trigger};
use app::ports::Store;
use serde_json::json;

use crate::engine::{rfc3339, Engine, StartRequest};
use app::model::now_ms;

/// Runs the scheduler until the process ends. Between ticks it sleeps until
/// the earliest planned firing (at least `tick`), or until a workflow is saved
/// in any process (a signal wakes it) — so with no schedules an idle Weft makes
/// no queries at all, and with schedules one look per firing.
pub fn spawn(
    store: Arc<dyn Store>,
    engine: Arc<Engine>,
    tick: Duration,
    wake: Arc<tokio::sync::Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(error) = run_due(&store, &engine).await {
                tracing::warn!(%error, "the cron scheduler could not plan this tick");
            }
            let sleep = match store.next_schedule_time().await {
                Ok(Some(at)) => Some(Duration::from_millis((at - now_ms()).max(0) as u64).max(tick)),
                Ok(None) => None,
                Err(_) => Some(tick),
            };
            let sleep = async {
                match sleep {
                    Some(duration) => tokio::time::sleep(duration).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = sleep => {}
                _ = wake.notified() => {}
            }
        }
    })
}

/// Plans and fires what is due now; returns how many runs it started.
pub async fn run_due(store: &Arc<dyn Store>, engine: &Arc<Engine>) -> anyhow::Result<usize> {
    let now = now_ms();
    let mut started = 0;
    let min_interval = app::model::triggers::min_schedule_interval().as_millis() as i64;
    for schedule in store.schedules_to_plan(now, 100).await? {
        let due = schedule.next_fire_at.filter(|at| *at <= now);
        // A stored schedule that fires more often than the instance allows
        // (saved before the limit) is tried at most once per interval; its
        // start is refused with the validation message, as a save would be.
        let earliest = due.map_or(now, |fired| now.max(fired + min_interval - 1));
        let Some(next) = next_after(&schedule, earliest) else { continue };
        if !store.claim_schedule(schedule.id, schedule.next_fire_at, next).await? {
            continue; // another process planned or fired it
        }
        if let Some(fire_at) = due {
            let version = store.workflow_version(Scope::Everyone, schedule.workflow_id, schedule.version).await?;
            let input = json!({ "scheduled_at": rfc3339(fire_at), "schedule": schedule.schedule });
            match engine.start(StartRequest::new(&version, schedule.owner_id, Trigger::Cron, input)).await {
                Ok(_) => started += 1,
                // One workflow that cannot start must not hold up the other schedules.
                Err(error) => tracing::warn!(schedule = schedule.id, workflow = schedule.workflow_id, %error,
                    "a scheduled run could not start"),
            }
        }
    }
    Ok(started)
}

fn next_after(schedule: &Schedule, now: i64) -> Option<i64> {
    let cron = CronTrigger { schedule: schedule.schedule.clone(), timezone: schedule.timezone.clone() };
    let now = chrono::DateTime::from_timestamp_millis(now)?;
    match app::model::triggers::next_fire_time(&cron, now) {
        Ok(next) => Some(next.timestamp_millis()),
        Err(error) => {
            tracing::warn!(schedule = schedule.id, %error, "skipping a schedule that cannot be planned");
            None
        }
    }
}

/// The next `count` firing times of a schedule, for display.
pub fn upcoming(cron: &CronTrigger, count: usize) -> Vec<String> {
    let mut at = chrono::Utc::now();
    let mut times = Vec::with_capacity(count);
    for _ in 0..count {
        match app::model::triggers::next_fire_time(cron, at) {
            Ok(next) => {
                times.push(rfc3339(next.timestamp_millis()));
                at = next;
            }
            Err(_) => break,
        }
    }
    times
}
