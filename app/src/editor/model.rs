//! The editor's plain logic, free of signals: default configs, fresh node ids,
//! where a new node goes, the form fields of each node kind and of the
//! settings every node has (retry, timeout, on error).

use serde_json::{json, Value};

use crate::graph::{NODE_HEIGHT, NODE_WIDTH};
use crate::model::{NodeDefinition, Position, WorkflowDefinition};

/// Room between a new node and the one it is placed beside: enough for the
/// dots, the "+" buttons and an edge with its arrow.
const GAP_X: f64 = 70.0;
const GAP_Y: f64 = 32.0;

/// A new node's config: valid as it is, so the graph stays valid while building.
pub fn default_config(kind: &str) -> Value {
    match kind {
        "http" => json!({"method": "GET", "url": "https://example.com/"}),
        "llm" => json!({"model": "", "prompt": "Summarize: {{ input | tojson }}"}),
        "agent" => {
            json!({"model": "", "prompt": "Answer the question: {{ input | tojson }}", "tools": [], "max_steps": 10})
        }
        "template" => json!({"template": "Hello {{ input.name }}"}),
        "code" => json!({"source": "return input;"}),
        "condition" => json!({"expr": "input.ok"}),
        "switch" => json!({"cases": [{"name": "urgent", "expr": "input.priority == 'high'"}]}),
        "delay" => json!({"ms": 1000}),
        "wait" => json!({"timeout_ms": 86_400_000, "on_timeout": "fail"}),
        // The one kind that starts invalid: which workflow to call is the
        // author's choice, and validation asks for it.
        "workflow" => json!({"workflow": 0, "wait": true}),
        _ => json!({}),
    }
}

/// `kind_1`, `kind_2`, …: the first id of that form not taken.
pub fn fresh_id<'a>(kind: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    (1..).map(|n| format!("{kind}_{n}")).find(|id| !taken.clone().any(|t| t == id)).expect("an id is always free")
}

/// Renames node `old` to `new`: its id, the edges, a webhook's `respond_with`,
/// and every reference to it in the other nodes' configs (`nodes.old…`,
/// `nodes["old"]`, `nodes['old']`), so the workflow keeps working.
pub fn rename_node(definition: &mut WorkflowDefinition, old: &str, new: &str) -> Result<(), String> {
    let new = new.trim();
    if new.is_empty() {
        return Err("a node needs an id".into());
    }
    if !new.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || new.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!(
            "`{new}`: use letters, digits and _ (not first a digit), so templates can say nodes.{new}"
        ));
    }
    if new != old && definition.nodes.iter().any(|n| n.id == new) {
        return Err(format!("another node is already called `{new}`"));
    }
    for node in &mut definition.nodes {
        if node.id == old {
            node.id = new.to_string();
        }
        rename_in_value(&mut node.config, old, new);
    }
    for edge in &mut definition.edges {
        for end in [&mut edge.from, &mut edge.to] {
            if end == old {
                *end = new.to_string();
            }
        }
    }
    for trigger in &mut definition.triggers {
        if let Some(answer) = trigger.get_mut("respond_with").filter(|v| v.as_str() == Some(old)) {
            *answer = Value::String(new.to_string());
        }
    }
    Ok(())
}

fn rename_in_value(value: &mut Value, old: &str, new: &str) {
    match value {
        Value::String(text) => *text = rename_in_text(text, old, new),
        Value::Array(items) => items.iter_mut().for_each(|v| rename_in_value(v, old, new)),
        Value::Object(fields) => fields.values_mut().for_each(|v| rename_in_value(v, old, new)),
        _ => {}
    }
}

