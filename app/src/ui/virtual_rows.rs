//! Virtualized lists (the workflows, the history): every loaded row is kept as
//! data, but only the rows in view (and a few beyond) are in the DOM, however
//! many are loaded. Rows have one fixed height, so which are in view follows
//! from the scroll position alone, with no measuring. The next page is fetched
//! by its key (the cursor of the last row) as the view nears the loaded end.

use std::future::Future;

use leptos::prelude::*;

use crate::error::AppError;
use crate::model::Page;

/// Rows rendered beyond each edge of the viewport, so a fast scroll shows no gap.
const OVERSCAN: usize = 6;
/// The viewport's height until the browser reports it (CSS `.list-viewport`).
const DEFAULT_VIEWPORT: f64 = 560.0;
/// Load the next page when the rows in view come this close to the loaded end.
const PREFETCH_ROWS: usize = 100;

/// Which rows to render, `first..last`: those in view plus the overscan,
/// clamped to what is loaded.
fn rows_in_view(row_height: f64, scroll_top: f64, viewport: f64, loaded: usize) -> (usize, usize) {
    let first = (scroll_top.max(0.0) / row_height) as usize;
    let last = ((scroll_top.max(0.0) + viewport) / row_height).ceil() as usize;
    (first.saturating_sub(OVERSCAN).min(loaded), (last + OVERSCAN).min(loaded))
}

/// The state of one virtualized list; `Copy`, so handlers and views each take it.
pub struct VirtualRows<T: Send + Sync + 'static> {
    loaded: RwSignal<Vec<T>>,
    next: RwSignal<Option<String>>,
    fetching: RwSignal<bool>,
    fetch_error: RwSignal<Option<String>>,
    scroll_top: RwSignal<f64>,
    viewport: RwSignal<f64>,
    /// Memoized: scrolling within one row's height changes nothing downstream.
    window: Memo<(usize, usize)>,
    row_height: f64,
}

impl<T: Send + Sync + 'static> Clone for VirtualRows<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for VirtualRows<T> {}

impl<T: Clone + Send + Sync + 'static> VirtualRows<T> {
    /// Starts from the first page; `fetch(after)` gives the page after a cursor.
    pub fn new<F, Fut>(first: Page<T>, row_height: f64, fetch: F) -> Self
    where
        F: Fn(String) -> Fut + 'static,
        Fut: Future<Output = Result<Page<T>, AppError>> + 'static,
    {
        let loaded = RwSignal::new(first.items);
        let next = RwSignal::new(first.next);
        let fetching = RwSignal::new(false);
        let fetch_error = RwSignal::new(None::<String>);
        let scroll_top = RwSignal::new(0.0);
        let viewport = RwSignal::new(DEFAULT_VIEWPORT);
        let window =
            Memo::new(move |_| rows_in_view(row_height, scroll_top.get(), viewport.get(), loaded.with(Vec::len)));
        Effect::new(move |_| {
            let (_, last) = window.get();
            let near_end = last + PREFETCH_ROWS >= loaded.with_untracked(Vec::len);
            let Some(after) = next.get().filter(|_| near_end && !fetching.get_untracked()) else { return };
            fetching.set(true);
            let page = fetch(after);
            leptos::task::spawn_local(async move {
                // The list may be gone (a new search or filter); then its
                // signals are too, and the answer is dropped.
                match page.await {
                    Ok(page) => {
                        loaded.try_update(|rows| rows.extend(page.items));
                        next.try_set(page.next);
                    }
                    Err(error) => {
                        fetch_error.try_set(Some(error.to_string()));
                    }
                }
                fetching.try_set(false);
            });
        });
        Self { loaded, next, fetching, fetch_error, scroll_top, viewport, window, row_height }
    }

    /// The viewport's scroll handler.
    pub fn on_scroll(self) -> impl Fn(leptos::ev::Event) + Copy + 'static {
        move |ev: leptos::ev::Event| {
            let element: web_sys::Element = event_target(&ev);
            self.scroll_top.set(f64::from(element.scroll_top()));
            self.viewport.set(f64::from(element.client_height()));
        }
    }

    /// The rows to render, each with its index in the whole list.
    pub fn visible(self) -> Vec<(usize, T)> {
        let (first, last) = self.window.get();
        self.loaded
            .with(|rows| rows[first..last].iter().cloned().enumerate().map(|(i, row)| (first + i, row)).collect())
    }

    pub fn loaded_count(self) -> usize {
        self.loaded.with(Vec::len)
    }

    /// Every row is loaded: there is no next page.
    pub fn complete(self) -> bool {
        self.next.with(Option::is_none)
    }

    /// The height of all loaded rows, in pixels.
    pub fn total_height(self) -> f64 {
        self.loaded_count() as f64 * self.row_height
    }

    /// The heights, in pixels, of the loaded rows above and below the rendered ones
    /// (for a table, whose rows cannot be placed absolutely: spacer rows).
    pub fn gaps(self) -> (f64, f64) {
        let (first, last) = self.window.get();
        (first as f64 * self.row_height, (self.loaded_count() - last) as f64 * self.row_height)
    }

    /// "Loading more…" while a page is on its way, and a failed fetch's message.
    pub fn footer(self) -> impl IntoView {
        view! {
            <p class="muted list-footer">
                {move || if self.fetching.get() { "Loading more…".to_string() } else { String::new() }}
                {move || self.fetch_error.get().map(|e| view! { <span class="error" role="alert">{e}</span> })}
            </p>
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_rows_in_view_and_the_overscan_are_rendered() {
        // At the top: 10 rows fill 560 px, plus the overscan below.
        assert_eq!(rows_in_view(56.0, 0.0, 560.0, 100_000), (0, 10 + OVERSCAN));
        // Deep down, the same number of rows around the scroll position.
        let (first, last) = rows_in_view(56.0, 56.0 * 50_000.0, 560.0, 100_000);
        assert_eq!((first, last), (50_000 - OVERSCAN, 50_010 + OVERSCAN));
        // Never past what is loaded.
        assert_eq!(rows_in_view(56.0, 56.0 * 95.0, 560.0, 100), (95 - OVERSCAN, 100));
        // Another row height, another count in view.
        assert_eq!(rows_in_view(40.0, 0.0, 560.0, 1000), (0, 14 + OVERSCAN));
    }
}
