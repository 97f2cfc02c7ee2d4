//! Runs paused at `wait` nodes: their resume URLs, ending a wait (someone
//! resumed it, or it timed out), and the sweep that times waits out.
//!
//! A waiting run is only rows: its node states, and a `waits` row per waiting
//! node. Ending a wait records the node's result and queues the run; whichever
//! process claims it resumes it from its recorded states, as after a takeover.

use std::sync::Arc;
use std::time::Duration;

use app::error::{AppError, AppResult};
use app::model::*;
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::Engine;
use crate::bus::Notice;

/// Waits timed out by one query at most.
const SWEEP_BATCH: u32 = 100;

/// Whether `text` can be a node id (validation allows letters, digits, `_`
/// and `-`): anything else is refused before it reaches the database.
fn is_node_id(text: &str) -> bool {
    !text.is_empty() && text.len() <= 200 && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// What a resume token signs: one node of one run.
fn token_message(id: ExecutionId, node: &str) -> String {
    format!("resume:{id}:{node}")
}

impl Engine {
    /// The URL that resumes node `node` of run `id`: unguessable (it carries a
    /// signature under the instance's secret key) and usable once. Absolute
    /// when `WEFT_PUBLIC_URL` is set, else a path.
    pub fn resume_url(&self, id: ExecutionId, node: &str) -> String {
        let token = self.secrets.sign(&token_message(id, node));
        let base = self.settings.public_url.as_deref().unwrap_or("/").trim_end_matches('/');
        // Node ids are letters, digits, `_` and `-` (validation): safe in a path.
        format!("{base}/resume/{id}/{node}/{token}")
    }

    /// `resume_urls` in templates: a resume URL per `wait` node of the run.
    pub(super) fn resume_urls(&self, id: ExecutionId, workflow: &ValidatedWorkflow) -> Value {
        Value::Object(
            workflow
                .nodes
                .iter()
                .filter(|node| matches!(node.config, NodeConfig::Wait(_)))
                .map(|node| (node.id.clone(), Value::String(self.resume_url(id, &node.id))))
                .collect(),
        )
    }

    /// Ends a wait (`node`, or the run's only waiting node when `None`). A
    /// parked run is queued and goes on wherever there is room. The run's status now.
    pub async fn end_wait(
        &self,
        scope: Scope,
        id: ExecutionId,
        node: Option<&str>,
        end: &WaitEnd,
    ) -> AppResult<ExecutionStatus> {
        let node = match node {
            Some(node) if !is_node_id(node) => {
                return Err(AppError::BadRequest(format!("`{node}` is not a node id (letters, digits, `_` and `-`)")));
            }
            Some(node) => node.to_string(),
            None => {
                // Scoped first: someone else's run is not found, whatever waits in it.
                let execution = self.store.execution(scope, id).await?;
                let waits = self.store.waits_of(execution.id).await?;
                match waits.as_slice() {
                    [only] => only.node_id.clone(),
                    [] => return Err(AppError::Conflict(format!("nothing waits in run {id} ({})", execution.status))),
                    several => {
                        let names: Vec<&str> = several.iter().map(|w| w.node_id.as_str()).collect();
                        return Err(AppError::BadRequest(format!(
                            "several nodes of run {id} wait ({}): say which with `node`",
                            names.join(", ")
                        )));
                    }
                }
            }
        };
        let mut end = end.clone();
        if let WaitEnd::Resumed(payload) = &mut end {
            // Whoever answers may send anything; see `app::model::nul`.
            app::model::nul::replace_nul(payload);
        }
        let status = self.store.end_wait(scope, id, &node, &end).await?;
        if status == ExecutionStatus::Queued {
            self.capacity.set_queue_pending(true);
            self.signals.publish(Notice::Queued).await;
            self.capacity.wake_claimer();
        }
        metrics::counter!("weft_waits_ended_total", "how" => match &end {
            WaitEnd::Resumed(_) => "resumed",
            WaitEnd::TimedOut => "timed_out",
        })
        .increment(1);
        Ok(status)
    }

    /// Whether `token` is the resume token of node `node` of run `id` (signed
    /// under the current secret key or, during a rotation, the previous one).
    pub fn is_resume_token(&self, id: ExecutionId, node: &str, token: &str) -> bool {
        is_node_id(node) && self.secrets.verify(&token_message(id, node), token)
    }

    /// A resume through a resume URL: the token stands for the owner's consent.
    /// A wrong token is `NotFound`, the same as a run that does not exist.
    pub async fn resume_with_token(
        &self,
        id: ExecutionId,
        node: &str,
        token: &str,
        payload: Value,
    ) -> AppResult<ExecutionStatus> {
        if !self.is_resume_token(id, node, token) {
            return Err(AppError::NotFound("no such resume URL".into()));
        }
        self.end_wait(Scope::Everyone, id, Some(node), &WaitEnd::Resumed(payload)).await
    }
}

/// Times waits out when their deadline passes. Sleeps until the earliest
/// deadline (one query), or until a new wait with a deadline is announced:
/// with no deadline pending it makes no query at all. Every process sweeps;
/// a wait ends once whoever gets there first (`end_wait` deletes its row).
pub(super) async fn time_out_waits(engine: Arc<Engine>) {
    let mut signals = engine.signals.subscribe();
    let mut next = next_deadline(&engine).await;
    loop {
        let at = next
            .map(|at| tokio::time::Instant::now() + Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64));
        tokio::select! {
            _ = engine.shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(at.unwrap_or_else(tokio::time::Instant::now)), if at.is_some() => {
                let failed = !sweep(&engine).await;
                next = next_deadline(&engine).await;
                if failed {
                    // A wait that could not be ended is still due: not again at once.
                    next = next.map(|at| at.max(now_ms() + 1_000));
                }
            }
            signal = signals.recv() => match signal {
                Ok(Notice::WaitAdded | Notice::Resync) | Err(RecvError::Lagged(_)) => {
                    next = next_deadline(&engine).await;
                }
                Ok(_) => {}
                Err(RecvError::Closed) => return,
            },
        }
    }
}

async fn next_deadline(engine: &Engine) -> Option<i64> {
    match engine.store.next_wait_deadline().await {
        Ok(next) => next,
        Err(error) => {
            tracing::warn!(%error, "could not read the next wait deadline; trying again shortly");
            Some(now_ms() + 1_000)
        }
    }
}

/// Times out the waits that are due; `false` when one of them could not be.
async fn sweep(engine: &Arc<Engine>) -> bool {
    let due = match engine.store.waits_due(now_ms(), SWEEP_BATCH).await {
        Ok(due) => due,
        Err(error) => {
            tracing::warn!(%error, "could not read the waits that timed out");
            return false;
        }
    };
    let mut all_ended = true;
    for wait in due {
        match engine.end_wait(Scope::Everyone, wait.execution_id, Some(&wait.node_id), &WaitEnd::TimedOut).await {
            Ok(_) => tracing::info!(execution = wait.execution_id, node = wait.node_id, "a wait timed out"),
            // Resumed or cancelled in the meantime, or timed out by another process.
            Err(AppError::Conflict(_) | AppError::NotFound(_)) => {}
            Err(error) => {
                tracing::warn!(execution = wait.execution_id, %error, "could not time a wait out");
                all_ended = false;
            }
        }
    }
    all_ended
}
