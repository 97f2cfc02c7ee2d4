//! The OpenAI-compatible request shape (`POST {base}/chat/completions`):
//! OpenAI, Ollama, vLLM, llama.cpp's server, LiteLLM and most gateways.

use serde_json::{json, Value};

use super::retry::CallError;
use super::turns::Turn;
use super::{Conversation, LlmAnswer};

pub const PATH: &str = "/chat/completions";

pub fn body(conversation: &Conversation<'_>) -> Value {
    let mut messages = Vec::new();
    if let Some(system) = conversation.system {
        messages.push(json!({"role": "system", "content": system}));
    }
    messages.push(json!({"role": "user", "content": conversation.prompt}));
    for turn in conversation.turns {
        match turn {
            Turn::Assistant { text, calls } if calls.is_empty() => {
                messages.push(json!({"role": "assistant", "content": text}));
            }
            Turn::Assistant { text, calls } => {
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|call| {
                        // Arguments go back as the model wrote them (text that is not JSON stays text).
                        let arguments = match &call.input {
                            Value::String(text) => text.clone(),
                            input => input.to_string(),
                        };
                        json!({"id": call.id, "type": "function",
                               "function": {"name": call.name, "arguments": arguments}})
                    })
                    .collect();
                let content = if text.is_empty() { Value::Null } else { json!(text) };
                messages.push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            }
            Turn::User(text) => messages.push(json!({"role": "user", "content": text})),
            // The shape has no error flag: an error says so in its text.
            Turn::ToolResults(results) => messages.extend(results.iter().map(|r| {
                let content = if r.is_error { format!("Error: {}", r.content) } else { r.content.clone() };
                json!({"role": "tool", "tool_call_id": r.id, "content": content})
            })),
        }
    }
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
    if !conversation.tools.is_empty() {
        let tools: Vec<Value> = conversation
            .tools
            .iter()
            .map(|tool| {
                json!({"type": "function", "function": {
                    "name": tool.name, "description": tool.description, "parameters": tool.input_schema}})
            })
            .collect();
        body["tools"] = json!(tools);
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
pub fn whole(answer: &Value, into: &mut LlmAnswer) -> Result<(), CallError> {
    let message = &answer["choices"][0]["message"];
    into.text = message["content"].as_str().unwrap_or_default().to_string();
    for (index, call) in message["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let function = &call["function"];
        // Some servers send the arguments as an object rather than as JSON text.
        let arguments = match &function["arguments"] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        into.partial_calls
            .add(index as u64, call["id"].as_str(), function["name"].as_str(), Some(&arguments))
            .map_err(CallError::fatal)?;
    }
    if let Some(model) = answer["model"].as_str() {
        into.model = model.to_string();
    }
    into.usage = answer.get("usage").cloned().unwrap_or(Value::Null);
    Ok(())
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
    let delta = &event["choices"][0]["delta"];
    if let Some(text) = delta["content"].as_str() {
        if !text.is_empty() {
            answer.text.push_str(text);
            on_token(text);
        }
    }
    for (position, call) in delta["tool_calls"].as_array().into_iter().flatten().enumerate() {
        let index = call["index"].as_u64().unwrap_or(position as u64);
        let function = &call["function"];
        answer
            .partial_calls
            .add(index, call["id"].as_str(), function["name"].as_str(), function["arguments"].as_str())
            .map_err(CallError::fatal)?;
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

    #[test]
    fn streamed_tool_calls_are_gathered_and_sent_back_with_their_results() {
        let mut answer = LlmAnswer::empty("m", "default");
        let on_token = |_: &str| {};
        for data in [
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"weather","arguments":""}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"c2","function":{"name":"clock","arguments":"{}"}}]}}]}"#,
        ] {
            event(data, &mut answer, &on_token).unwrap();
        }
        let calls = answer.partial_calls.finish();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].name.as_str(), &calls[0].input), ("weather", &json!({"city": "Oslo"})));
        let results =
            vec![super::super::turns::ToolResult { id: "c1".into(), content: "{\"temp\":3}".into(), is_error: false }];
        let turns = [Turn::Assistant { text: String::new(), calls: calls.clone() }, Turn::ToolResults(results)];
        let tools = [super::super::turns::ToolSpec {
            name: "weather".into(),
            description: "Weather now".into(),
            input_schema: json!({"type": "object"}),
        }];
        let conversation = Conversation {
            model: "m",
            system: None,
            prompt: "Weather in Oslo?",
            turns: &turns,
            tools: &tools,
            temperature: None,
            max_tokens: None,
            schema: None,
        };
        let body = body(&conversation);
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages[1]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Oslo\"}");
        assert_eq!(messages[1]["content"], Value::Null);
        assert_eq!(messages[2], json!({"role": "tool", "tool_call_id": "c1", "content": "{\"temp\":3}"}));
        assert_eq!(body["tools"][0]["function"]["parameters"], json!({"type": "object"}));
    }
}
