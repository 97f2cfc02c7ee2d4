//! Group commit of run starts and ends. Every run writes its execution row when
//! it starts, and its last node states and final status when it ends. Under
//! load, the starts (or ends) that queue up while one write is in flight go
//! together in the next: one INSERT for many new executions, one transaction
//! for many ends. A lone run is written at once: nothing waits for a group to
//! fill up.

use std::future::Future;
use std::sync::{Arc, OnceLock};

use app::error::{AppError, AppResult};
use app::model::{Execution, ExecutionId, NodeRun};
use app::ports::{ExecutionOutcome, Finish, NewExecution, Store};
use tokio::sync::{mpsc, oneshot};

/// Requests written by one call at most.
const MAX_GROUP: usize = 256;

type Request<T, R> = (T, oneshot::Sender<AppResult<R>>);

/// Hands requests to one task that writes them in groups.
pub(super) struct Grouper<T, R> {
    requests: mpsc::UnboundedSender<Request<T, R>>,
}

impl<T: Send + 'static, R: Send + 'static> Grouper<T, R> {
    /// `write` gets a group and answers each request of it, in order.
    fn start<W, F>(name: &'static str, write: W) -> Self
    where
        W: Fn(Vec<T>) -> F + Send + 'static,
        F: Future<Output = Vec<AppResult<R>>> + Send,
    {
        let (requests, mut receiver) = mpsc::unbounded_channel::<Request<T, R>>();
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(MAX_GROUP);
            while let Some(first) = receiver.recv().await {
                group.push(first);
                // Whatever else arrived meanwhile joins this write.
                while group.len() < MAX_GROUP {
                    match receiver.try_recv() {
                        Ok(request) => group.push(request),
                        Err(_) => break,
                    }
                }
                metrics::histogram!("weft_group_commit_size", "write" => name).record(group.len() as f64);
                let (items, replies): (Vec<T>, Vec<_>) = group.drain(..).unzip();
                let results = write(items).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    let _ = reply.send(result);
                }
            }
        });
        Self { requests }
    }

    async fn call(&self, item: T) -> AppResult<R> {
        let (reply, answer) = oneshot::channel();
        self.requests.send((item, reply)).map_err(|_| AppError::Internal)?;
        answer.await.map_err(|_| AppError::Internal)?
    }
}

/// New executions. A group fails whole when one of them is bad (a workflow
/// version deleted meanwhile); each is then written alone, so only that one
/// fails. (Any other error fails the group.)
pub(super) fn creator(store: Arc<dyn Store>) -> Grouper<NewExecution, Execution> {
    Grouper::start("create", move |group: Vec<NewExecution>| {
        let store = store.clone();
        async move {
            match store.create_executions(&group).await {
                Ok(created) if created.len() == group.len() => created.into_iter().map(Ok).collect(),
                Ok(_) => group.iter().map(|_| Err(AppError::Internal)).collect(),
                // Only bad data is worth a retry one by one: with the database
                // down, each retry would fail too, one after another.
                Err(error) if group.len() == 1 || !matches!(error, AppError::BadRequest(_) | AppError::NotFound(_)) => {
                    group.iter().map(|_| Err(error.clone())).collect()
                }
                Err(_) => {
                    let mut results = Vec::with_capacity(group.len());
                    for new in &group {
                        results.push(store.create_execution(new).await);
                    }
                    results
                }
            }
        }
    })
}

/// Ends of runs, fenced by their leases. A group fails whole when one end
/// holds data the database refuses; each is then written alone, so only that
/// one fails. (Any other error fails the group.)
pub(super) fn finisher(store: Arc<dyn Store>) -> Grouper<Finish, ()> {
    Grouper::start("finish", move |group: Vec<Finish>| {
        let store = store.clone();
        async move {
            match store.finish_executions(&group).await {
                Ok(written) => group.iter().zip(written).map(|(finish, written)| held(finish, written)).collect(),
                Err(error) if group.len() == 1 || !matches!(error, AppError::BadRequest(_)) => {
                    group.iter().map(|_| Err(error.clone())).collect()
                }
                Err(_) => {
                    let mut results = Vec::with_capacity(group.len());
                    for finish in group {
                        let written = store.finish_executions(std::slice::from_ref(&finish)).await;
                        results.push(written.and_then(|written| held(&finish, written.first() == Some(&true))));
                    }
                    results
                }
            }
        }
    })
}

/// A fenced end that wrote nothing: another process holds the execution now.
fn held(finish: &Finish, written: bool) -> AppResult<()> {
    let id = finish.id;
    written.then_some(()).ok_or_else(|| AppError::Conflict(format!("execution {id} is no longer held by this process")))
}

