//! The canvas: nodes and edges as SVG; drag a node to move it, drag from an
//! output port to an input port (or back from an input to an output) to
//! connect, "+" beside an output to add a node after it, drag the background to
//! pan, wheel to zoom, click to select.

use std::collections::HashSet;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::state::{Attachment, EditorNode, EditorState, Selection};
use crate::graph::{
    arrow_marker, curve, edge_path, kind_line, node_summary, output_port_y, output_ports, ArrowMarkers, BranchLabels,
    NODE_HEIGHT, NODE_WIDTH, PORT_RADIUS,
};
use crate::model::{Edge, Position};

/// Pan and zoom: canvas point p is drawn at `p * scale + (x, y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub x: f64,
    pub y: f64,
    pub scale: f64,
}

/// What the pointer is doing, between pointerdown and pointerup.
#[derive(Clone)]
enum Gesture {
    Idle,
    Drag {
        node: EditorNode,
        from: (f64, f64),
        start: Position,
        moved: bool,
    },
    Pan {
        from: (f64, f64),
        start: Viewport,
    },
    /// From an output dot, looking for an input.
    Connect {
        from: String,
        branch: Option<String>,
    },
    /// From an input dot, looking for an output.
    ConnectBack {
        to: String,
    },
}

/// The connection being dragged: one end at the dot it started from, the
/// other following the pointer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LooseEnd {
    dot: Position,
    pointer: Position,
    /// Started from an input dot: the edge runs from the pointer to the dot.
    backwards: bool,
}

impl LooseEnd {
    fn path(&self) -> String {
        let (from, to) = if self.backwards { (self.pointer, self.dot) } else { (self.dot, self.pointer) };
        curve(from.x, from.y, to.x, to.y)
    }
}

fn client(ev: &leptos::ev::PointerEvent) -> (f64, f64) {
    (f64::from(ev.client_x()), f64::from(ev.client_y()))
}

/// Zooms by `factor` keeping the canvas point under `(px, py)` (viewport pixels) in place.
pub fn zoom_at(view: Viewport, px: f64, py: f64, factor: f64) -> Viewport {
    let scale = (view.scale * factor).clamp(0.2, 3.0);
    let ratio = scale / view.scale;
    Viewport { x: px - (px - view.x) * ratio, y: py - (py - view.y) * ratio, scale }
}

/// The view that shows every node at `positions` in a canvas `width` ×
/// `height`, centred, with a margin; never zoomed in past 1 (a small graph
/// keeps its size), nor out past the zoom's floor.
pub fn fit_view(positions: &[Position], width: f64, height: f64) -> Option<Viewport> {
    const MARGIN: f64 = 40.0;
    let first = positions.first()?;
    let (mut left, mut top, mut right, mut bottom) = (first.x, first.y, first.x, first.y);
    for p in positions {
        left = left.min(p.x);
        top = top.min(p.y);
        right = right.max(p.x);
        bottom = bottom.max(p.y);
    }
    let (graph_width, graph_height) = (right + NODE_WIDTH - left, bottom + NODE_HEIGHT - top);
    let room = ((width - 2.0 * MARGIN).max(1.0), (height - 2.0 * MARGIN).max(1.0));
    let scale = (room.0 / graph_width).min(room.1 / graph_height).clamp(0.2, 1.0);
    Some(Viewport {
        x: (width - graph_width * scale) / 2.0 - left * scale,
        y: (height - graph_height * scale) / 2.0 - top * scale,
        scale,
    })
}

/// How far to pan (viewport pixels) so the node at `at` lies inside a canvas
/// `width` × `height`, with a margin; (0, 0) when it already does.
pub fn reveal_offset(view: Viewport, at: Position, width: f64, height: f64) -> (f64, f64) {
    const MARGIN: f64 = 48.0;
    let axis = |start: f64, size: f64, offset: f64, room: f64| {
        let (low, high) = (start * view.scale + offset, (start + size) * view.scale + offset);
        if high > room - MARGIN && low > MARGIN {
            (room - MARGIN - high).max(MARGIN - low)
        } else if low < MARGIN {
            MARGIN - low
        } else {
            0.0
        }
    };
    (axis(at.x, NODE_WIDTH, view.x, width), axis(at.y, NODE_HEIGHT, view.y, height))
}

