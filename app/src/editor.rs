//! The visual editor: a canvas of nodes and edges, a palette, a side panel with
//! a form per node kind, validation as you edit (the offending nodes are
//! marked), undo/redo, auto-layout, keyboard shortcuts, and save (each save is
//! a new immutable version).

mod canvas;
mod model;
mod panel;
mod state;

use std::collections::HashSet;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use leptos_router::{lazy_route, LazyRoute};

use crate::error::AppError;
use crate::model::{validate, Position, Workflow, WorkflowId, NODE_KINDS};
use crate::ui::use_hydrated;
use crate::workflows::{SaveWorkflow, WorkflowCache};
use canvas::{Canvas, Viewport};
use panel::Panel;
use state::EditorState;

pub struct EditorPage {
    id: Memo<Option<WorkflowId>>,
    workflow: Resource<Result<Workflow, AppError>>,
}

#[lazy_route]
impl LazyRoute for EditorPage {
    fn data() -> Self {
        let params = use_params_map();
        let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|v| v.parse::<WorkflowId>().ok())));
        let cache = WorkflowCache::expect();
        // Through the cache: opened from the workflow page, this costs no request.
        let workflow = Resource::new(
            move || id.get(),
            move |id| async move {
                match id {
                    Some(id) => cache.get(id).await,
                    None => Err(AppError::NotFound("workflow".into())),
                }
            },
        );
        Self { id, workflow }
    }

    fn view(this: Self) -> AnyView {
        let EditorPage { id, workflow } = this;
        let hydrated = use_hydrated();
        view! {
            <main class="editor-page" data-testid="editor-page" data-hydrated=move || hydrated.get().to_string()>
                <Suspense fallback=|| view! { <p class="muted page">"Loading the editor…"</p> }>
                    {move || Suspend::new(async move {
                        match (workflow.await, id.get_untracked()) {
                            (Ok(workflow), Some(id)) => view! { <Editor id workflow/> }.into_any(),
                            (Err(error), _) => view! { <p class="error page" role="alert">{error.to_string()}</p> }.into_any(),
                            (Ok(_), None) => ().into_any(),
                        }
                    })}
                </Suspense>
            </main>
        }
        .into_any()
    }
}

#[component]
fn Editor(id: WorkflowId, workflow: Workflow) -> impl IntoView {
    let state = EditorState::new(workflow.definition);
    let viewport = RwSignal::new(Viewport { x: 40.0, y: 40.0, scale: 1.0 });
    // Validation follows the graph and the configs, never positions: dragging
    // does not revalidate.
    let problems = Memo::new(move |_| validate(&state.definition(true)).err().unwrap_or_default());
    let invalid =
        Memo::new(move |_| problems.with(|p| p.iter().flat_map(|e| e.nodes.iter().cloned()).collect::<HashSet<_>>()));
    let save = ServerAction::<SaveWorkflow>::new();
    let version = RwSignal::new(workflow.summary.current_version);
    let cache = WorkflowCache::expect();
    Effect::new(move |_| {
        if let Some(Ok(saved)) = save.value().get() {
            version.set(saved.version);
            state.saved();
            cache.forget(id);
        }
    });
    let do_save = move || {
        if problems.with_untracked(Vec::is_empty) && !save.pending().get_untracked() {
            let definition = serde_json::to_string(&state.definition(false)).unwrap_or_default();
            save.dispatch(SaveWorkflow { id, definition });
        }
    };
    let add = move |kind: &'static str| {
        let view = viewport.get_untracked();
        let count = state.nodes.with_untracked(Vec::len) as f64;
        let at = Position {
            x: (240.0 - view.x) / view.scale + (count % 8.0) * 24.0,
            y: (160.0 - view.y) / view.scale + (count % 8.0) * 24.0,
        };
        state.add_node(kind, at);
    };

    // Keyboard shortcuts (browser only), unless the focus is in a form field.
    Effect::new(move |_| {
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            let typing = ev
                .target()
                .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
                .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
            let command = ev.ctrl_key() || ev.meta_key();
            match ev.key().as_str() {
                "Delete" | "Backspace" if !typing => state.delete_selected(),
                "z" | "Z" if command && !typing => {
                    ev.prevent_default();
                    if ev.shift_key() {
                        state.redo()
                    } else {
                        state.undo()
                    }
                }
                "s" | "S" if command => {
                    ev.prevent_default();
                    do_save();
                }
                _ => {}
            }
        });
        on_cleanup(move || handle.remove());
    });

    let status = move || match save.value().get() {
        _ if save.pending().get() => "Saving…".to_string(),
        Some(Err(error)) => error.to_string(),
        _ if state.changed.get() => "Unsaved changes".to_string(),
        Some(Ok(saved)) => format!("Saved as v{}", saved.version),
        None => format!("v{}", version.get()),
    };
    view! {
        <div class="editor-toolbar">
            <a href=format!("/workflows/{id}")>"← Back"</a>
            <strong data-testid="editor-title">{move || state.name.get()}</strong>
            <span class="palette" data-testid="palette">
                {NODE_KINDS.iter().map(|kind| view! {
                    <button class="chip" data-testid=format!("add-{kind}") on:click=move |_| { add(kind); }>{format!("+ {kind}")}</button>
                }).collect_view()}
            </span>
            <button class="chip" data-testid="auto-layout" on:click=move |_| state.auto_layout()>"Auto-layout"</button>
            <button class="chip" data-testid="undo" disabled=move || !state.can_undo.get() on:click=move |_| state.undo()>"Undo"</button>
            <button class="chip" data-testid="redo" disabled=move || !state.can_redo.get() on:click=move |_| state.redo()>"Redo"</button>
            <button data-testid="save" disabled=move || !problems.with(Vec::is_empty) || save.pending().get()
                on:click=move |_| do_save()>"Save"</button>
            <span class="muted" data-testid="save-status">{status}</span>
        </div>
        <div class="editor-body">
            <Canvas state viewport invalid/>
            <aside class="editor-side">
                <ul class="problems" data-testid="editor-problems" role="alert">
                    {move || problems.get().into_iter().map(|p| view! { <li>{p.message}</li> }).collect_view()}
                </ul>
                <Panel state/>
            </aside>
        </div>
    }
}
