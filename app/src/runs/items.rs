//! The items of a node with `for_each` in the run view: how far it is while
//! it runs (from the run's `items` events), then each item's result, and for
//! an `llm` node the tokens its items used together.

use std::collections::HashMap;

use leptos::prelude::*;
use serde_json::Value;

use super::page::LiveRun;

/// How far a node's items are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemCounts {
    pub done: usize,
    pub failed: usize,
    pub total: usize,
}

impl std::fmt::Display for ItemCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.done, self.total)?;
        if self.failed > 0 {
            write!(f, " · {} failed", self.failed)?;
        }
        Ok(())
    }
}

/// The most items listed one by one; the output below holds them all.
const LISTED: usize = 100;

/// One item's line: its index, whether it failed, and the start of its result.
#[derive(Debug, Clone, PartialEq)]
struct ItemLine {
    index: usize,
    failed: bool,
    preview: String,
}

/// The error of an item that failed under `on_error: continue` (its slot is `{"error": …}`).
fn item_error(item: &Value) -> Option<&str> {
    item.as_object().filter(|o| o.len() == 1).and_then(|o| o.get("error")?.as_str())
}

fn item_lines(items: &[Value]) -> Vec<ItemLine> {
    items
        .iter()
        .take(LISTED)
        .enumerate()
        .map(|(index, item)| {
            let error = item_error(item);
            let text = match error {
                Some(error) => error.to_string(),
                None => match item.get("text").and_then(Value::as_str) {
                    Some(text) => text.to_string(),
                    None => item.to_string(),
                },
            };
            let mut preview: String = text.chars().take(160).collect();
            if preview.len() < text.len() {
                preview.push('…');
            }
            ItemLine { index, failed: error.is_some(), preview }
        })
        .collect()
}

/// The tokens an `llm` node's items used, summed. An answer from the cache
/// (or shared with an identical item asked at the same time) cost nothing.
fn summed_usage(items: &[Value]) -> HashMap<&'static str, u64> {
    let asked: Vec<&Value> = items.iter().filter(|item| item.get("cached") != Some(&Value::Bool(true))).collect();
    let mut sums = HashMap::new();
    for field in ["prompt_tokens", "completion_tokens", "total_tokens"] {
        let sum: u64 = asked.iter().filter_map(|item| item.get("usage")?.get(field)?.as_u64()).sum();
        sums.insert(field, sum);
    }
    sums
}

#[component]
pub fn ItemResults(node: String, output: Option<Value>, kind: String, live: LiveRun) -> impl IntoView {
    let Some(Value::Array(items)) = output else {
        // Still running (or it failed before it had its list).
        let progress = move || live.items.with(|items| items.get(&node).copied());
        return view! {
            <p class="muted" data-testid="node-item-progress">
                {move || match progress() {
                    Some(counts) => format!("{counts} items ended"),
                    None => "runs once per item".to_string(),
                }}
            </p>
        }
        .into_any();
    };
    let failed = items.iter().filter(|item| item_error(item).is_some()).count();
    let mut summary = format!("{} items", items.len());
    if failed > 0 {
        summary.push_str(&format!(" · {failed} failed"));
    }
    if kind == "llm" {
        let usage = summed_usage(&items);
        summary.push_str(&format!(
            " · {} tokens ({} prompt, {} completion)",
            usage["total_tokens"], usage["prompt_tokens"], usage["completion_tokens"]
        ));
    }
    let more = items.len().saturating_sub(LISTED);
    view! {
        <h3>"Items"</h3>
        <p class="muted" data-testid="node-item-summary">{summary}</p>
        <ol class="item-results" start="0" data-testid="item-results">
            {item_lines(&items).into_iter().map(|line| view! {
                <li class:failed=line.failed data-testid="item-result" data-failed=line.failed.to_string()>
                    <span class="muted">{format!("#{} ", line.index)}</span>{line.preview}
                </li>
            }).collect_view()}
        </ol>
        {(more > 0).then(|| view! { <p class="muted">{format!("and {more} more: see the output below")}</p> })}
    }
    .into_any()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn items_show_their_text_or_their_error() {
        let items = [json!({"text": "Bonjour"}), json!({"error": "timed out after 50 ms"}), json!(3)];
        let lines = item_lines(&items);
        assert_eq!(lines[0], ItemLine { index: 0, failed: false, preview: "Bonjour".into() });
        assert_eq!(lines[1], ItemLine { index: 1, failed: true, preview: "timed out after 50 ms".into() });
        assert_eq!(lines[2].preview, "3");
    }

    #[test]
    fn llm_usage_is_summed_over_the_items_that_were_asked() {
        let items = [
            json!({"text": "a", "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
            json!({"text": "b", "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}}),
            json!({"error": "refused"}),
            json!({"text": "a", "cached": true, "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}),
        ];
        let usage = summed_usage(&items);
        assert_eq!((usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]), (7, 3, 10));
    }

    #[test]
    fn counts_read_like_progress() {
        assert_eq!(ItemCounts { done: 37, failed: 0, total: 100 }.to_string(), "37 / 100");
        assert_eq!(ItemCounts { done: 37, failed: 2, total: 100 }.to_string(), "37 / 100 · 2 failed");
    }
}
