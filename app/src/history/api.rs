//! The history's server functions: the first page of rows with the count,
//! the rows after a cursor (as the list is scrolled), and the chart.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::model::{Cursor, ExecutionFilter, ExecutionStatus, Scope};
use crate::model::{Execution, HourCount, Page, User};
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// Rows per page of the history.
pub const HISTORY_PAGE_SIZE: u32 = 50;
/// Counting stops here; beyond it the page says "more than".
pub const COUNT_CAP: u32 = 10_000;
/// The chart covers at most this many hours (the newest of the range).
pub const CHART_HOURS: i64 = 48;
#[cfg(feature = "ssr")]
const HOUR_MS: i64 = 3_600_000;

/// The filters, as the URL's query carries them (all optional).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryQuery {
    pub status: Option<String>,
    pub workflow: Option<String>,
    pub owner: Option<String>,
    /// `YYYY-MM-DDTHH:MM` (UTC), as a `datetime-local` input gives it.
    pub from: Option<String>,
    pub to: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub execution: Execution,
    pub workflow_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub page: Page<HistoryRow>,
    /// How many match, counted up to [`COUNT_CAP`].
    pub count: i64,
    /// Admins filter by owner: the users to choose from (empty for others).
    pub owners: Vec<User>,
}

/// Executions per hour and status over the newest hours of the range: read
/// apart from the rows (it counts every execution of those hours, the rows
/// read 50), so the list never waits for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChartCounts {
    pub counts: Vec<HourCount>,
    /// The chart's hours: `[from, to)`.
    pub from: i64,
    pub to: i64,
}

/// The workflow filter: an id (what a row's workflow link sets), or a name as
/// typed (the newest of the viewer's workflows with that name, any case).
#[cfg(feature = "ssr")]
async fn resolve_workflow(ctx: &ServerContext, scope: Scope, text: Option<&str>) -> Result<Option<i64>, AppError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    if let Ok(id) = text.parse::<i64>() {
        return Ok(Some(id));
    }
    let found = ctx.store.list_workflows(scope, Some(text), None, crate::model::MAX_PAGE_SIZE).await?;
    let named = found.items.iter().find(|w| w.name.eq_ignore_ascii_case(text));
    named.map(|w| Some(w.id)).ok_or_else(|| AppError::BadRequest(format!("no workflow is named `{text}`")))
}

#[cfg(feature = "ssr")]
fn parse_filter(query: &HistoryQuery) -> Result<ExecutionFilter, AppError> {
    fn text(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    fn id(value: &Option<String>, what: &str) -> Result<Option<i64>, AppError> {
        text(value)
            .map(|v| v.parse().map_err(|_| AppError::BadRequest(format!("`{v}` is not a {what} id"))))
            .transpose()
    }
    fn time(value: &Option<String>) -> Result<Option<i64>, AppError> {
        text(value)
            .map(|v| {
                crate::ui::parse_time(v)
                    .ok_or_else(|| AppError::BadRequest(format!("`{v}` is not a time (YYYY-MM-DDTHH:MM)")))
            })
            .transpose()
    }
    let status = text(&query.status)
        .map(|s| ExecutionStatus::parse(s).ok_or_else(|| AppError::BadRequest(format!("unknown status `{s}`"))))
        .transpose()?;
    Ok(ExecutionFilter {
        workflow_id: None, // resolved by name or id in `resolve_workflow`
        owner_id: id(&query.owner, "user")?,
        status,
        from: time(&query.from)?,
        to: time(&query.to)?,
    })
}

/// What a history request reads from its query: the scope, the filter (with
/// the workflow resolved), and the cursor.
#[cfg(feature = "ssr")]
async fn read_query(
    ctx: &ServerContext,
    query: &HistoryQuery,
) -> Result<(crate::model::User, Scope, ExecutionFilter, Option<Cursor>), AppError> {
    let viewer = ctx.viewer().await?;
    let scope = if viewer.is_admin { Scope::Everyone } else { Scope::Owner(viewer.id) };
    let mut filter = parse_filter(query)?;
    filter.workflow_id = resolve_workflow(ctx, scope, query.workflow.as_deref()).await?;
    let after = query.after.as_deref().filter(|a| !a.is_empty()).map(Cursor::decode).transpose();
    Ok((viewer, scope, filter, after.map_err(AppError::BadRequest)?))
}

/// A page of rows, each with its workflow's name (all names in one query).
#[cfg(feature = "ssr")]
async fn rows(
    ctx: &ServerContext,
    scope: Scope,
    filter: &ExecutionFilter,
    after: Option<Cursor>,
    limit: u32,
) -> Result<Page<HistoryRow>, AppError> {
    let page = ctx.store.list_executions(scope, filter, after, limit).await?;
    let mut ids: Vec<i64> = page.items.iter().map(|e| e.workflow_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let names: std::collections::HashMap<i64, String> =
        ctx.store.workflow_names(scope, &ids).await?.into_iter().collect();
    let items = page
        .items
        .into_iter()
        .map(|execution| {
            let workflow_name = names.get(&execution.workflow_id).cloned().unwrap_or_else(|| "(deleted)".into());
            HistoryRow { execution, workflow_name }
        })
        .collect();
    Ok(Page { items, next: page.next })
}

/// Sent as JSON, not as a URL-encoded form (the default): a form encoding of a
/// query whose fields are all empty is an empty body, which has no `query` to
/// read back, so opening the history from the menu failed with a 400.
#[server(endpoint = "history/load", input = leptos::server_fn::codec::Json)]
pub async fn load_history(query: HistoryQuery) -> Result<History, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let (viewer, scope, filter, after) = read_query(&ctx, &query).await?;
            // Independent reads, issued together.
            let (page, count) = futures::try_join!(
                rows(&ctx, scope, &filter, after, HISTORY_PAGE_SIZE),
                ctx.store.count_executions_up_to(scope, &filter, COUNT_CAP),
            )?;
            let owners = if viewer.is_admin { ctx.store.list_users().await? } else { Vec::new() };
            Ok(History { page, count, owners })
        }
        .await,
    )
}

/// The history's chart for these filters.
#[server(endpoint = "history/chart", input = leptos::server_fn::codec::Json)]
pub async fn history_chart(query: HistoryQuery) -> Result<ChartCounts, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let (_, scope, filter, _) = read_query(&ctx, &query).await?;
            // The newest hours of the range (the last ones before now without one).
            let to = filter.to.unwrap_or_else(|| (crate::model::now_ms() / HOUR_MS + 1) * HOUR_MS);
            let from = filter.from.unwrap_or(i64::MIN).max(to - CHART_HOURS * HOUR_MS);
            let hours = ExecutionFilter { from: Some(from), to: Some(to), ..filter };
            let counts = ctx.store.executions_per_hour(scope, &hours).await?;
            Ok(ChartCounts { counts, from, to })
        }
        .await,
    )
}

/// The rows after `query.after`, a larger page at a time: what the history's
/// list fetches as it is scrolled (the count and the chart stay as they were).
#[server(endpoint = "history/rows", input = leptos::server_fn::codec::Json)]
pub async fn history_rows(query: HistoryQuery) -> Result<Page<HistoryRow>, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let (_, scope, filter, after) = read_query(&ctx, &query).await?;
            rows(&ctx, scope, &filter, after, crate::model::MAX_PAGE_SIZE).await
        }
        .await,
    )
}
