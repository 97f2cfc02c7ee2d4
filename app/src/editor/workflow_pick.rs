//! A `workflow` node's target in the side panel: one of the viewer's
//! workflows, picked by name (the definition stores its id). A target that
//! is not among them any more stays selected and is marked missing; saving
//! then names the problem.

use leptos::prelude::*;
use serde_json::Value;

use super::state::{EditorNode, EditorState};

/// The most workflows the picker lists (the most recently changed first).
const LISTED: u32 = 200;

#[component]
pub(super) fn WorkflowPick(node: EditorNode, state: EditorState) -> impl IntoView {
    let chosen = move || node.config.with(|c| c.get("workflow").and_then(Value::as_i64).unwrap_or(0));
    let set = move |text: String| {
        let id = text.parse::<i64>().unwrap_or(0);
        node.config.update(|c| {
            if let Value::Object(map) = c {
                map.insert("workflow".into(), Value::from(id));
            }
        });
    };
    // Read in the browser only: the panel is never rendered on the server.
    let choices = LocalResource::new(|| async {
        let listed = crate::workflows::list_workflows(None, None, Some(LISTED)).await;
        listed.map(|page| page.items.into_iter().map(|w| (w.id, w.name)).collect::<Vec<_>>()).unwrap_or_default()
    });
    view! {
        <label>"Workflow to run"
            <Suspense fallback=|| view! { <select disabled><option>"Loading…"</option></select> }>
                {move || Suspend::new(async move {
                    let choices = choices.await;
                    let current = chosen();
                    let missing = (current > 0 && !choices.iter().any(|(id, _)| *id == current)).then_some(current);
                    view! {
                        <select data-testid="field-workflow" on:focus=move |_| state.checkpoint()
                            on:change=move |ev| set(event_target_value(&ev))>
                            <option value="0" prop:selected=move || chosen() == 0>"Choose a workflow…"</option>
                            {choices.into_iter().map(|(id, name)| view! {
                                <option value=id.to_string() prop:selected=move || chosen() == id>
                                    {format!("{name} (#{id})")}
                                </option>
                            }).collect_view()}
                            {missing.map(|id| view! {
                                <option value=id.to_string() selected>{format!("#{id} (missing)")}</option>
                            })}
                        </select>
                    }
                })}
            </Suspense>
        </label>
        {move || (chosen() > 0).then(|| view! {
            <a class="muted" href=format!("/workflows/{}", chosen()) target="_blank" data-testid="open-called-workflow">
                "Open it"
            </a>
        })}
    }
}
