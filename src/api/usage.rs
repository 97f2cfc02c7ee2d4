//! `/api/v1/usage`: what the caller's LLM calls spent, per UTC day, with
//! today's total and the daily budget it counts against.

use app::model::usage::{day_start, DAY_MS};
use app::model::{now_ms, UsageTotals};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ErrorBody;
use super::{ApiError, ApiState, Caller};

/// The most days one answer covers.
const MAX_DAYS: i64 = 90;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// How many UTC days, today included (1 to 90; 7 when left out).
    #[param(minimum = 1, maximum = 90)]
    days: Option<i64>,
}

/// One UTC day's calls.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DayUsage {
    /// The day's first millisecond (UTC).
    day: i64,
    totals: UsageTotals,
}

/// The daily budget per user, as an admin set it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Budget {
    #[serde(skip_serializing_if = "Option::is_none")]
    daily_tokens: Option<i64>,
    /// US dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    daily_cost: Option<f64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    /// Days with calls, oldest first.
    days: Vec<DayUsage>,
    today: UsageTotals,
    /// None when there is no budget.
    budget: Option<Budget>,
}

/// The caller's LLM usage per day (cost in millionths of a dollar, at the
/// prices of the day of each call).
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", params(UsageQuery),
    responses(
        (status = 200, description = "Calls, tokens and cost per day", body = UsageReport),
        (status = 400, description = "`days` out of range", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
    ))]
pub async fn report(
    State(state): State<ApiState>,
    caller: Caller,
    query: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<UsageReport>, ApiError> {
    let Query(query) = query?;
    let days = query.days.unwrap_or(7);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(ApiError::bad_request(format!("days must be 1 to {MAX_DAYS}, not {days}")));
    }
    let today_start = day_start(now_ms());
    let by_day = state.store.llm_usage_by_day(caller.0.id, today_start - (days - 1) * DAY_MS).await?;
    let today = by_day.iter().find(|(day, _)| *day == today_start).map(|(_, t)| *t).unwrap_or_default();
    let policy = state.engine.services().llm.usage().policy();
    let budget = policy
        .has_budget()
        .then(|| Budget { daily_tokens: policy.daily_tokens_per_user, daily_cost: policy.daily_cost_per_user });
    let days = by_day.into_iter().map(|(day, totals)| DayUsage { day, totals }).collect();
    Ok(Json(UsageReport { days, today, budget }))
}
