//! The async driver: runs what the scheduler hands out, feeds completions back,
//! records every node state change (batched), and ends the execution with its
//! last node states and final status in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::{ExecutionOutcome, Store};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::capacity::NodeSlots;
use super::events::RunEvents;
use super::group_commit::GroupedWrites;
use super::nodes::{NodeOutput, NodeScope, NodeServices, Outputs, ScopeSizes};
use super::report::build_report;
use super::scheduler::{Completion, NodeIndex, NodeState, Scheduler};
use super::EngineSettings;
use crate::bus::Bus;
use app::model::now_ms;

mod for_each;
mod recorder;

use self::for_each::{ItemCounts, Items};
use self::recorder::{node_state, recorded_result, Recorder};

/// What a run uses of the engine while it goes: its parts, borrowed (handing
/// them over costs nothing per run).
#[derive(Clone, Copy)]
pub(super) struct RunContext<'a> {
    pub store: &'a dyn Store,
    /// Fences this process's writes: a run taken over elsewhere writes nothing.
    pub worker_id: &'a str,
    pub services: &'a Arc<NodeServices>,
    pub slots: &'a Arc<NodeSlots>,
    pub writes: &'a GroupedWrites,
    pub signals: &'a Bus,
    pub settings: &'a EngineSettings,
    pub shutdown: &'a CancellationToken,
}

/// What a run starts from: a new execution, or one taken over or resumed, with
/// the node states recorded so far.
pub(super) struct RunStart {
    pub execution_id: ExecutionId,
    /// Whose run it is: what the run's nodes may share is scoped to them.
    pub owner: UserId,
    pub started_at: i64,
    /// How deep the run is in a chain of `workflow` nodes.
    pub depth: i32,
    pub workflow: ValidatedWorkflow,
    pub input: Value,
    pub recorded: Vec<NodeRun>,
    /// `resume_urls` in templates: the resume URL of each `wait` node.
    pub resume_urls: Arc<Value>,
}

/// How others steer a run while it goes.
#[derive(Clone, Default)]
pub(super) struct RunControl {
    /// The user cancelled it: stop, record the run as cancelled.
    pub cancel: CancellationToken,
    /// Another process took it over (this one lost its lease): stop and write nothing.
    pub abandon: CancellationToken,
}

/// The error a run ends with when this process lost its lease on it and
/// another process took it over (a `Conflict`, as a fenced write reports it).
fn taken_over(execution: ExecutionId) -> AppError {
    AppError::Conflict(format!("execution {execution} was taken over by another process"))
}

/// The error a run that was handed back to the queue at shutdown ends with.
fn handed_back() -> AppError {
    AppError::Unavailable("this Weft process is shutting down; the run was handed to another process".into())
}

/// What a node task tells the driver while it runs.
enum Progress {
    AttemptStarted {
        node: NodeIndex,
        attempt: i32,
        at: i64,
    },
    /// A node with `for_each` has its list (some items may have ended before a restart).
    Items {
        node: NodeIndex,
        counts: ItemCounts,
    },
    /// One item of a node with `for_each` ended.
    ItemEnded {
        node: NodeIndex,
        at: usize,
        output: Value,
        failed: bool,
        attempt: i32,
        counts: ItemCounts,
    },
}

struct TaskResult {
    node: NodeIndex,
    attempt: i32,
    result: Result<NodeOutput, String>,
}

struct Run<'a> {
    cx: RunContext<'a>,
    execution_id: ExecutionId,
    owner: UserId,
    depth: i32,
    workflow: ValidatedWorkflow,
    input: Arc<Value>,
    /// The owner's variables, for templates (`vars`).
    vars: Arc<Value>,
    scheduler: Scheduler,
    recorder: Recorder,
    outputs: Outputs,
    /// The size of `input` and of each of `outputs` as JSON.
    sizes: ScopeSizes,
    events: RunEvents,
    /// Results recorded before a takeover or restart: these nodes are not run
    /// again, their recorded results are fed to the scheduler instead.
    replay: HashMap<NodeIndex, Result<NodeOutput, String>>,
    /// Items of `for_each` nodes recorded before a takeover or restart.
    replay_items: HashMap<NodeIndex, BTreeMap<usize, NodeItem>>,
    /// Ended items of running `for_each` nodes not written yet.
    pending_items: Vec<NodeItem>,
    /// Whether this execution has items stored (deleted when it finishes).
    stored_items: bool,
    /// How far each running `for_each` node is, and which changed since last told.
    item_counts: HashMap<NodeIndex, ItemCounts>,
    counts_changed: BTreeSet<NodeIndex>,
    /// `wait` nodes waiting to be resumed: what a parked run waits for.
    waiting: BTreeSet<NodeIndex>,
    /// Whether waits of this execution are stored (what is left of them is
    /// deleted when it ends).
    stored_waits: bool,
    resume_urls: Arc<Value>,
}

