//! Structured output: an `llm` node with a `schema` asks the provider for JSON
//! that follows it (OpenAI-compatible `response_format: json_schema`, which
//! OpenAI, vLLM, llama.cpp's server and Ollama understand; Anthropic's
//! Messages API has no such field, so there the system prompt says it), parses the answer
//! and validates it against the schema. An answer that does not follow it is
//! asked for once more, with what was wrong; a second miss fails the node with
//! the problems. Only answers that follow the schema reach the cache.

use std::sync::Arc;

use serde_json::{json, Value};

/// Problems listed for one answer, at most (the rest are counted).
const PROBLEMS_SHOWN: usize = 5;

/// A node's answer schema, compiled once per call.
pub(super) struct AnswerSchema {
    schema: Value,
    validator: Arc<jsonschema::Validator>,
}

impl AnswerSchema {
    pub(super) fn new(schema: &Value) -> Result<Self, String> {
        let validator = jsonschema::validator_for(schema)
            .map_err(|error| format!("config.schema is not a valid JSON Schema: {error}"))?;
        Ok(Self { schema: schema.clone(), validator: Arc::new(validator) })
    }

    /// The request field that asks the provider for JSON following the schema.
    pub(super) fn response_format(&self) -> Value {
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": self.schema}})
    }

    /// For providers without a JSON mode (Anthropic's Messages API): the
    /// schema, said in the system prompt.
    pub(super) fn instruction(&self) -> String {
        format!("Answer with only a JSON value that follows this JSON Schema, and nothing else: {}", self.schema)
    }

    /// The answer parsed, if it is JSON that follows the schema; else what is
    /// wrong with it, readable by a person and by the model. Validation runs
    /// off the async runtime: a large answer against a large schema (patterns
    /// and all) takes real time.
    pub(super) async fn conform(&self, text: &str) -> Result<Value, String> {
        let parsed: Value = serde_json::from_str(strip_code_fence(text))
            .map_err(|error| format!("the answer is not JSON ({error})"))?;
        let validator = self.validator.clone();
        tokio::task::spawn_blocking(move || {
            let problems: Vec<String> = validator
                .iter_errors(&parsed)
                .map(|error| match error.instance_path().as_str() {
                    "" => error.to_string(),
                    path => format!("at {path}: {error}"),
                })
                .collect();
            match problems.len() {
                0 => Ok(parsed),
                n if n <= PROBLEMS_SHOWN => Err(problems.join("; ")),
                n => Err(format!("{}; and {} more", problems[..PROBLEMS_SHOWN].join("; "), n - PROBLEMS_SHOWN)),
            }
        })
        .await
        .map_err(|_| "validating the answer failed".to_string())?
    }
}

/// The turns that ask again: the model's answer, and what was wrong with it.
pub(super) fn ask_again(answer: &str, problems: &str) -> Vec<super::turns::Turn> {
    vec![
        super::turns::Turn::Assistant { text: answer.to_string(), calls: Vec::new() },
        super::turns::Turn::User(format!(
            "That answer does not follow the required JSON Schema: {problems}. \
             Answer again with only the JSON, following the schema."
        )),
    ]
}

/// The usage of two calls added up (numeric fields; others from the second).
pub(super) fn add_usage(first: &Value, second: &Value) -> Value {
    match (first, second) {
        (Value::Object(a), Value::Object(b)) => {
            let mut sum = b.clone();
            for (key, value) in a {
                match (value.as_u64(), sum.get(key).and_then(Value::as_u64)) {
                    (Some(x), Some(y)) => {
                        sum.insert(key.clone(), json!(x + y));
                    }
                    (Some(_), None) if !sum.contains_key(key) => {
                        sum.insert(key.clone(), value.clone());
                    }
                    _ => {}
                }
            }
            Value::Object(sum)
        }
        (_, Value::Null) => first.clone(),
        _ => second.clone(),
    }
}

/// Models often wrap JSON in a Markdown code fence: the JSON inside it.
fn strip_code_fence(text: &str) -> &str {
    let text = text.trim();
    let Some(rest) = text.strip_prefix("```") else { return text };
    let body = rest.split_once('\n').map_or("", |(_, body)| body);
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> AnswerSchema {
        AnswerSchema::new(&json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name", "age"]
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn an_answer_is_parsed_and_checked_against_the_schema() {
        let schema = person();
        assert_eq!(schema.conform(r#"{"name": "Ada", "age": 36}"#).await, Ok(json!({"name": "Ada", "age": 36})));
        assert_eq!(
            schema.conform("```json\n{\"name\": \"Ada\", \"age\": 36}\n```").await,
            Ok(json!({"name": "Ada", "age": 36}))
        );
        let wrong = schema.conform(r#"{"name": 5, "age": -1}"#).await.unwrap_err();
        assert!(wrong.contains("at /name: 5 is not of type \"string\""), "{wrong}");
        assert!(wrong.contains("at /age: -1 is less than the minimum of 0"), "{wrong}");
        let missing = schema.conform(r#"{"name": "Ada"}"#).await.unwrap_err();
        assert!(missing.contains("\"age\" is a required property"), "{missing}");
        assert!(schema.conform("Sure! Here it is").await.unwrap_err().starts_with("the answer is not JSON"));
    }

    #[test]
    fn a_schema_that_is_not_one_is_refused_and_no_remote_ref_is_fetched() {
        assert!(AnswerSchema::new(&json!({"type": "strnig"})).is_err());
        // Without the resolver features nothing is fetched: the reference fails to resolve.
        assert!(AnswerSchema::new(&json!({"$ref": "http://169.254.169.254/latest/meta-data"})).is_err());
    }

    #[test]
    fn usage_of_a_retry_is_added_up() {
        let sum = add_usage(
            &json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
            &json!({"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}),
        );
        assert_eq!(sum, json!({"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}));
        assert_eq!(add_usage(&json!({"total_tokens": 5}), &Value::Null), json!({"total_tokens": 5}));
    }
}
