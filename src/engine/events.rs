//! Per-execution event channels. A broadcast channel per running execution:
//! slow listeners lag (and are told so) instead of slowing the run.

use std::collections::HashMap;
use std::sync::Mutex;

use app::model::{ExecutionId, RunEvent};
use tokio::sync::broadcast;

/// Events buffered per execution for its slowest listener. Every running
/// execution allocates its buffer up front, so it is kept small (64 slots, not
/// 1,024): listeners are event streams that forward at once, and one that
/// falls behind is told it lagged. (Measured: no change in W1 throughput
/// either way; this is about memory.)
const CAPACITY: usize = 64;

#[derive(Default)]
pub struct EventHub {
    channels: Mutex<HashMap<ExecutionId, broadcast::Sender<RunEvent>>>,
}

impl EventHub {
    /// Opens the channel of a new execution, with a first subscriber.
    pub fn open(&self, id: ExecutionId) -> (broadcast::Sender<RunEvent>, broadcast::Receiver<RunEvent>) {
        let (sender, receiver) = broadcast::channel(CAPACITY);
        self.channels.lock().expect("event hub").insert(id, sender.clone());
        (sender, receiver)
    }

    pub fn subscribe(&self, id: ExecutionId) -> Option<broadcast::Receiver<RunEvent>> {
        self.channels.lock().expect("event hub").get(&id).map(broadcast::Sender::subscribe)
    }

    pub fn close(&self, id: ExecutionId) {
        self.channels.lock().expect("event hub").remove(&id);
    }
}
