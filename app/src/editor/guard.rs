//! Asking before unsaved changes are thrown away: the browser's own prompt
//! when the tab is closed or reloaded, and a confirmation on links that leave
//! the editor inside the app (the router would otherwise swap the page
//! without the browser ever unloading it).

use std::cell::RefCell;

use leptos::prelude::*;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

const LEAVE_QUESTION: &str = "Leave the editor? Your unsaved changes will be lost.";

/// A click listener on the window.
type ClickListener = Closure<dyn Fn(web_sys::MouseEvent)>;

thread_local! {
    /// The capture-phase click listener of the editor on screen (one at a time).
    static LINK_GUARD: RefCell<Option<ClickListener>> = const { RefCell::new(None) };
}

/// While the editor is mounted and `dirty` is true, leaving asks first.
pub fn warn_before_leaving(dirty: Signal<bool>) {
    Effect::new(move |_| {
        let unload = window_event_listener(leptos::ev::beforeunload, move |ev| {
            if dirty.try_get_untracked().unwrap_or(false) {
                // Both are needed: browsers differ in which one they honour.
                ev.prevent_default();
                ev.set_return_value(LEAVE_QUESTION);
            }
        });
        install_link_guard(dirty);
        on_cleanup(move || {
            unload.remove();
            remove_link_guard();
        });
    });
}

/// Listens to clicks before the router does (capture phase on the window): a
/// click on an in-app link while there are unsaved changes asks first, and
/// cancelling prevents the default, which the router respects.
fn install_link_guard(dirty: Signal<bool>) {
    remove_link_guard();
    let Some(window) = web_sys::window() else { return };
    let guard = Closure::<dyn Fn(web_sys::MouseEvent)>::new(move |ev: web_sys::MouseEvent| {
        let dirty = dirty.try_get_untracked().unwrap_or(false);
        if dirty && leaves_inside_the_app(&ev) && !confirmed(LEAVE_QUESTION) {
            ev.prevent_default();
            ev.stop_propagation();
        }
    });
    let added = window.add_event_listener_with_callback_and_bool("click", guard.as_ref().unchecked_ref(), true);
    if added.is_ok() {
        LINK_GUARD.with(|slot| *slot.borrow_mut() = Some(guard));
    }
}

fn remove_link_guard() {
    let Some(guard) = LINK_GUARD.with(|slot| slot.borrow_mut().take()) else { return };
    if let Some(window) = web_sys::window() {
        let _ = window.remove_event_listener_with_callback_and_bool("click", guard.as_ref().unchecked_ref(), true);
    }
}

/// Whether the click follows a link the router would handle (a plain click on
/// a same-site link that is no download and opens no other tab). Other links
/// unload the page, and the browser's own prompt covers them.
fn leaves_inside_the_app(ev: &web_sys::MouseEvent) -> bool {
    if ev.default_prevented() || ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
        return false;
    }
    let link = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|el| el.closest("a[href]").ok().flatten());
    let Some(link) = link else { return false };
    let href = link.get_attribute("href").unwrap_or_default();
    let same_site = href.starts_with('/') && !href.starts_with("//");
    same_site && !link.has_attribute("download") && link.get_attribute("target").is_none_or(|t| t.is_empty())
}

fn confirmed(question: &str) -> bool {
    web_sys::window().and_then(|w| w.confirm_with_message(question).ok()).unwrap_or(false)
}
