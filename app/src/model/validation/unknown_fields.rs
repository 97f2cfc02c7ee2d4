//! Fields a definition names that Weft does not know: `timout_ms`, or
//! `for_each` on a version without it. Ignoring them would make a workflow
//! quietly do less than its author wrote, so saving refuses them, naming the
//! node and the field (with the nearest known name when one is close).
//!
//! Running does not: a workflow stored before a field was checked still opens
//! (the editor shows the message), runs, and keeps the field on a round trip.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ValidationError;
use crate::model::definition::WorkflowDefinition;
use crate::model::node_config::{
    CodeConfig, ConditionConfig, DelayConfig, HttpConfig, LlmConfig, MergeConfig, RetryPolicy, SwitchConfig,
    TemplateConfig, WaitConfig, WorkflowCallConfig,
};
use crate::model::triggers::{CronTrigger, WebhookTrigger};

const WORKFLOW_FIELDS: &[&str] = &["name", "description", "nodes", "edges", "input", "triggers", "on_failure"];
const NODE_FIELDS: &[&str] =
    &["id", "type", "config", "position", "timeout_ms", "retry", "on_error", "for_each", "concurrency"];
const EDGE_FIELDS: &[&str] = &["from", "to", "branch"];

/// Every unknown field of `definition`, each with where it is.
pub fn unknown_fields(definition: &WorkflowDefinition) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for field in definition.extra.keys() {
        let hint = suggestion(field, WORKFLOW_FIELDS);
        errors.push(ValidationError::general(format!("the workflow has an unknown field `{field}`{hint}")));
    }
    if let Some(on_failure) = &definition.on_failure {
        for path in ignored::<crate::model::on_failure::OnFailure>(on_failure) {
            let hint = suggestion(&path, &["workflow"]);
            errors.push(ValidationError::general(format!("on_failure.{path} is not a field{hint}")));
        }
    }
    for node in &definition.nodes {
        let id = node.id.as_str();
        for field in node.extra.keys() {
            let hint = suggestion(field, NODE_FIELDS);
            errors.push(ValidationError::at(id, format!("node `{id}`: unknown field `{field}`{hint}")));
        }
        let kind = node.kind.as_str();
        for path in config_fields(kind, &node.config) {
            let hint = suggestion(&path, &known_config_fields(kind));
            errors.push(ValidationError::at(
                id,
                format!("node `{id}` ({kind}): config.{path} is not a field of a {kind} node{hint}"),
            ));
        }
        if let Some(retry) = &node.retry {
            for path in ignored::<RetryPolicy>(retry) {
                let hint = suggestion(&path, &["max_attempts", "backoff_ms"]);
                errors.push(ValidationError::at(id, format!("node `{id}`: retry.{path} is not a field{hint}")));
            }
        }
    }
    for edge in &definition.edges {
        for field in edge.extra.keys() {
            let hint = suggestion(field, EDGE_FIELDS);
            let message = format!("edge {} → {}: unknown field `{field}`{hint}", edge.from, edge.to);
            errors.push(ValidationError::at(&edge.to, message));
        }
    }
    for (index, trigger) in definition.triggers.iter().enumerate() {
        let label = format!("trigger #{}", index + 1);
        let (paths, known): (Vec<String>, &[&str]) = match trigger.get("type").and_then(Value::as_str) {
            Some("webhook") => (ignored::<WebhookTrigger>(&without_type(trigger)), WEBHOOK_FIELDS),
            Some("cron") => (ignored::<CronTrigger>(&without_type(trigger)), &["schedule", "timezone"]),
            _ => continue, // an unknown type is validation's message
        };
        for path in paths {
            let hint = suggestion(&path, known);
            errors.push(ValidationError::general(format!("{label}: unknown field `{path}`{hint}")));
        }
    }
    errors
}

