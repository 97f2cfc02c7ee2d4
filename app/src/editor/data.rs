//! The data panel: what the selected node saw and gave in the workflow's last
//! run (the run's `input`, each upstream node's output, its own output), as a
//! collapsible tree. Clicking a field inserts its path (`{{ nodes.fetch.body.items }}`)
//! into the form field last edited, at its cursor.

use std::collections::BTreeMap;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::EditorState;
use crate::error::AppError;
use crate::model::{ExecutionId, ExecutionStatus, WorkflowId};

/// The last run of a workflow, trimmed to what the panel shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LastRun {
    pub execution: ExecutionId,
    pub status: ExecutionStatus,
    pub input: Value,
    /// Each node that gave an output, by id.
    pub outputs: BTreeMap<String, Value>,
}

/// The most items of a list, and the most characters of a string, the panel is sent
/// (the sample is taken on the server).
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
const SAMPLE_ITEMS: usize = 20;
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
const SAMPLE_CHARS: usize = 300;
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
const SAMPLE_DEPTH: usize = 8;

/// `value` cut to a sample of its shape: lists to their first items, long
/// strings to their start, deep nesting to its top. A 10 MB answer still
/// shows its fields without sending the 10 MB.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
pub fn sample(value: &Value) -> Value {
    sample_at(value, 0)
}

#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn sample_at(value: &Value, depth: usize) -> Value {
    match value {
        Value::String(text) if text.chars().count() > SAMPLE_CHARS => {
            Value::String(format!("{}…", text.chars().take(SAMPLE_CHARS).collect::<String>()))
        }
        Value::Array(_) | Value::Object(_) if depth >= SAMPLE_DEPTH => Value::String("…".into()),
        Value::Array(items) => Value::Array(items.iter().take(SAMPLE_ITEMS).map(|v| sample_at(v, depth + 1)).collect()),
        Value::Object(fields) => {
            Value::Object(fields.iter().map(|(k, v)| (k.clone(), sample_at(v, depth + 1))).collect())
        }
        other => other.clone(),
    }
}

/// The viewer's latest run of `workflow` with its node runs (None: never run):
/// what the data panel and the preview read.
#[cfg(feature = "ssr")]
pub(super) async fn latest_run(
    ctx: &crate::server_context::ServerContext,
    workflow: WorkflowId,
) -> Result<Option<(crate::model::Execution, Vec<crate::model::NodeRun>)>, AppError> {
    let scope = ctx.own_scope().await?;
    let filter = crate::model::ExecutionFilter { workflow_id: Some(workflow), ..Default::default() };
    let latest = ctx.store.list_executions(scope, &filter, None, 1).await?;
    let Some(execution) = latest.items.into_iter().next() else { return Ok(None) };
    let runs = ctx.store.node_runs(scope, execution.id).await?;
    Ok(Some((execution, runs)))
}

/// The viewer's latest run of `workflow` (None: never run), for the editor's data panel.
#[server(endpoint = "editor/last-run")]
pub async fn load_last_run(workflow: WorkflowId) -> Result<Option<LastRun>, AppError> {
    use crate::server_context::{with_status, ServerContext};
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let Some((execution, runs)) = latest_run(&ctx, workflow).await? else { return Ok(None) };
            let outputs =
                runs.into_iter().filter_map(|run| Some((run.node_id, sample(run.output.as_ref()?)))).collect();
            Ok(Some(LastRun {
                execution: execution.id,
                status: execution.status,
                input: sample(&execution.input.to_value()),
                outputs,
            }))
        }
        .await,
    )
}

/// How a path is written after `prefix`: `.name` for a plain name, `["a b"]`
/// otherwise, `[0]` for a list item.
fn child_path(prefix: &str, key: &PathKey) -> String {
    match key {
        PathKey::Index(i) => format!("{prefix}[{i}]"),
        PathKey::Name(name) if is_identifier(name) => format!("{prefix}.{name}"),
        PathKey::Name(name) => format!("{prefix}[{}]", serde_json::to_string(name).unwrap_or_default()),
    }
}

