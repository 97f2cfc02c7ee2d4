//! Anthropic's Messages API (`POST {base}/messages`), spoken natively: the
//! system prompt is a top-level field, `max_tokens` is required, the key goes
//! in `x-api-key`, answers stream as typed events (`message_start`,
//! `content_block_delta`, `message_delta`, `message_stop`, `error`), and
//! usage is `input_tokens`/`output_tokens`, recorded in the OpenAI names
//! (`prompt_tokens`, `completion_tokens`, `total_tokens`) so every llm
//! node's usage reads the same.

use serde_json::{json, Value};

use super::retry::CallError;
use super::turns::Turn;
use super::{Conversation, LlmAnswer};

pub const PATH: &str = "/messages";

/// The API version Weft speaks.
const VERSION: &str = "2023-06-01";

/// The Messages API requires a cap on the answer; this one when the node sets none.
const DEFAULT_MAX_TOKENS: u32 = 4096;

pub fn body(conversation: &Conversation<'_>) -> Value {
    let mut messages = vec![json!({"role": "user", "content": conversation.prompt})];
    for turn in conversation.turns {
        messages.push(match turn {
            Turn::Assistant { text, calls } => {
                // The API refuses a text block of only whitespace, and an empty message.
                let text = if text.trim().is_empty() && calls.is_empty() { "(no answer)" } else { text.as_str() };
                let text_block = (!text.trim().is_empty()).then(|| json!({"type": "text", "text": text}));
                let uses = calls.iter().map(|call| {
                    // The API wants an object; arguments that were not one go back wrapped.
                    let input = if call.input.is_object() { call.input.clone() } else { json!({"text": call.input}) };
                    json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
                });
                let blocks: Vec<Value> = text_block.into_iter().chain(uses).collect();
                json!({"role": "assistant", "content": blocks})
            }
            Turn::User(text) => json!({"role": "user", "content": text}),
            Turn::ToolResults(results) => {
                let blocks: Vec<Value> = results
                    .iter()
                    .map(|r| json!({"type": "tool_result", "tool_use_id": r.id, "content": r.content, "is_error": r.is_error}))
                    .collect();
                json!({"role": "user", "content": blocks})
            }
        });
    }
    let mut body = json!({
        "model": conversation.model,
        "messages": messages,
        "max_tokens": conversation.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "stream": true,
    });
    let schema = conversation.schema.map(|schema| schema.instruction());
    let system: Vec<&str> = conversation.system.into_iter().chain(schema.as_deref()).collect();
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !conversation.tools.is_empty() {
        let tools: Vec<Value> = conversation
            .tools
            .iter()
            .map(|tool| json!({"name": tool.name, "description": tool.description, "input_schema": tool.input_schema}))
            .collect();
        body["tools"] = json!(tools);
    }
    if let Some(temperature) = conversation.temperature {
        // Anthropic's range is 0 to 1; Weft's (OpenAI's) is 0 to 2.
        body["temperature"] = json!(temperature.min(1.0));
    }
    body
}

pub fn headers(request: reqwest::RequestBuilder, api_key: Option<&str>) -> reqwest::RequestBuilder {
    let request = request.header("anthropic-version", VERSION);
    match api_key.and_then(|key| reqwest::header::HeaderValue::from_str(key).ok()) {
        Some(mut key) => {
            key.set_sensitive(true);
            request.header("x-api-key", key)
        }
        None => request,
    }
}

/// A whole (not streamed) answer.
pub fn whole(answer: &Value, into: &mut LlmAnswer) -> Result<(), CallError> {
    let blocks = answer["content"].as_array().into_iter().flatten();
    into.text = blocks.clone().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect();
    for (index, block) in blocks.enumerate().filter(|(_, b)| b["type"] == "tool_use") {
        let input = block["input"].to_string();
        into.partial_calls
            .add(index as u64, block["id"].as_str(), block["name"].as_str(), Some(&input))
            .map_err(CallError::fatal)?;
    }
    if let Some(model) = answer["model"].as_str() {
        into.model = model.to_string();
    }
    into.usage = usage(answer["usage"]["input_tokens"].as_u64(), answer["usage"]["output_tokens"].as_u64());
    Ok(())
}

/// One server-sent event's data; true at `message_stop`.
pub fn event(data: &str, answer: &mut LlmAnswer, on_token: &(dyn Fn(&str) + Sync)) -> Result<bool, CallError> {
    let event: Value =
        serde_json::from_str(data).map_err(|e| CallError::fatal(format!("sent bad JSON in its stream: {e}")))?;
    match event["type"].as_str().unwrap_or_default() {
        "message_start" => {
            let message = &event["message"];
            if let Some(model) = message["model"].as_str() {
                answer.model = model.to_string();
            }
            answer.usage = usage(message["usage"]["input_tokens"].as_u64(), message["usage"]["output_tokens"].as_u64());
        }
        "content_block_start" if event["content_block"]["type"] == "tool_use" => {
            let block = &event["content_block"];
            let index = event["index"].as_u64().unwrap_or_default();
            // The input comes in deltas; a proxy that sends it whole here sends none.
            let whole_input =
                block["input"].as_object().filter(|input| !input.is_empty()).map(|_| block["input"].to_string());
            answer
                .partial_calls
                .add(index, block["id"].as_str(), block["name"].as_str(), whole_input.as_deref())
                .map_err(CallError::fatal)?;
        }
        "content_block_delta" if event["delta"]["type"] == "input_json_delta" => {
            let index = event["index"].as_u64().unwrap_or_default();
            let piece = event["delta"]["partial_json"].as_str();
            answer.partial_calls.add(index, None, None, piece).map_err(CallError::fatal)?;
        }
        "content_block_delta" if event["delta"]["type"] == "text_delta" => {
            if let Some(text) = event["delta"]["text"].as_str().filter(|t| !t.is_empty()) {
                answer.text.push_str(text);
                on_token(text);
            }
        }
        "message_delta" => {
            // The final output count (cumulative); the input count came with message_start.
            let input = answer.usage["prompt_tokens"].as_u64();
            let input = event["usage"]["input_tokens"].as_u64().or(input);
            if let Some(output) = event["usage"]["output_tokens"].as_u64() {
                answer.usage = usage(input, Some(output));
            }
        }
        "message_stop" => return Ok(true),
        "error" => {
            let error = &event["error"];
            let kind = error["type"].as_str().unwrap_or("error");
            let message = format!("reported an error: {kind}: {}", error["message"].as_str().unwrap_or(""));
            // Sent after a 200 when the API is busy: as a 529 or 429 would be, asked again.
            return Err(match kind {
                "overloaded_error" | "rate_limit_error" | "api_error" => CallError::transient(message, None),
                _ => CallError::fatal(message),
            });
        }
        // ping, content_block_start/stop, and event types added later.
        _ => {}
    }
    Ok(false)
}

