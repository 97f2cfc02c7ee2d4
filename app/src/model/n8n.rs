//! An n8n workflow export (its JSON: `nodes`, `connections`) as a Weft
//! workflow. Triggers become Weft triggers (webhook, schedule; a manual
//! trigger is the Run button), the common nodes their Weft kinds (Set/Edit
//! Fields, HTTP Request, IF, Switch, Merge, Code, Wait, Execute Workflow,
//! OpenAI/LLM chat), connections edges (an IF's outputs its `true`/`false`
//! branches, a Switch's its cases), and expressions are translated where the
//! meaning is the same ([`expressions`]). Nothing is dropped in silence: a
//! node Weft cannot map becomes a placeholder that fails when run, saying
//! what to do, and every such node and untranslated expression is in the
//! report beside the import.

mod expressions;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use self::expressions::Scope;
use super::definition::{Edge, NodeDefinition, Position, WorkflowDefinition};

/// One thing the import could not carry over as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportNote {
    /// The n8n node's name.
    pub node: String,
    pub reason: String,
}

/// The Weft workflow, and what it says about the import.
#[derive(Debug, Clone, PartialEq)]
pub struct N8nImport {
    pub definition: WorkflowDefinition,
    pub notes: Vec<ImportNote>,
}

/// A pasted or uploaded text: a Weft definition, or an n8n export converted
/// (with its report).
pub fn definition_from_text(text: &str) -> Result<(WorkflowDefinition, Vec<ImportNote>), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("the definition is not valid JSON: {e}"))?;
    if is_n8n_export(&value) {
        let N8nImport { definition, notes } = convert(&value)?;
        return Ok((definition, notes));
    }
    let definition = serde_json::from_value(value).map_err(|e| format!("the definition is not valid: {e}"))?;
    Ok((definition, Vec::new()))
}

/// Whether `value` looks like an n8n export (rather than a Weft definition).
pub fn is_n8n_export(value: &Value) -> bool {
    let typed_by_n8n = |node: &Value| {
        node.get("type").and_then(Value::as_str).is_some_and(|t| t.starts_with("n8n-nodes-") || t.starts_with("@n8n/"))
    };
    value.get("connections").is_some_and(Value::is_object)
        && value.get("nodes").and_then(Value::as_array).is_some_and(|nodes| nodes.iter().any(typed_by_n8n))
}

/// What kind of n8n node a type is (`n8n-nodes-base.httpRequest` → `httpRequest`).
fn short_type(node: &Value) -> &str {
    let full = node.get("type").and_then(Value::as_str).unwrap_or_default();
    full.rsplit('.').next().unwrap_or(full)
}

fn is_trigger(kind: &str) -> bool {
    matches!(kind, "webhook" | "scheduleTrigger" | "cron" | "manualTrigger" | "start" | "executeWorkflowTrigger")
}