/// `nodes.old` (not `nodes.older`), `nodes["old"]` and `nodes['old']` in `text`.
fn rename_in_text(text: &str, old: &str, new: &str) -> String {
    let mut text = text.replace(&format!("nodes[\"{old}\"]"), &format!("nodes[\"{new}\"]"));
    text = text.replace(&format!("nodes['{old}']"), &format!("nodes['{new}']"));
    let dotted = format!("nodes.{old}");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find(&dotted) {
        let after = &rest[at + dotted.len()..];
        let before_ok = rest[..at].chars().next_back().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let after_ok = after.chars().next().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        out.push_str(&rest[..at]);
        if before_ok && after_ok {
            out.push_str("nodes.");
            out.push_str(new);
        } else {
            out.push_str(&dotted);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Where a new node goes: right of `anchor` by a full node width and a gap,
/// moved down the column while that spot would cover a node (or its dots).
pub fn free_spot(anchor: Position, taken: &[Position]) -> Position {
    let mut spot = Position { x: anchor.x + NODE_WIDTH + GAP_X, y: anchor.y };
    while taken.iter().any(|p| too_close(*p, spot)) {
        spot.y += NODE_HEIGHT + GAP_Y;
    }
    spot
}

/// Whether two nodes at `a` and `b` would overlap or touch each other's dots.
pub fn too_close(a: Position, b: Position) -> bool {
    (a.x - b.x).abs() < NODE_WIDTH + GAP_X / 2.0 && (a.y - b.y).abs() < NODE_HEIGHT + GAP_Y / 2.0
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    Text,
    TextArea,
    Number,
    Select(&'static [&'static str]),
    Check,
    /// A JSON value typed as text (http headers): kept as the text while it
    /// does not parse, so validation names the problem and saving waits.
    Json,
    /// The name of one of the user's credentials, picked from a list.
    Credential,
    /// An LLM provider: one of the user's `llm` credentials, or none (the instance's).
    Provider,
    /// A switch's cases: a name and an expression each, in order.
    Cases,
    /// One of the viewer's workflows, picked by name (stored as its id).
    Workflow,
}

/// A field of a node kind's form: (config key, label, type, optional: removed when empty).
pub type Field = (&'static str, &'static str, FieldType, bool);

pub fn fields(kind: &str) -> &'static [Field] {
    use FieldType::*;
    match kind {
        "http" => &[
            ("method", "Method", Select(&["GET", "POST", "PUT", "PATCH", "DELETE"]), false),
            ("url", "URL (template)", Text, false),
            ("credential", "Credential (sent with the request; its value is never shown)", Credential, true),
            ("headers", "Headers (JSON object: name → template)", Json, true),
            ("body", "Body (template)", TextArea, true),
            ("timeout_ms", "Request timeout (ms)", Number, true),
        ],
        "llm" => &[
            ("provider", "Provider", Provider, true),
            ("model", "Model (empty: the provider's default model)", Text, false),
            ("system", "System prompt", TextArea, true),
            ("prompt", "Prompt (template)", TextArea, false),
            ("temperature", "Temperature", Number, true),
            ("max_tokens", "Max tokens", Number, true),
            ("cache", "Answer identical requests from the cache", Check, false),
            ("schema", "Answer schema (JSON Schema; the output is then the parsed answer)", Json, true),
            (
                "fallbacks",
                "Fallbacks (JSON list, asked in order when the provider fails: [{\"provider\": \"name\", \"model\": \"…\"}])",
                Json,
                true,
            ),
        ],
        "agent" => &[
            ("provider", "Provider", Provider, true),
            ("model", "Model (empty: the provider's default model)", Text, false),
            ("system", "System prompt", TextArea, true),
            ("prompt", "Task (template)", TextArea, false),
            (
                "tools",
                "Tools (JSON list: [{\"name\", \"description\", \"input_schema\", and \"workflow\": id or \"http\": {\"method\", \"url\"} whose templates read `args`}])",
                Json,
                false,
            ),
            ("max_steps", "Most model turns (the node fails if the model still calls tools)", Number, false),
            ("temperature", "Temperature", Number, true),
            ("max_tokens", "Max tokens per turn", Number, true),
            ("fallbacks", "Fallbacks (JSON list: [{\"provider\": \"name\", \"model\": \"…\"}])", Json, true),
        ],
        "template" => &[("template", "Template", TextArea, false), ("json", "Parse the result as JSON", Check, false)],
        "code" => &[(
            "source",
            "JavaScript (function body; `input`, `nodes` in scope; `item`, `index` per item)",
            TextArea,
            false,
        )],
        "condition" => &[("expr", "Expression", Text, false)],
        "switch" => &[("cases", "Cases", Cases, false)],
        "delay" => &[("ms", "Wait (ms)", Number, false)],
        "wait" => &[
            ("timeout_ms", "Give up after (ms; empty: wait until resumed)", Number, true),
            ("on_timeout", "When nobody answers in time", Select(&["fail", "continue"]), false),
        ],
        "workflow" => &[
            ("workflow", "Workflow to run", Workflow, false),
            ("version", "Version (empty: its current version)", Number, true),
            ("input", "Its input (an expression; empty: `item` per item, else this run's input)", Text, true),
            ("wait", "Wait for its result (else start it and go on)", Check, false),
        ],
        _ => &[],
    }
}

/// The config after a form field changed: numbers are parsed, empty optional
/// fields are removed (so the defaults apply).
pub fn set_field(config: &mut Value, field: &Field, text: &str) {
    let (key, _, kind, optional) = *field;
    let Some(object) = config.as_object_mut() else { return };
    if optional && text.trim().is_empty() {
        object.remove(key);
        return;
    }
    let value = match kind {
        FieldType::Number => match text.trim().parse::<f64>() {
            Ok(n) if n.fract() == 0.0 && n >= 0.0 => json!(n as u64),
            Ok(n) => json!(n),
            Err(_) => Value::String(text.to_string()), // validation names the problem
        },
        FieldType::Check => Value::Bool(text == "true"),
        FieldType::Json => serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string())),
        _ => Value::String(text.to_string()),
    };
    object.insert(key.to_string(), value);
}