enum PathKey<'a> {
    Name(&'a str),
    Index(usize),
}

/// A name a path can take after a dot.
pub(super) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The fields whose text is an expression (a bare path); the others are templates (`{{ path }}`).
const EXPRESSION_FIELDS: &[&str] = &["field-expr", "field-input", "policy-for_each"];

/// What clicking `path` inserts into the field `testid`.
pub fn insertion(testid: &str, path: &str) -> String {
    if EXPRESSION_FIELDS.contains(&testid) {
        path.to_string()
    } else {
        format!("{{{{ {path} }}}}")
    }
}

/// The workflow's last run, read once per node form (by the data panel and
/// by completion); in the browser only: node forms are never rendered on the server.
#[derive(Clone, Copy)]
pub struct LastRunResource(pub LocalResource<Result<Option<LastRun>, AppError>>);

impl LastRunResource {
    pub fn new(workflow: Signal<Option<WorkflowId>>) -> Self {
        Self(LocalResource::new(move || async move {
            match workflow.get() {
                Some(id) => load_last_run(id).await,
                None => Ok(None),
            }
        }))
    }
}

/// The data panel of node `node`.
#[component]
pub fn DataPanel(
    node: String,
    last: LastRunResource,
    state: EditorState,
    editing: RwSignal<Option<String>>,
) -> impl IntoView {
    let last = last.0;
    let upstream = {
        let node = node.clone();
        move || {
            state.edges.with(|edges| {
                let mut from: Vec<String> = edges.iter().filter(|e| e.to == node).map(|e| e.from.clone()).collect();
                from.dedup();
                from
            })
        }
    };
    let insert = Callback::new(move |path: String| {
        if let Some(testid) = editing.get_untracked() {
            insert_at_cursor(&testid, &insertion(&testid, &path));
        }
    });
    view! {
        <details class="data-panel" data-testid="data-panel" open>
            <summary>"Data from the last run"</summary>
            <Suspense fallback=|| view! { <p class="muted">"Loading the last run…"</p> }>
                {move || {
                    let node = node.clone();
                    let upstream = upstream.clone();
                    Suspend::new(async move {
                        match last.await {
                            Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                            Ok(None) => view! {
                                <p class="muted" data-testid="data-none">"Not run yet: run the workflow to see each node's data here."</p>
                                {pinned_upstream(state, upstream(), None, insert)}
                            }.into_any(),
                            Ok(Some(run)) => {
                                let own = run.outputs.get(&node).cloned();
                                view! {
                                    <p class="muted">
                                        <a href=format!("/executions/{}", run.execution) target="_blank">{format!("Run {}", run.execution)}</a>
                                        {format!(" ({}). Click a field to insert it where you were typing.", run.status)}
                                    </p>
                                    <DataTree label="input".to_string() path="input".to_string() value=run.input.clone() insert/>
                                    {pinned_upstream(state, upstream(), Some(&run), insert)}
                                    <h4>"Its output"</h4>
                                    {match own {
                                        Some(value) => view! { <DataTree label=format!("nodes.{node}") path=format!("nodes.{node}") value insert/> }.into_any(),
                                        None => view! { <p class="muted" data-testid="data-no-output">"None in that run."</p> }.into_any(),
                                    }}
                                }.into_any()
                            }
                        }
                    })
                }}
            </Suspense>
        </details>
    }
}

