//! Per-execution event channels. A broadcast channel per running execution:
//! slow listeners lag (and are told so) instead of slowing the run.
//!
//! A listener that joins a run in the middle must see the run as it is now,
//! then every change, with nothing lost in between. Each channel therefore
//! keeps a catch-up state under the same lock its events are sent under:
//! - every node's latest state (and when it first started, so a node that
//!   already ended still gets its span on the timeline);
//! - the text every node has streamed in its current attempt: LLM tokens are
//!   not stored (only the node's whole answer is, when it ends). A new attempt
//!   of a node that streamed starts afresh: the node's own task says so (an
//!   empty `Streamed`) before its first token, so nothing it streams is
//!   mistaken for the old attempt's — the driver's `Running` event for the
//!   attempt may go out after those tokens.
//!
//! A new listener gets that state first (a `Node` event per node, in the order
//! they started, then one `Streamed` event per node), then the live events.

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
    /// Sending and subscribing both hold this lock, so a new listener gets
    /// every change exactly once: in what it is given first, or live after it.
    catch_up: Mutex<CatchUp>,
}

/// What a listener joining now is given before the live events.
#[derive(Default)]
struct CatchUp {
    /// Each node's latest `Node` event, and when it first started running.
    nodes: HashMap<String, NodeState>,
    /// Text each node has streamed in its current attempt.
    streamed: HashMap<String, String>,
    /// Each `for_each` node's latest item counts.
    items: HashMap<String, RunEvent>,
}

struct NodeState {
    latest: RunEvent,
    started_at: Option<(i32, i64)>,
}

impl CatchUp {
    fn record_node(&mut self, event: &RunEvent) {
        let RunEvent::Node { node, status, attempt, at, .. } = event else { return };
        let started = (*status == NodeStatus::Running).then_some((*attempt, *at));
        match self.nodes.get_mut(node) {
            Some(state) => {
                state.latest = event.clone();
                if state.started_at.is_none() {
                    state.started_at = started;
                }
            }
            None => {
                self.nodes.insert(node.clone(), NodeState { latest: event.clone(), started_at: started });
            }
        }
    }

    /// The run as it is now: per node, its start (when it has since ended) and
    /// its latest state, in the order the nodes started; then the text so far.
    fn events(&self) -> Vec<RunEvent> {
        let mut nodes: Vec<&NodeState> = self.nodes.values().collect();
        nodes.sort_by_key(|state| match &state.latest {
            RunEvent::Node { at, .. } => (state.started_at.map_or(*at, |(_, started)| started), *at),
            _ => (i64::MAX, i64::MAX),
        });
        let mut events = Vec::with_capacity(nodes.len() * 2 + self.streamed.len());
        for state in nodes {
            if let (Some((attempt, at)), RunEvent::Node { node, status, .. }) = (state.started_at, &state.latest) {
                if *status != NodeStatus::Running {
                    let node = node.clone();
                    events.push(RunEvent::Node {
                        node,
                        status: NodeStatus::Running,
                        attempt,
                        output: None,
                        error: None,
                        at,
                    });
                }
            }
            events.push(state.latest.clone());
        }
        events.extend(self.items.values().cloned());
        events.extend(
            self.streamed.iter().map(|(node, text)| RunEvent::Streamed { node: node.clone(), text: text.clone() }),
        );
        events
    }
}

impl RunEvents {
    fn new() -> Self {
        let (sender, _) = broadcast::channel(CAPACITY);
        Self { channel: Arc::new(Channel { sender, catch_up: Mutex::new(CatchUp::default()) }) }
    }

    /// Events nobody follows: a node tried alone in the editor streams into them.
    pub fn detached() -> Self {
        Self::new()
    }

