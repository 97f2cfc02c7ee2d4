//! The queue side of the engine: claiming executions, keeping leases, and
//! taking over the executions of processes that died.
//!
//! - **Claiming.** An idle process sleeps until a signal says something was
//!   queued (LISTEN/NOTIFY on PostgreSQL), then claims in batches with
//!   `FOR UPDATE SKIP LOCKED`, so several processes never take the same row.
//! - **Leases.** Every execution running here is leased to this process; one
//!   query renews them all every quarter lease. The renewal also reports cancel
//!   requests made through other processes, and executions this process lost.
//! - **Takeover.** A process that takes leases says so (at most once per half
//!   lease). The others then know when the earliest foreign lease expires and
//!   look at the database exactly then: if the holder died, its executions are
//!   claimable and resumed from their recorded node states. While nobody holds
//!   a lease and nothing is queued, idle processes make no queries at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::error::AppResult;
use app::model::*;
use tokio::sync::broadcast::error::RecvError;

use super::Engine;
use crate::bus::Notice;
use app::model::now_ms;

/// Executions claimed by one query at most.
const CLAIM_BATCH: usize = 64;
/// Looking a little after a lease's expiry makes sure it has expired.
const EXPIRY_MARGIN: Duration = Duration::from_millis(20);

pub(super) fn spawn(engine: Arc<Engine>, claim: bool) {
    tokio::spawn(react_to_signals(engine.clone()));
    if engine.settings.queue.runs_executions {
        if claim {
            tokio::spawn(claim_loop(engine.clone()));
        }
        tokio::spawn(keep_leases(engine));
    }
}

