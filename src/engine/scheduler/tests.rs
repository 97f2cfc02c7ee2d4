use super::*;
use app::model::{validate, WorkflowDefinition};
use proptest::prelude::*;
use serde_json::json;

fn workflow(value: serde_json::Value) -> ValidatedWorkflow {
    let definition: WorkflowDefinition = serde_json::from_value(value).unwrap();
    validate(&definition).unwrap()
}

fn index_of(s: &Scheduler, id: &str) -> NodeIndex {
    (0..s.len()).find(|&i| s.id(i) == id).unwrap()
}

fn drain(s: &mut Scheduler) -> Vec<String> {
    let handed_out: Vec<NodeIndex> = std::iter::from_fn(|| s.next_ready()).collect();
    handed_out.into_iter().map(|i| s.id(i).to_string()).collect()
}

#[test]
fn a_switch_goes_on_by_the_case_it_took_only() {
    let mut s = Scheduler::new(&workflow(json!({"name": "w", "nodes": [
        {"id": "route", "type": "switch", "config": {"cases": [{"name": "a", "expr": "x"}, {"name": "b", "expr": "y"}]}},
        {"id": "on_a", "type": "delay", "config": {"ms": 1}},
        {"id": "on_b", "type": "delay", "config": {"ms": 1}},
        {"id": "otherwise", "type": "delay", "config": {"ms": 1}}
    ], "edges": [
        {"from": "route", "to": "on_a", "branch": "a"},
        {"from": "route", "to": "on_b", "branch": "b"},
        {"from": "route", "to": "on_b", "branch": "default"},
        {"from": "route", "to": "otherwise", "branch": "default"}
    ]})));
    assert_eq!(drain(&mut s), ["route"]);
    // Case `b` (index 1): `on_b` runs, the others are skipped.
    let skipped = s.complete(index_of(&s, "route"), Completion::Succeeded { branch: Some(1) });
    let skipped: Vec<&str> = skipped.iter().map(|(i, _)| s.id(*i)).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped.contains(&"on_a") && skipped.contains(&"otherwise"), "{skipped:?}");
    assert_eq!(drain(&mut s), ["on_b"]);
}

fn branching() -> ValidatedWorkflow {
    workflow(json!({"name": "w", "nodes": [
        {"id": "fetch", "type": "delay", "config": {"ms": 1}},
        {"id": "ok", "type": "condition", "config": {"expr": "true"}},
        {"id": "sum", "type": "delay", "config": {"ms": 1}},
        {"id": "after_sum", "type": "delay", "config": {"ms": 1}},
        {"id": "oops", "type": "delay", "config": {"ms": 1}},
        {"id": "join", "type": "merge"}
    ], "edges": [
        {"from": "fetch", "to": "ok"},
        {"from": "ok", "to": "sum", "branch": "true"},
        {"from": "sum", "to": "after_sum"},
        {"from": "ok", "to": "oops", "branch": "false"},
        {"from": "after_sum", "to": "join"},
        {"from": "oops", "to": "join"}
    ]}))
}

#[test]
fn an_untaken_branch_is_skipped_with_everything_only_it_reaches() {
    let mut s = Scheduler::new(&branching());
    assert_eq!(drain(&mut s), ["fetch"]);
    assert!(s.complete(index_of(&s, "fetch"), Completion::Succeeded { branch: None }).is_empty());
    assert_eq!(drain(&mut s), ["ok"]);
    let skipped = s.complete(index_of(&s, "ok"), Completion::Succeeded { branch: Some(1) });
    let skipped: Vec<_> = skipped.iter().map(|(i, state)| (s.id(*i), *state)).collect();
    assert_eq!(skipped, [("sum", NodeState::Skipped), ("after_sum", NodeState::Skipped)]);
    assert_eq!(drain(&mut s), ["oops"]);
    s.complete(index_of(&s, "oops"), Completion::Succeeded { branch: None });
    // The merge runs: one of its inputs is live.
    assert_eq!(drain(&mut s), ["join"]);
    assert_eq!(s.live_inputs(index_of(&s, "join")), [index_of(&s, "oops")]);
    s.complete(index_of(&s, "join"), Completion::Succeeded { branch: None });
    assert!(s.is_finished() && !s.has_failed());
}

