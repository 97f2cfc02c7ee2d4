//! The one write path for workflows, used by the pages, the REST API and the
//! CLI: validate, write, then announce the change (so webhook caches and the
//! cron scheduler of every process follow). Nothing else writes workflows.

use std::sync::Arc;

use crate::error::{AppError, AppResult};
use crate::model::{
    parse_on_failure, validate_to_save, Scope, UserId, ValidationError, WorkflowDefinition, WorkflowId,
    WorkflowSummary, WorkflowVersion,
};
use crate::ports::Store;

/// Told of every workflow created, saved or deleted.
pub type WorkflowChanged = Arc<dyn Fn(WorkflowId) + Send + Sync>;

#[derive(Clone)]
pub struct Workflows {
    store: Arc<dyn Store>,
    changed: WorkflowChanged,
}

impl Workflows {
    pub fn new(store: Arc<dyn Store>, changed: WorkflowChanged) -> Self {
        Self { store, changed }
    }

    /// A new workflow (version 1) owned by `owner`.
    pub async fn create(&self, owner: UserId, definition: &WorkflowDefinition) -> AppResult<WorkflowSummary> {
        validate_to_save(definition).map_err(AppError::Invalid)?;
        self.check_error_workflow(owner, None, definition).await?;
        super::workflow_calls::check_calls(self.store.as_ref(), owner, None, definition).await?;
        let created = self.store.create_workflow(owner, definition).await?;
        (self.changed)(created.id);
        Ok(created)
    }

    /// A new version of a workflow in `scope`.
    pub async fn save(
        &self,
        scope: Scope,
        id: WorkflowId,
        definition: &WorkflowDefinition,
    ) -> AppResult<WorkflowVersion> {
        validate_to_save(definition).map_err(AppError::Invalid)?;
        let calls_workflows = definition.nodes.iter().any(|node| node.kind == "workflow" || node.kind == "agent");
        if definition.on_failure.is_some() || calls_workflows {
            let owner = self.store.workflow(scope, id).await?.summary.owner_id;
            self.check_error_workflow(owner, Some(id), definition).await?;
            super::workflow_calls::check_calls(self.store.as_ref(), owner, Some(id), definition).await?;
        }
        let saved = self.store.save_workflow_version(scope, id, definition).await?;
        (self.changed)(id);
        Ok(saved)
    }

    /// The error workflow a definition names is one of the owner's, and not itself.
    async fn check_error_workflow(
        &self,
        owner: UserId,
        itself: Option<WorkflowId>,
        definition: &WorkflowDefinition,
    ) -> AppResult<()> {
        let Some(Ok(on_failure)) = definition.on_failure.as_ref().map(parse_on_failure) else { return Ok(()) };
        let refuse = |message: String| Err(AppError::Invalid(vec![ValidationError { nodes: Vec::new(), message }]));
        if itself == Some(on_failure.workflow) {
            return refuse("on_failure.workflow: a workflow cannot be its own error workflow".into());
        }
        match self.store.workflow(Scope::Owner(owner), on_failure.workflow).await {
            Ok(_) => Ok(()),
            Err(AppError::NotFound(_)) => refuse(format!(
                "on_failure.workflow: workflow {} is not one of the owner's workflows",
                on_failure.workflow
            )),
            Err(error) => Err(error),
        }
    }

    /// Deletes a workflow with its versions and executions.
    pub async fn delete(&self, scope: Scope, id: WorkflowId) -> AppResult<()> {
        self.store.delete_workflow(scope, id).await?;
        (self.changed)(id);
        Ok(())
    }

    /// Makes an earlier version current again, as a new version (versions never change).
    pub async fn restore(&self, scope: Scope, id: WorkflowId, version: i32) -> AppResult<WorkflowVersion> {
        let old = self.store.workflow_version(scope, id, version).await?;
        self.save(scope, id, &old.definition).await
    }

    /// Copies the current version into a new workflow named "… (copy)". Its
    /// triggers are left out: a copy should not start answering webhooks or
    /// firing on a schedule before its owner says so.
    pub async fn duplicate(&self, owner: UserId, id: WorkflowId) -> AppResult<WorkflowSummary> {
        let mut definition = self.store.workflow(Scope::Owner(owner), id).await?.definition;
        definition.name = format!("{} (copy)", definition.name);
        definition.triggers.clear();
        self.create(owner, &definition).await
    }

    /// Copies a marketplace template into `owner`'s workflows. Triggers are
    /// left out: a webhook or a schedule should not start working just
    /// because a template was installed.
    pub async fn install_template(&self, owner: UserId, slug: &str) -> AppResult<WorkflowSummary> {
        let mut definition = self.store.template(slug).await?.definition;
        definition.triggers.clear();
        self.create(owner, &definition).await
    }
}
