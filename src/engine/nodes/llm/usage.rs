//! What `llm` nodes spend: every upstream call is recorded (tokens, provider,
//! model, cost at the price table's prices) in batches, counted in `/metrics`,
//! and held to the daily budget per user before anything is sent.
//!
//! Recording is a group commit: a call's record waits for the write that
//! carries it (so a finished run's usage is in the database), and calls that
//! end while a write is under way share the next one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use app::model::usage::day_start;
use app::model::{now_ms, LlmCall, UsageOf, UsagePolicy, UsageTotals, UserId};
use app::ports::Store;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

/// Distinct (provider, model) label pairs `/metrics` shows; later pairs are
/// counted under `other`. Both are user-written (credential names, model
/// names), so without a cap the scrape would grow without bound.
const MAX_LABEL_PAIRS: usize = 64;

/// The most tokens one call is recorded with: a provider is user-written and
/// may claim anything; sums of clamped counts cannot overflow.
const MAX_TOKENS_PER_CALL: i64 = 1_000_000_000;

/// Longest model or provider name recorded (a provider names its own model).
const MAX_NAME_LEN: usize = 200;

/// Records written in one transaction, at most.
const MAX_BATCH: usize = 1000;

type Pending = (LlmCall, oneshot::Sender<()>);

/// How long a user's day total is trusted from memory: this process adds its
/// own calls as they are recorded; other processes' calls are seen when it is
/// read again.
const TODAY_FRESH_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// A user's total for one UTC day (its first millisecond).
type DayTotal = Arc<Mutex<(i64, UsageTotals)>>;

pub struct UsageMeter {
    store: Arc<dyn Store>,
    policy: RwLock<Arc<UsagePolicy>>,
    /// Users' totals today, for budget checks: summing a busy user's calls on
    /// every call would cost more the more they spend.
    today: moka::future::Cache<UserId, DayTotal>,
    /// Started with the first record (the engine may be built outside a runtime).
    writer: OnceLock<mpsc::UnboundedSender<Pending>>,
    labels: Mutex<HashSet<(String, String)>>,
}

impl UsageMeter {
    pub fn new(store: Arc<dyn Store>) -> Self {
        let today = moka::future::Cache::builder().max_capacity(100_000).time_to_live(TODAY_FRESH_FOR).build();
        Self { store, policy: RwLock::default(), today, writer: OnceLock::new(), labels: Mutex::default() }
    }

    pub fn policy(&self) -> Arc<UsagePolicy> {
        self.policy.read().expect("usage policy").clone()
    }

    /// Applies a new price table and budgets to the calls from now on.
    pub fn set_policy(&self, policy: UsagePolicy) {
        *self.policy.write().expect("usage policy") = Arc::new(policy);
    }

    /// Refuses when `user` has spent the day's budget: nothing is sent then.
    /// Only when a budget is set; the day's total is read from the database
    /// at most every few seconds per user and kept up to date with this
    /// process's calls meanwhile. Calls in flight when the budget runs out
    /// (and other processes' calls of the last few seconds) still end, so a
    /// day may overshoot by them.
    pub async fn check_budget(&self, user: UserId) -> Result<(), String> {
        let policy = self.policy();
        if !policy.has_budget() {
            return Ok(());
        }
        let day = day_start(now_ms());
        let read = || {
            let store = self.store.clone();
            async move {
                let totals = store.llm_usage(UsageOf::User(user), day).await?;
                Ok::<_, app::error::AppError>(Arc::new(Mutex::new((day, totals))))
            }
        };
        let unreadable = |_| "the day's LLM usage could not be read, so the budget cannot be checked".to_string();
        let mut entry = self.today.try_get_with(user, read()).await.map_err(unreadable)?;
        if entry.lock().expect("day total").0 != day {
            // Cached across midnight: a new day starts from what is recorded.
            self.today.invalidate(&user).await;
            entry = self.today.try_get_with(user, read()).await.map_err(unreadable)?;
        }
        let today = entry.lock().expect("day total").1;
        match policy.refusal(&today) {
            Some(refusal) => Err(refusal),
            None => Ok(()),
        }
    }

