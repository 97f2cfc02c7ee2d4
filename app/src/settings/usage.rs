//! LLM prices and daily budgets, set by admins: the price table turns every
//! call's tokens into cost; a budget stops a user's LLM calls for the rest of
//! the UTC day once spent.

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::UsagePolicy;
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// The price table and budgets (admins only).
#[server(endpoint = "settings/usage")]
pub async fn load_usage_policy() -> Result<UsagePolicy, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.admin().await?;
            Ok(ctx.configuration.usage_policy())
        }
        .await,
    )
}

/// Reads the form: prices as a JSON object, budgets as numbers (empty: none).
pub fn policy_from_form(prices: &str, daily_tokens: &str, daily_cost: &str) -> Result<UsagePolicy, String> {
    let prices = match prices.trim() {
        "" => Default::default(),
        text => serde_json::from_str(text).map_err(|e| {
            format!("prices must be a JSON object such as {{\"gpt-4o-mini\": {{\"prompt\": 0.15, \"completion\": 0.6}}}} ({e})")
        })?,
    };
    let daily_tokens_per_user = match daily_tokens.trim() {
        "" => None,
        text => Some(
            text.parse::<i64>().map_err(|_| format!("the daily token budget must be a whole number, not `{text}`"))?,
        ),
    };
    let daily_cost_per_user = match daily_cost.trim().trim_start_matches('$') {
        "" => None,
        text => Some(
            text.parse::<f64>()
                .map_err(|_| format!("the daily cost budget must be a number of dollars, not `{text}`"))?,
        ),
    };
    let policy = UsagePolicy { prices, daily_tokens_per_user, daily_cost_per_user };
    policy.check()?;
    Ok(policy)
}

#[server(endpoint = "settings/usage/save")]
pub async fn save_usage_policy(
    prices: String,
    daily_tokens: String,
    daily_cost: String,
) -> Result<UsagePolicy, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.admin().await?;
            let policy = policy_from_form(&prices, &daily_tokens, &daily_cost).map_err(AppError::BadRequest)?;
            ctx.configuration.update_usage_policy(policy).await
        }
        .await,
    )
}

#[component]
pub fn UsageSection() -> impl IntoView {
    let save = ServerAction::<SaveUsagePolicy>::new();
    let current = Resource::new(move || save.version().get(), |_| load_usage_policy());
    view! {
        <section class="card" data-testid="usage-settings">
            <h2>"LLM prices and budgets"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok(policy) => view! { <UsageForm policy save/> }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn UsageForm(policy: UsagePolicy, save: ServerAction<SaveUsagePolicy>) -> impl IntoView {
    let prices = RwSignal::new(if policy.prices.is_empty() {
        String::new()
    } else {
        serde_json::to_string_pretty(&policy.prices).unwrap_or_default()
    });
    let tokens = RwSignal::new(policy.daily_tokens_per_user.map(|t| t.to_string()).unwrap_or_default());
    let cost = RwSignal::new(policy.daily_cost_per_user.map(|c| c.to_string()).unwrap_or_default());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(SaveUsagePolicy {
            prices: prices.get_untracked(),
            daily_tokens: tokens.get_untracked(),
            daily_cost: cost.get_untracked(),
        });
    };
    // Checked as typed, with the server's rules.
    let problem = move || policy_from_form(&prices.get(), &tokens.get(), &cost.get()).err();
    view! {
        <form class="form" on:submit=submit>
            <p class="muted">
                "Dollars per million tokens, by model name as the provider reports it; a name ending in "
                <code>"*"</code> " prices every model it starts. Calls to a model without a price count tokens, not cost."
            </p>
            <label>"Prices (JSON)"
                <textarea rows="6" data-testid="usage-prices" placeholder=r#"{"gpt-4o-mini": {"prompt": 0.15, "completion": 0.6}, "claude-sonnet-*": {"prompt": 3, "completion": 15}}"#
                    prop:value=prices on:input=move |ev| prices.set(event_target_value(&ev))></textarea>
            </label>
            <label>"Daily tokens per user (empty: no limit)"
                <input type="number" min="1" data-testid="usage-daily-tokens" prop:value=tokens
                    on:input=move |ev| tokens.set(event_target_value(&ev))/>
            </label>
            <label>"Daily cost per user, in dollars (empty: no limit)"
                <input type="text" inputmode="decimal" data-testid="usage-daily-cost" prop:value=cost
                    on:input=move |ev| cost.set(event_target_value(&ev))/>
            </label>
            <p class="error" role="alert" data-testid="usage-problem">
                {move || problem().or_else(|| save.value().get().and_then(Result::err).map(|e| e.to_string()))}
            </p>
            {move || save.value().get().and_then(Result::ok).map(|_| view! { <p data-testid="usage-saved">"Saved; in use now."</p> })}
            <button type="submit" data-testid="save-usage" disabled=move || save.pending().get() || problem().is_some()>"Save"</button>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_reads_prices_and_budgets_or_names_the_problem() {
        let policy = policy_from_form(r#"{"m": {"prompt": 1, "completion": 2}}"#, "5000", "$1.5").unwrap();
        assert_eq!(policy.price_of("m").unwrap().completion, 2.0);
        assert_eq!((policy.daily_tokens_per_user, policy.daily_cost_per_user), (Some(5000), Some(1.5)));
        assert_eq!(policy_from_form("", "", "").unwrap(), UsagePolicy::default());
        assert!(policy_from_form("[1]", "", "").unwrap_err().starts_with("prices must be a JSON object"));
        assert!(policy_from_form("", "many", "").unwrap_err().contains("whole number"));
        assert!(policy_from_form("", "0", "").unwrap_err().contains("1 or more"));
    }
}
