//! The OpenAI-compatible request shape (`POST {base}/chat/completions`):
//! OpenAI, Ollama, vLLM, llama.cpp's server, LiteLLM and most gateways.

use serde_json::{json, Value};

use super::retry::CallError;
use super::{Conversation, LlmAnswer};

pub const PATH: &str = "/chat/completions";

pub fn body(conversation: &Conversation<'_>) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = conversation.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": conversation.prompt}));
    messages.extend(conversation.follow_up.iter().cloned());
    let mut body = json!({
        "model": conversation.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(temperature) = conversation.temperature {
        body["temperature"] = json!(temperature);
    }
    if let Some(max) = conversation.max_tokens {
        body["max_tokens"] = json!(max);
    }
    if let Some(schema) = conversation.schema {
        body["response_format"] = schema.response_format();
    }
    body
}

pub fn headers(request: reqwest::RequestBuilder, api_key: Option<&str>) -> reqwest::RequestBuilder {
    match api_key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

/// A whole (not streamed) answer.
pub fn whole(answer: &Value, into: &mut LlmAnswer) {
    into.text = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
    if let Some(model) = answer["model"].as_str() {
        into.model = model.to_string();
    }
    into.usage = answer.get("usage").cloned().unwrap_or(Value::Null);
}

/// One server-sent event's data; true at `[DONE]`.
pub fn event(data: &str, answer: &mut LlmAnswer, on_token: &(dyn Fn(&str) + Sync)) -> Result<bool, CallError> {
    if data == "[DONE]" {
        return Ok(true);
    }
    let event: Value =
        serde_json::from_str(data).map_err(|e| CallError::fatal(format!("sent bad JSON in its stream: {e}")))?;
    if let Some(error) = event.get("error") {
        return Err(CallError::fatal(format!("reported an error: {error}")));
    }
    if let Some(model) = event["model"].as_str() {
        answer.model = model.to_string();
    }
    if let Some(text) = event["choices"][0]["delta"]["content"].as_str() {
        if !text.is_empty() {
            answer.text.push_str(text);
            on_token(text);
        }
    }
    if event.get("usage").is_some_and(|u| !u.is_null()) {
        answer.usage = event["usage"].clone();
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_events_build_the_answer_and_report_tokens() {
        let mut answer = LlmAnswer::empty("m", "default");
        let tokens = std::sync::Mutex::new(Vec::new());
        let on_token = |t: &str| tokens.lock().unwrap().push(t.to_string());
        for data in [
            r#"{"model":"m-1","choices":[{"delta":{"content":"Hel"}}]}"#,
            r#"{"choices":[{"delta":{"content":"lo"}}]}"#,
            r#"{"choices":[],"usage":{"total_tokens":7}}"#,
        ] {
            assert!(!event(data, &mut answer, &on_token).unwrap());
        }
        assert!(event("[DONE]", &mut answer, &on_token).unwrap());
        assert_eq!((answer.text.as_str(), answer.model.as_str()), ("Hello", "m-1"));
        assert_eq!(answer.usage["total_tokens"], 7);
        assert_eq!(*tokens.lock().unwrap(), ["Hel", "lo"]);
    }
}
