//! What the store keeps, as the UI and the engine see it. Timestamps are
//! milliseconds since the Unix epoch (UTC): exact, cheap to index and to compare,
//! and the same on both database backends.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::definition::WorkflowDefinition;

pub type UserId = i64;
pub type WorkflowId = i64;
pub type ExecutionId = i64;

/// The owner of what was made before accounts existed: a built-in user with no
/// password (nobody can sign in as it). The first admin inherits what it owns.
pub const LOCAL_USER_EMAIL: &str = "local@weft.invalid";

/// The shortest password accepted (checked as you type, and by the server).
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub is_admin: bool,
    pub created_at: i64,
    /// When an admin disabled the account (`None`: it is active). A disabled
    /// user cannot sign in, their sessions and keys stop working and their
    /// triggers start nothing; what they own is kept.
    #[serde(default)]
    pub disabled_at: Option<i64>,
}

/// An API key as its owner sees it (the secret is shown once, at creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: i64,
    pub user_id: UserId,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// When the key stops working (`None`: never).
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// A read-only key may only read (GET); anything else is refused with 403.
    #[serde(default)]
    pub read_only: bool,
}

impl ApiKey {
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// What a new API key may do, and for how long.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyLimits {
    /// When it stops working (`None`: never).
    pub expires_at: Option<i64>,
    pub read_only: bool,
}

/// What a webhook path runs: the workflow's current version, as its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTarget {
    pub path: String,
    pub workflow_id: WorkflowId,
    pub owner_id: UserId,
    pub version: i32,
    pub method: String,
    pub mode: super::triggers::WebhookMode,
    pub respond_with: Option<String>,
}

/// A cron schedule of a workflow, with its next firing time once computed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    pub workflow_id: WorkflowId,
    pub owner_id: UserId,
    pub version: i32,
    pub schedule: String,
    pub timezone: String,
    pub next_fire_at: Option<i64>,
}

/// A workflow as lists show it, with its latest execution (if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkflowSummary {
    pub id: WorkflowId,
    pub owner_id: UserId,
    pub name: String,
    pub description: Option<String>,
    pub current_version: i32,
    pub created_at: i64,
    pub updated_at: i64,
    pub last_execution: Option<ExecutionBrief>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ExecutionBrief {
    pub id: ExecutionId,
    pub status: ExecutionStatus,
    pub created_at: i64,
}

/// A workflow with the definition of its current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Workflow {
    pub summary: WorkflowSummary,
    pub definition: WorkflowDefinition,
}

