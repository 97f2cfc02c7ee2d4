//! What each node kind does. The driver calls [`NodeServices::run`] with the
//! node's config and what it can see (`input`, `nodes.<id>`), and gets an output.

pub mod agent;
pub mod code;
pub mod http;
pub mod llm;
pub mod pool;
pub mod template;
pub mod workflow;

use std::sync::Arc;
use std::time::Duration;

use app::model::NodeConfig;
use serde_json::{Map, Value};

use super::events::RunEvents;

/// The outputs of the nodes decided so far, by node id. Cloning it is cheap
/// (a persistent map of shared outputs): every node start takes a snapshot,
/// so a long chain costs linear, not quadratic, time and memory.
pub type Outputs = imbl::OrdMap<String, Arc<Value>>;

/// Everything a node sees: the run's input and the outputs of decided nodes.
#[derive(Debug, Clone)]
pub struct NodeScope {
    /// The run this node belongs to.
    pub execution_id: app::model::ExecutionId,
    /// How deep the run is in a chain of `workflow` nodes (0: started by a trigger).
    pub depth: i32,
    pub node_id: String,
    /// The owner of the run.
    pub owner: app::model::UserId,
    /// The same for every attempt of this node in this execution, in this
    /// process or in one that takes the execution over: a node that runs again
    /// after a crash passes it on (`http` nodes send it as `Idempotency-Key`)
    /// so the service it calls can tell a repeat from a new request.
    pub idempotency_key: String,
    pub input: Arc<Value>,
    /// `nodes.<id>` for every node decided so far: its output, or `{"error": …}`
    /// for a node that failed under `on_error: continue`.
    pub nodes: Outputs,
    /// The size of `input` and of each output as JSON: a template that reads
    /// little renders without leaving the runtime (see `template`).
    pub sizes: ScopeSizes,
    /// Upstream nodes whose output reaches this node (what `merge` collects).
    pub live_inputs: Vec<String>,
    /// `vars` in templates: the owner's variables over the instance's, read
    /// once per run (an empty object for workflows that never mention them).
    pub vars: Arc<Value>,
    /// `resume_urls` in templates: the resume URL of each `wait` node of the run.
    pub resume_urls: Arc<Value>,
    /// For a node with `for_each`, the item this run of it is for.
    pub item: Option<Item>,
}

/// One item of a node with `for_each`: `item` and `index` in its templates and scripts.
#[derive(Debug, Clone)]
pub struct Item {
    pub value: Arc<Value>,
    pub index: usize,
    /// Its size as JSON (what a template reading it is charged).
    pub bytes: usize,
}

/// The size of a scope's parts as JSON.
#[derive(Debug, Clone, Default)]
pub struct ScopeSizes {
    pub input: usize,
    pub outputs: imbl::OrdMap<String, usize>,
}

/// What a node produced.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeOutput {
    pub value: Value,
    /// The branch a condition or a switch takes, as its index in
    /// [`app::model::NodeConfig::branches`] (a condition: 0 true, 1 false).
    pub branch: Option<usize>,
    /// The size of `value` as JSON, once measured (outputs read back after a restart are not).
    pub bytes: Option<usize>,
}

impl NodeOutput {
    fn value(value: Value) -> Self {
        Self { value, branch: None, bytes: None }
    }
}

/// The shared clients and limits nodes run with: one HTTP client, one LLM
/// client with its cache, one code sandbox pool, one template pool.
pub struct NodeServices {
    /// The largest output (as JSON) a node may produce: it is stored, sent
    /// to every follower and read by every downstream node.
    pub max_output_bytes: usize,
    pub templates: template::Templates,
    pub http: http::HttpNode,
    pub llm: llm::LlmClient,
    pub code: code::CodeRunner,
    pub workflows: workflow::WorkflowCalls,
    pub agents: agent::Agents,
}

impl NodeServices {
    pub async fn run(
        self: &Arc<Self>,
        config: &NodeConfig,
        scope: &NodeScope,
        events: &RunEvents,
    ) -> Result<NodeOutput, String> {
        let mut output = self.run_kind(config, scope, events).await?;
        let size = crate::weigh::json_bytes(&output.value);
        output.bytes = Some(size);
        if size > self.max_output_bytes {
            return Err(format!(
                "the output is {size} bytes of JSON, more than the {}-byte limit for one node",
                self.max_output_bytes
            ));
        }
        Ok(output)
    }

    async fn run_kind(
        self: &Arc<Self>,
        config: &NodeConfig,
        scope: &NodeScope,
        events: &RunEvents,
    ) -> Result<NodeOutput, String> {
        match config {
            NodeConfig::Template(c) => self.templates.render_node(c, scope).await.map(NodeOutput::value),
            NodeConfig::Condition(c) => {
                let result = self.templates.evaluate_condition(&c.expr, scope).await?;
                let branch = Some(if result { 0 } else { 1 });
                Ok(NodeOutput { value: serde_json::json!({ "result": result }), branch, bytes: None })
            }
            NodeConfig::Switch(c) => {
                // Cases are tried in order; the first that holds is taken, else `default` (the last branch).
                let mut taken = c.cases.len();
                for (index, case) in c.cases.iter().enumerate() {
                    let holds = self.templates.evaluate_condition(&case.expr, scope).await;
                    if holds.map_err(|e| format!("case `{}`: {e}", case.name))? {
                        taken = index;
                        break;
                    }
                }
                let name = c.cases.get(taken).map_or(app::model::node_config::DEFAULT_CASE, |case| &case.name);
                Ok(NodeOutput { value: serde_json::json!({ "case": name }), branch: Some(taken), bytes: None })
            }
            NodeConfig::Merge(_) => {
                let merged: Map<String, Value> = scope
                    .live_inputs
                    .iter()
                    .filter_map(|id| scope.nodes.get(id).map(|v| (id.clone(), Value::clone(v))))
                    .collect();
                Ok(NodeOutput::value(Value::Object(merged)))
            }
            NodeConfig::Delay(c) => {
                let started = std::time::Instant::now();
                tokio::time::sleep(Duration::from_millis(c.ms)).await;
                Ok(NodeOutput::value(serde_json::json!({ "waited_ms": started.elapsed().as_millis() as u64 })))
            }
            // The driver runs no task for a wait: it parks the run instead.
            NodeConfig::Wait(_) => Err("a wait node runs only in a run".into()),
            NodeConfig::Http(c) => self.http.run(c, scope, &self.templates).await.map(NodeOutput::value),
            NodeConfig::Llm(c) => {
                self.llm.run_node(c, scope, events, &self.templates, &self.http).await.map(NodeOutput::value)
            }
            NodeConfig::Agent(c) => self.agents.run(self, c, scope, events).await.map(NodeOutput::value),
            NodeConfig::Code(c) => self.code.run(c, scope).await.map(NodeOutput::value),
            NodeConfig::Workflow(c) => self.workflows.run(c, scope, &self.templates).await.map(NodeOutput::value),
        }
    }
}