/// The starts and ends of this process's runs, each kind written in groups
/// by a task of its own, started on first use.
pub(super) struct GroupedWrites {
    store: Arc<dyn Store>,
    /// Whose leases fence the ends.
    lease_owner: String,
    creator: OnceLock<Grouper<NewExecution, Execution>>,
    finisher: OnceLock<Grouper<Finish, ()>>,
}

impl GroupedWrites {
    pub(super) fn new(store: Arc<dyn Store>, lease_owner: String) -> Self {
        Self { store, lease_owner, creator: OnceLock::new(), finisher: OnceLock::new() }
    }

    /// Creates an execution (grouped with others created at the same time).
    pub(super) async fn create(&self, new: NewExecution) -> AppResult<Execution> {
        self.creator.get_or_init(|| creator(self.store.clone())).call(new).await
    }

    /// Writes the end of a run this process holds (grouped with other ends).
    pub(super) async fn finish(
        &self,
        id: ExecutionId,
        last_runs: Vec<NodeRun>,
        outcome: ExecutionOutcome,
    ) -> AppResult<()> {
        let finish = Finish { id, lease_owner: self.lease_owner.clone(), last_runs, outcome };
        self.finisher.get_or_init(|| finisher(self.store.clone())).call(finish).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::{ExecutionStatus, Scope, Trigger, WorkflowDefinition};
    use app::ports::ExecutionStart;

    async fn store_with_workflow() -> (tempfile::TempDir, Arc<dyn Store>, app::model::WorkflowSummary) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/weft.db", dir.path().display());
        let store = crate::store::connect(&crate::config::DatabaseSettings::with_url(url)).await.unwrap();
        let owner = store.create_user("g@example.com", None, false).await.unwrap();
        let definition: WorkflowDefinition = serde_json::from_value(serde_json::json!({
            "name": "g", "nodes": [{"id": "t", "type": "template", "config": {"template": "x"}}]
        }))
        .unwrap();
        let workflow = store.create_workflow(owner.id, &definition).await.unwrap();
        (dir, store, workflow)
    }

    fn new(workflow: &app::model::WorkflowSummary, version: i32, i: i64) -> NewExecution {
        NewExecution {
            workflow_id: workflow.id,
            version,
            owner_id: workflow.owner_id,
            trigger: Trigger::Api,
            input: serde_json::json!({ "i": i }),
            start: ExecutionStart::Queued,
            parent: None,
        }
    }

    #[tokio::test]
    async fn one_bad_start_in_a_group_fails_alone() {
        let (_dir, store, workflow) = store_with_workflow().await;
        let creator = creator(store.clone());
        // On this single-threaded runtime all three are queued before the
        // grouping task runs: they form one group.
        let (a, bad, c) = tokio::join!(
            creator.call(new(&workflow, 1, 1)),
            creator.call(new(&workflow, 42, 2)),
            creator.call(new(&workflow, 1, 3))
        );
        assert_eq!(bad.unwrap_err(), app::error::AppError::NotFound("workflow version".into()));
        let (a, c) = (a.unwrap(), c.unwrap());
        assert_eq!((a.input.to_value()["i"].as_i64(), c.input.to_value()["i"].as_i64()), (Some(1), Some(3)));
        assert_eq!(store.execution(Scope::Everyone, c.id).await.unwrap().id, c.id);
    }

    #[tokio::test]
    async fn one_bad_end_in_a_group_fails_alone() {
        let (_dir, store, workflow) = store_with_workflow().await;
        let lease = app::ports::Lease { owner: "w".into(), expires_at: i64::MAX / 4 };
        let mut held = Vec::new();
        for i in 0..3 {
            let start = ExecutionStart::Running { lease: lease.clone(), started_at: 1 };
            held.push(store.create_execution(&NewExecution { start, ..new(&workflow, 1, i) }).await.unwrap().id);
        }
        let end = |id, last_runs| Finish {
            id,
            lease_owner: "w".into(),
            last_runs,
            outcome: ExecutionOutcome { status: ExecutionStatus::Succeeded, error: None, finished_at: 2 },
        };
        // The middle end carries a node state of an execution that does not exist.
        let orphan = vec![NodeRun::queued(999_999, "t")];
        let finisher = finisher(store.clone());
        let (a, bad, c) = tokio::join!(
            finisher.call(end(held[0], Vec::new())),
            finisher.call(end(held[1], orphan)),
            finisher.call(end(held[2], Vec::new()))
        );
        assert!(a.is_ok() && c.is_ok(), "{a:?} {c:?}");
        assert!(bad.is_err());
        let status = |id| {
            let store = store.clone();
            async move { store.execution(Scope::Everyone, id).await.unwrap().status }
        };
        assert_eq!(status(held[0]).await, ExecutionStatus::Succeeded);
        assert_eq!(status(held[1]).await, ExecutionStatus::Running, "its end was not written");
        assert_eq!(status(held[2]).await, ExecutionStatus::Succeeded);
    }
}
