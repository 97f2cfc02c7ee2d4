//! Signals between Weft processes: "an execution was queued", "I hold leases
//! now", "this execution finished", "cancel this one", "this workflow changed",
//! "credentials were revoked".
//!
//! On PostgreSQL they travel by LISTEN/NOTIFY on one channel, so idle
//! processes sleep until something happens instead of polling the queue; every
//! process (the sender too) receives each signal from the database. On SQLite
//! there is one process, and signals stay inside it.
//!
//! A signal is a hint, never the only way something is found: notifications
//! can be lost when the listening connection drops, so a reconnect is reported
//! as [`Signal::Resync`] and receivers then look at the database again.

use std::time::Duration;

use app::model::{ExecutionId, WorkflowId};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use tokio::sync::broadcast;

use crate::config::{Backend, DatabaseSettings};

/// The one PostgreSQL channel every Weft process listens on.
const CHANNEL: &str = "weft";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
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
    /// Signals may have been missed (the listener reconnected): look again.
    Resync,
}

impl Signal {
    fn encode(self) -> String {
        match self {
            Signal::Queued => "queued".into(),
            Signal::Leased => "leased".into(),
            Signal::Finished(id) => format!("finished:{id}"),
            Signal::Cancel(id) => format!("cancel:{id}"),
            Signal::WorkflowChanged(id) => format!("workflow:{id}"),
            Signal::SettingsChanged => "settings".into(),
            Signal::CredentialsRevoked => "credentials".into(),
            Signal::Resync => "resync".into(),
        }
    }

    /// One notification's signals: one, or a batch of ends (`finished:1,2,3`).
    fn decode_all(text: &str) -> Vec<Self> {
        match text.strip_prefix("finished:") {
            Some(ids) if ids.contains(',') => {
                ids.split(',').filter_map(|id| id.parse().ok()).map(Signal::Finished).collect()
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
            ("queued", None) => Signal::Queued,
            ("leased", None) => Signal::Leased,
            ("finished", Some(id)) => Signal::Finished(id),
            ("cancel", Some(id)) => Signal::Cancel(id),
            ("workflow", Some(id)) => Signal::WorkflowChanged(id),
            ("settings", None) => Signal::SettingsChanged,
            ("credentials", None) => Signal::CredentialsRevoked,
            ("resync", None) => Signal::Resync,
            _ => return None,
        })
    }
}

pub struct Signals {
    local: broadcast::Sender<Signal>,
    /// PostgreSQL: ends waiting to be sent together (see [`Signals::finished`]).
    finished: Option<tokio::sync::mpsc::UnboundedSender<ExecutionId>>,
    /// PostgreSQL: the pool that sends NOTIFY (the listener has its own connection).
    postgres: Option<PgPool>,
    /// Stops the listener when these signals are dropped.
    stop: tokio_util::sync::CancellationToken,
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Signals {
    /// Signals within this process only (SQLite, and tests of one engine).
    pub fn local() -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            local: broadcast::channel(4096).0,
            finished: None,
            postgres: None,
            stop: Default::default(),
        })
    }

    /// Signals for the configured database: LISTEN/NOTIFY on PostgreSQL.
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
        listener.listen(CHANNEL).await?;
        let (finished, finished_ids) = tokio::sync::mpsc::unbounded_channel();
        let signals = std::sync::Arc::new(Self {
            local: broadcast::channel(4096).0,
            finished: Some(finished),
            postgres: Some(pool.clone()),
            stop: Default::default(),
        });
        tokio::spawn(send_finished_in_batches(pool, finished_ids, signals.stop.clone()));
        let relay = signals.local.clone();
        let stop = signals.stop.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = stop.cancelled() => break,
                    received = listener.try_recv() => received,
                };
                match received {
                    Ok(Some(notification)) => {
                        let signals = Signal::decode_all(notification.payload());
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
                        let _ = relay.send(Signal::Resync);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "the signal listener lost its connection; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        let _ = relay.send(Signal::Resync);
                    }
                }
            }
        });
        Ok(signals)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.local.subscribe()
    }

    /// Sends a signal to every process (this one included). Failures are logged:
    /// a lost signal only delays what the database shows anyway.
    pub async fn publish(&self, signal: Signal) {
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
            None => self.publish(Signal::Finished(id)).await,
        }
    }

    /// [`Signals::publish`] without waiting (for callers that are not async).
    pub fn publish_later(self: &std::sync::Arc<Self>, signal: Signal) {
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
            Signal::Queued,
            Signal::Leased,
            Signal::Finished(7),
            Signal::Cancel(8),
            Signal::WorkflowChanged(9),
            Signal::SettingsChanged,
            Signal::CredentialsRevoked,
            Signal::Resync,
        ] {
            assert_eq!(Signal::decode(&signal.encode()), Some(signal));
        }
        assert_eq!(Signal::decode("finished:x"), None);
        assert_eq!(Signal::decode_all("finished:1,2"), [Signal::Finished(1), Signal::Finished(2)]);
        assert_eq!(Signal::decode_all("finished:4"), [Signal::Finished(4)]);
        assert_eq!(Signal::decode("dance"), None);
    }

    #[tokio::test]
    async fn local_signals_reach_every_subscriber() {
        let signals = Signals::local();
        let (mut a, mut b) = (signals.subscribe(), signals.subscribe());
        signals.publish(Signal::Finished(3)).await;
        assert_eq!(a.recv().await.unwrap(), Signal::Finished(3));
        assert_eq!(b.recv().await.unwrap(), Signal::Finished(3));
    }
}
