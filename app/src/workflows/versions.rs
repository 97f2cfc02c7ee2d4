//! The workflow page's versions: the list (view, restore), and a comparison of
//! any two: nodes added, removed, changed (side by side) or moved, edges and
//! workflow fields; either side restored from there.

use leptos::prelude::*;

use super::api::RestoreVersion;
use crate::model::version_diff::{diff_versions, SideBySide, VersionDiff};
use crate::model::{Edge, WorkflowVersion};
use crate::ui::format_time;

#[component]
pub(super) fn Versions(
    versions: Vec<WorkflowVersion>,
    current: i32,
    restore: ServerAction<RestoreVersion>,
) -> impl IntoView {
    let shown = RwSignal::new(None::<i32>);
    let definitions: Vec<(i32, String)> =
        versions.iter().map(|v| (v.version, serde_json::to_string_pretty(&v.definition).unwrap_or_default())).collect();
    // Type-erased: the page's view type is deep enough already.
    let compared =
        (versions.len() >= 2).then(|| view! { <Compare versions=versions.clone() current restore/> }.into_any());
    view! {
        <section class="card" data-testid="versions">
            <h2>"Versions"</h2>
            <table class="table">
                <tbody>
                    {versions.into_iter().map(|v| {
                        let number = v.version;
                        view! {
                            <tr data-testid="version-row" data-version=number>
                                <td>{format!("v{number}")}{(number == current).then_some(" (current)")}</td>
                                <td>{format_time(v.created_at)}</td>
                                <td>
                                    <button class="link" data-testid="view-version" on:click=move |_| shown.set(Some(number))>"View"</button>
                                    {(number != current).then(|| view! {
                                        " " <button class="link" data-testid="restore-version"
                                            on:click=move |_| { restore.dispatch(RestoreVersion { id: v.workflow_id, version: number }); }>
                                            "Restore"
                                        </button>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
            {move || shown.get().and_then(|n| definitions.iter().find(|(v, _)| *v == n).cloned()).map(|(n, text)| view! {
                <h3>{format!("v{n}")}</h3>
                <pre class="definition" data-testid="version-definition">{text}</pre>
            })}
            {compared}
        </section>
    }
    .into_any()
}

/// Two pickers (the older version, the newer one; at first the one before
/// the current and the current) and what differs between them.
#[component]
fn Compare(versions: Vec<WorkflowVersion>, current: i32, restore: ServerAction<RestoreVersion>) -> impl IntoView {
    let workflow = versions[0].workflow_id;
    let numbers: Vec<i32> = versions.iter().map(|v| v.version).collect();
    // Versions arrive newest first.
    let from = RwSignal::new(numbers.get(1).copied().unwrap_or_default());
    let to = RwSignal::new(numbers[0]);
    let versions = StoredValue::new(versions);
    // Memoized: the comparison is computed again only when a picker changes.
    let diff = Memo::new(move |_| {
        let (a, b) = (from.get(), to.get());
        versions.with_value(|all| {
            let find = |n: i32| all.iter().find(|v| v.version == n).map(|v| &v.definition);
            Some(diff_versions(find(a)?, find(b)?))
        })
    });
    let picker = move |testid: &'static str, chosen: RwSignal<i32>| {
        let options = numbers.clone();
        view! {
            <select data-testid=testid
                on:change=move |ev| {
                    if let Ok(n) = event_target_value(&ev).parse() { chosen.set(n) }
                }>
                {options.into_iter().map(|n| view! {
                    <option value=n selected=move || chosen.get() == n>
                        {format!("v{n}")}{(n == current).then_some(" (current)")}
                    </option>
                }).collect_view()}
            </select>
        }
        .into_any()
    };
    let restore_button = move |version: RwSignal<i32>| {
        move || {
            let n = version.get();
            (n != current).then(|| {
                view! {
                    <button class="secondary" data-testid="diff-restore" data-version=n
                        disabled=move || restore.pending().get()
                        on:click=move |_| { restore.dispatch(RestoreVersion { id: workflow, version: n }); }>
                        {format!("Restore v{n}")}
                    </button>
                }
            })
        }
    };
    view! {
        <div class="compare" data-testid="version-compare">
            <h3>"Compare"</h3>
            <p class="compare-pickers">
                {picker("diff-from", from)} " with " {picker("diff-to", to)}
                " " {restore_button(from)} " " {restore_button(to)}
            </p>
            {move || diff.get().map(|diff| view! { <DiffView diff before=from.get() after=to.get()/> })}
        </div>
    }
    .into_any()
}

#[component]
fn DiffView(diff: VersionDiff, before: i32, after: i32) -> impl IntoView {
    let VersionDiff { added, removed, changed, moved, edges_added, edges_removed, fields } = diff.clone();
    let node_list = |testid: &'static str, title: &'static str, nodes: Vec<crate::model::NodeDefinition>| {
        (!nodes.is_empty()).then(|| view! {
            <h4>{title}</h4>
            <ul class="plain">
                {nodes.into_iter().map(|n| {
                    let shown = n.id.clone();
                    view! { <li data-testid=testid data-node=n.id><code>{shown}</code>{format!(" ({})", n.kind)}</li> }
                }).collect_view()}
            </ul>
        })
    };
    let edge_list = |testid: &'static str, title: &'static str, edges: Vec<Edge>| {
        (!edges.is_empty()).then(|| {
            view! {
                <h4>{title}</h4>
                <ul class="plain">
                    {edges.into_iter().map(|e| view! {
                        <li data-testid=testid><code>{edge_label(&e)}</code></li>
                    }).collect_view()}
                </ul>
            }
        })
    };
    view! {
        <p data-testid="diff-summary">{format!("v{before} → v{after}: {}", diff.summary())}</p>
        {fields.into_iter().map(|f| view! {
            <div data-testid="diff-field" data-field=f.field.clone()>
                <h4>{format!("Workflow {}", f.field)}</h4>
                <SideBySideTable lines=f.lines before after/>
            </div>
        }).collect_view()}
        {node_list("diff-added", "Nodes added", added)}
        {node_list("diff-removed", "Nodes removed", removed)}
        {changed.into_iter().map(|c| {
            let shown = c.id.clone();
            view! {
                <div data-testid="diff-changed" data-node=c.id>
                    <h4><code>{shown}</code>{format!(" changed: {}", c.fields.join(", "))}</h4>
                    <SideBySideTable lines=c.lines before after/>
                </div>
            }
        }).collect_view()}
        {(!moved.is_empty()).then(|| view! {
            <p class="muted" data-testid="diff-moved">{format!("Moved on the canvas only: {}", moved.join(", "))}</p>
        })}
        {edge_list("diff-edge-added", "Edges added", edges_added)}
        {edge_list("diff-edge-removed", "Edges removed", edges_removed)}
    }
}

fn edge_label(edge: &Edge) -> String {
    match &edge.branch {
        Some(branch) => format!("{} → {} ({branch})", edge.from, edge.to),
        None => format!("{} → {}", edge.from, edge.to),
    }
}

/// The older JSON on the left, the newer on the right; differing rows marked.
#[component]
fn SideBySideTable(lines: Vec<SideBySide>, before: i32, after: i32) -> impl IntoView {
    view! {
        <table class="side-by-side" data-testid="side-by-side">
            <thead><tr><th>{format!("v{before}")}</th><th>{format!("v{after}")}</th></tr></thead>
            <tbody>
                {lines.into_iter().map(|line| {
                    let (removed, added) = (line.changed && line.before.is_some(), line.changed && line.after.is_some());
                    view! {
                        <tr>
                            <td class:removed=removed data-testid="diff-before">{line.before}</td>
                            <td class:added=added data-testid="diff-after">{line.after}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