/// Converts an n8n export; an error only when it is not one at all.
pub fn convert(export: &Value) -> Result<N8nImport, String> {
    if !is_n8n_export(export) {
        return Err("this is not an n8n workflow export (it has no `nodes` of n8n types and `connections`)".into());
    }
    let nodes: Vec<&Value> = export["nodes"].as_array().into_iter().flatten().collect();
    let mut notes = Vec::new();
    let mut note = |node: &str, reason: String| notes.push(ImportNote { node: node.to_string(), reason });

    // Weft ids for every n8n node that becomes a node (triggers and notes do not).
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut taken = HashSet::new();
    for node in &nodes {
        let kind = short_type(node);
        if is_trigger(kind) || kind == "stickyNote" {
            continue;
        }
        let name = node_name(node);
        ids.insert(name.to_string(), unique_id(name, &mut taken));
    }
    // Edges by n8n output: (from, output index) → targets.
    let mut outputs: BTreeMap<(String, usize), Vec<String>> = BTreeMap::new();
    let mut upstream: HashMap<String, Vec<String>> = HashMap::new();
    for (from, by_type) in export["connections"].as_object().into_iter().flatten() {
        for (output, targets) in by_type["main"].as_array().into_iter().flatten().enumerate() {
            for target in targets.as_array().into_iter().flatten() {
                let Some(to) = target.get("node").and_then(Value::as_str) else { continue };
                outputs.entry((from.clone(), output)).or_default().push(to.to_string());
                upstream.entry(to.to_string()).or_default().push(from.clone());
            }
        }
    }
    let kinds: HashMap<&str, &str> = nodes.iter().map(|n| (node_name(n), short_type(n))).collect();
    // Each n8n node's output as a Weft path: an HTTP request's n8n output is its body.
    let paths: HashMap<String, String> = ids
        .iter()
        .map(|(name, id)| {
            let body = if kinds.get(name.as_str()) == Some(&"httpRequest") { ".body" } else { "" };
            (name.clone(), format!("nodes.{id}{body}"))
        })
        .collect();

    let mut triggers = Vec::new();
    let mut weft_nodes = Vec::new();
    for node in &nodes {
        let name = node_name(node);
        let kind = short_type(node);
        let params = node.get("parameters").cloned().unwrap_or(json!({}));
        if kind == "stickyNote" {
            note(name, "a sticky note: not imported".into());
            continue;
        }
        if is_trigger(kind) {
            match trigger(kind, &params) {
                Ok(Some(trigger)) => triggers.push(trigger),
                Ok(None) => note(
                    name,
                    "a manual trigger: in Weft a workflow is run by hand with the Run button, the API or the CLI"
                        .into(),
                ),
                Err(reason) => note(name, reason),
            }
            continue;
        }
        // What `$json` means here: the single node before it, or the run's input.
        let before: Vec<&String> = upstream.get(name).into_iter().flatten().filter(|n| ids.contains_key(*n)).collect();
        let current = match before.as_slice() {
            [one] => paths[*one].clone(),
            _ => "input".to_string(),
        };
        let scope = Scope { current: current.clone(), by_name: &paths };
        let id = ids[name].clone();
        let (weft_kind, config, mut problems) = if node.get("disabled").and_then(Value::as_bool) == Some(true) {
            let reason = "was disabled in n8n: imported as a node that passes its input on".to_string();
            (
                "template".to_string(),
                json!({"template": format!("{{{{ {current} | tojson }}}}"), "json": true}),
                vec![reason],
            )
        } else {
            map_node(kind, &params, &scope, name)
        };
        for problem in problems.drain(..) {
            note(name, problem);
        }
        let position = node
            .get("position")
            .and_then(Value::as_array)
            .and_then(|p| Some(Position { x: p.first()?.as_f64()?, y: p.get(1)?.as_f64()? }));
        weft_nodes.push(node_definition(id, weft_kind, config, position));
    }

    pin_data(export, &ids, &kinds, &mut weft_nodes, &mut note);

    let mut edges = Vec::new();
    for ((from, output), targets) in &outputs {
        let Some(from_id) = ids.get(from) else { continue };
        let branch = branch_of(kinds.get(from.as_str()).copied().unwrap_or_default(), *output, &weft_nodes, from_id);
        for to in targets {
            let Some(to_id) = ids.get(to) else { continue };
            if !edges.iter().any(|e: &Edge| &e.from == from_id && &e.to == to_id && e.branch == branch) {
                edges.push(Edge {
                    from: from_id.clone(),
                    to: to_id.clone(),
                    branch: branch.clone(),
                    extra: Default::default(),
                });
            }
        }
    }
    let name =
        export.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty()).unwrap_or("Imported from n8n");
    let definition = WorkflowDefinition {
        name: name.to_string(),
        description: Some("Imported from n8n".into()),
        nodes: weft_nodes,
        edges,
        input: None,
        triggers,
        on_failure: None,
        extra: Default::default(),
    };
    Ok(N8nImport { definition, notes })
}

/// n8n's pinned data (`pinData`: a node's items) as Weft's `pinned` output:
/// the first item's `json`, as `$json` reads it (an HTTP request's is its body).
fn pin_data(
    export: &Value,
    ids: &HashMap<String, String>,
    kinds: &HashMap<&str, &str>,
    nodes: &mut [NodeDefinition],
    note: &mut impl FnMut(&str, String),
) {
    for (name, items) in export.get("pinData").and_then(Value::as_object).into_iter().flatten() {
        let Some(node) = ids.get(name).and_then(|id| nodes.iter_mut().find(|n| &n.id == id)) else { continue };
        let items = items.as_array().map(Vec::as_slice).unwrap_or_default();
        let Some(first) = items.first().map(|item| item.get("json").cloned().unwrap_or(Value::Null)) else { continue };
        node.pinned = Some(if kinds.get(name.as_str()) == Some(&"httpRequest") {
            json!({"status": 200, "headers": {}, "body": first})
        } else {
            first
        });
        if items.len() > 1 {
            note(name, format!("n8n pinned {} items: the first is pinned (Weft pins one output)", items.len()));
        }
    }
}

