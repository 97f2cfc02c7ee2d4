//! The WASM entry point. The server renders every page; this only attaches
//! reactivity to that HTML (hydration), so the first paint never waits for WASM.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes: the current page's chunk is loaded before hydrating it.
    leptos::mount::hydrate_lazy(app::App);
}
