//! Trying one node, and pinning outputs to build against. "Try this node"
//! runs the node as it is in the editor (saved or not) with the workflow's
//! last run's input and upstream outputs, a pinned output taking the place of
//! a node's recorded one; nothing else runs and nothing is stored. Its output
//! can be pinned (or written as JSON), so the nodes after it are built and
//! tried without calling the real service again. Runs never read pinned data.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::{EditorNode, EditorState};
use crate::error::AppError;
use crate::model::{ExecutionId, WorkflowId, MAX_PINNED_BYTES};

/// The most characters of an output the form shows.
const SHOWN_CHARS: usize = 4_000;

/// What came of a try.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TryResult {
    /// The run whose data the node saw (none: the workflow never ran).
    pub execution: Option<ExecutionId>,
    /// Upstream nodes whose pinned output was used.
    pub pinned: Vec<String>,
    /// For a node with `for_each`: it ran for the first item of this many.
    pub items: Option<usize>,
    pub outcome: Result<TriedOutput, String>,
    pub ms: u64,
}

/// A tried node's output: whole when it is small enough to pin, else a sample of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriedOutput {
    pub value: Value,
    pub whole: bool,
    /// Its size as JSON.
    pub bytes: usize,
}

/// Runs node `node` of `definition` (the editor's JSON, saved or not) alone,
/// with the viewer's last run of `workflow` (none: a workflow not yet created).
#[server(endpoint = "editor/try-node")]
pub async fn try_node(workflow: Option<WorkflowId>, definition: String, node: String) -> Result<TryResult, AppError> {
    use std::collections::BTreeMap;

    use crate::model::{validate, WorkflowDefinition};
    use crate::server_context::{with_status, ServerContext};
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let viewer = ctx.viewer().await?;
            let definition = WorkflowDefinition::from_json(&definition).map_err(AppError::BadRequest)?;
            let validated = validate(&definition).map_err(AppError::Invalid)?;
            let Some(tried) = validated.nodes.iter().find(|n| n.id == node) else {
                return Err(AppError::BadRequest(format!("the workflow has no node `{node}` to try")));
            };
            let latest = match workflow {
                Some(workflow) => {
                    // Someone else's workflow is not found, as everywhere.
                    ctx.store.workflow(ctx.own_scope().await?, workflow).await?;
                    super::data::latest_run(&ctx, workflow).await?
                }
                None => None,
            };
            let (execution, input, mut nodes) = match latest {
                Some((execution, runs)) => {
                    let outputs: BTreeMap<String, Value> =
                        runs.into_iter().filter_map(|run| Some((run.node_id, run.output?))).collect();
                    (Some(execution.id), execution.input.to_value(), outputs)
                }
                None => (None, Value::Object(Default::default()), BTreeMap::new()),
            };
            // A pinned output stands in for the recorded one; the node's own output is what the try makes.
            let mut pinned = Vec::new();
            for other in definition.nodes.iter().filter(|n| n.id != node) {
                if let Some(output) = &other.pinned {
                    nodes.insert(other.id.clone(), output.clone());
                    pinned.push(other.id.clone());
                }
            }
            nodes.remove(&node);
            let mut upstream: Vec<String> =
                definition.edges.iter().filter(|e| e.to == node).map(|e| e.from.clone()).collect();
            upstream.dedup();
            let data = crate::ports::RecordedData { execution, node: node.clone(), input, nodes, upstream };
            let started = std::time::Instant::now();
            let tried = ctx.runs.try_node(viewer.id, tried, data).await?;
            let ms = started.elapsed().as_millis() as u64;
            let outcome = tried.output.map(|value| {
                let bytes = serde_json::to_vec(&value).map_or(0, |json| json.len());
                let whole = bytes <= MAX_PINNED_BYTES;
                let value = if whole { value } else { super::data::sample(&value) };
                TriedOutput { value, whole, bytes }
            });
            Ok(TryResult { execution, pinned, items: tried.items, outcome, ms })
        }
        .await,
    )
}

/// `value` as indented JSON, cut for the form.
fn shown(value: &Value) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}\n… ({} more bytes)", &text[..cut], text.len() - cut),
        None => text,
    }
}

/// What a try's header says: how long, with which data.
fn provenance(result: &TryResult) -> String {
    let mut text = format!("Ran in {} ms", result.ms);
    match result.execution {
        Some(execution) => text.push_str(&format!(" with run {execution}'s data")),
        None => text.push_str(" with an empty input (the workflow has not run yet)"),
    }
    if !result.pinned.is_empty() {
        text.push_str(&format!(", pinned: {}", result.pinned.join(", ")));
    }
    if let Some(items) = result.items {
        text.push_str(&format!("; the first of {items} items"));
    }
    text.push('.');
    text
}