fn node_name(node: &Value) -> &str {
    node.get("name").and_then(Value::as_str).unwrap_or("unnamed")
}

/// `HTTP Request 1` → `http_request_1`, unique among `taken`.
fn unique_id(name: &str, taken: &mut HashSet<String>) -> String {
    let mut base: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .collect::<String>()
        .split('_')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("_");
    if base.is_empty() || base.starts_with(|c: char| c.is_ascii_digit()) {
        base = format!("node_{base}");
    }
    base.truncate(60);
    let mut id = base.clone();
    let mut n = 2;
    while !taken.insert(id.clone()) {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

fn node_definition(id: String, kind: String, config: Value, position: Option<Position>) -> NodeDefinition {
    serde_json::from_value(json!({"id": id, "type": kind, "config": config, "position": position}))
        .expect("a node definition from known parts")
}

/// A trigger node as a Weft trigger; `None` for a manual one.
fn trigger(kind: &str, params: &Value) -> Result<Option<Value>, String> {
    match kind {
        "webhook" => {
            let path: String = params["path"]
                .as_str()
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '/'))
                .collect();
            let path = path.trim_matches('/');
            let path = if path.is_empty() { "n8n-webhook" } else { path };
            let method = params["httpMethod"].as_str().unwrap_or("GET").to_ascii_uppercase();
            Ok(Some(json!({"type": "webhook", "path": path, "method": method})))
        }
        "scheduleTrigger" | "cron" => schedule(params).map(|cron| Some(json!({"type": "cron", "schedule": cron}))),
        _ => Ok(None),
    }
}

/// A Schedule Trigger's first rule as a cron expression.
fn schedule(params: &Value) -> Result<String, String> {
    let rule = &params["rule"]["interval"][0];
    let at = |key: &str, default: u64| rule[key].as_u64().unwrap_or(default);
    match rule["field"].as_str().unwrap_or("days") {
        "cronExpression" => rule["expression"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "a schedule without its cron expression: add a cron trigger by hand".to_string()),
        "minutes" => Ok(format!("*/{} * * * *", at("minutesInterval", 5))),
        "hours" => Ok(format!("{} */{} * * *", at("triggerAtMinute", 0), at("hoursInterval", 1))),
        "days" => {
            Ok(format!("{} {} */{} * *", at("triggerAtMinute", 0), at("triggerAtHour", 0), at("daysInterval", 1)))
        }
        "weeks" => Ok(format!("{} {} * * {}", at("triggerAtMinute", 0), at("triggerAtHour", 0), at("triggerAtDay", 1))),
        other => Err(format!("a schedule by `{other}` has no cron equivalent here: add a cron trigger by hand")),
    }
}

/// The branch an edge leaving output `index` of an n8n node takes.
fn branch_of(kind: &str, index: usize, nodes: &[NodeDefinition], id: &str) -> Option<String> {
    match kind {
        "if" => Some(if index == 0 { "true" } else { "false" }.to_string()),
        "switch" => {
            let node = nodes.iter().find(|n| n.id == id)?;
            let branches = super::node_config::raw_branches(&node.kind, &node.config);
            Some(branches.get(index).cloned().unwrap_or_else(|| super::node_config::DEFAULT_CASE.to_string()))
        }
        _ => None,
    }
}

/// A placeholder for what Weft cannot run: a code node that fails saying so.
fn placeholder(name: &str, reason: &str) -> (String, Value, Vec<String>) {
    let message = format!("n8n node `{name}` was not imported: {reason}. Replace this node.");
    let source = format!("throw new Error({});", serde_json::to_string(&message).unwrap_or_default());
    ("code".into(), json!({"source": source}), vec![format!("{reason}: imported as a placeholder that fails when run")])
}