/// What is wrong with the text of a headers field, as it is typed: `None` when
/// it is empty or an object whose values are all text.
pub fn headers_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    match serde_json::from_str::<Value>(text) {
        Err(error) => Some(format!("not JSON yet: {error}")),
        Ok(Value::Object(map)) => map
            .iter()
            .find(|(_, value)| !value.is_string())
            .map(|(name, _)| format!("the value of `{name}` must be text (a template), in quotes")),
        Ok(_) => Some(r#"headers are an object, e.g. {"Authorization": "Bearer {{ input.token }}"}"#.to_string()),
    }
}

/// What is wrong with the text of a JSON field, as it is typed: an http
/// node's headers, an llm node's answer schema or fallbacks.
pub fn json_field_problem(key: &str, text: &str) -> Option<String> {
    match key {
        "headers" => headers_problem(text),
        _ if text.trim().is_empty() => None,
        "fallbacks" => match serde_json::from_str::<Value>(text) {
            Err(error) => Some(format!("not JSON yet: {error}")),
            Ok(Value::Array(list)) if list.iter().all(Value::is_object) => None,
            Ok(_) => {
                Some(r#"fallbacks are a list of objects, e.g. [{"provider": "ollama", "model": "llama3.2"}]"#.into())
            }
        },
        "tools" => match serde_json::from_str::<Value>(text) {
            Err(error) => Some(format!("not JSON yet: {error}")),
            Ok(Value::Array(list)) if list.iter().all(Value::is_object) => None,
            Ok(_) => Some(
                r#"tools are a list of objects, e.g. [{"name": "weather", "description": "…", "workflow": 12}]"#.into(),
            ),
        },
        _ => match serde_json::from_str::<Value>(text) {
            Err(error) => Some(format!("not JSON yet: {error}")),
            Ok(Value::Object(_)) => None,
            Ok(_) => Some(
                r#"a JSON Schema is an object, e.g. {"type": "object", "properties": {"name": {"type": "string"}}}"#
                    .into(),
            ),
        },
    }
}

/// The settings every node kind has, as raw JSON like the definition holds
/// them (validation names what is wrong with them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodePolicyFields {
    pub timeout_ms: Option<Value>,
    pub retry: Option<Value>,
    pub on_error: Option<Value>,
    pub for_each: Option<Value>,
    pub concurrency: Option<Value>,
}

/// A field of those settings in the node form.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PolicyField {
    TimeoutMs,
    MaxAttempts,
    BackoffMs,
    OnError,
    ForEach,
    Concurrency,
}

impl NodePolicyFields {
    pub fn of(node: &NodeDefinition) -> Self {
        Self {
            timeout_ms: node.timeout_ms.clone(),
            retry: node.retry.clone(),
            on_error: node.on_error.clone(),
            for_each: node.for_each.clone(),
            concurrency: node.concurrency.clone(),
        }
    }

    pub fn apply_to(self, node: &mut NodeDefinition) {
        node.timeout_ms = self.timeout_ms;
        node.retry = self.retry;
        node.on_error = self.on_error;
        node.for_each = self.for_each;
        node.concurrency = self.concurrency;
    }

