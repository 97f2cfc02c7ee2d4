//! Drawing a workflow graph: node boxes and edges as SVG. The marketplace's
//! preview uses it read-only; the editor's canvas uses the same geometry, so an
//! edge always leaves from the dot it was dragged from.

use std::collections::HashMap;

use leptos::prelude::*;
use serde_json::Value;

use crate::model::{NodeDefinition, NodeStatus, Position, WorkflowDefinition};

pub const NODE_WIDTH: f64 = 160.0;
/// Three lines: the id, the kind, a one-line summary of the config.
pub const NODE_HEIGHT: f64 = 64.0;
/// The input and output dots' radius: edges end at the input dot's rim, so
/// their arrowhead is not hidden under it.
pub const PORT_RADIUS: f64 = 7.0;
const COLUMN: f64 = 230.0;
const ROW: f64 = 96.0;
/// How far a back-edge's loop passes below the lower of its two nodes.
const LOOP_GAP: f64 = 28.0;
/// How far an edge runs straight out of a dot before it bends.
const MIN_BEND: f64 = 40.0;
/// The longest summary shown on a node, in characters (the box is 160 px wide;
/// a condition's box also holds its "true"/"false" labels).
const SUMMARY_CHARS: usize = 24;
const CONDITION_SUMMARY_CHARS: usize = 17;

/// Where each node goes: its saved position when every node has one, else an
/// automatic layout in columns by depth (a node sits right of all its inputs).
pub fn positions(definition: &WorkflowDefinition) -> Vec<Position> {
    if definition.nodes.iter().all(|n| n.position.is_some()) {
        return definition.nodes.iter().map(|n| n.position.unwrap_or(Position { x: 0.0, y: 0.0 })).collect();
    }
    auto_layout(definition)
}

/// Columns by longest path from a source; rows in definition order. Edges to
/// unknown nodes and cycles (an invalid graph) are tolerated: a cycle's nodes
/// simply stay in column 0.
pub fn auto_layout(definition: &WorkflowDefinition) -> Vec<Position> {
    let index: HashMap<&str, usize> = definition.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let n = definition.nodes.len();
    let mut incoming = vec![0_usize; n];
    let mut outgoing: Vec<Vec<usize>> = vec![Vec::new(); n];
    for edge in &definition.edges {
        if let (Some(&from), Some(&to)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) {
            outgoing[from].push(to);
            incoming[to] += 1;
        }
    }
    let mut depth = vec![0_usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| incoming[i] == 0).collect();
    while let Some(node) = ready.pop() {
        for &next in &outgoing[node] {
            depth[next] = depth[next].max(depth[node] + 1);
            incoming[next] -= 1;
            if incoming[next] == 0 {
                ready.push(next);
            }
        }
    }
    let mut rows_used: HashMap<usize, usize> = HashMap::new();
    depth
        .iter()
        .map(|&column| {
            let row = rows_used.entry(column).or_insert(0);
            let position = Position { x: column as f64 * COLUMN, y: *row as f64 * ROW };
            *row += 1;
            position
        })
        .collect()
}

/// A node's output dots: the branch each stands for (a condition has a
/// "true" dot above a "false" one; a switch one per case, then `default`)
/// and its height from the node's top, spread evenly down its right side.
pub fn output_ports(kind: &str, config: &Value) -> Vec<(Option<String>, f64)> {
    let branches = crate::model::node_config::raw_branches(kind, config);
    if branches.is_empty() {
        return vec![(None, NODE_HEIGHT / 2.0)];
    }
    let step = NODE_HEIGHT / (branches.len() + 1) as f64;
    branches.into_iter().enumerate().map(|(i, branch)| (Some(branch), step * (i + 1) as f64)).collect()
}

/// The height (from the node's top) of the dot an edge with `branch` leaves
/// from; an unknown branch leaves from the middle.
pub fn output_port_y(kind: &str, config: &Value, branch: Option<&str>) -> f64 {
    output_ports(kind, config).into_iter().find(|(b, _)| b.as_deref() == branch).map_or(NODE_HEIGHT / 2.0, |(_, y)| y)
}