/// An n8n node's Weft kind and config, and what did not carry over.
fn map_node(kind: &str, params: &Value, scope: &Scope, name: &str) -> (String, Value, Vec<String>) {
    let notes = std::cell::RefCell::new(Vec::new());
    let text = |value: &Value| -> String {
        let raw = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let (translated, mut problems) = expressions::template(&raw, scope);
        notes.borrow_mut().append(&mut problems);
        translated
    };
    let (weft_kind, config) = match kind {
        "set" => {
            // Edit Fields (v3): assignments; Set (v1, v2): values by type.
            let mut fields = Map::new();
            let assignments = params["assignments"]["assignments"].as_array().cloned().unwrap_or_default();
            let typed = ["string", "number", "boolean"]
                .iter()
                .flat_map(|t| params["values"][*t].as_array().cloned().unwrap_or_default());
            for field in assignments.into_iter().chain(typed) {
                let Some(key) = field["name"].as_str() else { continue };
                let value = &field["value"];
                let rendered = match value {
                    Value::String(raw) => {
                        let (expression, mut problems) = expressions::value_expression(raw, scope);
                        notes.borrow_mut().append(&mut problems);
                        format!("{{{{ ({expression}) | tojson }}}}")
                    }
                    other => other.to_string(),
                };
                fields.insert(key.to_string(), Value::String(rendered));
            }
            let body: Vec<String> = fields
                .iter()
                .map(|(k, v)| {
                    format!("{}: {}", serde_json::to_string(k).unwrap_or_default(), v.as_str().unwrap_or("null"))
                })
                .collect();
            ("template", json!({"template": format!("{{{}}}", body.join(", ")), "json": true}))
        }
        "httpRequest" => {
            let mut config = json!({"method": params["method"].as_str().unwrap_or("GET"), "url": text(&params["url"])});
            let headers: Map<String, Value> = params["headerParameters"]["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| Some((h["name"].as_str()?.to_string(), Value::String(text(&h["value"])))))
                .collect();
            if !headers.is_empty() {
                config["headers"] = Value::Object(headers);
            }
            if params["sendBody"].as_bool() == Some(true) {
                if let Some(json_body) = params["jsonBody"].as_str() {
                    config["body"] = Value::String(text(&json!(json_body)));
                } else {
                    let fields: Vec<String> = params["bodyParameters"]["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| {
                            let key = serde_json::to_string(p["name"].as_str()?).ok()?;
                            Some(format!("{key}: {}", serde_json::to_string(&text(&p["value"])).ok()?))
                        })
                        .collect();
                    config["body"] = Value::String(format!("{{{}}}", fields.join(", ")));
                    config["headers"]["content-type"] = json!("application/json");
                }
            }
            if params["authentication"].as_str().is_some_and(|a| a != "none") {
                notes.borrow_mut().push(
                    "its n8n credential is not carried over: make a Weft credential and name it in `credential`".into(),
                );
            }
            ("http", config)
        }
        "if" => {
            let (expr, mut problems) = conditions(&params["conditions"], scope);
            notes.borrow_mut().append(&mut problems);
            ("condition", json!({"expr": expr}))
        }
        "switch" => {
            let rules = params["rules"]["values"]
                .as_array()
                .or(params["rules"]["rules"].as_array())
                .cloned()
                .unwrap_or_default();
            let mut cases = Vec::new();
            for (i, rule) in rules.iter().enumerate() {
                let (expr, mut problems) = conditions(&rule["conditions"], scope);
                notes.borrow_mut().append(&mut problems);
                let key = rule["outputKey"].as_str().map(case_name).filter(|k| !k.is_empty() && k != "default");
                let name = key.unwrap_or_else(|| format!("case_{}", i + 1));
                cases.push(json!({"name": name, "expr": expr}));
            }
            if cases.is_empty() {
                return placeholder(name, "a Switch without rules (expression mode) has no Weft equivalent");
            }
            ("switch", json!({"cases": cases}))
        }
        "merge" => ("merge", json!({})),
        "noOp" => ("template", json!({"template": format!("{{{{ {} | tojson }}}}", scope.current), "json": true})),
        "code" | "function" => {
            let source = params["jsCode"].as_str().or(params["functionCode"].as_str()).unwrap_or("return input;");
            if params["language"].as_str().is_some_and(|l| l != "javaScript") {
                return placeholder(name, "a Code node in Python has no Weft equivalent (Weft runs JavaScript)");
            }
            notes.borrow_mut().push(
                "Code is copied as written: n8n's `$input`, `$json` and `items` are `input` and `nodes.<id>` in Weft, \
                 and a Weft script returns its output, not a list of `{json}` items: check it"
                    .into(),
            );
            ("code", json!({"source": source}))
        }
        "wait" => match params["resume"].as_str().unwrap_or("timeInterval") {
            "timeInterval" => {
                let amount = params["amount"].as_f64().unwrap_or(1.0);
                let unit = match params["unit"].as_str().unwrap_or("hours") {
                    "seconds" => 1_000.0,
                    "minutes" => 60_000.0,
                    "hours" => 3_600_000.0,
                    "days" => 86_400_000.0,
                    _ => 1_000.0,
                };
                ("delay", json!({"ms": (amount * unit) as u64}))
            }
            "webhook" | "form" => ("wait", json!({})),
            other => return placeholder(name, &format!("a Wait until `{other}` has no Weft equivalent")),
        },
        "executeWorkflow" => {
            let target = params["workflowId"]["value"].as_str().or(params["workflowId"].as_str()).unwrap_or("?");
            return placeholder(
                name,
                &format!("it runs n8n workflow `{target}`: choose the Weft workflow to run (a `workflow` node)"),
            );
        }
        "openAi" | "lmChatOpenAi" | "chainLlm" | "agent" | "lmChatAnthropic" => {
            let model =
                params["model"]["value"].as_str().or(params["model"].as_str()).or(params["modelId"]["value"].as_str());
            let prompt = params["text"]
                .as_str()
                .or(params["prompt"].as_str())
                .or(params["messages"]["values"][0]["content"].as_str())
                .or(params["messages"]["messageValues"][0]["message"].as_str())
                .unwrap_or("");
            if kind == "lmChatOpenAi" || kind == "lmChatAnthropic" {
                notes
                    .borrow_mut()
                    .push("a chat model sub-node: imported as an llm node; connect it where its chain was".into());
            }
            let prompt =
                if prompt.is_empty() { format!("{{{{ {} | tojson }}}}", scope.current) } else { text(&json!(prompt)) };
            ("llm", json!({"model": model.unwrap_or(""), "prompt": prompt}))
        }
        other => return placeholder(name, &format!("n8n's `{other}` node has no Weft equivalent")),
    };
    (weft_kind.to_string(), config, notes.into_inner())
}

