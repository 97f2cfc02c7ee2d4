//! A conversation past its first question, whatever the provider's shape:
//! the model's turns (text and tool calls), the user's follow-ups, and tool
//! results; the tools offered; and tool calls read from a streamed answer,
//! which arrive in pieces.

use std::collections::BTreeMap;

use app::model::agent::ToolCall;
use serde_json::Value;

/// One turn after the first question.
#[derive(Debug, Clone, PartialEq)]
pub enum Turn {
    /// What the model said, with the tools it called.
    Assistant { text: String, calls: Vec<ToolCall> },
    /// Said to the model (asking again for an answer that follows the schema).
    User(String),
    /// The results of the model's last tool calls.
    ToolResults(Vec<ToolResult>),
}

/// The result of one tool call, as the model reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The call's id.
    pub id: String,
    /// The output as JSON text, or the error.
    pub content: String,
    pub is_error: bool,
}

/// A tool as the model is told of it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub input_schema: Value,
}

/// Tool calls being streamed: each arrives as its id and name, then its
/// arguments in pieces of JSON text, by position.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PartialCalls {
    by_index: BTreeMap<u64, PartialCall>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl PartialCalls {
    /// Adds what one event says of the call at `index`. Arguments are
    /// bounded by the answer's byte limit, which counts them.
    pub fn add(&mut self, index: u64, id: Option<&str>, name: Option<&str>, arguments: Option<&str>) -> usize {
        let call = self.by_index.entry(index).or_default();
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            call.id = id.to_string();
        }
        if let Some(name) = name.filter(|name| !name.is_empty()) {
            call.name = name.to_string();
        }
        let added = arguments.map_or(0, str::len);
        if let Some(arguments) = arguments {
            call.arguments.push_str(arguments);
        }
        added
    }

    /// The calls, in order, their arguments parsed (an empty text is `{}`,
    /// text that is not JSON is kept as text: the tool says what is wrong).
    pub fn finish(self) -> Vec<ToolCall> {
        self.by_index
            .into_values()
            .enumerate()
            .map(|(position, call)| ToolCall {
                id: if call.id.is_empty() { format!("call_{position}") } else { call.id },
                name: call.name,
                input: parse_arguments(&call.arguments),
            })
            .collect()
    }
}

/// A call's arguments as the model wrote them.
pub fn parse_arguments(text: &str) -> Value {
    if text.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn streamed_pieces_make_whole_calls_in_order() {
        let mut calls = PartialCalls::default();
        calls.add(1, Some("b"), Some("clock"), None);
        calls.add(0, Some("a"), Some("weather"), Some("{\"ci"));
        calls.add(0, None, None, Some("ty\": \"Oslo\"}"));
        calls.add(2, None, Some("broken"), Some("{not json"));
        let calls = calls.finish();
        assert_eq!(calls[0], ToolCall { id: "a".into(), name: "weather".into(), input: json!({"city": "Oslo"}) });
        assert_eq!(calls[1].input, json!({}));
        assert_eq!((calls[2].id.as_str(), &calls[2].input), ("call_2", &json!("{not json")));
    }
}