#[test]
fn a_node_whose_every_input_is_skipped_is_skipped() {
    let mut s = Scheduler::new(&workflow(json!({"name": "w", "nodes": [
        {"id": "c", "type": "condition", "config": {"expr": "true"}},
        {"id": "a", "type": "delay", "config": {"ms": 1}},
        {"id": "b", "type": "delay", "config": {"ms": 1}},
        {"id": "m", "type": "merge"}
    ], "edges": [
        {"from": "c", "to": "a", "branch": "true"},
        {"from": "c", "to": "b", "branch": "true"},
        {"from": "a", "to": "m"},
        {"from": "b", "to": "m"}
    ]})));
    drain(&mut s);
    let decided = s.complete(index_of(&s, "c"), Completion::Succeeded { branch: Some(1) });
    assert_eq!(decided.len(), 3);
    assert!(decided.iter().all(|(_, state)| *state == NodeState::Skipped));
    assert!(s.is_finished());
}

#[test]
fn independent_nodes_are_ready_together() {
    let mut s = Scheduler::new(&workflow(json!({"name": "w", "nodes": [
        {"id": "a", "type": "delay", "config": {"ms": 1}},
        {"id": "b", "type": "delay", "config": {"ms": 1}},
        {"id": "c", "type": "delay", "config": {"ms": 1}},
        {"id": "m", "type": "merge"}
    ], "edges": [{"from": "a", "to": "m"}, {"from": "b", "to": "m"}, {"from": "c", "to": "m"}]})));
    assert_eq!(drain(&mut s), ["a", "b", "c"]);
    assert_eq!(s.running(), 3);
}

#[test]
fn a_failure_under_fail_cancels_what_has_not_started() {
    let mut s = Scheduler::new(&workflow(json!({"name": "w", "nodes": [
        {"id": "a", "type": "delay", "config": {"ms": 1}},
        {"id": "slow", "type": "delay", "config": {"ms": 1}},
        {"id": "b", "type": "delay", "config": {"ms": 1}}
    ], "edges": [{"from": "a", "to": "b"}]})));
    drain(&mut s);
    let cancelled = s.complete(index_of(&s, "a"), Completion::Failed);
    assert_eq!(cancelled, [(index_of(&s, "b"), NodeState::Cancelled)]);
    assert!(s.has_failed());
    assert!(!s.is_finished(), "`slow` is still running");
    s.cancelled_running(index_of(&s, "slow"));
    assert!(s.is_finished());
}

#[test]
fn a_failure_under_continue_lets_downstream_run() {
    let mut s = Scheduler::new(&workflow(json!({"name": "w", "nodes": [
        {"id": "a", "type": "delay", "config": {"ms": 1}, "on_error": "continue"},
        {"id": "b", "type": "delay", "config": {"ms": 1}}
    ], "edges": [{"from": "a", "to": "b"}]})));
    drain(&mut s);
    assert!(s.complete(index_of(&s, "a"), Completion::Failed).is_empty());
    assert_eq!(drain(&mut s), ["b"]);
    assert!(!s.has_failed());
}

#[test]
fn cancelling_from_outside_stops_handing_out_nodes() {
    let mut s = Scheduler::new(&branching());
    drain(&mut s);
    let cancelled = s.cancel();
    assert_eq!(cancelled.len(), 5);
    s.cancelled_running(index_of(&s, "fetch"));
    assert!(s.is_finished() && s.has_failed());
    assert_eq!(s.next_ready(), None);
}

/// A random DAG: edges only go from lower to higher indices. Some nodes are
/// conditions; some continue on error.
#[derive(Debug, Clone)]
struct RandomDag {
    conditions: Vec<bool>,
    continue_on_error: Vec<bool>,
    edges: Vec<(usize, usize, bool)>,
}

fn random_dag() -> impl Strategy<Value = RandomDag> {
    (1usize..14).prop_flat_map(|n| {
        let pairs: Vec<(usize, usize)> = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).collect();
        let edge_count = pairs.len();
        (
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec((any::<bool>(), any::<bool>()), edge_count),
        )
            .prop_map(move |(conditions, continue_on_error, picks)| {
                let edges = pairs
                    .iter()
                    .zip(picks)
                    .filter(|(_, (keep, _))| *keep)
                    .map(|(&(a, b), (_, branch))| (a, b, branch))
                    .collect();
                RandomDag { conditions, continue_on_error, edges }
            })
    })
}

