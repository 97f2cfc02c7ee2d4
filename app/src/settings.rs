//! The settings page: the instance's LLM provider (admins change it), the
//! viewer's API keys, and users for admins.

mod llm;

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

pub use llm::*;

use crate::accounts::{ApiKeysSection, UsersSection, ViewerResource};
use crate::ui::use_hydrated;

/// Settings: the viewer's API keys; users, for admins (lazy-loaded).
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
    view! {
        <main class="page" data-testid="settings-page" data-hydrated=move || hydrated.get().to_string()>
            <h1>"Settings"</h1>
            <LlmSection/>
            <ApiKeysSection/>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let is_admin = viewer.await.ok().and_then(|v| v.user).is_some_and(|u| u.is_admin);
                    is_admin.then(|| view! { <UsersSection/> })
                })}
            </Transition>
        </main>
    }
}
