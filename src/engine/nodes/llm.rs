//! `llm` nodes: chat completions from the instance's provider or named ones
//! ([`providers`]), in the OpenAI-compatible shape ([`openai`]) or Anthropic's
//! ([`anthropic`]), streamed, with tokens published as run events, asked
//! again on rate limits and server errors ([`retry`]), falling back to the
//! next provider when one fails, and a response cache.
//!
//! The cache (moka) is keyed by everything that determines the answer: the
//! providers and models, system, prompt, temperature and max tokens.
//! `try_get_with` makes identical requests that arrive while the first is in
//! flight wait for it, so ten concurrent identical requests cost one upstream call.
//!
//! With a `schema` the answer is JSON that follows it (see [`structured`]).

mod anthropic;
mod openai;
mod providers;
mod retry;
mod structured;
pub mod turns;
pub mod usage;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::model::agent::ToolCall;
use app::model::node_config::{LlmConfig, LlmFallback};
use app::model::{LlmApi, RunEvent};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use self::providers::Provider;
use self::retry::CallError;
use self::turns::{PartialCalls, ToolSpec, Turn};
use super::http::HttpNode;
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
    /// Each provider asked, in order, with its model ([`Provider::cache_identity`]).
    providers: Vec<String>,
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
    /// Which provider answered: a credential's name, or `default`.
    pub provider: String,
    /// The tools the model calls (an agent's turn), in order.
    pub tool_calls: Vec<ToolCall>,
    /// Tool calls while they stream in.
    partial_calls: PartialCalls,
}

impl LlmAnswer {
    fn empty(model: &str, provider: &str) -> Self {
        Self {
            text: String::new(),
            model: model.into(),
            usage: Value::Null,
            parsed: None,
            provider: provider.into(),
            tool_calls: Vec::new(),
            partial_calls: PartialCalls::default(),
        }
    }
}

/// One question as Weft asks it, whatever the provider's request shape.
pub struct Conversation<'a> {
    model: &'a str,
    system: Option<&'a str>,
    prompt: &'a str,
    /// Turns after the prompt: an agent's tool calls and their results, or
    /// asking again for an answer that follows the schema.
    turns: &'a [Turn],
    /// Tools the model may call (an agent's).
    tools: &'a [ToolSpec],
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    schema: Option<&'a structured::AnswerSchema>,
}

pub struct LlmClient {
    http: reqwest::Client,
    /// What upstream calls spend: recorded, counted, held to budgets.
    usage: usage::UsageMeter,
    /// The provider, cache and limits in force: read once per call, replaced
    /// whole when an admin changes the settings (no restart).
    current: std::sync::RwLock<Arc<Configured>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Settings with what is built from them.
pub struct Configured {
    settings: LlmSettings,
    cache: moka::future::Cache<CacheKey, Arc<LlmAnswer>>,
    permits: Arc<Semaphore>,
    /// Named providers' requests in flight, per base URL: `max_concurrency`
    /// each, so a slow or hostile provider only holds up calls to itself.
    provider_permits: moka::future::Cache<String, Arc<Semaphore>>,
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
        let provider_permits =
            moka::future::Cache::builder().max_capacity(10_000).time_to_idle(Duration::from_secs(600)).build();
        Self { settings, cache, permits, provider_permits }
    }

    /// The permits of a named provider's base URL.
    async fn permits_for(&self, base_url: &str) -> Arc<Semaphore> {
        let size = self.settings.max_concurrency.max(1);
        self.provider_permits.get_with(base_url.to_string(), async move { Arc::new(Semaphore::new(size)) }).await
    }
}