#[component]
pub fn Canvas(
    state: EditorState,
    viewport: RwSignal<Viewport>,
    #[prop(into)] invalid: Signal<HashSet<String>>,
) -> impl IntoView {
    let gesture = StoredValue::new(Gesture::Idle);
    // The connection being dragged, if any (canvas coordinates).
    let loose_end = RwSignal::new(None::<LooseEnd>);

    let on_move = move |ev: leptos::ev::PointerEvent| {
        let (cx, cy) = client(&ev);
        match gesture.get_value() {
            Gesture::Idle => {}
            Gesture::Drag { node, from, start, moved } => {
                if !moved {
                    // The position before the drag is what undo goes back to.
                    state.checkpoint();
                    gesture.set_value(Gesture::Drag { node, from, start, moved: true });
                }
                let scale = viewport.get_untracked().scale;
                node.position.set(Position { x: start.x + (cx - from.0) / scale, y: start.y + (cy - from.1) / scale });
            }
            Gesture::Pan { from, start } => {
                viewport.set(Viewport { x: start.x + cx - from.0, y: start.y + cy - from.1, scale: start.scale });
            }
            Gesture::Connect { .. } | Gesture::ConnectBack { .. } => {
                let Some(svg) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
                let rect = svg.get_bounding_client_rect();
                let view = viewport.get_untracked();
                let at = Position {
                    x: (cx - rect.left() - view.x) / view.scale,
                    y: (cy - rect.top() - view.y) / view.scale,
                };
                loose_end.update(|end| {
                    if let Some(end) = end {
                        end.pointer = at;
                    }
                });
            }
        }
    };
    let on_up = move |_| {
        gesture.set_value(Gesture::Idle);
        loose_end.set(None);
    };
    let on_background_down = move |ev: leptos::ev::PointerEvent| {
        state.selected.set(Selection::None);
        state.attach_to.set(None);
        gesture.set_value(Gesture::Pan { from: client(&ev), start: viewport.get_untracked() });
    };
    let on_wheel = move |ev: leptos::ev::WheelEvent| {
        ev.prevent_default();
        let Some(svg) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
        let rect = svg.get_bounding_client_rect();
        let (px, py) = (f64::from(ev.client_x()) - rect.left(), f64::from(ev.client_y()) - rect.top());
        viewport.update(|v| *v = zoom_at(*v, px, py, (-ev.delta_y() * 0.0015).exp()));
    };
    let transform = move || {
        let v = viewport.get();
        format!("translate({:.1},{:.1}) scale({:.3})", v.x, v.y, v.scale)
    };
    // Edges are keyed by their ends, branch and the node generation (see EditorState::generation).
    let edges = move || {
        let generation = state.generation.get();
        state.edges.get().into_iter().enumerate().map(|(i, e)| (generation, i, e)).collect::<Vec<_>>()
    };

    view! {
        <svg class="canvas" data-testid="canvas" on:pointermove=on_move on:pointerup=on_up on:pointerleave=on_up on:wheel=on_wheel>
            <rect class="canvas-background" width="100%" height="100%" on:pointerdown=on_background_down/>
            <g transform=transform>
                <ArrowMarkers/>
                <For each=edges key=|(g, i, e)| (*g, *i, e.from.clone(), e.to.clone(), e.branch.clone()) let((_, index, edge))>
                    <EdgeView index edge state/>
                </For>
                {move || loose_end.get().map(|end| view! { <path class="edge loose" d=end.path()/> })}
                <For each=move || state.nodes.get() key=|n| n.key let(node)>
                    <NodeView node state gesture loose_end invalid/>
                </For>
            </g>
        </svg>
    }
}

#[component]
fn EdgeView(index: usize, edge: Edge, state: EditorState) -> impl IntoView {
    let (Some(from), Some(to)) = (state.node(&edge.from), state.node(&edge.to)) else { return ().into_any() };
    // It leaves from the dot it was drawn from (a condition's true or false dot).
    let (kind, leaves_by) = (from.kind.get_value(), edge.branch.clone());
    // A switch's dots move as cases are added or removed.
    let port_y = Memo::new(move |_| from.config.with(|config| output_port_y(&kind, config, leaves_by.as_deref())));
    // Only this edge's two ends (and its dot) are tracked: moving another node leaves it alone.
    let d = move || edge_path(from.position.get(), port_y.get(), to.position.get());
    let selected = move || state.selected.with(|s| *s == Selection::Edge(index));
    let branch = edge.branch.clone();
    let class = move || {
        let branch = branch.as_deref().map(|b| format!(" branch-{b}")).unwrap_or_default();
        format!("edge{branch}{}", if selected() { " selected" } else { "" })
    };
    let branch_name = edge.branch.clone().unwrap_or_default();
    let marker = move || arrow_marker(edge.branch.as_deref(), selected());
    view! {
        <g data-testid="editor-edge" data-from=from.id.get_value() data-to=to.id.get_value() data-branch=branch_name>
            <path class="edge-hit" d=d on:pointerdown=move |ev| { ev.stop_propagation(); state.selected.set(Selection::Edge(index)); }/>
            <path class=class d=d marker-end=marker data-testid="edge-line"/>
        </g>
    }
    .into_any()
}

