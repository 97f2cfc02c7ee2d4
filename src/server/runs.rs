//! The pages' [`Runs`] port, on the engine.

use std::sync::Arc;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::{Runs, Store};
use async_trait::async_trait;
use serde_json::Value;

use crate::engine::{Engine, StartRequest};

pub struct EngineRuns {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
}

#[async_trait]
impl Runs for EngineRuns {
    async fn start(
        &self,
        version: &WorkflowVersion,
        owner: UserId,
        trigger: Trigger,
        input: Value,
        reuse: Vec<NodeRun>,
    ) -> AppResult<Execution> {
        let workflow = validate(&version.definition).map_err(AppError::Invalid)?;
        let handle = self
            .engine
            .start(StartRequest::new(version, owner, trigger, input).validated(workflow).reusing(reuse))
            .await?;
        // The run goes on in the background; the page follows its events.
        Ok(handle.execution)
    }

    async fn cancel(&self, scope: Scope, id: ExecutionId) -> AppResult<ExecutionStatus> {
        self.engine.cancel_run(scope, id).await
    }

    async fn resume(&self, scope: Scope, id: ExecutionId, node: &str, payload: Value) -> AppResult<ExecutionStatus> {
        self.engine.end_wait(scope, id, Some(node), &WaitEnd::Resumed(payload)).await
    }
}
