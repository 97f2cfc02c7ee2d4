//! The side panel: the selected node's form (one per node kind, then the
//! settings every node has, then its data from the last run), the selected
//! edge, or the workflow's name.

use leptos::prelude::*;

use super::autocomplete::CompletedField;
use super::model::{field_text, fields, json_field_problem, set_field, Field, FieldType, PolicyField};
use super::state::{EditorNode, EditorState, Selection};
use super::triggers::TriggersForm;

#[component]
pub fn Panel(state: EditorState, workflow: Signal<Option<crate::model::WorkflowId>>) -> impl IntoView {
    move || {
        match state.selected.get() {
        Selection::Node(id) => match state.node(&id) {
            Some(node) => view! { <NodeForm node state workflow/> }.into_any(),
            None => ().into_any(),
        },
        Selection::Edge(index) => {
            let edge = state.edges.with_untracked(|edges| edges.get(index).cloned());
            edge.map(|edge| {
                view! {
                    <section class="card panel" data-testid="edge-panel">
                        <h2>"Edge"</h2>
                        <p>{format!("{} → {}", edge.from, edge.to)}{edge.branch.map(|b| format!(" (when {b})"))}</p>
                        <button class="link danger" on:click=move |_| state.delete_selected()>"Delete edge"</button>
                    </section>
                }
            })
            .into_any()
        }
        Selection::None => view! {
            <section class="card panel" data-testid="workflow-panel">
                <h2>"Workflow"</h2>
                <label class="form">"Name"
                    <input type="text" data-testid="workflow-name-input" prop:value=move || state.name.get()
                        on:focus=move |_| state.checkpoint()
                        on:input=move |ev| state.name.set(event_target_value(&ev))/>
                </label>
                <InputDeclaration state/>
                <TriggersForm state/>
                <ErrorWorkflowField state/>
                <p class="muted">"Add nodes from the palette (or with the + beside a selected node's right dot, to add one after it), drag from a node's right dot to another's left dot (or back) to connect, select and press Delete to remove. Ctrl+Z / Ctrl+Shift+Z undo and redo, Ctrl+S saves."</p>
            </section>
        }
        .into_any(),
    }
    }
}