impl Run<'_> {
    fn publish(&self, node: NodeIndex) {
        let run = &self.recorder.runs[node];
        self.events.send(RunEvent::Node {
            node: run.node_id.clone(),
            status: run.status,
            attempt: run.attempt,
            output: run.output.clone(),
            error: run.error.clone(),
            at: run.finished_at.or(run.started_at).unwrap_or_else(now_ms),
        });
    }

    /// Tells listeners how far the `for_each` nodes whose counts changed are.
    fn publish_item_counts(&mut self) {
        for node in std::mem::take(&mut self.counts_changed) {
            if let Some(counts) = self.item_counts.get(&node) {
                self.events.send(RunEvent::Items {
                    node: self.scheduler.id(node).to_string(),
                    done: counts.done,
                    failed: counts.failed,
                    total: counts.total,
                });
            }
        }
    }

    /// The nodes whose items are forgotten once they end (their outputs hold
    /// them); an agent's steps are its trace, and stay.
    fn for_each_nodes(&self) -> Vec<String> {
        self.workflow.nodes.iter().filter(|n| n.policy.for_each.is_some()).map(|n| n.id.clone()).collect()
    }

    /// Records nodes the scheduler decided without running them.
    fn record_decided(&mut self, decided: Vec<(NodeIndex, NodeState)>) {
        let now = now_ms();
        for (node, state) in decided {
            self.recorder.update(node, |r| {
                r.status = node_state(state);
                r.finished_at = Some(now);
            });
            self.publish(node);
        }
    }

    /// Writes the node states changed since the last flush. `false` when this
    /// process no longer holds the execution (its lease expired and another
    /// process took it over): nothing was written, and the run must stop here.
    async fn flush(&mut self) -> bool {
        // Node states first: a run with items stored then always has states
        // stored too, which is how a resumed run knows to read its items.
        self.flush_states().await && self.flush_items().await
    }

    async fn flush_states(&mut self) -> bool {
        let pending = self.recorder.take_dirty();
        if pending.is_empty() {
            return true;
        }
        match self.cx.store.record_node_runs(self.execution_id, self.cx.worker_id, &pending).await {
            Ok(held) => held,
            Err(error) => {
                // Keep them pending: the next flush, or the final transaction, writes them.
                tracing::warn!(execution = self.execution_id, %error, "could not record node states yet");
                for run in pending {
                    if let Some(i) = self.workflow.nodes.iter().position(|n| n.id == run.node_id) {
                        self.recorder.dirty.insert(i);
                    }
                }
                true
            }
        }
    }

    /// Writes the ended items not written yet; `false` when another process
    /// took the execution over.
    async fn flush_items(&mut self) -> bool {
        if self.pending_items.is_empty() {
            return true;
        }
        let pending = std::mem::take(&mut self.pending_items);
        match self.cx.store.record_node_items(self.execution_id, self.cx.worker_id, &pending).await {
            Ok(held) => {
                self.stored_items = true;
                held
            }
            Err(error) => {
                tracing::warn!(execution = self.execution_id, %error, "could not record items yet");
                self.pending_items = pending;
                true
            }
        }
    }

    /// What a node task reported while it runs.
    fn progress(&mut self, progress: Progress) {
        match progress {
            Progress::AttemptStarted { node, attempt, at } => {
                self.recorder.update(node, |r| {
                    r.status = NodeStatus::Running;
                    r.attempt = attempt;
                    r.started_at.get_or_insert(at);
                });
                self.publish(node);
            }
            Progress::Items { node, counts } => {
                self.item_counts.insert(node, counts);
                self.counts_changed.insert(node);
            }
            Progress::ItemEnded { node, at, output, failed, attempt, counts } => {
                // A node that ended already carries its items in its output.
                if !self.scheduler.state(node).is_decided() {
                    self.pending_items.push(NodeItem {
                        execution_id: self.execution_id,
                        node_id: self.scheduler.id(node).to_string(),
                        index: at,
                        output,
                        failed,
                        attempt,
                    });
                    self.item_counts.insert(node, counts);
                    self.counts_changed.insert(node);
                }
            }
        }
    }

    /// The ids of the upstream nodes whose output reaches `node`, and what the
    /// node is recorded to have received: their outputs, or the run's input.
    fn inputs_of(&self, node: NodeIndex) -> (Vec<String>, Value) {
        let live_inputs: Vec<String> =
            self.scheduler.live_inputs(node).into_iter().map(|i| self.scheduler.id(i).to_string()).collect();
        let recorded_input = if live_inputs.is_empty() {
            Value::clone(&self.input)
        } else {
            Value::Object(
                live_inputs
                    .iter()
                    .filter_map(|id| self.outputs.get(id).map(|v| (id.clone(), Value::clone(v))))
                    .collect(),
            )
        };
        (live_inputs, recorded_input)
    }

    /// A `wait` node's turn: it starts waiting (stored at once, so it can be
    /// resumed while the rest of the run goes on), or goes on waiting when an
    /// earlier process recorded it waiting. `false` when another process took
    /// the execution over.
    async fn wait(&mut self, node: NodeIndex, config: &app::model::node_config::WaitConfig) -> AppResult<bool> {
        self.waiting.insert(node);
        self.stored_waits = true;
        if self.recorder.runs[node].status == NodeStatus::Waiting {
            return Ok(true);
        }
        let now = now_ms();
        let (_, input) = self.inputs_of(node);
        self.recorder.update(node, |r| {
            r.status = NodeStatus::Waiting;
            r.attempt = 1;
            r.input = Some(input);
            r.started_at = Some(now);
        });
        self.publish(node);
        let wait = Wait {
            execution_id: self.execution_id,
            node_id: self.scheduler.id(node).to_string(),
            created_at: now,
            deadline: config.timeout_ms.map(|ms| now.saturating_add(ms as i64)),
            on_timeout: config.on_timeout,
        };
        let held = self.cx.store.add_wait(self.cx.worker_id, &wait, &self.recorder.runs[node]).await?;
        // Stored: written again it could undo a resume that comes meanwhile.
        self.recorder.dirty.remove(&node);
        if wait.deadline.is_some() {
            self.cx.signals.publish(crate::bus::Notice::WaitAdded).await;
        }
        Ok(held)
    }

    /// The run failed or was cancelled: its waiting nodes are cancelled.
    fn stop_waiting(&mut self) {
        let now = now_ms();
        for node in std::mem::take(&mut self.waiting) {
            self.scheduler.cancelled_running(node);
            self.recorder.update(node, |r| {
                r.status = NodeStatus::Cancelled;
                r.finished_at = Some(now);
            });
            self.publish(node);
        }
    }

    /// Starts a node's task; returns the task's id.
    fn spawn(
        &mut self,
        node: NodeIndex,
        tasks: &mut JoinSet<TaskResult>,
        progress: &mpsc::UnboundedSender<Progress>,
    ) -> tokio::task::Id {
        let (live_inputs, recorded_input) = self.inputs_of(node);
        self.recorder.update(node, |r| r.input = Some(recorded_input));
        let scope = NodeScope {
            execution_id: self.execution_id,
            depth: self.depth,
            node_id: self.scheduler.id(node).to_string(),
            owner: self.owner,
            idempotency_key: format!("weft-{}-{}", self.execution_id, self.scheduler.id(node)),
            input: self.input.clone(),
            nodes: self.outputs.clone(),
            sizes: self.sizes.clone(),
            live_inputs,
            vars: self.vars.clone(),
            resume_urls: self.resume_urls.clone(),
            item: None,
        };
        let spec = self.workflow.nodes[node].clone();
        let services = self.cx.services.clone();
        let slots = self.cx.slots.clone();
        let events = self.events.clone();
        let progress = progress.clone();
        let ended_items = self.replay_items.remove(&node).unwrap_or_default();
        let max_items = self.cx.settings.max_for_each_items;
        tasks
            .spawn(async move {
                let started = std::time::Instant::now();
                let done = match &spec.policy.for_each {
                    Some(for_each) => {
                        let _ = progress.send(Progress::AttemptStarted { node, attempt: 1, at: now_ms() });
                        let items = Items {
                            services: &services,
                            slots: &slots,
                            node: &spec,
                            for_each,
                            scope: &scope,
                            events: &events,
                            progress: &progress,
                            index: node,
                            max_items,
                            ended: ended_items,
                        };
                        TaskResult { node, attempt: 1, result: for_each::run_items(items).await }
                    }
                    None => run_with_policy(&services, &slots, &spec, &scope, &events, &progress, node).await,
                };
                metrics::histogram!("weft_node_duration_seconds", "kind" => spec.config.kind())
                    .record(started.elapsed().as_secs_f64());
                done
            })
            .id()
    }

    /// Feeds a node's result to the scheduler. `replayed` results were recorded
    /// by an earlier process: their stored state stays as it is.
    fn finish_node(&mut self, done: TaskResult, replayed: bool) -> Option<String> {
        let TaskResult { node, attempt, mut result } = done;
        if !replayed {
            // What an upstream answered may hold NUL characters: stored, and so
            // passed on, as U+FFFD (see `app::model::nul`).
            match &mut result {
                Ok(output) => nul::replace_nul(&mut output.value),
                Err(error) => nul::replace_nul_in_text(error),
            }
        }
        let id = self.scheduler.id(node).to_string();
        let now = now_ms();
        if self.item_counts.contains_key(&node) {
            // Its output (or its error) now says what its items did.
            self.pending_items.retain(|item| item.node_id != id);
            self.publish_item_counts();
            self.item_counts.remove(&node);
        }
        let (completion, failure) = match result {
            Ok(output) => {
                let bytes = output.bytes.unwrap_or_else(|| crate::weigh::json_bytes(&output.value));
                self.sizes.outputs.insert(id.clone(), bytes);
                self.outputs.insert(id.clone(), Arc::new(output.value.clone()));
                if !replayed {
                    self.recorder.update(node, |r| {
                        r.status = NodeStatus::Succeeded;
                        r.attempt = attempt;
                        r.output = Some(output.value);
                        r.error = None;
                        r.finished_at = Some(now);
                    });
                }
                (Completion::Succeeded { branch: output.branch }, None)
            }
            Err(error) => {
                if self.workflow.nodes[node].policy.on_error == OnError::Continue {
                    let output = json!({ "error": error });
                    self.sizes.outputs.insert(id.clone(), crate::weigh::json_bytes(&output));
                    self.outputs.insert(id.clone(), Arc::new(output));
                }
                if !replayed {
                    self.recorder.update(node, |r| {
                        r.status = NodeStatus::Failed;
                        r.attempt = attempt;
                        r.error = Some(error.clone());
                        r.finished_at = Some(now);
                    });
                }
                (Completion::Failed, Some(format!("node `{id}` failed: {error}")))
            }
        };
        self.publish(node);
        let decided = self.scheduler.complete(node, completion);
        self.record_decided(decided);
        failure.filter(|_| self.scheduler.has_failed())
    }
}

