//! When to ask a provider again: a rate limit (429) or a server error (5xx)
//! is asked again after the wait the provider names in `Retry-After`, or a
//! short growing backoff when it names none, a few times and never for long.
//! A wait longer than the bound is not waited for: the next provider (a
//! fallback) is asked at once, or the node fails saying how long the
//! provider asked for.

use std::time::{Duration, SystemTime};

/// Attempts per provider: the first and two more.
pub const ATTEMPTS: u32 = 3;

/// The longest single wait before asking the same provider again.
pub const MAX_WAIT: Duration = Duration::from_secs(10);

/// The wait before the first repeat when the provider names none; it doubles.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);

/// A failed call to one provider.
#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub message: String,
    /// Worth asking the same provider again (429, 5xx, a broken connection),
    /// after the wait it named, if any.
    pub retry: Option<Option<Duration>>,
}

impl CallError {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self { message: message.into(), retry: None }
    }

    pub fn transient(message: impl Into<String>, after: Option<Duration>) -> Self {
        Self { message: message.into(), retry: Some(after) }
    }

    /// The error for an HTTP status the provider answered with.
    pub fn from_status(status: u16, retry_after: Option<&str>, body: &str) -> Self {
        let excerpt: String = body.chars().take(300).collect();
        let message = format!("answered {status}: {excerpt}");
        if status == 429 || status >= 500 {
            Self::transient(message, retry_after.and_then(|value| parse_retry_after(value, SystemTime::now())))
        } else {
            Self::fatal(message)
        }
    }
}

/// What to do after `attempt` (1-based) failed with `error`: wait this long
/// and ask again, or give up on this provider (None).
pub fn next_wait(error: &CallError, attempt: u32) -> Option<Duration> {
    let named = error.retry?;
    if attempt >= ATTEMPTS {
        return None;
    }
    let wait = named.unwrap_or_else(|| FIRST_BACKOFF * 2u32.pow(attempt - 1));
    (wait <= MAX_WAIT).then_some(wait)
}

/// `Retry-After` as seconds (`"2"`, `"1.5"` as some providers send) or an
/// HTTP date; None for anything else.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(Duration::from_millis(1500)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(Duration::from_secs(30)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_asked_again_and_never_for_long() {
        let limited = CallError::from_status(429, Some("1"), "slow down");
        assert_eq!(next_wait(&limited, 1), Some(Duration::from_secs(1)));
        assert_eq!(next_wait(&limited, ATTEMPTS), None, "a bounded number of attempts");
        let patient = CallError::from_status(429, Some("60"), "");
        assert_eq!(next_wait(&patient, 1), None, "a wait past the bound goes to the next provider");
        let down = CallError::from_status(503, None, "");
        assert_eq!(next_wait(&down, 1), Some(Duration::from_millis(250)));
        assert_eq!(next_wait(&down, 2), Some(Duration::from_millis(500)));
        let refused = CallError::from_status(401, Some("1"), "bad key");
        assert_eq!(next_wait(&refused, 1), None);
        assert_eq!(refused.message, "answered 401: bad key");
    }
}
