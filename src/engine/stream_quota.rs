//! How many event streams one user may hold open in this process: each one
//! watching a run in another process reads the database four times a second,
//! so without a cap one user's open tabs (or a script) could load it for all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::error::{AppError, AppResult};
use app::model::UserId;

pub(super) struct StreamQuota {
    per_user: usize,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
}

/// One open stream; closing it (dropping this) frees its place.
pub struct StreamPermit {
    user: UserId,
    open: Arc<Mutex<HashMap<UserId, usize>>>,
}

impl StreamQuota {
    pub(super) fn new(per_user: usize) -> Self {
        Self { per_user: per_user.max(1), open: Arc::default() }
    }

    pub(super) fn open(&self, user: UserId) -> AppResult<StreamPermit> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(user).or_default();
        if *count >= self.per_user {
            return Err(AppError::RateLimited(format!(
                "{} event streams are open already, the most one user may have; close one and try again",
                self.per_user
            )));
        }
        *count += 1;
        Ok(StreamPermit { user, open: self.open.clone() })
    }
}

impl Drop for StreamPermit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_may_hold_only_so_many_streams_and_closing_one_frees_its_place() {
        let quota = StreamQuota::new(2);
        let first = quota.open(1).unwrap();
        let _second = quota.open(1).unwrap();
        assert!(matches!(quota.open(1), Err(AppError::RateLimited(_))));
        assert!(quota.open(2).is_ok(), "other users are not affected");
        drop(first);
        assert!(quota.open(1).is_ok());
    }
}
