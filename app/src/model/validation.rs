//! Validation shared by the editor (in the browser, as the user types) and the
//! server (on save, and again before a run). Every message names its culprit: the
//! node, the field, or the nodes on a cycle.

use std::collections::{HashMap, HashSet};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::credentials::check_credential_name;
use super::definition::{Edge, NodeDefinition, WorkflowDefinition};
use super::node_config::{
    raw_branches, AgentConfig, CodeConfig, ConditionConfig, DelayConfig, ForEach, HttpConfig, LlmConfig, MergeConfig,
    NodeConfig, NodePolicy, OnError, RetryPolicy, SwitchConfig, TemplateConfig, WaitConfig, WorkflowCallConfig,
    DEFAULT_CASE, DEFAULT_FOR_EACH_CONCURRENCY, MAX_FOR_EACH_CONCURRENCY, MAX_LLM_FALLBACKS, MAX_RESUME_WAIT_MS,
    MAX_RETRY_ATTEMPTS, MAX_RETRY_BACKOFF_MS, MAX_SWITCH_CASES, MAX_WAIT_MS, NODE_KINDS, NOT_PER_ITEM,
};

/// One problem in a definition. `nodes` lists the node ids the editor should
/// highlight (one for most problems, every node on the loop for a cycle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidationError {
    pub nodes: Vec<String>,
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ValidationError {
    fn general(message: impl Into<String>) -> Self {
        Self { nodes: Vec::new(), message: message.into() }
    }

    fn at(node: &str, message: impl Into<String>) -> Self {
        Self { nodes: vec![node.to_string()], message: message.into() }
    }
}

/// A node whose config and policy have been checked and typed.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedNode {
    pub id: String,
    pub config: NodeConfig,
    pub policy: NodePolicy,
}

/// A definition that passed validation, with its nodes typed and in an order in
/// which every node comes after all of its upstream nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedWorkflow {
    pub definition: WorkflowDefinition,
    pub nodes: Vec<ValidatedNode>,
    pub edges: Vec<Edge>,
}

const MAX_NAME_LEN: usize = 200;

/// Checks a definition. Returns every problem found, not just the first, so the
/// editor can show them all at once.
pub fn validate(definition: &WorkflowDefinition) -> Result<ValidatedWorkflow, Vec<ValidationError>> {
    let mut errors = Vec::new();

    if serde_json::to_value(definition).is_ok_and(|whole| super::nul::holds_nul(&whole)) {
        errors.push(ValidationError::general(format!("{}: remove it from the definition", super::nul::NUL_REFUSED)));
    }
    if definition.name.trim().is_empty() {
        errors.push(ValidationError::general("the workflow needs a name"));
    } else if definition.name.chars().count() > MAX_NAME_LEN {
        errors.push(ValidationError::general(format!("the workflow name is longer than {MAX_NAME_LEN} characters")));
    }
    if definition.nodes.is_empty() {
        errors.push(ValidationError::general("the workflow has no nodes"));
    }

    let mut seen = HashSet::new();
    let mut typed = Vec::with_capacity(definition.nodes.len());
    for (index, node) in definition.nodes.iter().enumerate() {
        if node.id.trim().is_empty() {
            errors.push(ValidationError::general(format!("node #{} has an empty id", index + 1)));
            continue;
        }
        if let Some(bad) = node.id.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
            errors.push(ValidationError::at(
                &node.id,
                format!("node id `{}` contains `{bad}`: use letters, digits, `_` and `-`", node.id),
            ));
        }
        if !seen.insert(node.id.as_str()) {
            errors.push(ValidationError::at(&node.id, format!("node id `{}` is used twice", node.id)));
            continue;
        }
        if let Some(problem) = pinned_problem(node) {
            errors.push(ValidationError::at(&node.id, problem));
        }
        match validate_node(node) {
            Ok(valid) => typed.push(valid),
            Err(mut node_errors) => errors.append(&mut node_errors),
        }
    }

    errors.extend(validate_edges(definition, &seen));
    let node_ids: Vec<&str> = definition.nodes.iter().map(|n| n.id.as_str()).collect();
    if let Err(messages) = super::triggers::parse_triggers(&definition.triggers, &node_ids) {
        errors.extend(messages.into_iter().map(ValidationError::general));
    }
    if let Some(Err(message)) = definition.on_failure.as_ref().map(super::on_failure::parse_on_failure) {
        errors.push(ValidationError::general(message));
    }
    if let Err(messages) = definition.input.as_ref().map_or(Ok(Vec::new()), super::input::parse_input_fields) {
        errors.extend(messages.into_iter().map(ValidationError::general));
    }
    if errors.is_empty() {
        if let Some(cycle) = find_cycle(definition) {
            errors.push(ValidationError {
                message: format!("the graph has a cycle: {}", cycle.join(" → ")),
                nodes: {
                    let mut on_cycle = cycle.clone();
                    on_cycle.pop(); // the first node is repeated at the end
                    on_cycle
                },
            });
        }
    }

    if !errors.is_empty() {
        return Err(errors);
    }
    let order = topological_order(definition);
    let mut by_id: HashMap<String, ValidatedNode> = typed.into_iter().map(|n| (n.id.clone(), n)).collect();
    let nodes = order.iter().filter_map(|id| by_id.remove(*id)).collect();
    Ok(ValidatedWorkflow { definition: definition.clone(), nodes, edges: definition.edges.clone() })
}

