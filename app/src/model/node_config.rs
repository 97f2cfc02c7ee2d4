//! Typed node configurations, produced by validation from the raw JSON of a
//! [`NodeDefinition`](super::definition::NodeDefinition). The engine runs these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Every node kind Weft knows, in the order the editor's palette lists them.
pub const NODE_KINDS: [&str; 11] =
    ["http", "llm", "agent", "template", "code", "condition", "switch", "merge", "delay", "wait", "workflow"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "config", rename_all = "lowercase")]
pub enum NodeConfig {
    Http(HttpConfig),
    Llm(LlmConfig),
    Agent(AgentConfig),
    Template(TemplateConfig),
    Code(CodeConfig),
    Condition(ConditionConfig),
    Switch(SwitchConfig),
    Merge(MergeConfig),
    Delay(DelayConfig),
    Wait(WaitConfig),
    Workflow(WorkflowCallConfig),
}

impl NodeConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            NodeConfig::Http(_) => "http",
            NodeConfig::Llm(_) => "llm",
            NodeConfig::Agent(_) => "agent",
            NodeConfig::Template(_) => "template",
            NodeConfig::Code(_) => "code",
            NodeConfig::Condition(_) => "condition",
            NodeConfig::Switch(_) => "switch",
            NodeConfig::Merge(_) => "merge",
            NodeConfig::Delay(_) => "delay",
            NodeConfig::Wait(_) => "wait",
            NodeConfig::Workflow(_) => "workflow",
        }
    }

    /// Template texts inside this config, as (field, source) pairs, so validation
    /// can check that each one parses.
    pub fn templates(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        match self {
            NodeConfig::Http(c) => out.extend(c.templates()),
            NodeConfig::Llm(c) => {
                out.push(("prompt".to_string(), c.prompt.as_str()));
                if let Some(system) = &c.system {
                    out.push(("system".to_string(), system.as_str()));
                }
            }
            NodeConfig::Agent(c) => {
                out.push(("prompt".to_string(), c.prompt.as_str()));
                if let Some(system) = &c.system {
                    out.push(("system".to_string(), system.as_str()));
                }
                for (i, tool) in c.tools.iter().enumerate() {
                    for (field, source) in tool.http.iter().flat_map(HttpConfig::templates) {
                        out.push((format!("tools[{i}].http.{field}"), source));
                    }
                }
            }
            NodeConfig::Template(c) => out.push(("template".to_string(), c.template.as_str())),
            NodeConfig::Code(_)
            | NodeConfig::Condition(_)
            | NodeConfig::Switch(_)
            | NodeConfig::Merge(_)
            | NodeConfig::Delay(_)
            | NodeConfig::Wait(_)
            | NodeConfig::Workflow(_) => {}
        }
        out
    }

    /// The branches this node's outgoing edges choose among, in order: a
    /// condition's `true` then `false`, a switch's cases then `default`; none
    /// for other kinds (their edges carry no branch).
    pub fn branches(&self) -> Vec<&str> {
        match self {
            NodeConfig::Condition(_) => vec!["true", "false"],
            NodeConfig::Switch(c) => c.cases.iter().map(|case| case.name.as_str()).chain([DEFAULT_CASE]).collect(),
            _ => Vec::new(),
        }
    }
}

/// The branches of a node as written (before validation), for edges and the
/// editor's output dots: see [`NodeConfig::branches`]. A switch whose cases do
/// not parse yet has only `default`.
pub fn raw_branches(kind: &str, config: &Value) -> Vec<String> {
    match kind {
        "condition" => vec!["true".into(), "false".into()],
        "switch" => {
            let cases = config.get("cases").and_then(Value::as_array).into_iter().flatten();
            let names = cases.filter_map(|case| case.get("name")?.as_str()).map(str::to_owned);
            names.chain([DEFAULT_CASE.to_string()]).collect()
        }
        _ => Vec::new(),
    }
}

/// The branch a switch takes when no case holds.
pub const DEFAULT_CASE: &str = "default";

/// The most cases one switch may have.
pub const MAX_SWITCH_CASES: usize = 20;

/// `switch`: the first case whose expression holds names the branch taken;
/// when none holds, the `default` branch is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchConfig {
    pub cases: Vec<SwitchCase>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchCase {
    /// What edges leaving by this case write in `"branch"`.
    pub name: String,
    /// A minijinja expression, like a condition's.
    pub expr: String,
}

