//! Group commit of run ends. Every finished run has its last node states and
//! final status written in one transaction; under load, the runs that finish
//! while one such transaction is in flight are written together by the next,
//! so the database sees one transaction per group instead of one per run. A
//! lone run is written at once: nothing waits for a group to fill up.

use std::sync::Arc;

use app::error::{AppError, AppResult};
use app::model::{ExecutionId, NodeRun};
use app::ports::{ExecutionOutcome, Finish, Store};
use tokio::sync::{mpsc, oneshot};

use super::Engine;

/// Runs written by one transaction at most.
const MAX_GROUP: usize = 256;

struct Request {
    finish: Finish,
    done: oneshot::Sender<AppResult<()>>,
}

pub(super) struct Finisher {
    requests: mpsc::UnboundedSender<Request>,
}

impl Finisher {
    fn start(store: Arc<dyn Store>) -> Self {
        let (requests, receiver) = mpsc::unbounded_channel();
        tokio::spawn(write_groups(store, receiver));
        Self { requests }
    }
}

async fn write_groups(store: Arc<dyn Store>, mut requests: mpsc::UnboundedReceiver<Request>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = requests.recv().await {
        group.push(first);
        // Whatever else finished meanwhile joins this transaction.
        while group.len() < MAX_GROUP {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(_) => break,
            }
        }
        let finishes: Vec<Finish> = group.iter().map(|r| r.finish.clone()).collect();
        metrics::histogram!("weft_finish_group_size").record(finishes.len() as f64);
        match store.finish_executions(&finishes).await {
            Ok(written) => {
                for (request, written) in group.drain(..).zip(written) {
                    let result = if written {
                        Ok(())
                    } else {
                        let id = request.finish.id;
                        Err(AppError::Conflict(format!("execution {id} is no longer held by this process")))
                    };
                    let _ = request.done.send(result);
                }
            }
            Err(error) => {
                for request in group.drain(..) {
                    let _ = request.done.send(Err(error.clone()));
                }
            }
        }
    }
}

impl Engine {
    /// Writes the end of a run this process holds (grouped with other ends).
    pub(super) async fn finish(
        &self,
        id: ExecutionId,
        last_runs: Vec<NodeRun>,
        outcome: ExecutionOutcome,
    ) -> AppResult<()> {
        let finisher = self.finisher.get_or_init(|| Finisher::start(self.store.clone()));
        let (done, result) = oneshot::channel();
        let finish = Finish { id, lease_owner: self.worker_id.clone(), last_runs, outcome };
        if finisher.requests.send(Request { finish, done }).is_err() {
            return Err(AppError::Internal);
        }
        result.await.map_err(|_| AppError::Internal)?
    }
}