    /// Records one upstream call (usage as the answer reports it) and waits
    /// until it is written. A failed write is logged, never the node's failure.
    pub async fn record(
        &self,
        execution_id: i64,
        user_id: UserId,
        node_id: &str,
        provider: &str,
        model: &str,
        usage: &Value,
    ) {
        let count = |key: &str| usage.get(key).and_then(Value::as_i64).unwrap_or(0).clamp(0, MAX_TOKENS_PER_CALL);
        let model = truncated(model);
        let (prompt_tokens, completion_tokens) = (count("prompt_tokens"), count("completion_tokens"));
        let cost_micros = self.policy().cost_micros(&model, prompt_tokens, completion_tokens);
        self.count(provider, &model, prompt_tokens, completion_tokens, cost_micros);
        let call = LlmCall {
            execution_id,
            user_id,
            node_id: node_id.to_string(),
            provider: provider.to_string(),
            model,
            prompt_tokens,
            completion_tokens,
            cost_micros,
            at: now_ms(),
        };
        if let Some(entry) = self.today.get(&user_id).await {
            let mut entry = entry.lock().expect("day total");
            if entry.0 == day_start(call.at) {
                let totals = &mut entry.1;
                totals.calls += 1;
                totals.prompt_tokens = totals.prompt_tokens.saturating_add(prompt_tokens);
                totals.completion_tokens = totals.completion_tokens.saturating_add(completion_tokens);
                match cost_micros {
                    Some(cost) => totals.cost_micros = totals.cost_micros.saturating_add(cost),
                    None => totals.unpriced_calls += 1,
                }
            }
        }
        let (written, done) = oneshot::channel();
        let writer = self.writer.get_or_init(|| spawn_writer(self.store.clone()));
        if writer.send((call, written)).is_ok() {
            let _ = done.await;
        }
    }

    fn count(&self, provider: &str, model: &str, prompt: i64, completion: i64, cost: Option<i64>) {
        let pair = (provider.to_string(), model.to_string());
        let (provider, model) = {
            let mut labels = self.labels.lock().expect("metric labels");
            if labels.contains(&pair) || labels.len() < MAX_LABEL_PAIRS {
                labels.insert(pair.clone());
                pair
            } else {
                ("other".to_string(), "other".to_string())
            }
        };
        for (kind, tokens) in [("prompt", prompt), ("completion", completion)] {
            let labels = [("provider", provider.clone()), ("model", model.clone()), ("kind", kind.to_string())];
            metrics::counter!("weft_llm_tokens_total", &labels).increment(tokens as u64);
        }
        let labels = [("provider", provider), ("model", model)];
        metrics::counter!("weft_llm_calls_total", &labels).increment(1);
        if let Some(cost) = cost {
            metrics::counter!("weft_llm_cost_microdollars_total", &labels).increment(cost.max(0) as u64);
        }
    }
}

/// Writes whatever is queued in one transaction, then whatever queued meanwhile.
fn spawn_writer(store: Arc<dyn Store>) -> mpsc::UnboundedSender<Pending> {
    let (sender, mut queue) = mpsc::unbounded_channel::<Pending>();
    tokio::spawn(async move {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let (calls, waiters): (Vec<LlmCall>, Vec<oneshot::Sender<()>>) = batch.into_iter().unzip();
            let mut written = store.record_llm_calls(&calls).await;
            if written.is_err() {
                // Once more after a pause (a busy database, a failover).
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                written = store.record_llm_calls(&calls).await;
            }
            if let Err(error) = written {
                tracing::warn!(%error, calls = calls.len(), "could not record LLM usage");
            }
            for waiter in waiters {
                let _ = waiter.send(());
            }
        }
    });
    sender
}

/// A name cut to [`MAX_NAME_LEN`] bytes, at a character boundary.
pub fn truncated(name: &str) -> String {
    let mut end = name.len().min(MAX_NAME_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_string()
}
