//! The history page. Its filters live in the URL's query, so a filtered view
//! can be linked to, and the back button works.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_query_map};
use leptos_router::{lazy_route, LazyRoute};

use std::collections::HashMap;

use super::api::{
    history_chart, history_rows, load_history, ChartCounts, History, HistoryQuery, HistoryRow, COUNT_CAP,
};
use super::chart::HourChart;
use crate::error::AppError;
use crate::model::{ExecutionStatus, Page};
use crate::ui::virtual_rows::VirtualRows;
use crate::ui::{encode_query_value, format_time, use_hydrated};

pub struct HistoryPage;

/// What the page reads and does, made in `view`: the router calls `data()`
/// from the initial chunk, so what it makes (its server functions, the
/// decoding of their answers) would ship with every page; `view` is lazy.
struct HistoryData {
    query: Memo<HistoryQuery>,
    history: Resource<Result<History, AppError>>,
    chart: Resource<Result<ChartCounts, AppError>>,
}

impl HistoryData {
    fn load() -> Self {
        let params = use_query_map();
        let query = Memo::new(move |_| {
            params.with(|p| HistoryQuery {
                status: p.get("status"),
                workflow: p.get("workflow"),
                owner: p.get("owner"),
                from: p.get("from"),
                to: p.get("to"),
                after: p.get("after"),
            })
        });
        let history = Resource::new(move || query.get(), load_history);
        let chart = Resource::new(move || query.get(), history_chart);
        Self { query, history, chart }
    }
}

#[lazy_route]
impl LazyRoute for HistoryPage {
    fn data() -> Self {
        Self
    }