#[component]
fn NodeView(
    node: EditorNode,
    state: EditorState,
    gesture: StoredValue<Gesture>,
    loose_end: RwSignal<Option<LooseEnd>>,
    invalid: Signal<HashSet<String>>,
) -> impl IntoView {
    let id = node.id.get_value();
    let kind = node.kind.get_value();
    let class = {
        let (id, kind) = (id.clone(), kind.clone());
        move || {
            let selected = state.selected.with(|s| matches!(s, Selection::Node(n) if *n == id));
            let bad = invalid.with(|set| set.contains(&id));
            format!("node kind-{kind}{}{}", if selected { " selected" } else { "" }, if bad { " invalid" } else { "" })
        }
    };
    let transform = move || {
        let p = node.position.get();
        format!("translate({:.1},{:.1})", p.x, p.y)
    };
    let on_down = {
        let id = id.clone();
        move |ev: leptos::ev::PointerEvent| {
            ev.stop_propagation();
            state.selected.set(Selection::Node(id.clone()));
            gesture.set_value(Gesture::Drag {
                node,
                from: client(&ev),
                start: node.position.get_untracked(),
                moved: false,
            });
        }
    };
    // Dropped on this input: the end of a drag that started at an output.
    let on_in_up = {
        let id = id.clone();
        move |_| {
            if let Gesture::Connect { from, branch } = gesture.get_value() {
                state.connect(&from, &id, branch);
            }
        }
    };
    // A drag may also start here and end on an output.
    let on_in_down = {
        let id = id.clone();
        move |ev: leptos::ev::PointerEvent| {
            ev.stop_propagation();
            let p = node.position.get_untracked();
            let dot = Position { x: p.x, y: p.y + NODE_HEIGHT / 2.0 };
            loose_end.set(Some(LooseEnd { dot, pointer: dot, backwards: true }));
            gesture.set_value(Gesture::ConnectBack { to: id.clone() });
        }
    };
    // The output dots: one, or one per branch (a switch's follow its cases).
    let port_id = id.clone();
    let ports = {
        let kind = kind.clone();
        Memo::new(move |_| node.config.with(|config| output_ports(&kind, config)))
    };
    let summary = {
        let kind = kind.clone();
        move || node.config.with(|config| node_summary(&kind, config))
    };
    let kind_text = {
        let kind = kind.clone();
        move || node.policy.with(|policy| kind_line(&kind, policy.for_each.as_ref()))
    };
    view! {
        <g class=class transform=transform data-testid="editor-node" data-node=id.clone() on:pointerdown=on_down>
            <rect width=NODE_WIDTH height=NODE_HEIGHT rx="8"/>
            <text x="12" y="20" class="node-id">{id.clone()}</text>
            <text x="12" y="36" class="node-kind" data-testid="node-kind">{kind_text}</text>
            <text x="12" y="52" class="node-summary" data-testid="node-summary">{summary}</text>
            // Pinned data is marked: trying nodes after it reads it, runs do not.
            {move || node.pinned.with(Option::is_some).then(|| view! {
                <text x=NODE_WIDTH - 44.0 y="20" class="pin-mark" data-testid="node-pinned">
                    <title>"Pinned output: tries use it, runs never do"</title>"pinned"
                </text>
            })}
            // From the dots' memo: typing in another field redraws nothing here.
            {move || view! { <BranchLabels ports=ports.get()/> }}
            <circle class="port in" cx="0" cy=NODE_HEIGHT / 2.0 r=PORT_RADIUS data-testid="port-in" on:pointerup=on_in_up
                on:pointerdown=on_in_down/>
            {move || ports.get().into_iter().map(|(branch, y)| {
                view! { <OutputPort node id=port_id.clone() branch y state gesture loose_end/> }
            }).collect_view()}
        </g>
    }
}