/// A smooth left-to-right curve between two points (also the loose end of a
/// connection being dragged).
pub fn curve(x1: f64, y1: f64, x2: f64, y2: f64) -> String {
    let bend = ((x2 - x1).abs() / 2.0).max(MIN_BEND);
    format!("M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}", x1 + bend, x2 - bend)
}

/// Whether an edge must go around its nodes: its target's input is not to the
/// right of its source's output (a back-edge, or two stacked nodes). Drawn as a
/// plain curve it would lie on top of the edges going forward between them.
pub fn goes_back(from: Position, to: Position) -> bool {
    to.x - PORT_RADIUS < from.x + NODE_WIDTH + MIN_BEND / 2.0
}

/// The SVG path of an edge from the output dot at `port_y` of the node at
/// `from` to the input dot of the node at `to`. A forward edge is one curve; an
/// edge that goes back runs around its nodes (in the gap between them when one
/// is above the other, else below both) and comes into the input from the left,
/// so it never covers a forward edge and its arrow still points in.
pub fn edge_path(from: Position, port_y: f64, to: Position) -> String {
    let (x1, y1) = (from.x + NODE_WIDTH, from.y + port_y);
    let (x2, y2) = (to.x - PORT_RADIUS, to.y + NODE_HEIGHT / 2.0);
    if !goes_back(from, to) {
        return curve(x1, y1, x2, y2);
    }
    let below = around_height(from, to);
    let (out, into) = (x1 + MIN_BEND, x2 - MIN_BEND);
    format!(
        "M{x1:.1},{y1:.1} C{out:.1},{y1:.1} {out:.1},{below:.1} {x1:.1},{below:.1} \
         L{x2:.1},{below:.1} C{into:.1},{below:.1} {into:.1},{y2:.1} {x2:.1},{y2:.1}"
    )
}

/// The height at which an edge going back runs across: the middle of the gap
/// between its two nodes when there is room, else below the lower one.
fn around_height(from: Position, to: Position) -> f64 {
    let (upper, lower) = if from.y <= to.y { (from, to) } else { (to, from) };
    let gap = lower.y - (upper.y + NODE_HEIGHT);
    if gap >= LOOP_GAP {
        upper.y + NODE_HEIGHT + gap / 2.0
    } else {
        lower.y + NODE_HEIGHT + LOOP_GAP
    }
}

/// The arrowhead an edge ends with: coloured like the edge (SVG markers do not
/// take the colour of the path they end).
pub fn arrow_marker(branch: Option<&str>, selected: bool) -> &'static str {
    match (selected, branch) {
        (true, _) => "url(#arrow-selected)",
        (false, Some("true")) => "url(#arrow-true)",
        (false, Some("false")) => "url(#arrow-false)",
        _ => "url(#arrow)",
    }
}

/// The arrowheads' definitions, one per edge colour (see `arrow_marker`).
#[component]
pub fn ArrowMarkers() -> impl IntoView {
    view! {
        <defs>
            {[("arrow", "arrow"), ("arrow-true", "arrow true"), ("arrow-false", "arrow false"), ("arrow-selected", "arrow selected")]
                .into_iter()
                .map(|(id, class)| view! {
                    <marker id=id class=class viewBox="0 0 10 10" refX="9" refY="5" markerWidth="10" markerHeight="10"
                        markerUnits="userSpaceOnUse" orient="auto">
                        <path d="M0,0 L10,5 L0,10 z"/>
                    </marker>
                })
                .collect_view()}
        </defs>
    }
}

