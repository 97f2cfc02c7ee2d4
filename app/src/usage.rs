//! What LLM calls spent, as the pages show it: a run's total (run view), a
//! workflow's today and over 30 days (workflow page), and the viewer's today
//! against the daily budget (history). Read after hydration: totals change
//! while runs go on, and are never worth holding the page for.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{ExecutionId, UsageTotals, WorkflowId};
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// A workflow's usage: today (UTC) and over the last 30 days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkflowUsage {
    pub today: UsageTotals,
    pub last_30_days: UsageTotals,
}

/// The viewer's usage today and the budget it counts against.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TodayUsage {
    pub today: UsageTotals,
    /// e.g. "10,000 tokens and $1.00 a day"; None without a budget.
    pub budget: Option<String>,
}

/// A run's LLM calls summed (someone else's run is not found).
#[server(endpoint = "usage/run")]
pub async fn load_run_usage(id: ExecutionId) -> Result<UsageTotals, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let execution = ctx.store.execution(ctx.readable_scope().await?, id).await?;
            // Calls outlive their runs, and SQLite may give a deleted run's id
            // to a new one: only calls made since this run began are its own.
            ctx.store.llm_usage(crate::model::UsageOf::Execution(execution.id), execution.created_at).await
        }
        .await,
    )
}

#[server(endpoint = "usage/workflow")]
pub async fn load_workflow_usage(id: WorkflowId) -> Result<WorkflowUsage, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let workflow = ctx.store.workflow(ctx.readable_scope().await?, id).await?;
            let of = crate::model::UsageOf::Workflow(workflow.summary.id);
            let today = crate::model::usage::day_start(crate::model::now_ms());
            // As for runs: a workflow's id may have been a deleted one's.
            let born = workflow.summary.created_at;
            let (today, month) = (today.max(born), (today - 29 * crate::model::usage::DAY_MS).max(born));
            let (today, last_30_days) =
                futures::try_join!(ctx.store.llm_usage(of, today), ctx.store.llm_usage(of, month))?;
            Ok(WorkflowUsage { today, last_30_days })
        }
        .await,
    )
}

#[server(endpoint = "usage/today")]
pub async fn load_today_usage() -> Result<TodayUsage, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let viewer = ctx.viewer().await?;
            let since = crate::model::usage::day_start(crate::model::now_ms());
            let today = ctx.store.llm_usage(crate::model::UsageOf::User(viewer.id), since).await?;
            Ok(TodayUsage { today, budget: ctx.configuration.usage_policy().describe_budget() })
        }
        .await,
    )
}

/// A usage line's figures, read only once the page is hydrated. A
/// `LocalResource` read while the server renders a `<Suspense>` makes that
/// whole Suspense give up its server rendering and leaves it to the browser
/// (leptos's rule for browser-only data), and which comes first depended on
/// timing: now and then a run page arrived with an empty `<main>`. The lines
/// are small and come after the page is live.
fn browser_only<T: Clone + 'static>(hydrated: ReadSignal<bool>, resource: LocalResource<T>) -> Option<T> {
    if hydrated.get() {
        resource.get()
    } else {
        None
    }
}

/// A run's LLM total under its header, read again when the run ends.
#[component]
pub fn RunUsage(id: ExecutionId, #[prop(into)] finished: Signal<bool>) -> impl IntoView {
    let totals = LocalResource::new(move || {
        finished.track();
        load_run_usage(id)
    });
    let hydrated = crate::ui::use_hydrated();
    move || {
        // Read in the browser only: see `browser_only`.
        browser_only(hydrated, totals).and_then(Result::ok).filter(|t| t.calls > 0).map(|totals| {
            view! { <p class="muted" data-testid="run-usage">{totals.describe()}</p> }
        })
    }
}

#[component]
pub fn WorkflowUsageLine(id: WorkflowId) -> impl IntoView {
    let usage = LocalResource::new(move || load_workflow_usage(id));
    let hydrated = crate::ui::use_hydrated();
    move || {
        browser_only(hydrated, usage).and_then(Result::ok).filter(|u| u.last_30_days.calls > 0).map(|usage| {
            view! {
                <p class="muted" data-testid="workflow-usage">
                    {format!("LLM use today: {} · last 30 days: {}", usage.today.describe(), usage.last_30_days.describe())}
                </p>
            }
        })
    }
}

#[component]
pub fn TodayUsageLine() -> impl IntoView {
    let usage = LocalResource::new(load_today_usage);
    let hydrated = crate::ui::use_hydrated();
    move || {
        browser_only(hydrated, usage).and_then(Result::ok).filter(|u| u.today.calls > 0 || u.budget.is_some()).map(|usage| {
            let budget = usage.budget.map(|b| format!(" (budget: {b})")).unwrap_or_default();
            view! { <p class="muted" data-testid="today-usage">{format!("Your LLM use today: {}{budget}", usage.today.describe())}</p> }
        })
    }
}
