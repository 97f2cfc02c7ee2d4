//! The one clock: every stored time is milliseconds since the Unix epoch.

/// Now, in milliseconds since the Unix epoch. Server-side only (a browser
/// without `std::time` support would panic here).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
