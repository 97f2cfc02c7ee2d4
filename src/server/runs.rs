//! The pages' [`Runs`] port, on the engine.

use std::sync::Arc;

use app::error::{AppError, AppResult};
use app::model::*;
use app::ports::{RecordedData, Runs, Store, TriedNode};
use async_trait::async_trait;
use serde_json::Value;

use crate::engine::try_node::{Tried, TryScope};
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
        data: RecordedData,
        field: &str,
        source: &str,
    ) -> AppResult<Result<String, String>> {
        let node = data.node.clone();
        let scope = self.scope_of(owner, data, source.contains("vars")).await?.into_node_scope(&node);
        // The same renderer, pool, fuel and output cap as a run's templates.
        Ok(self.engine.services().templates.render(field, source, &scope).await)
    }

    async fn try_node(&self, owner: UserId, node: &ValidatedNode, data: RecordedData) -> AppResult<TriedNode> {
        let reads_vars = app::model::variables::reads_variables(std::slice::from_ref(node));
        let scope = self.scope_of(owner, data, reads_vars).await?;
        let Tried { output, items } = self.engine.try_node(node, scope).await;
        Ok(TriedNode { output, items })
    }
}

impl EngineRuns {
    /// What a preview or a try sees; the owner's variables are read only for a text that mentions them.
    async fn scope_of(&self, owner: UserId, data: RecordedData, reads_vars: bool) -> AppResult<TryScope> {
        let vars = if reads_vars {
            let vars = self.store.variables_for_run(owner).await?;
            Value::Object(vars.into_iter().map(|(name, value)| (name, Value::String(value))).collect())
        } else {
            Value::Object(Default::default())
        };
        let RecordedData { execution, node: _, input, nodes, upstream } = data;
        Ok(TryScope { owner, execution, input, outputs: nodes, upstream, vars })
    }
}
