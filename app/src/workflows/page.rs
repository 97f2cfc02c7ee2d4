//! The workflows page: search, the virtualized list, and the import form with
//! live validation.

use leptos::lazy;
use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};
use leptos_use_signal_debounce_throttle::signal_debounced;

use super::api::{list_workflows, DeleteWorkflow, DuplicateWorkflow, ImportWorkflow};
use crate::error::AppError;
use crate::model::MAX_PAGE_SIZE;
use crate::model::{validate_to_save, Page, WorkflowSummary};
use crate::ui::virtual_rows::VirtualRows;
use crate::ui::{format_time, use_hydrated};

/// Every row has this height (CSS `.workflow-row`), so the rows in view follow
/// from the scroll position alone, with no measuring.
const ROW_HEIGHT: f64 = 56.0;
/// How long the search box waits after the last key before it asks the server.
const SEARCH_DEBOUNCE_MS: f64 = 300.0;

/// The workflows page, a lazy-loaded route.
pub struct WorkflowsPage;

/// What the page reads and does, made in `view`: the router calls `data()`
/// from the initial chunk, so what it makes (its server functions, the
/// decoding of their answers) would ship with every page; `view` is lazy.
struct WorkflowsData {
    import: ServerAction<ImportWorkflow>,
    delete: ServerAction<DeleteWorkflow>,
    duplicate: ServerAction<DuplicateWorkflow>,
    query: RwSignal<String>,
    search: Signal<String>,
    first_page: Resource<Result<Page<WorkflowSummary>, AppError>>,
}

impl WorkflowsData {
    fn load() -> Self {
        let import = ServerAction::<ImportWorkflow>::new();
        let delete = ServerAction::<DeleteWorkflow>::new();
        let duplicate = ServerAction::<DuplicateWorkflow>::new();
        let query = RwSignal::new(String::new());
        // One request per burst of typing.
        let search = signal_debounced(query, SEARCH_DEBOUNCE_MS);
        let changes = move || (import.version().get(), delete.version().get(), duplicate.version().get());
        // A newer search replaces the resource's pending one: a slow, stale answer is dropped.
        let first_page =
            Resource::new(move || (search.get(), changes()), |(search, _)| list_workflows(Some(search), None, None));
        Self { import, delete, duplicate, query, search, first_page }
    }
}

#[lazy_route]
impl LazyRoute for WorkflowsPage {
    fn data() -> Self {
        Self
    }

