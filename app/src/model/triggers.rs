//! Triggers a workflow declares in its definition: webhooks and cron schedules.
//!
//! ```json
//! "triggers": [
//!   {"type": "webhook", "path": "summarize", "method": "POST", "mode": "sync", "respond_with": "sum"},
//!   {"type": "cron", "schedule": "*/5 * * * *", "timezone": "Europe/Paris"}
//! ]
//! ```
//! Shape is checked here (shared with the editor); the cron expression and the
//! time zone are checked by the server, which owns the calendar data.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum TriggerDefinition {
    Webhook(WebhookTrigger),
    Cron(CronTrigger),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTrigger {
    /// Served at `/hooks/{path}`.
    pub path: String,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default)]
    pub mode: WebhookMode,
    /// The node whose output answers a synchronous call; default: the last node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub respond_with: Option<String>,
    /// What a caller must prove; without it anyone who knows the path may call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<WebhookAuth>,
}

/// How a webhook checks its caller, each against one of the owner's
/// credentials (or a shared one). A call that fails the check gets 401 and
/// starts nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum WebhookAuth {
    /// The caller sends the credential as an `http` node would: a bearer
    /// token, basic auth, a header, or a query parameter.
    Credential { credential: String },
    /// An HMAC-SHA256 signature, in hex, of the body (GitHub:
    /// `X-Hub-Signature-256: sha256=…`), or of `signed_payload` with
    /// `{timestamp}` and `{body}` filled in (Slack: `v0:{timestamp}:{body}`),
    /// keyed with the credential's secret. With `timestamp_header`, a
    /// timestamp (seconds) further than `tolerance_secs` from now is refused:
    /// a captured call cannot be replayed later.
    Hmac {
        credential: String,
        header: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp_header: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signed_payload: Option<String>,
        #[serde(default = "five_minutes")]
        tolerance_secs: u64,
    },
    /// Stripe's `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of `{t}.{body}`).
    Stripe {
        credential: String,
        #[serde(default = "five_minutes")]
        tolerance_secs: u64,
    },
}

fn five_minutes() -> u64 {
    300
}

impl WebhookAuth {
    pub fn credential(&self) -> &str {
        match self {
            WebhookAuth::Credential { credential }
            | WebhookAuth::Hmac { credential, .. }
            | WebhookAuth::Stripe { credential, .. } => credential,
        }
    }

    /// What serde cannot check; messages name the field.
    fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Err(message) = crate::model::credentials::check_credential_name(self.credential()) {
            problems.push(format!("auth.credential: {message}"));
        }
        let tolerance = match self {
            WebhookAuth::Hmac { header, timestamp_header, signed_payload, tolerance_secs, .. } => {
                let header_name = |h: &str| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                if !header_name(header) {
                    problems.push(format!("auth.header `{header}` is not a header name"));
                }
                if let Some(name) = timestamp_header.as_deref().filter(|h| !header_name(h)) {
                    problems.push(format!("auth.timestamp_header `{name}` is not a header name"));
                }
                match (signed_payload, timestamp_header) {
                    (Some(payload), _) if !payload.contains("{body}") => {
                        problems.push("auth.signed_payload must contain {body}".into())
                    }
                    (Some(payload), None) if payload.contains("{timestamp}") => {
                        problems.push("auth.signed_payload uses {timestamp}: set auth.timestamp_header too".into())
                    }
                    _ => {}
                }
                Some(*tolerance_secs)
            }
            WebhookAuth::Stripe { tolerance_secs, .. } => Some(*tolerance_secs),
            WebhookAuth::Credential { .. } => None,
        };
        if let Some(secs) = tolerance.filter(|s| !(1..=86_400).contains(s)) {
            problems.push(format!("auth.tolerance_secs must be 1 to 86400, not {secs}"));
        }
        problems
    }
}

