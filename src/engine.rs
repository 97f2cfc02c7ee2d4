//! The engine: runs workflows. A pure [`scheduler`] decides what may run; the
//! [`driver`] runs ready nodes concurrently (bounded per execution and per
//! process), persists every state change in batches, and publishes events.
//! The [`queue`] hands executions between processes: each runs under a lease,
//! and one whose process died is taken over and resumed elsewhere.
//!
//! The engine owns its parts, each a type of its own: the bounds on what runs
//! here (`capacity`), the runs going on here (`local`), the grouped writes of
//! starts and ends (`group_commit`), callers waiting for runs elsewhere
//! (`waiters`) and validated versions (`versions`). A run gets only what it
//! needs of them: a `driver::RunContext`.

mod capacity;
pub mod driver;
pub mod events;
pub mod follow;
mod from_args;
mod group_commit;
mod local;
pub mod nodes;
mod on_failure;
pub mod queue;
pub mod relay;
mod report;
pub mod scheduler;
mod settings;
mod start;
pub mod stream_quota;
pub mod try_node;
mod versions;
mod waiters;
mod waits;

pub use report::{answer_of, report_from_store, rfc3339};
pub use settings::{EngineSettings, QueueSettings};
pub use start::{RunHandle, StartRequest};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::{ExecutionOutcome, ExecutionStart, Lease, NewExecution, Store};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use self::capacity::{Capacity, NodeSlots};
use self::driver::{RunContext, RunControl, RunStart};
use self::events::EventHub;
use self::group_commit::GroupedWrites;
use self::local::LocalRuns;
use self::nodes::code::CodeRunner;
use self::nodes::http::HttpNode;
use self::nodes::llm::LlmClient;
use self::nodes::template::Templates;
use self::nodes::NodeServices;
use self::versions::ValidatedVersions;
use self::waiters::FinishWaiters;
use crate::bus::{Bus, Notice};
use app::model::now_ms;

pub struct Engine {
    store: Arc<dyn Store>,
    services: Arc<NodeServices>,
    /// Shared with the node tasks, which hold a slot while they run.
    slots: Arc<NodeSlots>,
    capacity: Capacity,
    settings: EngineSettings,
    events: EventHub,
    /// Identifies this process in leases; unique per start.
    worker_id: String,
    signals: Arc<Bus>,
    local: LocalRuns,
    /// When this process last told the others it holds leases.
    leases_announced: Mutex<Option<Instant>>,
    finish_waiters: FinishWaiters,
    versions: ValidatedVersions,
    shutdown: CancellationToken,
    /// Write the starts and ends of runs in groups (see `group_commit`).
    writes: GroupedWrites,
    /// LLM text of runs here, relayed to followers elsewhere (see `relay`).
    relays: relay::Relays,
    /// Event streams open per user (see `stream_quota`).
    streams: stream_quota::StreamQuota,
    /// Signs resume URLs (see `waits`).
    secrets: Arc<crate::secrets::SecretBox>,
}

impl Engine {
    /// `secrets` opens the credentials `http` nodes use.
    pub fn new(
        store: Arc<dyn Store>,
        settings: EngineSettings,
        signals: Arc<Bus>,
        secrets: Arc<crate::secrets::SecretBox>,
    ) -> anyhow::Result<Arc<Self>> {
        let vault = nodes::http::credentials::CredentialVault::new(store.clone(), secrets.clone());
        let worker_id = new_worker_id();
        let streams = stream_quota::StreamQuota::new(settings.max_event_streams_per_user);
        let (max_depth, max_input_bytes) = (settings.max_workflow_depth, settings.max_output_bytes);
        let templates = Templates::new(settings.templates.clone());
        let http = HttpNode::new(settings.http.clone(), vault)?;
        let llm = LlmClient::new(settings.llm.clone(), store.clone())?;
        let code = CodeRunner::new(settings.code.clone());
        // `workflow` nodes start runs through the engine that owns them: they hold it weakly.
        Ok(Arc::new_cyclic(|engine| Self {
            services: Arc::new(NodeServices {
                max_output_bytes: settings.max_output_bytes,
                templates,
                http,
                llm,
                code,
                workflows: nodes::workflow::WorkflowCalls::new(engine.clone(), max_depth, max_input_bytes),
                agents: nodes::agent::Agents::new(engine.clone()),
            }),
            writes: GroupedWrites::new(store.clone(), worker_id.clone()),
            store,
            slots: Arc::new(NodeSlots::new(settings.max_running_nodes, settings.max_user_share_percent)),
            capacity: Capacity::new(settings.queue.max_running_executions, settings.max_user_share_percent),
            settings,
            events: EventHub::default(),
            worker_id,
            signals,
            local: LocalRuns::default(),
            leases_announced: Mutex::new(None),
            finish_waiters: FinishWaiters::default(),
            versions: ValidatedVersions::default(),
            shutdown: CancellationToken::new(),
            relays: relay::Relays::default(),
            streams,
            secrets,
        }))
    }

