//! Callers waiting for executions that run elsewhere (another process, or this
//! one's claimer), woken when they end.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use app::error::AppResult;
use app::model::{ExecutionId, ExecutionReport, ExecutionStatus, Scope};
use app::ports::Store;
use tokio::sync::oneshot;

use super::report::report_from_store;

#[derive(Default)]
pub(super) struct FinishWaiters {
    waiting: Mutex<HashMap<ExecutionId, Vec<oneshot::Sender<()>>>>,
}

impl FinishWaiters {
    /// Waits until execution `id` has finished (or waits at `wait` nodes, to be
    /// resumed: nothing happens to it until then); returns its stored report.
    pub(super) async fn wait(&self, store: &dyn Store, id: ExecutionId) -> AppResult<ExecutionReport> {
        self.wait_for(store, id, ExecutionStatus::is_settled).await
    }

    /// Waits until execution `id` has finished: a run waiting to be resumed
    /// is waited for until it is resumed and ends.
    pub(super) async fn wait_until_finished(&self, store: &dyn Store, id: ExecutionId) -> AppResult<ExecutionReport> {
        self.wait_for(store, id, ExecutionStatus::is_finished).await
    }

    async fn wait_for(
        &self,
        store: &dyn Store,
        id: ExecutionId,
        done: fn(ExecutionStatus) -> bool,
    ) -> AppResult<ExecutionReport> {
        loop {
            let woken = self.register(id);
            let execution = store.execution(Scope::Everyone, id).await?;
            if done(execution.status) {
                let runs = store.node_runs(Scope::Everyone, id).await?;
                return Ok(report_from_store(&execution, runs));
            }
            // A signal is a hint; look at the database now and then all the same.
            let _ = tokio::time::timeout(Duration::from_secs(5), woken).await;
        }
    }

    fn register(&self, id: ExecutionId) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        let mut waiters = self.waiting.lock().expect("finish waiters");
        let waiting = waiters.entry(id).or_default();
        // Drop the senders of earlier rounds (and of callers that gave up).
        waiting.retain(|waiter| !waiter.is_closed());
        waiting.push(sender);
        receiver
    }

    /// Execution `id` ended: its waiters look at the database again.
    pub(super) fn wake(&self, id: ExecutionId) {
        if let Some(waiters) = self.waiting.lock().expect("finish waiters").remove(&id) {
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
    }

    /// Bus were missed: every waiter looks at the database again.
    pub(super) fn wake_all(&self) {
        let ids: Vec<ExecutionId> = self.waiting.lock().expect("finish waiters").keys().copied().collect();
        for id in ids {
            self.wake(id);
        }
    }
}