/// `definition` without the fields [`unknown_fields`] names: what the
/// editor's "Remove unknown fields" leaves (a workflow stored before a field
/// was checked can then be saved).
pub fn without_unknown_fields(definition: &WorkflowDefinition) -> WorkflowDefinition {
    let mut clean = definition.clone();
    clean.extra.clear();
    for node in &mut clean.nodes {
        node.extra.clear();
        for path in config_fields(&node.kind, &node.config) {
            remove_field(&mut node.config, &path);
        }
        if let Some(retry) = &mut node.retry {
            for path in ignored::<RetryPolicy>(retry) {
                remove_field(retry, &path);
            }
        }
    }
    for edge in &mut clean.edges {
        edge.extra.clear();
    }
    for trigger in &mut clean.triggers {
        let paths = match trigger.get("type").and_then(Value::as_str) {
            Some("webhook") => ignored::<WebhookTrigger>(&without_type(trigger)),
            Some("cron") => ignored::<CronTrigger>(&without_type(trigger)),
            _ => Vec::new(),
        };
        for path in paths {
            remove_field(trigger, &path);
        }
    }
    clean
}

/// Removes the field at a dotted `path` (`cache.ttl`) from `value`.
fn remove_field(value: &mut Value, path: &str) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut at = value;
    for part in parts {
        match at.get_mut(part) {
            Some(inner) => at = inner,
            None => return,
        }
    }
    if let Value::Object(map) = at {
        map.remove(last);
    }
}

const WEBHOOK_FIELDS: &[&str] = &["path", "method", "mode", "respond_with", "auth"];

/// The trigger without its `type` tag (what the variant's struct reads).
fn without_type(trigger: &Value) -> Value {
    let mut trigger = trigger.clone();
    if let Value::Object(map) = &mut trigger {
        map.remove("type");
    }
    trigger
}

/// The config fields a node of `kind` ignores (none for an unknown kind:
/// validation already says the kind is unknown).
fn config_fields(kind: &str, config: &Value) -> Vec<String> {
    match kind {
        "http" => ignored::<HttpConfig>(config),
        "llm" => ignored::<LlmConfig>(config),
        "agent" => ignored::<crate::model::node_config::AgentConfig>(config),
        "template" => ignored::<TemplateConfig>(config),
        "code" => ignored::<CodeConfig>(config),
        "condition" => ignored::<ConditionConfig>(config),
        "switch" => ignored::<SwitchConfig>(config),
        "merge" => ignored::<MergeConfig>(config),
        "delay" => ignored::<DelayConfig>(config),
        "wait" => ignored::<WaitConfig>(config),
        "workflow" => ignored::<WorkflowCallConfig>(config),
        _ => Vec::new(),
    }
}

fn known_config_fields(kind: &str) -> Vec<&'static str> {
    let fields = match kind {
        "http" => serde_aux::serde_introspection::serde_introspect::<HttpConfig>(),
        "llm" => serde_aux::serde_introspection::serde_introspect::<LlmConfig>(),
        "agent" => serde_aux::serde_introspection::serde_introspect::<crate::model::node_config::AgentConfig>(),
        "template" => serde_aux::serde_introspection::serde_introspect::<TemplateConfig>(),
        "code" => serde_aux::serde_introspection::serde_introspect::<CodeConfig>(),
        "condition" => serde_aux::serde_introspection::serde_introspect::<ConditionConfig>(),
        "switch" => serde_aux::serde_introspection::serde_introspect::<SwitchConfig>(),
        "delay" => serde_aux::serde_introspection::serde_introspect::<DelayConfig>(),
        "wait" => serde_aux::serde_introspection::serde_introspect::<WaitConfig>(),
        "workflow" => serde_aux::serde_introspection::serde_introspect::<WorkflowCallConfig>(),
        _ => &[],
    };
    fields.to_vec()
}

