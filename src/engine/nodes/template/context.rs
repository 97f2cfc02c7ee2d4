//! What a template sees (`input`, `nodes`, `vars`, `idempotency_key`, `resume_urls`), converted to
//! template values only where the template looks.
//!
//! Converting every upstream output for every render would cost as much as all
//! outputs so far, for each node: quadratic in the length of a chain. Here a
//! node's output is converted the first time a render reads it, once per render.
//! A render on the async runtime also has a [`ReadBudget`]: reading more than
//! it allows makes the render be done again on the pool.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde};
use minijinja::Value as TemplateValue;
use serde_json::Value;

use super::super::{NodeScope, Outputs, ScopeSizes};

/// How much data (as JSON) a render may still convert. A read beyond it is
/// refused (the value is undefined to the template) and remembered: the
/// render's result does not count, and it is done again without a budget.
#[derive(Debug)]
pub struct ReadBudget {
    left: AtomicUsize,
    exceeded: AtomicBool,
}

impl ReadBudget {
    pub fn new(bytes: usize) -> Arc<Self> {
        Arc::new(Self { left: AtomicUsize::new(bytes), exceeded: AtomicBool::new(false) })
    }

    pub fn exceeded(&self) -> bool {
        self.exceeded.load(Ordering::Relaxed)
    }

    fn take(&self, bytes: usize) -> bool {
        let taken =
            self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| left.checked_sub(bytes)).is_ok();
        if !taken {
            self.exceeded.store(true, Ordering::Relaxed);
        }
        taken
    }
}

#[derive(Debug)]
pub struct ScopeContext {
    input: Arc<Value>,
    item: Option<super::super::Item>,
    converted_item: Mutex<Option<TemplateValue>>,
    nodes: TemplateValue,
    idempotency_key: String,
    vars: Arc<Value>,
    resume_urls: Arc<Value>,
    converted_input: Mutex<Option<TemplateValue>>,
    sizes: ScopeSizes,
    budget: Option<Arc<ReadBudget>>,
}

impl ScopeContext {
    /// The template context of a node (cheap: the outputs are shared, not
    /// copied), reading at most `budget` of its data when there is one.
    pub fn value(scope: &NodeScope, budget: Option<Arc<ReadBudget>>) -> TemplateValue {
        let nodes = NodesContext {
            outputs: scope.nodes.clone(),
            converted: Mutex::default(),
            sizes: scope.sizes.outputs.clone(),
            budget: budget.clone(),
        };
        TemplateValue::from_object(Self {
            input: scope.input.clone(),
            item: scope.item.clone(),
            converted_item: Mutex::default(),
            nodes: TemplateValue::from_object(nodes),
            idempotency_key: scope.idempotency_key.clone(),
            vars: scope.vars.clone(),
            resume_urls: scope.resume_urls.clone(),
            converted_input: Mutex::default(),
            sizes: scope.sizes.clone(),
            budget,
        })
    }
}

impl Object for ScopeContext {
    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        match key.as_str()? {
            "input" => {
                let mut converted = self.converted_input.lock().unwrap_or_else(|e| e.into_inner());
                if converted.is_none() && self.budget.as_ref().is_some_and(|b| !b.take(self.sizes.input)) {
                    return None;
                }
                Some(converted.get_or_insert_with(|| TemplateValue::from(Serde(&*self.input))).clone())
            }
            // An agent's http tool runs with the model's arguments as its item,
            // named `args` in its templates.
            "item" | "args" => {
                let item = self.item.as_ref()?;
                let mut converted = self.converted_item.lock().unwrap_or_else(|e| e.into_inner());
                if converted.is_none() && self.budget.as_ref().is_some_and(|b| !b.take(item.bytes)) {
                    return None;
                }
                Some(converted.get_or_insert_with(|| TemplateValue::from(Serde(&*item.value))).clone())
            }
            "index" => self.item.as_ref().map(|item| TemplateValue::from(item.index)),
            "nodes" => Some(self.nodes.clone()),
            // Small (at most 200 values of 8 KiB): converted whole when read.
            "vars" => Some(TemplateValue::from(Serde(&*self.vars))),
            "idempotency_key" => Some(TemplateValue::from(self.idempotency_key.as_str())),
            // A few URLs: converted whole when read.
            "resume_urls" => Some(TemplateValue::from(Serde(&*self.resume_urls))),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        match self.item {
            Some(_) => Enumerator::Str(&["input", "item", "index", "nodes", "vars", "idempotency_key", "resume_urls"]),
            None => Enumerator::Str(&["input", "nodes", "vars", "idempotency_key", "resume_urls"]),
        }
    }
}

/// `nodes`: a map from node id to its output, converted on first read.
#[derive(Debug)]
struct NodesContext {
    outputs: Outputs,
    converted: Mutex<HashMap<String, TemplateValue>>,
    sizes: imbl::OrdMap<String, usize>,
    budget: Option<Arc<ReadBudget>>,
}

impl Object for NodesContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        let id = key.as_str()?;
        let output = self.outputs.get(id)?;
        let mut converted = self.converted.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = converted.get(id) {
            return Some(value.clone());
        }
        // An output measured nowhere counts as too big for a budget.
        let size = self.sizes.get(id).copied().unwrap_or(usize::MAX);
        if self.budget.as_ref().is_some_and(|b| !b.take(size)) {
            return None;
        }
        Some(converted.entry(id.to_string()).or_insert_with(|| TemplateValue::from(Serde(&**output))).clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.outputs.keys().map(|id| TemplateValue::from(id.as_str())).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.outputs.len())
    }
}
