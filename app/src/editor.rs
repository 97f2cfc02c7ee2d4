//! The visual editor: a canvas of nodes and edges, a palette, a side panel with
//! a form per node kind, validation as you edit (the offending nodes are
//! marked), undo/redo, auto-layout, keyboard shortcuts, and save (each save is
//! a new immutable version; saving what is already saved is refused).
//!
//! A new workflow (`/workflows/new/edit`) lives only in the browser until its
//! first save creates it; the address then becomes its own.

mod autocomplete;
mod canvas;
mod data;
mod guard;
mod minimap;
mod model;
mod panel;
mod preview;
mod state;
mod switch_cases;
mod triggers;
mod try_node;
mod workflow_pick;

use std::collections::HashSet;

use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use leptos_router::{lazy_route, LazyRoute};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{validate_to_save, Position, ValidationError, Workflow, WorkflowDefinition, WorkflowId, NODE_KINDS};
use crate::ui::use_hydrated;
use crate::workflows::{import_workflow, save_workflow, starter_definition, WorkflowCache};
use canvas::{fit_view, reveal_offset, Canvas, Viewport};
use minimap::Minimap;
use panel::Panel;
use state::EditorState;

/// The `{id}` of [`crate::workflows::NEW_WORKFLOW_PATH`].
const NEW: &str = "new";

/// What the editor opens: a saved workflow, or a new one (no id, no version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Opened {
    id: Option<WorkflowId>,
    version: Option<i32>,
    definition: WorkflowDefinition,
}

impl Opened {
    fn new_workflow() -> Self {
        Self { id: None, version: None, definition: starter_definition("") }
    }

    fn saved(workflow: Workflow) -> Self {
        Self {
            id: Some(workflow.summary.id),
            version: Some(workflow.summary.current_version),
            definition: workflow.definition,
        }
    }
}

pub struct EditorPage;

/// What the page reads and does, made in `view`: the router calls `data()`
/// from the initial chunk, so what it makes (its server functions, the
/// decoding of their answers) would ship with every page; `view` is lazy.
struct EditorData {
    opened: Resource<Result<Opened, AppError>>,
}

impl EditorData {
    fn load() -> Self {
        let params = use_params_map();
        let target = Memo::new(move |_| params.with(|p| p.get("id")));
        let cache = WorkflowCache::expect();
        // Through the cache: opened from the workflow page, this costs no request.
        let opened = Resource::new(
            move || target.get(),
            move |target| async move {
                match target.as_deref() {
                    Some(NEW) => Ok(Opened::new_workflow()),
                    Some(id) => match id.parse::<WorkflowId>() {
                        Ok(id) => cache.get(id).await.map(Opened::saved),
                        Err(_) => Err(AppError::NotFound("workflow".into())),
                    },
                    None => Err(AppError::NotFound("workflow".into())),
                }
            },
        );
        Self { opened }
    }
}

#[lazy_route]
impl LazyRoute for EditorPage {
    fn data() -> Self {
        Self
    }

    fn view(_page: Self) -> AnyView {
        let EditorData { opened } = EditorData::load();
        let hydrated = use_hydrated();
        view! {
            <main class="editor-page" data-testid="editor-page" data-hydrated=move || hydrated.get().to_string()>
                <Suspense fallback=|| view! { <p class="muted page">"Loading the editor…"</p> }>
                    {move || Suspend::new(async move {
                        match opened.await {
                            Ok(opened) => view! { <Editor opened/> }.into_any(),
                            Err(error) => view! { <p class="error page" role="alert">{error.to_string()}</p> }.into_any(),
                        }
                    })}
                </Suspense>
            </main>
        }
        .into_any()
    }
}

/// A save that went through: the workflow (created by it, for a new one), its
/// new version, and what was sent (the new "saved" state).
#[derive(Clone)]
struct Saved {
    id: WorkflowId,
    version: i32,
    definition: WorkflowDefinition,
}

/// Why Ctrl+S (or Save) did not save; shown until the next change.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    NoChanges,
    Invalid,
}

