//! The executions running in this process, and how to steer each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use app::model::ExecutionId;

use super::driver::RunControl;

/// An execution running in this process.
struct LocalRun {
    control: RunControl,
    /// When it started here: a lease renewal that began earlier cannot have seen it.
    since: Instant,
}

#[derive(Default)]
pub(super) struct LocalRuns {
    runs: Mutex<HashMap<ExecutionId, LocalRun>>,
}

impl LocalRuns {
    pub(super) fn insert(&self, id: ExecutionId, control: RunControl) {
        self.lock().insert(id, LocalRun { control, since: Instant::now() });
    }

    pub(super) fn remove(&self, id: ExecutionId) {
        self.lock().remove(&id);
    }

    pub(super) fn contains(&self, id: ExecutionId) -> bool {
        self.lock().contains_key(&id)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Cancels an execution running here; false when it does not run here.
    pub(super) fn cancel(&self, id: ExecutionId) -> bool {
        match self.lock().get(&id) {
            Some(run) => {
                run.control.cancel.cancel();
                true
            }
            None => false,
        }
    }

    /// Acts on a lease renewal that began at `began`: `held` maps what this
    /// process still holds to whether a cancel was requested. Runs it could
    /// not have seen are left alone; the others are cancelled, or abandoned
    /// when another process took them over.
    pub(super) fn renewed(&self, began: Instant, held: &HashMap<ExecutionId, bool>) {
        for (id, run) in self.lock().iter().filter(|(_, run)| run.since < began) {
            match held.get(id) {
                Some(true) => run.control.cancel.cancel(),
                Some(false) => {}
                None => run.control.abandon.cancel(),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ExecutionId, LocalRun>> {
        self.runs.lock().expect("local runs")
    }
}