/// `http`: one request; every text field is a template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpConfig {
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// A template string, or any JSON value sent as a JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The name of a credential (the owner's, else a shared one) the engine
    /// applies when it sends the request: templates never see its value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl HttpConfig {
    /// Its template texts, as (field, source) pairs.
    pub fn templates(&self) -> Vec<(String, &str)> {
        let mut out = vec![("method".to_string(), self.method.as_str()), ("url".to_string(), self.url.as_str())];
        for (name, value) in self.headers.iter().flatten() {
            out.push((format!("headers.{name}"), value.as_str()));
        }
        if let Some(Value::String(body)) = &self.body {
            out.push(("body".to_string(), body.as_str()));
        }
        out
    }
}

/// `llm`: one chat completion from the instance's provider or a named one
/// (OpenAI-compatible or Anthropic), with fallbacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlmConfig {
    /// The name of an `llm` credential (the owner's, else a shared one); none:
    /// the instance's LLM settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Empty: the provider's default model.
    #[serde(default)]
    pub model: String,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Whether identical requests may be answered from the response cache.
    #[serde(default = "yes")]
    pub cache: bool,
    /// A JSON Schema the answer must follow: the provider is asked for JSON
    /// that follows it, and the node's output is the parsed answer (see
    /// `structured` in the engine's llm node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
    /// Providers asked in order when the one before fails (unreachable, a
    /// timeout, an error answer, rate limits that outlast their retries).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<LlmFallback>,
}

/// The most fallbacks an llm node may list.
pub const MAX_LLM_FALLBACKS: usize = 3;

/// A provider an llm node falls back to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmFallback {
    /// An `llm` credential's name; none: the instance's LLM settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Empty: that provider's default model (a model name rarely means the
    /// same thing at two providers).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
}

fn yes() -> bool {
    true
}

/// Model turns an agent takes when the node does not say.
pub const DEFAULT_AGENT_STEPS: u32 = 10;
/// The most model turns an agent may take: each one sends the whole conversation again.
pub const MAX_AGENT_STEPS: u32 = 50;
/// The most tools one agent may offer.
pub const MAX_AGENT_TOOLS: usize = 32;
/// The most tool calls of one model turn that run; more are answered with an
/// error (a model asking for hundreds at once would take every slot).
pub const MAX_TOOL_CALLS_PER_TURN: usize = 16;
/// Tool calls of one turn running at once.
pub const TOOL_CALL_CONCURRENCY: usize = 8;

/// `agent`: a system and a user prompt, a provider, and tools; the model is
/// asked, the tools it calls run (in parallel when it calls several), their
/// results go back to it, until it answers without calling any, or
/// `max_steps` model turns have been taken (the node then fails).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// The name of an `llm` credential; none: the instance's LLM settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Empty: the provider's default model.
    #[serde(default)]
    pub model: String,
    /// Providers asked in order when the one before fails (per model turn).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fallbacks: Vec<LlmFallback>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The task (a template).
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Per model turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default)]
    pub tools: Vec<AgentTool>,
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
}

fn default_max_steps() -> u32 {
    DEFAULT_AGENT_STEPS
}

/// A tool the model may call: another of the owner's workflows (its input is
/// the call's arguments, its answer the result), or an HTTP request whose
/// templates read the arguments as `args`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTool {
    /// What the model calls it: 1 to 64 letters, digits, `_` or `-`.
    pub name: String,
    /// What it does and when to use it: the model reads this to choose.
    #[serde(default)]
    pub description: String,
    /// A JSON Schema of the arguments (an object): given to the model, and
    /// the arguments it sends are checked against it before the tool runs.
    #[serde(default = "any_object")]
    pub input_schema: Value,
    /// The id of one of the owner's workflows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<i64>,
    /// With `workflow`: a version to pin; none: its current version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// An `http` node's config; its templates see `args`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpConfig>,
}

fn any_object() -> Value {
    serde_json::json!({"type": "object"})
}

/// `template`: renders text; with `json`, parses the text as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateConfig {
    pub template: String,
    #[serde(default)]
    pub json: bool,
}

/// `code`: a JavaScript function body with `input` and `nodes` in scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeConfig {
    pub source: String,
}

/// `condition`: a minijinja expression; outgoing edges carry the branch taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionConfig {
    pub expr: String,
}

