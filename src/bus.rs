//! The bus between Weft processes. Its notices: "an execution was queued",
//! "I hold leases now", "this execution finished", "cancel this one", "this
//! workflow changed", "credentials were revoked", "someone watches this
//! execution". And, on a channel of their own, the LLM text of watched runs
//! (see `engine::relay`).
//!
//! On PostgreSQL they travel by LISTEN/NOTIFY on one channel, so idle
//! processes sleep until something happens instead of polling the queue; every
//! process (the sender too) receives each notice from the database. On SQLite
//! there is one process, and notices stay inside it.
//!
//! A notice is a hint, never the only way something is found: notifications
//! can be lost when the listening connection drops, so a reconnect is reported
//! as [`Notice::Resync`] and receivers then look at the database again.

use std::time::Duration;

use app::model::{ExecutionId, RunEvent, WorkflowId};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::broadcast;

use crate::config::{Backend, DatabaseSettings};

/// The one PostgreSQL channel every Weft process listens on for signals.
const CHANNEL: &str = "weft";
/// The channel of relayed LLM text: JSON, unlike the short signals.
const TEXT_CHANNEL: &str = "weft_text";
/// PostgreSQL refuses a notification payload of 8,000 bytes or more.
const MAX_PAYLOAD: usize = 7_900;
/// Room in a payload for what is not the text of its one event.
const PAYLOAD_FRAME: usize = 200;
/// The longest a character gets escaped as JSON (`\u001f`).
const MAX_ESCAPED_CHAR: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// An execution waits in the queue.
    Queued,
    /// A process took leases: if it dies, someone must take its executions over.
    Leased,
    Finished(ExecutionId),
    Cancel(ExecutionId),
    WorkflowChanged(WorkflowId),
    /// An admin changed the instance's settings: read them again.
    SettingsChanged,
    /// A session ended or an API key was revoked: forget cached credentials.
    CredentialsRevoked,
    /// A process starts following this execution from its stored states (or
    /// lost some of its text): whoever runs it relays its LLM text, starting
    /// with each node's text so far.
    Watch(ExecutionId),
    /// The follower is still there: go on relaying for a while.
    Watching(ExecutionId),
    /// A `wait` node with a deadline started waiting: the timeout sweeps
    /// read the earliest deadline again.
    WaitAdded,
    /// Bus may have been missed (the listener reconnected): look again.
    Resync,
}

impl Notice {
    fn encode(self) -> String {
        match self {
            Notice::Queued => "queued".into(),
            Notice::Leased => "leased".into(),
            Notice::Finished(id) => format!("finished:{id}"),
            Notice::Cancel(id) => format!("cancel:{id}"),
            Notice::WorkflowChanged(id) => format!("workflow:{id}"),
            Notice::SettingsChanged => "settings".into(),
            Notice::CredentialsRevoked => "credentials".into(),
            Notice::Watch(id) => format!("watch:{id}"),
            Notice::Watching(id) => format!("watching:{id}"),
            Notice::WaitAdded => "wait".into(),
            Notice::Resync => "resync".into(),
        }
    }

    /// One notification's signals: one, or a batch of ends (`finished:1,2,3`).
    fn decode_all(text: &str) -> Vec<Self> {
        match text.strip_prefix("finished:") {
            Some(ids) if ids.contains(',') => {
                ids.split(',').filter_map(|id| id.parse().ok()).map(Notice::Finished).collect()
            }
            _ => Self::decode(text).into_iter().collect(),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (kind, id) = match text.split_once(':') {
            Some((kind, id)) => (kind, id.parse::<i64>().ok()),
            None => (text, None),
        };
        Some(match (kind, id) {
            ("queued", None) => Notice::Queued,
            ("leased", None) => Notice::Leased,
            ("finished", Some(id)) => Notice::Finished(id),
            ("cancel", Some(id)) => Notice::Cancel(id),
            ("workflow", Some(id)) => Notice::WorkflowChanged(id),
            ("settings", None) => Notice::SettingsChanged,
            ("credentials", None) => Notice::CredentialsRevoked,
            ("watch", Some(id)) => Notice::Watch(id),
            ("watching", Some(id)) => Notice::Watching(id),
            ("wait", None) => Notice::WaitAdded,
            ("resync", None) => Notice::Resync,
            _ => return None,
        })
    }
}

/// LLM text of a run executing in some process (`Token` and `Streamed`
/// events), and how far its `for_each` nodes are (`Items`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RelayedText {
    pub execution: ExecutionId,
    pub events: Vec<RunEvent>,
}

