//! The workflow's triggers in the side panel: webhooks (method, path, whether
//! the caller waits, and what the caller must prove) and schedules (cron and
//! time zone). They edit the definition's `triggers` as JSON, so whatever the
//! form does not show (e.g. `respond_with`) is kept; validation names what is wrong.

use leptos::prelude::*;
use serde_json::{json, Map, Value};

use super::panel::CredentialSelect;
use super::state::EditorState;

const METHODS: [&str; 5] = ["POST", "GET", "PUT", "PATCH", "DELETE"];

/// What a webhook may ask of its callers, as `auth.type` writes it ("" is none).
const AUTH_KINDS: [(&str, &str); 4] = [
    ("", "anyone with the URL"),
    ("credential", "a credential (token, basic auth, header or query)"),
    ("hmac", "an HMAC-SHA256 signature (GitHub, Slack…)"),
    ("stripe", "a Stripe signature"),
];

/// The text at `key` of trigger `index`'s object `within` (the trigger itself, or its `auth`).
fn text_of(trigger: &Value, within: Option<&str>, key: &str) -> String {
    let object = match within {
        Some(inner) => trigger.get(inner),
        None => Some(trigger),
    };
    object.and_then(|o| o.get(key)).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Sets (or, for an empty optional field, removes) `key` in trigger `index`.
fn set_text(
    state: EditorState,
    index: usize,
    within: Option<&'static str>,
    key: &'static str,
    text: String,
    optional: bool,
) {
    state.triggers.update(|triggers| {
        let Some(trigger) = triggers.get_mut(index) else { return };
        let object = match within {
            Some(inner) => trigger.get_mut(inner),
            None => Some(trigger),
        };
        if let Some(Value::Object(map)) = object {
            if optional && text.trim().is_empty() {
                map.remove(key);
            } else {
                map.insert(key.to_string(), Value::String(text));
            }
        }
    });
}

/// A new `auth` of `kind`, keeping the credential already chosen.
fn auth_of(kind: &str, credential: String) -> Option<Value> {
    let mut auth = Map::new();
    auth.insert("type".into(), json!(kind));
    auth.insert("credential".into(), json!(credential));
    match kind {
        "credential" | "stripe" => {}
        "hmac" => {
            auth.insert("header".into(), json!("X-Hub-Signature-256"));
            auth.insert("prefix".into(), json!("sha256="));
        }
        _ => return None,
    }
    Some(Value::Object(auth))
}

#[component]
pub fn TriggersForm(state: EditorState) -> impl IntoView {
    let count = Memo::new(move |_| state.triggers.with(Vec::len));
    let add = move |trigger: Value| {
        state.checkpoint();
        state.triggers.update(|triggers| triggers.push(trigger));
    };
    view! {
        <section class="triggers-form" data-testid="triggers-form">
            <h3>"Triggers"</h3>
            {move || (count.get() == 0).then(|| view! {
                <p class="muted">"Started by hand, the API or the CLI only."</p>
            })}
            {move || (0..count.get()).map(|index| {
                let kind = state.triggers.with_untracked(|t| text_of(&t[index], None, "type"));
                match kind.as_str() {
                    "cron" => view! { <ScheduleForm state index/> }.into_any(),
                    _ => view! { <WebhookForm state index/> }.into_any(),
                }
            }).collect_view()}
            <div class="row">
                <button type="button" class="link" data-testid="add-webhook"
                    on:click=move |_| add(json!({"type": "webhook", "path": "", "method": "POST", "mode": "sync"}))>
                    "+ Webhook"
                </button>
                " "
                <button type="button" class="link" data-testid="add-schedule"
                    on:click=move |_| add(json!({"type": "cron", "schedule": "0 9 * * *", "timezone": "UTC"}))>
                    "+ Schedule"
                </button>
            </div>
        </section>
    }
}

/// A labelled text input for one field of trigger `index`.
fn trigger_text(
    state: EditorState,
    index: usize,
    within: Option<&'static str>,
    key: &'static str,
    label: &'static str,
    optional: bool,
) -> impl IntoView {
    let value = move || state.triggers.with(|t| t.get(index).map(|t| text_of(t, within, key)).unwrap_or_default());
    let testid = format!("trigger-{index}-{}{key}", within.map(|w| format!("{w}-")).unwrap_or_default());
    view! {
        <label>{label}
            <input type="text" data-testid=testid prop:value=value on:focus=move |_| state.checkpoint()
                on:input=move |ev| set_text(state, index, within, key, event_target_value(&ev), optional)/>
        </label>
    }
}

fn remove_button(state: EditorState, index: usize) -> impl IntoView {
    let remove = move |_| {
        state.checkpoint();
        state.triggers.update(|triggers| {
            if index < triggers.len() {
                triggers.remove(index);
            }
        });
    };
    view! { <button type="button" class="link danger" data-testid=format!("trigger-{index}-remove") on:click=remove>"Remove"</button> }
}

#[component]
fn WebhookForm(state: EditorState, index: usize) -> impl IntoView {
    let read = move |within: Option<&'static str>, key: &'static str| {
        state.triggers.with(|t| t.get(index).map(|t| text_of(t, within, key)).unwrap_or_default())
    };
    let auth_kind = Memo::new(move |_| read(Some("auth"), "type"));
    let set_auth = move |kind: String| {
        state.checkpoint();
        state.triggers.update(|triggers| {
            let Some(Value::Object(trigger)) = triggers.get_mut(index) else { return };
            let credential = trigger.get("auth").map(|a| text_of(a, None, "credential")).unwrap_or_default();
            match auth_of(&kind, credential) {
                Some(auth) => trigger.insert("auth".into(), auth),
                None => trigger.remove("auth"),
            };
        });
    };
    let select = move |key: &'static str, options: &'static [&'static str]| {
        view! {
            <select data-testid=format!("trigger-{index}-{key}") on:focus=move |_| state.checkpoint()
                on:change=move |ev| set_text(state, index, None, key, event_target_value(&ev), false)>
                {options.iter().map(|o| view! { <option value=*o prop:selected=move || read(None, key) == *o>{*o}</option> }).collect_view()}
            </select>
        }
    };
    let credential = Signal::derive(move || read(Some("auth"), "credential"));
    let set_credential =
        Callback::new(move |name: String| set_text(state, index, Some("auth"), "credential", name, false));
    view! {
        <fieldset class="trigger form" data-testid="trigger-webhook">
            <legend>"Webhook " {remove_button(state, index)}</legend>
            <label>"Method" {select("method", &METHODS)}</label>
            {trigger_text(state, index, None, "path", "Path (the URL's end, after its random id)", false)}
            <label>"The caller"
                {select("mode", &["sync", "async"])}
            </label>
            <p class="muted hint">"sync: waits and gets the output · async: gets the execution id at once"</p>
            <label>"Who may call"
                <select data-testid=format!("trigger-{index}-auth") on:focus=move |_| state.checkpoint()
                    on:change=move |ev| set_auth(event_target_value(&ev))>
                    {AUTH_KINDS.iter().map(|(kind, shown)| view! {
                        <option value=*kind prop:selected=move || auth_kind.get() == *kind>{*shown}</option>
                    }).collect_view()}
                </select>
            </label>
            {move || (!auth_kind.get().is_empty()).then(|| view! {
                <label>"Credential (its secret checks the caller)"
                    <CredentialSelect value=credential set=set_credential state testid=format!("trigger-{index}-credential")/>
                </label>
            })}
            {move || (auth_kind.get() == "hmac").then(|| view! {
                {trigger_text(state, index, Some("auth"), "header", "Signature header", false)}
                {trigger_text(state, index, Some("auth"), "prefix", "Signature prefix (e.g. sha256=)", true)}
                {trigger_text(state, index, Some("auth"), "timestamp_header", "Timestamp header (optional, refuses replays)", true)}
                {trigger_text(state, index, Some("auth"), "signed_payload", "Signed payload (optional, e.g. v0:{timestamp}:{body})", true)}
            })}
        </fieldset>
    }
}

#[component]
fn ScheduleForm(state: EditorState, index: usize) -> impl IntoView {
    view! {
        <fieldset class="trigger form" data-testid="trigger-cron">
            <legend>"Schedule " {remove_button(state, index)}</legend>
            {trigger_text(state, index, None, "schedule", "Cron expression (minute hour day month weekday)", false)}
            {trigger_text(state, index, None, "timezone", "Time zone (e.g. Europe/Paris)", false)}
        </fieldset>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn switching_auth_keeps_the_credential_and_brings_the_kinds_defaults() {
        let hmac = auth_of("hmac", "gh".into()).unwrap();
        assert_eq!(
            hmac,
            json!({"type": "hmac", "credential": "gh", "header": "X-Hub-Signature-256", "prefix": "sha256="})
        );
        assert_eq!(auth_of("stripe", "gh".into()).unwrap(), json!({"type": "stripe", "credential": "gh"}));
        assert_eq!(auth_of("", "gh".into()), None);
        let trigger = json!({"type": "webhook", "auth": {"type": "hmac", "header": "X-Sig"}});
        assert_eq!(text_of(&trigger, Some("auth"), "header"), "X-Sig");
        assert_eq!(text_of(&trigger, None, "path"), "");
    }
}
