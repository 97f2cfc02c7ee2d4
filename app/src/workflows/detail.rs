//! The workflow page: run it with an input, its triggers (with the next cron
//! firings), its recent runs, and its versions (`versions.rs`).

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::{lazy_route, LazyRoute};

use super::api::{load_workflow, RestoreVersion, WorkflowDetails};
use crate::error::AppError;
use crate::model::{example_input, input_problems, Execution, InputField, Schedule, WorkflowId};
use crate::runs::StartRun;
use crate::ui::{format_time, use_hydrated};

pub struct WorkflowPage;

/// What the page reads and does, made in `view`: the router calls `data()`
/// from the initial chunk, so what it makes (its server functions, the
/// decoding of their answers) would ship with every page; `view` is lazy.
struct WorkflowData {
    details: Resource<Result<WorkflowDetails, AppError>>,
    restore: ServerAction<RestoreVersion>,
}

impl WorkflowData {
    fn load() -> Self {
        let params = use_params_map();
        let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|v| v.parse::<WorkflowId>().ok())));
        let restore = ServerAction::<RestoreVersion>::new();
        let details = Resource::new(
            move || (id.get(), restore.version().get()),
            |(id, _)| async move {
                match id {
                    Some(id) => load_workflow(id).await,
                    None => Err(AppError::NotFound("workflow".into())),
                }
            },
        );
        Self { details, restore }
    }
}

#[lazy_route]
impl LazyRoute for WorkflowPage {
    fn data() -> Self {
        Self
    }

