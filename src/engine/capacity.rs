//! The engine's two bounds: executions running here (with the claimer that
//! fills freed room from the queue), and nodes running at once in the process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use app::model::UserId;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// Room for executions here: what `max_running_executions` bounds.
pub(super) struct Capacity {
    max: usize,
    /// Executions running here.
    running: AtomicUsize,
    /// Set when something may wait in the queue; cleared when a claim comes back short.
    queue_pending: AtomicBool,
    /// Wakes the claimer: capacity freed, or work queued by this process.
    claimer_wake: Notify,
}

impl Capacity {
    pub(super) fn new(max_running_executions: usize) -> Self {
        Self {
            max: max_running_executions.max(1),
            running: AtomicUsize::new(0),
            // A new process first looks for work left by others (or by its own
            // previous life, after a crash).
            queue_pending: AtomicBool::new(true),
            claimer_wake: Notify::new(),
        }
    }

    pub(super) fn running(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    /// Reserves room for up to `wanted` executions; returns how many.
    pub(super) fn reserve_up_to(&self, wanted: usize) -> usize {
        let mut got = 0;
        let _ = self.running.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            got = self.max.saturating_sub(n).min(wanted);
            Some(n + got)
        });
        got
    }

    pub(super) fn unreserve(&self, count: usize) {
        if count > 0 {
            self.running.fetch_sub(count, Ordering::AcqRel);
        }
    }

    /// Gives back the room of a run that ended, and lets the claimer use it.
    pub(super) fn release(&self) {
        self.unreserve(1);
        if self.queue_pending() {
            self.claimer_wake.notify_one();
        }
    }

    pub(super) fn queue_pending(&self) -> bool {
        self.queue_pending.load(Ordering::Relaxed)
    }

    pub(super) fn set_queue_pending(&self, pending: bool) {
        self.queue_pending.store(pending, Ordering::Relaxed);
    }

    pub(super) fn wake_claimer(&self) {
        self.claimer_wake.notify_one();
    }

    /// Resolves when something wakes the claimer.
    pub(super) async fn claimer_woken(&self) {
        self.claimer_wake.notified().await
    }
}

/// Nodes running at once across every execution of this process, and of
/// them, at most a share per user: one user's runs cannot take every slot
/// while others' wait.
pub(super) struct NodeSlots {
    slots: Semaphore,
    /// Nodes ready to run but waiting for a slot.
    waiting: AtomicUsize,
    per_user: usize,
    users: std::sync::Mutex<std::collections::HashMap<UserId, Arc<Semaphore>>>,
}

/// A node's slot: its user's share and the process's.
pub(super) struct NodeSlot<'a> {
    _process: SemaphorePermit<'a>,
    _user: OwnedSemaphorePermit,
}

impl NodeSlots {
    /// `user_share_percent` of `max_running_nodes` (at least one) is the most one user holds.
    pub(super) fn new(max_running_nodes: usize, user_share_percent: u32) -> Self {
        let max = max_running_nodes.max(1);
        let per_user = (max * user_share_percent.clamp(1, 100) as usize / 100).max(1);
        Self { slots: Semaphore::new(max), waiting: AtomicUsize::new(0), per_user, users: Default::default() }
    }

    fn user_share(&self, user: UserId) -> Arc<Semaphore> {
        let mut users = self.users.lock().unwrap_or_else(|e| e.into_inner());
        users.entry(user).or_insert_with(|| Arc::new(Semaphore::new(self.per_user))).clone()
    }

    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits for a slot of `user`'s share, then of the process; the node runs while it holds it.
    pub(super) async fn acquire(&self, user: UserId) -> NodeSlot<'_> {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let share = self.user_share(user).acquire_owned().await;
        let slot = self.slots.acquire().await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        NodeSlot {
            _process: slot.expect("the process slots are never closed"),
            _user: share.expect("user shares are never closed"),
        }
    }
}
