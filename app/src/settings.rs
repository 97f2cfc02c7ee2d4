//! The settings page: the viewer's account, API keys and variables; for
//! admins, the instance's LLM provider and the users.

mod error_workflow;
mod llm;
mod usage;
mod variables;

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

pub use error_workflow::*;
pub use llm::*;
pub use usage::*;
pub use variables::*;

use crate::accounts::{ApiKeysSection, OwnAccountSection, UsersSection, ViewerResource};
use crate::ui::use_hydrated;

/// Settings: the viewer's API keys; the LLM provider and users, for admins
/// (lazy-loaded).
pub struct SettingsPage;

#[lazy_route]
impl LazyRoute for SettingsPage {
    fn data() -> Self {
        Self
    }

    fn view(_this: Self) -> AnyView {
        settings_view().into_any()
    }
}

fn settings_view() -> impl IntoView {
    let hydrated = use_hydrated();
    let viewer = expect_context::<ViewerResource>().0;
    let is_admin = move || async move { viewer.await.ok().and_then(|v| v.user).is_some_and(|u| u.is_admin) };
    view! {
        <main class="page" data-testid="settings-page" data-hydrated=move || hydrated.get().to_string()>
            <leptos_meta::Title text="Settings · Weft"/>
            <h1>"Settings"</h1>
            <OwnAccountSection/>
            <ApiKeysSection/>
            <VariablesSection/>
            // Admins only (the LLM provider's address names internal hosts).
            // One suspense for both: the resources they make are then made in
            // the same order on the server and in the browser, which hydration
            // needs (two suspenses resumed in either order made it panic now and then).
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    is_admin().await.then(|| view! { <LlmSection/> <UsageSection/> <ErrorWorkflowSection/> <UsersSection/> })
                })}
            </Transition>
        </main>
    }
}
