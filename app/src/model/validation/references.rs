//! Paths into other nodes' outputs (`{{ nodes.fetch.body }}`), checked on
//! save where the answer is certain: the node must exist, and where a node
//! kind's output has a fixed shape (an `http` node's is `status`, `headers`,
//! `body`), the field read must be one of it. A newcomer's
//! `nodes.fetch.output.body` is named before the first run, with what is
//! there instead. Outputs whose shape depends on the data (a `code` node's, a
//! JSON template's, an LLM answer) are checked at run time only.

use std::collections::HashMap;

use super::{ValidatedNode, ValidationError};
use crate::model::{NodeConfig, OnError};

/// The fields of a kind's output when they are always the same.
fn fixed_shape(node: &ValidatedNode) -> Option<(&'static str, &'static [&'static str])> {
    // A node run per item gives a list; one that may fail on gives `error` instead.
    if node.policy.for_each.is_some() || node.policy.on_error == OnError::Continue {
        return None;
    }
    match &node.config {
        NodeConfig::Http(_) => Some(("an http node's output has", &["status", "headers", "body"])),
        NodeConfig::Template(c) if !c.json => Some(("a template node's output has", &["text"])),
        NodeConfig::Condition(_) => Some(("a condition node's output has", &["result"])),
        NodeConfig::Switch(_) => Some(("a switch node's output has", &["case"])),
        NodeConfig::Delay(_) => Some(("a delay node's output has", &["waited_ms"])),
        _ => None,
    }
}

/// Every text of the node that reads `nodes.…`: its templates and expressions.
fn sources(node: &ValidatedNode) -> Vec<(String, String, bool)> {
    let mut out: Vec<(String, String, bool)> =
        node.config.templates().into_iter().map(|(field, source)| (field, source.to_string(), false)).collect();
    match &node.config {
        NodeConfig::Condition(c) => out.push(("expr".into(), c.expr.clone(), true)),
        NodeConfig::Switch(c) => {
            out.extend(c.cases.iter().map(|case| (format!("cases.{}", case.name), case.expr.clone(), true)))
        }
        _ => {}
    }
    if let Some(for_each) = &node.policy.for_each {
        out.push(("for_each".into(), for_each.expr.clone(), true));
    }
    out
}

/// The dotted paths a text reads from its scope (`nodes.fetch.body.items`).
fn paths_read(source: &str, expression: bool) -> Vec<String> {
    let env = minijinja::Environment::new();
    let mut paths: Vec<String> = if expression {
        env.compile_expression(source).map(|e| e.undeclared_variables(true).into_iter().collect()).unwrap_or_default()
    } else {
        env.template_from_str(source).map(|t| t.undeclared_variables(true).into_iter().collect()).unwrap_or_default()
    };
    paths.sort();
    paths
}

/// The problems of every `nodes.<id>.<field>` read in the workflow.
pub fn check_references(nodes: &[ValidatedNode]) -> Vec<ValidationError> {
    let by_id: HashMap<&str, &ValidatedNode> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut errors = Vec::new();
    for node in nodes {
        let kind = node.config.kind();
        for (field, source, expression) in sources(node) {
            for path in paths_read(&source, expression) {
                let mut steps = path.split('.');
                if steps.next() != Some("nodes") {
                    continue;
                }
                let Some(target) = steps.next() else { continue };
                let at = |problem: String| {
                    ValidationError::at(&node.id, format!("node `{}` ({kind}): {field}: {problem}", node.id))
                };
                let Some(read) = by_id.get(target) else {
                    let mut ids: Vec<&str> = by_id.keys().copied().collect();
                    ids.sort();
                    errors.push(at(format!(
                        "`nodes.{target}` is not a node of this workflow (its nodes: {})",
                        ids.iter().map(|id| format!("`{id}`")).collect::<Vec<_>>().join(", ")
                    )));
                    continue;
                };
                let (Some(first), Some((what, fields))) = (steps.next(), fixed_shape(read)) else { continue };
                if !fields.contains(&first) {
                    let has = fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
                    errors.push(at(format!("`nodes.{target}.{first}` is undefined: {what} {has}")));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::model::{validate_to_save, WorkflowDefinition};

    fn errors(nodes: serde_json::Value) -> Vec<String> {
        let definition: WorkflowDefinition =
            serde_json::from_value(json!({"name": "refs", "nodes": nodes, "edges": []})).unwrap();
        match validate_to_save(&definition) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.message).collect(),
        }
    }

    #[test]
    fn a_field_an_http_output_never_has_is_named_with_what_it_has() {
        let found = errors(json!([
            {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "https://example.com"}},
            {"id": "sum", "type": "template", "config": {"template": "Summarise {{ nodes.fetch.output.body }}"}}
        ]));
        assert_eq!(
            found,
            ["node `sum` (template): template: `nodes.fetch.output` is undefined: an http node's output has `status`, `headers`, `body`"]
        );
    }

    #[test]
    fn a_node_that_does_not_exist_is_named_with_the_nodes_that_do() {
        let found = errors(json!([
            {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "https://example.com"}},
            {"id": "ok", "type": "condition", "config": {"expr": "nodes.fecth.status == 200"}}
        ]));
        assert_eq!(
            found,
            ["node `ok` (condition): expr: `nodes.fecth` is not a node of this workflow (its nodes: `fetch`, `ok`)"]
        );
    }

    #[test]
    fn shapes_that_depend_on_the_data_are_left_to_the_run() {
        assert!(errors(json!([
            {"id": "fetch", "type": "http", "config": {"method": "GET", "url": "https://example.com"}},
            {"id": "shape", "type": "template", "config": {"template": "{\"a\": 1}", "json": true}},
            {"id": "each", "type": "http", "for_each": "input.urls", "config": {"method": "GET", "url": "{{ item }}"}},
            {"id": "use", "type": "template", "config": {"template":
                "{{ nodes.fetch.body.anything.at.all }} {{ nodes.shape.a }} {{ nodes.each[0].body }} {{ nodes.fetch.status }} {% for r in nodes.fetch.body %}{{ r.x }}{% endfor %}"}}
        ]))
        .is_empty());
    }
}
