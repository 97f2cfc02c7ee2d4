//! The workflows page: the list, and the import form with live validation.

use leptos::prelude::*;

use super::api::{list_workflows, ImportWorkflow};
use crate::error::AppError;
use crate::model::{validate, WorkflowDefinition, WorkflowSummary};

#[component]
pub fn WorkflowsPage() -> impl IntoView {
    let import = ServerAction::<ImportWorkflow>::new();
    // Refetch the list whenever an import finishes.
    let workflows = Resource::new(move || import.version().get(), |_| list_workflows(None, None));

    // Effects run only in the browser, so this attribute flips once hydration is
    // done: tests (and people debugging) can tell a live page from static HTML.
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));

    view! {
        <main class="page" data-testid="workflows-page" data-hydrated=move || hydrated.get().to_string()>
            <h1>"Workflows"</h1>
            <ImportForm import/>
            <Transition fallback=|| view! { <p class="muted">"Loading workflows…"</p> }>
                {move || Suspend::new(async move {
                    match workflows.await {
                        Ok(page) => view! { <WorkflowList workflows=page.items/> }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

#[component]
fn WorkflowList(workflows: Vec<WorkflowSummary>) -> impl IntoView {
    if workflows.is_empty() {
        return view! { <p class="muted" data-testid="no-workflows">"No workflows yet. Import one above."</p> }
            .into_any();
    }
    view! {
        <ul class="workflow-list" data-testid="workflow-list">
            {workflows.into_iter().map(|w| view! { <WorkflowRow workflow=w/> }).collect_view()}
        </ul>
    }
    .into_any()
}

#[component]
fn WorkflowRow(workflow: WorkflowSummary) -> impl IntoView {
    let (status, status_class) = match &workflow.last_execution {
        Some(last) => (last.status.to_string(), format!("status status-{}", last.status)),
        None => ("never run".to_string(), "status status-none".to_string()),
    };
    view! {
        <li class="workflow-row" data-testid="workflow-row" data-workflow-id=workflow.id>
            <span class="workflow-name">{workflow.name}</span>
            <span class="workflow-description muted">{workflow.description.unwrap_or_default()}</span>
            <span class="version">{format!("v{}", workflow.current_version)}</span>
            <span class=status_class>{status}</span>
        </li>
    }
}

/// What live validation says about the text in the import box.
fn check_definition(text: &str) -> Vec<String> {
    if text.trim().is_empty() {
        return Vec::new();
    }
    match WorkflowDefinition::from_json(text) {
        Err(message) => vec![message],
        Ok(definition) => match validate(&definition) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.message).collect(),
        },
    }
}

#[component]
fn ImportForm(import: ServerAction<ImportWorkflow>) -> impl IntoView {
    let (text, set_text) = signal(String::new());
    // Memoized: the definition is parsed and validated once per edit, however many
    // places read the result.
    let problems = Memo::new(move |_| text.with(|t| check_definition(t)));
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
    let can_submit =
        move || !text.with(|t| t.trim().is_empty()) && problems.with(Vec::is_empty) && !import.pending().get();

    view! {
        <form class="import" on:submit=submit data-testid="import-form">
            <h2>"Import a workflow"</h2>
            <label for="definition">"Paste a definition (JSON)"</label>
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
                {move || problems.get().into_iter().chain(server_problems()).map(|p| view! { <li>{p}</li> }).collect_view()}
            </ul>
            <button type="submit" data-testid="import-button" disabled=move || !can_submit()>"Import"</button>
        </form>
    }
}
