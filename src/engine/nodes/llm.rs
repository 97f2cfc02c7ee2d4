//! `llm` nodes: chat completions from any OpenAI-compatible provider (OpenAI,
//! Ollama, vLLM, llama.cpp's server), streamed, with tokens published as run
//! events, and a response cache.
//!
//! The cache (moka) is keyed by everything that determines the answer: model,
//! system, prompt, temperature and max tokens. `try_get_with` makes identical
//! requests that arrive while the first is in flight wait for it, so ten
//! concurrent identical requests cost one upstream call.
//!
//! With a `schema` the answer is JSON that follows it (see [`structured`]).

mod structured;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::model::node_config::LlmConfig;
use app::model::RunEvent;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::template::Templates;
use super::NodeScope;
use crate::config::Secret;
use crate::engine::events::RunEvents;

#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// e.g. `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// Used when a node's `model` is empty.
    pub default_model: String,
    pub timeout: Duration,
    /// Requests in flight to the provider at once, across all runs.
    pub max_concurrency: usize,
    pub cache_ttl: Duration,
    pub cache_capacity: u64,
    /// Whether users share cached answers. Off by default: a `cached: true`
    /// would tell one user what another asked.
    pub cache_shared: bool,
}

impl Default for LlmSettings {
    fn default() -> Self {
        Self {
            base_url: "https://api.openai.com/v1".into(),
            api_key: None,
            default_model: "gpt-4o-mini".into(),
            timeout: Duration::from_secs(120),
            max_concurrency: 16,
            cache_ttl: Duration::from_secs(24 * 3600),
            cache_capacity: 10_000,
            cache_shared: false,
        }
    }
}

/// Everything that determines an answer. Temperature is kept as its bits so the
/// key can be hashed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    /// The run's owner, unless answers are shared between users.
    owner: Option<app::model::UserId>,
    model: String,
    system: Option<String>,
    prompt: String,
    temperature_bits: Option<u64>,
    max_tokens: Option<u32>,
    /// The answer schema, as JSON text.
    schema: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    pub text: String,
    pub model: String,
    pub usage: Value,
    /// With a schema: the answer, parsed (it follows the schema).
    pub parsed: Option<Value>,
}

