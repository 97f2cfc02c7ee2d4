//! The editor's state: one signal per node position and config, so moving one
//! node re-renders that node and its edges, not the graph. Every change that
//! can be undone first saves a snapshot of the definition. Whether there is
//! something to save is a comparison with the last saved definition, so undoing
//! back to it leaves nothing to save.

use leptos::prelude::*;
use serde_json::Value;

use super::model::{default_config, fresh_id, NodePolicyFields};
use crate::model::{Edge, NodeDefinition, Position, WorkflowDefinition};

/// How many steps undo goes back.
const UNDO_DEPTH: usize = 200;

#[derive(Clone, Copy)]
pub struct EditorNode {
    /// Stable across edits (list keys); ids are the node's name in the definition.
    pub key: u64,
    pub id: StoredValue<String>,
    pub kind: StoredValue<String>,
    pub config: RwSignal<Value>,
    pub position: RwSignal<Position>,
    pub policy: RwSignal<NodePolicyFields>,
    /// The output pinned in the editor (see `NodeDefinition::pinned`).
    pub pinned: RwSignal<Option<Value>>,
    /// The rest of its definition (fields this version does not know), kept as it was.
    pub rest: StoredValue<NodeDefinition>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    None,
    Node(String),
    Edge(usize),
}

/// An output dot whose "+" was clicked: the next node picked from the palette
/// is added after it, connected.
#[derive(Debug, Clone, PartialEq)]
pub struct Attachment {
    pub from: String,
    pub branch: Option<String>,
}

#[derive(Clone, Copy)]
pub struct EditorState {
    pub base: StoredValue<WorkflowDefinition>,
    pub name: RwSignal<String>,
    /// The declared input (raw: validation names what is wrong in it).
    pub input: RwSignal<Option<Value>>,
    /// Webhooks and schedules, as the definition writes them (the trigger form edits them).
    pub triggers: RwSignal<Vec<Value>>,
    /// The error workflow (raw, as the definition writes it).
    pub on_failure: RwSignal<Option<Value>>,
    pub nodes: RwSignal<Vec<EditorNode>>,
    pub edges: RwSignal<Vec<Edge>>,
    pub selected: RwSignal<Selection>,
    pub attach_to: RwSignal<Option<Attachment>>,
    /// The definition as last saved (or as opened): what "unsaved changes" compares with.
    saved: RwSignal<WorkflowDefinition>,
    undo: StoredValue<Vec<WorkflowDefinition>>,
    redo: StoredValue<Vec<WorkflowDefinition>>,
    next_key: StoredValue<u64>,
    pub can_undo: RwSignal<bool>,
    pub can_redo: RwSignal<bool>,
    /// Bumped whenever every node is replaced (undo, redo): edges drawn for the
    /// old nodes are drawn again for the new ones.
    pub generation: RwSignal<u64>,
    /// The editor's reactive owner, for changes that remake every node.
    owner: StoredValue<Owner>,
}

impl EditorState {
    pub fn new(definition: WorkflowDefinition) -> Self {
        let positions = crate::graph::positions(&definition);
        let state = Self {
            base: StoredValue::new(definition.clone()),
            name: RwSignal::new(definition.name.clone()),
            input: RwSignal::new(definition.input.clone()),
            triggers: RwSignal::new(definition.triggers.clone()),
            on_failure: RwSignal::new(definition.on_failure.clone()),
            nodes: RwSignal::new(Vec::new()),
            edges: RwSignal::new(Vec::new()),
            selected: RwSignal::new(Selection::None),
            attach_to: RwSignal::new(None),
            saved: RwSignal::new(definition.clone()),
            undo: StoredValue::new(Vec::new()),
            redo: StoredValue::new(Vec::new()),
            next_key: StoredValue::new(0),
            can_undo: RwSignal::new(false),
            can_redo: RwSignal::new(false),
            generation: RwSignal::new(0),
            owner: StoredValue::new(Owner::current().expect("the editor state is made inside a component")),
        };
        let mut definition = definition;
        for (node, position) in definition.nodes.iter_mut().zip(positions) {
            node.position.get_or_insert(position);
        }
        state.load(definition);
        // Positions laid out on opening are part of the baseline: opening changes nothing.
        state.saved.set(state.definition(false));
        state
    }