/// Each upstream node's output: its pinned output (marked), else the one
/// recorded in `run`.
fn pinned_upstream(
    state: EditorState,
    upstream: Vec<String>,
    run: Option<&LastRun>,
    insert: Callback<String>,
) -> AnyView {
    upstream
        .into_iter()
        .filter_map(|from| {
            let path = format!("nodes.{from}");
            let pinned = state.node(&from).and_then(|n| n.pinned.get_untracked());
            Some(match (pinned, run.and_then(|run| run.outputs.get(&from).cloned())) {
                (Some(value), _) => view! {
                    <div class="pinned-data" data-testid="data-pinned" data-node=from.clone()>
                        <span class="pin-mark" title="Pinned in the editor: runs never read it">"pinned"</span>
                        <DataTree label=path.clone() path value insert/>
                    </div>
                }
                .into_any(),
                (None, Some(value)) => view! { <DataTree label=path.clone() path value insert/> }.into_any(),
                (None, None) if run.is_some() => {
                    view! { <p class="muted">{format!("{path}: no output in that run")}</p> }.into_any()
                }
                (None, None) => return None,
            })
        })
        .collect_view()
        .into_any()
}

/// One value of the tree: a leaf shows its value; a list or object opens to its fields.
#[component]
fn DataTree(label: String, path: String, value: Value, insert: Callback<String>) -> impl IntoView {
    let field = {
        let path = path.clone();
        view! {
            <button type="button" class="link data-field" data-testid="data-field" data-path=path.clone()
                title=format!("Insert {path}")
                // Inside a summary a click would also open or close the list: it only inserts.
                on:click=move |ev| { ev.prevent_default(); insert.run(path.clone()) }>{label}</button>
        }
    };
    match value {
        Value::Object(fields) => {
            let count = fields.len();
            view! {
                <details class="data-node">
                    <summary>{field}<span class="muted">{format!(" {{{count}}}")}</span></summary>
                    {fields.into_iter().map(|(key, value)| {
                        let path = child_path(&path, &PathKey::Name(&key));
                        view! { <DataTree label=key path value insert/> }
                    }).collect_view()}
                </details>
            }
            .into_any()
        }
        Value::Array(items) => {
            let count = items.len();
            view! {
                <details class="data-node">
                    <summary>{field}<span class="muted">{format!(" [{count}]")}</span></summary>
                    {items.into_iter().enumerate().map(|(i, value)| {
                        let path = child_path(&path, &PathKey::Index(i));
                        view! { <DataTree label=format!("[{i}]") path value insert/> }
                    }).collect_view()}
                </details>
            }
            .into_any()
        }
        leaf => view! {
            <div class="data-leaf">{field}": "<code>{leaf.to_string()}</code></div>
        }
        .into_any(),
    }
}

/// The text of the field an event came from, up to its cursor.
pub fn text_before_cursor(ev: &leptos::ev::Event) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let target = ev.target()?;
        let (value, cursor) = if let Some(area) = target.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            (area.value(), area.selection_end().ok().flatten())
        } else {
            let input = target.dyn_ref::<web_sys::HtmlInputElement>()?;
            (input.value(), input.selection_end().ok().flatten())
        };
        // Cursor positions are in UTF-16 code units, like JavaScript strings.
        let units: Vec<u16> = value.encode_utf16().collect();
        let cursor = cursor.map_or(units.len(), |c| (c as usize).min(units.len()));
        Some(String::from_utf16_lossy(&units[..cursor]))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = ev;
        None
    }
}

