//! The engine: runs workflows. A pure [`scheduler`] decides what may run; the
//! [`driver`] runs ready nodes concurrently (bounded per execution and per
//! process), persists every state change in batches, and publishes events.
//! The [`queue`] hands executions between processes: each runs under a lease,
//! and one whose process died is taken over and resumed elsewhere.

pub mod driver;
pub mod events;
mod group_commit;
pub mod nodes;
pub mod queue;
pub mod relay;
pub mod scheduler;
mod start;

pub use start::{RunHandle, StartRequest};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::{ExecutionStart, Lease, NewExecution, Store};
use tokio::sync::{broadcast, oneshot, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use self::driver::{RunControl, RunStart};
use self::events::EventHub;
use self::nodes::code::{CodeRunner, CodeSettings};
use self::nodes::http::{HttpNode, HttpNodeSettings};
use self::nodes::llm::{LlmClient, LlmSettings};
use self::nodes::NodeServices;
use crate::signals::{Signal, Signals};
use crate::store::now_ms;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Nodes of one execution running at once.
    pub max_parallel_nodes: usize,
    /// Nodes running at once across every execution of this process.
    pub max_running_nodes: usize,
    /// Node state changes are written at least this often…
    pub flush_interval: Duration,
    /// …or as soon as this many are pending.
    pub flush_rows: usize,
    pub queue: QueueSettings,
    pub http: HttpNodeSettings,
    pub llm: LlmSettings,
    pub code: CodeSettings,
    /// Where the key that seals stored secrets comes from.
    pub secret_key: crate::settings::SecretKeySource,
}

/// How this process takes part in the execution queue.
#[derive(Debug, Clone)]
pub struct QueueSettings {
    /// Whether this process runs executions (roles `worker` and `all`) or only
    /// queues them for others (role `web`).
    pub runs_executions: bool,
    /// Executions running here at once; beyond it new ones wait in the queue.
    pub max_running_executions: usize,
    /// How long a lease lasts without renewal: a process that dies has its
    /// executions taken over about this long after its last renewal.
    pub lease: Duration,
    /// At shutdown, how long running nodes may take to finish before what is
    /// left of their executions is handed back to the queue.
    pub shutdown_grace: Duration,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            runs_executions: true,
            max_running_executions: 512,
            lease: Duration::from_secs(20),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_parallel_nodes: 16,
            max_running_nodes: 256,
            flush_interval: Duration::from_millis(50),
            flush_rows: 256,
            queue: QueueSettings::default(),
            http: HttpNodeSettings::default(),
            llm: LlmSettings::default(),
            code: CodeSettings::default(),
            secret_key: Default::default(),
        }
    }
}

/// An execution running in this process.
struct LocalRun {
    control: RunControl,
    /// When it started here: a lease renewal that began earlier cannot have seen it.
    since: Instant,
}

