//! `/credentials`: the viewer's credentials and the shared ones, what uses
//! each, and forms to make one, replace a value, or delete one.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

use super::api::*;
use crate::model::{Credential, CREDENTIAL_KINDS};
use crate::ui::{encode_query_value, format_time, use_hydrated};

pub struct CredentialsPage;

#[lazy_route]
impl LazyRoute for CredentialsPage {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        credentials_view().into_any()
    }
}

/// The labels of the form's two fields for a kind: (field, value); no field for a bearer token.
fn labels(kind: &str) -> (Option<&'static str>, &'static str) {
    match kind {
        "bearer" => (None, "Token"),
        "basic" => (Some("Username"), "Password"),
        "header" => (Some("Header name, e.g. X-Api-Key"), "Header value"),
        "oauth2" => (Some("Client ID"), "Client secret"),
        "llm" => (Some("Base URL, e.g. https://api.anthropic.com/v1"), "API key (empty for a local server)"),
        _ => (Some("Parameter name, e.g. api_key"), "Parameter value"),
    }
}

fn describe_kind(kind: &str) -> &'static str {
    match kind {
        "bearer" => "Bearer token",
        "basic" => "Basic auth",
        "header" => "Custom header",
        "query" => "Query parameter",
        "oauth2" => "OAuth2",
        "llm" => "LLM provider",
        _ => "Unknown",
    }
}

/// The value part of a credential form, one signal per input.
#[derive(Clone, Copy)]
struct ValueForm {
    kind: RwSignal<String>,
    /// The name-like field: a username, a header or parameter name, a client id.
    field: RwSignal<String>,
    /// The secret: a token, a password, a value, a client secret.
    value: RwSignal<String>,
    grant: RwSignal<String>,
    token_url: RwSignal<String>,
    authorize_url: RwSignal<String>,
    scope: RwSignal<String>,
    /// An LLM provider's API.
    api: RwSignal<String>,
    /// An LLM provider's default model.
    model: RwSignal<String>,
}

impl ValueForm {
    fn new(kind: &str) -> Self {
        Self {
            kind: RwSignal::new(kind.to_string()),
            field: RwSignal::new(String::new()),
            value: RwSignal::new(String::new()),
            grant: RwSignal::new("authorization_code".to_string()),
            token_url: RwSignal::new(String::new()),
            authorize_url: RwSignal::new(String::new()),
            scope: RwSignal::new(String::new()),
            api: RwSignal::new("openai".to_string()),
            model: RwSignal::new(String::new()),
        }
    }

    /// Forgets what was typed (a secret leaves the page once sent).
    fn clear(&self) {
        for signal in [self.field, self.value, self.token_url, self.authorize_url, self.scope, self.model] {
            signal.set(String::new());
        }
    }
}

/// A text input bound to `signal`.
fn text_input(signal: RwSignal<String>, label: &'static str, testid: String, required: bool) -> impl IntoView {
    view! {
        <input type="text" placeholder=label aria-label=label required=required data-testid=testid
            prop:value=move || signal.get() on:input=move |ev| signal.set(event_target_value(&ev))/>
    }
}

/// The URL providers send people back to, to register with the provider.
fn callback_url() -> String {
    #[cfg(feature = "hydrate")]
    if let Some(origin) = web_sys::window().and_then(|w| w.location().origin().ok()) {
        return format!("{origin}/oauth/callback");
    }
    "<this address>/oauth/callback".to_string()
}

/// The kind select and the fields the kind needs. `testid` prefixes their test ids.
#[component]
fn ValueFields(form: ValueForm, testid: &'static str) -> AnyView {
    let ValueForm { kind, field, value, grant, token_url, authorize_url, scope, api, model } = form;
    let is_oauth = move || kind.get() == "oauth2";
    let is_llm = move || kind.get() == "llm";
    let llm_fields = move || {
        is_llm().then(|| {
            view! {
                <select data-testid=format!("{testid}-api") aria-label="API" prop:value=move || api.get()
                    on:change=move |ev| api.set(event_target_value(&ev))>
                    <option value="openai">"OpenAI-compatible (OpenAI, Ollama, vLLM, …)"</option>
                    <option value="anthropic">"Anthropic Messages API"</option>
                </select>
                {text_input(model, "Default model, e.g. claude-sonnet-4-5", format!("{testid}-model"), false)}
            }
        })
    };
    let oauth_fields = move || {
        is_oauth().then(|| {
            let code_grant = move || grant.get() == "authorization_code";
            view! {
                <select data-testid=format!("{testid}-grant") aria-label="Grant" prop:value=move || grant.get()
                    on:change=move |ev| grant.set(event_target_value(&ev))>
                    <option value="authorization_code">"Authorization code (a person signs in)"</option>
                    <option value="client_credentials">"Client credentials (machine to machine)"</option>
                </select>
                {move || code_grant().then(|| text_input(authorize_url, "Authorize URL", format!("{testid}-authorize-url"), true))}
                {text_input(token_url, "Token URL", format!("{testid}-token-url"), true)}
                {text_input(scope, "Scopes (space-separated)", format!("{testid}-scope"), false)}
                {move || code_grant().then(|| view! {
                    <p class="muted hint" data-testid=format!("{testid}-callback")>
                        "Register " <code>{callback_url()}</code> " as the redirect URI at the provider, then press Connect."
                    </p>
                })}
            }
        })
    };
    view! {
        <select data-testid=format!("{testid}-kind") prop:value=move || kind.get()
            on:change=move |ev| kind.set(event_target_value(&ev))>
            {CREDENTIAL_KINDS.map(|k| view! { <option value=k>{describe_kind(k)}</option> }).collect_view()}
        </select>
        {move || labels(&kind.get()).0.map(|label| text_input(field, label, format!("{testid}-field"), true))}
        {llm_fields}
        <input type="password" autocomplete="off" required=move || !is_llm() minlength="6"
            placeholder=move || labels(&kind.get()).1 aria-label=move || labels(&kind.get()).1
            data-testid=format!("{testid}-value")
            prop:value=move || value.get() on:input=move |ev| value.set(event_target_value(&ev))/>
        {oauth_fields}
    }
    .into_any()
}

