//! The minimap: the whole graph small, in a corner of the canvas, with the
//! part in view outlined, shown while some node is out of view. A click or a
//! drag on it centres the view there, at the same zoom: the way around a
//! graph larger than the screen.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::canvas::Viewport;
use super::state::EditorState;
use crate::graph::{NODE_HEIGHT, NODE_WIDTH};
use crate::model::Position;

/// The minimap's size in pixels, and the room kept around what it draws.
const WIDTH: f64 = 200.0;
const HEIGHT: f64 = 130.0;
const PADDING: f64 = 6.0;

/// A box in canvas coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    pub left: f64,
    pub top: f64,
    pub right: f64,
    pub bottom: f64,
}

impl Bounds {
    /// The part of the canvas in view, in a canvas `width` × `height`.
    pub fn in_view(view: Viewport, width: f64, height: f64) -> Self {
        Self {
            left: -view.x / view.scale,
            top: -view.y / view.scale,
            right: (width - view.x) / view.scale,
            bottom: (height - view.y) / view.scale,
        }
    }

    fn of_node(at: Position) -> Self {
        Self { left: at.x, top: at.y, right: at.x + NODE_WIDTH, bottom: at.y + NODE_HEIGHT }
    }

    fn union(self, other: Self) -> Self {
        Self {
            left: self.left.min(other.left),
            top: self.top.min(other.top),
            right: self.right.max(other.right),
            bottom: self.bottom.max(other.bottom),
        }
    }
}

/// How the minimap draws the canvas: canvas point p at `p * scale + (x, y)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MiniFrame {
    pub x: f64,
    pub y: f64,
    pub scale: f64,
}

impl MiniFrame {
    /// The frame that shows every node and the part in view, centred.
    pub fn fitting(nodes: &[Position], in_view: Bounds) -> Self {
        let all = nodes.iter().fold(in_view, |all, at| all.union(Bounds::of_node(*at)));
        let (width, height) = ((all.right - all.left).max(1.0), (all.bottom - all.top).max(1.0));
        let scale = ((WIDTH - 2.0 * PADDING) / width).min((HEIGHT - 2.0 * PADDING) / height);
        Self {
            x: (WIDTH - width * scale) / 2.0 - all.left * scale,
            y: (HEIGHT - height * scale) / 2.0 - all.top * scale,
            scale,
        }
    }

    /// The canvas point drawn at minimap pixel `(mx, my)`.
    pub fn canvas_point(self, mx: f64, my: f64) -> Position {
        Position { x: (mx - self.x) / self.scale, y: (my - self.y) / self.scale }
    }

    fn transform(self) -> String {
        format!("translate({:.2},{:.2}) scale({:.5})", self.x, self.y, self.scale)
    }
}

/// The view that centres canvas point `at` in a canvas `width` × `height`, at the same zoom.
pub fn centred_on(view: Viewport, at: Position, width: f64, height: f64) -> Viewport {
    Viewport { x: width / 2.0 - at.x * view.scale, y: height / 2.0 - at.y * view.scale, scale: view.scale }
}

