//! The pure scheduler: it knows the graph and which nodes are done, and hands
//! out the nodes that are ready. No async runtime, no clock, no I/O — the driver
//! runs nodes and reports back, so every rule here is tested in isolation.
//!
//! Rules:
//! - A node is decided once every upstream node is decided.
//! - An edge is *live* when its upstream node succeeded (or failed under
//!   `on_error: continue`) and, for a condition's or a switch's edge, its
//!   branch is the one the node took.
//! - A decided node runs if it has no upstream nodes or at least one live
//!   incoming edge; otherwise it is skipped. So nodes reached only through
//!   untaken branches are skipped, and so are nodes whose every input is skipped.
//! - A failure under `on_error: fail` fails the run: nothing new is handed out
//!   and every node not yet started is cancelled.

use std::collections::{HashMap, VecDeque};

use app::model::{OnError, ValidatedWorkflow};

/// A node's position in the scheduler (its index in the validated workflow).
pub type NodeIndex = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Waiting for upstream nodes.
    Waiting,
    /// Ready to run, not yet handed out.
    Ready,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,
}

impl NodeState {
    pub fn is_decided(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Skipped | Self::Cancelled)
    }
}

/// How a node that ran ended, as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// `branch` is the branch a condition or a switch took, as its index in
    /// [`app::model::NodeConfig::branches`]; `None` for other kinds.
    Succeeded {
        branch: Option<usize>,
    },
    Failed,
}

struct Incoming {
    from: NodeIndex,
    /// The branch of `from` this edge leaves by (an index into its branches).
    branch: Option<usize>,
}

pub struct Scheduler {
    ids: Vec<String>,
    on_error: Vec<OnError>,
    incoming: Vec<Vec<Incoming>>,
    outgoing: Vec<Vec<NodeIndex>>,
    undecided_upstream: Vec<usize>,
    state: Vec<NodeState>,
    branch_taken: Vec<Option<usize>>,
    ready: VecDeque<NodeIndex>,
    running: usize,
    failed_run: bool,
}