/// Sends the definition: a new version, or for a workflow never saved, its creation.
async fn send(id: Option<WorkflowId>, definition: WorkflowDefinition) -> Result<Saved, AppError> {
    let text = serde_json::to_string(&definition).map_err(|_| AppError::Internal)?;
    let (id, version) = match id {
        Some(id) => (id, save_workflow(id, text).await?.version),
        None => {
            let created = import_workflow(text).await?;
            (created.id, created.current_version)
        }
    };
    Ok(Saved { id, version, definition })
}

/// "Cannot save: 2 problems — node `a`: …; node `b`: …".
fn refusal_message(problems: &[ValidationError]) -> String {
    let count = match problems.len() {
        1 => "1 problem".to_string(),
        n => format!("{n} problems"),
    };
    let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    format!("Cannot save: {count} — {}", messages.join("; "))
}

/// Shows the workflow's own editor address once a new one has been created,
/// without reloading the editor (its undo history stays).
fn replace_address(id: WorkflowId) {
    let url = format!("/workflows/{id}/edit");
    if let Some(history) = web_sys::window().and_then(|w| w.history().ok()) {
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
    }
}

#[component]
fn Editor(opened: Opened) -> impl IntoView {
    let Opened { id, version, definition } = opened;
    let workflow_id = RwSignal::new(id);
    let version = RwSignal::new(version);
    // Opened from a failed run's "Fix `x` in the editor": that node's form is open.
    let asked_node = leptos_router::hooks::use_query_map().with_untracked(|q| q.get("node"));
    let asked_node = asked_node.filter(|id| definition.nodes.iter().any(|n| &n.id == id));
    let state = EditorState::new(definition);
    if let Some(id) = asked_node {
        state.selected.set(state::Selection::Node(id));
    }
    let viewport = RwSignal::new(Viewport { x: 40.0, y: 40.0, scale: 1.0 });
    // Opened with nodes off the canvas (a large template): the whole graph is
    // fitted to it, once it is laid out. A graph that fits keeps its place.
    Effect::new(move |done: Option<()>| {
        if done.is_none() {
            request_animation_frame(move || fit_if_off_screen(state, viewport));
        }
    });
    // Validation follows the graph and the configs, never positions: dragging
    // does not revalidate.
    let problems = Memo::new(move |_| validate_to_save(&state.definition(true)).err().unwrap_or_default());
    let has_unknown_fields =
        Memo::new(move |_| !crate::model::validation::unknown_fields(&state.definition(true)).is_empty());
    // Not problems (saving goes on), but worth saying while it is typed.
    let warnings = Memo::new(move |_| crate::model::literal_secret_warnings(&state.definition(true)));
    let invalid =
        Memo::new(move |_| problems.with(|p| p.iter().flat_map(|e| e.nodes.iter().cloned()).collect::<HashSet<_>>()));
    // Compared with what was saved, not flagged by edits: undoing back to the
    // saved state leaves nothing to save.
    let dirty = Memo::new(move |_| state.differs_from_saved());
    let is_new = move || workflow_id.with(Option::is_none);
    let save =
        Action::new_local(|(id, definition): &(Option<WorkflowId>, WorkflowDefinition)| send(*id, definition.clone()));
    let refusal = RwSignal::new(None::<Refusal>);
    // Any change makes an earlier refusal stale.
    Effect::new(move |_| {
        dirty.track();
        problems.with(Vec::len);
        refusal.set(None);
    });
    let cache = WorkflowCache::expect();
    Effect::new(move |_| {
        let Some(Ok(saved)) = save.value().get() else { return };
        if workflow_id.get_untracked().is_none() {
            workflow_id.set(Some(saved.id));
            replace_address(saved.id);
        }
        version.set(Some(saved.version));
        state.mark_saved(saved.definition);
        cache.forget(saved.id);
    });
    let do_save = move || {
        if save.pending().get_untracked() {
            return;
        }
        if !problems.with_untracked(Vec::is_empty) {
            refusal.set(Some(Refusal::Invalid));
        } else if !dirty.get_untracked() && !is_new() {
            refusal.set(Some(Refusal::NoChanges));
        } else {
            save.dispatch((workflow_id.get_untracked(), state.definition(false)));
        }
    };
    let add = move |kind: &'static str| {
        let at = match state.attach_to.get_untracked() {
            Some(attachment) => {
                state.attach_to.set(None);
                let anchor = state.node(&attachment.from).map(|n| n.position.get_untracked());
                let at = spot_for_new_node(state, viewport, anchor);
                if anchor.is_some() {
                    state.add_connected_node(kind, at, &attachment.from, attachment.branch);
                } else {
                    state.add_node(kind, at);
                }
                at
            }
            None => {
                let at = spot_for_new_node(state, viewport, anchor_for_new_node(state));
                state.add_node(kind, at);
                at
            }
        };
        bring_into_view(viewport, at);
    };

    guard::warn_before_leaving(dirty.into());
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
                "Escape" => state.attach_to.set(None),
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

    let status = move || {
        let last = save.value().get();
        match refusal.get() {
            _ if save.pending().get() => "Saving…".to_string(),
            Some(Refusal::Invalid) => problems.with(|p| refusal_message(p)),
            Some(Refusal::NoChanges) => "No changes to save".to_string(),
            None => match (last, version.get()) {
                (Some(Err(error)), _) if dirty.get() || is_new() => error.to_string(),
                (_, None) => "New workflow, not saved yet".to_string(),
                _ if dirty.get() => "Unsaved changes".to_string(),
                (Some(Ok(saved)), _) => format!("Saved as v{}", saved.version),
                (_, Some(version)) => format!("v{version} · no changes"),
            },
        }
    };
    let save_blocked = move || {
        if save.pending().get() {
            Some("Saving…")
        } else if !problems.with(Vec::is_empty) {
            Some("Fix the problems listed beside the canvas first")
        } else if !dirty.get() && !is_new() {
            Some("No changes since the last save")
        } else {
            None
        }
    };
    let back = move || match workflow_id.get() {
        Some(id) => format!("/workflows/{id}"),
        None => "/".to_string(),
    };
    let attaching = move || {
        state.attach_to.get().map(|a| match a.branch {
            Some(branch) => format!("Pick a kind: it is added after `{}` ({branch})", a.from),
            None => format!("Pick a kind: it is added after `{}`", a.from),
        })
    };
    // Type-erased: one more level of nesting is past the compiler's depth limit.
    let canvas_area = view! {
        <div class="canvas-wrap">
            <Canvas state viewport invalid/>
            <Minimap state viewport/>
        </div>
    }
    .into_any();
    view! {
        // `try_get`: the title is read once more as the editor is left, after its state is gone.
        <leptos_meta::Title text=move || state.name.try_get().map(|name| format!("Edit {name} · Weft")).unwrap_or_default()/>
        <div class="editor-toolbar">
            <a href=back data-testid="editor-back">"← Back"</a>
            <strong data-testid="editor-title">{move || state.name.get()}</strong>
            <button class="secondary small" data-testid="fit-view" title="Zoom and pan to show every node"
                on:click=move |_| fit_to_view(state, viewport)>"Fit"</button>
            <span class="palette" class:attaching=move || state.attach_to.with(Option::is_some) data-testid="palette">
                {NODE_KINDS.iter().map(|kind| view! {
                    <button class="chip" data-testid=format!("add-{kind}") on:click=move |_| { add(kind); }>{format!("+ {kind}")}</button>
                }).collect_view()}
            </span>
            {move || attaching().map(|hint| view! {
                <span class="attach-hint" data-testid="attach-hint">{hint}
                    <button class="link" on:click=move |_| state.attach_to.set(None)>"Cancel"</button>
                </span>
            })}
            <button class="chip" data-testid="auto-layout" on:click=move |_| state.auto_layout()>"Auto-layout"</button>
            <button class="chip" data-testid="undo" disabled=move || !state.can_undo.get() on:click=move |_| state.undo()>"Undo"</button>
            <button class="chip" data-testid="redo" disabled=move || !state.can_redo.get() on:click=move |_| state.redo()>"Redo"</button>
            <button data-testid="save" disabled=move || save_blocked().is_some() title=move || save_blocked().unwrap_or("Save (Ctrl+S)")
                on:click=move |_| do_save()>"Save"</button>
            <span class="muted save-status" class:refused=move || refusal.get() == Some(Refusal::Invalid)
                data-testid="save-status" role="status">{status}</span>
        </div>
        <div class="editor-body">
            {canvas_area}
            <aside class="editor-side">
                <ul class="problems" data-testid="editor-problems" role="alert">
                    {move || problems.get().into_iter().map(|p| view! { <li>{p.message}</li> }).collect_view()}
                </ul>
                {move || has_unknown_fields.get().then(|| view! {
                    <button class="link" data-testid="remove-unknown-fields" on:click=move |_| state.remove_unknown_fields()>
                        "Remove the unknown fields"
                    </button>
                })}
                <ul class="warnings" data-testid="editor-warnings">
                    {move || warnings.get().into_iter().map(|w| view! {
                        <li>{w}" " <a href="/credentials" target="_blank">"Manage credentials"</a></li>
                    }).collect_view()}
                </ul>
                <Panel state workflow=Signal::from(workflow_id)/>
            </aside>
        </div>
    }
}