#[component]
pub fn Minimap(state: EditorState, viewport: RwSignal<Viewport>) -> impl IntoView {
    // The canvas's size, measured in the browser whenever the view or the
    // nodes change (effects do not run on the server).
    let size = RwSignal::new((0.0, 0.0));
    Effect::new(move |_| {
        viewport.track();
        state.nodes.track();
        if let Some(canvas) = document().query_selector("[data-testid=canvas]").ok().flatten() {
            let rect = canvas.get_bounding_client_rect();
            size.set((rect.width(), rect.height()));
        }
    });
    // Every node's position, tracked (a drag on the canvas moves its mark here).
    let positions =
        Memo::new(move |_| state.nodes.with(|nodes| nodes.iter().map(|n| n.position.get()).collect::<Vec<_>>()));
    let shown = Memo::new(move |_| {
        let (width, height) = size.get();
        Bounds::in_view(viewport.get(), width, height)
    });
    // While the pointer is down the frame stays as it was: the view moves
    // under the pointer, not the map.
    let held = StoredValue::new(None::<MiniFrame>);
    let frame = Memo::new(move |_| {
        let fitting = MiniFrame::fitting(&positions.get(), shown.get());
        held.get_value().unwrap_or(fitting)
    });
    // Shown when a node is out of view (or the map is held): a graph that fits
    // needs no map, and the map then covers nothing of it.
    let needed = Memo::new(move |_| {
        let view = shown.get();
        let measured = size.with(|(width, _)| *width > 0.0);
        let outside = |at: &Position| {
            let node = Bounds::of_node(*at);
            node.left < view.left || node.top < view.top || node.right > view.right || node.bottom > view.bottom
        };
        measured && positions.with(|all| all.iter().any(outside))
    });
    let go_to = move |ev: &leptos::ev::PointerEvent, frame: MiniFrame| {
        let Some(map) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
        let rect = map.get_bounding_client_rect();
        let at = frame.canvas_point(f64::from(ev.client_x()) - rect.left(), f64::from(ev.client_y()) - rect.top());
        let (width, height) = size.get_untracked();
        viewport.update(|view| *view = centred_on(*view, at, width, height));
    };
    let on_down = move |ev: leptos::ev::PointerEvent| {
        ev.stop_propagation();
        let now = frame.get_untracked();
        held.set_value(Some(now));
        // Moves outside the map still steer the view until the button is up.
        if let Some(map) = ev.current_target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) {
            let _ = map.set_pointer_capture(ev.pointer_id());
        }
        go_to(&ev, now);
    };
    let on_move = move |ev: leptos::ev::PointerEvent| {
        if let Some(frame) = held.get_value() {
            go_to(&ev, frame);
        }
    };
    let on_up = move |_| held.set_value(None);

    view! {
        <Show when=move || needed.get() || held.get_value().is_some()>
            <svg class="minimap" data-testid="minimap" width=WIDTH height=HEIGHT on:pointerdown=on_down
                on:pointermove=on_move on:pointerup=on_up on:pointercancel=on_up>
                <title>"The whole graph: click or drag to move the view there"</title>
                // Canvas coordinates inside: a pan changes one attribute, not every mark.
                <g transform=move || frame.get().transform()>
                    // One mark per node, following its position alone: dragging
                    // a node on the canvas moves one mark here.
                    <For each=move || state.nodes.get() key=|node| node.key let(node)>
                        <rect class="minimap-node" data-testid="minimap-node" x=move || node.position.get().x
                            y=move || node.position.get().y width=NODE_WIDTH height=NODE_HEIGHT rx="8"/>
                    </For>
                    {move || {
                        let view = shown.get();
                        view! {
                            <rect class="minimap-view" data-testid="minimap-view" x=view.left y=view.top
                                width=(view.right - view.left).max(0.0) height=(view.bottom - view.top).max(0.0)
                                vector-effect="non-scaling-stroke"/>
                        }
                    }}
                </g>
            </svg>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_holds_every_node_and_the_view_and_maps_back() {
        let nodes = [Position { x: 0.0, y: 0.0 }, Position { x: 3000.0, y: 400.0 }];
        let view = Bounds::in_view(Viewport { x: 0.0, y: 0.0, scale: 1.0 }, 1000.0, 600.0);
        let frame = MiniFrame::fitting(&nodes, view);
        let drawn = |p: Position| (p.x * frame.scale + frame.x, p.y * frame.scale + frame.y);
        let far = Position { x: 3000.0 + NODE_WIDTH, y: 600.0 };
        for corner in [Position { x: 0.0, y: 0.0 }, far] {
            let (mx, my) = drawn(corner);
            assert!((PADDING - 0.01..=WIDTH - PADDING + 0.01).contains(&mx), "{mx}");
            assert!((0.0..=HEIGHT).contains(&my), "{my}");
            let back = frame.canvas_point(mx, my);
            assert!((back.x - corner.x).abs() < 1e-6 && (back.y - corner.y).abs() < 1e-6);
        }
    }

    #[test]
    fn centring_keeps_the_zoom_and_puts_the_point_mid_canvas() {
        let view = Viewport { x: 10.0, y: 20.0, scale: 0.5 };
        let centred = centred_on(view, Position { x: 400.0, y: 300.0 }, 1000.0, 600.0);
        assert_eq!(centred.scale, 0.5);
        assert_eq!((400.0 * centred.scale + centred.x, 300.0 * centred.scale + centred.y), (500.0, 300.0));
        let in_view = Bounds::in_view(centred, 1000.0, 600.0);
        assert_eq!((in_view.left + in_view.right) / 2.0, 400.0);
        assert_eq!((in_view.top + in_view.bottom) / 2.0, 300.0);
    }
}
