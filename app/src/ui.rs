//! Small pieces every page uses.

use leptos::prelude::*;

pub mod virtual_rows;

/// False while the page is static server HTML, true once hydrated: effects run
/// only in the browser. Pages expose it as `data-hydrated`, so tests (and
/// people debugging) can tell a live page from static HTML.
pub fn use_hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| {
        set_hydrated.set(true);
        // The page is interactive from here: a mark the browser tests read (time to interactive).
        if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
            let _ = performance.mark("weft-interactive");
        }
    });
    hydrated
}

/// A full page load of `path`: after signing in or out, everything on the page
/// (and every cached answer) belongs to someone else.
pub fn reload_at(path: &str) {
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href(path);
    }
}

/// Percent-encodes a value for a URL's query (RFC 3986: unreserved characters,
/// `/` and `:` stay as they are).
pub fn encode_query_value(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' | b':' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Formats a millisecond timestamp as `YYYY-MM-DD HH:MM` (UTC).
/// Now, in milliseconds since the epoch, in the browser as on the server
/// (the standard library's clock panics in WebAssembly).
pub fn now_ms() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        web_sys::window().and_then(|w| w.performance()).map(|p| (p.time_origin() + p.now()) as i64).unwrap_or(0)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        crate::model::now_ms()
    }
}

pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (hour, minute) = (secs.rem_euclid(86_400) / 3600, secs.rem_euclid(3600) / 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

/// Parses `YYYY-MM-DDTHH:MM` (or with a space, or with `:SS`) as UTC into ms.
pub fn parse_time(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once(['T', ' '])?;
    let mut date_parts = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date_parts.next()?.ok()?, date_parts.next()?.ok()?, date_parts.next()?.ok()?);
    let mut time_parts = time.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute) = (time_parts.next()?.ok()?, time_parts.next()?.ok()?);
    let second = time_parts.next().map(|s| s.ok()).unwrap_or(Some(0))?;
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24 && minute < 60 && second < 60;
    if !valid || hour < 0 || minute < 0 || second < 0 {
        return None;
    }
    // Days since 1970-01-01 from a civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parsing_reverses_formatting() {
        for ms in [0, 951_782_400_000, 1_795_000_020_000] {
            let text = super::format_time(ms).replace(' ', "T");
            assert_eq!(super::parse_time(&text), Some(ms - ms % 60_000), "{text}");
        }
        assert_eq!(
            super::parse_time("2026-11-27T10:30:15"),
            Some(super::parse_time("2026-11-27T10:30").unwrap() + 15_000)
        );
        assert_eq!(super::parse_time("2026-13-01T00:00"), None);
        assert_eq!(super::parse_time("yesterday"), None);
    }

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00");
        assert_eq!(super::format_time(1_795_000_000_000), "2026-11-18 11:06");
        assert_eq!(super::format_time(951_782_400_000), "2000-02-29 00:00");
    }
}

/// A button that copies `text` to the clipboard and says whether it did (a
/// browser may refuse: then the text is to be selected and copied by hand).
#[component]
pub fn CopyButton(text: String) -> impl IntoView {
    let copied = RwSignal::new(None::<bool>);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = text.clone();
            leptos::task::spawn_local(async move {
                let clipboard = window().navigator().clipboard();
                let done = wasm_bindgen_futures::JsFuture::from(clipboard.write_text(&text)).await;
                copied.set(Some(done.is_ok()));
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = &text;
    };
    let label = move || match copied.get() {
        None => "Copy",
        Some(true) => "Copied",
        Some(false) => "Copying was refused: select the key and copy it",
    };
    view! { <button type="button" class="chip" data-testid="copy-button" on:click=copy>{label}</button> }
}