/// The paths `T` would ignore in `value` (`timout_ms`, `cache.ttl`). A value
/// that does not parse as `T` at all is validation's message, not this one.
fn ignored<T: DeserializeOwned>(value: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    let parsed: Result<T, _> = serde_ignored::deserialize(value.clone(), |path| paths.push(path.to_string()));
    if parsed.is_err() {
        return Vec::new();
    }
    paths
}

/// `: did you mean `timeout_ms`?` when a known field is within two edits.
fn suggestion(field: &str, known: &[&str]) -> String {
    let nearest = known.iter().map(|k| (distance(field, k), *k)).filter(|(d, _)| *d <= 2).min_by_key(|(d, _)| *d);
    match nearest {
        Some((_, name)) => format!(": did you mean `{name}`?"),
        None if known.is_empty() => String::new(),
        None => format!(" (known: {})", known.join(", ")),
    }
}

/// Levenshtein distance (names are short).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(definition: Value) -> Vec<String> {
        let definition: WorkflowDefinition = serde_json::from_value(definition).unwrap();
        unknown_fields(&definition).into_iter().map(|e| e.message).collect()
    }

    #[test]
    fn unknown_fields_are_named_with_their_node_and_the_nearest_known_name() {
        let found = messages(json!({
            "name": "w", "colour": "red",
            "nodes": [
                {"id": "fetch", "type": "http", "for_eatch": "input.urls",
                 "config": {"method": "GET", "url": "https://x", "timout_ms": 5}},
                {"id": "wait", "type": "delay", "config": {"ms": 1}, "retry": {"max_attempts": 2, "backof_ms": 3}}
            ],
            "edges": [{"from": "fetch", "to": "wait", "brnach": "true"}],
            "triggers": [{"type": "webhook", "path": "p", "methd": "GET"}, {"type": "cron", "schedule": "* * * * *", "tz": "UTC"}]
        }));
        let expected = [
            "the workflow has an unknown field `colour` (known: name, description, nodes, edges, input, triggers, on_failure)",
            "node `fetch`: unknown field `for_eatch`: did you mean `for_each`?",
            "node `fetch` (http): config.timout_ms is not a field of a http node: did you mean `timeout_ms`?",
            "node `wait`: retry.backof_ms is not a field: did you mean `backoff_ms`?",
            "edge fetch → wait: unknown field `brnach`: did you mean `branch`?",
            "trigger #1: unknown field `methd`: did you mean `method`?",
            "trigger #2: unknown field `tz` (known: schedule, timezone)",
        ];
        assert_eq!(found, expected);
    }

    #[test]
    fn removing_unknown_fields_keeps_everything_else() {
        let definition: WorkflowDefinition = serde_json::from_value(json!({
            "name": "w", "colour": "red",
            "nodes": [{"id": "fetch", "type": "http", "schema": "x",
                       "config": {"method": "GET", "url": "https://x", "timout_ms": 5, "timeout_ms": 7}}],
            "triggers": [{"type": "webhook", "path": "p", "methd": "GET"}]
        }))
        .unwrap();
        let clean = without_unknown_fields(&definition);
        assert!(unknown_fields(&clean).is_empty());
        assert_eq!(clean.nodes[0].config, json!({"method": "GET", "url": "https://x", "timeout_ms": 7}));
        assert_eq!(clean.triggers[0], json!({"type": "webhook", "path": "p"}));
        assert_eq!(clean.name, "w");
    }

    #[test]
    fn a_definition_of_known_fields_has_nothing_to_say() {
        let found = messages(json!({
            "name": "w", "description": "d", "input": [],
            "nodes": [{"id": "a", "type": "llm", "config": {"prompt": "hi", "cache": false}, "timeout_ms": 5,
                       "on_error": "continue", "position": {"x": 1, "y": 2}}],
            "triggers": [{"type": "webhook", "path": "p", "auth": {"type": "stripe", "credential": "s"}}]
        }));
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn distances_are_edits() {
        assert_eq!(distance("timout_ms", "timeout_ms"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