/// One immutable, saved version of a workflow. Executions pin the version they ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowVersion {
    pub workflow_id: WorkflowId,
    pub version: i32,
    pub definition: WorkflowDefinition,
    pub created_at: i64,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// The life of an execution.
    ExecutionStatus {
        Queued => "queued",
        Running => "running",
        // Paused at `wait` nodes until someone resumes it; stored, run nowhere.
        Waiting => "waiting",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl ExecutionStatus {
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// Nothing happens to it until someone acts: it finished, or it waits to be resumed.
    pub fn is_settled(self) -> bool {
        self.is_finished() || self == Self::Waiting
    }
}

text_enum!(
    /// The life of one node within an execution.
    NodeStatus {
        Queued => "queued",
        Running => "running",
        // A `wait` node, until it is resumed or times out.
        Waiting => "waiting",
        Succeeded => "succeeded",
        Failed => "failed",
        Skipped => "skipped",
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// What started an execution.
    Trigger {
        Manual => "manual",
        Api => "api",
        Webhook => "webhook",
        Cron => "cron",
        Cli => "cli",
        // An error workflow's run, started by a failed run (see `on_failure`).
        Failure => "failure",
        // A child run, started by a `workflow` node of its parent run.
        Workflow => "workflow",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Execution {
    pub id: ExecutionId,
    pub workflow_id: WorkflowId,
    pub version: i32,
    pub owner_id: UserId,
    pub trigger: Trigger,
    /// Any JSON value.
    #[cfg_attr(feature = "ssr", schema(value_type = Value))]
    pub input: RawJson,
    pub status: ExecutionStatus,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    /// For a run started by a `workflow` node: the run and node that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRun>,
}

/// The run, and node of it, that started a child run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct ParentRun {
    pub execution: ExecutionId,
    pub node: String,
    /// How many runs up the chain of parents goes (a child of a top-level run: 1).
    pub depth: i32,
}

/// JSON kept as its text. An execution's input is stored, listed and sent on
/// as it is: a history page copies each input through instead of parsing it
/// into a tree and encoding it again (that was ~40 % of the page's CPU with
/// webhook inputs). Whoever needs the values asks for `to_value`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawJson(Box<serde_json::value::RawValue>);

impl RawJson {
    /// Checks that `text` is JSON (without building a tree) and keeps it.
    pub fn from_text(text: String) -> Result<Self, serde_json::Error> {
        serde_json::value::RawValue::from_string(text).map(Self)
    }

    pub fn from_value(value: &Value) -> Self {
        // Encoding a `Value` cannot fail: its keys are strings.
        Self(serde_json::value::to_raw_value(value).unwrap_or_else(|_| Self::null()))
    }

    fn null() -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string("null".to_owned()).expect("`null` is JSON")
    }

    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// The values. The text is valid JSON, checked when it was made.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

/// Equal when they hold the same values: spacing and key order may differ
/// (PostgreSQL's `jsonb` returns keys in its own order).
impl PartialEq for RawJson {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.to_value() == other.to_value()
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

/// The recorded state of one node in one execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRun {
    pub execution_id: ExecutionId,
    pub node_id: String,
    pub status: NodeStatus,
    pub attempt: i32,
    pub input: Option<Value>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl NodeRun {
    /// A node that has not started yet.
    pub fn queued(execution_id: ExecutionId, node_id: &str) -> Self {
        NodeRun {
            execution_id,
            node_id: node_id.to_string(),
            status: NodeStatus::Queued,
            attempt: 0,
            input: None,
            output: None,
            error: None,
            started_at: None,
            finished_at: None,
        }
    }
}

/// One ended item of a node with `for_each`, recorded as it ends so that a
/// run resumed elsewhere (after a crash or a restart) keeps it and runs only
/// the items that had not ended.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeItem {
    pub execution_id: ExecutionId,
    pub node_id: String,
    /// The item's position in the list.
    pub index: usize,
    /// The item's output; `{"error": …}` for an item that failed under
    /// `on_error: continue` (`failed` is then set).
    pub output: Value,
    pub failed: bool,
    pub attempt: i32,
}

/// A page of a keyset-paginated list. `next` is an opaque cursor for the page
/// after this one; `None` on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The position after which a page starts: the sort key of the last row seen.
/// Lists sort newest first by (time, id), so the pair is unique and stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: i64,
    pub id: i64,
}

impl Cursor {
    pub fn encode(self) -> String {
        format!("{}.{}", self.at, self.id)
    }

    pub fn decode(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a valid page cursor");
        let (at, id) = text.split_once('.').ok_or_else(bad)?;
        Ok(Self { at: at.parse().map_err(|_| bad())?, id: id.parse().map_err(|_| bad())? })
    }
}

/// Which rows a list may show: one user's, or everyone's (admins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    Owner(UserId),
    Everyone,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecutionFilter {
    pub workflow_id: Option<WorkflowId>,
    pub owner_id: Option<UserId>,
    pub status: Option<ExecutionStatus>,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// How many executions began in one hour with one status (the history chart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HourCount {
    /// The hour's start, ms since the epoch (UTC).
    pub hour: i64,
    pub status: ExecutionStatus,
    pub count: i64,
}

/// A built-in or user-published template in the marketplace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct MarketplaceTemplate {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub definition: WorkflowDefinition,
    pub author_id: Option<UserId>,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_encoding() {
        let cursor = Cursor { at: 1_700_000_000_123, id: 42 };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn a_garbled_cursor_is_an_error_not_a_panic() {
        assert!(Cursor::decode("yesterday").is_err());
        assert!(Cursor::decode("1.x").is_err());
    }

    #[test]
    fn statuses_round_trip_through_text() {
        for status in NodeStatus::ALL {
            assert_eq!(NodeStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(ExecutionStatus::parse("exploded"), None);
    }

    #[test]
    fn raw_json_passes_its_text_through_and_compares_by_value() {
        let stored = r#"{"b":[1,2],"a":"x"}"#;
        let input = RawJson::from_text(stored.to_owned()).unwrap();
        // Sent on exactly as stored: no parse, no re-encoding, key order kept.
        assert_eq!(serde_json::to_string(&input).unwrap(), stored);
        assert_eq!(input.to_value(), serde_json::json!({"a": "x", "b": [1, 2]}));
        // PostgreSQL's jsonb gives keys back in its own order and spacing.
        assert_eq!(input, RawJson::from_text(r#"{"a": "x", "b": [1, 2]}"#.to_owned()).unwrap());
        assert_ne!(input, RawJson::from_value(&serde_json::json!({"a": "y", "b": [1, 2]})));
        assert!(RawJson::from_text("{not json".to_owned()).is_err());
        let inside: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&serde_json::json!({"input": input})).unwrap()).unwrap();
        assert_eq!(inside["input"]["b"][1], 2);
    }
}

/// A `wait` node waiting to be resumed (see `NodeConfig::Wait`).
#[derive(Debug, Clone, PartialEq)]
pub struct Wait {
    pub execution_id: ExecutionId,
    pub node_id: String,
    pub created_at: i64,
    /// When it times out; `None`: never.
    pub deadline: Option<i64>,
    pub on_timeout: super::node_config::OnTimeout,
}

/// How a wait ends: the node's result.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitEnd {
    /// Someone resumed it: what they sent is the node's output.
    Resumed(Value),
    /// Nobody resumed it in time.
    TimedOut,
}