impl RelayedText {
    /// The notifications that carry `events`, each under PostgreSQL's payload
    /// cap: long texts are cut into several events (a `Streamed` continues as
    /// `Token`s), and events are packed into as few payloads as fit.
    fn payloads(execution: ExecutionId, events: Vec<RunEvent>) -> Vec<String> {
        let mut pieces = Vec::new();
        for event in events {
            let (node, text, mut replace) = match event {
                RunEvent::Token { node, text } => (node, text, false),
                RunEvent::Streamed { node, text } => (node, text, true),
                // A few numbers: one piece (unless its node id alone is too long to send).
                items @ RunEvent::Items { .. } => {
                    if serde_json::to_string(&items).map_or(usize::MAX, |t| t.len()) + PAYLOAD_FRAME <= MAX_PAYLOAD {
                        pieces.push(items);
                    }
                    continue;
                }
                _ => continue,
            };
            // Pieces short enough that one event fits a payload however its
            // text escapes; a node id too long to leave room cannot be relayed.
            let id_bytes = serde_json::to_string(&node).map_or(usize::MAX, |id| id.len());
            let max_chars = MAX_PAYLOAD.saturating_sub(PAYLOAD_FRAME).saturating_sub(id_bytes) / MAX_ESCAPED_CHAR;
            if max_chars == 0 {
                tracing::debug!(node, "a node id too long to relay its text");
                continue;
            }
            let chars: Vec<char> = text.chars().collect();
            // An empty `Streamed` (a new attempt) still goes out.
            for chunk in
                chars.chunks(max_chars).map(|c| c.iter().collect::<String>()).chain(chars.is_empty().then(String::new))
            {
                let node = node.clone();
                pieces.push(if replace {
                    RunEvent::Streamed { node, text: chunk }
                } else {
                    RunEvent::Token { node, text: chunk }
                });
                replace = false;
            }
        }
        let mut payloads = Vec::new();
        let mut batch = RelayedText { execution, events: Vec::new() };
        for piece in pieces {
            batch.events.push(piece);
            if batch.events.len() > 1 && serde_json::to_string(&batch).map_or(0, |t| t.len()) > MAX_PAYLOAD {
                let last = batch.events.pop().expect("just pushed");
                payloads.extend(serde_json::to_string(&batch).ok());
                batch.events = vec![last];
            }
        }
        if !batch.events.is_empty() {
            payloads.extend(serde_json::to_string(&batch).ok());
        }
        payloads
    }
}