pub struct LlmClient {
    http: reqwest::Client,
    /// The provider, cache and limits in force: read once per call, replaced
    /// whole when an admin changes the settings (no restart).
    current: std::sync::RwLock<Arc<Configured>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Settings with what is built from them.
struct Configured {
    settings: LlmSettings,
    cache: moka::future::Cache<CacheKey, Arc<LlmAnswer>>,
    permits: Arc<Semaphore>,
}

impl Configured {
    fn new(settings: LlmSettings, previous: Option<&Configured>) -> Self {
        // The cached answers survive a change that does not touch the cache or the provider.
        let keep_cache = previous.filter(|p| {
            p.settings.cache_ttl == settings.cache_ttl
                && p.settings.cache_capacity == settings.cache_capacity
                && p.settings.base_url == settings.base_url
        });
        let cache = match keep_cache {
            Some(previous) => previous.cache.clone(),
            None => moka::future::Cache::builder()
                .max_capacity(settings.cache_capacity)
                .weigher(|key: &CacheKey, answer: &Arc<LlmAnswer>| {
                    let system = key.system.as_ref().map_or(0, String::len);
                    let schema = key.schema.as_ref().map_or(0, String::len);
                    // A structured answer is held twice: its text and its parsed value.
                    let answer_bytes = answer.text.len() * if answer.parsed.is_some() { 2 } else { 1 };
                    crate::weigh::in_pages(key.prompt.len() + system + schema + answer_bytes)
                })
                .time_to_live(settings.cache_ttl.max(Duration::from_millis(1)))
                .build(),
        };
        let permits = match previous.filter(|p| p.settings.max_concurrency == settings.max_concurrency) {
            Some(previous) => previous.permits.clone(),
            // Calls in flight keep their permits of the old semaphore until they end.
            None => Arc::new(Semaphore::new(settings.max_concurrency.max(1))),
        };
        Self { settings, cache, permits }
    }
}

impl LlmClient {
    pub fn new(settings: LlmSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(settings.max_concurrency).build()?;
        Ok(Self {
            http,
            current: std::sync::RwLock::new(Arc::new(Configured::new(settings, None))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    fn current(&self) -> Arc<Configured> {
        self.current.read().expect("llm settings").clone()
    }

    pub fn settings(&self) -> LlmSettings {
        self.current().settings.clone()
    }

    /// Applies new settings to the calls that start from now on.
    pub fn reconfigure(&self, settings: LlmSettings) {
        let mut current = self.current.write().expect("llm settings");
        *current = Arc::new(Configured::new(settings, Some(current.as_ref())));
    }

    /// (hits, misses) of the response cache since start.
    pub fn cache_stats(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    pub fn clear_cache(&self) {
        self.current().cache.invalidate_all();
    }

    pub async fn run_node(
        &self,
        config: &LlmConfig,
        scope: &NodeScope,
        events: &RunEvents,
        templates: &Templates,
    ) -> Result<Value, String> {
        let current = self.current();
        let model =
            if config.model.trim().is_empty() { current.settings.default_model.clone() } else { config.model.clone() };
        let key = CacheKey {
            owner: (!current.settings.cache_shared).then_some(scope.owner),
            model,
            system: match config.system.as_deref() {
                Some(system) => Some(templates.render("system", system, scope).await?),
                None => None,
            },
            prompt: templates.render("prompt", &config.prompt, scope).await?,
            temperature_bits: config.temperature.map(f64::to_bits),
            max_tokens: config.max_tokens,
            schema: config.schema.as_ref().map(Value::to_string),
        };
        let schema = config.schema.as_ref();
        // The items of a `for_each` node answer at once: their tokens would
        // interleave in one stream, so only whole answers are shown.
        let per_item = scope.item.is_some();
        let on_token = |text: &str| {
            if !per_item {
                events.send(RunEvent::Token { node: scope.node_id.clone(), text: text.to_string() });
            }
        };
        let (answer, cached) = if config.cache {
            let mut called = false;
            let answer = current
                .cache
                .try_get_with(key.clone(), async {
                    called = true;
                    self.answer(&current, &key, schema, &on_token).await.map(Arc::new)
                })
                .await
                .map_err(|e| e.to_string())?;
            (answer, !called)
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            (Arc::new(self.answer(&current, &key, schema, &on_token).await?), false)
        };
        if config.cache {
            let counter = if cached { &self.hits } else { &self.misses };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(parsed) = &answer.parsed {
            return Ok(parsed.clone());
        }
        Ok(json!({ "text": answer.text, "model": answer.model, "usage": answer.usage, "cached": cached }))
    }

    /// An answer: one call, or with a schema, up to two (the second says what
    /// was wrong with the first). Errors are not cached, so only an answer
    /// that follows the schema is. The schema is compiled here, on a cache
    /// miss only: a `for_each` answered from the cache compiles nothing.
    async fn answer(
        &self,
        current: &Configured,
        key: &CacheKey,
        schema: Option<&Value>,
        on_token: &(dyn Fn(&str) + Sync),
    ) -> Result<LlmAnswer, String> {
        let schema = schema.map(structured::AnswerSchema::new).transpose()?;
        let first = self.complete(current, key, schema.as_ref(), &[], on_token).await?;
        let Some(schema) = schema.as_ref() else { return Ok(first) };
        let problems = match schema.conform(&first.text).await {
            Ok(parsed) => return Ok(LlmAnswer { parsed: Some(parsed), ..first }),
            Err(problems) => problems,
        };
        let again = structured::ask_again(&first.text, &problems);
        let second = self.complete(current, key, Some(schema), &again, on_token).await?;
        let usage = structured::add_usage(&first.usage, &second.usage);
        match schema.conform(&second.text).await {
            Ok(parsed) => Ok(LlmAnswer { parsed: Some(parsed), usage, ..second }),
            Err(problems) => Err(format!("the answer does not follow the schema, even when asked again: {problems}")),
        }
    }

    /// One upstream call, streamed. Accepts a plain JSON answer too, for
    /// providers that ignore `stream`.
    async fn complete(
        &self,
        current: &Configured,
        key: &CacheKey,
        schema: Option<&structured::AnswerSchema>,
        follow_up: &[Value],
        on_token: &(dyn Fn(&str) + Sync),
    ) -> Result<LlmAnswer, String> {
        let _permit = current.permits.acquire().await.map_err(|_| "the LLM client is shutting down".to_string())?;
        let mut messages = Vec::new();
        if let Some(system) = &key.system {
            messages.push(json!({"role": "system", "content": system}));
        }
        messages.push(json!({"role": "user", "content": key.prompt}));
        messages.extend(follow_up.iter().cloned());
        let mut body = json!({
            "model": key.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(bits) = key.temperature_bits {
            body["temperature"] = json!(f64::from_bits(bits));
        }
        if let Some(max) = key.max_tokens {
            body["max_tokens"] = json!(max);
        }
        if let Some(schema) = schema {
            body["response_format"] = schema.response_format();
        }
        let settings = &current.settings;
        let url = format!("{}/chat/completions", settings.base_url.trim_end_matches('/'));
        let mut request = self.http.post(&url).timeout(settings.timeout).json(&body);
        if let Some(api_key) = &settings.api_key {
            request = request.bearer_auth(api_key.expose());
        }
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                "the LLM provider timed out".to_string()
            } else {
                format!("the LLM provider could not be reached: {e}")
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(format!(
                "the LLM provider answered {}: {}",
                status.as_u16(),
                text.chars().take(300).collect::<String>()
            ));
        }
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !streamed {
            let answer: Value =
                response.json().await.map_err(|e| format!("the LLM provider's answer is not JSON: {e}"))?;
            let text = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default().to_string();
            on_token(&text);
            return Ok(LlmAnswer {
                text,
                model: answer["model"].as_str().unwrap_or(&key.model).to_string(),
                usage: answer.get("usage").cloned().unwrap_or(Value::Null),
                parsed: None,
            });
        }
        let mut answer = LlmAnswer { text: String::new(), model: key.model.clone(), usage: Value::Null, parsed: None };
        let mut buffer = String::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                if e.is_timeout() {
                    "the LLM provider timed out".to_string()
                } else {
                    format!("the LLM stream broke: {e}")
                }
            })?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                if apply_event_line(line.trim(), &mut answer, on_token)? {
                    return Ok(answer);
                }
            }
        }
        apply_event_line(buffer.trim(), &mut answer, on_token)?;
        Ok(answer)
    }
}

/// Applies one server-sent-event line; true at `data: [DONE]`.
fn apply_event_line(line: &str, answer: &mut LlmAnswer, on_token: &(dyn Fn(&str) + Sync)) -> Result<bool, String> {
    let Some(data) = line.strip_prefix("data:").map(str::trim) else { return Ok(false) };
    if data == "[DONE]" {
        return Ok(true);
    }
    let event: Value = serde_json::from_str(data).map_err(|e| format!("the LLM stream sent bad JSON: {e}"))?;
    if let Some(error) = event.get("error") {
        return Err(format!("the LLM provider reported an error: {error}"));
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
    fn stream_lines_build_the_answer_and_report_tokens() {
        let mut answer = LlmAnswer { text: String::new(), model: "m".into(), usage: Value::Null, parsed: None };
        let tokens = std::sync::Mutex::new(Vec::new());
        let on_token = |t: &str| tokens.lock().unwrap().push(t.to_string());
        for line in [
            r#"data: {"model":"m-1","choices":[{"delta":{"content":"Hel"}}]}"#,
            "",
            r#"data: {"choices":[{"delta":{"content":"lo"}}]}"#,
            r#"data: {"choices":[],"usage":{"total_tokens":7}}"#,
        ] {
            assert!(!apply_event_line(line, &mut answer, &on_token).unwrap());
        }
        assert!(apply_event_line("data: [DONE]", &mut answer, &on_token).unwrap());
        assert_eq!((answer.text.as_str(), answer.model.as_str()), ("Hello", "m-1"));
        assert_eq!(answer.usage["total_tokens"], 7);
        assert_eq!(*tokens.lock().unwrap(), ["Hel", "lo"]);
    }
}
