//! Per-execution event channels. A broadcast channel per running execution:
//! slow listeners lag (and are told so) instead of slowing the run.
//!
//! LLM tokens are not stored (only the node's whole answer is, when it ends),
//! so a listener that joins while a node is still answering would see the
//! answer only from its join onwards. Each channel therefore keeps the text
//! every node has streamed in its current attempt, and a new listener gets it
//! first, as one `Streamed` event per node, then the live events. A new
//! attempt of a node that streamed starts afresh: the node's own task says so
//! (an empty `Streamed`) before its first token, so nothing it streams is
//! mistaken for the old attempt's — the driver's `Running` event for the
//! attempt may go out after those tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use app::model::{ExecutionId, NodeStatus, RunEvent};
use tokio::sync::broadcast;

/// Events buffered per execution for its slowest listener. Every running
/// execution allocates its buffer up front, so it is kept small (64 slots, not
/// 1,024): listeners are event streams that forward at once, and one that
/// falls behind is told it lagged. (Measured: no change in W1 throughput
/// either way; this is about memory.)
const CAPACITY: usize = 64;

/// The sending side of one execution's events, shared by its nodes.
#[derive(Clone)]
pub struct RunEvents {
    channel: Arc<Channel>,
}

struct Channel {
    sender: broadcast::Sender<RunEvent>,
    /// Text each node has streamed in its current attempt. Sending and
    /// subscribing both hold this lock, so a new listener gets every token
    /// exactly once: in what it is given first, or live after it.
    streamed: Mutex<HashMap<String, String>>,
}

impl RunEvents {
    fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { channel: Arc::new(Channel { sender, streamed: Mutex::new(HashMap::new()) }) }
    }

    /// Publishes `event` to every listener (none listening is fine).
    pub fn send(&self, event: RunEvent) {
        let mut streamed = self.channel.streamed.lock().expect("streamed text");
        match &event {
            RunEvent::Token { node, text } => streamed.entry(node.clone()).or_default().push_str(text),
            // Once a node ended, its output carries the whole answer.
            RunEvent::Node { node, status, .. }
                if !matches!(status, NodeStatus::Queued | NodeStatus::Running) && !streamed.is_empty() =>
            {
                streamed.remove(node);
            }
            _ => {}
        }
        let _ = self.channel.sender.send(event);
    }

    /// A node begins an attempt (called by its own task, before it runs): if an
    /// earlier attempt streamed text, it is dropped, and listeners are told with
    /// an empty `Streamed` event.
    pub fn attempt_started(&self, node: &str) {
        let mut streamed = self.channel.streamed.lock().expect("streamed text");
        if streamed.remove(node).is_some() {
            let _ = self.channel.sender.send(RunEvent::Streamed { node: node.to_owned(), text: String::new() });
        }
    }

    /// A new listener: what the nodes have streamed so far, and the events
    /// from now on.
    pub fn subscribe(&self) -> (Vec<RunEvent>, broadcast::Receiver<RunEvent>) {
        let streamed = self.channel.streamed.lock().expect("streamed text");
        let so_far =
            streamed.iter().map(|(node, text)| RunEvent::Streamed { node: node.clone(), text: text.clone() }).collect();
        (so_far, self.channel.sender.subscribe())
    }
}

#[derive(Default)]
pub struct EventHub {
    channels: Mutex<HashMap<ExecutionId, RunEvents>>,
}

impl EventHub {
    /// Opens the channel of a new execution, with a first subscriber.
    pub fn open(&self, id: ExecutionId) -> (RunEvents, broadcast::Receiver<RunEvent>) {
        let events = RunEvents::new();
        let receiver = events.channel.sender.subscribe();
        self.channels.lock().expect("event hub").insert(id, events.clone());
        (events, receiver)
    }

    /// A new listener of an execution running here (see `RunEvents::subscribe`).
    pub fn subscribe(&self, id: ExecutionId) -> Option<(Vec<RunEvent>, broadcast::Receiver<RunEvent>)> {
        let events = self.channels.lock().expect("event hub").get(&id).cloned()?;
        Some(events.subscribe())
    }

    pub fn close(&self, id: ExecutionId) {
        self.channels.lock().expect("event hub").remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(node: &str, text: &str) -> RunEvent {
        RunEvent::Token { node: node.into(), text: text.into() }
    }

    fn node(node: &str, status: NodeStatus, attempt: i32) -> RunEvent {
        RunEvent::Node { node: node.into(), status, attempt, output: None, error: None, at: 0 }
    }

    #[test]
    fn a_late_listener_gets_the_text_streamed_so_far_then_the_rest_live() {
        let hub = EventHub::default();
        let (events, _first) = hub.open(7);
        events.send(node("draft", NodeStatus::Running, 1));
        events.send(token("draft", "Hel"));
        events.send(token("draft", "lo"));
        events.send(token("other", "x"));

        let (mut so_far, mut live) = hub.subscribe(7).expect("the execution runs here");
        so_far.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            so_far,
            vec![
                RunEvent::Streamed { node: "draft".into(), text: "Hello".into() },
                RunEvent::Streamed { node: "other".into(), text: "x".into() },
            ]
        );
        events.send(token("draft", ", world"));
        assert_eq!(live.try_recv().unwrap(), token("draft", ", world"), "live from where the text so far ended");
        assert!(live.try_recv().is_err(), "nothing sent twice");
    }

    #[test]
    fn a_new_attempt_or_the_end_of_a_node_forgets_its_streamed_text() {
        let hub = EventHub::default();
        let (events, mut first) = hub.open(7);
        events.attempt_started("draft");
        events.send(token("draft", "first try"));
        // The second attempt's first token may go out before the driver's
        // `Running` event for it: that event must not drop the token.
        events.attempt_started("draft");
        events.send(token("draft", "second"));
        events.send(node("draft", NodeStatus::Running, 2));
        assert_eq!(
            hub.subscribe(7).unwrap().0,
            vec![RunEvent::Streamed { node: "draft".into(), text: "second".into() }]
        );

        // Listeners already there were told the first try's text is void.
        let seen: Vec<RunEvent> = std::iter::from_fn(|| first.try_recv().ok()).collect();
        assert_eq!(
            seen,
            vec![
                token("draft", "first try"),
                RunEvent::Streamed { node: "draft".into(), text: String::new() },
                token("draft", "second"),
                node("draft", NodeStatus::Running, 2),
            ]
        );

        events.send(node("draft", NodeStatus::Succeeded, 2));
        assert!(hub.subscribe(7).unwrap().0.is_empty(), "the node's output now holds its answer");

        hub.close(7);
        assert!(hub.subscribe(7).is_none());
    }
}
