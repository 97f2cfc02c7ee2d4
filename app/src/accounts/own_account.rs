//! The viewer's own account on the settings page: a new password, and
//! signing out every session at once.

use leptos::prelude::*;

use super::api::{ChangePassword, SignOutEverywhere};
use crate::model::MIN_PASSWORD_CHARS;
use crate::ui::reload_at;

#[component]
pub fn OwnAccountSection() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let everywhere = ServerAction::<SignOutEverywhere>::new();
    let (current, set_current) = signal(String::new());
    let (new, set_new) = signal(String::new());
    let short_by = move || MIN_PASSWORD_CHARS.saturating_sub(new.with(|p| p.chars().count()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        change.dispatch(ChangePassword { current: current.get_untracked(), new: new.get_untracked() });
    };
    Effect::new(move |_| {
        if let Some(Ok(())) = change.value().get() {
            set_current.set(String::new());
            set_new.set(String::new());
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = everywhere.value().get() {
            reload_at("/login");
        }
    });
    let sign_out_everywhere = move |_| {
        let sure = web_sys::window()
            .and_then(|w| w.confirm_with_message("Sign out on every device, this one included?").ok())
            .unwrap_or(false);
        if sure {
            everywhere.dispatch(SignOutEverywhere {});
        }
    };
    view! {
        <section class="card" data-testid="own-account">
            <h2>"Your account"</h2>
            <form class="inline-form" on:submit=submit>
                <label>"Current password"
                    <input type="password" autocomplete="current-password" required data-testid="current-password"
                        prop:value=current on:input=move |ev| set_current.set(event_target_value(&ev))/>
                </label>
                <label>"New password"
                    <input type="password" autocomplete="new-password" required data-testid="new-password"
                        prop:value=new on:input=move |ev| set_new.set(event_target_value(&ev))/>
                </label>
                {move || (short_by() > 0 && !new.with(String::is_empty)).then(|| view! {
                    <p class="muted">{format!("{} more characters needed", short_by())}</p>
                })}
                <button type="submit" data-testid="change-password"
                    disabled=move || { change.pending().get() || short_by() > 0 }>"Change password"</button>
            </form>
            {move || match change.value().get() {
                Some(Ok(())) => Some(view! {
                    <p class="muted" role="status" data-testid="password-changed">
                        "Password changed. Your other sessions are signed out."
                    </p>
                }.into_any()),
                Some(Err(error)) => Some(view! { <p class="error" role="alert">{error.to_string()}</p> }.into_any()),
                None => None,
            }}
            <p class="muted">"Left yourself signed in somewhere? End every session of yours, this one too."</p>
            <button class="link danger" data-testid="sign-out-everywhere" on:click=sign_out_everywhere
                disabled=move || everywhere.pending().get()>"Sign out everywhere"</button>
            {move || everywhere.value().get().and_then(Result::err).map(|error| view! {
                <p class="error" role="alert">{error.to_string()}</p>
            })}
        </section>
    }
}