/// A Switch rule's output name as a Weft case name.
fn case_name(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(40).collect()
}

/// An IF's (or a Switch rule's) conditions as one Weft expression.
fn conditions(value: &Value, scope: &Scope) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let mut parts = Vec::new();
    // v2: {conditions: [{leftValue, rightValue, operator: {type, operation}}], combinator}
    for condition in value["conditions"].as_array().into_iter().flatten() {
        let (left, mut a) = expressions::expression(&string_of(&condition["leftValue"]), scope);
        let (right, mut b) = expressions::expression(&string_of(&condition["rightValue"]), scope);
        notes.append(&mut a);
        notes.append(&mut b);
        let operation = condition["operator"]["operation"].as_str().unwrap_or("equals");
        parts.push(comparison(&left, operation, &right, &mut notes));
    }
    // v1: {string|number|boolean: [{value1, operation, value2}]}
    for kind in ["string", "number", "boolean", "dateTime"] {
        for condition in value[kind].as_array().into_iter().flatten() {
            let (left, mut a) = expressions::expression(&string_of(&condition["value1"]), scope);
            let (right, mut b) = expressions::expression(&string_of(&condition["value2"]), scope);
            notes.append(&mut a);
            notes.append(&mut b);
            let operation = condition["operation"].as_str().unwrap_or("equal");
            parts.push(comparison(&left, operation, &right, &mut notes));
        }
    }
    let joiner = if value["combinator"].as_str() == Some("or") || value["combineOperation"].as_str() == Some("any") {
        " or "
    } else {
        " and "
    };
    match parts.len() {
        0 => ("true".into(), vec!["no conditions: imported as always true".into()]),
        1 => (parts.remove(0), notes),
        _ => (parts.iter().map(|p| format!("({p})")).collect::<Vec<_>>().join(joiner), notes),
    }
}

fn string_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn comparison(left: &str, operation: &str, right: &str, notes: &mut Vec<String>) -> String {
    match operation {
        "equals" | "equal" => format!("{left} == {right}"),
        "notEquals" | "notEqual" => format!("{left} != {right}"),
        "gt" | "larger" => format!("{left} > {right}"),
        "gte" | "largerEqual" => format!("{left} >= {right}"),
        "lt" | "smaller" => format!("{left} < {right}"),
        "lte" | "smallerEqual" => format!("{left} <= {right}"),
        "contains" => format!("{right} in {left}"),
        "notContains" => format!("{right} not in {left}"),
        "startsWith" => format!("{left}.startswith({right})"),
        "endsWith" => format!("{left}.endswith({right})"),
        "exists" | "isNotEmpty" | "notEmpty" => left.to_string(),
        "notExists" | "isEmpty" | "empty" => format!("not {left}"),
        "true" => format!("{left} == true"),
        "false" => format!("{left} == false"),
        other => {
            notes.push(format!("the comparison `{other}` has no Weft equivalent: imported as `==`, check it"));
            format!("{left} == {right}")
        }
    }
}

#[cfg(test)]
mod tests;
