//! What changed between two versions of a workflow: nodes added, removed,
//! changed (each shown as its JSON before and after, line by line) or only
//! moved on the canvas; edges added and removed; and the workflow's own fields
//! (name, input, triggers, …). Computed in the browser from the two stored
//! definitions, so comparing costs no request.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use similar::{DiffTag, TextDiff};

use super::{Edge, NodeDefinition, WorkflowDefinition};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct VersionDiff {
    /// Nodes only the newer version has, in its order.
    pub added: Vec<NodeDefinition>,
    /// Nodes only the older version has, in its order.
    pub removed: Vec<NodeDefinition>,
    /// Nodes both have whose definition (position aside) differs.
    pub changed: Vec<NodeChange>,
    /// Nodes that differ only in where they sit on the canvas.
    pub moved: Vec<String>,
    pub edges_added: Vec<Edge>,
    pub edges_removed: Vec<Edge>,
    /// The workflow's own fields that differ (`name`, `input`, `triggers`, …).
    pub fields: Vec<FieldChange>,
}

impl VersionDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.changed.is_empty()
            && self.moved.is_empty()
            && self.edges_added.is_empty()
            && self.edges_removed.is_empty()
            && self.fields.is_empty()
    }

    /// "1 node added · 2 changed · 1 edge removed", or "no differences".
    pub fn summary(&self) -> String {
        let count = |n: usize, what: &str| (n > 0).then(|| format!("{n} {what}"));
        let nodes = |n: usize| if n == 1 { "node" } else { "nodes" };
        let edges = |n: usize| if n == 1 { "edge" } else { "edges" };
        let parts: Vec<String> = [
            count(self.added.len(), &format!("{} added", nodes(self.added.len()))),
            count(self.removed.len(), &format!("{} removed", nodes(self.removed.len()))),
            count(self.changed.len(), &format!("{} changed", nodes(self.changed.len()))),
            count(self.moved.len(), &format!("{} moved", nodes(self.moved.len()))),
            count(self.edges_added.len(), &format!("{} added", edges(self.edges_added.len()))),
            count(self.edges_removed.len(), &format!("{} removed", edges(self.edges_removed.len()))),
            count(
                self.fields.len(),
                if self.fields.len() == 1 { "workflow field changed" } else { "workflow fields changed" },
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        if parts.is_empty() {
            "no differences".into()
        } else {
            parts.join(" · ")
        }
    }
}

/// One node in both versions, with its JSON (without its position) side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeChange {
    pub id: String,
    /// The top-level fields that differ: `config`, `type`, `retry`, …
    pub fields: Vec<String>,
    pub lines: Vec<SideBySide>,
}

/// A workflow-level field in both versions (`None`: absent in that one).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub lines: Vec<SideBySide>,
}

/// One row of a side-by-side view: the older line, the newer line, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct SideBySide {
    pub before: Option<String>,
    pub after: Option<String>,
    /// The two sides differ on this row.
    pub changed: bool,
}

/// Compares `before` (the older version) with `after`.
pub fn diff_versions(before: &WorkflowDefinition, after: &WorkflowDefinition) -> VersionDiff {
    let old: BTreeMap<&str, &NodeDefinition> = before.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let new: BTreeMap<&str, &NodeDefinition> = after.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let mut diff = VersionDiff {
        added: after.nodes.iter().filter(|n| !old.contains_key(n.id.as_str())).cloned().collect(),
        removed: before.nodes.iter().filter(|n| !new.contains_key(n.id.as_str())).cloned().collect(),
        ..VersionDiff::default()
    };
    for node in &after.nodes {
        let Some(earlier) = old.get(node.id.as_str()) else { continue };
        let (was, is) = (without_position(earlier), without_position(node));
        if was != is {
            diff.changed.push(NodeChange {
                id: node.id.clone(),
                fields: differing_fields(&was, &is),
                lines: side_by_side(&was, &is),
            });
        } else if earlier.position != node.position {
            diff.moved.push(node.id.clone());
        }
    }
    let edge_key = |e: &Edge| serde_json::to_string(e).unwrap_or_default();
    let old_edges: BTreeSet<String> = before.edges.iter().map(edge_key).collect();
    let new_edges: BTreeSet<String> = after.edges.iter().map(edge_key).collect();
    diff.edges_added = after.edges.iter().filter(|e| !old_edges.contains(&edge_key(e))).cloned().collect();
    diff.edges_removed = before.edges.iter().filter(|e| !new_edges.contains(&edge_key(e))).cloned().collect();

    let (mut was, mut is) = (workflow_fields(before), workflow_fields(after));
    let names: BTreeSet<String> = was.keys().chain(is.keys()).cloned().collect();
    for name in names {
        let (a, b) = (was.remove(&name).unwrap_or(Value::Null), is.remove(&name).unwrap_or(Value::Null));
        if a != b {
            diff.fields.push(FieldChange { field: name, lines: side_by_side(&a, &b) });
        }
    }
    diff
}

/// A node as JSON, without where it sits on the canvas.
fn without_position(node: &NodeDefinition) -> Value {
    let mut value = serde_json::to_value(node).unwrap_or(Value::Null);
    if let Some(object) = value.as_object_mut() {
        object.remove("position");
    }
    value
}

/// The definition's fields other than its nodes and edges.
fn workflow_fields(definition: &WorkflowDefinition) -> serde_json::Map<String, Value> {
    let mut value = serde_json::to_value(definition).unwrap_or(Value::Null);
    let Some(object) = value.as_object_mut() else { return serde_json::Map::new() };
    object.remove("nodes");
    object.remove("edges");
    std::mem::take(object)
}