pub struct Bus {
    local: broadcast::Sender<Notice>,
    /// Relayed LLM text, from this process or (PostgreSQL) any other.
    text: broadcast::Sender<std::sync::Arc<RelayedText>>,
    /// PostgreSQL: ends waiting to be sent together (see [`Bus::finished`]).
    finished: Option<tokio::sync::mpsc::UnboundedSender<ExecutionId>>,
    /// PostgreSQL: the pool that sends NOTIFY (the listener has its own connection).
    postgres: Option<PgPool>,
    /// Stops the listener when these signals are dropped.
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Bus {
    /// Bus within this process only (SQLite, and tests of one engine).
    pub fn local() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            local: broadcast::channel(4096).0,
            text: broadcast::channel(1024).0,
            finished: None,
            postgres: None,
            stop: Default::default(),
        })
    }

    /// Bus for the configured database: LISTEN/NOTIFY on PostgreSQL.
    pub async fn connect(settings: &DatabaseSettings) -> anyhow::Result<std::sync::Arc<Self>> {
        if settings.backend()? == Backend::Sqlite {
            return Ok(Self::local());
        }
        // Connections open only while a signal is being sent: none when idle.
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .idle_timeout(Duration::from_secs(60))
            .connect_lazy(&settings.url)?;
        let mut listener = PgListener::connect(&settings.url).await?;
        listener.listen_all([CHANNEL, TEXT_CHANNEL]).await?;
        let (finished, finished_ids) = tokio::sync::mpsc::unbounded_channel();
        let signals = std::sync::Arc::new(Self {
            local: broadcast::channel(4096).0,
            text: broadcast::channel(1024).0,
            finished: Some(finished),
            postgres: Some(pool.clone()),
            stop: Default::default(),
        });
        tokio::spawn(send_finished_in_batches(pool, finished_ids, signals.stop.clone()));
        let relay = signals.local.clone();
        let relay_text = signals.text.clone();
        let stop = signals.stop.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = stop.cancelled() => break,
                    received = listener.try_recv() => received,
                };
                match received {
                    Ok(Some(notification)) if notification.channel() == TEXT_CHANNEL => {
                        match serde_json::from_str::<RelayedText>(notification.payload()) {
                            Ok(text) => {
                                let _ = relay_text.send(std::sync::Arc::new(text));
                            }
                            Err(error) => tracing::debug!(%error, "ignoring unreadable relayed text"),
                        }
                    }
                    Ok(Some(notification)) => {
                        let signals = Notice::decode_all(notification.payload());
                        if signals.is_empty() {
                            tracing::debug!(payload = notification.payload(), "ignoring an unknown signal");
                        }
                        for signal in signals {
                            let _ = relay.send(signal);
                        }
                    }
                    // The connection dropped and was re-established: what was sent
                    // in between is lost, so everyone looks at the database again.
                    Ok(None) => {
                        tracing::warn!("the signal listener reconnected");
                        let _ = relay.send(Notice::Resync);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the signal listener lost its connection; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let _ = relay.send(Notice::Resync);
                    }
                }
            }
        });
        Ok(signals)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.local.subscribe()
    }

    /// Relayed LLM text of runs executing anywhere (see `engine::relay`).
    pub fn subscribe_text(&self) -> broadcast::Receiver<std::sync::Arc<RelayedText>> {
        self.text.subscribe()
    }

    /// Sends LLM text of a run executing here to every process that listens.
    pub async fn publish_text(&self, execution: ExecutionId, events: Vec<RunEvent>) {
        match &self.postgres {
            None => {
                let _ = self.text.send(std::sync::Arc::new(RelayedText { execution, events }));
            }
            Some(pool) => {
                for payload in RelayedText::payloads(execution, events) {
                    let sent =
                        sqlx::query("SELECT pg_notify($1, $2)").bind(TEXT_CHANNEL).bind(payload).execute(pool).await;
                    if let Err(error) = sent {
                        // Text on screen only: the node's output, stored at its end, has it all.
                        tracing::debug!(%error, "could not relay LLM text");
                        return;
                    }
                }
            }
        }
    }

    /// Sends a signal to every process (this one included). Failures are logged:
    /// a lost signal only delays what the database shows anyway.
    pub async fn publish(&self, signal: Notice) {
        match &self.postgres {
            None => {
                let _ = self.local.send(signal);
            }
            Some(pool) => {
                let sent = notify(pool, signal.encode()).await;
                if let Err(error) = sent {
                    tracing::warn!(%error, ?signal, "could not send a signal; delivering it in this process only");
                    let _ = self.local.send(signal);
                }
            }
        }
    }

    /// Says that an execution finished. On PostgreSQL ends are sent in batches
    /// (one NOTIFY per few milliseconds, not one per execution): under load a
    /// worker finishes thousands a second, and each notification reaches every process.
    pub async fn finished(&self, id: ExecutionId) {
        match &self.finished {
            Some(batch) => {
                let _ = batch.send(id);
            }
            None => self.publish(Notice::Finished(id)).await,
        }
    }

    /// [`Bus::publish`] without waiting (for callers that are not async).
    pub fn publish_later(self: &std::sync::Arc<Self>, signal: Notice) {
        let signals = self.clone();
        tokio::spawn(async move { signals.publish(signal).await });
    }
}

async fn notify(pool: &PgPool, payload: String) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(pool).await.map(|_| ())
}