    pub fn waiting_for_slot(&self) -> usize {
        self.slots.waiting()
    }

    /// Executions running in this process.
    pub fn running_executions(&self) -> usize {
        self.capacity.running()
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn signals(&self) -> &Arc<Bus> {
        &self.signals
    }

    pub fn services(&self) -> &Arc<NodeServices> {
        &self.services
    }

    /// Creates an execution of a saved workflow version and starts running it.
    ///
    /// The execution runs here when this process runs executions and has room;
    /// otherwise it is queued, and whichever process claims it runs it.
    pub async fn start(self: &Arc<Self>, request: StartRequest<'_>) -> AppResult<RunHandle> {
        let StartRequest { version, workflow, owner, trigger, mut input, reuse, parent } = request;
        let workflow = match workflow {
            Some(workflow) => workflow,
            None => validate(&version.definition).map_err(AppError::Invalid)?,
        };
        // A webhook's caller may send anything; see `app::model::nul`.
        app::model::nul::replace_nul(&mut input);
        if self.shutdown.is_cancelled() {
            return Err(AppError::Unavailable("this Weft process is shutting down".into()));
        }
        // A child runs beside the parent that waits for it, even past the
        // owner's share: queued behind parents that hold every slot, it would
        // never start (see `Capacity::admit_child`).
        let run_here = self.settings.queue.runs_executions
            && (self.capacity.admit(owner) || (parent.is_some() && self.capacity.admit_child(owner)));
        let depth = parent.as_ref().map_or(0, |parent| parent.depth);
        let now = now_ms();
        // Reused results are written before anyone may claim the execution, so
        // it is created held by this process even when it will run elsewhere.
        let hold = run_here || !reuse.is_empty();
        let start = if hold {
            ExecutionStart::Running { lease: self.lease(now), started_at: now }
        } else {
            ExecutionStart::Queued
        };
        let new = NewExecution {
            workflow_id: version.workflow_id,
            version: version.version,
            owner_id: owner,
            trigger,
            input: input.clone(),
            start,
            parent,
        };
        let execution = match self.writes.create(new).await {
            Ok(execution) => execution,
            Err(error) => {
                if run_here {
                    self.capacity.release(owner);
                }
                return Err(error);
            }
        };
        let mut recorded: Vec<NodeRun> =
            reuse.into_iter().map(|run| NodeRun { execution_id: execution.id, ..run }).collect();
        // Set when another process took the new execution over before its
        // reused results were written (a lease shorter than that write): it is
        // that process's to run; this one only waits for it.
        let mut taken_over = false;
        if !recorded.is_empty() {
            match self.store.record_node_runs(execution.id, &self.worker_id, &recorded).await {
                Ok(true) => {}
                Ok(false) => taken_over = true,
                Err(error) => {
                    // The run starts from scratch rather than from results not stored.
                    tracing::warn!(execution = execution.id, %error, "could not copy the reused results; every node runs");
                    recorded.clear();
                }
            }
        }
        metrics::counter!("weft_executions_started_total", "trigger" => trigger.as_str()).increment(1);
        if run_here && taken_over {
            self.capacity.release(owner);
        } else if run_here {
            self.announce_leases().await;
            let start = RunStart {
                execution_id: execution.id,
                owner: execution.owner_id,
                started_at: now,
                depth,
                workflow,
                input,
                recorded,
                resume_urls: Default::default(),
            };
            let (events, done) = self.launch(start, trigger.as_str(), false);
            return Ok(RunHandle { execution, events, done });
        }
        if hold && !taken_over {
            // Held only while the reused results were written: claimable now.
            self.store.release_executions(&self.worker_id, &[execution.id]).await?;
        }
        self.capacity.set_queue_pending(true);
        self.signals.publish(Notice::Queued).await;
        self.capacity.wake_claimer();
        let engine = self.clone();
        let id = execution.id;
        let (finished, events) = broadcast::channel(1);
        let done = tokio::spawn(async move {
            let report = engine.finish_waiters.wait(engine.store.as_ref(), id).await?;
            let _ =
                finished.send(RunEvent::Finished { status: report.status, error: report.error.clone(), at: now_ms() });
            Ok(report)
        });
        Ok(RunHandle { execution, events, done })
    }

    /// Starts driving an execution this process holds, in the background.
    fn launch(
        self: &Arc<Self>,
        mut start: RunStart,
        trigger: &'static str,
        claimed: bool,
    ) -> (broadcast::Receiver<RunEvent>, tokio::task::JoinHandle<AppResult<ExecutionReport>>) {
        let id = start.execution_id;
        let owner = start.owner;
        start.resume_urls = Arc::new(self.resume_urls(id, &start.workflow));
        let (sender, events) = self.events.open(id);
        let control = RunControl::default();
        self.local.insert(id, control.clone());
        let engine = self.clone();
        let on_failure = start.workflow.definition.on_failure.as_ref().and_then(|v| parse_on_failure(v).ok());
        // Children started with `wait: false` go on whatever becomes of this run.
        let detached: Vec<String> = start
            .workflow
            .nodes
            .iter()
            .filter(|node| matches!(&node.config, NodeConfig::Workflow(call) if !call.wait))
            .map(|node| node.id.clone())
            .collect();
        let done = tokio::spawn(async move {
            let result = driver::drive(engine.run_context(), start, sender, control).await;
            // Started before this process's waiters hear of the failure: whoever
            // waited for the failed run (`?wait=true`, a sync webhook) finds its
            // error run already queued.
            if let Ok(report) = &result {
                if matches!(report.status, ExecutionStatus::Failed | ExecutionStatus::Cancelled) {
                    // The children it waited for have no one to answer to.
                    engine.cancel_children(id, &detached).await;
                }
                if report.status == ExecutionStatus::Failed {
                    match on_failure::start_error_workflow(&engine, id, on_failure, report).await {
                        Ok(Some(started)) => tracing::info!(execution = id, started, "started the error workflow"),
                        Ok(None) => {}
                        Err(error) => tracing::warn!(execution = id, %error, "could not start the error workflow"),
                    }
                }
            }
            let status = match &result {
                Ok(report) => report.status.as_str(),
                Err(AppError::Unavailable(_)) => "handed_back",
                Err(AppError::Conflict(_)) => {
                    // Its lease expired while it ran here (this process stalled
                    // or lost the database for a lease): nodes in flight run twice.
                    tracing::warn!(execution = id, "another process took this run over; abandoned it here");
                    "taken_over"
                }
                Err(error) => {
                    tracing::warn!(execution = id, %error, "the run stopped on an error; it is resumed once its lease expires");
                    "error"
                }
            };
            metrics::counter!("weft_executions_finished_total", "status" => status, "trigger" => trigger).increment(1);
            engine.local.remove(id);
            engine.events.close(id);
            engine.capacity.release(owner);
            engine.finish_waiters.wake(id);
            // Someone elsewhere may wait for an execution that was queued.
            if claimed && result.is_ok() {
                engine.signals.finished(id).await;
            }
            result
        });
        (events, done)
    }

    /// Starts claimed executions, each from its recorded node states.
    async fn resume(self: &Arc<Self>, claimed: Vec<Execution>) {
        let ids: Vec<ExecutionId> = claimed.iter().map(|e| e.id).collect();
        let mut recorded: HashMap<ExecutionId, Vec<NodeRun>> = HashMap::new();
        match self.store.node_runs_of(&ids).await {
            Ok(runs) => {
                for run in runs {
                    recorded.entry(run.execution_id).or_default().push(run);
                }
            }
            Err(error) => {
                // Without the recorded states nothing can be resumed safely: hand
                // the executions back for another try.
                tracing::warn!(%error, "could not read the node states of claimed executions");
                let _ = self.store.release_executions(&self.worker_id, &ids).await;
                for execution in &claimed {
                    self.capacity.release(execution.owner_id);
                }
                return;
            }
        }
        for execution in claimed {
            if self.local.contains(execution.id) {
                // Its lease expired while it ran here (this process stalled) and
                // this process's own claimer took it back: the claim renewed the
                // lease, and the run already going on here goes on alone.
                tracing::warn!(execution = execution.id, "reclaimed a run still going on here; its lease had expired");
                self.capacity.release(execution.owner_id);
                continue;
            }
            let recorded = recorded.remove(&execution.id).unwrap_or_default();
            let kind = if recorded.is_empty() { "queued" } else { "takeover" };
            metrics::counter!("weft_executions_claimed_total", "kind" => kind).increment(1);
            if !recorded.is_empty() {
                tracing::info!(execution = execution.id, nodes = recorded.len(), "resuming an execution");
            }
            let workflow = match self.versions.get(self.store.as_ref(), execution.workflow_id, execution.version).await
            {
                Ok(workflow) => workflow,
                Err(error) => {
                    self.fail_unrunnable(&execution, &error).await;
                    continue;
                }
            };
            let start = RunStart {
                execution_id: execution.id,
                owner: execution.owner_id,
                started_at: execution.started_at.unwrap_or_else(now_ms),
                depth: execution.parent.as_ref().map_or(0, |parent| parent.depth),
                workflow: (*workflow).clone(),
                input: execution.input.to_value(),
                recorded,
                resume_urls: Default::default(),
            };
            // The run goes on by itself; whoever waits for it is told when it ends.
            let _ = self.launch(start, execution.trigger.as_str(), true);
        }
    }

    /// An execution whose workflow version cannot be run (it no longer validates):
    /// it fails with the reason instead of being claimed again and again.
    async fn fail_unrunnable(&self, execution: &Execution, error: &AppError) {
        tracing::warn!(execution = execution.id, %error, "a claimed execution cannot run");
        let outcome = ExecutionOutcome {
            status: ExecutionStatus::Failed,
            error: Some(format!("the workflow version cannot run: {error}")),
            finished_at: now_ms(),
        };
        if let Err(error) = self.store.finish_execution(execution.id, &self.worker_id, &[], &outcome).await {
            tracing::warn!(execution = execution.id, %error, "could not record the failure");
        }
        self.capacity.release(execution.owner_id);
        self.finish_waiters.wake(execution.id);
        self.signals.finished(execution.id).await;
    }

    /// What a run uses of the engine while it goes.
    fn run_context(&self) -> RunContext<'_> {
        RunContext {
            store: self.store.as_ref(),
            worker_id: &self.worker_id,
            services: &self.services,
            slots: &self.slots,
            writes: &self.writes,
            signals: &self.signals,
            settings: &self.settings,
            shutdown: &self.shutdown,
        }
    }