fn differing_fields(before: &Value, after: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (a, b) = (before.as_object().unwrap_or(&empty), after.as_object().unwrap_or(&empty));
    let names: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    names.into_iter().filter(|name| a.get(*name) != b.get(*name)).cloned().collect()
}

/// The two values as pretty JSON, aligned line by line: equal lines side by
/// side, a replaced run of lines beside its replacement, and lines only one
/// side has against a gap.
fn side_by_side(before: &Value, after: &Value) -> Vec<SideBySide> {
    let text =
        |v: &Value| if v.is_null() { String::new() } else { serde_json::to_string_pretty(v).unwrap_or_default() };
    let (old, new) = (text(before), text(after));
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    let diff = TextDiff::from_slices(&old_lines, &new_lines);
    let mut rows = Vec::new();
    for op in diff.ops() {
        let (old_range, new_range) = (op.old_range(), op.new_range());
        let changed = op.tag() != DiffTag::Equal;
        for row in 0..old_range.len().max(new_range.len()) {
            rows.push(SideBySide {
                before: old_lines.get(old_range.start + row).filter(|_| row < old_range.len()).map(|l| l.to_string()),
                after: new_lines.get(new_range.start + row).filter(|_| row < new_range.len()).map(|l| l.to_string()),
                changed,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(value: Value) -> WorkflowDefinition {
        serde_json::from_value(value).unwrap()
    }

    fn v1() -> WorkflowDefinition {
        definition(serde_json::json!({
            "name": "Digest",
            "nodes": [
                {"id": "fetch", "type": "http", "config": {"url": "https://example.com/a", "method": "GET"}, "position": {"x": 0, "y": 0}},
                {"id": "sum", "type": "llm", "config": {"prompt": "Summarise {{ nodes.fetch.body }}"}, "position": {"x": 200, "y": 0}},
                {"id": "old", "type": "template", "config": {"template": "x"}},
            ],
            "edges": [{"from": "fetch", "to": "sum"}, {"from": "sum", "to": "old"}],
        }))
    }

    #[test]
    fn the_same_definition_has_no_differences() {
        let diff = diff_versions(&v1(), &v1());
        assert!(diff.is_empty());
        assert_eq!(diff.summary(), "no differences");
    }

    #[test]
    fn nodes_added_removed_changed_and_moved_are_told_apart() {
        let v2 = definition(serde_json::json!({
            "name": "Daily digest",
            "nodes": [
                {"id": "fetch", "type": "http", "config": {"url": "https://example.com/b", "method": "GET"}, "position": {"x": 0, "y": 0}},
                {"id": "sum", "type": "llm", "config": {"prompt": "Summarise {{ nodes.fetch.body }}"}, "position": {"x": 300, "y": 40}},
                {"id": "post", "type": "http", "config": {"url": "https://example.com/post", "method": "POST"}},
            ],
            "edges": [{"from": "fetch", "to": "sum"}, {"from": "sum", "to": "post"}],
        }));
        let diff = diff_versions(&v1(), &v2);
        assert_eq!(diff.added.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["post"]);
        assert_eq!(diff.removed.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(), ["old"]);
        assert_eq!(diff.moved, ["sum"]);
        assert_eq!(diff.changed.len(), 1);
        let fetch = &diff.changed[0];
        assert_eq!(fetch.id, "fetch");
        assert_eq!(fetch.fields, ["config"]);
        let changed: Vec<_> = fetch.lines.iter().filter(|l| l.changed).collect();
        assert_eq!(changed.len(), 1, "{:?}", fetch.lines);
        assert!(changed[0].before.as_deref().unwrap().contains("example.com/a"));
        assert!(changed[0].after.as_deref().unwrap().contains("example.com/b"));
        // Unchanged lines sit beside each other.
        assert!(fetch
            .lines
            .iter()
            .any(|l| !l.changed && l.before == l.after && l.before.as_deref() == Some("  \"id\": \"fetch\",")));
        assert_eq!(diff.edges_added.len(), 1);
        assert_eq!((diff.edges_added[0].from.as_str(), diff.edges_added[0].to.as_str()), ("sum", "post"));
        assert_eq!((diff.edges_removed[0].from.as_str(), diff.edges_removed[0].to.as_str()), ("sum", "old"));
        assert_eq!(diff.fields.iter().map(|f| f.field.as_str()).collect::<Vec<_>>(), ["name"]);
        assert_eq!(
            diff.summary(),
            "1 node added · 1 node removed · 1 node changed · 1 node moved · 1 edge added · 1 edge removed · 1 workflow field changed"
        );
    }

    #[test]
    fn lines_only_one_side_has_face_a_gap() {
        let before = serde_json::json!({"a": 1});
        let after = serde_json::json!({"a": 1, "b": 2});
        let rows = side_by_side(&before, &after);
        let added: Vec<_> = rows.iter().filter(|r| r.changed).collect();
        assert!(added.iter().any(|r| r.after.as_deref() == Some("  \"b\": 2") && r.before.is_none()), "{rows:?}");
        assert_eq!(rows.first().unwrap().before.as_deref(), Some("{"));
        assert_eq!(rows.last().unwrap().after.as_deref(), Some("}"));
    }

    #[test]
    fn a_field_absent_from_one_version_is_empty_on_that_side() {
        let mut v2 = v1();
        v2.description = Some("Every morning".into());
        let diff = diff_versions(&v1(), &v2);
        assert_eq!(diff.fields.len(), 1);
        assert_eq!(diff.fields[0].field, "description");
        assert_eq!(
            diff.fields[0].lines,
            [SideBySide { before: None, after: Some("\"Every morning\"".into()), changed: true }]
        );
    }
}
