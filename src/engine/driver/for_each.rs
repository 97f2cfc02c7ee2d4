//! Nodes with `for_each`: one run per item of a list, `concurrency` at a time,
//! each item with the node's retries and time limit (and a node slot per
//! attempt, like any node); the output is the items' outputs in item order.
//!
//! Each ended item is reported to the driver, which records it with the node
//! states (batched), so a run resumed after a crash or a restart keeps the
//! items that had ended and runs only the others. Items that end before the
//! node does and before the next write are never written one by one: the
//! node's output carries them.

use std::collections::BTreeMap;
use std::sync::Arc;

use app::model::{nul, ForEach, NodeItem, OnError, ValidatedNode};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{attempts, Progress};
use crate::engine::capacity::NodeSlots;
use crate::engine::events::RunEvents;
use crate::engine::nodes::{Item, NodeOutput, NodeScope, NodeServices};
use crate::engine::scheduler::NodeIndex;

/// One node's items, as the driver hands them out.
pub(super) struct Items<'a> {
    pub services: &'a Arc<NodeServices>,
    pub slots: &'a NodeSlots,
    pub node: &'a ValidatedNode,
    pub for_each: &'a ForEach,
    pub scope: &'a NodeScope,
    pub events: &'a RunEvents,
    pub progress: &'a mpsc::UnboundedSender<Progress>,
    pub index: NodeIndex,
    pub max_items: usize,
    /// Items recorded before a restart, by index: not run again.
    pub ended: BTreeMap<usize, NodeItem>,
}

/// How far a node's items are, as the run view shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ItemCounts {
    pub done: usize,
    pub failed: usize,
    pub total: usize,
}

/// Runs every item not yet ended; the node's output, or the first failure of
/// an item (under `on_error: fail`: the items still running are dropped).
pub(super) async fn run_items(items: Items<'_>) -> Result<NodeOutput, String> {
    let Items { services, slots, node, for_each, scope, events, progress, index, max_items, ended } = items;
    let list = services.templates.evaluate_list(&for_each.expr, scope, max_items).await?;
    let total = list.len();
    let mut outputs: Vec<Option<Value>> = vec![None; total];
    // The output array's brackets and commas, then each item's output.
    let mut bytes = 2 + total.saturating_sub(1);
    let mut counts = ItemCounts { done: 0, failed: 0, total };
    for (at, item) in ended.into_iter().filter(|(at, _)| *at < total) {
        bytes += crate::weigh::json_bytes(&item.output);
        counts.done += 1;
        counts.failed += usize::from(item.failed);
        outputs[at] = Some(item.output);
    }
    let _ = progress.send(Progress::Items { node: index, counts });

    let to_run: Vec<(usize, Value)> = list.into_iter().enumerate().filter(|(at, _)| outputs[*at].is_none()).collect();
    let mut running = futures::stream::iter(to_run)
        .map(|(at, value)| {
            let scope = item_scope(scope, at, value);
            async move {
                let (attempt, result) = attempts(services, slots, node, &scope, events, |_| {}).await;
                (at, attempt, result)
            }
        })
        .buffer_unordered(for_each.concurrency.max(1));

    let limit = services.max_output_bytes;
    while let Some((at, attempt, result)) = running.next().await {
        let (mut output, failed) = match result {
            Ok(output) => {
                bytes += output.bytes.unwrap_or_else(|| crate::weigh::json_bytes(&output.value));
                (output.value, false)
            }
            Err(error) if node.policy.on_error == OnError::Continue => {
                let output = json!({ "error": error });
                bytes += crate::weigh::json_bytes(&output);
                (output, true)
            }
            Err(error) => return Err(format!("item {at} of {total}: {error}")),
        };
        if bytes > limit {
            return Err(format!(
                "the items' outputs add up to more than the {limit}-byte limit for one node's output (at item {at} of {total})"
            ));
        }
        // Recorded as it is stored (see `app::model::nul`).
        nul::replace_nul(&mut output);
        counts.done += 1;
        counts.failed += usize::from(failed);
        let _ = progress.send(Progress::ItemEnded { node: index, at, output: output.clone(), failed, attempt, counts });
        outputs[at] = Some(output);
    }
    let value = Value::Array(outputs.into_iter().map(|output| output.unwrap_or(Value::Null)).collect());
    Ok(NodeOutput { value, branch: None, bytes: Some(bytes) })
}

/// What one item's run sees: the node's scope, with `item` and `index`, and
/// an idempotency key of its own.
fn item_scope(scope: &NodeScope, index: usize, value: Value) -> NodeScope {
    let mut item_scope = scope.clone();
    item_scope.idempotency_key = format!("{}-{index}", scope.idempotency_key);
    item_scope.item = Some(Item { bytes: crate::weigh::json_bytes(&value), value: Arc::new(value), index });
    item_scope
}
