//! The browser's cache of workflows: each is fetched once per id per session
//! (page load), through the batch server function, and forgotten when it is
//! saved, restored or deleted. On the server each request renders with an
//! empty cache of its own, so nothing is shared between users.

use std::collections::HashMap;

use leptos::prelude::*;

use super::api::load_workflows;
use crate::error::AppError;
use crate::model::{Workflow, WorkflowId};

#[derive(Clone, Copy)]
pub struct WorkflowCache(StoredValue<HashMap<WorkflowId, Workflow>>);

impl WorkflowCache {
    pub fn provide() {
        provide_context(Self(StoredValue::new(HashMap::new())));
    }

    pub fn expect() -> Self {
        expect_context::<Self>()
    }

    pub fn put(self, workflow: Workflow) {
        self.0.update_value(|cache| {
            cache.insert(workflow.summary.id, workflow);
        });
    }

    pub fn forget(self, id: WorkflowId) {
        self.0.update_value(|cache| {
            cache.remove(&id);
        });
    }

    /// The workflows asked for that exist, fetching only those not cached, in one call.
    pub async fn get_many(self, ids: &[WorkflowId]) -> Result<Vec<Workflow>, AppError> {
        let missing: Vec<WorkflowId> =
            self.0.with_value(|cache| ids.iter().copied().filter(|id| !cache.contains_key(id)).collect());
        if !missing.is_empty() {
            for workflow in load_workflows(missing).await? {
                self.put(workflow);
            }
        }
        Ok(self.0.with_value(|cache| ids.iter().filter_map(|id| cache.get(id).cloned()).collect()))
    }

    pub async fn get(self, id: WorkflowId) -> Result<Workflow, AppError> {
        self.get_many(&[id]).await?.pop().ok_or_else(|| AppError::NotFound("workflow".into()))
    }
}