    fn lease(&self, now: i64) -> Lease {
        Lease { owner: self.worker_id.clone(), expires_at: now + self.settings.queue.lease.as_millis() as i64 }
    }

    /// Tells the other processes (at most once per half lease) that this one
    /// holds leases, so they know when to look for executions to take over.
    async fn announce_leases(&self) {
        let due = {
            let mut last = self.leases_announced.lock().expect("lease announcements");
            let due = last.is_none_or(|at| at.elapsed() >= self.settings.queue.lease / 2);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            self.signals.publish(Notice::Leased).await;
        }
    }

    /// Starts a run and waits for its end.
    pub async fn run(self: &Arc<Self>, request: StartRequest<'_>) -> AppResult<ExecutionReport> {
        let handle = self.start(request).await?;
        handle.done.await.map_err(|e| {
            tracing::error!(error = %e, "a run's task failed");
            AppError::Internal
        })?
    }

    /// Cancels an execution running here; false when it does not run here.
    pub fn cancel(&self, id: ExecutionId) -> bool {
        self.local.cancel(id)
    }

    /// Cancels an execution wherever it is, and the child runs it started: a
    /// queued or waiting run ends at once; a running one is told to stop
    /// (here, or through the bus in the process that runs it).
    pub async fn cancel_run(&self, scope: Scope, id: ExecutionId) -> AppResult<ExecutionStatus> {
        let status = self.store.request_cancel(scope, id).await?;
        if status == ExecutionStatus::Running && !self.cancel(id) {
            self.signals.publish(Notice::Cancel(id)).await;
        }
        self.cancel_children(id, &[]).await;
        Ok(status)
    }