/// One line saying what a node does (`GET https://…`, the model, the
/// expression, the wait), cut to fit its box; empty when there is nothing to say.
pub fn node_summary(kind: &str, config: &Value) -> String {
    let text = |key: &str| config.get(key).and_then(Value::as_str).unwrap_or_default().trim().to_string();
    let full = match kind {
        "http" => format!("{} {}", text("method"), text("url")),
        "llm" => {
            let model = match (text("provider"), text("model")) {
                (provider, model) if model.is_empty() && provider.is_empty() => "default model".to_string(),
                (provider, model) if model.is_empty() => provider,
                (provider, model) if provider.is_empty() => model,
                (provider, model) => format!("{provider}: {model}"),
            };
            let fallbacks = config.get("fallbacks").and_then(Value::as_array).map_or(0, Vec::len);
            let fallbacks = match fallbacks {
                0 => String::new(),
                1 => " · 1 fallback".to_string(),
                n => format!(" · {n} fallbacks"),
            };
            let shaped = config.get("schema").is_some_and(Value::is_object);
            let shape = if shaped { " · JSON answer" } else { "" };
            format!("{model}{fallbacks}{shape}")
        }
        "template" => text("template"),
        "code" => text("source"),
        "condition" => text("expr"),
        "switch" => {
            let cases = crate::model::node_config::raw_branches(kind, config);
            format!("{} cases", cases.len().saturating_sub(1))
        }
        "delay" => match config.get("ms") {
            Some(Value::Number(ms)) => format!("wait {ms} ms"),
            _ => String::new(),
        },
        "wait" => match config.get("timeout_ms").and_then(Value::as_u64) {
            Some(ms) => format!("for an answer, {}", short_duration(ms)),
            None => "for an answer".to_string(),
        },
        "agent" => {
            let tools = config.get("tools").and_then(Value::as_array).map_or(0, Vec::len);
            let steps = config.get("max_steps").and_then(Value::as_u64).unwrap_or(10);
            let plural = if tools == 1 { "" } else { "s" };
            format!("{tools} tool{plural} · at most {steps} turns")
        }
        "workflow" => {
            let target = match config.get("workflow").and_then(Value::as_i64) {
                Some(id) if id > 0 => format!("workflow #{id}"),
                _ => "no workflow chosen".to_string(),
            };
            let version = config.get("version").and_then(Value::as_i64).map(|v| format!(" v{v}")).unwrap_or_default();
            let waits = config.get("wait").and_then(Value::as_bool).unwrap_or(true);
            format!("{}{target}{version}", if waits { "run " } else { "start " })
        }
        _ => String::new(),
    };
    let limit = if kind == "condition" { CONDITION_SUMMARY_CHARS } else { SUMMARY_CHARS };
    shorten(&full.split_whitespace().collect::<Vec<_>>().join(" "), limit)
}

/// `90 s`, `15 min`, `2 h`, `3 d`: how long a wait may last, at a glance.
fn short_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..120 => format!("{s} s"),
        120..7_200 => format!("{} min", s / 60),
        7_200..172_800 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

/// The node's kind, and what it runs for each item of when it has `for_each`
/// (`llm · each input.rows`), cut to fit its box.
pub fn kind_line(kind: &str, for_each: Option<&Value>) -> String {
    match for_each.and_then(Value::as_str).filter(|expr| !expr.trim().is_empty()) {
        Some(expr) => shorten(&format!("{kind} · each {}", expr.trim()), SUMMARY_CHARS),
        None => kind.to_string(),
    }
}

/// `text` cut to `limit` characters, the cut marked with an ellipsis.
fn shorten(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(limit - 1).collect();
    cut.push('…');
    cut
}