/// Bus about single executions: finished elsewhere, or to be cancelled.
async fn react_to_signals(engine: Arc<Engine>) {
    let mut signals = engine.signals.subscribe();
    loop {
        match signals.recv().await {
            Ok(Notice::Finished(id)) => engine.finish_waiters.wake(id),
            Ok(Notice::Cancel(id)) => {
                engine.cancel(id);
            }
            Ok(Notice::Watch(id)) => super::relay::watched(&engine, id, true),
            Ok(Notice::Watching(id)) => super::relay::watched(&engine, id, false),
            // Missed signals: every waiter looks at the database again.
            Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => engine.finish_waiters.wake_all(),
            Ok(_) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// When the claimer looks at the database next.
struct Plan {
    /// What the database said: the next claimable time (`None`: only when signalled).
    look_at: Option<Instant>,
    /// The last time another process said it took leases.
    last_leased: Option<Instant>,
    /// Look by then, because leases were announced that the last look may not have seen.
    guard: Option<Instant>,
}

impl Plan {
    fn next_wake(&self) -> Option<Instant> {
        match (self.look_at, self.guard) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A lease taken at `t` was announced within half a lease before `t`, so a
    /// lease announced at `a` exists by `a + lease/2` at the latest: looking at
    /// `a + 1.5 × lease` sees it and learns its expiry.
    fn leased(&mut self, lease: Duration) {
        let now = Instant::now();
        self.last_leased = Some(now);
        let by = now + lease * 3 / 2;
        self.guard = Some(self.guard.map_or(by, |g| g.min(by)));
    }

    /// After a look at the database at `looked`.
    fn looked(&mut self, looked: Instant, next: Option<Instant>, lease: Duration) {
        self.look_at = next;
        self.guard = self.last_leased.map(|a| a + lease * 3 / 2).filter(|g| *g > looked);
    }
}

async fn claim_loop(engine: Arc<Engine>) {
    let lease = engine.settings.queue.lease;
    // One process serves a SQLite file: at start, every lease in it belongs to
    // a previous life of this process, so its executions resume at once
    // instead of after their leases expire.
    if engine.store.backend() == "sqlite" {
        match engine.store.expire_leases().await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "resuming the executions a previous run of this process left running"),
            Err(error) => tracing::warn!(%error, "could not expire the previous leases"),
        }
    }
    let mut signals = engine.signals.subscribe();
    let mut plan = Plan { look_at: Some(Instant::now()), last_leased: None, guard: None };
    loop {
        let wake = plan.next_wake();
        tokio::select! {
            _ = engine.shutdown.cancelled() => return,
            _ = sleep_until(wake) => {}
            signal = signals.recv() => {
                // A burst of signals (a thousand executions queued at once)
                // makes one look at the database, not one per signal.
                let mut next = Some(signal);
                while let Some(signal) = next {
                    match signal {
                        Ok(Notice::Queued) | Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => {
                            engine.capacity.set_queue_pending(true);
                            plan.look_at = Some(Instant::now());
                        }
                        Ok(Notice::Leased) => plan.leased(lease),
                        Ok(_) => {}
                        Err(RecvError::Closed) => return,
                    }
                    next = match signals.try_recv() {
                        Ok(signal) => Some(Ok(signal)),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
                        Err(_) => None,
                    };
                }
                continue;
            }
            _ = engine.capacity.claimer_woken() => {
                if !engine.capacity.queue_pending() {
                    continue;
                }
            }
        }
        let looked = Instant::now();
        match claim_once(&engine).await {
            Ok(next) => plan.looked(looked, next, lease),
            Err(error) => {
                tracing::warn!(%error, "could not claim executions; trying again shortly");
                plan.look_at = Some(Instant::now() + Duration::from_secs(1));
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// Claims what there is room for; returns when to look again.
async fn claim_once(engine: &Arc<Engine>) -> AppResult<Option<Instant>> {
    let room = engine.capacity.reserve_up_to(CLAIM_BATCH);
    if room == 0 {
        // Full: a finishing run wakes the claimer while the queue may hold work;
        // expired leases are looked for again a little later.
        return Ok(Some(Instant::now() + engine.settings.queue.lease / 4));
    }
    let now = now_ms();
    // Users who run their share here already: their queued runs wait, the
    // others' are claimed past them.
    let skip = engine.capacity.users_at_share();
    let claimed = match engine.store.claim_executions(&engine.lease(now), now, room as u32, &skip).await {
        Ok(claimed) => claimed,
        Err(error) => {
            engine.capacity.unreserve(room);
            return Err(error);
        }
    };
    let full_batch = claimed.len() == room;
    // One batch may hold more of a user's runs than their share has room for.
    let (claimed, over_share) = engine.capacity.admit_claimed(claimed);
    engine.capacity.unreserve(room - claimed.len());
    if !over_share.is_empty() {
        let ids: Vec<ExecutionId> = over_share.iter().map(|e| e.id).collect();
        match engine.store.release_executions(&engine.worker_id, &ids).await {
            // Back in the queue: a process with room for that user may take them.
            Ok(()) => engine.signals.publish(Notice::Queued).await,
            // Their leases expire and they are claimed again then.
            Err(error) => tracing::warn!(%error, "could not hand back the runs of users at their share"),
        }
    }
    if !claimed.is_empty() {
        engine.announce_leases().await;
        engine.resume(claimed).await;
    }
    if full_batch {
        return Ok(Some(Instant::now()));
    }
    let skip = engine.capacity.users_at_share();
    // With users at their share, a run of theirs that ends may free room for
    // the queued runs left behind: the claimer looks again when one ends.
    engine.capacity.set_queue_pending(!skip.is_empty());
    let next = engine.store.next_claimable_at(&engine.worker_id, &skip).await?;
    Ok(next.map(|at| {
        let wait = Duration::from_millis((at - now_ms()).max(0) as u64);
        // Claimable already, but another process was claiming it: look again soon.
        Instant::now() + wait.max(Duration::from_millis(50)) + EXPIRY_MARGIN
    }))
}

/// Renews this process's leases while it runs anything, and acts on what the
/// renewal reports: cancel requests, and executions another process took over.
async fn keep_leases(engine: Arc<Engine>) {
    let lease = engine.settings.queue.lease;
    let every = lease / 4;
    // When the last renewal was sent: each lease lasts `lease` from then.
    let mut last_renewal: Option<Instant> = None;
    loop {
        tokio::time::sleep(every).await;
        if engine.shutdown.is_cancelled() && engine.running_executions() == 0 {
            return;
        }
        if engine.local.is_empty() {
            last_renewal = None;
            continue; // nothing held: no query
        }
        let began = Instant::now();
        let held = match engine.store.renew_leases(&engine.lease(now_ms())).await {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "could not renew leases");
                continue;
            }
        };
        // The leases the previous renewal set held until `last + lease`: this
        // one, due a quarter lease later, counts only once it is done.
        if let Some(gap) = last_renewal.map(|last| last.elapsed()).filter(|gap| *gap > lease / 2) {
            // So late that leases were at risk (past a whole lease, other
            // processes may have taken runs over). Starved CPU or a slow
            // database: say so.
            tracing::warn!(
                gap_ms = gap.as_millis() as u64,
                lease_ms = lease.as_millis() as u64,
                "lease renewal was late"
            );
        }
        last_renewal = Some(began);
        let held: HashMap<ExecutionId, bool> = held.into_iter().map(|h| (h.id, h.cancel_requested)).collect();
        engine.local.renewed(began, &held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_lease_is_looked_at_within_one_and_a_half_leases() {
        let lease = Duration::from_secs(20);
        let mut plan = Plan { look_at: None, last_leased: None, guard: None };
        assert_eq!(plan.next_wake(), None, "idle: no wake-up at all");
        plan.leased(lease);
        let guard = plan.next_wake().unwrap();
        assert!(guard > Instant::now() + lease && guard <= Instant::now() + lease * 3 / 2);
        // A look before the guard keeps a guard for leases taken after the announcement.
        plan.looked(Instant::now(), None, lease);
        assert!(plan.guard.is_some());
        // A look after it (nothing announced since) leaves nothing to wait for.
        plan.looked(Instant::now() + lease * 2, None, lease);
        assert_eq!(plan.next_wake(), None);
    }

    #[test]
    fn the_earliest_reason_wins() {
        let now = Instant::now();
        let plan = Plan {
            look_at: Some(now + Duration::from_secs(3)),
            last_leased: None,
            guard: Some(now + Duration::from_secs(1)),
        };
        assert_eq!(plan.next_wake(), Some(now + Duration::from_secs(1)));
    }

    /// A process that stalled past a lease may claim back a run it is still
    /// driving: the run goes on once, not twice.
    #[tokio::test]
    async fn a_claim_of_a_run_still_going_on_here_starts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/weft.db", dir.path().display());
        let store = crate::store::connect(&crate::config::DatabaseSettings::with_url(url)).await.unwrap();
        let owner = store.create_user("q@example.com", None, false).await.unwrap();
        let definition: app::model::WorkflowDefinition = serde_json::from_value(serde_json::json!({
            "name": "long", "nodes": [{"id": "wait", "type": "delay", "config": {"ms": 10000}}]
        }))
        .unwrap();
        let workflow = store.create_workflow(owner.id, &definition).await.unwrap();
        let version = store.workflow_version(Scope::Everyone, workflow.id, 1).await.unwrap();
        let engine = Engine::new(
            store.clone(),
            super::super::EngineSettings::default(),
            crate::bus::Bus::local(),
            Arc::new(crate::secrets::SecretBox::ephemeral()),
        )
        .unwrap();
        let handle = engine
            .start(super::super::StartRequest::new(&version, owner.id, app::model::Trigger::Api, serde_json::json!({})))
            .await
            .unwrap();
        assert_eq!(engine.running_executions(), 1);

        // Its own claimer finds the lease expired (as after a stall) and takes it.
        let late = i64::MAX / 8;
        let claimed = store.claim_executions(&engine.lease(late), late, 10, &[]).await.unwrap();
        assert_eq!(claimed.iter().map(|e| e.id).collect::<Vec<_>>(), [handle.execution.id]);
        assert_eq!(engine.capacity.reserve_up_to(1), 1);
        let (claimed, over_share) = engine.capacity.admit_claimed(claimed);
        assert!(over_share.is_empty());
        engine.resume(claimed).await;
        assert_eq!(engine.running_executions(), 1, "the claim's slot is given back: no second run");

        // The one run is still the live one: cancelling it ends it.
        assert!(engine.cancel(handle.execution.id));
        let report = handle.done.await.unwrap().unwrap();
        assert_eq!(report.status, ExecutionStatus::Cancelled);
    }
}
