//! A switch node's cases in the side panel: a name and an expression each, in
//! the order they are tried. Renaming a case renames the branch of the edges
//! that leave by it, so the graph keeps its connections.

use leptos::prelude::*;
use serde_json::{json, Value};

use super::state::{EditorNode, EditorState};

fn cases(config: &Value) -> Vec<(String, String)> {
    let listed = config.get("cases").and_then(Value::as_array).into_iter().flatten();
    listed
        .map(|case| {
            let text = |key: &str| case.get(key).and_then(Value::as_str).unwrap_or("").to_string();
            (text("name"), text("expr"))
        })
        .collect()
}

/// Applies `change` to the cases array of `node`'s config.
fn update_cases(node: EditorNode, change: impl FnOnce(&mut Vec<Value>)) {
    node.config.update(|config| {
        if let Value::Object(map) = config {
            let entry = map.entry("cases").or_insert_with(|| json!([]));
            if !entry.is_array() {
                *entry = json!([]);
            }
            if let Value::Array(list) = entry {
                change(list);
            }
        }
    });
}

#[component]
pub fn CasesField(node: EditorNode, state: EditorState) -> impl IntoView {
    let count = Memo::new(move |_| node.config.with(|c| cases(c).len()));
    let id = node.id.get_value();
    let add = move |_| {
        state.checkpoint();
        let taken: Vec<String> = node.config.with_untracked(|c| cases(c).into_iter().map(|(n, _)| n).collect());
        let name = (1..).map(|n| format!("case_{n}")).find(|n| !taken.contains(n)).unwrap_or_default();
        update_cases(node, |list| list.push(json!({"name": name, "expr": "true"})));
    };
    view! {
        <div class="cases" data-testid="switch-cases">
            <span>"Cases (tried in order; the first that holds is taken, else " <code>"default"</code> ")"</span>
            {move || (0..count.get()).map(|index| {
                let read = move |pick: fn(&(String, String)) -> String| {
                    node.config.with(|c| cases(c).get(index).map(pick).unwrap_or_default())
                };
                let from = id.clone();
                let rename = move |ev| {
                    let new = event_target_value(&ev);
                    let old = read(|(name, _)| name.clone());
                    update_cases(node, |list| {
                        if let Some(Value::Object(case)) = list.get_mut(index) {
                            case.insert("name".into(), Value::String(new.clone()));
                        }
                    });
                    state.rename_branch(&from, &old, &new);
                };
                let set_expr = move |ev| {
                    let expr = event_target_value(&ev);
                    update_cases(node, |list| {
                        if let Some(Value::Object(case)) = list.get_mut(index) {
                            case.insert("expr".into(), Value::String(expr));
                        }
                    });
                };
                let remove = move |_| {
                    state.checkpoint();
                    update_cases(node, |list| {
                        if index < list.len() {
                            list.remove(index);
                        }
                    });
                };
                view! {
                    <div class="case" data-testid="switch-case">
                        <input type="text" aria-label="Case name" placeholder="name" data-testid=format!("case-{index}-name")
                            prop:value=move || read(|(name, _)| name.clone()) on:focus=move |_| state.checkpoint() on:input=rename/>
                        <input type="text" aria-label="Case expression" placeholder="expression, e.g. input.total > 100"
                            data-testid=format!("case-{index}-expr") prop:value=move || read(|(_, expr)| expr.clone())
                            on:focus=move |_| state.checkpoint() on:input=set_expr/>
                        <button type="button" class="link danger" data-testid=format!("case-{index}-remove") on:click=remove>"✕"</button>
                    </div>
                }
            }).collect_view()}
            <button type="button" class="link" data-testid="add-case" on:click=add>"+ Case"</button>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_are_read_in_order_and_a_malformed_one_reads_empty() {
        let config = json!({"cases": [{"name": "a", "expr": "x > 1"}, {"name": 3}]});
        assert_eq!(cases(&config), [("a".to_string(), "x > 1".to_string()), (String::new(), String::new())]);
        assert!(cases(&json!({})).is_empty());
    }
}