/// A pinned output too large to keep with every version.
fn pinned_problem(node: &super::NodeDefinition) -> Option<String> {
    let bytes = serde_json::to_vec(node.pinned.as_ref()?).map_or(usize::MAX, |json| json.len());
    (bytes > super::MAX_PINNED_BYTES).then(|| {
        format!(
            "node `{}` ({}): pinned: {bytes} bytes of JSON, more than the {}-byte limit for pinned data",
            node.id,
            node.kind,
            super::MAX_PINNED_BYTES
        )
    })
}

/// [`validate`], and no field Weft does not know ([`unknown_fields`]): what
/// saving a definition (and publishing, and the editor) asks. Running asks
/// only [`validate`], so a workflow stored before a field was checked still runs.
pub fn validate_to_save(definition: &WorkflowDefinition) -> Result<ValidatedWorkflow, Vec<ValidationError>> {
    let unknown = unknown_fields(definition);
    match validate(definition) {
        Ok(valid) => {
            // Paths into outputs that cannot exist (see `references`): checked
            // on save, so a workflow stored before still runs.
            let mut errors = references::check_references(&valid.nodes);
            errors.extend(unknown);
            if errors.is_empty() {
                Ok(valid)
            } else {
                Err(errors)
            }
        }
        Err(mut errors) => {
            errors.extend(unknown);
            Err(errors)
        }
    }
}

fn validate_node(node: &NodeDefinition) -> Result<ValidatedNode, Vec<ValidationError>> {
    let id = node.id.as_str();
    let mut errors = Vec::new();
    let config = match node.config {
        Value::Null => Value::Object(Default::default()),
        Value::Object(_) => node.config.clone(),
        _ => {
            return Err(vec![ValidationError::at(id, format!("node `{id}`: config must be an object"))]);
        }
    };

    let parsed = match node.kind.as_str() {
        "http" => typed_config::<HttpConfig>(id, &node.kind, config).map(NodeConfig::Http),
        "llm" => typed_config::<LlmConfig>(id, &node.kind, config).map(NodeConfig::Llm),
        "agent" => typed_config::<AgentConfig>(id, &node.kind, config).map(NodeConfig::Agent),
        "template" => typed_config::<TemplateConfig>(id, &node.kind, config).map(NodeConfig::Template),
        "code" => typed_config::<CodeConfig>(id, &node.kind, config).map(NodeConfig::Code),
        "condition" => typed_config::<ConditionConfig>(id, &node.kind, config).map(NodeConfig::Condition),
        "switch" => typed_config::<SwitchConfig>(id, &node.kind, config).map(NodeConfig::Switch),
        "merge" => typed_config::<MergeConfig>(id, &node.kind, config).map(NodeConfig::Merge),
        "delay" => typed_config::<DelayConfig>(id, &node.kind, config).map(NodeConfig::Delay),
        "wait" => typed_config::<WaitConfig>(id, &node.kind, config).map(NodeConfig::Wait),
        "workflow" => typed_config::<WorkflowCallConfig>(id, &node.kind, config).map(NodeConfig::Workflow),
        other => Err(ValidationError::at(
            id,
            format!("node `{id}` has unknown type `{other}` (known types: {})", NODE_KINDS.join(", ")),
        )),
    };
    let config = match parsed {
        Ok(config) => config,
        Err(error) => {
            errors.push(error);
            return Err(errors);
        }
    };
    errors.extend(check_config_values(id, &config));

    let policy = match node_policy(node) {
        Ok(policy) => Some(policy),
        Err(error) => {
            errors.push(error);
            None
        }
    };
    match policy {
        Some(policy) if errors.is_empty() => Ok(ValidatedNode { id: id.to_string(), config, policy }),
        _ => Err(errors),
    }
}