/// A read-only picture of a workflow. The run view passes each node's status
/// (drawn as the node's colour, and `data-status`) and what a click on a node does.
#[component]
pub fn GraphPreview(
    definition: WorkflowDefinition,
    #[prop(optional, into)] statuses: Option<Signal<HashMap<String, NodeStatus>>>,
    #[prop(optional)] on_select: Option<Callback<String>>,
) -> impl IntoView {
    let status_of = move |id: &str| statuses.and_then(|s| s.with(|m| m.get(id).copied()));
    let positions = positions(&definition);
    let at: HashMap<&str, (Position, &NodeDefinition)> =
        definition.nodes.iter().zip(&positions).map(|(n, p)| (n.id.as_str(), (*p, n))).collect();
    let min_x = positions.iter().map(|p| p.x).fold(f64::INFINITY, f64::min).min(0.0);
    let min_y = positions.iter().map(|p| p.y).fold(f64::INFINITY, f64::min).min(0.0);
    let max_x = positions.iter().map(|p| p.x + NODE_WIDTH).fold(NODE_WIDTH, f64::max);
    // Room below for the loops of back-edges.
    let max_y = positions.iter().map(|p| p.y + NODE_HEIGHT + LOOP_GAP).fold(NODE_HEIGHT, f64::max);
    let view_box =
        format!("{:.0} {:.0} {:.0} {:.0}", min_x - 10.0, min_y - 10.0, max_x - min_x + 30.0, max_y - min_y + 20.0);
    let edges: Vec<(String, Option<String>)> = definition
        .edges
        .iter()
        .filter_map(|e| {
            let (from, node) = *at.get(e.from.as_str())?;
            let (to, _) = *at.get(e.to.as_str())?;
            let port_y = output_port_y(&node.kind, &node.config, e.branch.as_deref());
            Some((edge_path(from, port_y, to), e.branch.clone()))
        })
        .collect();
    view! {
        <svg class="graph" viewBox=view_box data-testid="graph-preview" role="img" aria-label="workflow graph">
            <ArrowMarkers/>
            {edges.into_iter().map(|(d, branch)| view! {
                <path class=format!("edge {}", branch.as_deref().map(|b| format!("branch-{b}")).unwrap_or_default()) d=d
                    marker-end=arrow_marker(branch.as_deref(), false)/>
            }).collect_view()}
            {definition.nodes.iter().zip(positions.iter()).map(|(node, p)| {
                let (class_id, status_id, click_id) = (node.id.clone(), node.id.clone(), node.id.clone());
                let kind = node.kind.clone();
                let class = move || match status_of(&class_id) {
                    Some(status) => format!("node kind-{kind} status-{status}"),
                    None => format!("node kind-{kind}"),
                };
                let select = move |_| {
                    if let Some(on_select) = on_select {
                        on_select.run(click_id.clone());
                    }
                };
                view! {
                <g class=class transform=format!("translate({:.1},{:.1})", p.x, p.y) on:click=select
                    data-testid="graph-node" data-node=node.id.clone()
                    data-status=move || status_of(&status_id).map(|s| s.to_string())>
                    <rect width=NODE_WIDTH height=NODE_HEIGHT rx="8"/>
                    <text x="10" y="20" class="node-id">{node.id.clone()}</text>
                    <text x="10" y="36" class="node-kind">{kind_line(&node.kind, node.for_each.as_ref())}</text>
                    <text x="10" y="52" class="node-summary">{node_summary(&node.kind, &node.config)}</text>
                    <BranchLabels ports=output_ports(&node.kind, &node.config)/>
                </g>
            }}).collect_view()}
        </svg>
    }
}