    /// Publishes `event` to every listener (none listening is fine).
    pub fn send(&self, event: RunEvent) {
        let mut catch_up = self.channel.catch_up.lock().expect("catch-up state");
        match &event {
            RunEvent::Token { node, text } => catch_up.streamed.entry(node.clone()).or_default().push_str(text),
            RunEvent::Node { node, status, .. } => {
                // Once a node ended, its output carries the whole answer.
                if !matches!(status, NodeStatus::Queued | NodeStatus::Running) && !catch_up.streamed.is_empty() {
                    catch_up.streamed.remove(node);
                }
                catch_up.record_node(&event);
            }
            RunEvent::Items { node, .. } => {
                catch_up.items.insert(node.clone(), event.clone());
            }
            _ => {}
        }
        let _ = self.channel.sender.send(event);
    }

    /// A node begins an attempt (called by its own task, before it runs): if an
    /// earlier attempt streamed text, it is dropped, and listeners are told with
    /// an empty `Streamed` event.
    pub fn attempt_started(&self, node: &str) {
        let mut catch_up = self.channel.catch_up.lock().expect("catch-up state");
        if catch_up.streamed.remove(node).is_some() {
            let _ = self.channel.sender.send(RunEvent::Streamed { node: node.to_owned(), text: String::new() });
        }
    }

    /// A new listener: the run as it is now (every node's state, the text
    /// streamed so far), and the events from now on.
    pub fn subscribe(&self) -> (Vec<RunEvent>, broadcast::Receiver<RunEvent>) {
        let catch_up = self.channel.catch_up.lock().expect("catch-up state");
        (catch_up.events(), self.channel.sender.subscribe())
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

        let (so_far, mut live) = hub.subscribe(7).expect("the execution runs here");
        let mut streamed: Vec<RunEvent> =
            so_far.into_iter().filter(|e| matches!(e, RunEvent::Streamed { .. })).collect();
        streamed.sort_by_key(|e| format!("{e:?}"));
        assert_eq!(
            streamed,
            vec![
                RunEvent::Streamed { node: "draft".into(), text: "Hello".into() },
                RunEvent::Streamed { node: "other".into(), text: "x".into() },
            ]
        );
        events.send(token("draft", ", world"));
        assert_eq!(live.try_recv().unwrap(), token("draft", ", world"), "live from where the text so far ended");
        assert!(live.try_recv().is_err(), "nothing sent twice");
    }

    fn node_at(node: &str, status: NodeStatus, at: i64) -> RunEvent {
        RunEvent::Node { node: node.into(), status, attempt: 1, output: None, error: None, at }
    }

    #[test]
    fn a_late_listener_sees_every_node_as_it_is_now_in_the_order_they_started() {
        let hub = EventHub::default();
        let (events, _first) = hub.open(7);
        events.send(node_at("start", NodeStatus::Running, 10));
        let done = RunEvent::Node {
            node: "start".into(),
            status: NodeStatus::Succeeded,
            attempt: 1,
            output: Some(serde_json::json!({"text": "go"})),
            error: None,
            at: 12,
        };
        events.send(done.clone());
        events.send(node_at("wait", NodeStatus::Running, 13));
        events.send(node_at("skipped", NodeStatus::Skipped, 14));

        let (so_far, mut live) = hub.subscribe(7).expect("the execution runs here");
        assert_eq!(
            so_far,
            vec![
                node_at("start", NodeStatus::Running, 10),
                done,
                node_at("wait", NodeStatus::Running, 13),
                node_at("skipped", NodeStatus::Skipped, 14),
            ],
            "each node's start (for the timeline) and latest state, nothing else"
        );
        events.send(node_at("wait", NodeStatus::Succeeded, 20));
        assert_eq!(live.try_recv().unwrap(), node_at("wait", NodeStatus::Succeeded, 20));
        assert!(live.try_recv().is_err(), "nothing given first is sent again");
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
            vec![
                node("draft", NodeStatus::Running, 2),
                RunEvent::Streamed { node: "draft".into(), text: "second".into() }
            ]
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
        let so_far = hub.subscribe(7).unwrap().0;
        assert!(
            !so_far.iter().any(|e| matches!(e, RunEvent::Streamed { .. })),
            "the node's output now holds its answer: {so_far:?}"
        );

        hub.close(7);
        assert!(hub.subscribe(7).is_none());
    }
}