/// "Try this node", its output, and the node's pinned output.
#[component]
pub fn TryNode(node: EditorNode, state: EditorState, workflow: Signal<Option<WorkflowId>>) -> impl IntoView {
    let id = node.id.get_value();
    let run = {
        let id = id.clone();
        Action::new_local(move |_: &()| {
            let (definition, id) = (state.definition(false).to_json_pretty(), id.clone());
            async move { try_node(workflow.get_untracked(), definition, id).await }
        })
    };
    let pending = run.pending();
    let pin_output = {
        let id = id.clone();
        move |value: Value| state.pin(&id, Some(value))
    };
    view! {
        <div class="try-node" data-testid="try-panel">
            <button type="button" data-testid="try-node" disabled=move || pending.get()
                title="Run this node alone, with the last run's data and the pinned outputs"
                on:click=move |_| { run.dispatch(()); }>
                {move || if pending.get() { "Trying…" } else { "Try this node" }}
            </button>
            {move || run.value().get().map(|result| match result {
                Err(error) => view! { <p class="field-problem" data-testid="try-error">{error.to_string()}</p> }.into_any(),
                Ok(result) => {
                    let header = provenance(&result);
                    match result.outcome {
                        Err(error) => view! {
                            <p class="muted">{header}</p>
                            <p class="field-problem" data-testid="try-error">{error}</p>
                        }.into_any(),
                        Ok(output) => {
                            let pin = pin_output.clone();
                            let value = output.value.clone();
                            view! {
                                <p class="muted">{header}</p>
                                <pre class="try-output" data-testid="try-output">{shown(&output.value)}</pre>
                                {if output.whole {
                                    view! {
                                        <button type="button" class="link" data-testid="pin-output"
                                            on:click=move |_| pin(value.clone())>"Pin this output"</button>
                                    }.into_any()
                                } else {
                                    view! { <p class="muted">{format!(
                                        "{} bytes: too large to pin (at most {MAX_PINNED_BYTES}).", output.bytes
                                    )}</p> }.into_any()
                                }}
                            }.into_any()
                        }
                    }
                }
            })}
            <PinnedOutput node state/>
        </div>
    }
}

/// The node's pinned output, edited as JSON; or a way to write one.
#[component]
fn PinnedOutput(node: EditorNode, state: EditorState) -> impl IntoView {
    let id = StoredValue::new(node.id.get_value());
    let problem = RwSignal::new(None::<String>);
    let edit = move |text: String| match serde_json::from_str::<Value>(&text) {
        Ok(_) if text.len() > MAX_PINNED_BYTES => {
            problem.set(Some(format!("{} bytes: pinned data holds at most {MAX_PINNED_BYTES}", text.len())));
        }
        Ok(value) => {
            problem.set(None);
            state.pin(&id.get_value(), Some(value));
        }
        Err(error) => problem.set(Some(format!("not JSON: {error}; the pinned output is unchanged"))),
    };
    view! {
        {move || match node.pinned.get() {
            None => view! {
                <button type="button" class="link" data-testid="pin-json"
                    title="Write an output by hand for the nodes after this one to be built against"
                    on:click=move |_| state.pin(&id.get_value(), Some(Value::Object(Default::default())))>
                    "Pin an output written as JSON"
                </button>
            }.into_any(),
            Some(value) => view! {
                <div class="pinned" data-testid="pinned">
                    <label>
                        "Pinned output (JSON): trying the nodes after this one uses it in place of this node's \
                         recorded output. Runs never read it."
                        <textarea data-testid="pinned-json" rows="6"
                            prop:value=serde_json::to_string_pretty(&value).unwrap_or_default()
                            on:change=move |ev| edit(event_target_value(&ev))></textarea>
                    </label>
                    {move || problem.get().map(|p| view! { <p class="field-problem" data-testid="pinned-error">{p}</p> })}
                    <button type="button" class="link danger" data-testid="unpin"
                        on:click=move |_| { problem.set(None); state.pin(&id.get_value(), None) }>"Unpin"</button>
                </div>
            }.into_any(),
        }}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_header_says_which_data_the_node_saw() {
        let result = TryResult {
            execution: Some(12),
            pinned: vec!["fetch".into()],
            items: Some(3),
            outcome: Ok(TriedOutput { value: json!(1), whole: true, bytes: 1 }),
            ms: 7,
        };
        assert_eq!(provenance(&result), "Ran in 7 ms with run 12's data, pinned: fetch; the first of 3 items.");
        let never = TryResult { execution: None, pinned: vec![], items: None, ..result };
        assert_eq!(provenance(&never), "Ran in 7 ms with an empty input (the workflow has not run yet).");
    }

    #[test]
    fn long_outputs_are_cut_for_the_form() {
        let long = json!("x".repeat(SHOWN_CHARS * 2));
        let text = shown(&long);
        assert!(text.len() < SHOWN_CHARS + 100 && text.ends_with("more bytes)"), "{}", &text[text.len() - 40..]);
        assert_eq!(shown(&json!({"a": 1})), "{\n  \"a\": 1\n}");
    }
}
