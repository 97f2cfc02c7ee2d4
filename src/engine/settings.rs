//! How the engine is tuned: its bounds, batching, queue role and node settings.

use std::time::Duration;

use super::nodes::code::CodeSettings;
use super::nodes::http::HttpNodeSettings;
use super::nodes::llm::LlmSettings;
use super::nodes::template::TemplateSettings;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Nodes of one execution running at once.
    pub max_parallel_nodes: usize,
    /// Nodes running at once across every execution of this process.
    pub max_running_nodes: usize,
    /// The share of `max_running_nodes` one user's nodes may hold (percent).
    pub max_user_share_percent: u32,
    /// Event streams one user may hold open in this process.
    pub max_event_streams_per_user: usize,
    /// The largest output one node may produce, as JSON.
    pub max_output_bytes: usize,
    /// The most items one node with `for_each` may run.
    pub max_for_each_items: usize,
    /// How deep a chain of `workflow` nodes may go.
    pub max_workflow_depth: u32,
    /// Node state changes are written at least this often…
    pub flush_interval: Duration,
    /// …or as soon as this many are pending.
    pub flush_rows: usize,
    pub queue: QueueSettings,
    /// The address browsers use to reach Weft (`WEFT_PUBLIC_URL`): resume
    /// URLs start with it (without it they are paths).
    pub public_url: Option<String>,
    pub http: HttpNodeSettings,
    pub llm: LlmSettings,
    pub code: CodeSettings,
    pub templates: TemplateSettings,
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
            max_output_bytes: 16 * 1024 * 1024,
            max_for_each_items: 10_000,
            max_workflow_depth: app::model::node_config::DEFAULT_MAX_WORKFLOW_DEPTH,
            max_event_streams_per_user: 32,
            max_user_share_percent: 50,
            flush_interval: Duration::from_millis(50),
            flush_rows: 256,
            queue: QueueSettings::default(),
            public_url: None,
            http: HttpNodeSettings::default(),
            llm: LlmSettings::default(),
            code: CodeSettings::default(),
            templates: TemplateSettings::default(),
        }
    }
}