/// Runs one execution to its end (or until it is abandoned or handed back).
pub(super) async fn drive(
    cx: RunContext<'_>,
    start: RunStart,
    events: RunEvents,
    control: RunControl,
) -> AppResult<ExecutionReport> {
    let RunStart { execution_id, owner, started_at, depth, workflow, input, recorded, resume_urls } = start;
    let scheduler = Scheduler::new(&workflow);
    // A run taken over or resumed has node states recorded; a new one none.
    let resumed = !recorded.is_empty();
    let mut recorded: HashMap<String, NodeRun> = recorded.into_iter().map(|r| (r.node_id.clone(), r)).collect();
    let mut replay = HashMap::new();
    let mut dirty = BTreeSet::new();
    let runs = workflow
        .nodes
        .iter()
        .enumerate()
        .map(|(index, n)| match recorded.remove(&n.id) {
            Some(run) => {
                if let Some(result) = recorded_result(n, &run) {
                    replay.insert(index, result);
                }
                run
            }
            None => {
                dirty.insert(index);
                NodeRun::queued(execution_id, &n.id)
            }
        })
        .collect();
    // Items recorded before a restart, for `for_each` nodes that had not ended:
    // one read, and none for a run without such nodes.
    let mut replay_items: HashMap<NodeIndex, BTreeMap<usize, NodeItem>> = HashMap::new();
    let resumes_items = resumed
        && workflow.nodes.iter().enumerate().any(|(i, n)| n.policy.for_each.is_some() && !replay.contains_key(&i));
    if resumes_items {
        let index: HashMap<&str, NodeIndex> =
            workflow.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
        for item in cx.store.node_items_of(execution_id).await? {
            if let Some(&node) = index.get(item.node_id.as_str()) {
                replay_items.entry(node).or_default().insert(item.index, item);
            }
        }
    }
    let stored_items = !replay_items.is_empty();
    let sizes = ScopeSizes { input: crate::weigh::json_bytes(&input), outputs: Default::default() };
    // One read per run, and none for a workflow whose templates never mention them.
    let vars = if reads_variables(&workflow.nodes) {
        let vars = cx.store.variables_for_run(owner).await?;
        Arc::new(Value::Object(vars.into_iter().map(|(name, value)| (name, Value::String(value))).collect()))
    } else {
        Arc::new(Value::Object(Default::default()))
    };
    let mut run = Run {
        cx,
        execution_id,
        owner,
        depth,
        input: Arc::new(input),
        vars,
        scheduler,
        recorder: Recorder { runs, dirty },
        outputs: Outputs::new(),
        sizes,
        events,
        workflow,
        replay,
        replay_items,
        pending_items: Vec::new(),
        stored_items,
        item_counts: HashMap::new(),
        counts_changed: BTreeSet::new(),
        waiting: BTreeSet::new(),
        stored_waits: false,
        resume_urls,
    };

    let (progress_tx, mut progress_rx) = mpsc::unbounded_channel();
    let mut tasks: JoinSet<TaskResult> = JoinSet::new();
    let mut task_nodes: HashMap<tokio::task::Id, NodeIndex> = HashMap::new();
    // The first flush waits a whole interval: a short run then writes its node
    // states once, in the final transaction, instead of once more at start.
    let mut flush_tick =
        tokio::time::interval_at(tokio::time::Instant::now() + cx.settings.flush_interval, cx.settings.flush_interval);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut cancelled = false;
    let mut failure: Option<String> = None;
    // Set when the process shuts down: no new nodes start; those running get
    // until this deadline to finish, then the run is handed back to the queue.
    let mut draining: Option<tokio::time::Instant> = None;

    loop {
        while draining.is_none() && tasks.len() < cx.settings.max_parallel_nodes.max(1) {
            let Some(node) = run.scheduler.next_ready() else { break };
            if let Some(result) = run.replay.remove(&node) {
                let done = TaskResult { node, attempt: run.recorder.runs[node].attempt, result };
                if let Some(error) = run.finish_node(done, true) {
                    failure.get_or_insert(error);
                    tasks.abort_all();
                }
                continue;
            }
            if let NodeConfig::Wait(config) = &run.workflow.nodes[node].config {
                let config = config.clone();
                if !run.wait(node, &config).await? {
                    tasks.abort_all();
                    return Err(taken_over(execution_id));
                }
                continue;
            }
            let task = run.spawn(node, &mut tasks, &progress_tx);
            task_nodes.insert(task, node);
        }
        if (cancelled || failure.is_some()) && !run.waiting.is_empty() {
            run.stop_waiting();
        }
        if run.scheduler.is_finished() {
            break;
        }
        if draining.is_some() && tasks.is_empty() {
            return hand_back(&mut run).await;
        }
        if tasks.is_empty() && !run.waiting.is_empty() {
            // Nothing runs and nothing can until someone resumes a wait.
            return park(&mut run, started_at).await;
        }
        tokio::select! {
            biased;
            _ = control.abandon.cancelled() => {
                tasks.abort_all();
                return Err(taken_over(execution_id));
            }
            _ = control.cancel.cancelled(), if !cancelled => {
                cancelled = true;
                let decided = run.scheduler.cancel();
                run.record_decided(decided);
                tasks.abort_all();
            }
            _ = cx.shutdown.cancelled(), if draining.is_none() => {
                draining = Some(tokio::time::Instant::now() + cx.settings.queue.shutdown_grace);
            }
            _ = tokio::time::sleep_until(draining.unwrap_or_else(tokio::time::Instant::now)), if draining.is_some() => {
                // The grace period is over: stop what still runs; it runs again
                // in the process that takes the execution over.
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                return hand_back(&mut run).await;
            }
            Some(progress) = progress_rx.recv() => run.progress(progress),
            Some(joined) = tasks.join_next_with_id() => match joined {
                Ok((task, done)) => {
                    task_nodes.remove(&task);
                    if let Some(error) = run.finish_node(done, false) {
                        failure.get_or_insert(error);
                        tasks.abort_all();
                    }
                }
                Err(join_error) => {
                    if let Some(node) = task_nodes.remove(&join_error.id()) {
                        if join_error.is_cancelled() {
                            run.scheduler.cancelled_running(node);
                            run.recorder.update(node, |r| {
                                r.status = NodeStatus::Cancelled;
                                r.finished_at = Some(now_ms());
                            });
                            run.publish(node);
                        } else {
                            tracing::error!(execution = execution_id, error = %join_error, "a node task panicked");
                            let done = TaskResult { node, attempt: 1, result: Err("the node crashed".into()) };
                            if let Some(error) = run.finish_node(done, false) {
                                failure.get_or_insert(error);
                                tasks.abort_all();
                            }
                        }
                    }
                }
            },
            _ = flush_tick.tick() => {
                run.publish_item_counts();
                if !run.flush().await {
                    tasks.abort_all();
                    return Err(taken_over(execution_id));
                }
            }
        }
        if run.recorder.dirty.len() + run.pending_items.len() >= cx.settings.flush_rows && !run.flush().await {
            tasks.abort_all();
            return Err(taken_over(execution_id));
        }
    }

    let (status, error) = if cancelled {
        (ExecutionStatus::Cancelled, Some("the run was cancelled".to_string()))
    } else if let Some(error) = failure {
        (ExecutionStatus::Failed, Some(error))
    } else {
        (ExecutionStatus::Succeeded, None)
    };
    let finished_at = now_ms();
    let last_runs = run.recorder.take_dirty();
    let outcome = ExecutionOutcome { status, error: error.clone(), finished_at };
    cx.writes.finish(execution_id, last_runs, outcome).await?;
    if run.stored_waits {
        // Waits of nodes cancelled with the run.
        if let Err(error) = cx.store.forget_waits(execution_id).await {
            tracing::warn!(execution = execution_id, %error, "could not delete the run's waits");
        }
    }
    if run.stored_items {
        // The finished nodes' outputs hold their items. Left behind (this
        // fails), they go with the execution under retention.
        if let Err(error) = cx.store.forget_node_items(execution_id, &run.for_each_nodes()).await {
            tracing::warn!(execution = execution_id, %error, "could not delete the recorded items");
        }
    }
    // Only now, with everything stored, is the run reported as finished.
    run.events.send(RunEvent::Finished { status, error: error.clone(), at: finished_at });

    Ok(build_report(execution_id, status, error, Some(started_at), Some(finished_at), run.recorder.runs))
}

