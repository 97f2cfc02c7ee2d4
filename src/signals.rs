//! Signals between Weft processes: "an execution was queued", "I hold leases
//! now", "this execution finished", "cancel this one", "this workflow changed".
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
            Signal::Resync => "resync".into(),
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
            ("resync", None) => Signal::Resync,
            _ => return None,
        })
    }
}

pub struct Signals {
    local: broadcast::Sender<Signal>,
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
        std::sync::Arc::new(Self { local: broadcast::channel(4096).0, postgres: None, stop: Default::default() })
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
        let signals = std::sync::Arc::new(Self {
            local: broadcast::channel(4096).0,
            postgres: Some(pool),
            stop: Default::default(),
        });
        let relay = signals.local.clone();
        let stop = signals.stop.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = stop.cancelled() => break,
                    received = listener.try_recv() => received,
                };
                match received {
                    Ok(Some(notification)) => match Signal::decode(notification.payload()) {
                        Some(signal) => {
                            let _ = relay.send(signal);
                        }
                        None => tracing::debug!(payload = notification.payload(), "ignoring an unknown signal"),
                    },
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
                let sent =
                    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(signal.encode()).execute(pool).await;
                if let Err(error) = sent {
                    tracing::warn!(%error, ?signal, "could not send a signal; delivering it in this process only");
                    let _ = self.local.send(signal);
                }
            }
        }
    }

    /// [`Signals::publish`] without waiting (for callers that are not async).
    pub fn publish_later(self: &std::sync::Arc<Self>, signal: Signal) {
        let signals = self.clone();
        tokio::spawn(async move { signals.publish(signal).await });
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
            Signal::Resync,
        ] {
            assert_eq!(Signal::decode(&signal.encode()), Some(signal));
        }
        assert_eq!(Signal::decode("finished:x"), None);
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
