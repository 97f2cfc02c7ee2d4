//! Why a node was skipped, in words: the engine skips a node when none of its
//! incoming edges delivered (a condition took the other branch, or the node
//! upstream was itself skipped or failed), and records no message for it.

use std::collections::BTreeMap;

use crate::model::{Edge, NodeRun, NodeStatus};

/// `skipped: condition `check` was false`, and so on; `None` for a node that
/// was not skipped.
pub fn skip_reason(node: &str, edges: &[Edge], runs: &BTreeMap<String, NodeRun>) -> Option<String> {
    if runs.get(node)?.status != NodeStatus::Skipped {
        return None;
    }
    let reasons: Vec<String> =
        edges.iter().filter(|edge| edge.to == node).filter_map(|edge| why_not_delivered(edge, runs)).collect();
    Some(match reasons.as_slice() {
        [] => "skipped".to_string(),
        _ => format!("skipped: {}", reasons.join("; ")),
    })
}

fn why_not_delivered(edge: &Edge, runs: &BTreeMap<String, NodeRun>) -> Option<String> {
    let from = runs.get(&edge.from)?;
    match (from.status, edge.branch.as_deref()) {
        (NodeStatus::Succeeded, Some(branch)) => {
            let taken = from.output.as_ref().and_then(|o| o.get("result")).and_then(|r| r.as_bool())?;
            let wanted = branch == "true";
            (taken != wanted).then(|| format!("condition `{}` was {taken}", edge.from))
        }
        (NodeStatus::Skipped, _) => Some(format!("`{}` was skipped", edge.from)),
        (NodeStatus::Failed, _) => Some(format!("`{}` failed", edge.from)),
        (NodeStatus::Cancelled, _) => Some(format!("`{}` was cancelled", edge.from)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(node: &str, status: NodeStatus, output: Option<serde_json::Value>) -> (String, NodeRun) {
        (node.to_string(), NodeRun { status, output, ..NodeRun::queued(1, node) })
    }

    fn edge(from: &str, to: &str, branch: Option<&str>) -> Edge {
        Edge { from: from.into(), to: to.into(), branch: branch.map(Into::into), extra: Default::default() }
    }

    #[test]
    fn a_skipped_node_names_the_condition_or_the_node_that_held_it_back() {
        let runs: BTreeMap<String, NodeRun> = [
            run("check", NodeStatus::Succeeded, Some(json!({"result": false}))),
            run("yes", NodeStatus::Skipped, None),
            run("no", NodeStatus::Succeeded, None),
            run("after_yes", NodeStatus::Skipped, None),
            run("broken", NodeStatus::Failed, None),
            run("after_broken", NodeStatus::Skipped, None),
        ]
        .into_iter()
        .collect();
        let edges = [
            edge("check", "yes", Some("true")),
            edge("check", "no", Some("false")),
            edge("yes", "after_yes", None),
            edge("broken", "after_broken", None),
        ];
        assert_eq!(skip_reason("yes", &edges, &runs).as_deref(), Some("skipped: condition `check` was false"));
        assert_eq!(skip_reason("after_yes", &edges, &runs).as_deref(), Some("skipped: `yes` was skipped"));
        assert_eq!(skip_reason("after_broken", &edges, &runs).as_deref(), Some("skipped: `broken` failed"));
        assert_eq!(skip_reason("no", &edges, &runs), None, "it ran");
    }
}
