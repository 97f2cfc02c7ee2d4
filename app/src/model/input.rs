//! The input a workflow declares: the fields its runs expect, each with a
//! type, whether it is required, an example and a description.
//!
//! The declaration is optional and only informs: the run form is pre-filled
//! with the examples and says, as you type, which required field is missing or
//! has the wrong type (a run still starts; the API and webhooks are not
//! refused for it). It is kept raw in the definition (like node configs), so a
//! mistake in it is a validation message that names the field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The most fields a workflow may declare: a run form lists them all, and a
/// definition is validated on every keystroke in the editor.
pub const MAX_INPUT_FIELDS: usize = 100;

/// The types a declared field may have.
pub const INPUT_TYPES: [&str; 6] = ["string", "number", "boolean", "object", "array", "any"];

/// One declared input field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InputField {
    pub name: String,
    /// One of [`INPUT_TYPES`]; `any` when left out.
    #[serde(rename = "type", default = "any_type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn any_type() -> String {
    "any".into()
}

/// Parses a definition's `input`: a list of fields. Every problem is named by
/// its field (or its position when it has no usable name).
pub fn parse_input_fields(declared: &Value) -> Result<Vec<InputField>, Vec<String>> {
    let Value::Array(items) = declared else {
        return Err(vec!["input: must be a list of fields, e.g. [{\"name\": \"url\", \"type\": \"string\"}]".into()]);
    };
    if items.len() > MAX_INPUT_FIELDS {
        return Err(vec![format!("input: {} fields declared, at most {MAX_INPUT_FIELDS}", items.len())]);
    }
    let mut names = std::collections::HashSet::with_capacity(items.len());
    let mut fields = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let label = item
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .map_or_else(|| format!("input field #{}", index + 1), |n| format!("input field `{n}`"));
        let field: InputField = match serde_json::from_value(item.clone()) {
            Ok(field) => field,
            Err(error) => {
                problems.push(format!("{label}: {error}"));
                continue;
            }
        };
        if field.name.trim().is_empty() {
            problems.push(format!("{label}: needs a name"));
        } else if !names.insert(field.name.clone()) {
            problems.push(format!("{label}: declared twice"));
        }
        if !INPUT_TYPES.contains(&field.kind.as_str()) {
            problems.push(format!("{label}: type `{}` is not one of {}", field.kind, INPUT_TYPES.join(", ")));
        } else if let Some(example) = &field.example {
            if !has_type(example, &field.kind) {
                problems.push(format!(
                    "{label}: the example is {}, not {}",
                    article(type_of(example)),
                    article(&field.kind)
                ));
            }
        }
        fields.push(field);
    }
    if problems.is_empty() {
        Ok(fields)
    } else {
        Err(problems)
    }
}

/// The input the run form starts with: each field's example.
pub fn example_input(fields: &[InputField]) -> Value {
    let examples: Map<String, Value> =
        fields.iter().filter_map(|f| f.example.clone().map(|example| (f.name.clone(), example))).collect();
    Value::Object(examples)
}

/// What `input` lacks of the declaration: required fields missing, fields of
/// the wrong type. Empty when it fits.
pub fn input_problems(fields: &[InputField], input: &Value) -> Vec<String> {
    let Some(given) = input.as_object() else {
        return if fields.is_empty() {
            Vec::new()
        } else {
            vec![format!("the input is {}, not an object", article(type_of(input)))]
        };
    };
    fields
        .iter()
        .filter_map(|field| match given.get(&field.name) {
            None if field.required => Some(format!("`{}` is missing ({}, required)", field.name, article(&field.kind))),
            Some(value) if !has_type(value, &field.kind) => {
                Some(format!("`{}` should be {}, not {}", field.name, article(&field.kind), article(type_of(value))))
            }
            _ => None,
        })
        .collect()
}

/// "a string", "an object".
fn article(kind: &str) -> String {
    if kind == "any" {
        return "any value".into();
    }
    let an = kind.starts_with(['a', 'e', 'i', 'o', 'u']);
    format!("{} {kind}", if an { "an" } else { "a" })
}

fn has_type(value: &Value, kind: &str) -> bool {
    kind == "any" || type_of(value) == kind
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_declaration_gives_the_example_input_and_names_what_an_input_lacks() {
        let fields = parse_input_fields(&json!([
            {"name": "url", "type": "string", "required": true, "example": "https://example.com"},
            {"name": "count", "type": "number", "example": 3},
            {"name": "tags"}
        ]))
        .unwrap();
        assert_eq!(fields[2].kind, "any");
        assert_eq!(example_input(&fields), json!({"url": "https://example.com", "count": 3}));
        assert!(input_problems(&fields, &json!({"url": "x"})).is_empty());
        assert_eq!(
            input_problems(&fields, &json!({"count": "3"})),
            ["`url` is missing (a string, required)", "`count` should be a number, not a string"]
        );
        assert_eq!(input_problems(&fields, &json!([1])), ["the input is an array, not an object"]);
    }

    #[test]
    fn a_bad_declaration_is_named_by_its_field() {
        let problems = parse_input_fields(&json!([
            {"name": "url", "type": "text"},
            {"name": "n", "type": "number", "example": "three"},
            {"name": "url"},
            {"type": "string"},
            {"name": "x", "requird": true}
        ]))
        .unwrap_err();
        assert!(problems[0].starts_with("input field `url`: type `text` is not one of string, number"), "{problems:?}");
        assert_eq!(problems[1], "input field `n`: the example is a string, not a number");
        assert_eq!(problems[2], "input field `url`: declared twice");
        assert!(problems[3].starts_with("input field #4: missing field `name`"), "{problems:?}");
        assert!(problems[4].contains("unknown field `requird`"), "{problems:?}");
        assert!(parse_input_fields(&json!({"url": "string"})).unwrap_err()[0].starts_with("input: must be a list"));
    }

    #[test]
    fn a_declaration_past_the_limit_is_one_clear_message() {
        let many: Vec<Value> = (0..20_000).map(|i| json!({"name": format!("f{i}")})).collect();
        assert_eq!(
            parse_input_fields(&Value::Array(many)).unwrap_err(),
            [format!("input: 20000 fields declared, at most {MAX_INPUT_FIELDS}")]
        );
        let enough: Vec<Value> = (0..MAX_INPUT_FIELDS).map(|i| json!({"name": format!("f{i}")})).collect();
        assert_eq!(parse_input_fields(&Value::Array(enough)).unwrap().len(), MAX_INPUT_FIELDS);
    }
}
