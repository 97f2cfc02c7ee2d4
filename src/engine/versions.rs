//! Saved workflow versions, validated once per process.

use std::sync::Arc;

use app::error::{AppError, AppResult};
use app::model::{validate, Scope, ValidatedWorkflow, WorkflowId};
use app::ports::Store;

/// Validated workflow versions by (workflow, version): versions never change,
/// so entries are never stale.
pub(super) struct ValidatedVersions {
    cache: moka::future::Cache<(WorkflowId, i32), Arc<ValidatedWorkflow>>,
}

impl Default for ValidatedVersions {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                .weigher(|_, workflow: &Arc<ValidatedWorkflow>| {
                    crate::weigh::in_pages(crate::weigh::json_bytes(&workflow.definition))
                })
                .build(),
        }
    }
}

impl ValidatedVersions {
    pub(super) async fn get(
        &self,
        store: &dyn Store,
        workflow: WorkflowId,
        version: i32,
    ) -> AppResult<Arc<ValidatedWorkflow>> {
        self.cache
            .try_get_with((workflow, version), async {
                let stored = store.workflow_version(Scope::Everyone, workflow, version).await?;
                validate(&stored.definition).map(Arc::new).map_err(AppError::Invalid)
            })
            .await
            .map_err(|e| (*e).clone())
    }
}
