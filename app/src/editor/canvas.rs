//! The canvas: nodes and edges as SVG; drag a node to move it, drag from an
//! output port to an input port to connect, drag the background to pan, wheel
//! to zoom, click to select.

use std::collections::HashSet;

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::state::{EditorNode, EditorState, Selection};
use crate::graph::{edge_path, NODE_HEIGHT, NODE_WIDTH};
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
    Drag { node: EditorNode, from: (f64, f64), start: Position, moved: bool },
    Pan { from: (f64, f64), start: Viewport },
    Connect { from: String, branch: Option<String> },
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

#[component]
pub fn Canvas(
    state: EditorState,
    viewport: RwSignal<Viewport>,
    #[prop(into)] invalid: Signal<HashSet<String>>,
) -> impl IntoView {
    let gesture = StoredValue::new(Gesture::Idle);
    // Where a new connection's loose end is (canvas coordinates).
    let loose_end = RwSignal::new(None::<(Position, Position)>);

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
            Gesture::Connect { .. } => {
                let Some(svg) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
                let rect = svg.get_bounding_client_rect();
                let view = viewport.get_untracked();
                let at = Position {
                    x: (cx - rect.left() - view.x) / view.scale,
                    y: (cy - rect.top() - view.y) / view.scale,
                };
                loose_end.update(|end| {
                    if let Some((_, to)) = end {
                        *to = at;
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
    // Edges are keyed by their ends and the node generation (see EditorState::generation).
    let edges = move || {
        let generation = state.generation.get();
        state.edges.get().into_iter().enumerate().map(|(i, e)| (generation, i, e)).collect::<Vec<_>>()
    };

    view! {
        <svg class="canvas" data-testid="canvas" on:pointermove=on_move on:pointerup=on_up on:pointerleave=on_up on:wheel=on_wheel>
            <rect class="canvas-background" width="100%" height="100%" on:pointerdown=on_background_down/>
            <g transform=transform>
                <For each=edges key=|(g, i, e)| (*g, *i, e.from.clone(), e.to.clone()) let((_, index, edge))>
                    <EdgeView index edge state/>
                </For>
                {move || loose_end.get().map(|(from, to)| view! {
                    <path class="edge loose" d=edge_path(Position { x: from.x - NODE_WIDTH, y: from.y - NODE_HEIGHT / 2.0 },
                        Position { x: to.x, y: to.y - NODE_HEIGHT / 2.0 })/>
                })}
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
    // Only this edge's two ends are tracked: moving another node leaves it alone.
    let d = move || edge_path(from.position.get(), to.position.get());
    let selected = move || state.selected.with(|s| *s == Selection::Edge(index));
    let class = move || {
        let branch = edge.branch.as_deref().map(|b| format!(" branch-{b}")).unwrap_or_default();
        format!("edge{branch}{}", if selected() { " selected" } else { "" })
    };
    view! {
        <g data-testid="editor-edge" data-from=from.id.get_value() data-to=to.id.get_value()>
            <path class="edge-hit" d=d on:pointerdown=move |ev| { ev.stop_propagation(); state.selected.set(Selection::Edge(index)); }/>
            <path class=class d=d/>
        </g>
    }
    .into_any()
}

#[component]
fn NodeView(
    node: EditorNode,
    state: EditorState,
    gesture: StoredValue<Gesture>,
    loose_end: RwSignal<Option<(Position, Position)>>,
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
    let on_in = {
        let id = id.clone();
        move |_| {
            if let Gesture::Connect { from, branch } = gesture.get_value() {
                state.connect(&from, &id, branch);
            }
        }
    };
    let outputs: Vec<(Option<String>, f64)> = if kind == "condition" {
        vec![(Some("true".into()), NODE_HEIGHT / 3.0), (Some("false".into()), NODE_HEIGHT * 2.0 / 3.0)]
    } else {
        vec![(None, NODE_HEIGHT / 2.0)]
    };
    view! {
        <g class=class transform=transform data-testid="editor-node" data-node=id.clone() on:pointerdown=on_down>
            <rect width=NODE_WIDTH height=NODE_HEIGHT rx="8"/>
            <text x="12" y="20" class="node-id">{id.clone()}</text>
            <text x="12" y="38" class="node-kind">{kind.clone()}</text>
            <circle class="port in" cx="0" cy=NODE_HEIGHT / 2.0 r="7" data-testid="port-in" on:pointerup=on_in
                on:pointerdown=|ev| ev.stop_propagation()/>
            {outputs.into_iter().map(|(branch, y)| {
                let (id, label) = (id.clone(), branch.clone().unwrap_or_default());
                let on_out = move |ev: leptos::ev::PointerEvent| {
                    ev.stop_propagation();
                    let p = node.position.get_untracked();
                    let start = Position { x: p.x + NODE_WIDTH, y: p.y + y };
                    loose_end.set(Some((Position { x: start.x, y: start.y }, start)));
                    gesture.set_value(Gesture::Connect { from: id.clone(), branch: branch.clone() });
                };
                view! {
                    <circle class=format!("port out {label}") cx=NODE_WIDTH cy=y r="7" data-testid="port-out"
                        data-branch=label.clone() on:pointerdown=on_out/>
                }
            }).collect_view()}
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
}
