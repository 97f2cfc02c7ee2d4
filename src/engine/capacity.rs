//! The engine's two bounds: executions running here (with the claimer that
//! fills freed room from the queue), and nodes running at once in the process.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use app::model::{Execution, UserId};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// Room for executions here: what `max_running_executions` bounds, and of
/// it at most a share per user, so one user's queue of a thousand runs cannot
/// keep another user's run waiting behind it.
pub(super) struct Capacity {
    max: usize,
    /// Executions running here (or reserved for a claim under way).
    running: AtomicUsize,
    /// The most executions of one user running here at once.
    per_user: usize,
    /// Executions running here per user (users with none are not kept).
    users: std::sync::Mutex<std::collections::HashMap<UserId, usize>>,
    /// Set when something may wait in the queue; cleared when a claim comes back short.
    queue_pending: AtomicBool,
    /// Wakes the claimer: capacity freed, or work queued by this process.
    claimer_wake: Notify,
}

impl Capacity {
    /// `user_share_percent` of `max_running_executions` (at least one) is the most one user runs.
    pub(super) fn new(max_running_executions: usize, user_share_percent: u32) -> Self {
        let max = max_running_executions.max(1);
        Self {
            max,
            running: AtomicUsize::new(0),
            per_user: share_of(max, user_share_percent),
            users: Default::default(),
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

    /// Room for one run of `user` here: false when the process is full or
    /// the user runs their share already (the run then waits in the queue).
    pub(super) fn admit(&self, user: UserId) -> bool {
        if self.reserve_up_to(1) == 0 {
            return false;
        }
        if self.take_user_room(user) {
            return true;
        }
        self.unreserve(1);
        false
    }

    /// Room for a child run beside the parent that waits for it: admitted past
    /// the process's bound and the owner's share (it is counted all the same,
    /// so the owner's other runs queue meanwhile), up to twice the bound. A
    /// child queued behind parents that hold every slot would never start,
    /// and its parents would never end. Fan-out stays bounded by `for_each`
    /// concurrency and the workflow depth limit.
    pub(super) fn admit_child(&self, user: UserId) -> bool {
        let admitted = self
            .running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < self.max * 2).then_some(n + 1))
            .is_ok();
        if admitted {
            *self.lock_users().entry(user).or_insert(0) += 1;
        }
        admitted
    }

    /// Splits claimed executions (for which room is reserved already) into
    /// those admitted to run here and those whose user runs their share
    /// already: the caller hands those back to the queue and unreserves their room.
    pub(super) fn admit_claimed(&self, claimed: Vec<Execution>) -> (Vec<Execution>, Vec<Execution>) {
        claimed.into_iter().partition(|execution| self.take_user_room(execution.owner_id))
    }

    /// The users who run their share here: the claimer leaves their queued runs for later.
    pub(super) fn users_at_share(&self) -> Vec<UserId> {
        let users = self.lock_users();
        users.iter().filter(|(_, running)| **running >= self.per_user).map(|(user, _)| *user).collect()
    }

    fn take_user_room(&self, user: UserId) -> bool {
        let mut users = self.lock_users();
        let running = users.entry(user).or_insert(0);
        if *running >= self.per_user {
            return false;
        }
        *running += 1;
        true
    }

    /// Gives back the room of a run of `user` that ended (or never began), and lets the claimer use it.
    pub(super) fn release(&self, user: UserId) {
        {
            let mut users = self.lock_users();
            if let Some(running) = users.get_mut(&user) {
                *running -= 1;
                if *running == 0 {
                    users.remove(&user);
                }
            }
        }
        self.unreserve(1);
        if self.queue_pending() {
            self.claimer_wake.notify_one();
        }
    }

    fn lock_users(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<UserId, usize>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
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

/// `percent` of `max`, at least one.
fn share_of(max: usize, percent: u32) -> usize {
    (max * percent.clamp(1, 100) as usize / 100).max(1)
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
        let per_user = share_of(max, user_share_percent);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_their_share_of_the_room_and_others_the_rest() {
        let capacity = Capacity::new(4, 50);
        assert!(capacity.admit(1) && capacity.admit(1));
        assert!(!capacity.admit(1), "user 1 runs their share");
        assert_eq!(capacity.users_at_share(), [1]);
        assert_eq!(capacity.running(), 2, "a refused admission reserves nothing");
        assert!(capacity.admit(2) && capacity.admit(2));
        assert!(!capacity.admit(3), "the process is full");
        capacity.release(1);
        assert!(capacity.users_at_share() == [2]);
        assert!(capacity.admit(3));
        assert_eq!(capacity.running(), 4);
    }

    #[test]
    fn a_child_run_is_admitted_past_the_bound_up_to_twice_it_and_counted() {
        let capacity = Capacity::new(2, 100);
        assert!(capacity.admit(1) && capacity.admit(1));
        assert!(!capacity.admit(1), "the process is full");
        assert!(capacity.admit_child(1) && capacity.admit_child(1), "children of waiting parents still start");
        assert!(!capacity.admit_child(1), "twice the bound is the most");
        assert_eq!(capacity.running(), 4);
        assert_eq!(capacity.users_at_share(), [1], "the owner's children count against their share");
        for _ in 0..3 {
            capacity.release(1);
        }
        assert_eq!(capacity.running(), 1);
        assert!(capacity.admit(1));
    }

    fn queued(id: i64, owner_id: UserId) -> Execution {
        Execution {
            id,
            workflow_id: 1,
            version: 1,
            owner_id,
            trigger: app::model::Trigger::Api,
            input: app::model::RawJson::from_value(&serde_json::json!({})),
            status: app::model::ExecutionStatus::Running,
            created_at: 0,
            started_at: None,
            finished_at: None,
            error: None,
            parent: None,
        }
    }

    #[test]
    fn a_claimed_batch_keeps_only_what_each_users_share_has_room_for() {
        let capacity = Capacity::new(10, 20);
        assert!(capacity.admit(7));
        let claimed: Vec<Execution> =
            [7, 7, 8, 8, 8].into_iter().enumerate().map(|(i, owner)| queued(i as i64, owner)).collect();
        assert_eq!(capacity.reserve_up_to(5), 5);
        let (kept, over) = capacity.admit_claimed(claimed);
        let owners = |runs: &[Execution]| runs.iter().map(|e| e.owner_id).collect::<Vec<_>>();
        assert_eq!(owners(&kept), [7, 8, 8], "two each at most, one of 7's running already");
        assert_eq!(owners(&over), [7, 8]);
    }
}