    fn view(_page: Self) -> AnyView {
        let HistoryData { query, history, chart } = HistoryData::load();
        let hydrated = use_hydrated();
        view! {
            <main class="page wide" data-testid="history-page" data-hydrated=move || hydrated.get().to_string()>
            <leptos_meta::Title text="History · Weft"/>
                <h1>"History"</h1>
                <crate::usage::TodayUsageLine/>
                <Transition fallback=|| view! { <p class="muted">"Loading the history…"</p> }>
                    {move || Suspend::new(async move {
                        match history.await {
                            Ok(history) => view! { <HistoryView history chart query=query.get_untracked()/> }.into_any(),
                            Err(error) => view! {
                                <p class="error" role="alert" data-testid="history-error">{error.to_string()}</p>
                                <a href="/history">"Clear the filters"</a>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </main>
        }
        .into_any()
    }
}

/// The query string of `query` with `after` set to `after`.
fn link_with(query: &HistoryQuery, after: Option<&str>) -> String {
    let pairs = [
        ("status", query.status.as_deref()),
        ("workflow", query.workflow.as_deref()),
        ("owner", query.owner.as_deref()),
        ("from", query.from.as_deref()),
        ("to", query.to.as_deref()),
        ("after", after),
    ];
    let encoded: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.filter(|v| !v.is_empty()).map(|v| format!("{k}={}", encode_query_value(v))))
        .collect();
    format!("/history?{}", encoded.join("&"))
}

#[component]
fn HistoryView(history: History, chart: Resource<Result<ChartCounts, AppError>>, query: HistoryQuery) -> impl IntoView {
    let History { page, count, owners } = history;
    let is_admin = !owners.is_empty();
    let emails: HashMap<i64, String> = owners.iter().map(|u| (u.id, u.email.clone())).collect();
    let count_text = if count >= i64::from(COUNT_CAP) {
        format!("more than {COUNT_CAP} executions")
    } else {
        format!("{count} execution{}", if count == 1 { "" } else { "s" })
    };
    let value_of = |field: &Option<String>| field.clone().unwrap_or_default();
    let (status, workflow, owner) = (value_of(&query.status), value_of(&query.workflow), value_of(&query.owner));
    let (from, to) = (value_of(&query.from), value_of(&query.to));
    // The filter shows a workflow's name, also when the URL holds its id (a
    // row's link); the suggestions are the names on this page.
    let mut workflow_names: Vec<String> = page.items.iter().map(|row| row.workflow_name.clone()).collect();
    workflow_names.sort_unstable();
    workflow_names.dedup();
    let workflow_shown = workflow
        .parse::<i64>()
        .ok()
        .and_then(|id| page.items.iter().find(|row| row.execution.workflow_id == id))
        .map_or_else(|| workflow.clone(), |row| row.workflow_name.clone());
    // The form's fields; applying them navigates to their URL (empty ones left
    // out), which the page's resource follows.
    let fields = HistoryQuery {
        status: Some(status.clone()),
        workflow: Some(workflow.clone()),
        owner: Some(owner.clone()),
        from: Some(from.clone()),
        to: Some(to.clone()),
        after: None,
    };
    let draft = RwSignal::new(fields);
    let set = move |field: fn(&mut HistoryQuery) -> &mut Option<String>| {
        move |ev: leptos::ev::Event| draft.update(|q| *field(q) = Some(event_target_value(&ev)))
    };
    let navigate = use_navigate();
    let apply = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        navigate(&link_with(&draft.get_untracked(), None), Default::default());
    };
    view! {
        <form class="card filters" data-testid="history-filters" on:submit=apply>
            <label>"Status"
                <select name="status" data-testid="filter-status" on:change=set(|q| &mut q.status)>
                    <option value="">"any"</option>
                    {ExecutionStatus::ALL.iter().map(|s| view! {
                        <option value=s.as_str() selected=status == s.as_str()>{s.as_str()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label>"Workflow"
                <input type="text" name="workflow" size="18" data-testid="filter-workflow" list="history-workflows"
                    placeholder="name or id" value=workflow_shown on:input=set(|q| &mut q.workflow)/>
                <datalist id="history-workflows">
                    {workflow_names.into_iter().map(|name| view! { <option value=name></option> }).collect_view()}
                </datalist>
            </label>
            {is_admin.then(|| view! {
                <label>"Owner"
                    <select name="owner" data-testid="filter-owner" on:change=set(|q| &mut q.owner)>
                        <option value="">"anyone"</option>
                        {owners.into_iter().map(|u| {
                            let id = u.id.to_string();
                            let is_selected = owner == id;
                            view! { <option value=id selected=is_selected>{u.email}</option> }
                        }).collect_view()}
                    </select>
                </label>
            })}
            <label>"From (UTC)"
                <input type="datetime-local" name="from" data-testid="filter-from" value=from on:input=set(|q| &mut q.from)/>
            </label>
            <label>"To (UTC)"
                <input type="datetime-local" name="to" data-testid="filter-to" value=to on:input=set(|q| &mut q.to)/>
            </label>
            <button type="submit" data-testid="apply-filters">"Filter"</button>
            <a href="/history">"Clear"</a>
        </form>
        // Its own Suspense: the rows show without waiting for the chart's count.
        <Suspense fallback=|| view! { <p class="muted chart-loading">"Counting the runs per hour…"</p> }>
            {move || Suspend::new(async move {
                match chart.await {
                    Ok(c) => view! { <HourChart counts=c.counts from=c.from to=c.to/> }.into_any(),
                    Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                }
            })}
        </Suspense>
        <p class="muted" data-testid="history-count">{count_text}</p>
        <RowList first=page query is_admin emails/>
    }
}

/// Every row has this height (CSS `.history-table tbody tr`), so the rows in
/// view follow from the scroll position alone.
const ROW_HEIGHT: f64 = 40.0;

/// The rows, virtualized: scrolling fetches the older ones by key, and only
/// the rows in view are in the DOM, however far down the history goes.
#[component]
fn RowList(
    first: Page<HistoryRow>,
    query: HistoryQuery,
    is_admin: bool,
    emails: HashMap<i64, String>,
) -> impl IntoView {
    let fetch_query = query.clone();
    let rows = VirtualRows::new(first, ROW_HEIGHT, move |after| {
        history_rows(HistoryQuery { after: Some(after), ..fetch_query.clone() })
    });
    let columns = if is_admin { 7 } else { 6 };
    let row_view = move |row: HistoryRow| {
        let e = row.execution;
        let took = match (e.started_at, e.finished_at) {
            (Some(s), Some(f)) => format!("{} ms", f - s),
            _ => String::new(),
        };
        let owner = is_admin.then(|| emails.get(&e.owner_id).cloned().unwrap_or_else(|| e.owner_id.to_string()));
        let by_workflow = link_with(&HistoryQuery { workflow: Some(e.workflow_id.to_string()), ..query.clone() }, None);
        view! {
            <tr data-testid="history-row" data-status=e.status.to_string()>
                <td><a href=format!("/executions/{}", e.id) data-testid="history-run-link">{format!("run {}", e.id)}</a></td>
                <td><a href=by_workflow title="Show only this workflow">{row.workflow_name}</a></td>
                <td><span class=format!("status status-{}", e.status)>{e.status.to_string()}</span></td>
                <td>{e.trigger.to_string()}</td>
                <td>{format_time(e.created_at)}</td>
                <td>{took}</td>
                {owner.map(|o| view! { <td>{o}</td> })}
            </tr>
        }
    };
    // A table's rows cannot be placed absolutely: the rows above and below
    // the rendered ones are stood in for by one spacer row each.
    let spacer = move |height: f64| {
        view! { <tr class="spacer" aria-hidden="true"><td colspan=columns style:height=format!("{height}px")></td></tr> }
    };
    view! {
        <div class="list-viewport" data-testid="history" on:scroll=rows.on_scroll()
            data-loaded=move || rows.loaded_count() data-complete=move || rows.complete().to_string()>
            <table class="table history-table">
                <thead><tr>
                    <th>"Run"</th><th>"Workflow"</th><th>"Status"</th><th>"Trigger"</th><th>"Started"</th><th>"Took"</th>
                    {is_admin.then(|| view! { <th>"Owner"</th> })}
                </tr></thead>
                <tbody>
                    {move || spacer(rows.gaps().0)}
                    <For each=move || rows.visible() key=|(_, row)| row.execution.id let((_, row))>
                        {row_view(row)}
                    </For>
                    {move || spacer(rows.gaps().1)}
                </tbody>
            </table>
        </div>
        {rows.footer()}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filters_and_encode_them() {
        let query =
            HistoryQuery { status: Some("failed".into()), from: Some("2026-11-27T10:00".into()), ..Default::default() };
        assert_eq!(link_with(&query, Some("123.45")), "/history?status=failed&from=2026-11-27T10:00&after=123.45");
        let odd = HistoryQuery { workflow: Some("1&owner=2".into()), ..Default::default() };
        assert_eq!(link_with(&odd, None), "/history?workflow=1%26owner%3D2");
    }
}