/// Ends collected for at most this long go out in one notification.
const FINISHED_BATCH_WINDOW: Duration = Duration::from_millis(5);
/// Ids per notification: PostgreSQL caps a payload at 8,000 bytes.
const FINISHED_BATCH_IDS: usize = 400;

async fn send_finished_in_batches(
    pool: PgPool,
    mut ids: tokio::sync::mpsc::UnboundedReceiver<ExecutionId>,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            id = ids.recv() => match id { Some(id) => id, None => return },
        };
        let mut batch = vec![first];
        let window = tokio::time::sleep(FINISHED_BATCH_WINDOW);
        tokio::pin!(window);
        while batch.len() < FINISHED_BATCH_IDS {
            tokio::select! {
                _ = &mut window => break,
                id = ids.recv() => match id { Some(id) => batch.push(id), None => break },
            }
        }
        let payload = format!("finished:{}", batch.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
        let sent = notify(&pool, payload).await;
        if let Err(error) = sent {
            // Waiters look at the database every few seconds anyway.
            tracing::warn!(%error, count = batch.len(), "could not signal finished executions");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_survive_their_text_form() {
        for signal in [
            Notice::Queued,
            Notice::Leased,
            Notice::Finished(7),
            Notice::Cancel(8),
            Notice::WorkflowChanged(9),
            Notice::SettingsChanged,
            Notice::CredentialsRevoked,
            Notice::Watch(10),
            Notice::Watching(11),
            Notice::Resync,
        ] {
            assert_eq!(Notice::decode(&signal.encode()), Some(signal));
        }
        assert_eq!(Notice::decode("finished:x"), None);
        assert_eq!(Notice::decode_all("finished:1,2"), [Notice::Finished(1), Notice::Finished(2)]);
        assert_eq!(Notice::decode_all("finished:4"), [Notice::Finished(4)]);
        assert_eq!(Notice::decode("dance"), None);
    }

    #[test]
    fn relayed_text_is_cut_to_fit_notifications_and_reads_back_whole() {
        let quotes = "\"".repeat(2_500); // escaped as JSON: twice as long
        let controls = "\u{1}".repeat(2_000); // six times
        let long = format!("{}é{quotes}{controls}", "x".repeat(3_000));
        let long_id = "n".repeat(3_000);
        let events = vec![
            RunEvent::Streamed { node: "a".into(), text: long.clone() },
            RunEvent::Token { node: "a".into(), text: "!".into() },
            RunEvent::Streamed { node: "b".into(), text: String::new() },
            RunEvent::Token { node: long_id.clone(), text: controls.clone() },
            RunEvent::Token { node: "n".repeat(8_000), text: "unsendable".into() },
        ];
        let payloads = RelayedText::payloads(7, events);
        assert!(
            payloads.len() > 1 && payloads.iter().all(|p| p.len() <= MAX_PAYLOAD),
            "{:?}",
            payloads.iter().map(String::len).collect::<Vec<_>>()
        );
        // Replayed in order, as a listener applies them, the text is whole.
        let mut text: std::collections::HashMap<String, String> = Default::default();
        for payload in &payloads {
            let relayed: RelayedText = serde_json::from_str(payload).unwrap();
            assert_eq!(relayed.execution, 7);
            for event in relayed.events {
                match event {
                    RunEvent::Streamed { node, text: t } => {
                        text.insert(node, t);
                    }
                    RunEvent::Token { node, text: t } => text.entry(node).or_default().push_str(&t),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(text["a"], format!("{long}!"));
        assert_eq!(text["b"], "");
        assert_eq!(text[&long_id], controls);
        assert_eq!(text.len(), 3, "the event whose node id alone is over the cap is left out");
    }

    #[tokio::test]
    async fn local_signals_reach_every_subscriber() {
        let signals = Bus::local();
        let (mut a, mut b) = (signals.subscribe(), signals.subscribe());
        signals.publish(Notice::Finished(3)).await;
        assert_eq!(a.recv().await.unwrap(), Notice::Finished(3));
        assert_eq!(b.recv().await.unwrap(), Notice::Finished(3));
    }
}