    fn view(_page: Self) -> AnyView {
        let WorkflowsData { import, delete, duplicate, query, search, first_page } = WorkflowsData::load();
        let hydrated = use_hydrated();
        view! {
            <main class="page" data-testid="workflows-page" data-hydrated=move || hydrated.get().to_string()>
            <leptos_meta::Title text="Workflows · Weft"/>
                <div class="title-row">
                    <h1>"Workflows"</h1>
                    <NewWorkflowButton/>
                </div>
                <input type="search" class="search" placeholder="Search workflows by name" aria-label="Search workflows"
                    data-testid="workflow-search" prop:value=query on:input=move |ev| query.set(event_target_value(&ev))/>
                <Transition fallback=|| view! { <p class="muted">"Loading workflows…"</p> }>
                    {move || Suspend::new(async move {
                        match first_page.await {
                            Ok(page) => view! {
                                <WorkflowList first=page search=search.get_untracked() delete duplicate/>
                            }.into_any(),
                            Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
                <ImportForm import/>
            </main>
        }
        .into_any()
    }
}

/// Opens the editor on a new workflow. Nothing is created until the editor's
/// first save, so looking and leaving leaves no empty workflow behind.
#[component]
fn NewWorkflowButton() -> impl IntoView {
    let navigate = leptos_router::hooks::use_navigate();
    view! {
        <button data-testid="new-workflow" on:click=move |_| navigate(super::NEW_WORKFLOW_PATH, Default::default())>
            "New workflow"
        </button>
    }
}

/// The list, virtualized: all loaded workflows are kept as data, but only the
/// rows in view are in the DOM, however many there are. Further pages are
/// fetched (by key) as the view nears the end of what is loaded.
#[component]
fn WorkflowList(
    first: Page<WorkflowSummary>,
    search: String,
    delete: ServerAction<DeleteWorkflow>,
    duplicate: ServerAction<DuplicateWorkflow>,
) -> impl IntoView {
    if first.items.is_empty() {
        if !search.trim().is_empty() {
            return view! { <p class="muted" data-testid="no-workflows">"No workflow matches."</p> }.into_any();
        }
        // A newcomer's first look: the three ways to a first workflow.
        return view! {
            <div class="empty-state" data-testid="no-workflows">
                <p><strong>"No workflows yet."</strong></p>
                <p class="muted">
                    "Build one with "
                    <a href=super::NEW_WORKFLOW_PATH data-testid="empty-new-workflow">"New workflow"</a>
                    ", start from a ready-made one in the "
                    <a href="/marketplace" data-testid="empty-marketplace-link">"marketplace"</a>
                    ", or paste a definition below."
                </p>
            </div>
        }
        .into_any();
    }
    let rows = VirtualRows::new(first, ROW_HEIGHT, move |after| {
        list_workflows(Some(search.clone()), Some(after), Some(MAX_PAGE_SIZE))
    });
    view! {
        <div class="list-viewport" data-testid="workflow-list" on:scroll=rows.on_scroll()
            data-loaded=move || rows.loaded_count() data-complete=move || rows.complete().to_string()>
            <ul class="workflow-list" style:height=move || format!("{}px", rows.total_height())>
                <For each=move || rows.visible() key=|(_, w)| w.id let((index, workflow))>
                    <WorkflowRow workflow top=index as f64 * ROW_HEIGHT delete duplicate/>
                </For>
            </ul>
        </div>
        {rows.footer()}
    }
    .into_any()
}

fn confirmed(question: &str) -> bool {
    web_sys::window().and_then(|w| w.confirm_with_message(question).ok()).unwrap_or(false)
}

#[component]
fn WorkflowRow(
    workflow: WorkflowSummary,
    top: f64,
    delete: ServerAction<DeleteWorkflow>,
    duplicate: ServerAction<DuplicateWorkflow>,
) -> impl IntoView {
    let id = workflow.id;
    let (status, status_class, when) = match &workflow.last_execution {
        Some(last) => (last.status.to_string(), format!("status status-{}", last.status), format_time(last.created_at)),
        None => ("never run".to_string(), "status status-none".to_string(), String::new()),
    };
    let question = format!("Delete “{}” with all its versions and executions?", workflow.name);
    let cache = super::WorkflowCache::expect();
    view! {
        <li class="workflow-row" data-testid="workflow-row" data-workflow-id=id style:top=format!("{top}px")>
            <a class="workflow-name" href=format!("/workflows/{id}") data-testid="workflow-link">{workflow.name}</a>
            <span class="workflow-description muted">{workflow.description.unwrap_or_default()}</span>
            <span class="version">{format!("v{}", workflow.current_version)}</span>
            <span class=status_class title=when>{status}</span>
            <span class="row-actions">
                <a href=format!("/workflows/{id}/definition.json") download=format!("workflow-{id}.json")
                    data-testid="export-workflow">"Export"</a>
                <button class="link" data-testid="duplicate-workflow"
                    on:click=move |_| { duplicate.dispatch(DuplicateWorkflow { id }); }>"Duplicate"</button>
                <button class="link danger" data-testid="delete-workflow"
                    on:click=move |_| if confirmed(&question) {
                        cache.forget(id);
                        delete.dispatch(DeleteWorkflow { id });
                    }>"Delete"</button>
            </span>
        </li>
    }
}

/// What live validation says about the text in the import box. A lazy
/// function: the validation (with its template engine, most of this page's
/// code) is fetched on the first keystroke, not with the list.
#[lazy]
async fn check_definition_lazily(text: String) -> Checked {
    check_definition(&text)
}

/// What the import box's text would import as: its problems, and for an
/// n8n export, what did not carry over as it was.
#[derive(Clone, Default)]
struct Checked {
    problems: Vec<String>,
    notes: Vec<crate::model::n8n::ImportNote>,
    /// Pasted from n8n: how many nodes it became.
    from_n8n: Option<usize>,
}

fn check_definition(text: &str) -> Checked {
    if text.trim().is_empty() {
        return Checked::default();
    }
    let is_n8n =
        serde_json::from_str::<serde_json::Value>(text).is_ok_and(|value| crate::model::n8n::is_n8n_export(&value));
    match crate::model::n8n::definition_from_text(text) {
        Err(message) => Checked { problems: vec![message], ..Default::default() },
        Ok((definition, notes)) => {
            let problems = match validate_to_save(&definition) {
                Ok(_) => Vec::new(),
                Err(errors) => errors.into_iter().map(|e| e.message).collect(),
            };
            Checked { problems, notes, from_n8n: is_n8n.then_some(definition.nodes.len()) }
        }
    }
}

#[component]
fn ImportForm(import: ServerAction<ImportWorkflow>) -> impl IntoView {
    let (text, set_text) = signal(String::new());
    // Memoized: the definition is parsed and validated once per edit, however many
    // places read the result.
    // Checked once per edit, however many places read the result; `None` while
    // the check (or its code) is on its way.
    let problems = LocalResource::new(move || {
        let text = text.get();
        async move {
            if text.trim().is_empty() {
                Checked::default()
            } else {
                check_definition_lazily(text).await
            }
        }
    });
    let checked = move || problems.get();
    let server_problems = move || match import.value().get() {
        Some(Err(AppError::Invalid(errors))) => errors.into_iter().map(|e| e.message).collect(),
        Some(Err(other)) => vec![other.to_string()],
        _ => Vec::new(),
    };
    // Clear the box once the server has accepted the workflow.
    Effect::new(move |_| {
        if let Some(Ok(_)) = import.value().get() {
            set_text.set(String::new());
        }
    });

    let on_file = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(file) = input.files().and_then(|files| files.get(0)) {
            leptos::task::spawn_local(async move {
                match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                    Ok(contents) => set_text.set(contents.as_string().unwrap_or_default()),
                    Err(_) => set_text.set(String::new()),
                }
            });
        }
    };
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        import.dispatch(ImportWorkflow { definition: text.get_untracked() });
    };
    let can_submit = move || {
        !text.with(|t| t.trim().is_empty())
            && checked().is_some_and(|c| c.problems.is_empty())
            && !import.pending().get()
    };

    view! {
        <form class="import card" on:submit=submit data-testid="import-form">
            <h2>"Import a workflow"</h2>
            <label for="definition">"Paste a definition (JSON), or an n8n workflow export"</label>
            <textarea
                id="definition"
                name="definition"
                data-testid="definition-input"
                rows="10"
                spellcheck="false"
                placeholder=r#"{"name": "My workflow", "nodes": [...], "edges": [...]}"#
                prop:value=text
                on:input=move |ev| set_text.set(event_target_value(&ev))
            ></textarea>
            <label class="file">
                "…or upload a file "
                <input type="file" accept=".json,application/json" data-testid="definition-file" on:change=on_file/>
            </label>
            <ul class="problems" data-testid="validation-errors" role="alert">
                {move || checked().unwrap_or_default().problems.into_iter().chain(server_problems()).map(|p| view! { <li>{p}</li> }).collect_view()}
            </ul>
            {move || checked().and_then(|c| Some((c.from_n8n?, c.notes))).map(|(nodes, notes)| view! {
                <div class="n8n-report" data-testid="n8n-report">
                    <p>{format!("From n8n: {nodes} nodes. ")}
                        {if notes.is_empty() { "Everything carried over.".to_string() } else { format!("{} things to check:", notes.len()) }}</p>
                    <ul>
                        {notes.into_iter().map(|n| view! {
                            <li data-testid="n8n-note"><strong>{n.node}</strong>": "{n.reason}</li>
                        }).collect_view()}
                    </ul>
                </div>
            })}
            <button type="submit" data-testid="import-button" disabled=move || !can_submit()>"Import"</button>
        </form>
    }
}