    /// A field's value as the form shows it (empty: not set, the default applies).
    pub fn text(&self, field: PolicyField) -> String {
        let retry = |key: &str| self.retry.as_ref().and_then(|r| r.get(key)).map(value_text).unwrap_or_default();
        match field {
            PolicyField::TimeoutMs => self.timeout_ms.as_ref().map(value_text).unwrap_or_default(),
            PolicyField::MaxAttempts => retry("max_attempts"),
            PolicyField::BackoffMs => retry("backoff_ms"),
            PolicyField::OnError => self.on_error.as_ref().map(value_text).unwrap_or_else(|| "fail".into()),
            PolicyField::ForEach => self.for_each.as_ref().map(value_text).unwrap_or_default(),
            PolicyField::Concurrency => self.concurrency.as_ref().map(value_text).unwrap_or_default(),
        }
    }

    /// Sets a field from the form. Empty removes it; "fail" is the default and
    /// is left out; the retry object goes when neither of its fields is set.
    pub fn set(&mut self, field: PolicyField, text: &str) {
        match field {
            PolicyField::TimeoutMs => self.timeout_ms = number_or_text(text),
            PolicyField::OnError => self.on_error = (text != "fail").then(|| Value::String(text.to_string())),
            // An expression is text; an empty one turns iteration off.
            PolicyField::ForEach => {
                self.for_each = (!text.trim().is_empty()).then(|| Value::String(text.trim().to_string()))
            }
            PolicyField::Concurrency => self.concurrency = number_or_text(text),
            PolicyField::MaxAttempts | PolicyField::BackoffMs => {
                let key = if field == PolicyField::MaxAttempts { "max_attempts" } else { "backoff_ms" };
                let mut retry = match self.retry.take() {
                    Some(Value::Object(map)) => map,
                    _ => serde_json::Map::new(),
                };
                match number_or_text(text) {
                    Some(value) => retry.insert(key.to_string(), value),
                    None => retry.remove(key),
                };
                self.retry = (!retry.is_empty()).then_some(Value::Object(retry));
            }
        }
    }
}

