//! Drawing a workflow graph: node boxes and edges as SVG. The marketplace's
//! preview uses it read-only.

use std::collections::HashMap;

use leptos::prelude::*;

use crate::model::{Position, WorkflowDefinition};

pub const NODE_WIDTH: f64 = 160.0;
pub const NODE_HEIGHT: f64 = 48.0;
const COLUMN: f64 = 220.0;
const ROW: f64 = 80.0;

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

/// The SVG path of an edge from the right side of one box to the left of another.
pub fn edge_path(from: Position, to: Position) -> String {
    let (x1, y1) = (from.x + NODE_WIDTH, from.y + NODE_HEIGHT / 2.0);
    let (x2, y2) = (to.x, to.y + NODE_HEIGHT / 2.0);
    let bend = ((x2 - x1).abs() / 2.0).max(40.0);
    format!("M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}", x1 + bend, x2 - bend)
}

/// A read-only picture of a workflow.
#[component]
pub fn GraphPreview(definition: WorkflowDefinition) -> impl IntoView {
    let positions = positions(&definition);
    let at: HashMap<&str, Position> =
        definition.nodes.iter().zip(&positions).map(|(n, p)| (n.id.as_str(), *p)).collect();
    let min_x = positions.iter().map(|p| p.x).fold(f64::INFINITY, f64::min).min(0.0);
    let min_y = positions.iter().map(|p| p.y).fold(f64::INFINITY, f64::min).min(0.0);
    let max_x = positions.iter().map(|p| p.x + NODE_WIDTH).fold(NODE_WIDTH, f64::max);
    let max_y = positions.iter().map(|p| p.y + NODE_HEIGHT).fold(NODE_HEIGHT, f64::max);
    let view_box =
        format!("{:.0} {:.0} {:.0} {:.0}", min_x - 10.0, min_y - 10.0, max_x - min_x + 20.0, max_y - min_y + 20.0);
    let edges: Vec<(String, Option<String>)> = definition
        .edges
        .iter()
        .filter_map(|e| Some((edge_path(*at.get(e.from.as_str())?, *at.get(e.to.as_str())?), e.branch.clone())))
        .collect();
    view! {
        <svg class="graph" viewBox=view_box data-testid="graph-preview" role="img" aria-label="workflow graph">
            {edges.into_iter().map(|(d, branch)| view! {
                <path class=format!("edge {}", branch.map(|b| format!("branch-{b}")).unwrap_or_default()) d=d/>
            }).collect_view()}
            {definition.nodes.iter().zip(positions.iter()).map(|(node, p)| view! {
                <g class=format!("node kind-{}", node.kind) transform=format!("translate({:.1},{:.1})", p.x, p.y)
                    data-testid="graph-node" data-node=node.id.clone()>
                    <rect width=NODE_WIDTH height=NODE_HEIGHT rx="8"/>
                    <text x="10" y="20" class="node-id">{node.id.clone()}</text>
                    <text x="10" y="38" class="node-kind">{node.kind.clone()}</text>
                </g>
            }).collect_view()}
        </svg>
    }
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
    fn a_cycle_does_not_hang_the_layout() {
        let d = definition(&[("a", "b"), ("b", "a")]);
        assert_eq!(auto_layout(&d).len(), 2);
    }
}