impl Scheduler {
    pub fn new(workflow: &ValidatedWorkflow) -> Self {
        let ids: Vec<String> = workflow.nodes.iter().map(|n| n.id.clone()).collect();
        let index: HashMap<&str, NodeIndex> = ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
        let mut incoming: Vec<Vec<Incoming>> = ids.iter().map(|_| Vec::new()).collect();
        let mut outgoing: Vec<Vec<NodeIndex>> = ids.iter().map(|_| Vec::new()).collect();
        for edge in &workflow.edges {
            let (from, to) = (index[edge.from.as_str()], index[edge.to.as_str()]);
            // Validation made sure the branch is one of the node's; one that is
            // not (usize::MAX) is never taken.
            let branches = workflow.nodes[from].config.branches();
            let branch = edge.branch.as_deref().map(|b| branches.iter().position(|n| *n == b).unwrap_or(usize::MAX));
            incoming[to].push(Incoming { from, branch });
            outgoing[from].push(to);
        }
        let undecided_upstream: Vec<usize> = incoming.iter().map(Vec::len).collect();
        let mut scheduler = Self {
            on_error: workflow.nodes.iter().map(|n| n.policy.on_error).collect(),
            state: vec![NodeState::Waiting; ids.len()],
            branch_taken: vec![None; ids.len()],
            ready: VecDeque::new(),
            running: 0,
            failed_run: false,
            ids,
            incoming,
            outgoing,
            undecided_upstream,
        };
        for node in 0..scheduler.ids.len() {
            if scheduler.undecided_upstream[node] == 0 {
                scheduler.state[node] = NodeState::Ready;
                scheduler.ready.push_back(node);
            }
        }
        scheduler
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn id(&self, node: NodeIndex) -> &str {
        &self.ids[node]
    }

    pub fn state(&self, node: NodeIndex) -> NodeState {
        self.state[node]
    }

    pub fn running(&self) -> usize {
        self.running
    }

    /// Upstream nodes whose output reaches `node` (succeeded, or failed under
    /// `continue`, through a live edge): what `merge` collects.
    pub fn live_inputs(&self, node: NodeIndex) -> Vec<NodeIndex> {
        self.incoming[node].iter().filter(|edge| self.is_live(edge)).map(|edge| edge.from).collect()
    }

    /// Hands out the next ready node, marking it running. `None` when nothing is
    /// ready right now (or the run has failed).
    pub fn next_ready(&mut self) -> Option<NodeIndex> {
        if self.failed_run {
            return None;
        }
        let node = self.ready.pop_front()?;
        self.state[node] = NodeState::Running;
        self.running += 1;
        Some(node)
    }

    /// Records how a running node ended. Returns the nodes this decided without
    /// running them (skipped, or cancelled when the run failed), in order.
    pub fn complete(&mut self, node: NodeIndex, completion: Completion) -> Vec<(NodeIndex, NodeState)> {
        assert_eq!(self.state[node], NodeState::Running, "node `{}` completed without running", self.ids[node]);
        self.running -= 1;
        let mut decided = Vec::new();
        match completion {
            Completion::Succeeded { branch } => {
                self.state[node] = NodeState::Succeeded;
                self.branch_taken[node] = branch;
            }
            Completion::Failed => {
                self.state[node] = NodeState::Failed;
                if self.on_error[node] == OnError::Fail {
                    self.failed_run = true;
                    decided.extend(self.cancel_pending());
                    return decided;
                }
            }
        }
        self.resolve_downstream(node, &mut decided);
        decided
    }

    /// Cancels the run from outside: every node not yet started is cancelled and
    /// nothing more is handed out. Running nodes are the driver's to stop (it then
    /// reports them with [`Scheduler::cancelled_running`]).
    pub fn cancel(&mut self) -> Vec<(NodeIndex, NodeState)> {
        self.failed_run = true;
        self.cancel_pending()
    }

    /// Marks a running node as cancelled (the driver stopped it).
    pub fn cancelled_running(&mut self, node: NodeIndex) {
        assert_eq!(self.state[node], NodeState::Running);
        self.running -= 1;
        self.state[node] = NodeState::Cancelled;
    }

    /// Whether the run failed or was cancelled.
    pub fn has_failed(&self) -> bool {
        self.failed_run
    }

    /// True when nothing runs and nothing more can be handed out.
    pub fn is_finished(&self) -> bool {
        self.running == 0 && (self.failed_run || self.ready.is_empty())
    }

    fn cancel_pending(&mut self) -> Vec<(NodeIndex, NodeState)> {
        self.ready.clear();
        let mut cancelled = Vec::new();
        for node in 0..self.ids.len() {
            if matches!(self.state[node], NodeState::Waiting | NodeState::Ready) {
                self.state[node] = NodeState::Cancelled;
                cancelled.push((node, NodeState::Cancelled));
            }
        }
        cancelled
    }

    fn is_live(&self, edge: &Incoming) -> bool {
        let delivered = match self.state[edge.from] {
            NodeState::Succeeded => true,
            NodeState::Failed => self.on_error[edge.from] == OnError::Continue,
            _ => false,
        };
        delivered && (edge.branch.is_none() || edge.branch == self.branch_taken[edge.from])
    }

    fn resolve_downstream(&mut self, decided_node: NodeIndex, decided: &mut Vec<(NodeIndex, NodeState)>) {
        let mut work = vec![decided_node];
        while let Some(node) = work.pop() {
            for i in 0..self.outgoing[node].len() {
                let next = self.outgoing[node][i];
                self.undecided_upstream[next] -= 1;
                if self.undecided_upstream[next] > 0 || self.state[next] != NodeState::Waiting {
                    continue;
                }
                if self.incoming[next].iter().any(|edge| self.is_live(edge)) {
                    self.state[next] = NodeState::Ready;
                    self.ready.push_back(next);
                } else {
                    self.state[next] = NodeState::Skipped;
                    decided.push((next, NodeState::Skipped));
                    work.push(next);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