impl RandomDag {
    fn workflow(&self) -> ValidatedWorkflow {
        let nodes: Vec<_> = (0..self.conditions.len())
            .map(|i| {
                let on_error = if self.continue_on_error[i] { "continue" } else { "fail" };
                if self.conditions[i] {
                    json!({"id": format!("n{i}"), "type": "condition", "config": {"expr": "true"}, "on_error": on_error})
                } else {
                    json!({"id": format!("n{i}"), "type": "merge", "on_error": on_error})
                }
            })
            .collect();
        let edges: Vec<_> = self
            .edges
            .iter()
            .map(|&(a, b, branch)| {
                if self.conditions[a] {
                    json!({"from": format!("n{a}"), "to": format!("n{b}"), "branch": branch.to_string()})
                } else {
                    json!({"from": format!("n{a}"), "to": format!("n{b}")})
                }
            })
            .collect();
        workflow(json!({"name": "random", "nodes": nodes, "edges": edges}))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Drives the scheduler like the driver does, with a concurrency bound and
    /// completions in a random order, and checks every rule at each step.
    #[test]
    fn random_dags_respect_order_skips_and_the_concurrency_bound(
        dag in random_dag(),
        bound in 1usize..5,
        seed in any::<u64>(),
    ) {
        let validated = dag.workflow();
        let n = validated.nodes.len();
        let pos: HashMap<String, usize> = (0..n).map(|i| (format!("n{i}"), i)).collect();
        let mut s = Scheduler::new(&validated);
        // Map scheduler indices back to DAG node numbers.
        let dag_index: Vec<usize> = (0..n).map(|i| pos[s.id(i)]).collect();
        let mut rng = seed;
        let mut next_random = move || { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; rng };
        let mut running: Vec<NodeIndex> = Vec::new();
        let mut runs = vec![0usize; n];
        let mut outcome: Vec<Option<NodeState>> = vec![None; n];

        loop {
            while running.len() < bound {
                let Some(node) = s.next_ready() else { break };
                runs[node] += 1;
                // Every upstream node is decided, and at least one delivered through a live edge.
                let upstream: Vec<usize> = (0..n).filter(|&u| dag.edges.iter().any(|&(a, b, _)| a == dag_index[u] && b == dag_index[node])).collect();
                prop_assert!(upstream.iter().all(|&u| s.state(u).is_decided()));
                prop_assert!(upstream.is_empty() || !s.live_inputs(node).is_empty());
                running.push(node);
            }
            prop_assert!(s.running() <= bound);
            if running.is_empty() {
                break;
            }
            let node = running.swap_remove((next_random() % running.len() as u64) as usize);
            let completion = if next_random() % 4 == 0 {
                Completion::Failed
            } else if dag.conditions[dag_index[node]] {
                Completion::Succeeded { branch: Some((next_random() % 2) as usize) }
            } else {
                Completion::Succeeded { branch: None }
            };
            outcome[node] = Some(match completion { Completion::Failed => NodeState::Failed, _ => NodeState::Succeeded });
            for (decided, state) in s.complete(node, completion) {
                prop_assert!(outcome[decided].is_none(), "decided twice");
                outcome[decided] = Some(state);
            }
            if s.has_failed() {
                for node in running.drain(..) {
                    s.cancelled_running(node);
                    outcome[node] = Some(NodeState::Cancelled);
                }
            }
        }

        prop_assert!(s.is_finished());
        for node in 0..n {
            prop_assert!(runs[node] <= 1, "node ran twice");
            prop_assert!(s.state(node).is_decided(), "node {} left {:?}", s.id(node), s.state(node));
            prop_assert_eq!(Some(s.state(node)), outcome[node]);
            if s.state(node) == NodeState::Skipped {
                // Skipped exactly when it has upstream nodes and none delivered through a live edge.
                prop_assert!(s.live_inputs(node).is_empty());
                prop_assert_eq!(runs[node], 0);
            }
        }
    }
}