/// What the Connect button came back with (`/oauth/callback` or
/// `/oauth/connect` send the browser here with `?connected=` or `?oauth_error=`).
fn connection_outcome() -> AnyView {
    let query = leptos_router::hooks::use_query_map();
    let outcome = move || {
        let query = query.get();
        if let Some(name) = query.get("connected") {
            Some(view! { <p class="notice" role="status" data-testid="oauth-connected">{format!("Connected {name}.")}</p> }.into_any())
        } else {
            query.get("oauth_error").map(|error| {
                view! { <p class="error" role="alert" data-testid="oauth-error">{format!("Not connected: {error}")}</p> }.into_any()
            })
        }
    };
    outcome.into_any()
}

fn credentials_view() -> impl IntoView {
    let hydrated = use_hydrated();
    let create = ServerAction::<CreateCredential>::new();
    let replace = ServerAction::<ReplaceCredential>::new();
    let delete = ServerAction::<DeleteCredential>::new();
    let list = Resource::new(
        move || (create.version().get(), replace.version().get(), delete.version().get()),
        |_| list_credentials(),
    );
    let name = RwSignal::new(String::new());
    let form = ValueForm::new("bearer");
    let shared = RwSignal::new(false);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        create.dispatch(CreateCredential {
            name: name.get_untracked(),
            kind: form.kind.get_untracked(),
            field: form.field.get_untracked(),
            value: form.value.get_untracked(),
            shared: shared.get_untracked(),
            grant: form.grant.get_untracked(),
            token_url: form.token_url.get_untracked(),
            authorize_url: form.authorize_url.get_untracked(),
            scope: form.scope.get_untracked(),
            api: form.api.get_untracked(),
            model: form.model.get_untracked(),
        });
    };
    // The value leaves the page once sent: it is never shown again.
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            name.set(String::new());
            form.clear();
        }
    });
    let problem = move || {
        [
            create.value().get().and_then(Result::err),
            replace.value().get().and_then(Result::err),
            delete.value().get().and_then(Result::err),
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|error| view! { <p class="error" role="alert" data-testid="credential-error">{error.to_string()}</p> })
    };
    view! {
        <main class="page" data-testid="credentials-page" data-hydrated=move || hydrated.get().to_string()>
            <leptos_meta::Title text="Credentials · Weft"/>
            <h1>"Credentials"</h1>
            {connection_outcome()}
            <p class="muted">
                "Secrets your workflows use by name: an " <code>"http"</code> " node with "
                <code>"\"credential\": \"github\""</code>
                " sends it with the request; an " <code>"llm"</code> " node with "
                <code>"\"provider\": \"claude\""</code> " asks that LLM provider. A value is stored encrypted and never shown again: not here, not in runs, \
                 exports or templates (an upstream that echoes it is recorded as " <code>"********"</code> ")."
            </p>
            <section class="card">
                <h2>"New credential"</h2>
                <form class="inline-form" on:submit=submit data-testid="credential-form">
                    <input type="text" placeholder="Name, e.g. github" aria-label="Name" required maxlength="64"
                        pattern="[A-Za-z0-9_.\\-]+" title="letters, digits, _ - and ."
                        data-testid="credential-name" prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))/>
                    <ValueFields form testid="credential"/>
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            list.await.ok().filter(|l| l.can_share).map(|_| view! {
                                <label class="check">
                                    <input type="checkbox" data-testid="credential-shared" prop:checked=move || shared.get()
                                        on:change=move |ev| shared.set(event_target_checked(&ev))/>
                                    "shared with every user"
                                </label>
                            })
                        })}
                    </Transition>
                    <button type="submit" data-testid="create-credential" disabled=move || create.pending().get()>"Save credential"</button>
                </form>
                {problem}
            </section>
            <section class="card">
                <h2>"Your credentials"</h2>
                <Transition fallback=|| view! { <p class="muted">"Loading credentials…"</p> }>
                    {move || Suspend::new(async move {
                        match list.await {
                            Ok(list) => view! { <CredentialTable credentials=list.credentials can_share=list.can_share replace delete/> }.into_any(),
                            Err(error) => view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any(),
                        }
                    })}
                </Transition>
            </section>
        </main>
    }
}

