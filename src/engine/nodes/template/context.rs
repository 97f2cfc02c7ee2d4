//! What a template sees (`input`, `nodes`, `idempotency_key`), converted to
//! template values only where the template looks.
//!
//! Converting every upstream output for every render would cost as much as all
//! outputs so far, for each node: quadratic in the length of a chain. Here a
//! node's output is converted the first time a render reads it, once per render.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Serde};
use minijinja::Value as TemplateValue;
use serde_json::Value;

use super::super::{NodeScope, Outputs};

#[derive(Debug)]
pub struct ScopeContext {
    input: Arc<Value>,
    nodes: TemplateValue,
    idempotency_key: String,
    converted_input: Mutex<Option<TemplateValue>>,
}

impl ScopeContext {
    /// The template context of a node (cheap: the outputs are shared, not copied).
    pub fn value(scope: &NodeScope) -> TemplateValue {
        let nodes = NodesContext { outputs: scope.nodes.clone(), converted: Mutex::default() };
        TemplateValue::from_object(Self {
            input: scope.input.clone(),
            nodes: TemplateValue::from_object(nodes),
            idempotency_key: scope.idempotency_key.clone(),
            converted_input: Mutex::default(),
        })
    }
}

impl Object for ScopeContext {
    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        match key.as_str()? {
            "input" => {
                let mut converted = self.converted_input.lock().unwrap_or_else(|e| e.into_inner());
                Some(converted.get_or_insert_with(|| TemplateValue::from(Serde(&*self.input))).clone())
            }
            "nodes" => Some(self.nodes.clone()),
            "idempotency_key" => Some(TemplateValue::from(self.idempotency_key.as_str())),
            _ => None,
        }
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Str(&["input", "nodes", "idempotency_key"])
    }
}

/// `nodes`: a map from node id to its output, converted on first read.
#[derive(Debug)]
struct NodesContext {
    outputs: Outputs,
    converted: Mutex<HashMap<String, TemplateValue>>,
}

impl Object for NodesContext {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &TemplateValue) -> Option<TemplateValue> {
        let id = key.as_str()?;
        let output = self.outputs.get(id)?;
        let mut converted = self.converted.lock().unwrap_or_else(|e| e.into_inner());
        Some(converted.entry(id.to_string()).or_insert_with(|| TemplateValue::from(Serde(&**output))).clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.outputs.keys().map(|id| TemplateValue::from(id.as_str())).collect())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.outputs.len())
    }
}
