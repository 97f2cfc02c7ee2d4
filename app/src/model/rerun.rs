//! Re-running an execution: which version runs, and which recorded results a
//! re-run "from the failed node" may reuse.
//!
//! A user who fixes a failed run saves a new version and re-runs: by default
//! the re-run takes the workflow's current version (as n8n's "retry with the
//! currently saved workflow"); the run's own version stays one click away.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{NodeDefinition, NodeRun, NodeStatus, WorkflowDefinition};

/// Which version of the workflow a re-run uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RerunVersion {
    /// The workflow's current saved version.
    #[default]
    Current,
    /// The version the execution ran.
    Original,
}

/// The recorded results of `earlier` (an execution of `old`) that a re-run of
/// `new` from the failed node may reuse instead of running the node again.
///
/// A result is reused only when it would be the same again: the node succeeded,
/// and it and every node upstream of it are unchanged between the two versions
/// (same kind, config, timeout, retry and error handling, same incoming edges;
/// where a node is drawn does not matter). A node whose upstream changed runs
/// again, so nothing downstream of an edit sees a stale input.
pub fn reusable_results(old: &WorkflowDefinition, new: &WorkflowDefinition, earlier: Vec<NodeRun>) -> Vec<NodeRun> {
    let unchanged = unchanged_nodes(old, new);
    earlier.into_iter().filter(|run| run.status == NodeStatus::Succeeded && unchanged.contains(&run.node_id)).collect()
}

/// The ids of the nodes of `new` that, with everything upstream of them, are
/// the same in `old`.
fn unchanged_nodes(old: &WorkflowDefinition, new: &WorkflowDefinition) -> HashSet<String> {
    let incoming_old = incoming(old);
    let incoming_new = incoming(new);
    let same_alone: HashSet<&str> = new
        .nodes
        .iter()
        .filter(|node| {
            old.node(&node.id).is_some_and(|before| same_behaviour(before, node))
                && incoming_old.get(node.id.as_str()) == incoming_new.get(node.id.as_str())
        })
        .map(|node| node.id.as_str())
        .collect();
    // A node is unchanged when it is the same alone and all its upstream nodes
    // are unchanged: resolved by walking up, remembering each answer (the
    // definition may be any graph validation accepted; a cycle counts as changed).
    let mut known: HashMap<&str, bool> = HashMap::new();
    fn resolve<'a>(
        id: &'a str,
        same_alone: &HashSet<&'a str>,
        incoming: &HashMap<&'a str, Vec<(&'a str, Option<&'a str>)>>,
        known: &mut HashMap<&'a str, bool>,
    ) -> bool {
        if let Some(answer) = known.get(id) {
            return *answer;
        }
        known.insert(id, false); // on a cycle, the walk meets this and stops
        let answer = same_alone.contains(id)
            && incoming.get(id).into_iter().flatten().all(|(from, _)| resolve(from, same_alone, incoming, known));
        known.insert(id, answer);
        answer
    }
    new.nodes
        .iter()
        .filter(|node| resolve(&node.id, &same_alone, &incoming_new, &mut known))
        .map(|node| node.id.clone())
        .collect()
}

/// Each node's incoming edges, as sorted `(from, branch)` pairs.
fn incoming(definition: &WorkflowDefinition) -> HashMap<&str, Vec<(&str, Option<&str>)>> {
    let mut incoming: HashMap<&str, Vec<(&str, Option<&str>)>> = HashMap::new();
    for edge in &definition.edges {
        incoming.entry(edge.to.as_str()).or_default().push((edge.from.as_str(), edge.branch.as_deref()));
    }
    for edges in incoming.values_mut() {
        edges.sort_unstable();
    }
    incoming
}

/// Two definitions of a node that behave the same (positions aside).
fn same_behaviour(a: &NodeDefinition, b: &NodeDefinition) -> bool {
    a.kind == b.kind
        && a.config == b.config
        && a.timeout_ms == b.timeout_ms
        && a.retry == b.retry
        && a.on_error == b.on_error
        && a.extra == b.extra
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn definition(nodes: serde_json::Value, edges: serde_json::Value) -> WorkflowDefinition {
        serde_json::from_value(json!({"name": "w", "nodes": nodes, "edges": edges})).unwrap()
    }

    fn succeeded(node: &str) -> NodeRun {
        NodeRun { status: NodeStatus::Succeeded, ..NodeRun::queued(1, node) }
    }

    fn reused(old: &WorkflowDefinition, new: &WorkflowDefinition, runs: &[&str]) -> Vec<String> {
        let earlier = runs.iter().map(|n| succeeded(n)).collect();
        let mut ids: Vec<String> = reusable_results(old, new, earlier).into_iter().map(|r| r.node_id).collect();
        ids.sort();
        ids
    }

    fn chain(url: &str) -> WorkflowDefinition {
        definition(
            json!([
                {"id": "prepare", "type": "template", "config": {"template": "x"}, "position": {"x": 0, "y": 0}},
                {"id": "call", "type": "http", "config": {"method": "GET", "url": url}},
                {"id": "after", "type": "template", "config": {"template": "{{ nodes.call.status }}"}}
            ]),
            json!([{"from": "prepare", "to": "call"}, {"from": "call", "to": "after"}]),
        )
    }

    #[test]
    fn the_same_version_reuses_every_succeeded_node_and_nothing_else() {
        let v = chain("http://a");
        let earlier = vec![succeeded("prepare"), NodeRun { status: NodeStatus::Failed, ..NodeRun::queued(1, "call") }];
        let kept: Vec<String> = reusable_results(&v, &v, earlier).into_iter().map(|r| r.node_id).collect();
        assert_eq!(kept, ["prepare"]);
    }

    #[test]
    fn a_fixed_node_runs_again_and_so_does_everything_below_it() {
        let (old, new) = (chain("http://broken"), chain("http://fixed"));
        assert_eq!(reused(&old, &new, &["prepare", "call", "after"]), ["prepare"]);
    }

    #[test]
    fn moving_a_node_changes_nothing_but_a_new_edge_or_a_removed_node_does() {
        let old = chain("http://a");
        let mut moved = old.clone();
        moved.nodes[0].position = Some(crate::model::Position { x: 300.0, y: 40.0 });
        assert_eq!(reused(&old, &moved, &["prepare", "call", "after"]), ["after", "call", "prepare"]);

        let mut rewired = old.clone();
        rewired.edges.retain(|e| e.to != "after");
        rewired.edges.push(serde_json::from_value(json!({"from": "prepare", "to": "after"})).unwrap());
        assert_eq!(reused(&old, &rewired, &["prepare", "call", "after"]), ["call", "prepare"]);

        let mut removed = old.clone();
        removed.nodes.retain(|n| n.id != "call");
        removed.edges = vec![serde_json::from_value(json!({"from": "prepare", "to": "after"})).unwrap()];
        assert_eq!(reused(&old, &removed, &["prepare", "call", "after"]), ["prepare"]);
    }
}
