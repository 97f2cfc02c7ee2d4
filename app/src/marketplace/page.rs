//! The marketplace page.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use leptos_router::{lazy_route, LazyRoute};
use leptos_use_signal_debounce_throttle::signal_debounced;

use super::api::{list_templates, InstallTemplate, PublishTemplate};
use crate::error::AppError;
use crate::graph::GraphPreview;
use crate::model::{MarketplaceTemplate, Page, WorkflowSummary};
use crate::ui::use_hydrated;
use crate::workflows::list_workflows;

pub struct MarketplacePage;

/// What the page reads and does, made in `view`: the router calls `data()`
/// from the initial chunk, so what it makes (its server functions, the
/// decoding of their answers) would ship with every page; `view` is lazy.
struct MarketplaceData {
    query: RwSignal<String>,
    templates: Resource<Result<Vec<MarketplaceTemplate>, AppError>>,
    mine: Resource<Result<Page<WorkflowSummary>, AppError>>,
    publish: ServerAction<PublishTemplate>,
}

impl MarketplaceData {
    fn load() -> Self {
        let query = RwSignal::new(String::new());
        let search = signal_debounced(query, 300.0);
        let publish = ServerAction::<PublishTemplate>::new();
        let templates =
            Resource::new(move || (search.get(), publish.version().get()), |(s, _)| list_templates(Some(s)));
        let mine = Resource::new(|| (), |_| list_workflows(None, None, Some(200)));
        Self { query, templates, mine, publish }
    }
}

#[lazy_route]
impl LazyRoute for MarketplacePage {
    fn data() -> Self {
        Self
    }

    fn view(_page: Self) -> AnyView {
        let MarketplaceData { query, templates, mine, publish } = MarketplaceData::load();
        let hydrated = use_hydrated();
        let install = ServerAction::<InstallTemplate>::new();
        let navigate = use_navigate();
        Effect::new(move |_| {
            if let Some(Ok(created)) = install.value().get() {
                navigate(&format!("/workflows/{}", created.id), Default::default());
            }
        });
        view! {
            <main class="page wide" data-testid="marketplace-page" data-hydrated=move || hydrated.get().to_string()>
            <leptos_meta::Title text="Marketplace · Weft"/>
                <h1>"Marketplace"</h1>
                <input type="search" class="search" placeholder="Search templates" aria-label="Search templates"
                    data-testid="template-search" prop:value=query on:input=move |ev| query.set(event_target_value(&ev))/>
                <p class="error" role="alert">{move || install.value().get().and_then(Result::err).map(|e| e.to_string())}</p>
                <Transition fallback=|| view! { <p class="muted">"Loading templates…"</p> }>
                    {move || Suspend::new(async move {
                        match templates.await {
                            Ok(list) if list.is_empty() => view! { <p class="muted" data-testid="no-templates">"No template matches."</p> }.into_any(),
                            Ok(list) => view! {
                                <div class="templates">
                                    {list.into_iter().map(|t| view! { <TemplateCard template=t install/> }).collect_view()}
                                </div>
                            }.into_any(),
                            Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
                <PublishForm mine publish/>
            </main>
        }
        .into_any()
    }
}

#[component]
fn TemplateCard(template: MarketplaceTemplate, install: ServerAction<InstallTemplate>) -> impl IntoView {
    let preview = RwSignal::new(false);
    let slug = template.slug.clone();
    let nodes = template.definition.nodes.len();
    let definition = template.definition.clone();
    let by = if template.author_id.is_some() { "shared by a user" } else { "built in" };
    view! {
        <article class="card template" data-testid="template" data-slug=template.slug.clone()>
            <h2>{template.name}</h2>
            <p class="muted">{format!("{nodes} nodes · {by}")}</p>
            <p>{template.description}</p>
            <div class="actions">
                <button data-testid="install-template" disabled=move || install.pending().get()
                    on:click=move |_| { install.dispatch(InstallTemplate { slug: slug.clone() }); }>"Install"</button>
                <button class="link" data-testid="preview-template" on:click=move |_| preview.update(|p| *p = !*p)>
                    {move || if preview.get() { "Hide preview" } else { "Preview" }}
                </button>
            </div>
            {move || preview.get().then(|| view! { <GraphPreview definition=definition.clone()/> })}
        </article>
    }
}

#[component]
fn PublishForm(
    mine: Resource<Result<Page<WorkflowSummary>, AppError>>,
    publish: ServerAction<PublishTemplate>,
) -> impl IntoView {
    let (workflow, set_workflow) = signal(String::new());
    let (description, set_description) = signal(String::new());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if let Ok(workflow_id) = workflow.get_untracked().parse() {
            publish.dispatch(PublishTemplate { workflow_id, description: description.get_untracked() });
        }
    };
    view! {
        <form class="card form" on:submit=submit data-testid="publish-form">
            <h2>"Publish one of your workflows"</h2>
            <label>"Workflow"
                <select data-testid="publish-workflow" required on:change=move |ev| set_workflow.set(event_target_value(&ev))>
                    <option value="">"Choose…"</option>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            mine.await.map(|page| page.items).unwrap_or_default().into_iter().map(|w| view! {
                                <option value=w.id.to_string()>{w.name}</option>
                            }).collect_view()
                        })}
                    </Transition>
                </select>
            </label>
            <label>"Description"
                <textarea rows="2" required maxlength="1000" data-testid="publish-description" prop:value=description
                    on:input=move |ev| set_description.set(event_target_value(&ev))></textarea>
            </label>
            <p class="error" role="alert">{move || publish.value().get().and_then(Result::err).map(|e| e.to_string())}</p>
            {move || publish.value().get().and_then(Result::ok).map(|t| view! {
                <p data-testid="published">{format!("Published as “{}”.", t.name)}</p>
            })}
            <button type="submit" data-testid="publish" disabled=move || publish.pending().get()>"Publish"</button>
        </form>
    }
}