    /// Cancels the unfinished child runs of `parent` (but those of the nodes
    /// in `keep`), and theirs.
    async fn cancel_children(&self, parent: ExecutionId, keep: &[String]) {
        let children = match self.store.child_executions(parent, true, CHILDREN_CANCELLED_AT_ONCE).await {
            Ok(children) => children,
            Err(error) => {
                tracing::warn!(execution = parent, %error, "could not read the child runs to cancel");
                return;
            }
        };
        let started_by_kept = |child: &Execution| child.parent.as_ref().is_some_and(|p| keep.contains(&p.node));
        for child in children.into_iter().filter(|child| !started_by_kept(child)) {
            match Box::pin(self.cancel_run(Scope::Everyone, child.id)).await {
                // It ended meanwhile.
                Ok(_) | Err(AppError::Conflict(_) | AppError::NotFound(_)) => {}
                Err(error) => tracing::warn!(execution = child.id, %error, "could not cancel a child run"),
            }
        }
    }

    /// Waits until execution `id` has finished (a run waiting at a `wait`
    /// node has not); its stored report.
    pub async fn wait_until_finished(&self, id: ExecutionId) -> AppResult<ExecutionReport> {
        self.finish_waiters.wait_until_finished(self.store.as_ref(), id).await
    }

    /// Events of an execution running here — what its nodes streamed so far,
    /// then the live events —; `None` when it does not run here.
    pub fn subscribe(&self, id: ExecutionId) -> Option<(Vec<RunEvent>, broadcast::Receiver<RunEvent>)> {
        self.events.subscribe(id)
    }

