//! Completion of paths and filters in template fields: typing `{{ nodes.`
//! offers the workflow's node ids, `{{ nodes.fetch.` the fields of that
//! node's output in the last run (or of its pinned output), `{{ input.` the
//! run's input fields and the declared ones, after `|` the template filters.
//! A click on a suggestion, or Tab for the first, completes the word.

use std::collections::BTreeSet;

use leptos::prelude::*;
use serde_json::Value;

use super::data::{is_identifier, LastRunResource};
use super::state::EditorState;

/// The names a template starts from (see the engine's template scope).
const ROOTS: &[&str] = &["input", "nodes", "vars", "item", "index", "resume_urls"];

/// The filters the engine's templates have (minijinja's built-ins, `tojson`,
/// `urlencode`), the ones workflows use most first: a bare `|` shows those.
const FILTERS: &[&str] = &[
    "tojson",
    "length",
    "default",
    "join",
    "first",
    "last",
    "lower",
    "upper",
    "trim",
    "urlencode",
    "replace",
    "round",
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "count",
    "dictsort",
    "escape",
    "float",
    "groupby",
    "indent",
    "int",
    "items",
    "lines",
    "list",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "reverse",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "unique",
];

/// The most suggestions shown at once.
const MAX_SUGGESTIONS: usize = 12;

/// What completion reads: the node ids, and a value for each path root it knows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Known {
    pub node_ids: Vec<String>,
    /// Each node's output (pinned, else the last run's), by id.
    pub outputs: std::collections::BTreeMap<String, Value>,
    /// The last run's input.
    pub input: Value,
    /// The declared input fields' names.
    pub input_fields: Vec<String>,
}

/// Suggestions for the word being typed: it is the last `partial.len()` bytes
/// of the text before the cursor.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestions {
    pub partial: String,
    pub options: Vec<String>,
}

/// What to suggest after `before` (the text up to the cursor) in a field that
/// is a template (`expression`: a bare expression, as a condition's).
pub fn suggest(before: &str, expression: bool, known: &Known) -> Option<Suggestions> {
    if !expression && !inside_tag(before) {
        return None;
    }
    let word_start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
        .last()
        .map_or(before.len(), |(at, _)| at);
    let word = &before[word_start..];
    let ahead = before[..word_start].trim_end();
    let (path, partial) = match word.rsplit_once('.') {
        Some((path, partial)) => (path.split('.').collect::<Vec<_>>(), partial),
        None => (Vec::new(), word),
    };
    let candidates: Vec<String> = if ahead.ends_with('|') && path.is_empty() {
        FILTERS.iter().map(|f| f.to_string()).collect()
    } else if path.is_empty() {
        if word.is_empty() && !ahead.ends_with("{{") && !ahead.ends_with("{%") && !expression {
            return None;
        }
        ROOTS.iter().map(|r| r.to_string()).collect()
    } else {
        fields_at(&path, known)
    };
    let options: Vec<String> =
        candidates.into_iter().filter(|c| c.starts_with(partial) && c != partial).take(MAX_SUGGESTIONS).collect();
    (!options.is_empty()).then(|| Suggestions { partial: partial.to_string(), options })
}

/// Whether the cursor is inside `{{ … }}` or `{% … %}`.
fn inside_tag(before: &str) -> bool {
    let opened = before.rfind("{{").max(before.rfind("{%"));
    let closed = before.rfind("}}").max(before.rfind("%}"));
    match (opened, closed) {
        (Some(open), Some(close)) => open > close,
        (Some(_), None) => true,
        _ => false,
    }
}

/// The names one step below `path` (`["nodes", "fetch", "body"]`).
fn fields_at(path: &[&str], known: &Known) -> Vec<String> {
    let (value, rest, mut extra): (Option<&Value>, &[&str], BTreeSet<String>) = match path {
        ["nodes"] => return known.node_ids.clone(),
        ["nodes", id, rest @ ..] => (known.outputs.get(*id), rest, BTreeSet::new()),
        ["input", rest @ ..] => {
            let declared = if rest.is_empty() { known.input_fields.iter().cloned().collect() } else { BTreeSet::new() };
            (Some(&known.input), rest, declared)
        }
        _ => return Vec::new(),
    };
    let mut value = value;
    for step in rest {
        value = value.and_then(|v| v.get(*step));
    }
    if let Some(Value::Object(fields)) = value {
        extra.extend(fields.keys().filter(|k| is_identifier(k)).cloned());
    }
    extra.into_iter().collect()
}