/// Puts `text` into the form field `testid` where its cursor was (or at its
/// end), and tells the field's own handler, as typing would.
#[allow(unused_variables)]
pub fn insert_at_cursor(testid: &str, text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
        let Ok(Some(element)) = document.query_selector(&format!("[data-testid=\"{testid}\"]")) else { return };
        // Cursor positions are in UTF-16 code units, like JavaScript strings.
        let splice = |value: String, start: Option<u32>, end: Option<u32>| {
            let units: Vec<u16> = value.encode_utf16().collect();
            let end = end.map_or(units.len(), |e| (e as usize).min(units.len()));
            let start = start.map_or(end, |s| (s as usize).min(end));
            let inserted: Vec<u16> = text.encode_utf16().collect();
            let cursor = (start + inserted.len()) as u32;
            let joined = [&units[..start], &inserted[..], &units[end..]].concat();
            (String::from_utf16_lossy(&joined), cursor)
        };
        if let Some(area) = element.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            let (value, cursor) =
                splice(area.value(), area.selection_start().ok().flatten(), area.selection_end().ok().flatten());
            area.set_value(&value);
            let _ = area.focus();
            let _ = area.set_selection_range(cursor, cursor);
        } else if let Some(input) = element.dyn_ref::<web_sys::HtmlInputElement>() {
            let (value, cursor) =
                splice(input.value(), input.selection_start().ok().flatten(), input.selection_end().ok().flatten());
            input.set_value(&value);
            let _ = input.focus();
            let _ = input.set_selection_range(cursor, cursor);
        } else {
            return;
        }
        let init = web_sys::EventInit::new();
        init.set_bubbles(true);
        if let Ok(event) = web_sys::Event::new_with_event_init_dict("input", &init) {
            let _ = element.dispatch_event(&event);
        }
    }
}

/// The form field being typed in, remembered when it gets the focus: text
/// fields and text areas only (selects and checkboxes take no path).
pub fn remember_field(ev: &leptos::ev::FocusEvent, editing: RwSignal<Option<String>>) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let Some(target) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
        let tag = target.tag_name().to_ascii_lowercase();
        let text_input = tag == "input" && target.get_attribute("type").is_none_or(|t| t == "text" || t == "url");
        if tag == "textarea" || text_input {
            if let Some(testid) = target.get_attribute("data-testid") {
                editing.set(Some(testid));
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (ev, editing);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_sample_keeps_the_shape_and_cuts_the_bulk() {
        let big = json!({"items": (0..1000).collect::<Vec<_>>(), "text": "x".repeat(10_000), "ok": true});
        let sampled = sample(&big);
        assert_eq!(sampled["items"].as_array().unwrap().len(), SAMPLE_ITEMS);
        assert_eq!(sampled["text"].as_str().unwrap().chars().count(), SAMPLE_CHARS + 1);
        assert_eq!(sampled["ok"], json!(true));
        let mut deep = json!(1);
        for _ in 0..20 {
            deep = json!({ "a": deep });
        }
        let text = sample(&deep).to_string();
        assert!(text.contains("\"…\"") && text.len() < 100, "{text}");
    }

    #[test]
    fn paths_are_written_as_templates_read_them() {
        assert_eq!(child_path("nodes.fetch", &PathKey::Name("body")), "nodes.fetch.body");
        assert_eq!(
            child_path("nodes.fetch.body", &PathKey::Name("content-type")),
            "nodes.fetch.body[\"content-type\"]"
        );
        assert_eq!(child_path("nodes.fetch.body.items", &PathKey::Index(0)), "nodes.fetch.body.items[0]");
        assert_eq!(child_path("input", &PathKey::Name("9lives")), "input[\"9lives\"]");
    }

    #[test]
    fn templates_get_braces_and_expressions_the_bare_path() {
        assert_eq!(insertion("field-prompt", "input.who"), "{{ input.who }}");
        assert_eq!(insertion("field-expr", "input.who"), "input.who");
        assert_eq!(insertion("policy-for_each", "nodes.fetch.body"), "nodes.fetch.body");
    }

    #[test]
    fn the_paths_render_with_the_engines_template_syntax() {
        // What the panel inserts must be what minijinja reads.
        let env = minijinja::Environment::new();
        let ctx = json!({"nodes": {"fetch": {"body": {"content-type": "json", "items": ["first"]}}}});
        let render =
            |path: &str| env.render_str(&insertion("field-template", path), minijinja::value::Serde(&ctx)).unwrap();
        assert_eq!(render("nodes.fetch.body[\"content-type\"]"), "json");
        assert_eq!(render("nodes.fetch.body.items[0]"), "first");
    }
}