    /// Starts the background work: reacting to other processes' signals,
    /// renewing the leases of what runs here, and (with `claim`) claiming
    /// executions from the queue. The CLI's one-off runs do not claim.
    pub fn spawn_workers(self: &Arc<Self>, claim: bool) {
        queue::spawn(self.clone(), claim);
        if self.settings.queue.runs_executions {
            tokio::spawn(waits::time_out_waits(self.clone()));
        }
    }

    /// Starts a graceful shutdown: nothing new starts or is claimed; running
    /// nodes get the grace period to finish; the rest is handed back to the queue.
    pub fn begin_shutdown(&self) {
        self.shutdown.cancel();
    }

    /// Resolves when a shutdown begins (open event streams end then, so the
    /// server does not wait for them).
    pub fn shutting_down(&self) -> tokio_util::sync::WaitForCancellationFutureOwned {
        self.shutdown.clone().cancelled_owned()
    }

    /// [`Engine::begin_shutdown`], then waits until no execution runs here.
    pub async fn shut_down(&self) {
        self.shutdown.cancel();
        let deadline = Instant::now() + self.settings.queue.shutdown_grace + Duration::from_secs(5);
        while self.running_executions() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The most child runs one cancel reaches per parent (a `for_each` over a
/// workflow runs at most its concurrency at once, far fewer).
const CHILDREN_CANCELLED_AT_ONCE: u32 = 1_000;

/// `host-pid-random`: readable in the executions table, unique per start.
fn new_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "weft".into());
    format!("{host}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}
