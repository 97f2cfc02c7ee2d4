//! The workflow definition: the JSON users import, export and send to the API.
//!
//! The definition is kept close to what the user wrote: node configs stay raw JSON
//! here and are checked (and typed) by [`crate::model::validation`]. That lets the
//! editor hold a half-finished workflow, and lets validation name the exact node
//! and field that is wrong instead of failing the whole parse.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A whole workflow as users write it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct WorkflowDefinition {
    #[cfg_attr(feature = "ssr", schema(min_length = 1))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ssr", schema(min_items = 1))]
    pub nodes: Vec<NodeDefinition>,
    #[serde(default)]
    pub edges: Vec<Edge>,
    /// The input its runs expect: a list of fields (see `input.rs`). It
    /// pre-fills the run form and says what an input lacks; it refuses nothing.
    /// Kept raw, so a mistake in it is a validation message naming the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Vec<super::input::InputField>>))]
    pub input: Option<Value>,
    /// Webhooks and schedules that start this workflow (see `triggers.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Value>,
    /// The workflow to run when a run of this one fails (see `on_failure.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<super::on_failure::OnFailure>))]
    pub on_failure: Option<Value>,
    /// Top-level fields this version does not know; kept so that a definition
    /// written by a newer Weft survives a round trip through an older one.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NodeDefinition {
    #[cfg_attr(feature = "ssr", schema(min_length = 1))]
    pub id: String,
    /// The node kind (`http`, `llm`, `agent`, `template`, `code`, `condition`, `switch`,
    /// `merge`, `delay`, `wait`, `workflow`), kept as text so that an unknown
    /// kind is a validation message rather than a parse failure.
    #[serde(rename = "type")]
    #[cfg_attr(feature = "ssr", schema(min_length = 1))]
    pub kind: String,
    /// The kind's settings, e.g. for `workflow` (runs another of the owner's
    /// workflows as a child run): `{"workflow": 12, "version"?: 3, "input"?:
    /// "{'row': item}", "wait"?: true}`; for `llm`: `{"prompt", "provider"?: <an
    /// llm credential's name; none: the instance's provider>, "model"?,
    /// "system"?, "temperature"?, "max_tokens"?, "cache"?, "schema"?: <JSON
    /// Schema: the output is then the parsed answer>, "fallbacks"?: [{"provider"?,
    /// "model"?}] (at most 3, asked in order when the one before fails)}`; for
    /// `agent`: `{"prompt", "system"?, "provider"?, "model"?, "fallbacks"?,
    /// "temperature"?, "max_tokens"?, "max_steps"?: 1..50 (default 10),
    /// "tools": [{"name", "description"?, "input_schema"?: <JSON Schema of an
    /// object>, and "workflow": <id> ("version"?) or "http": <an http node's
    /// config; templates read `args`>}]}`.
    /// Unknown fields are refused on save.
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub config: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<Value>,
    /// An expression giving a list: the node then runs once per item, with
    /// `item` and `index` in its templates, and its output is the list of the
    /// items' outputs (see `ForEach`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<String>, example = "input.rows"))]
    pub for_each: Option<Value>,
    /// With `for_each`: how many items run at once (1 to 50; 8 when left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<u32>, minimum = 1, maximum = 50))]
    pub concurrency: Option<Value>,
    /// An output to build against in the editor, in place of the node's
    /// recorded output: trying a downstream node reads it, so the real service
    /// is not called again. Runs never read it (at most 256 KiB of JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(value_type = Option<Object>))]
    pub pinned: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The most JSON a node's pinned output may hold: it is saved with every version.
pub const MAX_PINNED_BYTES: usize = 256 * 1024;

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// Where the editor draws a node. Optional: the editor lays out nodes without one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Position {
    pub x: f64,
    pub y: f64,
}

/// A dependency: `to` runs after `from`. Edges leaving a `condition` node carry
/// the branch (`"true"` or `"false"`) on which they are taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct Edge {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl WorkflowDefinition {
    /// Parses a definition from JSON text. Syntax errors carry line and column.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("the definition is not valid JSON: {e}"))
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a definition always serializes")
    }

    /// The typed triggers; definitions that passed validation always parse.
    pub fn typed_triggers(&self) -> Vec<super::triggers::TriggerDefinition> {
        self.triggers.iter().filter_map(|t| serde_json::from_value(t.clone()).ok()).collect()
    }

    /// The declared input fields; none when there is no declaration (or, for
    /// a definition that did not pass validation, an invalid one).
    pub fn input_fields(&self) -> Vec<super::input::InputField> {
        self.input.as_ref().and_then(|declared| super::input::parse_input_fields(declared).ok()).unwrap_or_default()
    }

    pub fn node(&self, id: &str) -> Option<&NodeDefinition> {
        self.nodes.iter().find(|n| n.id == id)
    }
}