/// Parks a run that waits for its `wait` nodes: its states are stored and it
/// is released; it holds no slot and no memory until a wait ends, and then
/// goes on in whichever process claims it. A wait that ended while the run
/// went on queues it again at once.
async fn park(run: &mut Run<'_>, started_at: i64) -> AppResult<ExecutionReport> {
    let cx = run.cx;
    let id = run.execution_id;
    run.publish_item_counts();
    let last_runs = run.recorder.take_dirty();
    let status = match cx.store.park_execution(id, cx.worker_id, &last_runs, run.waiting.len()).await? {
        Some(status) => status,
        None => return Err(taken_over(id)),
    };
    if run.stored_items {
        // Every node with items has ended: its output holds them.
        if let Err(error) = cx.store.forget_node_items(id, &run.for_each_nodes()).await {
            tracing::warn!(execution = id, %error, "could not delete the recorded items");
        }
    }
    if status == ExecutionStatus::Queued {
        cx.signals.publish(crate::bus::Notice::Queued).await;
    } else {
        tracing::info!(execution = id, waiting = run.waiting.len(), "the run waits to be resumed");
    }
    let at = now_ms();
    // Followers stop here; a resumed run is followed anew.
    run.events.send(RunEvent::Finished { status, error: None, at });
    let runs = std::mem::take(&mut run.recorder.runs);
    Ok(build_report(id, status, None, Some(started_at), None, runs))
}