pub struct Engine {
    store: Arc<dyn Store>,
    services: Arc<NodeServices>,
    process_slots: Arc<Semaphore>,
    settings: EngineSettings,
    events: EventHub,
    /// Identifies this process in leases; unique per start.
    worker_id: String,
    signals: Arc<Signals>,
    local: Mutex<HashMap<ExecutionId, LocalRun>>,
    /// Executions running here (what `max_running_executions` bounds).
    running: AtomicUsize,
    /// Set when something may wait in the queue; cleared when a claim comes back short.
    queue_pending: AtomicBool,
    /// Wakes the claimer: capacity freed, or work queued by this process.
    claimer_wake: Notify,
    /// When this process last told the others it holds leases.
    leases_announced: Mutex<Option<Instant>>,
    /// Callers waiting for executions that run elsewhere.
    finish_waiters: Mutex<HashMap<ExecutionId, Vec<oneshot::Sender<()>>>>,
    /// Validated workflow versions by (workflow, version): versions never change,
    /// so entries are never stale.
    versions: moka::future::Cache<(WorkflowId, i32), Arc<ValidatedWorkflow>>,
    shutdown: CancellationToken,
    /// Write the starts and ends of runs in groups (see `group_commit`); started on first use.
    creator: std::sync::OnceLock<group_commit::Grouper<NewExecution, Execution>>,
    finisher: std::sync::OnceLock<group_commit::Grouper<app::ports::Finish, ()>>,
    /// Nodes ready to run but waiting for a process-wide slot.
    waiting: AtomicUsize,
    /// LLM text of runs here, relayed to followers elsewhere (see `relay`).
    relays: relay::Relays,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, settings: EngineSettings, signals: Arc<Signals>) -> anyhow::Result<Arc<Self>> {
        let services = Arc::new(NodeServices {
            http: HttpNode::new(settings.http.clone())?,
            llm: LlmClient::new(settings.llm.clone())?,
            code: CodeRunner::new(settings.code.clone()),
        });
        Ok(Arc::new(Self {
            store,
            services,
            process_slots: Arc::new(Semaphore::new(settings.max_running_nodes.max(1))),
            settings,
            events: EventHub::default(),
            worker_id: new_worker_id(),
            signals,
            local: Mutex::new(HashMap::new()),
            running: AtomicUsize::new(0),
            // A new process first looks for work left by others (or by its own
            // previous life, after a crash).
            queue_pending: AtomicBool::new(true),
            claimer_wake: Notify::new(),
            leases_announced: Mutex::new(None),
            finish_waiters: Mutex::new(HashMap::new()),
            versions: moka::future::Cache::builder().max_capacity(10_000).build(),
            shutdown: CancellationToken::new(),
            creator: std::sync::OnceLock::new(),
            finisher: std::sync::OnceLock::new(),
            waiting: AtomicUsize::new(0),
            relays: relay::Relays::default(),
        }))
    }

    pub fn waiting_for_slot(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Executions running in this process.
    pub fn running_executions(&self) -> usize {
        self.running.load(Ordering::Relaxed)
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    pub fn signals(&self) -> &Arc<Signals> {
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
        let StartRequest { version, workflow, owner, trigger, mut input, reuse } = request;
        let workflow = match workflow {
            Some(workflow) => workflow,
            None => validate(&version.definition).map_err(AppError::Invalid)?,
        };
        // A webhook's caller may send anything; see `app::model::nul`.
        app::model::nul::replace_nul(&mut input);
        if self.shutdown.is_cancelled() {
            return Err(AppError::Unavailable("this Weft process is shutting down".into()));
        }
        let run_here = self.settings.queue.runs_executions && self.reserve_up_to(1) == 1;
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
        };
        let execution = match self.create(new).await {
            Ok(execution) => execution,
            Err(error) => {
                if run_here {
                    self.release_capacity();
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
            self.release_capacity();
        } else if run_here {
            self.announce_leases().await;
            let start = RunStart { execution_id: execution.id, started_at: now, workflow, input, recorded };
            let (events, done) = self.launch(start, trigger.as_str(), false);
            return Ok(RunHandle { execution, events, done });
        }
        if hold && !taken_over {
            // Held only while the reused results were written: claimable now.
            self.store.release_executions(&self.worker_id, &[execution.id]).await?;
        }
        self.queue_pending.store(true, Ordering::Relaxed);
        self.signals.publish(Signal::Queued).await;
        self.claimer_wake.notify_one();
        let engine = self.clone();
        let id = execution.id;
        let (finished, events) = broadcast::channel(1);
        let done = tokio::spawn(async move {
            let report = engine.wait_elsewhere(id).await?;
            let _ =
                finished.send(RunEvent::Finished { status: report.status, error: report.error.clone(), at: now_ms() });
            Ok(report)
        });
        Ok(RunHandle { execution, events, done })
    }

    /// Starts driving an execution this process holds, in the background.
    fn launch(
        self: &Arc<Self>,
        start: RunStart,
        trigger: &'static str,
        claimed: bool,
    ) -> (broadcast::Receiver<RunEvent>, tokio::task::JoinHandle<AppResult<ExecutionReport>>) {
        let id = start.execution_id;
        let (sender, events) = self.events.open(id);
        let control = RunControl::default();
        self.local.lock().expect("local runs").insert(id, LocalRun { control: control.clone(), since: Instant::now() });
        let engine = self.clone();
        let done = tokio::spawn(async move {
            let result = driver::drive(&engine, start, sender, control).await;
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
            engine.local.lock().expect("local runs").remove(&id);
            engine.events.close(id);
            engine.release_capacity();
            engine.wake_waiters(id);
            // Someone elsewhere may wait for an execution that was queued.
            if claimed && result.is_ok() {
                engine.signals.finished(id).await;
            }
            result
        });
        (events, done)
    }

    /// Waits for an execution that another process (or this one's claimer) runs.
    async fn wait_elsewhere(self: &Arc<Self>, id: ExecutionId) -> AppResult<ExecutionReport> {
        loop {
            let (sender, receiver) = oneshot::channel();
            {
                let mut waiters = self.finish_waiters.lock().expect("finish waiters");
                let waiting = waiters.entry(id).or_default();
                // Drop the senders of earlier rounds (and of callers that gave up).
                waiting.retain(|waiter| !waiter.is_closed());
                waiting.push(sender);
            }
            let execution = self.store.execution(Scope::Everyone, id).await?;
            if execution.status.is_finished() {
                let runs = self.store.node_runs(Scope::Everyone, id).await?;
                return Ok(report_from_store(&execution, runs));
            }
            // A signal is a hint; look at the database now and then all the same.
            let _ = tokio::time::timeout(Duration::from_secs(5), receiver).await;
        }
    }

    fn wake_waiters(&self, id: ExecutionId) {
        if let Some(waiters) = self.finish_waiters.lock().expect("finish waiters").remove(&id) {
            for waiter in waiters {
                let _ = waiter.send(());
            }
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
            self.signals.publish(Signal::Leased).await;
        }
    }

    /// Gives back the room of a run that ended, and lets the claimer use it.
    fn release_capacity(&self) {
        self.unreserve(1);
        if self.queue_pending.load(Ordering::Relaxed) {
            self.claimer_wake.notify_one();
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
        match self.local.lock().expect("local runs").get(&id) {
            Some(run) => {
                run.control.cancel.cancel();
                true
            }
            None => false,
        }
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

/// `host-pid-random`: readable in the executions table, unique per start.
fn new_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "weft".into());
    format!("{host}-{}-{:08x}", std::process::id(), rand::random::<u32>())
}

/// Milliseconds since the epoch as RFC 3339 (UTC, millisecond precision).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The report of an execution as stored (for executions read back later, or
/// run by another process).
pub fn report_from_store(execution: &Execution, runs: Vec<NodeRun>) -> ExecutionReport {
    build_report(
        execution.id,
        execution.status,
        execution.error.clone(),
        execution.started_at,
        execution.finished_at,
        runs,
    )
}

fn build_report(
    id: ExecutionId,
    status: ExecutionStatus,
    error: Option<String>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    runs: Vec<NodeRun>,
) -> ExecutionReport {
    let nodes = runs
        .into_iter()
        .map(|r| {
            let report = NodeReport {
                status: r.status,
                output: r.output,
                error: r.error,
                attempts: r.attempt,
                started_at: r.started_at.map(rfc3339),
                finished_at: r.finished_at.map(rfc3339),
            };
            (r.node_id, report)
        })
        .collect();
    ExecutionReport {
        id,
        status,
        error,
        started_at: started_at.map(rfc3339),
        finished_at: finished_at.map(rfc3339),
        nodes,
    }
}