fn post() -> String {
    "POST".into()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookMode {
    /// Answer with the workflow's output when the run ends.
    #[default]
    Sync,
    /// Answer 202 with the execution id at once.
    Async,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CronTrigger {
    /// Five fields: minute hour day-of-month month day-of-week.
    pub schedule: String,
    #[serde(default = "utc")]
    pub timezone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// The length of a webhook's id: 22 letters and digits, about 131 bits, so
/// an address cannot be guessed or claimed by someone else.
pub const HOOK_ID_LEN: usize = 22;

/// Whether a stored webhook address serves the trigger with this path:
/// `{id}/{path}`, or the bare path of a webhook saved before ids existed.
pub fn hook_address_matches(address: &str, path: &str) -> bool {
    address == path
        || address
            .strip_suffix(path)
            .and_then(|prefix| prefix.strip_suffix('/'))
            .is_some_and(|id| id.len() == HOOK_ID_LEN && id.chars().all(|c| c.is_ascii_alphanumeric()))
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Parses and checks the shape of each trigger; messages name the trigger.
pub fn parse_triggers(raw: &[serde_json::Value], node_ids: &[&str]) -> Result<Vec<TriggerDefinition>, Vec<String>> {
    let mut triggers = Vec::new();
    let mut errors = Vec::new();
    for (i, value) in raw.iter().enumerate() {
        let label = format!("trigger #{}", i + 1);
        match serde_json::from_value::<TriggerDefinition>(value.clone()) {
            Err(e) => errors.push(format!("{label}: {e}")),
            Ok(TriggerDefinition::Webhook(hook)) => {
                let path_ok = !hook.path.is_empty()
                    && hook.path.len() <= 100
                    && hook.path.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
                    && !hook.path.starts_with('/')
                    && !hook.path.contains("//");
                if !path_ok {
                    errors.push(format!(
                        "{label}: webhook path `{}` must be 1–100 letters, digits, `-`, `_` or inner `/`",
                        hook.path
                    ));
                }
                if !METHODS.contains(&hook.method.as_str()) {
                    errors.push(format!(
                        "{label}: method must be one of {}, not `{}`",
                        METHODS.join(", "),
                        hook.method
                    ));
                }
                if let Some(node) = &hook.respond_with {
                    if !node_ids.contains(&node.as_str()) {
                        errors.push(format!("{label}: respond_with names unknown node `{node}`"));
                    }
                }
                if let Some(auth) = &hook.auth {
                    errors.extend(auth.check().into_iter().map(|problem| format!("{label}: {problem}")));
                }
                triggers.push(TriggerDefinition::Webhook(hook));
            }
            Ok(TriggerDefinition::Cron(cron)) => {
                if !matches!(cron.schedule.split_whitespace().count(), 5 | 6) {
                    errors.push(format!(
                        "{label}: schedule `{}` needs five fields (minute hour day month weekday), \
                         or six with seconds first",
                        cron.schedule
                    ));
                } else {
                    #[cfg(feature = "ssr")]
                    if let Err(message) = check_schedule(&cron, min_schedule_interval()) {
                        errors.push(format!("{label}: {message}"));
                    }
                }
                triggers.push(TriggerDefinition::Cron(cron));
            }
        }
    }
    if errors.is_empty() {
        Ok(triggers)
    } else {
        Err(errors)
    }
}

/// The shortest interval between two firings of one schedule (a minute unless
/// the instance sets another at start): a schedule that fires every second
/// would take the queue from everyone else.
#[cfg(feature = "ssr")]
static MIN_SCHEDULE_INTERVAL: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();

#[cfg(feature = "ssr")]
pub const DEFAULT_MIN_SCHEDULE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// Sets the instance's minimum interval; the first call wins (done once at start).
#[cfg(feature = "ssr")]
pub fn set_min_schedule_interval(interval: std::time::Duration) {
    let _ = MIN_SCHEDULE_INTERVAL.set(interval);
}

#[cfg(feature = "ssr")]
pub fn min_schedule_interval() -> std::time::Duration {
    MIN_SCHEDULE_INTERVAL.get().copied().unwrap_or(DEFAULT_MIN_SCHEDULE_INTERVAL)
}

/// A schedule is valid when it parses, fires, and never fires twice within
/// the minimum interval (checked over its next 200 firings, which covers
/// every pattern of a minute's seconds and an hour's minutes).
#[cfg(feature = "ssr")]
fn check_schedule(cron: &CronTrigger, min: std::time::Duration) -> Result<(), String> {
    let min = chrono::Duration::from_std(min).unwrap_or(chrono::Duration::MAX);
    let mut previous = next_fire_time(cron, chrono::Utc::now())?;
    for _ in 0..200 {
        let Ok(next) = next_fire_time(cron, previous) else { return Ok(()) };
        if next - previous < min {
            return Err(format!(
                "schedule `{}` fires {} s apart; this instance allows at most one firing every {} s",
                cron.schedule,
                (next - previous).num_seconds(),
                min.num_seconds()
            ));
        }
        previous = next;
    }
    Ok(())
}

/// The first firing time of a schedule strictly after `after`, in its time zone.
/// Server-only: the browser does not carry the time-zone database.
#[cfg(feature = "ssr")]
pub fn next_fire_time(
    cron: &CronTrigger,
    after: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let zone: chrono_tz::Tz = cron.timezone.parse().map_err(|_| format!("unknown time zone `{}`", cron.timezone))?;
    let pattern = croner::Cron::new(&cron.schedule)
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("schedule `{}` is not a valid cron expression: {e}", cron.schedule))?;
    let next = pattern
        .find_next_occurrence(&after.with_timezone(&zone), false)
        .map_err(|e| format!("schedule `{}` never fires: {e}", cron.schedule))?;
    Ok(next.with_timezone(&chrono::Utc))
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn an_address_serves_its_path_with_an_id_or_bare() {
        let id = "a".repeat(HOOK_ID_LEN);
        assert!(hook_address_matches(&format!("{id}/orders/new"), "orders/new"));
        assert!(hook_address_matches("orders/new", "orders/new"), "saved before ids");
        assert!(!hook_address_matches(&format!("{id}/orders/new"), "new"));
        assert!(!hook_address_matches("short/orders", "orders"));
    }
    use chrono::TimeZone;

    #[test]
    fn schedules_faster_than_the_minimum_interval_are_refused() {
        let minute = std::time::Duration::from_secs(60);
        let cron = |schedule: &str| CronTrigger { schedule: schedule.into(), timezone: "UTC".into() };
        let error = check_schedule(&cron("* * * * * *"), minute).unwrap_err();
        assert_eq!(error, "schedule `* * * * * *` fires 1 s apart; this instance allows at most one firing every 60 s");
        // Twice within one minute, once an hour: the short gap is found.
        assert!(check_schedule(&cron("0,30 0 * * * *"), minute).is_err());
        assert!(check_schedule(&cron("*/20 * * * * *"), std::time::Duration::from_secs(10)).is_ok());
        for fine in ["* * * * *", "0 9 * * 1-5", "0 */5 * * * *"] {
            assert!(check_schedule(&cron(fine), minute).is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_next_firing_time_follows_the_time_zone() {
        let cron = CronTrigger { schedule: "0 9 * * *".into(), timezone: "Europe/Paris".into() };
        let after = chrono::Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        // 09:00 in Paris in summer is 07:00 UTC, the next day.
        assert_eq!(next_fire_time(&cron, after).unwrap(), chrono::Utc.with_ymd_and_hms(2026, 7, 2, 7, 0, 0).unwrap());
    }

    #[test]
    fn bad_zones_and_expressions_are_named() {
        let now = chrono::Utc::now();
        let zone = CronTrigger { schedule: "* * * * *".into(), timezone: "Mars/Olympus".into() };
        assert_eq!(next_fire_time(&zone, now).unwrap_err(), "unknown time zone `Mars/Olympus`");
        let expr = CronTrigger { schedule: "61 * * * *".into(), timezone: "UTC".into() };
        assert!(next_fire_time(&expr, now)
            .unwrap_err()
            .starts_with("schedule `61 * * * *` is not a valid cron expression"));
    }
}
