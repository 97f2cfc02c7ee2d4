//! LLM usage and what it costs: every call an `llm` node makes upstream is
//! recorded ([`LlmCall`]: tokens, provider, model, cost at the prices of the
//! day), summed per run, workflow and user per day ([`UsageTotals`]), and held
//! to an optional daily budget per user ([`UsagePolicy`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::records::{ExecutionId, UserId, WorkflowId};

/// A day in milliseconds: usage days are UTC days.
pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The start of the UTC day `at` (ms) falls in.
pub fn day_start(at: i64) -> i64 {
    at.div_euclid(DAY_MS) * DAY_MS
}

/// One upstream call an `llm` node made (cached answers make none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmCall {
    pub execution_id: ExecutionId,
    pub user_id: UserId,
    pub node_id: String,
    /// The provider's credential name, or `default`.
    pub provider: String,
    pub model: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// In millionths of a US dollar; None when the price table has no price for the model.
    pub cost_micros: Option<i64>,
    pub at: i64,
}

/// What the usage totals are of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageOf {
    Execution(ExecutionId),
    Workflow(WorkflowId),
    User(UserId),
}

/// Calls, tokens and cost summed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct UsageTotals {
    pub calls: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    /// In millionths of a US dollar, of the calls whose model has a price.
    pub cost_micros: i64,
    /// Calls to models the price table has no price for (their cost is not in `cost_micros`).
    pub unpriced_calls: i64,
}

impl UsageTotals {
    pub fn tokens(&self) -> i64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }

    /// One line for the pages: "3 LLM calls · 1,234 tokens (1,000 prompt, 234 completion) · $0.0012".
    pub fn describe(&self) -> String {
        if self.calls == 0 {
            return "no LLM calls".into();
        }
        let calls = if self.calls == 1 { "1 LLM call".to_string() } else { format!("{} LLM calls", group(self.calls)) };
        let mut line = format!(
            "{calls} · {} tokens ({} prompt, {} completion)",
            group(self.tokens()),
            group(self.prompt_tokens),
            group(self.completion_tokens)
        );
        if self.unpriced_calls < self.calls {
            line.push_str(&format!(" · {}", dollars(self.cost_micros)));
        }
        match self.unpriced_calls {
            0 => {}
            1 => line.push_str(" · 1 call without a price"),
            n => line.push_str(&format!(" · {} calls without a price", group(n))),
        }
        line
    }
}

/// `1234567` → `1,234,567`.
pub fn group(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Millionths of a dollar as dollars, with the digits a small sum needs: `$0.000046`, `$0.0012`, `$3.50`.
pub fn dollars(micros: i64) -> String {
    let value = micros as f64 / 1e6;
    match micros.abs() {
        0 => "$0.00".to_string(),
        1..100 => format!("${value:.6}"),
        100..10_000 => format!("${value:.4}"),
        _ => format!("${value:.2}"),
    }
}

/// What a model costs, in US dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    pub prompt: f64,
    pub completion: f64,
}

/// The most models a price table lists.
pub const MAX_PRICED_MODELS: usize = 500;

/// Prices per model and the daily budget per user (admins set them on the
/// settings page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UsagePolicy {
    /// By model name as the provider reports it (`gpt-4o-mini`); a name
    /// ending in `*` prices every model it starts (`claude-sonnet-4*`).
    #[serde(default)]
    pub prices: BTreeMap<String, ModelPrice>,
    /// Tokens (prompt and completion) one user's runs may spend per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_tokens_per_user: Option<i64>,
    /// US dollars one user's runs may spend per UTC day (priced models only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cost_per_user: Option<f64>,
}

impl UsagePolicy {
    pub fn check(&self) -> Result<(), String> {
        if self.prices.len() > MAX_PRICED_MODELS {
            return Err(format!("the price table lists {} models, at most {MAX_PRICED_MODELS}", self.prices.len()));
        }
        for (model, price) in &self.prices {
            if model.trim().is_empty() || model.len() > 200 {
                return Err("a priced model's name must be 1 to 200 characters".into());
            }
            let fine = |p: f64| p.is_finite() && (0.0..=1_000_000.0).contains(&p);
            if !fine(price.prompt) || !fine(price.completion) {
                return Err(format!("the prices of `{model}` must be 0 to 1,000,000 dollars per million tokens"));
            }
        }
        if self.daily_tokens_per_user.is_some_and(|t| t < 1) {
            return Err("the daily token budget must be 1 or more (leave it empty for none)".into());
        }
        if self.daily_cost_per_user.is_some_and(|c| !c.is_finite() || c <= 0.0 || c > 1e9) {
            return Err("the daily cost budget must be more than 0 dollars (leave it empty for none)".into());
        }
        Ok(())
    }