fn typed_config<T: DeserializeOwned>(id: &str, kind: &str, config: Value) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize::<_, T>(config).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "config".to_string() } else { format!("config.{path}") };
        ValidationError::at(id, format!("node `{id}` ({kind}): {field}: {}", e.inner()))
    })
}

/// Checks the values serde cannot: ranges, and that templates and expressions parse.
fn check_config_values(id: &str, config: &NodeConfig) -> Vec<ValidationError> {
    let kind = config.kind();
    let mut errors = Vec::new();
    let mut fail = |message: String| errors.push(ValidationError::at(id, format!("node `{id}` ({kind}): {message}")));
    match config {
        NodeConfig::Http(c) => {
            if c.url.trim().is_empty() {
                fail("config.url is empty".into());
            }
            if c.method.trim().is_empty() {
                fail("config.method is empty".into());
            }
            match c.timeout_ms {
                Some(0) => fail("config.timeout_ms must be more than 0".into()),
                Some(ms) if ms > MAX_WAIT_MS => {
                    fail(format!("config.timeout_ms must be at most {MAX_WAIT_MS} (a day), not {ms}"))
                }
                _ => {}
            }
            if let Some(name) = &c.credential {
                if let Err(message) = crate::model::credentials::check_credential_name(name) {
                    fail(format!("config.credential: {message}"));
                }
            }
        }
        NodeConfig::Delay(c) if c.ms > MAX_WAIT_MS => {
            fail(format!("config.ms must be at most {MAX_WAIT_MS} (a day), not {}", c.ms))
        }
        NodeConfig::Wait(c) => match c.timeout_ms {
            Some(0) => fail("config.timeout_ms must be more than 0 (leave it out to wait until resumed)".into()),
            Some(ms) if ms > MAX_RESUME_WAIT_MS => {
                fail(format!("config.timeout_ms must be at most {MAX_RESUME_WAIT_MS} (30 days), not {ms}"))
            }
            _ => {}
        },
        NodeConfig::Workflow(c) => {
            if c.workflow <= 0 {
                fail(format!("config.workflow must be the id of one of your workflows, not {}", c.workflow));
            }
            if let Some(version) = c.version.filter(|v| *v <= 0) {
                fail(format!("config.version must be 1 or more (leave it out for the current version), not {version}"));
            }
            if let Some(Err(message)) = c.input.as_deref().map(check_expression) {
                fail(format!("config.input: {message}"));
            }
        }
        NodeConfig::Llm(c) => {
            // An empty model means the instance's default model (settings page).
            let choice = ModelChoice {
                provider: c.provider.as_deref(),
                model: &c.model,
                fallbacks: &c.fallbacks,
                temperature: c.temperature,
                max_tokens: c.max_tokens,
            };
            choice.problems().into_iter().for_each(&mut fail);
            if let Some(Err(message)) = c.schema.as_ref().map(check_answer_schema) {
                fail(format!("config.schema: {message}"));
            }
        }
        NodeConfig::Agent(c) => agent::agent_problems(c).into_iter().for_each(&mut fail),
        NodeConfig::Code(c) if c.source.trim().is_empty() => fail("config.source is empty".into()),
        NodeConfig::Condition(c) => {
            if let Err(message) = check_expression(&c.expr) {
                fail(format!("config.expr: {message}"));
            }
        }
        NodeConfig::Switch(c) => {
            if c.cases.is_empty() || c.cases.len() > MAX_SWITCH_CASES {
                fail(format!("config.cases must hold 1 to {MAX_SWITCH_CASES} cases, not {}", c.cases.len()));
            }
            let mut names = HashSet::new();
            for (i, case) in c.cases.iter().enumerate() {
                let name_ok = !case.name.is_empty()
                    && case.name.len() <= 40
                    && case.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if !name_ok {
                    fail(format!("config.cases[{i}].name `{}` must be 1 to 40 letters, digits, `_` or `-`", case.name));
                } else if case.name == DEFAULT_CASE {
                    fail(format!("config.cases[{i}].name: `{DEFAULT_CASE}` is the branch taken when no case holds"));
                } else if !names.insert(case.name.as_str()) {
                    fail(format!("config.cases[{i}].name `{}` is used twice", case.name));
                }
                if let Err(message) = check_expression(&case.expr) {
                    fail(format!("config.cases[{i}].expr: {message}"));
                }
            }
        }
        _ => {}
    }
    for (field, source) in config.templates() {
        if let Err(message) = check_template(source) {
            fail(format!("config.{field}: {message}"));
        }
    }
    errors
}