/// A number as typed, or the text itself when it is not one (for validation
/// to name); `None` when empty.
fn number_or_text(text: &str) -> Option<Value> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(match text.parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => Value::String(text.to_string()),
    })
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A field's current value as the form shows it.
pub fn field_text(config: &Value, key: &str) -> String {
    match config.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renaming_a_node_updates_edges_references_and_the_webhook_answer() {
        let mut definition: WorkflowDefinition = serde_json::from_value(json!({
            "name": "w",
            "nodes": [
                {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "https://x/"}},
                {"id": "fetcher", "type": "template", "config": {"template": "x"}},
                {"id": "use", "type": "template", "config": {"template":
                    "{{ nodes.fetch.body }} {{ nodes[\"fetch\"].status }} {{ nodes.fetcher.text }} {{ mynodes.fetch }}"}}
            ],
            "edges": [{"from": "fetch", "to": "use"}, {"from": "fetcher", "to": "use"}],
            "triggers": [{"type": "webhook", "path": "p", "respond_with": "fetch"}]
        }))
        .unwrap();
        rename_node(&mut definition, "fetch", "get_page").unwrap();
        assert_eq!(definition.nodes[0].id, "get_page");
        assert_eq!(
            definition.nodes[2].config["template"],
            "{{ nodes.get_page.body }} {{ nodes[\"get_page\"].status }} {{ nodes.fetcher.text }} {{ mynodes.fetch }}"
        );
        assert_eq!((definition.edges[0].from.as_str(), definition.edges[1].from.as_str()), ("get_page", "fetcher"));
        assert_eq!(definition.triggers[0]["respond_with"], "get_page");

        assert!(rename_node(&mut definition, "get_page", "fetcher").unwrap_err().contains("already called"));
        assert!(rename_node(&mut definition, "get_page", "get page").unwrap_err().contains("letters, digits"));
        assert!(rename_node(&mut definition, "get_page", " ").is_err());
    }

    use super::*;
    use crate::model::{validate, WorkflowDefinition};

    #[test]
    fn every_kind_starts_valid_but_a_call_asks_which_workflow() {
        for kind in crate::model::NODE_KINDS {
            let definition: WorkflowDefinition = serde_json::from_value(json!({
                "name": "x", "nodes": [{"id": "a", "type": kind, "config": default_config(kind)}], "edges": []
            }))
            .unwrap();
            if kind == "workflow" {
                let errors = validate(&definition).unwrap_err();
                assert!(errors[0].message.contains("config.workflow must be the id of one of your workflows"));
                continue;
            }
            assert!(validate(&definition).is_ok(), "{kind}: {:?}", validate(&definition).err());
        }
    }

    #[test]
    fn fresh_ids_skip_taken_ones() {
        assert_eq!(fresh_id("http", ["http_1", "llm_1", "http_2"].into_iter()), "http_3");
        assert_eq!(fresh_id("delay", [].into_iter()), "delay_1");
    }

    #[test]
    fn a_new_node_goes_beside_its_anchor_and_never_on_another() {
        let start = Position { x: 0.0, y: 0.0 };
        let beside = free_spot(start, &[start]);
        assert_eq!((beside.x, beside.y), (NODE_WIDTH + GAP_X, 0.0));
        assert!(!too_close(start, beside));
        // That spot is taken: the next goes below it, clear of both.
        let below = free_spot(start, &[start, beside]);
        assert_eq!(below.x, beside.x);
        assert!(!too_close(below, beside) && !too_close(below, start));
    }

    #[test]
    fn headers_are_checked_as_they_are_typed() {
        assert_eq!(headers_problem(""), None);
        assert_eq!(headers_problem(r#"{"X-Token": "{{ input.t }}"}"#), None);
        assert!(headers_problem(r#"{"X-Token": "#).unwrap().starts_with("not JSON"));
        assert!(headers_problem(r#"{"X-Count": 3}"#).unwrap().contains("`X-Count`"));
        let mut config = default_config("http");
        let headers = fields("http").iter().find(|f| f.0 == "headers").unwrap();
        set_field(&mut config, headers, r#"{"A": "b"}"#);
        assert_eq!(config["headers"], json!({"A": "b"}));
        set_field(&mut config, headers, r#"{"A": "#);
        assert_eq!(config["headers"], json!(r#"{"A": "#), "kept as typed, for validation to refuse");
    }

    #[test]
    fn policy_fields_build_what_validation_reads() {
        let mut policy = NodePolicyFields::default();
        policy.set(PolicyField::MaxAttempts, "3");
        policy.set(PolicyField::BackoffMs, "250");
        policy.set(PolicyField::TimeoutMs, "5000");
        policy.set(PolicyField::OnError, "continue");
        assert_eq!(policy.retry, Some(json!({"max_attempts": 3, "backoff_ms": 250})));
        assert_eq!(policy.timeout_ms, Some(json!(5000)));
        assert_eq!(policy.on_error, Some(json!("continue")));
        assert_eq!(policy.text(PolicyField::BackoffMs), "250");
        policy.set(PolicyField::MaxAttempts, "");
        policy.set(PolicyField::BackoffMs, " ");
        policy.set(PolicyField::OnError, "fail");
        assert_eq!((policy.retry.clone(), policy.on_error.clone()), (None, None));
        assert_eq!(policy.text(PolicyField::OnError), "fail");
        let mut node: NodeDefinition =
            serde_json::from_value(json!({"id": "a", "type": "delay", "config": {"ms": 1}})).unwrap();
        policy.apply_to(&mut node);
        let definition: WorkflowDefinition =
            serde_json::from_value(json!({"name": "x", "nodes": [node], "edges": []})).unwrap();
        assert!(validate(&definition).is_ok());
    }

    #[test]
    fn fields_parse_numbers_and_drop_empty_optional_ones() {
        let mut config = default_config("http");
        let timeout = fields("http").iter().find(|f| f.0 == "timeout_ms").unwrap();
        set_field(&mut config, timeout, "2500");
        assert_eq!(config["timeout_ms"], json!(2500));
        set_field(&mut config, timeout, " ");
        assert!(config.get("timeout_ms").is_none());
        let url = fields("http").iter().find(|f| f.0 == "url").unwrap();
        set_field(&mut config, url, "");
        assert_eq!(config["url"], json!(""), "a required field stays, for validation to name");
        assert_eq!(field_text(&json!({"ms": 5}), "ms"), "5");
    }
}