/// The node a new one is placed beside: the selected one, else the last added.
fn anchor_for_new_node(state: EditorState) -> Option<Position> {
    let selected = match state.selected.get_untracked() {
        state::Selection::Node(id) => state.node(&id),
        _ => None,
    };
    let last = || state.nodes.with_untracked(|nodes| nodes.last().copied());
    selected.or_else(last).map(|node| node.position.get_untracked())
}

/// Beside `anchor` where no node is; with no anchor, near the top left of the view.
fn spot_for_new_node(state: EditorState, viewport: RwSignal<Viewport>, anchor: Option<Position>) -> Position {
    let taken = state.positions();
    match anchor {
        Some(anchor) => model::free_spot(anchor, &taken),
        None => {
            let view = viewport.get_untracked();
            let corner = Position { x: (40.0 - view.x) / view.scale, y: (40.0 - view.y) / view.scale };
            if taken.iter().any(|p| model::too_close(*p, corner)) {
                model::free_spot(corner, &taken)
            } else {
                corner
            }
        }
    }
}

/// Zooms and pans so that every node is on screen (a template opened with
/// nodes off to the right is seen whole).
fn fit_to_view(state: EditorState, viewport: RwSignal<Viewport>) {
    let Some(canvas) = document().query_selector("[data-testid=canvas]").ok().flatten() else { return };
    let rect = canvas.get_bounding_client_rect();
    if let Some(view) = fit_view(&state.positions(), rect.width(), rect.height()) {
        viewport.set(view);
    }
}