/// `merge`: collects the outputs of its non-skipped upstream nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeConfig {}

/// The longest a `delay` node waits, and the longest `timeout_ms`: a day.
/// Longer waits hold a run in memory for no purpose.
pub const MAX_WAIT_MS: u64 = 24 * 60 * 60 * 1000;
/// The most attempts a retry policy may ask for.
pub const MAX_RETRY_ATTEMPTS: u32 = 10;
/// The longest first backoff of a retry policy: an hour (later waits double, up to a minute each in practice).
pub const MAX_RETRY_BACKOFF_MS: u64 = 60 * 60 * 1000;

/// `delay`: waits, then reports how long it waited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DelayConfig {
    pub ms: u64,
}

/// `wait`: pauses the run until someone resumes it (through the API, the
/// node's resume URL, or the run view's buttons); what they send is the
/// node's output. A waiting run holds no slot and no memory: it is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WaitConfig {
    /// How long to wait at most (see [`MAX_RESUME_WAIT_MS`]); none: until resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// What a timeout does to the node.
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

/// The longest a `wait` node may wait: 30 days.
pub const MAX_RESUME_WAIT_MS: u64 = 30 * 24 * 60 * 60 * 1000;

/// What a `wait` node that nobody resumed in time does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnTimeout {
    /// The node fails (and with it the run, unless its `on_error` is `continue`).
    #[default]
    Fail,
    /// The node succeeds with `{"timed_out": true}`; the run goes on.
    Continue,
}

/// `workflow`: runs another of the owner's workflows as a child run, linked
/// to this one. With `wait` (the default) the node's output is the child's
/// answer (its webhook's `respond_with` node, else its last node to
/// succeed) and a failed child fails the node; without, the node starts the
/// child and goes on with `{"execution", "status"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowCallConfig {
    /// The id of the workflow to run (one of the owner's).
    pub workflow: i64,
    /// A version to pin; none: the workflow's current version when the node runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// A minijinja expression giving the child's input (`{"row": item}`);
    /// none: `item` for a node with `for_each`, else this run's `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// Wait for the child's result (true), or start it and go on.
    #[serde(default = "yes")]
    pub wait: bool,
}

impl WorkflowCallConfig {
    /// The expression giving the child's input, with its default.
    pub fn input_expr(&self, per_item: bool) -> &str {
        match &self.input {
            Some(expr) => expr,
            None if per_item => "item",
            None => "input",
        }
    }
}

/// How deep workflows may call workflows when the instance does not say
/// (`WEFT_MAX_WORKFLOW_DEPTH`): a run started by a `workflow` node is one
/// deeper than its parent; a run at this depth cannot start another.
pub const DEFAULT_MAX_WORKFLOW_DEPTH: u32 = 8;

/// What a failing node does to the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop the run: running nodes are cancelled, pending ones marked cancelled.
    #[default]
    Fail,
    /// Record the error and let downstream nodes run with it in `nodes.<id>.error`.
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    #[serde(default)]
    pub backoff_ms: u64,
}

/// Settings any node may carry, whatever its kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodePolicy {
    /// Per attempt (per item, for a node with `for_each`).
    pub timeout_ms: Option<u64>,
    /// Per item, for a node with `for_each`.
    pub retry: Option<RetryPolicy>,
    /// For a node with `for_each`: `continue` records a failed item's error in
    /// its slot of the output (`{"error": …}`) and goes on with the others.
    pub on_error: OnError,
    pub for_each: Option<ForEach>,
}

/// A node that runs once per item of a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForEach {
    /// A minijinja expression giving the list (`input.rows`, `nodes.fetch.body.items`).
    pub expr: String,
    /// Items running at once.
    pub concurrency: usize,
}

/// Items of a `for_each` running at once when the node does not say.
pub const DEFAULT_FOR_EACH_CONCURRENCY: usize = 8;
/// The most items of one `for_each` that may run at once: beyond, one run's
/// list would take every node slot a user has.
pub const MAX_FOR_EACH_CONCURRENCY: usize = 50;
/// Kinds that cannot run per item: a branch or a merge is one decision about
/// the graph, not one per item; a wait pauses the whole run.
/// An agent records its steps per node, not per item: call a workflow with
/// the agent in it per item instead.
pub const NOT_PER_ITEM: [&str; 5] = ["condition", "switch", "merge", "wait", "agent"];
