//! The pages' [`Runs`] port, on the engine.

use std::sync::Arc;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::{PreviewData, Runs, Store};
use async_trait::async_trait;
use serde_json::Value;

use crate::engine::nodes::{NodeScope, ScopeSizes};
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

    async fn preview_template(
        &self,
        owner: UserId,
        data: PreviewData,
        field: &str,
        source: &str,
    ) -> AppResult<Result<String, String>> {
        let PreviewData { execution, node, input, nodes } = data;
        let vars = if source.contains("vars") {
            let vars = self.store.variables_for_run(owner).await?;
            Value::Object(vars.into_iter().map(|(name, value)| (name, Value::String(value))).collect())
        } else {
            Value::Object(Default::default())
        };
        let sizes = ScopeSizes {
            input: crate::weigh::json_bytes(&input),
            outputs: nodes.iter().map(|(id, output)| (id.clone(), crate::weigh::json_bytes(output))).collect(),
        };
        let scope = NodeScope {
            execution_id: execution,
            depth: 0,
            node_id: node.clone(),
            owner,
            idempotency_key: format!("weft-preview-{execution}-{node}"),
            input: Arc::new(input),
            nodes: nodes.into_iter().map(|(id, output)| (id, Arc::new(output))).collect(),
            sizes,
            live_inputs: Vec::new(),
            vars: Arc::new(vars),
            resume_urls: Arc::new(Value::Object(Default::default())),
            item: None,
        };
        // The same renderer, pool, fuel and output cap as a run's templates.
        Ok(self.engine.services().templates.render(field, source, &scope).await)
    }
}
