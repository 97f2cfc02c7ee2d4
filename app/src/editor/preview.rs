//! The live preview under a template field: the text as the node would render
//! it with the workflow's last run's data, or the renderer's error (with its
//! line, and what an undefined path has instead), as you type. Rendered on
//! the server by the engine's own template renderer (same filters, same JSON
//! printing, same limits), a short pause after the last key.

use leptos::prelude::*;
use leptos_use_signal_debounce_throttle::signal_debounced;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::{ExecutionId, WorkflowId};

/// How long typing pauses before the preview is asked for, in ms.
const PREVIEW_DEBOUNCE_MS: f64 = 400.0;
/// The longest template a preview renders (a node's text is seldom a tenth of it).
pub const MAX_PREVIEW_BYTES: usize = 32 * 1024;
/// The most of a rendered text the preview shows.
const SHOWN_CHARS: usize = 2_000;

/// What the preview shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Preview {
    /// The workflow has no run yet: nothing to render with.
    NoRun,
    Rendered {
        execution: ExecutionId,
        text: String,
    },
    Failed {
        execution: ExecutionId,
        error: String,
    },
}

/// Renders `source` (the text of `node`'s field `field`) with the viewer's last run of `workflow`.
#[server(endpoint = "editor/preview")]
pub async fn preview_template(
    workflow: WorkflowId,
    node: String,
    field: String,
    source: String,
) -> Result<Preview, AppError> {
    use crate::server_context::{with_status, ServerContext};
    with_status(
        async {
            if source.len() > MAX_PREVIEW_BYTES {
                return Err(AppError::BadRequest(format!(
                    "a template of {} bytes is too long to preview (at most {MAX_PREVIEW_BYTES})",
                    source.len()
                )));
            }
            let ctx = ServerContext::current()?;
            let viewer = ctx.viewer().await?;
            let Some((execution, runs)) = super::data::latest_run(&ctx, workflow).await? else {
                return Ok(Preview::NoRun);
            };
            let nodes = runs.into_iter().filter_map(|run| Some((run.node_id, run.output?))).collect();
            let data = crate::ports::RecordedData {
                execution: Some(execution.id),
                node,
                input: execution.input.to_value(),
                nodes,
                upstream: Vec::new(),
            };
            let rendered = ctx.runs.preview_template(viewer.id, data, &field, &source).await?;
            Ok(match rendered {
                Ok(text) => Preview::Rendered { execution: execution.id, text: shorten(text) },
                Err(error) => Preview::Failed { execution: execution.id, error },
            })
        }
        .await,
    )
}

#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
fn shorten(text: String) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}… ({} more bytes)", &text[..cut], text.len() - cut),
        None => text,
    }
}

/// The preview of field `field` of node `node`, following `source` as it is typed.
#[component]
pub fn TemplatePreview(
    workflow: Signal<Option<WorkflowId>>,
    node: String,
    field: &'static str,
    source: Signal<String>,
) -> impl IntoView {
    let typed: Signal<String> = signal_debounced(source, PREVIEW_DEBOUNCE_MS);
    // Read in the browser only: the panel is never rendered on the server.
    let preview = LocalResource::new(move || {
        let (node, text) = (node.clone(), typed.get());
        async move {
            match workflow.get() {
                // A text too long to preview is not sent (the server would refuse it).
                Some(id) if !text.trim().is_empty() && text.len() <= MAX_PREVIEW_BYTES => {
                    preview_template(id, node, field.to_string(), text).await.map(Some)
                }
                _ => Ok(None),
            }
        }
    });
    view! {
        <div class="preview" data-testid=format!("field-{field}-preview")>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    match preview.await {
                        Ok(None) => None,
                        Ok(Some(Preview::NoRun)) => Some(view! {
                            <span class="muted">"Preview: run the workflow once to see this rendered with its data."</span>
                        }.into_any()),
                        Ok(Some(Preview::Rendered { execution, text })) => Some(view! {
                            <span class="muted">{format!("Preview with run {execution}:")}</span>
                            <pre data-testid="preview-text">{text}</pre>
                        }.into_any()),
                        Ok(Some(Preview::Failed { execution, error })) => Some(view! {
                            <span class="muted">{format!("Preview with run {execution}:")}</span>
                            <p class="field-problem" data-testid="preview-error">{error}</p>
                        }.into_any()),
                        Err(error) => Some(view! { <p class="field-problem">{error.to_string()}</p> }.into_any()),
                    }
                })}
            </Transition>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_renders_are_cut_for_the_preview() {
        assert_eq!(shorten("short".into()), "short");
        let long = "é".repeat(SHOWN_CHARS + 10);
        let cut = shorten(long);
        assert!(cut.starts_with(&"é".repeat(SHOWN_CHARS)));
        assert!(cut.ends_with("… (20 more bytes)"), "{cut}");
    }
}