/// One output dot: drag from it to an input to connect (or drop on it a drag
/// that started at an input); its "+" adds a node after it.
#[component]
fn OutputPort(
    node: EditorNode,
    id: String,
    branch: Option<String>,
    y: f64,
    state: EditorState,
    gesture: StoredValue<Gesture>,
    loose_end: RwSignal<Option<LooseEnd>>,
) -> impl IntoView {
    let label = branch.clone().unwrap_or_default();
    let on_down = {
        let (id, branch) = (id.clone(), branch.clone());
        move |ev: leptos::ev::PointerEvent| {
            ev.stop_propagation();
            let p = node.position.get_untracked();
            let dot = Position { x: p.x + NODE_WIDTH, y: p.y + y };
            loose_end.set(Some(LooseEnd { dot, pointer: dot, backwards: false }));
            gesture.set_value(Gesture::Connect { from: id.clone(), branch: branch.clone() });
        }
    };
    let on_up = {
        let (id, branch) = (id.clone(), branch.clone());
        move |_| {
            if let Gesture::ConnectBack { to } = gesture.get_value() {
                state.connect(&id, &to, branch.clone());
            }
        }
    };
    let attachment = Attachment { from: id, branch };
    let waiting = {
        let attachment = attachment.clone();
        move || state.attach_to.with(|a| a.as_ref() == Some(&attachment))
    };
    let on_add = move |ev: leptos::ev::MouseEvent| {
        ev.stop_propagation();
        state.attach_to.set(Some(attachment.clone()));
    };
    // Right of the dot; shown when the node is selected or hovered (CSS), so
    // it does not sit on the edges leaving the dot the rest of the time.
    let plus_x = NODE_WIDTH + PORT_RADIUS + 12.0;
    view! {
        <circle class=format!("port out {label}") cx=NODE_WIDTH cy=y r=PORT_RADIUS data-testid="port-out"
            data-branch=label.clone() on:pointerdown=on_down on:pointerup=on_up/>
        <g class="add-after" class:waiting=waiting data-testid="add-after" data-branch=label
            on:pointerdown=|ev| ev.stop_propagation() on:click=on_add>
            <title>"Add a node after this one"</title>
            <circle cx=plus_x cy=y r="8"/>
            <path d=format!("M{:.1},{y:.1} h8 M{plus_x:.1},{:.1} v8", plus_x - 4.0, y - 4.0)/>
        </g>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zooming_keeps_the_point_under_the_pointer() {
        let view = Viewport { x: 10.0, y: 20.0, scale: 1.0 };
        let zoomed = zoom_at(view, 110.0, 120.0, 2.0);
        // The canvas point under (110, 120) was (100, 100) and still is.
        assert_eq!(((110.0 - zoomed.x) / zoomed.scale, (120.0 - zoomed.y) / zoomed.scale), (100.0, 100.0));
        assert_eq!(zoom_at(view, 0.0, 0.0, 100.0).scale, 3.0, "zoom is bounded");
    }

    #[test]
    fn fitting_shows_every_node_centred_and_never_zooms_in() {
        let wide = [Position { x: -500.0, y: 0.0 }, Position { x: 2500.0, y: 300.0 }];
        let view = fit_view(&wide, 1000.0, 600.0).unwrap();
        assert!(view.scale < 1.0);
        for p in wide {
            let (left, right) = (p.x * view.scale + view.x, (p.x + NODE_WIDTH) * view.scale + view.x);
            assert!(left >= 39.0 && right <= 961.0, "{left}..{right}");
        }
        let small = fit_view(&[Position { x: 0.0, y: 0.0 }], 1000.0, 600.0).unwrap();
        assert_eq!(small.scale, 1.0);
        assert_eq!((small.x, small.y), ((1000.0 - NODE_WIDTH) / 2.0, (600.0 - NODE_HEIGHT) / 2.0));
        assert_eq!(fit_view(&[], 1000.0, 600.0), None);
    }

    #[test]
    fn a_node_added_off_screen_is_panned_into_view() {
        let view = Viewport { x: 40.0, y: 40.0, scale: 1.0 };
        assert_eq!(reveal_offset(view, Position { x: 100.0, y: 100.0 }, 900.0, 600.0), (0.0, 0.0));
        let (dx, dy) = reveal_offset(view, Position { x: 1000.0, y: 100.0 }, 900.0, 600.0);
        assert_eq!(dy, 0.0);
        assert_eq!(1000.0 + NODE_WIDTH + view.x + dx, 900.0 - 48.0, "its right side lands inside the margin");
        let (dx, _) = reveal_offset(view, Position { x: -200.0, y: 100.0 }, 900.0, 600.0);
        assert_eq!(-200.0 + view.x + dx, 48.0);
    }
}
