//! The side panel: the selected node's form (one per node kind), the selected
//! edge, or the workflow's name.

use leptos::prelude::*;

use super::model::{field_text, fields, set_field, FieldType};
use super::state::{EditorNode, EditorState, Selection};

#[component]
pub fn Panel(state: EditorState) -> impl IntoView {
    move || {
        match state.selected.get() {
        Selection::Node(id) => match state.node(&id) {
            Some(node) => view! { <NodeForm node state/> }.into_any(),
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
                <p class="muted">"Add nodes from the palette, drag from a node's right dot to another's left dot to connect, select and press Delete to remove. Ctrl+Z / Ctrl+Shift+Z undo and redo, Ctrl+S saves."</p>
            </section>
        }
        .into_any(),
    }
    }
}

#[component]
fn NodeForm(node: EditorNode, state: EditorState) -> impl IntoView {
    let kind = node.kind.get_value();
    let id = node.id.get_value();
    view! {
        <section class="card panel form" data-testid="node-panel" data-node=id.clone()>
            <h2>{id.clone()}<span class="muted">{format!(" · {kind}")}</span></h2>
            {fields(&kind).iter().map(|field| {
                let (key, label, kind, _) = *field;
                let value = move || node.config.with(|c| field_text(c, key));
                // One undo step per field visit, not per key.
                let on_focus = move |_| state.checkpoint();
                let set = move |text: String| node.config.update(|c| set_field(c, field, &text));
                match kind {
                    FieldType::TextArea => view! {
                        <label>{label}
                            <textarea rows="5" spellcheck="false" data-testid=format!("field-{key}") prop:value=value
                                on:focus=on_focus on:input=move |ev| set(event_target_value(&ev))></textarea>
                        </label>
                    }.into_any(),
                    FieldType::Select(options) => view! {
                        <label>{label}
                            <select data-testid=format!("field-{key}") prop:value=value on:focus=on_focus
                                on:change=move |ev| set(event_target_value(&ev))>
                                {options.iter().map(|o| view! { <option value=*o>{*o}</option> }).collect_view()}
                            </select>
                        </label>
                    }.into_any(),
                    FieldType::Check => view! {
                        <label class="check">
                            <input type="checkbox" data-testid=format!("field-{key}")
                                prop:checked=move || node.config.with(|c| c.get(key).and_then(|v| v.as_bool()).unwrap_or(key == "cache"))
                                on:focus=on_focus on:change=move |ev| set(event_target_checked(&ev).to_string())/>
                            {label}
                        </label>
                    }.into_any(),
                    FieldType::Text | FieldType::Number => view! {
                        <label>{label}
                            <input type=if kind == FieldType::Number { "number" } else { "text" } data-testid=format!("field-{key}")
                                prop:value=value on:focus=on_focus on:input=move |ev| set(event_target_value(&ev))/>
                        </label>
                    }.into_any(),
                }
            }).collect_view()}
            <button class="link danger" data-testid="delete-node" on:click=move |_| state.delete_selected()>"Delete node"</button>
        </section>
    }
}