/// [`fit_to_view`] when a node is not (wholly) on the canvas.
fn fit_if_off_screen(state: EditorState, viewport: RwSignal<Viewport>) {
    let Some(canvas) = document().query_selector("[data-testid=canvas]").ok().flatten() else { return };
    let rect = canvas.get_bounding_client_rect();
    let view = viewport.get_untracked();
    let (width, height) = (rect.width(), rect.height());
    let off_screen = state.positions().into_iter().any(|at| {
        let (left, top) = (at.x * view.scale + view.x, at.y * view.scale + view.y);
        let (right, bottom) =
            (left + crate::graph::NODE_WIDTH * view.scale, top + crate::graph::NODE_HEIGHT * view.scale);
        left < 0.0 || top < 0.0 || right > width || bottom > height
    });
    if off_screen {
        fit_to_view(state, viewport);
    }
}

/// Pans so that a node just added at `at` is on screen.
fn bring_into_view(viewport: RwSignal<Viewport>, at: Position) {
    let Some(canvas) = document().query_selector("[data-testid=canvas]").ok().flatten() else { return };
    let rect = canvas.get_bounding_client_rect();
    let (dx, dy) = reveal_offset(viewport.get_untracked(), at, rect.width(), rect.height());
    if dx != 0.0 || dy != 0.0 {
        viewport.update(|v| {
            v.x += dx;
            v.y += dy;
        });
    }
}