#[component]
fn CredentialTable(
    credentials: Vec<Credential>,
    can_share: bool,
    replace: ServerAction<ReplaceCredential>,
    delete: ServerAction<DeleteCredential>,
) -> impl IntoView {
    if credentials.is_empty() {
        return view! { <p class="muted" data-testid="no-credentials">"No credentials yet."</p> }.into_any();
    }
    // The credential whose value is being replaced, by name.
    let replacing = RwSignal::new(None::<String>);
    view! {
        <table class="table" data-testid="credential-table">
            <thead><tr><th>"Name"</th><th>"Kind"</th><th>"Owner"</th><th>"Last used"</th><th>"Used by"</th><th></th></tr></thead>
            <tbody>
                {credentials.into_iter().map(|credential| {
                    let Credential { name, kind, shared, created_by, last_used_at, connected_at, used_by, .. } = credential;
                    // Connect: a full page load (the provider's sign-in, then back here).
                    let connect = (kind == "oauth2" && manageable_by(shared, can_share)).then(|| {
                        let href = format!("/oauth/connect/{}{}", encode_query_value(&name), if shared { "?shared=true" } else { "" });
                        let label = if connected_at.is_some() { "Reconnect" } else { "Connect" };
                        view! { <a class="button small" rel="external" href=href data-testid="connect-credential">{label}</a> " " }
                    });
                    let connection = (kind == "oauth2").then(|| match connected_at {
                        Some(at) => view! { <span class="muted" data-testid="credential-connected">{format!(" · connected {}", format_time(at))}</span> }.into_any(),
                        None => view! { <span class="muted" data-testid="credential-not-connected">" · not connected"</span> }.into_any(),
                    });
                    let manageable = manageable_by(shared, can_share);
                    let row_name = name.clone();
                    let confirm_and_delete = {
                        let name = name.clone();
                        move |_| {
                            let sure = web_sys::window()
                                .and_then(|w| w.confirm_with_message(&format!("Delete credential {name}?")).ok())
                                .unwrap_or(false);
                            if sure {
                                delete.dispatch(DeleteCredential { name: name.clone(), shared });
                            }
                        }
                    };
                    let start_replacing = {
                        let name = name.clone();
                        move |_| replacing.set(Some(name.clone()))
                    };
                    let is_replacing = {
                        let name = name.clone();
                        move || replacing.get().as_deref() == Some(name.as_str())
                    };
                    let count = used_by.len();
                    view! {
                        <tr data-testid="credential-row" data-name=name.clone()>
                            <td><code>{name.clone()}</code></td>
                            <td>{describe_kind(&kind)}{connection}</td>
                            <td>{if shared { "shared".to_string() } else { created_by.unwrap_or_else(|| "you".into()) }}</td>
                            <td>{last_used_at.map(format_time).unwrap_or_else(|| "never".into())}</td>
                            <td data-testid="credential-used-by">
                                {if count == 0 { "no workflow".to_string() } else if count == 1 { "1 workflow: ".to_string() } else { format!("{count} workflows: ") }}
                                {used_by.into_iter().map(|w| view! { <a href=format!("/workflows/{}", w.id)>{w.name}</a>" " }).collect_view()}
                            </td>
                            <td>{connect}{manageable.then(|| view! {
                                <button class="link" data-testid="replace-credential" on:click=start_replacing>"Replace value"</button>
                                " "
                                <button class="link danger" data-testid="delete-credential" on:click=confirm_and_delete>"Delete"</button>
                            })}</td>
                        </tr>
                        {move || is_replacing().then(|| view! { <ReplaceRow name=row_name.clone() kind=kind.clone() shared replace replacing/> })}
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

/// Whether the viewer may change a credential: their own, or (admins) a shared one.
fn manageable_by(shared: bool, can_share: bool) -> bool {
    !shared || can_share
}

/// The form that replaces one credential's value under the same name.
#[component]
fn ReplaceRow(
    name: String,
    kind: String,
    shared: bool,
    replace: ServerAction<ReplaceCredential>,
    replacing: RwSignal<Option<String>>,
) -> impl IntoView {
    let form = ValueForm::new(&kind);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        replace.dispatch(ReplaceCredential {
            name: name.clone(),
            kind: form.kind.get_untracked(),
            field: form.field.get_untracked(),
            value: form.value.get_untracked(),
            shared,
            grant: form.grant.get_untracked(),
            token_url: form.token_url.get_untracked(),
            authorize_url: form.authorize_url.get_untracked(),
            scope: form.scope.get_untracked(),
            api: form.api.get_untracked(),
            model: form.model.get_untracked(),
        });
        replacing.set(None);
    };
    view! {
        <tr><td colspan="6">
            <form class="inline-form" on:submit=submit data-testid="replace-form">
                <ValueFields form testid="replace"/>
                <button type="submit" data-testid="save-replacement">"Replace"</button>
                <button type="button" class="link" on:click=move |_| replacing.set(None)>"Cancel"</button>
            </form>
        </td></tr>
    }
}