/// The branch names beside a condition's or a switch's output dots ([`output_ports`]; nothing for other kinds).
#[component]
pub fn BranchLabels(ports: Vec<(Option<String>, f64)>) -> impl IntoView {
    ports
        .into_iter()
        .filter_map(|(branch, y)| branch.map(|b| (b, y)))
        .map(|(branch, y)| {
            view! {
                <text class=format!("branch-label {branch}") x=NODE_WIDTH - 12.0 y=y + 4.0 text-anchor="end"
                    data-testid="branch-label">{branch.clone()}</text>
            }
        })
        .collect_view()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(edges: &[(&str, &str)]) -> WorkflowDefinition {
        let ids: std::collections::BTreeSet<&str> = edges.iter().flat_map(|(a, b)| [*a, *b]).collect();
        serde_json::from_value(serde_json::json!({
            "name": "g",
            "nodes": ids.iter().map(|id| serde_json::json!({"id": id, "type": "delay", "config": {"ms": 1}})).collect::<Vec<_>>(),
            "edges": edges.iter().map(|(a, b)| serde_json::json!({"from": a, "to": b})).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    #[test]
    fn a_node_sits_right_of_all_its_inputs() {
        // a → b → d, a → c → d, a → d
        let d = definition(&[("a", "b"), ("b", "d"), ("a", "c"), ("c", "d"), ("a", "d")]);
        let p = auto_layout(&d);
        let x = |id: &str| p[d.nodes.iter().position(|n| n.id == id).unwrap()].x;
        assert_eq!((x("a"), x("b"), x("c"), x("d")), (0.0, COLUMN, COLUMN, 2.0 * COLUMN));
        let y = |id: &str| p[d.nodes.iter().position(|n| n.id == id).unwrap()].y;
        assert_ne!(y("b"), y("c"), "two nodes in one column do not overlap");
    }

    #[test]
    fn a_condition_edge_leaves_from_its_branch_dot() {
        let none = serde_json::json!({});
        assert_eq!(output_port_y("condition", &none, Some("true")), NODE_HEIGHT / 3.0);
        assert_eq!(output_port_y("condition", &none, Some("false")), NODE_HEIGHT * 2.0 / 3.0);
        assert_eq!(output_port_y("delay", &none, None), NODE_HEIGHT / 2.0);
        let cases = serde_json::json!({"cases": [{"name": "a", "expr": "x"}, {"name": "b", "expr": "y"}]});
        assert_eq!(output_port_y("switch", &cases, Some("b")), NODE_HEIGHT / 2.0);
        assert_eq!(output_port_y("switch", &cases, Some("default")), NODE_HEIGHT * 3.0 / 4.0);
        let path = edge_path(
            Position { x: 0.0, y: 0.0 },
            output_port_y("condition", &none, Some("false")),
            Position { x: 300.0, y: 0.0 },
        );
        assert!(path.starts_with(&format!("M{NODE_WIDTH:.1},{:.1}", NODE_HEIGHT * 2.0 / 3.0)), "{path}");
    }

    #[test]
    fn a_back_edge_loops_below_both_nodes() {
        let (early, late) = (Position { x: 0.0, y: 0.0 }, Position { x: 300.0, y: 0.0 });
        assert!(!goes_back(early, late) && goes_back(late, early));
        let path = edge_path(late, NODE_HEIGHT / 2.0, early);
        let lowest = path
            .split(|c: char| c == ' ' || c.is_ascii_alphabetic())
            .filter_map(|pair| pair.split_once(',').and_then(|(_, y)| y.parse::<f64>().ok()))
            .fold(f64::MIN, f64::max);
        assert!(lowest > NODE_HEIGHT, "the loop passes below the boxes: {path}");
        assert!(
            path.ends_with(&format!("{:.1},{:.1}", -PORT_RADIUS, NODE_HEIGHT / 2.0)),
            "it ends at the input dot: {path}"
        );
        // One above the other: it crosses in the gap between them.
        let below = Position { x: 0.0, y: NODE_HEIGHT + 2.0 * LOOP_GAP };
        assert_eq!(around_height(early, below), NODE_HEIGHT + LOOP_GAP);
        assert_eq!(around_height(below, early), NODE_HEIGHT + LOOP_GAP);
    }

    #[test]
    fn summaries_say_what_a_node_does_in_one_short_line() {
        let http = serde_json::json!({"method": "GET", "url": "https://example.com/a/very/long/path"});
        assert_eq!(node_summary("http", &http), "GET https://example.com…");
        assert_eq!(node_summary("delay", &serde_json::json!({"ms": 150})), "wait 150 ms");
        assert_eq!(node_summary("wait", &serde_json::json!({"timeout_ms": 86_400_000})), "for an answer, 24 h");
        assert_eq!(node_summary("wait", &serde_json::json!({"timeout_ms": 259_200_000})), "for an answer, 3 d");
        assert_eq!(node_summary("wait", &serde_json::json!({})), "for an answer");
        assert_eq!(node_summary("workflow", &serde_json::json!({"workflow": 7})), "run workflow #7");
        assert_eq!(
            node_summary("workflow", &serde_json::json!({"workflow": 7, "version": 2, "wait": false})),
            "start workflow #7 v2"
        );
        assert_eq!(node_summary("workflow", &serde_json::json!({"workflow": 0})), "run no workflow chosen");
        assert_eq!(node_summary("llm", &serde_json::json!({"model": ""})), "default model");
        assert_eq!(
            node_summary("llm", &serde_json::json!({"model": "m", "schema": {"type": "object"}})),
            "m · JSON answer"
        );
        assert_eq!(
            node_summary("llm", &serde_json::json!({"provider": "claude", "model": "h", "fallbacks": [{}]})),
            "claude: h · 1 fallback"
        );
        assert_eq!(kind_line("llm", Some(&serde_json::json!("input.words"))), "llm · each input.words");
        assert_eq!(kind_line("llm", Some(&serde_json::json!(""))), "llm");
        assert_eq!(kind_line("code", None), "code");
        assert_eq!(node_summary("merge", &serde_json::json!({})), "");
    }

    #[test]
    fn a_cycle_does_not_hang_the_layout() {
        let d = definition(&[("a", "b"), ("b", "a")]);
        assert_eq!(auto_layout(&d).len(), 2);
    }
}
