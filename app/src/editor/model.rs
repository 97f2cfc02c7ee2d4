//! The editor's plain logic, free of signals: default configs, fresh node ids,
//! the form fields of each node kind.

use serde_json::{json, Value};

/// A new node's config: valid as it is, so the graph stays valid while building.
pub fn default_config(kind: &str) -> Value {
    match kind {
        "http" => json!({"method": "GET", "url": "https://example.com/"}),
        "llm" => json!({"model": "", "prompt": "Summarize: {{ input | tojson }}"}),
        "template" => json!({"template": "Hello {{ input.name }}"}),
        "code" => json!({"source": "return input;"}),
        "condition" => json!({"expr": "input.ok"}),
        "delay" => json!({"ms": 1000}),
        _ => json!({}),
    }
}

/// `kind_1`, `kind_2`, …: the first id of that form not taken.
pub fn fresh_id<'a>(kind: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    (1..).map(|n| format!("{kind}_{n}")).find(|id| !taken.clone().any(|t| t == id)).expect("an id is always free")
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldType {
    Text,
    TextArea,
    Number,
    Select(&'static [&'static str]),
    Check,
}

/// A field of a node kind's form: (config key, label, type, optional: removed when empty).
pub type Field = (&'static str, &'static str, FieldType, bool);

pub fn fields(kind: &str) -> &'static [Field] {
    use FieldType::*;
    match kind {
        "http" => &[
            ("method", "Method", Select(&["GET", "POST", "PUT", "PATCH", "DELETE"]), false),
            ("url", "URL (template)", Text, false),
            ("body", "Body (template)", TextArea, true),
            ("timeout_ms", "Timeout (ms)", Number, true),
        ],
        "llm" => &[
            ("model", "Model (empty: the default model)", Text, false),
            ("system", "System prompt", TextArea, true),
            ("prompt", "Prompt (template)", TextArea, false),
            ("temperature", "Temperature", Number, true),
            ("max_tokens", "Max tokens", Number, true),
            ("cache", "Answer identical requests from the cache", Check, false),
        ],
        "template" => &[("template", "Template", TextArea, false), ("json", "Parse the result as JSON", Check, false)],
        "code" => &[("source", "JavaScript (function body; `input`, `nodes` in scope)", TextArea, false)],
        "condition" => &[("expr", "Expression", Text, false)],
        "delay" => &[("ms", "Wait (ms)", Number, false)],
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
        _ => Value::String(text.to_string()),
    };
    object.insert(key.to_string(), value);
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
    use super::*;
    use crate::model::{validate, WorkflowDefinition};

    #[test]
    fn every_kind_starts_valid() {
        for kind in crate::model::NODE_KINDS {
            let definition: WorkflowDefinition = serde_json::from_value(json!({
                "name": "x", "nodes": [{"id": "a", "type": kind, "config": default_config(kind)}], "edges": []
            }))
            .unwrap();
            assert!(validate(&definition).is_ok(), "{kind}: {:?}", validate(&definition).err());
        }
    }

    #[test]
    fn fresh_ids_skip_taken_ones() {
        assert_eq!(fresh_id("http", ["http_1", "llm_1", "http_2"].into_iter()), "http_3");
        assert_eq!(fresh_id("delay", [].into_iter()), "delay_1");
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
