//! The instance's default error workflow (admins only): it runs when a run of
//! any workflow that names none of its own fails (see `model::on_failure`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// The default error workflow, as the settings page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorWorkflowChoice {
    pub id: Option<crate::model::WorkflowId>,
    pub name: Option<String>,
}

#[cfg(feature = "ssr")]
async fn read_default(ctx: &ServerContext) -> Result<ErrorWorkflowChoice, AppError> {
    use crate::model::on_failure::DEFAULT_ERROR_WORKFLOW;
    use crate::model::Scope;
    let id = ctx.store.setting(DEFAULT_ERROR_WORKFLOW).await?.and_then(|v| v.as_i64());
    let name = match id {
        Some(id) => ctx.store.workflow(Scope::Everyone, id).await.ok().map(|w| w.definition.name),
        None => None,
    };
    Ok(ErrorWorkflowChoice { id, name })
}

#[server(endpoint = "settings/error-workflow")]
pub async fn default_error_workflow() -> Result<ErrorWorkflowChoice, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.admin().await?;
            read_default(&ctx).await
        }
        .await,
    )
}

/// Sets (a workflow id of the admin's own) or clears (empty) the default.
#[server(endpoint = "settings/error-workflow/save")]
pub async fn save_default_error_workflow(workflow: String) -> Result<ErrorWorkflowChoice, AppError> {
    use crate::model::on_failure::DEFAULT_ERROR_WORKFLOW;
    use crate::model::Scope;
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let admin = ctx.admin().await?;
            let text = workflow.trim();
            let value = if text.is_empty() {
                serde_json::Value::Null
            } else {
                let id = text.parse::<i64>().map_err(|_| {
                    AppError::BadRequest(format!("the error workflow is a workflow's number, not `{text}`"))
                })?;
                // One of the admin's own: it runs with other users' failures, which only admins may see.
                ctx.store
                    .workflow(Scope::Owner(admin.id), id)
                    .await
                    .map_err(|_| AppError::BadRequest(format!("workflow {id} is not one of yours")))?;
                serde_json::Value::from(id)
            };
            ctx.store.put_setting(DEFAULT_ERROR_WORKFLOW, &value).await?;
            read_default(&ctx).await
        }
        .await,
    )
}

#[component]
pub fn ErrorWorkflowSection() -> impl IntoView {
    let current = Resource::new(|| (), |_| default_error_workflow());
    let save = ServerAction::<SaveDefaultErrorWorkflow>::new();
    let shown = move || {
        let saved = save.value().get().and_then(Result::ok);
        saved.or_else(|| current.get().and_then(Result::ok))
    };
    view! {
        <section class="card" data-testid="error-workflow-section">
            <h2>"When a run fails"</h2>
            <p class="muted">"Runs one of your workflows whenever a run of any workflow that names no error workflow of its own fails (a workflow names its own in the editor). It gets the failed run's id, workflow, node, error and input: the place for an http node that posts to Slack or sends an email."</p>
            <ActionForm action=save attr:class="form inline">
                <label>"Workflow #"
                    <input type="number" min="1" name="workflow" data-testid="default-error-workflow" placeholder="none"
                        prop:value=move || shown().and_then(|d| d.id).map(|id| id.to_string()).unwrap_or_default()/>
                </label>
                <button type="submit" data-testid="save-error-workflow">"Save"</button>
            </ActionForm>
            <p data-testid="error-workflow-state">
                {move || match shown() {
                    Some(ErrorWorkflowChoice { id: Some(id), name }) => {
                        format!("Failed runs start workflow #{id}{}.", name.map(|n| format!(" ({n})")).unwrap_or_default())
                    }
                    _ => "No default error workflow.".to_string(),
                }}
            </p>
            {move || save.value().get().and_then(Result::err).map(|e| view! { <p class="error" role="alert">{e.to_string()}</p> })}
        </section>
    }
}
