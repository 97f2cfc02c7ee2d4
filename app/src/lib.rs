//! Weft's shared crate: the workflow model (compiled for the browser and the
//! server), the server-side ports, the server functions and the pages.

// Deeply nested views (the run page) have deep types.
#![recursion_limit = "256"]

pub mod accounts;
pub mod credentials;
pub mod editor;
pub mod error;
pub mod graph;
pub mod history;
pub mod marketplace;
pub mod model;
#[cfg(feature = "ssr")]
pub mod ports;
pub mod runs;
#[cfg(feature = "ssr")]
pub mod server_context;
#[cfg(feature = "ssr")]
pub mod services;
pub mod settings;
pub mod ui;
pub mod usage;
pub mod workflows;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes, A};
use leptos_router::{Lazy, ParamSegment, StaticSegment};

/// Where the browser bundle is served from: `/assets/<build>`, a hash of its
/// files, so browsers may keep it for good (see the server's `assets.rs`).
/// Provided by the server to every page; without it, the bundle's plain `/pkg`.
#[derive(Debug, Clone, Default)]
pub struct AssetRoot(pub String);

/// The HTML document around every server-rendered page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let root = use_context::<AssetRoot>().unwrap_or_default().0;
    let stylesheet = format!("{root}/{}/{}.css", options.site_pkg_dir, options.output_name);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options root/>
                <link rel="stylesheet" id="leptos" href=stylesheet/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    accounts::provide_viewer();
    workflows::WorkflowCache::provide();
    // Who may open which page is decided by the server before it renders one
    // (signed out: to /login; no admin yet: to /setup); see src/server/access.rs.
    view! {
        <Title text="Weft"/>
        <Router>
            <header class="topbar">
                <A href="/" attr:class="brand">"Weft"</A>
                <accounts::UserMenu/>
            </header>
            <Routes fallback=|| view! { <main class="page"><h1>"Page not found"</h1></main> }>
                // Every page is a lazy route: its code is a separate .wasm chunk
                // (built with `cargo leptos build --split`), loaded when first shown.
                <Route path=StaticSegment("") view={Lazy::<workflows::WorkflowsPage>::new()}/>
                <Route path=(StaticSegment("workflows"), ParamSegment("id")) view={Lazy::<workflows::WorkflowPage>::new()}/>
                <Route path=(StaticSegment("workflows"), ParamSegment("id"), StaticSegment("edit")) view={Lazy::<editor::EditorPage>::new()}/>
                <Route path=(StaticSegment("executions"), ParamSegment("id")) view={Lazy::<runs::RunPage>::new()}/>
                <Route path=StaticSegment("history") view={Lazy::<history::HistoryPage>::new()}/>
                <Route path=StaticSegment("marketplace") view={Lazy::<marketplace::MarketplacePage>::new()}/>
                <Route path=StaticSegment("credentials") view={Lazy::<credentials::CredentialsPage>::new()}/>
                <Route path=StaticSegment("settings") view={Lazy::<settings::SettingsPage>::new()}/>
                <Route path=StaticSegment("login") view={Lazy::<accounts::SignInPage>::new()}/>
                <Route path=StaticSegment("setup") view={Lazy::<accounts::SetupPage>::new()}/>
            </Routes>
        </Router>
    }
}
