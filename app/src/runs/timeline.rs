//! The run's timeline: one bar per node from its start to its end, on a shared
//! time axis, so nodes that ran in parallel show as overlapping bars.

use leptos::prelude::*;

use crate::model::{NodeRun, NodeStatus};

/// Where a node's bar sits, in percent of the axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Span {
    pub node: String,
    pub status: NodeStatus,
    pub left: f64,
    pub width: f64,
    pub millis: i64,
}

/// Lays out the spans of the nodes that started; a running node ends at `now`.
pub fn layout(runs: &[NodeRun], now: i64) -> Vec<Span> {
    let started: Vec<(&NodeRun, i64, i64)> = runs
        .iter()
        .filter_map(|r| r.started_at.map(|start| (r, start, r.finished_at.unwrap_or(now).max(start))))
        .collect();
    let Some(t0) = started.iter().map(|(_, s, _)| *s).min() else { return Vec::new() };
    let t1 = started.iter().map(|(_, _, e)| *e).max().unwrap_or(t0);
    let total = (t1 - t0).max(1) as f64;
    let mut spans: Vec<Span> = started
        .into_iter()
        .map(|(run, start, end)| Span {
            node: run.node_id.clone(),
            status: run.status,
            left: (start - t0) as f64 / total * 100.0,
            // Instant nodes still get a visible sliver.
            width: ((end - start) as f64 / total * 100.0).max(0.5),
            millis: end - start,
        })
        .collect();
    // In the order the nodes ran: by start, then by end (a node that started
    // and ended in the same millisecond as the next one started comes first).
    spans.sort_by(|a, b| {
        a.left.total_cmp(&b.left).then_with(|| a.millis.cmp(&b.millis)).then_with(|| a.node.cmp(&b.node))
    });
    spans
}

#[component]
pub fn Timeline(#[prop(into)] spans: Signal<Vec<Span>>) -> impl IntoView {
    view! {
        <section class="card timeline" data-testid="timeline">
            <h2>"Timeline"</h2>
            {move || spans.with(Vec::is_empty).then(|| view! { <p class="muted">"No node has started yet."</p> })}
            // Drawn afresh from the memoized spans on each change (a handful of
            // rows): a keyed list whose keys change with each state moved rows
            // out of the order the spans are in.
            {move || spans.get().into_iter().map(|span| view! {
                <div class="span-row" data-testid="span-row" data-node=span.node.clone()>
                    <span class="span-label">{span.node.clone()}</span>
                    <span class="span-track">
                        <span
                            class=format!("span-bar status-{}", span.status)
                            data-testid="span"
                            data-node=span.node.clone()
                            style:left=format!("{:.2}%", span.left)
                            style:width=format!("{:.2}%", span.width)
                            title=format!("{} ms", span.millis)
                        ></span>
                    </span>
                    <span class="span-time muted">{format!("{} ms", span.millis)}</span>
                </div>
            }).collect_view()}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NodeStatus;

    fn run(node: &str, started: Option<i64>, finished: Option<i64>) -> NodeRun {
        NodeRun {
            execution_id: 1,
            node_id: node.into(),
            status: if finished.is_some() { NodeStatus::Succeeded } else { NodeStatus::Running },
            attempt: 1,
            input: None,
            output: None,
            error: None,
            started_at: started,
            finished_at: finished,
        }
    }

    #[test]
    fn parallel_nodes_overlap_and_a_chain_does_not() {
        let spans = layout(
            &[
                run("a", Some(1000), Some(1100)),
                run("b", Some(1100), Some(1300)),
                run("c", Some(1100), Some(1200)),
                run("d", None, None),
            ],
            2000,
        );
        let by = |n: &str| spans.iter().find(|s| s.node == n).unwrap().clone();
        assert_eq!(spans.len(), 3, "a node that never started has no span");
        assert_eq!(by("a").left, 0.0);
        assert!((by("a").width - 100.0 / 3.0).abs() < 1e-9, "a took 100 of the 300 ms");
        assert_eq!(by("b").left, by("c").left, "b and c started together");
        assert!(by("a").left + by("a").width <= by("b").left + 1e-9);
    }

    #[test]
    fn an_instant_node_comes_before_the_one_it_started_at_the_same_millisecond() {
        let spans = layout(&[run("delay_1", Some(100), Some(4100)), run("start", Some(100), Some(100))], 5000);
        let order: Vec<&str> = spans.iter().map(|s| s.node.as_str()).collect();
        assert_eq!(order, ["start", "delay_1"]);
    }

    #[test]
    fn a_running_node_reaches_now() {
        let spans = layout(&[run("a", Some(0), Some(10)), run("b", Some(10), None)], 100);
        assert_eq!(spans[1].millis, 90);
        assert!((spans[1].left + spans[1].width - 100.0).abs() < 1e-9);
    }
}
