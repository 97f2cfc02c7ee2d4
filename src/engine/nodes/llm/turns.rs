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
    /// The bytes of their ids, names and arguments: counted with the answer's
    /// text against its limit.
    bytes: usize,
}

/// The most tool calls one answer may hold: a model asking for more is
/// answering something else (or hostile), and each call is a step written.
pub const MAX_CALLS_PER_ANSWER: usize = 64;

#[derive(Debug, Clone, Default, PartialEq)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

impl PartialCalls {
    /// Adds what one event says of the call at `index`; an error past
    /// [`MAX_CALLS_PER_ANSWER`] calls.
    pub fn add(
        &mut self,
        index: u64,
        id: Option<&str>,
        name: Option<&str>,
        arguments: Option<&str>,
    ) -> Result<(), String> {
        if !self.by_index.contains_key(&index) && self.by_index.len() >= MAX_CALLS_PER_ANSWER {
            return Err(format!("asked for more than {MAX_CALLS_PER_ANSWER} tool calls in one answer"));
        }
        self.bytes += [id, name, arguments].iter().map(|part| part.map_or(0, str::len)).sum::<usize>();
        let call = self.by_index.entry(index).or_default();
        if let Some(id) = id.filter(|id| !id.is_empty()) {
            call.id = id.to_string();
        }
        if let Some(name) = name.filter(|name| !name.is_empty()) {
            call.name = name.to_string();
        }
        if let Some(arguments) = arguments {
            call.arguments.push_str(arguments);
        }
        Ok(())
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The calls, in order, their arguments parsed (an empty text is `{}`,
    /// text that is not JSON is kept as text: the tool says what is wrong).
    /// Ids are made unique and of the characters every API accepts: results
    /// are matched to calls by them, and a fallback provider of the other
    /// shape reads them.
    pub fn finish(self) -> Vec<ToolCall> {
        let mut seen = std::collections::HashSet::new();
        self.by_index
            .into_values()
            .enumerate()
            .map(|(position, call)| {
                let mut id: String = call
                    .id
                    .chars()
                    .take(64)
                    .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
                    .collect();
                if id.is_empty() {
                    id = format!("call_{position}");
                } else if seen.contains(&id) {
                    id = format!("{id}_{position}");
                }
                seen.insert(id.clone());
                ToolCall { id, name: call.name, input: parse_arguments(&call.arguments) }
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
        calls.add(1, Some("b"), Some("clock"), None).unwrap();
        calls.add(0, Some("a"), Some("weather"), Some("{\"ci")).unwrap();
        calls.add(0, None, None, Some("ty\": \"Oslo\"}")).unwrap();
        calls.add(2, None, Some("broken"), Some("{not json")).unwrap();
        calls.add(3, Some("b"), Some("clock"), None).unwrap();
        calls.add(4, Some("functions.x:0"), Some("odd"), None).unwrap();
        assert_eq!(calls.bytes(), 67);
        let calls = calls.finish();
        assert_eq!(calls[0], ToolCall { id: "a".into(), name: "weather".into(), input: json!({"city": "Oslo"}) });
        assert_eq!(calls[1].input, json!({}));
        assert_eq!((calls[2].id.as_str(), &calls[2].input), ("call_2", &json!("{not json")));
        assert_eq!(calls[3].id, "b_3", "ids are unique");
        assert_eq!(calls[4].id, "functions_x_0");
        let mut many = PartialCalls::default();
        for i in 0..MAX_CALLS_PER_ANSWER as u64 {
            many.add(i, Some("x"), Some("t"), None).unwrap();
        }
        assert!(many.add(999, None, None, None).unwrap_err().contains("more than 64 tool calls"));
    }
}