    fn make_node(&self, node: NodeDefinition) -> EditorNode {
        let key = self.next_key.get_value();
        self.next_key.set_value(key + 1);
        EditorNode {
            key,
            id: StoredValue::new(node.id.clone()),
            kind: StoredValue::new(node.kind.clone()),
            config: RwSignal::new(node.config.clone()),
            position: RwSignal::new(node.position.unwrap_or(Position { x: 0.0, y: 0.0 })),
            policy: RwSignal::new(NodePolicyFields::of(&node)),
            pinned: RwSignal::new(node.pinned.clone()),
            rest: StoredValue::new(node),
        }
    }

    /// Replaces everything with `definition` (first load, undo, redo).
    fn load(&self, definition: WorkflowDefinition) {
        let nodes: Vec<EditorNode> = definition.nodes.iter().cloned().map(|n| self.make_node(n)).collect();
        self.name.set(definition.name.clone());
        self.input.set(definition.input.clone());
        self.triggers.set(definition.triggers.clone());
        self.on_failure.set(definition.on_failure.clone());
        self.edges.set(definition.edges.clone());
        self.nodes.set(nodes);
        self.base.set_value(definition);
        self.generation.update(|g| *g += 1);
        self.selected.set(Selection::None);
        self.attach_to.set(None);
    }

    /// The definition as it stands. `track` makes the caller follow changes
    /// (positions are not tracked: moving a node does not revalidate).
    pub fn definition(&self, track: bool) -> WorkflowDefinition {
        self.read_definition(track, false)
    }

    /// Whether the definition differs from the saved one, positions included
    /// (tracked: a moved node is a change to save).
    pub fn differs_from_saved(&self) -> bool {
        let current = self.read_definition(true, true);
        self.saved.with(|saved| *saved != current)
    }

    fn read_definition(&self, track: bool, track_positions: bool) -> WorkflowDefinition {
        let mut definition = self.base.get_value();
        let read_nodes = |nodes: &Vec<EditorNode>| {
            nodes
                .iter()
                .map(|n| {
                    let mut node = n.rest.get_value();
                    node.config = if track { n.config.get() } else { n.config.get_untracked() };
                    let policy = if track { n.policy.get() } else { n.policy.get_untracked() };
                    policy.apply_to(&mut node);
                    node.pinned = if track { n.pinned.get() } else { n.pinned.get_untracked() };
                    node.position = Some(if track_positions { n.position.get() } else { n.position.get_untracked() });
                    node
                })
                .collect()
        };
        if track {
            definition.name = self.name.get();
            definition.input = self.input.get();
            definition.triggers = self.triggers.get();
            definition.on_failure = self.on_failure.get();
            definition.nodes = self.nodes.with(read_nodes);
            definition.edges = self.edges.get();
        } else {
            definition.name = self.name.get_untracked();
            definition.input = self.input.get_untracked();
            definition.triggers = self.triggers.get_untracked();
            definition.on_failure = self.on_failure.get_untracked();
            definition.nodes = self.nodes.with_untracked(read_nodes);
            definition.edges = self.edges.get_untracked();
        }
        definition
    }

    /// Saves the current state for undo; call before a change.
    pub fn checkpoint(&self) {
        let snapshot = self.definition(false);
        self.undo.update_value(|undo| {
            undo.push(snapshot);
            if undo.len() > UNDO_DEPTH {
                undo.remove(0);
            }
        });
        self.redo.update_value(Vec::clear);
        self.refresh_history_flags();
    }

    fn refresh_history_flags(&self) {
        self.can_undo.set(self.undo.with_value(|u| !u.is_empty()));
        self.can_redo.set(self.redo.with_value(|r| !r.is_empty()));
    }

    /// Drops every field Weft does not know (one undo step): a workflow
    /// stored before such fields were refused can then be saved.
    pub fn remove_unknown_fields(&self) {
        self.checkpoint();
        let clean = crate::model::validation::without_unknown_fields(&self.definition(false));
        self.load(clean);
    }

    pub fn undo(&self) {
        let Some(previous) = self.undo.try_update_value(|u| u.pop()).flatten() else { return };
        let current = self.definition(false);
        self.redo.update_value(|r| r.push(current));
        self.load(previous);
        self.refresh_history_flags();
    }

    pub fn redo(&self) {
        let Some(next) = self.redo.try_update_value(|r| r.pop()).flatten() else { return };
        let current = self.definition(false);
        self.undo.update_value(|u| u.push(current));
        self.load(next);
        self.refresh_history_flags();
    }

    /// Renames a node, with its edges and the references to it (one undo step).
    pub fn rename_node(&self, old: &str, new: &str) -> Result<(), String> {
        let mut definition = self.definition(false);
        super::model::rename_node(&mut definition, old, new)?;
        // The nodes' signals are made under the editor's owner: made under the
        // caller's (the node form, which this very change replaces), they
        // would be disposed with it, and the next read would panic.
        self.owner.with_value(|owner| {
            owner.with(|| {
                self.checkpoint();
                self.load(definition);
            })
        });
        self.selected.set(Selection::Node(new.trim().to_string()));
        Ok(())
    }

