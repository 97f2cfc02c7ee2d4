//! How often webhooks may be called, in this process: per path, so one
//! flooded URL cannot create executions without end, and per owner, so one
//! user's hooks cannot take the queue from everyone else. A refused call is a
//! 429 with `Retry-After` and creates nothing.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};

use app::model::{now_ms, UserId};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::json;

pub struct WebhookLimits {
    by_path: Option<DefaultKeyedRateLimiter<String>>,
    by_owner: Option<DefaultKeyedRateLimiter<UserId>>,
    /// The minute the limiters last dropped idle keys.
    pruned: AtomicI64,
}

/// `per_second` calls a second, with bursts of twice that; 0 is no limit.
fn limiter<K: std::hash::Hash + Eq + Clone>(per_second: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(per_second.saturating_mul(2)).unwrap_or(rate);
    Some(RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
}

impl WebhookLimits {
    pub fn new(per_path_per_second: u32, per_owner_per_second: u32) -> Self {
        Self {
            by_path: limiter(per_path_per_second),
            by_owner: limiter(per_owner_per_second),
            pruned: AtomicI64::new(0),
        }
    }

    /// Counts a call to `path` (owned by `owner`); a 429 response when over a limit.
    pub fn check(&self, path: &str, owner: UserId) -> Result<(), Box<Response>> {
        let minute = now_ms() / 60_000;
        if self.pruned.fetch_max(minute, Ordering::Relaxed) < minute {
            self.by_path.iter().for_each(|l| l.retain_recent());
            self.by_owner.iter().for_each(|l| l.retain_recent());
        }
        if let Some(by_path) = &self.by_path {
            by_path.check_key(&path.to_string()).map_err(|wait| {
                too_many(wait.wait_time_from(DefaultClock::default().now()), "calls to this webhook")
            })?;
        }
        if let Some(by_owner) = &self.by_owner {
            by_owner.check_key(&owner).map_err(|wait| {
                too_many(wait.wait_time_from(DefaultClock::default().now()), "calls to this user's webhooks")
            })?;
        }
        Ok(())
    }
}

fn too_many(wait: std::time::Duration, what: &str) -> Box<Response> {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let body = json!({ "error": {
        "code": "rate_limited",
        "message": format!("too many {what}; try again in {seconds} s"),
    }});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response();
    response.headers_mut().insert("retry-after", HeaderValue::from(seconds.max(1)));
    Box::new(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_beyond_the_burst_are_refused_with_retry_after() {
        let limits = WebhookLimits::new(2, 0);
        for _ in 0..4 {
            assert!(limits.check("a", 1).is_ok());
        }
        let refused = limits.check("a", 1).unwrap_err();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()["retry-after"], "1");
        assert!(limits.check("b", 1).is_ok(), "each path has its own budget");
        let unlimited = WebhookLimits::new(0, 0);
        assert!((0..10_000).all(|_| unlimited.check("a", 1).is_ok()));
    }

    #[test]
    fn one_owner_cannot_exceed_their_budget_across_paths() {
        let limits = WebhookLimits::new(0, 1);
        assert!(limits.check("a", 1).is_ok());
        assert!(limits.check("b", 1).is_ok());
        assert!(limits.check("c", 1).is_err());
        assert!(limits.check("c", 2).is_ok());
    }
}
