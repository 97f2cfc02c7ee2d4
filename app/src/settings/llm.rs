//! The LLM provider an admin sets in the browser (base URL, API key, default
//! model), its response cache and its concurrency.

use leptos::prelude::*;

use crate::error::AppError;
pub use crate::model::LlmProvider;
#[cfg(feature = "ssr")]
use crate::server_context::{with_status, ServerContext};

/// The LLM settings (admins only: the base URL names hosts of the internal
/// network, which other users have no business knowing). Never the key.
#[server(endpoint = "settings/llm")]
pub async fn llm_settings() -> Result<LlmProvider, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.admin().await?;
            Ok(ctx.configuration.llm_provider())
        }
        .await,
    )
}

/// Saves the LLM settings (admins only). An empty `api_key` keeps the stored
/// one; `remove_api_key` removes it.
#[server(endpoint = "settings/llm/save")]
#[allow(clippy::too_many_arguments)]
pub async fn save_llm_settings(
    base_url: String,
    default_model: String,
    cache_ttl_secs: String,
    cache_capacity: String,
    max_concurrency: String,
    api_key: Option<String>,
    remove_api_key: Option<String>,
) -> Result<LlmProvider, AppError> {
    with_status(
        async {
            let ctx = ServerContext::current()?;
            ctx.admin().await?;
            let number = |text: &str, what: &str| {
                text.trim()
                    .parse::<u64>()
                    .map_err(|_| AppError::BadRequest(format!("{what} must be a whole number, not `{text}`")))
            };
            let provider = LlmProvider {
                base_url: base_url.trim().to_string(),
                default_model: default_model.trim().to_string(),
                cache_ttl_secs: number(&cache_ttl_secs, "the cache time")?,
                cache_capacity: number(&cache_capacity, "the cache size")?,
                max_concurrency: u32::try_from(number(&max_concurrency, "the concurrency")?).unwrap_or(u32::MAX),
                has_api_key: false,
            };
            provider.check().map_err(AppError::BadRequest)?;
            let api_key = if remove_api_key.is_some_and(|r| r == "true" || r == "on") {
                Some(String::new())
            } else {
                api_key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty())
            };
            ctx.configuration.update_llm_provider(provider, api_key).await
        }
        .await,
    )
}

/// The LLM provider's form, for admins only (the settings page shows it to
/// them alone; the server functions refuse everyone else).
#[component]
pub fn LlmSection() -> impl IntoView {
    let save = ServerAction::<SaveLlmSettings>::new();
    let current = Resource::new(move || save.version().get(), |_| llm_settings());
    view! {
        <section class="card" data-testid="llm-settings">
            <h2>"LLM provider"</h2>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok(provider) => view! { <LlmForm provider save/> }.into_any(),
                        Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn LlmForm(provider: LlmProvider, save: ServerAction<SaveLlmSettings>) -> impl IntoView {
    let base_url = RwSignal::new(provider.base_url.clone());
    let model = RwSignal::new(provider.default_model.clone());
    let ttl = RwSignal::new(provider.cache_ttl_secs.to_string());
    let capacity = RwSignal::new(provider.cache_capacity.to_string());
    let concurrency = RwSignal::new(provider.max_concurrency.to_string());
    let api_key = RwSignal::new(String::new());
    let remove_key = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        save.dispatch(SaveLlmSettings {
            base_url: base_url.get_untracked(),
            default_model: model.get_untracked(),
            cache_ttl_secs: ttl.get_untracked(),
            cache_capacity: capacity.get_untracked(),
            max_concurrency: concurrency.get_untracked(),
            api_key: Some(api_key.get_untracked()),
            remove_api_key: remove_key.get_untracked().then(|| "true".to_string()),
        });
    };
    let text_input = move |label: &'static str, testid: &'static str, value: RwSignal<String>, kind: &'static str| {
        view! {
            <label>{label}
                <input type=kind data-testid=testid prop:value=value
                    on:input=move |ev| value.set(event_target_value(&ev))/>
            </label>
        }
    };
    let key_state = if provider.has_api_key {
        "An API key is set (it is stored encrypted and never shown)."
    } else {
        "No API key is set."
    };
    view! {
        <form class="form" on:submit=submit>
            {text_input("Base URL (OpenAI-compatible)", "llm-base-url", base_url, "url")}
            {text_input("Default model", "llm-model", model, "text")}
            <p class="muted" data-testid="llm-key-state">{key_state}</p>
            <label>"New API key (leave empty to keep the current one)"
                <input type="password" autocomplete="off" data-testid="llm-api-key" prop:value=api_key
                    on:input=move |ev| api_key.set(event_target_value(&ev))/>
            </label>
            <label class="check">
                <input type="checkbox" prop:checked=remove_key on:change=move |ev| remove_key.set(event_target_checked(&ev))/>
                "Remove the stored key"
            </label>
            {text_input("Cache answers for (seconds)", "llm-cache-ttl", ttl, "number")}
            {text_input("Cache size (answers)", "llm-cache-capacity", capacity, "number")}
            {text_input("Concurrent LLM requests", "llm-concurrency", concurrency, "number")}
            <p class="error" role="alert">{move || save.value().get().and_then(Result::err).map(|e| e.to_string())}</p>
            {move || save.value().get().and_then(Result::ok).map(|_| view! { <p data-testid="llm-saved">"Saved; in use now."</p> })}
            <button type="submit" data-testid="save-llm" disabled=move || save.pending().get()>"Save"</button>
        </form>
    }
}