    /// The price of `model`: its own, else the longest `prefix*` that matches.
    pub fn price_of(&self, model: &str) -> Option<ModelPrice> {
        if let Some(price) = self.prices.get(model) {
            return Some(*price);
        }
        self.prices
            .iter()
            .filter_map(|(name, price)| Some((name.strip_suffix('*')?, price)))
            .filter(|(prefix, _)| model.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, price)| *price)
    }

    /// What `prompt` and `completion` tokens of `model` cost, in millionths of a dollar.
    pub fn cost_micros(&self, model: &str, prompt: i64, completion: i64) -> Option<i64> {
        let price = self.price_of(model)?;
        // Dollars per million tokens are millionths of a dollar per token.
        // `as` saturates: an absurd count cannot wrap the cost negative.
        Some((prompt as f64 * price.prompt + completion as f64 * price.completion).round() as i64)
    }

    /// Why a user who spent `today` may not call an LLM now, if so.
    pub fn refusal(&self, today: &UsageTotals) -> Option<String> {
        if let Some(budget) = self.daily_tokens_per_user.filter(|budget| today.tokens() >= *budget) {
            return Some(format!(
                "the daily LLM budget is spent: {} of {} tokens used today (it renews at 00:00 UTC); nothing was sent",
                group(today.tokens()),
                group(budget)
            ));
        }
        if let Some(budget) = self.daily_cost_per_user.filter(|budget| today.cost_micros as f64 >= budget * 1e6) {
            return Some(format!(
                "the daily LLM budget is spent: {} of {} used today (it renews at 00:00 UTC); nothing was sent",
                dollars(today.cost_micros),
                dollars((budget * 1e6) as i64)
            ));
        }
        None
    }

    /// The budget in words ("10,000 tokens and $1.00 a day"), if there is one.
    pub fn describe_budget(&self) -> Option<String> {
        let tokens = self.daily_tokens_per_user.map(|t| format!("{} tokens", group(t)));
        let cost = self.daily_cost_per_user.map(|c| dollars((c * 1e6) as i64));
        let parts: Vec<String> = tokens.into_iter().chain(cost).collect();
        (!parts.is_empty()).then(|| format!("{} a day", parts.join(" and ")))
    }

    pub fn has_budget(&self) -> bool {
        self.daily_tokens_per_user.is_some() || self.daily_cost_per_user.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> UsagePolicy {
        let mut prices = BTreeMap::new();
        prices.insert("gpt-4o-mini".to_string(), ModelPrice { prompt: 0.15, completion: 0.6 });
        prices.insert("claude-*".to_string(), ModelPrice { prompt: 1.0, completion: 5.0 });
        prices.insert("claude-sonnet-*".to_string(), ModelPrice { prompt: 3.0, completion: 15.0 });
        UsagePolicy { prices, daily_tokens_per_user: Some(1000), daily_cost_per_user: Some(0.5) }
    }

    #[test]
    fn prices_turn_tokens_into_cost_by_exact_name_then_longest_prefix() {
        let policy = policy();
        assert_eq!(policy.cost_micros("gpt-4o-mini", 1_000_000, 0), Some(150_000));
        assert_eq!(policy.cost_micros("claude-sonnet-4-5", 1000, 100), Some(3000 + 1500));
        assert_eq!(policy.cost_micros("claude-haiku-4-5", 1000, 100), Some(1000 + 500));
        assert_eq!(policy.cost_micros("llama3.2", 1000, 100), None);
    }

    #[test]
    fn a_spent_budget_refuses_and_says_which() {
        let policy = policy();
        let under =
            UsageTotals { calls: 2, prompt_tokens: 500, completion_tokens: 400, cost_micros: 10, unpriced_calls: 0 };
        assert_eq!(policy.refusal(&under), None);
        let tokens = UsageTotals { completion_tokens: 500, ..under };
        let refusal = policy.refusal(&tokens).unwrap();
        assert!(refusal.starts_with("the daily LLM budget is spent: 1,000 of 1,000 tokens used today"), "{refusal}");
        let cost = UsageTotals { cost_micros: 500_000, ..under };
        assert!(policy.refusal(&cost).unwrap().contains("$0.50 of $0.50 used today"));
    }

    #[test]
    fn bad_policies_name_the_problem() {
        assert!(policy().check().is_ok());
        let mut bad = policy();
        bad.prices.insert("x".into(), ModelPrice { prompt: -1.0, completion: 0.0 });
        assert!(bad.check().unwrap_err().contains("`x`"));
        assert!(UsagePolicy { daily_tokens_per_user: Some(0), ..policy() }.check().is_err());
        assert!(UsagePolicy { daily_cost_per_user: Some(f64::NAN), ..policy() }.check().is_err());
    }

    #[test]
    fn totals_read_as_one_line() {
        let totals =
            UsageTotals { calls: 3, prompt_tokens: 1000, completion_tokens: 234, cost_micros: 1200, unpriced_calls: 1 };
        assert_eq!(
            totals.describe(),
            "3 LLM calls · 1,234 tokens (1,000 prompt, 234 completion) · $0.0012 · 1 call without a price"
        );
        assert_eq!(UsageTotals::default().describe(), "no LLM calls");
        assert_eq!(day_start(DAY_MS * 3 + 5), DAY_MS * 3);
    }
}
