//! Following a run: the events of an execution from the moment someone starts
//! watching, whichever process runs it. Live from this engine's channel when it
//! runs here; else read back from its stored node states (and the LLM text its
//! process relays), so the same stream works on every process. The HTTP callers
//! frame the events (server-sent events); this module knows nothing of HTTP.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use app::error::AppResult;
use app::model::*;
use app::ports::Store;
use futures::stream::{self, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use super::relay::WATCH_RENEW;
use super::Engine;
use crate::bus::{Bus, Notice};

/// How often the stream of an execution running in another process reads its
/// stored state (the runner writes node states every 50 ms).
const REMOTE_POLL: Duration = Duration::from_millis(250);

pub type RunEventStream = Pin<Box<dyn Stream<Item = RunEvent> + Send>>;

/// The run as it is (a node event per node with a state, a node that already
/// ended preceded by its start, the streamed LLM text so far), then each change,
/// until the run finishes or this process shuts down. A finished run replays its
/// node states and ends. `viewer` holds one of their event streams while it is open.
pub async fn follow(
    engine: &Engine,
    store: Arc<dyn Store>,
    viewer: UserId,
    scope: Scope,
    id: ExecutionId,
) -> AppResult<RunEventStream> {
    let permit = engine.streams.open(viewer)?;
    // Subscribe before reading the stored state: a run that ends in between is
    // then either followed live or read back finished (it stores its end before
    // closing its channel), never missed.
    let live = engine.subscribe(id);
    let execution = store.execution(scope, id).await?;
    let events: RunEventStream = match live {
        Some((so_far, receiver)) => Box::pin(stream::iter(so_far).chain(follow_live(receiver))),
        None => Box::pin(follow_stored(store, engine.signals().clone(), scope, execution)),
    };
    // The permit lives as long as the stream.
    let events = events.map(move |event| {
        let _open = &permit;
        event
    });
    Ok(Box::pin(events.take_until(engine.shutting_down())))
}

fn follow_live(receiver: broadcast::Receiver<RunEvent>) -> impl Stream<Item = RunEvent> {
    stream::unfold(Some(receiver), |receiver| async move {
        let mut receiver = receiver?;
        loop {
            match receiver.recv().await {
                Ok(event) => {
                    let last = matches!(event, RunEvent::Finished { .. });
                    return Some((event, if last { None } else { Some(receiver) }));
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// Node events for every stored node state that changed since the last look,
/// until the execution is finished; and, while it runs, the LLM text its
/// process relays (asked for with `Watch`, kept coming with `Watching` while
/// this stream is open; see `engine::relay`).
fn follow_stored(
    store: Arc<dyn Store>,
    signals: Arc<Bus>,
    scope: Scope,
    execution: Execution,
) -> impl Stream<Item = RunEvent> {
    let (sender, receiver) = mpsc::channel(64);
    tokio::spawn(async move {
        // Subscribed before the first watch goes out: no relayed text is missed.
        let mut relayed = signals.subscribe_text();
        let id = execution.id;
        let mut follower = StoredFollower { sender, preread: Some(execution), seen: HashMap::new() };
        let mut poll = tokio::time::interval(REMOTE_POLL);
        // A slow look (or a slow client) does not make the next ones come in a burst.
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watched_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    let Some(node_started) = follower.look(&store, scope, id).await else { return };
                    // Watch at once, again as soon as a node is seen running (the
                    // run has surely started where it runs: a watch that came
                    // earlier may have found nothing to relay), then now and then.
                    let signal = if node_started || watched_at.is_none() {
                        Some(Notice::Watch(id))
                    } else if watched_at.is_some_and(|at| at.elapsed() >= WATCH_RENEW) {
                        Some(Notice::Watching(id))
                    } else {
                        None
                    };
                    if let Some(signal) = signal {
                        signals.publish(signal).await;
                        watched_at = Some(tokio::time::Instant::now());
                    }
                }
                text = relayed.recv() => match text {
                    Ok(text) if text.execution == id => {
                        if !follower.pass_text(text.events.iter()).await {
                            return;
                        }
                    }
                    Ok(_) => {}
                    // Text was lost: ask for each node's text so far again.
                    Err(RecvError::Lagged(_)) => signals.publish(Notice::Watch(id)).await,
                    // Cannot happen: this task holds the signals, and so the sender.
                    Err(RecvError::Closed) => return,
                },
                _ = follower.sender.closed() => return,
            }
        }
    });
    stream::unfold(receiver, |mut receiver| async move { receiver.recv().await.map(|event| (event, receiver)) })
}

/// What a stored-state follower has sent so far.
struct StoredFollower {
    sender: mpsc::Sender<RunEvent>,
    /// The execution as read when the stream opened (the first look uses it).
    preread: Option<Execution>,
    /// Each node's last sent status and attempt.
    seen: HashMap<String, (NodeStatus, i32)>,
}

impl StoredFollower {
    /// Sends what changed since the last look. `None` when the stream is over
    /// (the run finished, the reader left, or the store failed); else whether
    /// a node was seen running.
    async fn look(&mut self, store: &Arc<dyn Store>, scope: Scope, id: ExecutionId) -> Option<bool> {
        let execution = match self.preread.take() {
            Some(execution) => execution,
            None => store.execution(scope, id).await.ok()?,
        };
        let runs = store.node_runs(scope, id).await.ok()?;
        let mut node_started = false;
        for run in runs {
            let key = (run.status, run.attempt);
            let before = self.seen.insert(run.node_id.clone(), key);
            if before == Some(key) {
                continue;
            }
            node_started |= run.status == NodeStatus::Running;
            // First seen already ended: say when it started too, as a live
            // run's catch-up does (its span on the timeline).
            if let (None, Some(started_at), false) = (before, run.started_at, run.status == NodeStatus::Running) {
                let started = RunEvent::Node {
                    node: run.node_id.clone(),
                    status: NodeStatus::Running,
                    attempt: run.attempt,
                    output: None,
                    error: None,
                    at: started_at,
                };
                self.sender.send(started).await.ok()?;
            }
            let event = RunEvent::Node {
                at: run.finished_at.or(run.started_at).unwrap_or(execution.created_at),
                node: run.node_id,
                status: run.status,
                attempt: run.attempt,
                output: run.output,
                error: run.error,
            };
            self.sender.send(event).await.ok()?;
        }
        // A run parked at `wait` nodes ends the stream too: a resumed run is followed anew.
        if execution.status.is_settled() {
            let at = execution.finished_at.unwrap_or(execution.created_at);
            let _ = self.sender.send(RunEvent::Finished { status: execution.status, error: execution.error, at }).await;
            return None;
        }
        Some(node_started)
    }

    /// Passes relayed LLM text on, except text of a node that already ended
    /// (stale: the node's output has the whole answer). False when the reader left.
    async fn pass_text(&self, events: impl Iterator<Item = &RunEvent>) -> bool {
        for event in events {
            let node = match event {
                RunEvent::Token { node, .. } | RunEvent::Streamed { node, .. } | RunEvent::Items { node, .. } => node,
                _ => continue,
            };
            let ended = self
                .seen
                .get(node)
                .is_some_and(|(status, _)| !matches!(status, NodeStatus::Queued | NodeStatus::Running));
            if !ended && self.sender.send(event.clone()).await.is_err() {
                return false;
            }
        }
        true
    }
}
