//! The run view: the execution's status and every node's state, updated live
//! from the server's event stream; per-node input, output, error, attempts and
//! streamed LLM tokens; the timeline; cancel, re-run, re-run from the failure.

use std::collections::{BTreeMap, HashMap, HashSet};

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
use leptos_router::{lazy_route, LazyRoute};

use super::api::*;
use super::items::{ItemCounts, ItemResults};
use super::reasons::skip_reason;
use super::timeline::{layout, Timeline};
use super::waits::WaitingNodes;
use crate::error::AppError;
use crate::graph::GraphPreview;
use crate::model::{Edge, ExecutionId, ExecutionStatus, NodeRun, NodeStatus, RerunVersion, RunEvent};
use crate::ui::{format_time, use_hydrated};

pub struct RunPage;

/// What the page reads and does, made in `view`: the router calls `data()`
/// from the initial chunk, so what it makes (its server functions, the
/// decoding of their answers) would ship with every page; `view` is lazy.
struct RunData {
    details: Resource<Result<RunDetails, AppError>>,
    reload: RwSignal<u32>,
    /// The node whose panel is open; kept when the view is drawn again (the run ended).
    selected: RwSignal<Option<String>>,
}

impl RunData {
    fn load() -> Self {
        let params = use_params_map();
        let id = Memo::new(move |_| params.with(|p| p.get("id").and_then(|v| v.parse::<ExecutionId>().ok())));
        // Bumped when the run ends: the final details (inputs, times) are read once more.
        let reload = RwSignal::new(0_u32);
        let details = Resource::new(
            move || (id.get(), reload.get()),
            |(id, _)| async move {
                match id {
                    Some(id) => load_run(id).await,
                    None => Err(AppError::NotFound("execution".into())),
                }
            },
        );
        Self { details, reload, selected: RwSignal::new(None) }
    }
}

#[lazy_route]
impl LazyRoute for RunPage {
    fn data() -> Self {
        Self
    }