/// How an `llm` or `agent` node picks and asks its model: one set of rules for both.
pub(crate) struct ModelChoice<'a> {
    pub provider: Option<&'a str>,
    pub model: &'a str,
    pub fallbacks: &'a [super::node_config::LlmFallback],
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
}

impl ModelChoice<'_> {
    /// What is wrong, each message naming the field.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(t) = self.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
            problems.push(format!("config.temperature must be between 0 and 2, not {t}"));
        }
        if self.max_tokens == Some(0) {
            problems.push("config.max_tokens must be more than 0".into());
        }
        if let Some(Err(message)) = self.provider.map(check_credential_name) {
            problems.push(format!("config.provider: {message}"));
        }
        if self.fallbacks.len() > MAX_LLM_FALLBACKS {
            problems.push(format!(
                "config.fallbacks lists {} providers, at most {MAX_LLM_FALLBACKS}",
                self.fallbacks.len()
            ));
        }
        for (i, fallback) in self.fallbacks.iter().enumerate() {
            if let Some(Err(message)) = fallback.provider.as_deref().map(check_credential_name) {
                problems.push(format!("config.fallbacks[{i}].provider: {message}"));
            }
        }
        let models = std::iter::once(self.model).chain(self.fallbacks.iter().map(|f| f.model.as_str()));
        if models.clone().any(|m| m.len() > 200 || m.chars().any(char::is_control)) {
            problems.push(
                "config.model (and each fallback's model) must be at most 200 characters, without control characters"
                    .into(),
            );
        }
        problems
    }
}

/// An llm node's answer schema: a JSON object (a JSON Schema). The server
/// also checks it against the JSON Schema meta-schema; the browser, which
/// does not carry a JSON Schema validator, checks the shape only.
pub fn check_answer_schema(schema: &Value) -> Result<(), String> {
    if !schema.is_object() {
        return Err(format!("must be a JSON Schema (an object such as {{\"type\": \"object\"}}), not {schema}"));
    }
    #[cfg(feature = "ssr")]
    if let Err(error) = jsonschema::validator_for(schema) {
        return Err(format!("is not a valid JSON Schema: {error}"));
    }
    Ok(())
}

/// Parses a minijinja template; on failure says where (line and column).
pub fn check_template(source: &str) -> Result<(), String> {
    let env = minijinja::Environment::new();
    env.template_from_str(source).map(|_| ()).map_err(|e| describe_template_error(source, &e))
}

/// Parses a minijinja expression (as used by `condition` nodes).
pub fn check_expression(expr: &str) -> Result<(), String> {
    if expr.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    let env = minijinja::Environment::new();
    env.compile_expression(expr).map(|_| ()).map_err(|e| describe_template_error(expr, &e))
}

fn describe_template_error(source: &str, error: &minijinja::Error) -> String {
    let detail = error.detail().map(str::to_string).unwrap_or_else(|| error.kind().to_string());
    match error.range() {
        Some(range) => {
            let (line, column) = line_and_column(source, range.start);
            format!("syntax error at line {line}, column {column}: {detail}")
        }
        None => match error.line() {
            Some(line) => format!("syntax error at line {line}: {detail}"),
            None => format!("syntax error: {detail}"),
        },
    }
}