/// Anthropic's token counts in the names every llm node's usage uses.
fn usage(input: Option<u64>, output: Option<u64>) -> Value {
    let (input, output) = (input.unwrap_or(0), output.unwrap_or(0));
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input.saturating_add(output)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_events_build_the_answer_with_its_usage() {
        let mut answer = LlmAnswer::empty("claude", "claude");
        let tokens = std::sync::Mutex::new(Vec::new());
        let on_token = |t: &str| tokens.lock().unwrap().push(t.to_string());
        for data in [
            r#"{"type":"message_start","message":{"model":"claude-sonnet-4-5","usage":{"input_tokens":12,"output_tokens":1}}}"#,
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"ping"}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}"#,
            r#"{"type":"content_block_stop","index":0}"#,
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}"#,
        ] {
            assert!(!event(data, &mut answer, &on_token).unwrap(), "{data}");
        }
        assert!(event(r#"{"type":"message_stop"}"#, &mut answer, &on_token).unwrap());
        assert_eq!((answer.text.as_str(), answer.model.as_str()), ("Hello", "claude-sonnet-4-5"));
        assert_eq!(answer.usage, json!({"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}));
        assert_eq!(*tokens.lock().unwrap(), ["Hel", "lo"]);
        let error = event(
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            &mut answer,
            &on_token,
        );
        let error = error.unwrap_err();
        assert_eq!(error.message, "reported an error: overloaded_error: Overloaded");
        assert!(error.retry.is_some(), "an overloaded API is asked again");
    }

    #[test]
    fn the_request_carries_the_system_prompt_and_a_token_cap_at_the_top() {
        let conversation = Conversation {
            model: "claude-haiku-4-5",
            system: Some("Be brief."),
            prompt: "Hi",
            turns: &[],
            tools: &[],
            temperature: Some(1.5),
            max_tokens: None,
            schema: None,
        };
        let body = body(&conversation);
        assert_eq!(body["system"], "Be brief.");
        assert_eq!(body["messages"], json!([{"role": "user", "content": "Hi"}]));
        assert_eq!(body["max_tokens"], 4096);
        assert_eq!(body["temperature"], 1.0);
        let mut whole_answer = LlmAnswer::empty("m", "claude");
        whole(
            &json!({"model": "claude-haiku-4-5", "content": [{"type": "text", "text": "Hi!"}],
                "usage": {"input_tokens": 3, "output_tokens": 2}}),
            &mut whole_answer,
        )
        .unwrap();
        assert_eq!(whole_answer.text, "Hi!");
        assert_eq!(whole_answer.usage["total_tokens"], 5);
    }

    #[test]
    fn tool_use_blocks_are_read_streamed_or_whole_and_results_go_back_as_user_blocks() {
        let mut answer = LlmAnswer::empty("m", "claude");
        let on_token = |_: &str| {};
        for data in [
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Looking."}}"#,
            r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"tu_1","name":"weather","input":{}}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": "}}"#,
            r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Oslo\"}"}}"#,
        ] {
            event(data, &mut answer, &on_token).unwrap();
        }
        let calls = answer.partial_calls.finish();
        assert_eq!(calls.len(), 1);
        assert_eq!((calls[0].id.as_str(), &calls[0].input), ("tu_1", &json!({"city": "Oslo"})));

        let mut whole_answer = LlmAnswer::empty("m", "claude");
        whole(
            &json!({"content": [{"type": "tool_use", "id": "tu_2", "name": "clock", "input": {"tz": "UTC"}}]}),
            &mut whole_answer,
        )
        .unwrap();
        assert_eq!(whole_answer.partial_calls.finish()[0].input, json!({"tz": "UTC"}));

        let results =
            vec![super::super::turns::ToolResult { id: "tu_1".into(), content: "3 °C".into(), is_error: true }];
        let turns = [Turn::Assistant { text: "Looking.".into(), calls }, Turn::ToolResults(results)];
        let conversation = Conversation {
            model: "claude",
            system: None,
            prompt: "Weather?",
            turns: &turns,
            tools: &[],
            temperature: None,
            max_tokens: None,
            schema: None,
        };
        let body = body(&conversation);
        assert_eq!(body["messages"][1]["content"][1]["type"], "tool_use");
        assert_eq!(
            body["messages"][2],
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "3 °C", "is_error": true}]})
        );
    }
}