/// Writes what the run completed, puts nodes that were stopped mid-way back to
/// queued, and releases the execution so another process resumes it at once.
async fn hand_back(run: &mut Run<'_>) -> AppResult<ExecutionReport> {
    for node in 0..run.recorder.runs.len() {
        if run.recorder.runs[node].status == NodeStatus::Running {
            run.recorder.update(node, |r| r.status = NodeStatus::Queued);
        }
    }
    let cx = run.cx;
    let pending = run.recorder.take_dirty();
    if !pending.is_empty() && !cx.store.record_node_runs(run.execution_id, cx.worker_id, &pending).await? {
        return Err(taken_over(run.execution_id));
    }
    let items = std::mem::take(&mut run.pending_items);
    if !items.is_empty() && !cx.store.record_node_items(run.execution_id, cx.worker_id, &items).await? {
        return Err(taken_over(run.execution_id));
    }
    cx.store.release_executions(cx.worker_id, &[run.execution_id]).await?;
    cx.signals.publish(crate::bus::Notice::Queued).await;
    tracing::info!(execution = run.execution_id, "handed the run back to the queue");
    Err(handed_back())
}

/// One node, with its timeout and retries. Each attempt holds one of the
/// process's node slots while it works; a `delay` node, and any node between
/// attempts, holds none: waiting takes nothing from other runs.
async fn run_with_policy(
    services: &Arc<NodeServices>,
    slots: &NodeSlots,
    node: &ValidatedNode,
    scope: &NodeScope,
    events: &RunEvents,
    progress: &mpsc::UnboundedSender<Progress>,
    index: NodeIndex,
) -> TaskResult {
    let (attempt, result) = attempts(services, slots, node, scope, events, |attempt| {
        let _ = progress.send(Progress::AttemptStarted { node: index, attempt, at: now_ms() });
        events.attempt_started(&scope.node_id);
    })
    .await;
    TaskResult { node: index, attempt, result }
}

