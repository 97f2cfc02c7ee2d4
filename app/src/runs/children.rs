//! The runs a `workflow` node started, in the run view: each with its status
//! and a link to it. Read again whenever the node's status changes, so a
//! child shows up as soon as it starts.

use leptos::prelude::*;

use super::api::load_child_runs;
use crate::model::{ExecutionId, NodeStatus};

#[component]
pub(super) fn ChildRuns(execution: ExecutionId, node: String, status: Signal<NodeStatus>) -> impl IntoView {
    let children = LocalResource::new(move || {
        let node = node.clone();
        // Tracked: a new status of the node reads the list again.
        let _ = status.get();
        async move { load_child_runs(execution, node).await }
    });
    view! {
        <h3>"Runs it started"</h3>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match children.await {
                    Err(error) => view! { <p class="error">{error.to_string()}</p> }.into_any(),
                    Ok(runs) if runs.is_empty() => view! { <p class="muted" data-testid="child-runs">"None yet."</p> }.into_any(),
                    Ok(runs) => view! {
                        <ul class="child-runs" data-testid="child-runs">
                            {runs.into_iter().map(|run| view! {
                                <li>
                                    <a href=format!("/executions/{}", run.id) data-testid="child-run-link">{format!("run {}", run.id)}</a>
                                    " "
                                    <span class=format!("status status-{}", run.status)>{run.status.to_string()}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}
