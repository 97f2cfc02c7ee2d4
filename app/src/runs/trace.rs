//! An `agent` node's trace in the run view: each model turn (its text, the
//! tools it called, provider, tokens, time) and each tool call (its input,
//! output or error, time), in the order they were recorded. Read again when
//! the node records a step or changes state, so it grows while the agent works.

use leptos::prelude::*;
use serde_json::Value;

use super::api::load_agent_steps;
use crate::model::agent::AgentStep;
use crate::model::{ExecutionId, NodeStatus};

#[component]
pub(super) fn AgentTrace(
    execution: ExecutionId,
    node: String,
    status: Signal<NodeStatus>,
    /// Steps announced live so far: a new one reads the trace again.
    recorded: Signal<usize>,
) -> impl IntoView {
    let steps = LocalResource::new(move || {
        let node = node.clone();
        let _ = (status.get(), recorded.get());
        async move { load_agent_steps(execution, node).await }
    });
    view! {
        <h3>"Trace"</h3>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match steps.await {
                    Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                    Ok(steps) if steps.is_empty() => {
                        view! { <p class="muted" data-testid="agent-trace">"No steps yet."</p> }.into_any()
                    }
                    Ok(steps) => view! {
                        <ol class="agent-trace" data-testid="agent-trace">
                            {steps.into_iter().map(|step| view! { <Step step/> }).collect_view()}
                        </ol>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn Step(step: AgentStep) -> impl IntoView {
    match step {
        AgentStep::Model { turn, text, calls, provider, model, usage, ms } => {
            let tokens = usage.get("total_tokens").and_then(Value::as_u64).map(|t| format!(" · {t} tokens"));
            let called = (!calls.is_empty()).then(|| {
                let names: Vec<String> = calls.iter().map(|c| c.name.clone()).collect();
                view! { <p class="trace-calls" data-testid="trace-calls">"Calls: "{names.join(", ")}</p> }
            });
            view! {
                <li class="trace-step model" data-testid="trace-step" data-kind="model">
                    <p class="trace-head">
                        <strong>{format!("Turn {turn}")}</strong>
                        <span class="muted">{format!(" · {provider}: {model} · {ms} ms")}{tokens}</span>
                    </p>
                    {(!text.is_empty()).then(|| view! { <pre class="output-text" data-testid="trace-text">{text}</pre> })}
                    {called}
                </li>
            }
            .into_any()
        }
        AgentStep::Tool { name, input, output, error, ms, .. } => {
            let failed = error.is_some();
            view! {
                <li class="trace-step tool" class:failed=failed data-testid="trace-step" data-kind="tool">
                    <p class="trace-head">
                        <strong data-testid="trace-tool">{name}</strong>
                        <code class="trace-input">{compact(&input)}</code>
                        <span class="muted">{format!(" · {ms} ms")}</span>
                    </p>
                    {error.map(|e| view! { <p class="error" data-testid="trace-error">{e}</p> })}
                    {output.map(|o| view! {
                        <details>
                            <summary>"Result"</summary>
                            <pre data-testid="trace-output">{serde_json::to_string_pretty(&o).unwrap_or_default()}</pre>
                        </details>
                    })}
                </li>
            }
            .into_any()
        }
        AgentStep::Failed { error } => view! {
            <li class="trace-step failed" data-testid="trace-step" data-kind="failed">
                <p class="error">{error}</p>
            </li>
        }
        .into_any(),
    }
}

/// A tool's arguments on one line, cut to fit.
fn compact(input: &Value) -> String {
    let text = input.to_string();
    match text.char_indices().nth(120) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}
