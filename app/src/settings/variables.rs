//! The settings page's variables: values templates read as `vars.NAME`
//! (base URLs, channel names, thresholds), the viewer's own and, set by
//! admins, the instance's.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::model::Variable;
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};
use crate::ui::format_time;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableList {
    pub variables: Vec<Variable>,
    /// Whether the viewer may set instance-wide ones (admins).
    pub can_share: bool,
}

#[server(endpoint = "settings/variables")]
pub async fn list_variables() -> Result<VariableList, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            Ok(VariableList { variables: ctx.variables.list(&user).await?, can_share: user.is_admin })
        }
        .await,
    )
}

#[server(endpoint = "settings/variables/set")]
pub async fn set_variable(name: String, value: String, #[server(default)] shared: bool) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            ctx.variables.set(&user, name.trim(), &value, shared).await
        }
        .await,
    )
}

#[server(endpoint = "settings/variables/delete")]
pub async fn delete_variable(name: String, #[server(default)] shared: bool) -> Result<(), AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            let user = ctx.viewer().await?;
            ctx.variables.delete(&user, &name, shared).await
        }
        .await,
    )
}

#[component]
pub fn VariablesSection() -> impl IntoView {
    let set = ServerAction::<SetVariable>::new();
    let delete = ServerAction::<DeleteVariable>::new();
    let list = Resource::new(move || (set.version().get(), delete.version().get()), |_| list_variables());
    let (name, value, shared) = (RwSignal::new(String::new()), RwSignal::new(String::new()), RwSignal::new(false));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        set.dispatch(SetVariable {
            name: name.get_untracked(),
            value: value.get_untracked(),
            shared: shared.get_untracked(),
        });
    };
    Effect::new(move |_| {
        if let Some(Ok(())) = set.value().get() {
            name.set(String::new());
            value.set(String::new());
        }
    });
    let problem = move || {
        [set.value().get().and_then(Result::err), delete.value().get().and_then(Result::err)]
            .into_iter()
            .flatten()
            .next()
            .map(|error| view! { <p class="error" role="alert" data-testid="variable-error">{error.to_string()}</p> })
    };
    view! {
        <section class="card" data-testid="variables">
            <h2>"Variables"</h2>
            <p class="muted">
                "Values your workflows read in templates as " <code>"{{ vars.NAME }}"</code>
                ": base URLs, channel names, thresholds. Not for secrets (use " <a href="/credentials">"credentials"</a>
                "). Yours win over an instance-wide one of the same name."
            </p>
            <Transition fallback=|| view! { <p class="muted">"Loading variables…"</p> }>
                {move || Suspend::new(async move {
                    match list.await {
                        Ok(list) => view! {
                            <form class="inline-form" on:submit=submit>
                                <input type="text" placeholder="Name, e.g. base_url" aria-label="Variable name" required maxlength="64"
                                    data-testid="variable-name" prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
                                <input type="text" placeholder="Value" aria-label="Variable value" maxlength="8192"
                                    data-testid="variable-value" prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
                                {list.can_share.then(|| view! {
                                    <label class="check">
                                        <input type="checkbox" data-testid="variable-shared" prop:checked=move || shared.get()
                                            on:change=move |ev| shared.set(event_target_checked(&ev))/>
                                        "instance-wide"
                                    </label>
                                })}
                                <button type="submit" data-testid="set-variable" disabled=move || set.pending().get()>"Set"</button>
                            </form>
                            <VariableTable variables=list.variables can_share=list.can_share delete/>
                        }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
            {problem}
        </section>
    }
}

#[component]
fn VariableTable(variables: Vec<Variable>, can_share: bool, delete: ServerAction<DeleteVariable>) -> impl IntoView {
    if variables.is_empty() {
        return view! { <p class="muted">"No variables yet."</p> }.into_any();
    }
    view! {
        <table class="table" data-testid="variable-table">
            <thead><tr><th>"Name"</th><th>"Value"</th><th>"Scope"</th><th>"Updated"</th><th></th></tr></thead>
            <tbody>
                {variables.into_iter().map(|v| {
                    let Variable { name, value, shared, updated_at } = v;
                    let remove = {
                        let name = name.clone();
                        move |_| { delete.dispatch(DeleteVariable { name: name.clone(), shared }); }
                    };
                    view! {
                        <tr data-testid="variable-row">
                            <td><code>{format!("vars.{name}")}</code></td>
                            <td class="wrap">{value}</td>
                            <td>{if shared { "instance-wide" } else { "yours" }}</td>
                            <td>{format_time(updated_at)}</td>
                            <td>{(!shared || can_share).then(|| view! {
                                <button class="link danger" data-testid="delete-variable" on:click=remove>"Delete"</button>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