/// Runs the node (or one item of it) until an attempt succeeds or none is
/// left; `started` is told of each attempt. The last attempt and its result.
async fn attempts(
    services: &Arc<NodeServices>,
    slots: &NodeSlots,
    node: &ValidatedNode,
    scope: &NodeScope,
    events: &RunEvents,
    started: impl Fn(i32),
) -> (i32, Result<NodeOutput, String>) {
    let max_attempts = node.policy.retry.map(|r| r.max_attempts.max(1)).unwrap_or(1) as i32;
    let backoff = node.policy.retry.map(|r| r.backoff_ms).unwrap_or(0);
    let mut attempt = 1;
    loop {
        // Waiting takes nothing from other runs: a delay sleeps, a workflow
        // node waits for its child run (which takes slots of its own), an
        // agent takes a slot for each model turn and HTTP tool call only.
        let slot = match node.config {
            NodeConfig::Delay(_) | NodeConfig::Workflow(_) | NodeConfig::Agent(_) => None,
            _ => Some(slots.acquire(scope.owner).await),
        };
        started(attempt);
        let work = services.run(&node.config, scope, events);
        let result = match node.policy.timeout_ms {
            Some(ms) => tokio::time::timeout(Duration::from_millis(ms), work)
                .await
                .unwrap_or_else(|_| Err(format!("timed out after {ms} ms"))),
            None => work.await,
        };
        drop(slot);
        match result {
            Err(_) if attempt < max_attempts => {
                // Exponential backoff: backoff_ms, 2×, 4×, … (capped at a minute).
                let wait = backoff.saturating_mul(1 << (attempt - 1).min(16)).min(60_000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                attempt += 1;
            }
            result => return (attempt, result),
        }
    }
}