    /// Pins `output` to node `id` (None: unpins it), as a change that can be undone.
    pub fn pin(&self, id: &str, output: Option<Value>) {
        if let Some(node) = self.node(id) {
            self.checkpoint();
            node.pinned.set(output);
        }
    }

    pub fn node(&self, id: &str) -> Option<EditorNode> {
        self.nodes.with_untracked(|nodes| nodes.iter().find(|n| n.id.with_value(|i| i == id)).copied())
    }

    pub fn add_node(&self, kind: &str, at: Position) -> String {
        self.checkpoint();
        self.push_node(kind, at)
    }

    /// Adds a node joined to the output dot (`branch`) of `from`: one undo step.
    pub fn add_connected_node(&self, kind: &str, at: Position, from: &str, branch: Option<String>) -> String {
        self.checkpoint();
        let id = self.push_node(kind, at);
        self.edges.update(|edges| {
            edges.push(Edge { from: from.to_string(), to: id.clone(), branch, extra: Default::default() })
        });
        id
    }

    /// Every node's position, for placing a new one where none is.
    pub fn positions(&self) -> Vec<Position> {
        self.nodes.with_untracked(|nodes| nodes.iter().map(|n| n.position.get_untracked()).collect())
    }

    fn push_node(&self, kind: &str, at: Position) -> String {
        let id = self.nodes.with_untracked(|nodes| {
            let taken: Vec<String> = nodes.iter().map(|n| n.id.get_value()).collect();
            fresh_id(kind, taken.iter().map(String::as_str))
        });
        let definition = NodeDefinition {
            id: id.clone(),
            kind: kind.to_string(),
            config: default_config(kind),
            position: Some(at),
            timeout_ms: None,
            retry: None,
            on_error: None,
            for_each: None,
            concurrency: None,
            pinned: None,
            extra: Default::default(),
        };
        let node = self.make_node(definition);
        self.nodes.update(|nodes| nodes.push(node));
        self.selected.set(Selection::Node(id.clone()));
        id
    }

    /// Adds an edge unless it exists or would join a node to itself.
    pub fn connect(&self, from: &str, to: &str, branch: Option<String>) -> bool {
        // The same two nodes may be joined once per branch (a switch's two cases may lead to one node).
        let exists =
            self.edges.with_untracked(|edges| edges.iter().any(|e| e.from == from && e.to == to && e.branch == branch));
        if from == to || exists {
            return false;
        }
        self.checkpoint();
        self.edges.update(|edges| {
            edges.push(Edge { from: from.to_string(), to: to.to_string(), branch, extra: Default::default() })
        });
        true
    }

    /// Renames the branch edges leave `from` by (a switch case renamed in its form).
    pub fn rename_branch(&self, from: &str, old: &str, new: &str) {
        self.edges.update(|edges| {
            for edge in edges.iter_mut().filter(|e| e.from == from && e.branch.as_deref() == Some(old)) {
                edge.branch = Some(new.to_string());
            }
        });
    }

    pub fn delete_selected(&self) {
        match self.selected.get_untracked() {
            Selection::None => {}
            Selection::Node(id) => {
                self.checkpoint();
                if self.attach_to.with_untracked(|a| a.as_ref().is_some_and(|a| a.from == id)) {
                    self.attach_to.set(None);
                }
                self.nodes.update(|nodes| nodes.retain(|n| n.id.with_value(|i| *i != id)));
                self.edges.update(|edges| edges.retain(|e| e.from != id && e.to != id));
            }
            Selection::Edge(index) => {
                self.checkpoint();
                self.edges.update(|edges| {
                    if index < edges.len() {
                        edges.remove(index);
                    }
                });
            }
        }
        self.selected.set(Selection::None);
    }

    /// Lays every node out in columns by depth (one undoable step).
    pub fn auto_layout(&self) {
        self.checkpoint();
        let positions = crate::graph::auto_layout(&self.definition(false));
        self.nodes.with_untracked(|nodes| {
            for (node, position) in nodes.iter().zip(positions) {
                node.position.set(position);
            }
        });
    }

    /// After a save: what was sent is the new baseline (changes made while it
    /// was on its way are still unsaved).
    pub fn mark_saved(&self, definition: WorkflowDefinition) {
        self.saved.set(definition);
    }
}