    fn view(_page: Self) -> AnyView {
        let WorkflowData { details, restore } = WorkflowData::load();
        let hydrated = use_hydrated();
        view! {
            <main class="page" data-testid="workflow-page" data-hydrated=move || hydrated.get().to_string()>
                <Transition fallback=|| view! { <p class="muted">"Loading the workflow…"</p> }>
                    {move || Suspend::new(async move {
                        match details.await {
                            Ok(details) => view! { <WorkflowView details restore/> }.into_any(),
                            Err(error) => view! {
                                <h1>"Workflow"</h1>
                                <p class="error" role="alert" data-testid="workflow-error">{error.to_string()}</p>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </main>
        }
        .into_any()
    }
}

#[component]
fn WorkflowView(details: WorkflowDetails, restore: ServerAction<RestoreVersion>) -> impl IntoView {
    let WorkflowDetails { workflow, versions, schedules, recent, webhooks } = details;
    // The editor, opened from here, needs no request for the definition.
    super::WorkflowCache::expect().put(workflow.clone());
    let summary = workflow.summary;
    let id = summary.id;
    view! {
        <leptos_meta::Title text=format!("{} · Weft", summary.name)/>
        <h1 data-testid="workflow-name">{summary.name}</h1>
        <p class="muted" data-testid="workflow-meta">
            // The description leads when there is one; without it the line starts at the version.
            {summary.description.filter(|d| !d.trim().is_empty()).map(|d| format!("{d} · "))}
            {format!("v{} · updated {}", summary.current_version, format_time(summary.updated_at))}
            " · " <a href=format!("/workflows/{id}/edit") data-testid="edit-workflow">"Edit"</a>
            " · " <a href=format!("/workflows/{id}/definition.json") download=format!("workflow-{id}.json")>"Export"</a>
        </p>
        <crate::usage::WorkflowUsageLine id/>
        <RunForm id fields=workflow.definition.input_fields()/>
        <section class="card" data-testid="triggers">
            <h2>"Triggers"</h2>
            {(webhooks.is_empty() && schedules.is_empty()).then(|| view! { <p class="muted">"Started by hand, the API or the CLI only."</p> })}
            <ul>
                {webhooks.into_iter().map(|(method, address)| {
                    let url = format!("/hooks/{address}");
                    view! {
                        <li data-testid="webhook"><code>{method}" "<span data-testid="webhook-url">{url.clone()}</span></code>
                            " " <crate::ui::CopyButton text=url/></li>
                    }
                }).collect_view()}
                {schedules.into_iter().map(|s| view! { <ScheduleItem schedule=s/> }).collect_view()}
            </ul>
        </section>
        <RecentRuns recent/>
        <super::versions::Versions versions current=summary.current_version restore/>
    }
}

#[component]
fn ScheduleItem(schedule: Schedule) -> impl IntoView {
    let next = match schedule.next_fire_at {
        Some(at) => format!("next run {} UTC", format_time(at)),
        None => "being planned".to_string(),
    };
    view! { <li data-testid="schedule"><code>{schedule.schedule}</code>{format!(" ({}) · {next}", schedule.timezone)}</li> }
}

/// What live checking says about the input box (empty means `{}`).
fn input_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return None;
    }
    serde_json::from_str::<serde_json::Value>(text).err().map(|e| format!("not valid JSON: {e}"))
}

/// The run form. A workflow that declares its input starts from the examples,
/// lists the fields, and says as you type what the input lacks (a warning: the
/// run may still start).
#[component]
fn RunForm(id: WorkflowId, fields: Vec<InputField>) -> impl IntoView {
    let start = ServerAction::<StartRun>::new();
    let first = if fields.is_empty() {
        "{}".to_string()
    } else {
        serde_json::to_string_pretty(&example_input(&fields)).unwrap_or_default()
    };
    let (input, set_input) = signal(first);
    let problem = Memo::new(move |_| input.with(|t| input_problem(t)));
    let declared = StoredValue::new(fields.clone());
    let warnings = Memo::new(move |_| {
        let text = input.get();
        let value = if text.trim().is_empty() { Ok(serde_json::json!({})) } else { serde_json::from_str(&text) };
        value.map(|value| declared.with_value(|fields| input_problems(fields, &value))).unwrap_or_default()
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(execution)) = start.value().get() {
            navigate(&format!("/executions/{}", execution.id), Default::default());
        }
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        start.dispatch(StartRun { workflow_id: id, input: input.get_untracked() });
    };
    view! {
        <form class="card form" on:submit=submit data-testid="run-form">
            <h2>"Run"</h2>
            {(!fields.is_empty()).then(|| view! {
                <ul class="input-fields" data-testid="input-fields">
                    {fields.into_iter().map(|f| view! {
                        <li data-testid="input-field" data-name=f.name.clone()>
                            <code>{f.name.clone()}</code>
                            <span class="muted">{format!(" {}{}", f.kind, if f.required { ", required" } else { "" })}</span>
                            {f.description.map(|d| format!(" — {d}"))}
                        </li>
                    }).collect_view()}
                </ul>
            })}
            <label>"Input (JSON)"
                <textarea rows="4" spellcheck="false" data-testid="run-input" prop:value=input
                    on:input=move |ev| set_input.set(event_target_value(&ev))></textarea>
            </label>
            {move || (!warnings.with(Vec::is_empty)).then(|| view! {
                <ul class="warning" data-testid="input-warnings">
                    {warnings.get().into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}
                </ul>
            })}
            <p class="error" role="alert">
                {move || problem.get().or_else(|| start.value().get().and_then(Result::err).map(|e| e.to_string()))}
            </p>
            <button type="submit" data-testid="run-button" disabled=move || problem.with(Option::is_some) || start.pending().get()>
                "Run"
            </button>
        </form>
    }
}

#[component]
fn RecentRuns(recent: Vec<Execution>) -> impl IntoView {
    view! {
        <section class="card" data-testid="recent-runs">
            <h2>"Recent runs"</h2>
            {recent.is_empty().then(|| view! { <p class="muted">"Not run yet."</p> })}
            <ul class="plain">
                {recent.into_iter().map(|e| view! {
                    <li>
                        <a href=format!("/executions/{}", e.id)>{format!("run {}", e.id)}</a>
                        " " <span class=format!("status status-{}", e.status)>{e.status.to_string()}</span>
                        <span class="muted">{format!(" {} · {}", e.trigger, format_time(e.created_at))}</span>
                    </li>
                }).collect_view()}
            </ul>
        </section>
    }
}