fn line_and_column(source: &str, byte_offset: usize) -> (usize, usize) {
    let before = &source[..byte_offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map(|s| s.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

fn node_policy(node: &NodeDefinition) -> Result<NodePolicy, ValidationError> {
    let id = node.id.as_str();
    let invalid = |message: String| ValidationError::at(id, format!("node `{id}`: {message}"));
    let field_error = |field: &str, e: serde_json::Error| invalid(format!("{field}: {e}"));
    let timeout_ms = match &node.timeout_ms {
        None => None,
        Some(v) => match serde_json::from_value::<u64>(v.clone()) {
            Ok(0) => return Err(invalid("timeout_ms must be more than 0".into())),
            Ok(ms) if ms > MAX_WAIT_MS => {
                return Err(invalid(format!("timeout_ms must be at most {MAX_WAIT_MS} (a day), not {ms}")))
            }
            Ok(ms) => Some(ms),
            Err(e) => return Err(field_error("timeout_ms", e)),
        },
    };
    let retry = match &node.retry {
        None => None,
        Some(v) => {
            let retry: RetryPolicy = serde_json::from_value(v.clone()).map_err(|e| field_error("retry", e))?;
            let RetryPolicy { max_attempts, backoff_ms } = retry;
            if max_attempts == 0 {
                return Err(invalid("retry.max_attempts must be at least 1".into()));
            }
            if max_attempts > MAX_RETRY_ATTEMPTS {
                return Err(invalid(format!(
                    "retry.max_attempts must be at most {MAX_RETRY_ATTEMPTS}, not {max_attempts}"
                )));
            }
            if backoff_ms > MAX_RETRY_BACKOFF_MS {
                return Err(invalid(format!(
                    "retry.backoff_ms must be at most {MAX_RETRY_BACKOFF_MS} (an hour), not {backoff_ms}"
                )));
            }
            Some(retry)
        }
    };
    let on_error = match &node.on_error {
        None => OnError::default(),
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|_| invalid(format!("on_error must be \"fail\" or \"continue\", not {v}")))?,
    };
    let for_each = for_each(node).map_err(invalid)?;
    Ok(NodePolicy { timeout_ms, retry, on_error, for_each })
}

/// `for_each` and `concurrency`: the expression parses, the concurrency is in
/// range, and the kind can run per item.
fn for_each(node: &NodeDefinition) -> Result<Option<ForEach>, String> {
    let Some(expr) = &node.for_each else {
        return match node.concurrency {
            Some(_) => Err("concurrency applies only with for_each (how many items run at once)".into()),
            None => Ok(None),
        };
    };
    let Value::String(expr) = expr else {
        return Err(format!("for_each must be an expression giving a list, as text (`input.rows`), not {expr}"));
    };
    check_expression(expr).map_err(|message| format!("for_each: {message}"))?;
    if NOT_PER_ITEM.contains(&node.kind.as_str()) {
        return Err(format!(
            "for_each is not available on {} nodes: put it on the nodes that do the work per item",
            node.kind
        ));
    }
    let concurrency = match &node.concurrency {
        None => DEFAULT_FOR_EACH_CONCURRENCY,
        Some(value) => match value.as_u64() {
            Some(n @ 1..) if n as usize <= MAX_FOR_EACH_CONCURRENCY => n as usize,
            _ => {
                return Err(format!(
                    "concurrency must be a whole number from 1 to {MAX_FOR_EACH_CONCURRENCY}, not {value}"
                ))
            }
        },
    };
    Ok(Some(ForEach { expr: expr.clone(), concurrency }))
}

fn validate_edges(definition: &WorkflowDefinition, ids: &HashSet<&str>) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let kind_of: HashMap<&str, &str> = definition.nodes.iter().map(|n| (n.id.as_str(), n.kind.as_str())).collect();
    let branches_of: HashMap<&str, Vec<String>> =
        definition.nodes.iter().map(|n| (n.id.as_str(), raw_branches(&n.kind, &n.config))).collect();
    let mut seen_edges = HashSet::new();
    for edge in &definition.edges {
        let mut known = true;
        for end in [&edge.from, &edge.to] {
            if !ids.contains(end.as_str()) {
                errors.push(ValidationError::general(format!(
                    "edge {} → {} refers to unknown node `{end}`",
                    edge.from, edge.to
                )));
                known = false;
            }
        }
        if !known {
            continue;
        }
        // Two edges between the same nodes are one too many, unless they leave by different branches.
        if !seen_edges.insert((edge.from.as_str(), edge.to.as_str(), edge.branch.as_deref())) {
            errors.push(ValidationError::at(&edge.to, format!("edge {} → {} appears twice", edge.from, edge.to)));
        }
        let from_kind = kind_of.get(edge.from.as_str()).copied().unwrap_or_default();
        let branches = branches_of.get(edge.from.as_str()).map(Vec::as_slice).unwrap_or_default();
        let choices = || {
            let mut shown: Vec<String> = Vec::new();
            for branch in branches.iter().map(|b| format!("\"{b}\"")) {
                if !shown.contains(&branch) {
                    shown.push(branch);
                }
            }
            shown.join(", ")
        };
        match (&edge.branch, branches.is_empty()) {
            (Some(branch), false) if branches.contains(branch) => {}
            (Some(branch), false) => errors.push(ValidationError::at(
                &edge.from,
                format!("edge {} → {}: branch must be one of {}, not \"{branch}\"", edge.from, edge.to, choices()),
            )),
            (None, false) => errors.push(ValidationError::at(
                &edge.from,
                format!(
                    "edge {} → {} leaves {from_kind} `{}` and needs \"branch\": one of {}",
                    edge.from,
                    edge.to,
                    edge.from,
                    choices()
                ),
            )),
            (Some(_), true) => errors.push(ValidationError::at(
                &edge.from,
                format!(
                    "edge {} → {} has a branch, but `{}` is not a condition or switch node",
                    edge.from, edge.to, edge.from
                ),
            )),
            (None, true) => {}
        }
    }
    errors
}

/// Kahn's algorithm, keeping the definition's node order among ready nodes so
/// the result is stable. Nodes on a cycle are left out (validation rejects them).
pub fn topological_order(definition: &WorkflowDefinition) -> Vec<&str> {
    let index: HashMap<&str, usize> = definition.nodes.iter().enumerate().map(|(i, n)| (n.id.as_str(), i)).collect();
    let mut indegree = vec![0usize; definition.nodes.len()];
    let mut downstream: Vec<Vec<usize>> = vec![Vec::new(); definition.nodes.len()];
    for edge in &definition.edges {
        if let (Some(&from), Some(&to)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) {
            indegree[to] += 1;
            downstream[from].push(to);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> = (0..indegree.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(indegree.len());
    while let Some(next) = ready.pop_first() {
        order.push(definition.nodes[next].id.as_str());
        for &to in &downstream[next] {
            indegree[to] -= 1;
            if indegree[to] == 0 {
                ready.insert(to);
            }
        }
    }
    order
}

/// Finds one cycle and returns its nodes in order, the first repeated at the end.
pub fn find_cycle(definition: &WorkflowDefinition) -> Option<Vec<String>> {
    let ordered: HashSet<&str> = topological_order(definition).into_iter().collect();
    if ordered.len() == definition.nodes.len() {
        return None;
    }
    // Every node left out of the order is on a cycle or downstream of one; walking
    // backwards along edges between such nodes must come back to a node already seen.
    let on_or_after_cycle: HashSet<&str> =
        definition.nodes.iter().map(|n| n.id.as_str()).filter(|id| !ordered.contains(id)).collect();
    let upstream_of = |id: &str| {
        definition
            .edges
            .iter()
            .find(|e| e.to == id && on_or_after_cycle.contains(e.from.as_str()))
            .map(|e| e.from.as_str())
    };
    let start = definition.nodes.iter().map(|n| n.id.as_str()).find(|id| on_or_after_cycle.contains(id))?;
    let mut path = vec![start];
    let mut current = start;
    loop {
        current = upstream_of(current)?;
        if let Some(pos) = path.iter().position(|&p| p == current) {
            let mut cycle: Vec<String> = path[pos..].iter().rev().map(|s| s.to_string()).collect();
            cycle.push(cycle[0].clone());
            return Some(cycle);
        }
        path.push(current);
    }
}

mod agent;
mod references;
#[cfg(test)]
mod tests;
mod unknown_fields;

pub use unknown_fields::{unknown_fields, without_unknown_fields};