/// `on_failure`: the workflow to run when a run of this one fails, by id (the
/// id is in a workflow's address, `/workflows/12`).
#[component]
fn ErrorWorkflowField(state: EditorState) -> impl IntoView {
    let shown = move || {
        state.on_failure.with(|v| match v.as_ref().and_then(|v| v.get("workflow")) {
            Some(serde_json::Value::Number(id)) => id.to_string(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
    };
    let set = move |text: String| {
        let text = text.trim();
        state.on_failure.set((!text.is_empty()).then(|| {
            let id = text.parse::<i64>().map(serde_json::Value::from).unwrap_or_else(|_| text.into());
            serde_json::json!({ "workflow": id })
        }));
    };
    view! {
        <label class="form">"When a run fails, run workflow #"
            <input type="number" min="1" data-testid="on-failure-workflow" placeholder="none"
                prop:value=shown on:focus=move |_| state.checkpoint()
                on:input=move |ev| set(event_target_value(&ev))/>
            <small class="muted">"One of your workflows, by the number in its address (/workflows/12). It gets the failed run's id, workflow, node, error and input."</small>
        </label>
    }
}

#[component]
fn NodeForm(node: EditorNode, state: EditorState, workflow: Signal<Option<crate::model::WorkflowId>>) -> impl IntoView {
    let kind = node.kind.get_value();
    let id = node.id.get_value();
    let is_start = id == "start";
    // The text field last typed in: where the data panel inserts a clicked path.
    let editing = RwSignal::new(None::<String>);
    // Read once for the data panel and completion.
    let last = super::data::LastRunResource::new(workflow);
    provide_context(last);
    view! {
        <section class="card panel form" data-testid="node-panel" data-node=id.clone()
            on:focusin=move |ev| super::data::remember_field(&ev, editing)>
            <h2>{id.clone()}<span class="muted">{format!(" · {kind}")}</span></h2>
            <RenameField id=id.clone() state/>
            {is_start.then(|| view! { <StartHelp/> })}
            {fields(&kind).iter().map(|field| view! { <ConfigField node state field workflow/> }).collect_view()}
            <PolicyForm node state/>
            <super::try_node::TryNode node state workflow/>
            <super::data::DataPanel node=id.clone() last state editing/>
            <button class="link danger" data-testid="delete-node" on:click=move |_| state.delete_selected()>"Delete node"</button>
        </section>
    }
}

/// What the `start` node a new workflow comes with is for.
#[component]
fn StartHelp() -> impl IntoView {
    view! {
        <p class="start-help" data-testid="start-help">
            "Where a run begins: the run's input (JSON, given when you run the workflow or sent to its webhook) "
            "enters here, and this node passes it on. Every node's templates read that input as "
            <code>"input.*"</code>" (e.g. "<code>"{{ input.name }}"</code>"), and an earlier node's output as "
            <code>"nodes.<id>"</code>" (e.g. "<code>"{{ nodes.start.name }}"</code>"). "
            "Connect its right dot to the first step."
        </p>
    }
}

/// The fields that are templates, previewed as they are typed.
const PREVIEWED: &[&str] = &["template", "prompt", "url", "body"];
/// The fields that complete paths (and their test ids): templates, and a condition's expression.
const COMPLETED: &[(&str, &str)] = &[
    ("template", "field-template"),
    ("prompt", "field-prompt"),
    ("system", "field-system"),
    ("url", "field-url"),
    ("body", "field-body"),
    ("expr", "field-expr"),
];

/// One field of a node kind's config.
#[component]
fn ConfigField(
    node: EditorNode,
    state: EditorState,
    field: &'static Field,
    workflow: Signal<Option<crate::model::WorkflowId>>,
) -> impl IntoView {
    let (key, label, kind, _) = *field;
    let value = move || node.config.with(|c| field_text(c, key));
    // One undo step per field visit, not per key.
    let on_focus = move |_| state.checkpoint();
    let set = move |text: String| node.config.update(|c| set_field(c, field, &text));
    let preview = PREVIEWED.contains(&key).then(|| {
        view! { <super::preview::TemplatePreview workflow node=node.id.get_value() field=key source=Signal::derive(value)/> }
    });
    // Paths and filters are offered as a template or an expression is typed.
    let completed = COMPLETED.iter().find(|(k, _)| *k == key).map(|(_, testid)| CompletedField {
        testid,
        expression: key == "expr",
        before: RwSignal::new(None),
    });
    let last = use_context::<super::data::LastRunResource>();
    let on_input = move |ev: leptos::ev::Event| {
        set(event_target_value(&ev));
        if let Some(field) = completed {
            field.before.set(super::data::text_before_cursor(&ev));
        }
    };
    let on_keydown = move |ev: leptos::ev::KeyboardEvent| {
        if let Some(field) = completed {
            super::autocomplete::accept_first(&ev, field, state, last);
        }
    };
    let on_blur = move |_| {
        if let Some(field) = completed {
            field.before.set(None);
        }
    };
    let completions = completed.map(|field| view! { <super::autocomplete::Completions field state/> });
    match kind {
        FieldType::TextArea => view! {
            <label>{label}
                <textarea rows="5" spellcheck="false" data-testid=format!("field-{key}") prop:value=value
                    on:focus=on_focus on:input=on_input on:keydown=on_keydown on:blur=on_blur></textarea>
            </label>
            {completions}
            {preview}
        }.into_any(),
        FieldType::Json => view! { <JsonField node state field/> }.into_any(),
        FieldType::Credential | FieldType::Provider => view! { <CredentialField node state field/> }.into_any(),
        FieldType::Cases => view! { <super::switch_cases::CasesField node state/> }.into_any(),
        FieldType::Workflow => view! { <super::workflow_pick::WorkflowPick node state/> }.into_any(),
        // Each option says whether it is chosen: a select's value set before
        // its options exist (they are added after its attributes) is lost.
        FieldType::Select(options) => view! {
            <label>{label}
                <select data-testid=format!("field-{key}") on:focus=on_focus on:change=move |ev| set(event_target_value(&ev))>
                    {options.iter().map(|o| view! { <option value=*o prop:selected=move || value() == *o>{*o}</option> }).collect_view()}
                </select>
            </label>
        }.into_any(),
        FieldType::Check => view! {
            <label class="check">
                <input type="checkbox" data-testid=format!("field-{key}")
                    prop:checked=move || node.config.with(|c| c.get(key).and_then(|v| v.as_bool()).unwrap_or(key == "cache" || key == "wait"))
                    on:focus=on_focus on:change=move |ev| set(event_target_checked(&ev).to_string())/>
                {label}
            </label>
        }.into_any(),
        FieldType::Text | FieldType::Number => view! {
            <label>{label}
                <input type=if kind == FieldType::Number { "number" } else { "text" } data-testid=format!("field-{key}")
                    prop:value=value on:focus=on_focus on:input=on_input on:keydown=on_keydown on:blur=on_blur/>
            </label>
            {completions}
            {preview}
        }.into_any(),
    }
}

/// A JSON field (http headers, an llm answer schema), checked as it is typed. The text box keeps
/// what was typed: writing the parsed value back would reformat it under the cursor.
#[component]
fn JsonField(node: EditorNode, state: EditorState, field: &'static Field) -> impl IntoView {
    let (key, label, _, _) = *field;
    let initial = node.config.with_untracked(|c| match c.get(key) {
        Some(value @ (serde_json::Value::Object(_) | serde_json::Value::Array(_))) => {
            serde_json::to_string_pretty(value).unwrap_or_default()
        }
        _ => field_text(c, key),
    });
    let text = RwSignal::new(initial);
    let problem = move || text.with(|t| json_field_problem(key, t));
    let placeholder = match key {
        "headers" => r#"{"Authorization": "Bearer {{ input.token }}"}"#,
        "tools" => {
            r#"[{"name": "weather", "description": "Today's weather in a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}, "workflow": 12}]"#
        }
        "fallbacks" => r#"[{"provider": "ollama", "model": "llama3.2"}]"#,
        _ => r#"{"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}"#,
    };
    let on_input = move |ev| {
        let typed = event_target_value(&ev);
        node.config.update(|c| set_field(c, field, &typed));
        text.set(typed);
    };
    view! {
        <label>{label}
            <textarea rows=if key == "tools" { "8" } else { "3" } spellcheck="false" data-testid=format!("field-{key}") class:invalid=move || problem().is_some()
                placeholder=placeholder
                prop:value=move || text.get() on:focus=move |_| state.checkpoint() on:input=on_input></textarea>
            {move || problem().map(|p| view! { <span class="field-problem" data-testid=format!("field-{key}-problem")>{p}</span> })}
        </label>
    }
}

/// The credential an http node sends.
#[component]
fn CredentialField(node: EditorNode, state: EditorState, field: &'static Field) -> impl IntoView {
    let (key, label, kind, _) = *field;
    let value = Signal::derive(move || node.config.with(|c| field_text(c, key)));
    let set = Callback::new(move |text: String| node.config.update(|c| set_field(c, field, &text)));
    let providers = kind == FieldType::Provider;
    view! {
        <label>{label}
            <CredentialSelect value set state testid=format!("field-{key}") providers/>
        </label>
        <a class="muted" href="/credentials" target="_blank" data-testid="manage-credentials">"Manage credentials"</a>
    }
}

/// A credential picked from the viewer's credentials and the shared ones
/// (names only: values never reach the browser). A name that no longer
/// exists stays selected and is marked missing. With `providers`, only LLM
/// providers (`llm` credentials), and "none" is the instance's provider;
/// without, every other kind.
#[component]
pub(super) fn CredentialSelect(
    value: Signal<String>,
    set: Callback<String>,
    state: EditorState,
    testid: String,
    #[prop(optional)] providers: bool,
) -> impl IntoView {
    // Read in the browser only: the panel is never rendered on the server.
    let choices = LocalResource::new(move || async move {
        let listed = crate::credentials::list_credentials().await.map(|l| l.credentials).unwrap_or_default();
        let wanted = move |kind: &str| (kind == "llm") == providers;
        listed.into_iter().filter(|c| wanted(&c.kind)).map(|c| (c.name, c.shared)).collect::<Vec<_>>()
    });
    let none = if providers { "the instance's provider (settings)" } else { "none" };
    view! {
        <Suspense fallback=|| view! { <select disabled><option>"Loading…"</option></select> }>
            {move || {
                let testid = testid.clone();
                Suspend::new(async move {
                    let choices = choices.await;
                    let current = value.get();
                    let missing = (!current.is_empty() && !choices.iter().any(|(name, _)| *name == current)).then_some(current);
                    view! {
                        <select data-testid=testid on:focus=move |_| state.checkpoint()
                            on:change=move |ev| set.run(event_target_value(&ev))>
                            <option value="" prop:selected=move || value.get().is_empty()>{none}</option>
                            {choices.into_iter().map(|(name, shared)| {
                                let shown = if shared { format!("{name} (shared)") } else { name.clone() };
                                let chosen = name.clone();
                                view! { <option value=name prop:selected=move || value.get() == chosen>{shown}</option> }
                            }).collect_view()}
                            {missing.map(|name| view! {
                                <option value=name.clone() selected>{format!("{name} (missing)")}</option>
                            })}
                        </select>
                    }
                })
            }}
        </Suspense>
    }
}

/// The settings every node has: a time limit, retries, what a failure does.
#[component]
fn PolicyForm(node: EditorNode, state: EditorState) -> impl IntoView {
    let number = move |field: PolicyField, name: &'static str, label: &'static str| {
        view! {
            <label>{label}
                <input type="number" min="1" data-testid=format!("policy-{name}")
                    prop:value=move || node.policy.with(|p| p.text(field)) on:focus=move |_| state.checkpoint()
                    on:input=move |ev| node.policy.update(|p| p.set(field, &event_target_value(&ev)))/>
            </label>
        }
    };
    let on_error = move || node.policy.with(|p| p.text(PolicyField::OnError));
    let per_item = !crate::model::node_config::NOT_PER_ITEM.contains(&node.kind.get_value().as_str());
    let iteration = per_item.then(|| {
        view! {
            <label>"For each item of (empty: run once)"
                <input type="text" data-testid="policy-for_each" placeholder="input.rows"
                    prop:value=move || node.policy.with(|p| p.text(PolicyField::ForEach))
                    on:focus=move |_| state.checkpoint()
                    on:input=move |ev| node.policy.update(|p| p.set(PolicyField::ForEach, &event_target_value(&ev)))/>
                <small class="hint">"An expression giving a list. The node runs once per item, with "
                    <code>"item"</code>" and "<code>"index"</code>" in its templates; its output is the list of results."</small>
            </label>
            <Show when=move || node.policy.with(|p| p.for_each.is_some())>
                {number(PolicyField::Concurrency, "concurrency", "Items at once (empty: 8, at most 50)")}
            </Show>
        }
    });
    view! {
        <fieldset class="policy" data-testid="node-policy">
            <legend>"When it runs"</legend>
            {iteration}
            {number(PolicyField::TimeoutMs, "timeout_ms", "Time limit per attempt (ms; empty: none)")}
            {number(PolicyField::MaxAttempts, "max_attempts", "Attempts (empty: 1, no retry)")}
            {number(PolicyField::BackoffMs, "backoff_ms", "Wait before a retry (ms, doubled each time)")}
            <label>"If it fails"
                <select data-testid="policy-on_error" on:focus=move |_| state.checkpoint()
                    on:change=move |ev| node.policy.update(|p| p.set(PolicyField::OnError, &event_target_value(&ev)))>
                    <option value="fail" prop:selected=move || on_error() == "fail">"fail: stop the run"</option>
                    <option value="continue" prop:selected=move || on_error() == "continue">"continue: later nodes see its error"</option>
                </select>
            </label>
        </fieldset>
    }
}

/// The node's id, renamed where it is typed (on Enter or leaving the field):
/// edges and the other nodes' `nodes.<id>` references follow.
#[component]
fn RenameField(id: String, state: EditorState) -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    let shown = id.clone();
    let rename = move |ev: leptos::ev::Event| {
        let new = event_target_value(&ev);
        if new.trim() == id {
            problem.set(None);
            return;
        }
        problem.set(state.rename_node(&id, &new).err());
    };
    view! {
        <label>"Id (templates refer to it as nodes.<id>)"
            <input type="text" spellcheck="false" data-testid="node-id-input" prop:value=shown on:change=rename/>
        </label>
        {move || problem.get().map(|p| view! { <p class="error" role="alert" data-testid="rename-problem">{p}</p> })}
    }
}

/// The workflow's declared input, as a JSON list of fields. Text that is not
/// JSON is kept as it is (as a string), so validation says what is wrong and
/// Save waits, instead of the typing being lost.
#[component]
fn InputDeclaration(state: EditorState) -> impl IntoView {
    // The text as typed: rewriting it (pretty-printed) while the user types would move the cursor.
    let shown = state.input.with_untracked(|declared| match declared {
        None => String::new(),
        Some(serde_json::Value::String(raw)) => raw.clone(),
        Some(declared) => serde_json::to_string_pretty(declared).unwrap_or_default(),
    });
    let text = RwSignal::new(shown);
    let set = move |raw: String| {
        let declared = match raw.trim() {
            "" => None,
            trimmed => Some(serde_json::from_str(trimmed).unwrap_or(serde_json::Value::String(raw.clone()))),
        };
        text.set(raw);
        state.input.set(declared);
    };
    view! {
        <label class="form">"Input fields (optional)"
            <textarea rows="4" spellcheck="false" data-testid="workflow-input-fields" prop:value=text
                placeholder=r#"[{"name": "url", "type": "string", "required": true, "example": "https://example.com"}]"#
                on:focus=move |_| state.checkpoint() on:input=move |ev| set(event_target_value(&ev))></textarea>
        </label>
        <p class="muted">"What a run's input holds: the run form starts from the examples and says what an input lacks. Types: string, number, boolean, object, array, any."</p>
    }
}
