//! The LLM text of runs executing here, and how far their `for_each` nodes
//! are, relayed to followers in other processes.
//!
//! Tokens are not stored (a node's whole answer is, when it ends), so a process
//! that follows a run executing elsewhere — its event stream reads the stored
//! node states — would show an LLM node's answer only once the node ended. Such
//! a follower signals `Watch(N)` when it starts (and when it lost text), then
//! `Watching(N)` every [`WATCH_RENEW`]; the process running N relays N's text
//! (each node's text so far on every `Watch`, then new tokens gathered for
//! [`BATCH`] at a time) until no watch came for [`WATCH_FOR`], or the run ends.
//! Runs nobody follows from elsewhere cost nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::model::{ExecutionId, RunEvent};
use tokio::sync::broadcast::error::RecvError;

use super::Engine;

/// How often a follower says it still watches.
pub const WATCH_RENEW: Duration = Duration::from_secs(2);
/// How long a relay goes on after the last watch: two renewals may be late.
const WATCH_FOR: Duration = Duration::from_secs(5);
/// Tokens gathered into one notification: a screen does not need each one
/// alone, and every notification reaches every process.
const BATCH: Duration = Duration::from_millis(100);

/// The relays running here.
#[derive(Default)]
pub(super) struct Relays {
    running: Mutex<HashMap<ExecutionId, Relay>>,
}

struct Relay {
    /// When it stops, unless a watch comes first.
    until: Instant,
    /// A new follower wants each node's text so far.
    resend: bool,
}

/// Someone watches execution `id` (`from_start`: a new follower): relay its
/// text if it runs here.
pub(super) fn watched(engine: &Arc<Engine>, id: ExecutionId, from_start: bool) {
    let mut relays = engine.relays.running.lock().expect("relays");
    let until = Instant::now() + WATCH_FOR;
    if let Some(relay) = relays.get_mut(&id) {
        relay.until = until;
        relay.resend |= from_start;
        return;
    }
    // A new relay starts with the text so far anyway.
    let Some((so_far, receiver)) = engine.subscribe(id) else { return };
    relays.insert(id, Relay { until, resend: false });
    tokio::spawn(relay(engine.clone(), id, so_far, receiver));
}

async fn relay(
    engine: Arc<Engine>,
    id: ExecutionId,
    so_far: Vec<RunEvent>,
    mut receiver: tokio::sync::broadcast::Receiver<RunEvent>,
) {
    let mut pending = so_far;
    let mut tick = tokio::time::interval(BATCH);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if !pending.is_empty() {
                    engine.signals().publish_text(id, std::mem::take(&mut pending)).await;
                }
                let (until, resend) = match engine.relays.running.lock().expect("relays").get_mut(&id) {
                    Some(relay) => (relay.until, std::mem::take(&mut relay.resend)),
                    None => break,
                };
                if Instant::now() >= until {
                    break;
                }
                // The text so far, taken with a new subscription so that tokens
                // not yet read from the old one (they are in it) are not sent twice.
                if resend {
                    match engine.subscribe(id) {
                        Some((so_far, fresh)) => {
                            pending.extend(so_far);
                            receiver = fresh;
                        }
                        None => break,
                    }
                }
            }
            received = receiver.recv() => match received {
                Ok(RunEvent::Token { node, text }) => add_token(&mut pending, node, text),
                Ok(streamed @ RunEvent::Streamed { .. }) => pending.push(streamed),
                Ok(items @ RunEvent::Items { .. }) => pending.push(items),
                // An agent's steps are not relayed: a follower elsewhere reads
                // the trace when the node's state changes.
                Ok(RunEvent::Node { .. } | RunEvent::Step { .. }) => {}
                Ok(RunEvent::Finished { .. }) | Err(RecvError::Closed) => {
                    if !pending.is_empty() {
                        engine.signals().publish_text(id, std::mem::take(&mut pending)).await;
                    }
                    break;
                }
                // Fell behind: start again from each node's whole text so far.
                Err(RecvError::Lagged(_)) => match engine.subscribe(id) {
                    Some((so_far, fresh)) => {
                        pending.extend(so_far);
                        receiver = fresh;
                    }
                    None => break,
                },
            }
        }
    }
    engine.relays.running.lock().expect("relays").remove(&id);
}

/// Appends a token, joined to the previous one when it is the same node's.
fn add_token(pending: &mut Vec<RunEvent>, node: String, text: String) {
    if let Some(RunEvent::Token { node: last, text: so_far }) = pending.last_mut() {
        if *last == node {
            so_far.push_str(&text);
            return;
        }
    }
    pending.push(RunEvent::Token { node, text });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_one_node_in_a_row_travel_as_one() {
        let mut pending = vec![RunEvent::Streamed { node: "a".into(), text: "He".into() }];
        for (node, text) in [("a", "l"), ("a", "lo"), ("b", "x"), ("a", "!")] {
            add_token(&mut pending, node.into(), text.into());
        }
        assert_eq!(
            pending,
            [
                RunEvent::Streamed { node: "a".into(), text: "He".into() },
                RunEvent::Token { node: "a".into(), text: "llo".into() },
                RunEvent::Token { node: "b".into(), text: "x".into() },
                RunEvent::Token { node: "a".into(), text: "!".into() },
            ]
        );
    }
}