    fn view(_page: Self) -> AnyView {
        let RunData { details, reload, selected } = RunData::load();
        let hydrated = use_hydrated();
        view! {
            <main class="page wide" data-testid="run-page" data-hydrated=move || hydrated.get().to_string()>
                <Transition fallback=|| view! { <p class="muted">"Loading the run…"</p> }>
                    {move || Suspend::new(async move {
                        match details.await {
                            Ok(details) => view! { <RunView details reload selected/> }.into_any(),
                            Err(error) => view! {
                                <h1>"Run"</h1>
                                <p class="error" role="alert" data-testid="run-error">{error.to_string()}</p>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </main>
        }
        .into_any()
    }
}

/// The live state of a run, changed by its events (in the browser).
#[derive(Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(super) struct LiveRun {
    pub id: ExecutionId,
    pub runs: RwSignal<BTreeMap<String, NodeRun>>,
    tokens: RwSignal<HashMap<String, String>>,
    /// How far each `for_each` node is, while it runs.
    pub items: RwSignal<HashMap<String, ItemCounts>>,
    /// Steps each `agent` node recorded while followed (its trace is read again on each).
    steps: RwSignal<HashMap<String, usize>>,
    status: RwSignal<ExecutionStatus>,
    error: RwSignal<Option<String>>,
    /// Bumped to read the run anew (it ended, paused, or was resumed).
    pub reload: RwSignal<u32>,
}

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl LiveRun {
    fn apply(&self, event: RunEvent) {
        match event {
            RunEvent::Node { node, status, attempt, output, error, at } => {
                self.runs.update(|runs| {
                    let run = runs.entry(node.clone()).or_insert_with(|| NodeRun::queued(self.id, &node));
                    run.status = status;
                    run.attempt = attempt;
                    match status {
                        NodeStatus::Running | NodeStatus::Waiting => {
                            run.started_at.get_or_insert(at);
                        }
                        NodeStatus::Queued => {}
                        _ => {
                            run.finished_at = Some(at);
                            run.output = output;
                            run.error = error;
                        }
                    }
                });
            }
            RunEvent::Token { node, text } => self.tokens.update(|t| t.entry(node).or_default().push_str(&text)),
            // The text so far (joining mid-answer), or empty: a new attempt.
            RunEvent::Streamed { node, text } => self.tokens.update(|t| {
                t.insert(node, text);
            }),
            RunEvent::Items { node, done, failed, total } => self.items.update(|items| {
                items.insert(node, ItemCounts { done, failed, total });
            }),
            RunEvent::Step { node, .. } => self.steps.update(|steps| *steps.entry(node).or_default() += 1),
            RunEvent::Finished { status, error, .. } => {
                self.status.set(status);
                self.error.set(error);
                self.reload.update(|n| *n += 1);
            }
        }
    }
}

/// Follows the run's server-sent events until it ends (browser only).
#[cfg(feature = "hydrate")]
fn follow(live: LiveRun) {
    use futures::StreamExt;
    use gloo_net::eventsource::futures::EventSource;

    let Ok(mut source) = EventSource::new(&format!("/executions/{}/events", live.id)) else { return };
    let streams: Vec<_> = ["node", "token", "streamed", "items", "step", "finished"]
        .iter()
        .filter_map(|name| source.subscribe(*name).ok())
        .collect();
    let mut events = futures::stream::select_all(streams);
    leptos::task::spawn_local(async move {
        while let Some(Ok((_, message))) = events.next().await {
            let Some(data) = message.data().as_string() else { continue };
            let Ok(event) = serde_json::from_str::<RunEvent>(&data) else { continue };
            let last = matches!(event, RunEvent::Finished { .. });
            live.apply(event);
            if last {
                break;
            }
        }
        source.close();
    });
}

#[component]
fn RunView(details: RunDetails, reload: RwSignal<u32>, selected: RwSignal<Option<String>>) -> impl IntoView {
    let RunDetails { execution, definition, runs, current_version, own } = details;
    let nodes: Vec<(String, String)> = definition.nodes.iter().map(|n| (n.id.clone(), n.kind.clone())).collect();
    // Nodes that run once per item: their output is the items' results.
    let per_item: StoredValue<HashMap<String, String>> = StoredValue::new(
        definition.nodes.iter().filter(|n| n.for_each.is_some()).map(|n| (n.id.clone(), n.kind.clone())).collect(),
    );
    let workflow_name = definition.name.clone();
    let edges = StoredValue::new(definition.edges.clone());
    // `workflow` nodes and agents with workflow tools: their panel lists the runs they started.
    let starts_runs = |n: &&crate::model::NodeDefinition| {
        let tools = n.config.get("tools").and_then(serde_json::Value::as_array);
        n.kind == "workflow"
            || (n.kind == "agent" && tools.is_some_and(|t| t.iter().any(|t| t.get("workflow").is_some())))
    };
    let calls: StoredValue<HashSet<String>> =
        StoredValue::new(definition.nodes.iter().filter(starts_runs).map(|n| n.id.clone()).collect());
    // `agent` nodes: their panel shows the trace of their steps.
    let agents: StoredValue<HashSet<String>> =
        StoredValue::new(definition.nodes.iter().filter(|n| n.kind == "agent").map(|n| n.id.clone()).collect());
    let id = execution.id;
    let mut by_node: BTreeMap<String, NodeRun> =
        nodes.iter().map(|(node, _)| (node.clone(), NodeRun::queued(id, node))).collect();
    by_node.extend(runs.into_iter().map(|r| (r.node_id.clone(), r)));
    let live = LiveRun {
        id,
        runs: RwSignal::new(by_node),
        tokens: RwSignal::new(HashMap::new()),
        items: RwSignal::new(HashMap::new()),
        steps: RwSignal::new(HashMap::new()),
        status: RwSignal::new(execution.status),
        error: RwSignal::new(execution.error.clone()),
        reload,
    };
    #[cfg(feature = "hydrate")]
    if !execution.status.is_settled() {
        // After hydration only: the server renders the state as stored. A run
        // paused at `wait` nodes is followed again once it is resumed.
        Effect::new(move |started: Option<()>| {
            if started.is_none() {
                follow(live);
            }
        });
    }

    // The panel shows the node picked, else the failed node, if one failed.
    // Derived rather than written into `selected`: a signal written while a
    // view is drawn reaches views of an earlier drawing, which the server may
    // have disposed already (it panicked doing so, now and then).
    let failed_at_load =
        live.runs.with_untracked(|r| r.values().find(|r| r.status == NodeStatus::Failed).map(|r| r.node_id.clone()));
    let shown = Signal::derive(move || selected.get().or_else(|| failed_at_load.clone()));
    // Memoized: the graph's colours change only when a node's status does.
    let node_statuses = Memo::new(move |_| {
        live.runs.with(|runs| runs.iter().map(|(id, run)| (id.clone(), run.status)).collect::<HashMap<_, _>>())
    });
    // Memoized: the timeline is laid out again only when a node's state changes.
    let spans = Memo::new(move |_| {
        live.runs.with(|runs| {
            let runs: Vec<NodeRun> = runs.values().cloned().collect();
            let now = runs.iter().filter_map(|r| r.finished_at.or(r.started_at)).max().unwrap_or(0);
            layout(&runs, now)
        })
    });

    let cancel = ServerAction::<CancelRun>::new();
    let rerun = ServerAction::<Rerun>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(started)) = rerun.value().get() {
            navigate(&format!("/executions/{}", started.id), Default::default());
        }
    });
    let finished = move || live.status.get().is_finished();
    let action_error = move || {
        let cancel_error = cancel.value().get().and_then(Result::err);
        cancel_error.or_else(|| rerun.value().get().and_then(Result::err)).map(|e| e.to_string())
    };
    // A re-run takes the workflow's current version unless the viewer picks
    // the run's own; the choice is offered only when the two differ.
    let ran_version = execution.version;
    let newer_saved = current_version != ran_version;
    let rerun_version = RwSignal::new(RerunVersion::Current);
    let chosen_version = move || match rerun_version.get() {
        RerunVersion::Current => current_version,
        RerunVersion::Original => ran_version,
    };
    let rerun_with = move |from_failed: bool| {
        rerun.dispatch(Rerun { id, from_failed, version: Some(rerun_version.get_untracked()) });
    };
    let failed_node =
        move || live.runs.with(|r| r.values().find(|r| r.status == NodeStatus::Failed).map(|r| r.node_id.clone()));
    let workflow_id = execution.workflow_id;
    // An error workflow's run says which run's failure started it.
    let failed_run = (execution.trigger == crate::model::Trigger::Failure)
        .then(|| execution.input.to_value().get("execution").and_then(serde_json::Value::as_i64))
        .flatten();

    view! {
        <leptos_meta::Title text=format!("Run {id} · {workflow_name} · Weft")/>
        <header class="run-header">
            <h1>
                <a href=format!("/workflows/{}", execution.workflow_id)>{workflow_name}</a>
                <span class="muted">{format!(" · run {id}")}</span>
            </h1>
            <span class=move || format!("status status-{}", live.status.get()) data-testid="run-status">
                {move || live.status.get().to_string()}
            </span>
        </header>
        <p class="muted" data-testid="run-meta">
            {format!("v{} · {} · started {}", execution.version, execution.trigger, format_time(execution.created_at))}
            {newer_saved.then(|| format!(" · the workflow is now at v{current_version}"))}
            {failed_run.map(|run| view! {
                " · started because "
                <a href=format!("/executions/{run}") data-testid="failed-run-link">{format!("run {run}")}</a>
                " failed"
            })}
            {execution.parent.clone().map(|parent| view! {
                " · started by node "<code>{parent.node}</code>" of "
                <a href=format!("/executions/{}", parent.execution) data-testid="parent-run-link">
                    {format!("run {}", parent.execution)}
                </a>
            })}
        </p>
        <crate::usage::RunUsage id finished=Signal::derive(finished)/>
        {move || live.error.get().map(|e| view! { <p class="error" data-testid="run-failure">{e}</p> })}
        <div class="actions">
            <Show when=move || !finished()>
                <button data-testid="cancel-run" disabled=move || cancel.pending().get()
                    on:click=move |_| { cancel.dispatch(CancelRun { id }); }>"Cancel"</button>
            </Show>
            <Show when=move || finished() && own && newer_saved>
                <fieldset class="rerun-version" data-testid="rerun-version">
                    <legend>"Re-run with"</legend>
                    {[
                        (RerunVersion::Current, "rerun-version-current", format!("the current version (v{current_version})")),
                        (RerunVersion::Original, "rerun-version-original", format!("this run's version (v{ran_version})")),
                    ]
                    .into_iter()
                    .map(|(choice, testid, label)| view! {
                        <label>
                            <input type="radio" name="rerun-version" data-testid=testid
                                prop:checked=move || rerun_version.get() == choice
                                on:change=move |_| rerun_version.set(choice)/>
                            {label}
                        </label>
                    })
                    .collect_view()}
                </fieldset>
            </Show>
            <Show when=move || finished() && own>
                <button data-testid="rerun" disabled=move || rerun.pending().get() on:click=move |_| rerun_with(false)>
                    {move || format!("Re-run on v{}", chosen_version())}
                </button>
            </Show>
            <Show when=move || own && live.status.get() == ExecutionStatus::Failed>
                <button data-testid="rerun-from-failed" disabled=move || rerun.pending().get()
                    title="Nodes that succeeded (and did not change since) keep their outputs; the rest run again"
                    on:click=move |_| rerun_with(true)>
                    {move || format!("Re-run from the failed node on v{}", chosen_version())}
                </button>
            </Show>
            {move || (own && finished()).then(failed_node).flatten().map(|node| view! {
                <a class="button secondary" data-testid="edit-failed-node"
                    href=format!("/workflows/{workflow_id}/edit?node={}", crate::ui::encode_query_value(&node))>
                    {format!("Fix `{node}` in the editor")}
                </a>
            })}
            <span class="error" role="alert">{action_error}</span>
        </div>
        <WaitingNodes live/>
        <section class="card run-graph" data-testid="run-graph">
            <GraphPreview definition=definition statuses=node_statuses
                on_select=Callback::new(move |node: String| selected.set(Some(node)))/>
        </section>
        <div class="run-grid">
            <section class="card">
                <h2>"Nodes"</h2>
                <table class="table nodes" data-testid="nodes">
                    <thead><tr><th>"Node"</th><th>"Kind"</th><th>"Status"</th><th>"Attempts"</th><th>"Time"</th></tr></thead>
                    <tbody>
                        {nodes.into_iter().map(|(id, kind)| view! { <NodeRow id kind live selected shown/> }).collect_view()}
                    </tbody>
                </table>
            </section>
            <NodePanel live selected=shown edges per_item calls agents/>
        </div>
        <Timeline spans/>
    }
}

#[component]
fn NodeRow(
    id: String,
    kind: String,
    live: LiveRun,
    selected: RwSignal<Option<String>>,
    shown: Signal<Option<String>>,
) -> impl IntoView {
    // Memoized per node: an event about one node re-renders only its row.
    let run = Memo::new({
        let id = id.clone();
        move |_| live.runs.with(|runs| runs.get(&id).cloned())
    });
    let status = move || run.with(|r| r.as_ref().map(|r| r.status).unwrap_or(NodeStatus::Queued));
    let duration = move || {
        run.with(|r| match r.as_ref().and_then(|r| Some(r.finished_at? - r.started_at?)) {
            Some(ms) => format!("{ms} ms"),
            None => String::new(),
        })
    };
    let is_selected = {
        let id = id.clone();
        move || shown.with(|s| s.as_deref() == Some(id.as_str()))
    };
    let select = {
        let id = id.clone();
        move |_| selected.set(Some(id.clone()))
    };
    let progress = {
        let id = id.clone();
        move || {
            let counts = live.items.with(|items| items.get(&id).copied())?;
            (status() == NodeStatus::Running).then(|| {
                view! {
                    <span class="item-progress" data-testid="node-items">{counts.to_string()}</span>
                }
            })
        }
    };
    view! {
        <tr class="node-row" class:selected=is_selected data-testid="node-row" data-node=id.clone()
            data-status=move || status().to_string() on:click=select>
            <td><button class="link">{id.clone()}</button></td>
            <td>{kind}</td>
            <td><span class=move || format!("status status-{}", status())>{move || status().to_string()}</span>
                {progress}</td>
            <td>{move || run.with(|r| r.as_ref().map(|r| r.attempt).filter(|a| *a > 0).map(|a| a.to_string()))}</td>
            <td>{duration}</td>
        </tr>
    }
}

fn pretty(value: &Option<serde_json::Value>) -> String {
    match value {
        Some(value) => serde_json::to_string_pretty(value).unwrap_or_default(),
        None => "—".into(),
    }
}

/// The readable text of an output that is or carries one (`llm` and
/// `template` nodes answer `{"text": …}`, a `code` node may return a string):
/// shown as text, not as an escaped JSON string.
fn output_text(value: &Option<serde_json::Value>) -> Option<String> {
    let value = value.as_ref()?;
    value.as_str().or_else(|| value.get("text")?.as_str()).map(str::to_owned)
}

#[component]
fn NodePanel(
    live: LiveRun,
    selected: Signal<Option<String>>,
    edges: StoredValue<Vec<Edge>>,
    per_item: StoredValue<HashMap<String, String>>,
    calls: StoredValue<HashSet<String>>,
    agents: StoredValue<HashSet<String>>,
) -> impl IntoView {
    let run = Memo::new(move |_| selected.get().and_then(|id| live.runs.with(|runs| runs.get(&id).cloned())));
    let tokens = move || selected.get().and_then(|id| live.tokens.with(|t| t.get(&id).cloned()));
    let reason = move |node: &str| edges.with_value(|edges| live.runs.with(|runs| skip_reason(node, edges, runs)));
    view! {
        <section class="card node-panel" data-testid="node-panel">
            {move || match run.get() {
                None => view! { <p class="muted">"Select a node to see its input and output."</p> }.into_any(),
                Some(run) => {
                    let summary = match run.status {
                        NodeStatus::Skipped => reason(&run.node_id).unwrap_or_else(|| "skipped".into()),
                        NodeStatus::Queued => "not started yet".into(),
                        NodeStatus::Waiting => "waiting for an answer (above)".into(),
                        NodeStatus::Cancelled if run.attempt == 0 => "cancelled before it started".into(),
                        _ => format!("attempt {}", run.attempt),
                    };
                    let kind = per_item.with_value(|p| p.get(&run.node_id).cloned());
                    let items = kind.map(|kind| {
                        let node = run.node_id.clone();
                        view! { <ItemResults node output=run.output.clone() kind live/> }
                    });
                    let text = if items.is_some() { None } else { output_text(&run.output) };
                    let status = Signal::derive({
                        let node = run.node_id.clone();
                        move || live.runs.with(|r| r.get(&node).map_or(NodeStatus::Queued, |r| r.status))
                    });
                    let trace = agents.with_value(|a| a.contains(&run.node_id)).then(|| {
                        let node = run.node_id.clone();
                        let recorded = Signal::derive({
                            let node = node.clone();
                            move || live.steps.with(|s| s.get(&node).copied().unwrap_or(0))
                        });
                        view! { <super::trace::AgentTrace execution=live.id node status recorded/> }
                    });
                    let children = calls.with_value(|c| c.contains(&run.node_id)).then(|| {
                        let node = run.node_id.clone();
                        view! { <super::children::ChildRuns execution=live.id node status/> }
                    });
                    view! {
                        <h2>{run.node_id.clone()}
                            <span class=format!("status status-{}", run.status)>{run.status.to_string()}</span>
                        </h2>
                        <p class="muted" data-testid="node-summary">{summary}</p>
                        {run.error.clone().map(|e| view! { <p class="error" data-testid="node-error">{e}</p> })}
                        {move || tokens().map(|t| view! {
                            <h3>"Streaming"</h3><pre class="tokens" data-testid="node-tokens">{t}</pre>
                        })}
                        {items}
                        {trace}
                        {children}
                        {text.map(|t| view! { <h3>"Text"</h3><pre class="output-text" data-testid="node-text">{t}</pre> })}
                        <h3>"Output"</h3>
                        <pre data-testid="node-output">{pretty(&run.output)}</pre>
                        <h3>"Input"</h3>
                        <pre data-testid="node-input">{pretty(&run.input)}</pre>
                    }.into_any()
                }
            }}
        </section>
    }
}