impl LlmClient {
    pub fn new(settings: LlmSettings, store: Arc<dyn app::ports::Store>) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(settings.max_concurrency).build()?;
        Ok(Self {
            http,
            usage: usage::UsageMeter::new(store),
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

    /// Prices, budgets and usage records.
    pub fn usage(&self) -> &usage::UsageMeter {
        &self.usage
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

    /// Runs an llm node. `outbound` is the `http` node's: named providers are
    /// opened from its credential vault and reached through its guarded client.
    pub async fn run_node(
        &self,
        config: &LlmConfig,
        scope: &NodeScope,
        events: &RunEvents,
        templates: &Templates,
        outbound: &HttpNode,
    ) -> Result<Value, String> {
        let current = self.current();
        let (provider, fallbacks) = (config.provider.as_deref(), config.fallbacks.as_slice());
        let providers =
            providers::resolve(provider, &config.model, fallbacks, &current, outbound.vault(), scope.owner).await;
        let key = CacheKey {
            owner: (!current.settings.cache_shared).then_some(scope.owner),
            providers: providers
                .iter()
                .map(|p| p.as_ref().map_or_else(|e| format!("unresolved: {e}"), Provider::cache_identity))
                .collect(),
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
        let asking = Asking {
            current: &current,
            outbound,
            providers: &providers,
            key: &key,
            tools: &[],
            on_token: &on_token,
            scope,
        };
        // Checked here, not inside the cache's loader: with a shared cache,
        // callers waiting on one loader would all get its owner's refusal.
        // An answer already cached costs nothing and is given regardless.
        if !(config.cache && current.cache.contains_key(&key)) {
            self.usage.check_budget(scope.owner).await?;
        }
        let (answer, cached) = if config.cache {
            let mut called = false;
            let answer = current
                .cache
                .try_get_with(key.clone(), async {
                    called = true;
                    self.answer(&asking, schema).await.map(Arc::new)
                })
                .await
                .map_err(|e| e.to_string())?;
            (answer, !called)
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            (Arc::new(self.answer(&asking, schema).await?), false)
        };
        if config.cache {
            let counter = if cached { &self.hits } else { &self.misses };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(parsed) = &answer.parsed {
            return Ok(parsed.clone());
        }
        Ok(json!({
            "text": answer.text,
            "model": answer.model,
            "provider": answer.provider,
            "usage": answer.usage,
            "cached": cached,
        }))
    }

    /// An agent's providers, resolved once for all its turns.
    pub async fn providers(
        &self,
        provider: Option<&str>,
        model: &str,
        fallbacks: &[LlmFallback],
        owner: app::model::UserId,
        outbound: &HttpNode,
    ) -> Providers {
        let current = self.current();
        let list = providers::resolve(provider, model, fallbacks, &current, outbound.vault(), owner).await;
        Providers { current, list }
    }

    /// One model turn of an agent: the question (with its tools) and the
    /// turns so far, asked of its providers in order (with retries and fallbacks, as
    /// for an llm node), streamed, budgeted and recorded. Never cached: a
    /// turn that calls tools has effects.
    pub async fn turn(
        &self,
        providers: &Providers,
        question: &Question,
        turns: &[Turn],
        scope: &NodeScope,
        events: &RunEvents,
        outbound: &HttpNode,
    ) -> Result<LlmAnswer, String> {
        self.usage.check_budget(scope.owner).await?;
        let key = CacheKey {
            owner: None,
            providers: Vec::new(),
            system: question.system.clone(),
            prompt: question.prompt.clone(),
            temperature_bits: question.temperature.map(f64::to_bits),
            max_tokens: question.max_tokens,
            schema: None,
        };
        let on_token =
            |text: &str| events.send(RunEvent::Token { node: scope.node_id.clone(), text: text.to_string() });
        let asking = Asking {
            current: &providers.current,
            outbound,
            providers: &providers.list,
            key: &key,
            tools: &question.tools,
            on_token: &on_token,
            scope,
        };
        self.misses.fetch_add(1, Ordering::Relaxed);
        self.ask(&asking, 0, None, turns).await.map(|(_, answer)| answer)
    }

    /// An answer: one call, or with a schema, up to two (the second says what
    /// was wrong with the first, asked of the provider that gave it). Errors
    /// are not cached, so only an answer that follows the schema is. The
    /// schema is compiled here, on a cache miss only: a `for_each` answered
    /// from the cache compiles nothing.
    async fn answer(&self, asking: &Asking<'_>, schema: Option<&Value>) -> Result<LlmAnswer, String> {
        let schema = schema.map(structured::AnswerSchema::new).transpose()?;
        let (answered_by, first) = self.ask(asking, 0, schema.as_ref(), &[]).await?;
        let Some(schema) = schema.as_ref() else { return Ok(first) };
        let problems = match schema.conform(&first.text).await {
            Ok(parsed) => return Ok(LlmAnswer { parsed: Some(parsed), ..first }),
            Err(problems) => problems,
        };
        let again = structured::ask_again(&first.text, &problems);
        let (_, second) = self.ask(asking, answered_by, Some(schema), &again).await?;
        let usage = structured::add_usage(&first.usage, &second.usage);
        match schema.conform(&second.text).await {
            Ok(parsed) => Ok(LlmAnswer { parsed: Some(parsed), usage, ..second }),
            Err(problems) => Err(format!("the answer does not follow the schema, even when asked again: {problems}")),
        }
    }

    /// Asks the providers from `from` on, in order, until one answers: each
    /// is asked again on rate limits and server errors (bounded, see
    /// [`retry`]); any other failure moves to the next. Returns which answered.
    async fn ask(
        &self,
        asking: &Asking<'_>,
        from: usize,
        schema: Option<&structured::AnswerSchema>,
        turns: &[Turn],
    ) -> Result<(usize, LlmAnswer), String> {
        let key = asking.key;
        let mut failures = Vec::new();
        for (index, provider) in asking.providers.iter().enumerate().skip(from) {
            // A fallback that cannot be used (deleted, of another kind) is one
            // more failure: the others are still asked.
            let provider = match provider {
                Ok(provider) => provider,
                Err(error) => {
                    failures.push(error.clone());
                    continue;
                }
            };
            let conversation = Conversation {
                model: &provider.model,
                system: key.system.as_deref(),
                prompt: &key.prompt,
                turns,
                tools: asking.tools,
                temperature: key.temperature_bits.map(f64::from_bits),
                max_tokens: key.max_tokens,
                schema,
            };
            if let Some(id) = provider.credential_id {
                asking.outbound.vault().mark_used(id);
            }
            let mut attempt = 1;
            let error = loop {
                match self.complete(asking, provider, &conversation).await {
                    Ok(mut answer) => {
                        answer.model = usage::truncated(&answer.model);
                        answer.tool_calls = std::mem::take(&mut answer.partial_calls).finish();
                        let scope = asking.scope;
                        self.usage
                            .record(
                                scope.execution_id,
                                scope.owner,
                                &scope.node_id,
                                &provider.label,
                                &answer.model,
                                &answer.usage,
                            )
                            .await;
                        return Ok((index, answer));
                    }
                    Err(error) => match retry::next_wait(&error, attempt) {
                        Some(wait) => {
                            let error = provider.mask(error.message);
                            tracing::debug!(provider = %provider.label, attempt, ?wait, %error, "asking the LLM provider again");
                            tokio::time::sleep(wait).await;
                            attempt += 1;
                        }
                        None => break error,
                    },
                }
            };
            let tries = if attempt > 1 { format!(" (asked {attempt} times)") } else { String::new() };
            let told_to_wait = match error.retry {
                Some(Some(wait)) if wait > retry::MAX_WAIT => {
                    format!(
                        " (it asked to wait {} s, more than the {} s Weft waits)",
                        wait.as_secs(),
                        retry::MAX_WAIT.as_secs()
                    )
                }
                _ => String::new(),
            };
            failures.push(provider.mask(format!("{} {}{tries}{told_to_wait}", provider.who(), error.message)));
        }
        Err(failures.join("; then "))
    }

    /// One call to one provider, streamed. Accepts a plain JSON answer too,
    /// for servers that ignore `stream`. A named provider's answer is as
    /// hostile as any upstream's: read up to [`MAX_ANSWER_BYTES`], and only
    /// from the permits of its own base URL (a slow one holds up its own calls).
    async fn complete(
        &self,
        asking: &Asking<'_>,
        provider: &Provider,
        conversation: &Conversation<'_>,
    ) -> Result<LlmAnswer, CallError> {
        let settings = &asking.current.settings;
        let permits = match provider.guarded {
            true => asking.current.permits_for(&provider.base_url).await,
            false => asking.current.permits.clone(),
        };
        let _permit =
            permits.acquire_owned().await.map_err(|_| CallError::fatal("is not asked: Weft is shutting down"))?;
        let (path, body) = match provider.api {
            LlmApi::Openai => (openai::PATH, openai::body(conversation)),
            LlmApi::Anthropic => (anthropic::PATH, anthropic::body(conversation)),
        };
        let url = format!("{}{path}", provider.base_url.trim_end_matches('/'));
        let client = if provider.guarded {
            let parsed = reqwest::Url::parse(&url)
                .map_err(|e| CallError::fatal(format!("has a base URL that is not a URL ({e})")))?;
            asking
                .outbound
                .check_destination(&parsed)
                .map_err(|e| CallError::fatal(format!("is not reachable: {e}")))?;
            asking.outbound.guarded_client()
        } else {
            &self.http
        };
        let request = client.post(&url).timeout(settings.timeout).json(&body);
        let request = match provider.api {
            LlmApi::Openai => openai::headers(request, provider.api_key.as_deref()),
            LlmApi::Anthropic => anthropic::headers(request, provider.api_key.as_deref()),
        };
        let response = request.send().await.map_err(|e| {
            if e.is_timeout() {
                CallError::fatal("timed out")
            } else {
                CallError::fatal(format!("could not be reached: {}", describe_send_error(e)))
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            let retry_after =
                response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let text = read_capped(response, ERROR_EXCERPT_BYTES, true).await.unwrap_or_default();
            return Err(CallError::from_status(status.as_u16(), retry_after.as_deref(), &text));
        }
        let mut answer = LlmAnswer::empty(&provider.model, &provider.label);
        let streamed = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !streamed {
            let text = read_capped(response, MAX_ANSWER_BYTES, false).await?;
            let whole: Value = serde_json::from_str(&text)
                .map_err(|e| CallError::fatal(format!("answered with something not JSON: {e}")))?;
            match provider.api {
                LlmApi::Openai => openai::whole(&whole, &mut answer)?,
                LlmApi::Anthropic => anthropic::whole(&whole, &mut answer)?,
            }
            (asking.on_token)(&answer.text);
            return Ok(answer);
        }
        let event = |data: &str, answer: &mut LlmAnswer| match provider.api {
            LlmApi::Openai => openai::event(data, answer, asking.on_token),
            LlmApi::Anthropic => anthropic::event(data, answer, asking.on_token),
        };
        let mut buffer = String::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                CallError::fatal(if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    format!("stream broke: {}", e.without_url())
                })
            })?;
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            if buffer.len() + answer.text.len() + answer.partial_calls.bytes() > MAX_ANSWER_BYTES {
                return Err(CallError::fatal(format!("answered more than the {MAX_ANSWER_BYTES}-byte limit")));
            }
            while let Some(end) = buffer.find('\n') {
                let line: String = buffer.drain(..=end).collect();
                if let Some(data) = event_data(&line) {
                    if event(data, &mut answer)? {
                        return Ok(answer);
                    }
                }
            }
        }
        if let Some(data) = event_data(&buffer) {
            event(data, &mut answer)?;
        }
        Ok(answer)
    }
}

/// The most an answer may hold (the http node's default body limit).
const MAX_ANSWER_BYTES: usize = 10 * 1024 * 1024;

/// How much of an error answer is read (300 characters of it are kept).
const ERROR_EXCERPT_BYTES: usize = 4096;

/// A response body read up to `cap` bytes: past it, an error, or with
/// `cut`, what was read so far.
async fn read_capped(response: reqwest::Response, cap: usize, cut: bool) -> Result<String, CallError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| CallError::fatal(format!("answer broke off: {}", e.without_url())))?;
        body.extend_from_slice(&chunk);
        if body.len() > cap {
            if cut {
                body.truncate(cap);
                break;
            }
            return Err(CallError::fatal(format!("answered more than the {cap}-byte limit")));
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// An agent's providers in the order they are asked, each ready or with why
/// it cannot be used.
pub struct Providers {
    current: Arc<Configured>,
    list: Vec<Result<Provider, String>>,
}

/// What an agent asks on every turn.
pub struct Question {
    pub system: Option<String>,
    pub prompt: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// The tools the model may call.
    pub tools: Vec<ToolSpec>,
}

/// What one node's question needs while its providers are asked.
struct Asking<'a> {
    current: &'a Configured,
    outbound: &'a HttpNode,
    /// Each provider, or why it cannot be asked.
    providers: &'a [Result<Provider, String>],
    key: &'a CacheKey,
    /// Tools the model may call (an agent's turn).
    tools: &'a [ToolSpec],
    on_token: &'a (dyn Fn(&str) + Sync),
    /// Whose run and node: what the usage records name.
    scope: &'a NodeScope,
}

/// The data of a server-sent-event line (`data: …`); other lines (`event:`,
/// comments, blank separators) carry nothing Weft reads.
fn event_data(line: &str) -> Option<&str> {
    line.trim().strip_prefix("data:").map(str::trim).filter(|data| !data.is_empty())
}

/// A send error with its cause (reqwest's own message is "error sending
/// request"), without the URL: a base URL may carry a secret in its user
/// part or query.
fn describe_send_error(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_data_lines_of_an_event_stream_are_read() {
        assert_eq!(event_data("data: {\"a\":1}\n"), Some("{\"a\":1}"));
        assert_eq!(event_data("data:[DONE]"), Some("[DONE]"));
        assert_eq!(event_data("event: message_start\n"), None);
        assert_eq!(event_data(": keep-alive"), None);
        assert_eq!(event_data("data: \n"), None);
        assert_eq!(event_data("\n"), None);
    }
}