/// What completion knows in this editor now: the node ids and pins from the
/// editor, the outputs and input from the last run.
fn known_now(state: EditorState, last: Option<LastRunResource>) -> Known {
    let mut known = Known::default();
    if let Some(Ok(Some(run))) = last.and_then(|last| last.0.get()) {
        known.outputs = run.outputs;
        known.input = run.input;
    }
    state.nodes.with_untracked(|nodes| {
        for node in nodes {
            let id = node.id.get_value();
            if let Some(pinned) = node.pinned.get_untracked() {
                known.outputs.insert(id.clone(), pinned);
            }
            known.node_ids.push(id);
        }
    });
    known.input_fields = state.base.with_value(|d| d.input_fields().into_iter().map(|f| f.name).collect());
    known
}

/// The suggestion list under a completed field, for the text before its cursor.
#[component]
pub fn Completions(field: CompletedField, state: EditorState) -> impl IntoView {
    let CompletedField { testid, expression, before } = field;
    let last = use_context::<LastRunResource>();
    let suggestions = Memo::new(move |_| {
        before.with(|before| before.as_deref().and_then(|b| suggest(b, expression, &known_now(state, last))))
    });
    view! {
        {move || suggestions.get().map(|s| {
            let partial = s.partial.clone();
            view! {
                <ul class="autocomplete" data-testid="autocomplete">
                    {s.options.into_iter().map(|option| {
                        let rest = option[partial.len()..].to_string();
                        view! {
                            <li>
                                <button type="button" class="link" data-testid="autocomplete-item" data-value=option.clone()
                                    // Keeps the field's focus and cursor: the click completes where the typing was.
                                    on:mousedown=|ev| ev.prevent_default()
                                    on:click=move |_| {
                                        super::data::insert_at_cursor(testid, &rest);
                                        before.set(None);
                                    }>{option.clone()}</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }
        })}
    }
}

/// A field that completes: its test id, whether it is a bare expression, the
/// text up to its cursor while it is typed in.
#[derive(Clone, Copy)]
pub struct CompletedField {
    pub testid: &'static str,
    pub expression: bool,
    pub before: RwSignal<Option<String>>,
}

/// Tab in a field with suggestions takes the first.
pub fn accept_first(
    ev: &leptos::ev::KeyboardEvent,
    field: CompletedField,
    state: EditorState,
    last: Option<LastRunResource>,
) {
    let CompletedField { testid, expression, before } = field;
    if ev.key() != "Tab" || ev.shift_key() {
        return;
    }
    let first = before.with_untracked(|b| b.as_deref().and_then(|b| suggest(b, expression, &known_now(state, last))));
    if let Some(Suggestions { partial, options }) = first {
        if let Some(option) = options.first() {
            ev.prevent_default();
            super::data::insert_at_cursor(testid, &option[partial.len()..]);
            before.set(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn known() -> Known {
        Known {
            node_ids: vec!["fetch".into(), "format".into(), "greet".into()],
            outputs: [("fetch".to_string(), json!({"status": 200, "body": {"items": [1], "user": {"name": "Ada"}}}))]
                .into(),
            input: json!({"who": "Ada", "content-type": "x"}),
            input_fields: vec!["url".into()],
        }
    }

    fn options(before: &str) -> Vec<String> {
        suggest(before, false, &known()).map(|s| s.options).unwrap_or_default()
    }

    #[test]
    fn node_ids_then_the_fields_of_their_output() {
        assert_eq!(options("Hi {{ nodes."), ["fetch", "format", "greet"]);
        assert_eq!(options("Hi {{ nodes.f"), ["fetch", "format"]);
        assert_eq!(options("{{ nodes.fetch."), ["body", "status"]);
        assert_eq!(options("{{ nodes.fetch.body.u"), ["user"]);
        assert_eq!(options("{{ nodes.fetch.body.user."), ["name"]);
        assert_eq!(suggest("{{ nodes.fetch.body.u", false, &known()).unwrap().partial, "u");
    }

    #[test]
    fn input_fields_come_from_the_run_and_the_declaration() {
        // `content-type` is not a name a path can take after a dot.
        assert_eq!(options("{{ input."), ["url", "who"]);
        assert_eq!(options("{{ in"), ["input", "index"]);
    }

    #[test]
    fn filters_after_a_bar_and_nothing_outside_a_tag() {
        assert!(options("{{ nodes.fetch.body | to").contains(&"tojson".to_string()));
        let bare = options("{{ nodes.fetch | ");
        assert_eq!((bare.len(), bare[0].as_str()), (MAX_SUGGESTIONS, "tojson"));
        assert!(options("Hello nodes.").is_empty(), "plain text is not a template");
        assert!(options("{{ input.who }} nodes.").is_empty());
        assert_eq!(options("{% for row in nodes."), ["fetch", "format", "greet"]);
    }

    #[test]
    fn expressions_complete_without_braces() {
        let suggested = suggest("nodes.fetch.st", true, &known()).unwrap();
        assert_eq!((suggested.partial.as_str(), suggested.options), ("st", vec!["status".to_string()]));
        assert_eq!(suggest("nodes.fetch.status == 2", true, &known()), None);
    }
}
