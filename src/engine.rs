//! The engine: runs workflows. A pure [`scheduler`] decides what may run; the
//! [`driver`] runs ready nodes concurrently (bounded per execution and per
//! process), persists every state change in batches, and publishes events.

pub mod driver;
pub mod events;
pub mod nodes;
pub mod scheduler;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::{NewExecution, Store};
use serde_json::Value;
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;

use self::events::EventHub;
use self::nodes::code::{CodeRunner, CodeSettings};
use self::nodes::http::{HttpNode, HttpNodeSettings};
use self::nodes::llm::{LlmClient, LlmSettings};
use self::nodes::NodeServices;

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
    pub http: HttpNodeSettings,
    pub llm: LlmSettings,
    pub code: CodeSettings,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            max_parallel_nodes: 16,
            max_running_nodes: 256,
            flush_interval: Duration::from_millis(50),
            flush_rows: 256,
            http: HttpNodeSettings::default(),
            llm: LlmSettings::default(),
            code: CodeSettings::default(),
        }
    }
}

pub struct Engine {
    store: Arc<dyn Store>,
    services: Arc<NodeServices>,
    process_slots: Arc<Semaphore>,
    settings: EngineSettings,
    events: EventHub,
    cancels: Mutex<HashMap<ExecutionId, CancellationToken>>,
    /// Nodes ready to run but waiting for a process-wide slot.
    waiting: std::sync::atomic::AtomicUsize,
}

/// A run that has been created and is running in the background.
pub struct RunHandle {
    pub execution: Execution,
    /// Every event of the run, from its first (subscribed before it started).
    pub events: broadcast::Receiver<RunEvent>,
    pub done: tokio::task::JoinHandle<AppResult<ExecutionReport>>,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, settings: EngineSettings) -> anyhow::Result<Arc<Self>> {
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
            cancels: Mutex::new(HashMap::new()),
            waiting: std::sync::atomic::AtomicUsize::new(0),
        }))
    }

    pub fn waiting_for_slot(&self) -> usize {
        self.waiting.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn services(&self) -> &Arc<NodeServices> {
        &self.services
    }

    /// Creates an execution of a saved workflow version and starts running it.
    /// The definition is validated again: a run never trusts what was stored.
    pub async fn start(
        self: &Arc<Self>,
        version: &WorkflowVersion,
        owner: UserId,
        trigger: Trigger,
        input: Value,
    ) -> AppResult<RunHandle> {
        let workflow = validate(&version.definition).map_err(AppError::Invalid)?;
        self.start_validated(version, workflow, owner, trigger, input).await
    }

    /// [`Engine::start`] for a caller that holds the version already validated
    /// (webhooks cache it, so a call does not parse every template again).
    pub async fn start_validated(
        self: &Arc<Self>,
        version: &WorkflowVersion,
        workflow: ValidatedWorkflow,
        owner: UserId,
        trigger: Trigger,
        input: Value,
    ) -> AppResult<RunHandle> {
        let execution = self
            .store
            .create_execution(&NewExecution {
                workflow_id: version.workflow_id,
                version: version.version,
                owner_id: owner,
                trigger,
                input: input.clone(),
                started_at: Some(crate::store::now_ms()),
            })
            .await?;
        metrics::counter!("weft_executions_started_total", "trigger" => trigger.as_str()).increment(1);
        let (sender, events) = self.events.open(execution.id);
        let cancel = CancellationToken::new();
        self.cancels.lock().expect("cancel registry").insert(execution.id, cancel.clone());
        let engine = self.clone();
        let id = execution.id;
        let execution_started_at = execution.started_at.unwrap_or(execution.created_at);
        let done = tokio::spawn(async move {
            let started_at = execution_started_at;
            let result = driver::drive(&engine, id, started_at, workflow, input, sender, cancel).await;
            let status = result.as_ref().map(|r| r.status.as_str()).unwrap_or("error");
            metrics::counter!("weft_executions_finished_total", "status" => status, "trigger" => trigger.as_str())
                .increment(1);
            engine.cancels.lock().expect("cancel registry").remove(&id);
            engine.events.close(id);
            result
        });
        Ok(RunHandle { execution, events, done })
    }

    /// Starts a run and waits for its end.
    pub async fn run(
        self: &Arc<Self>,
        version: &WorkflowVersion,
        owner: UserId,
        trigger: Trigger,
        input: Value,
    ) -> AppResult<ExecutionReport> {
        let handle = self.start(version, owner, trigger, input).await?;
        handle.done.await.map_err(|e| {
            tracing::error!(error = %e, "a run's task failed");
            AppError::Internal
        })?
    }

    /// Cancels a running execution; false when it is not running here.
    pub fn cancel(&self, id: ExecutionId) -> bool {
        match self.cancels.lock().expect("cancel registry").get(&id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Events of a running execution; `None` when it is not running here.
    pub fn subscribe(&self, id: ExecutionId) -> Option<broadcast::Receiver<RunEvent>> {
        self.events.subscribe(id)
    }
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
