//! Threads for the code users write: templates and scripts.
//!
//! User code runs here, never on the async runtime, so a busy render or
//! script cannot hold up HTTP, event streams or lease renewals. The threads
//! run at the lowest CPU priority (nice 19 on Linux): when they compete with
//! the server's own threads for a core, the server wins, so `/healthz` and
//! everyone else's requests keep answering in milliseconds while runaways
//! burn what is left until their limits stop them.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use thread_priority::{set_current_thread_priority, ThreadPriority};
use tokio::sync::{oneshot, Semaphore};

type Job = Box<dyn FnOnce() + Send>;

/// The cores this process may use: the default size of the sandbox pools.
pub fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// A fixed number of low-priority threads; jobs beyond them wait their turn.
pub struct SandboxPool {
    jobs: mpsc::Sender<Job>,
    /// One per thread: a job is handed over only when a thread is free.
    permits: Arc<Semaphore>,
}

impl SandboxPool {
    pub fn new(name: &str, threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                if let Err(error) = set_current_thread_priority(ThreadPriority::Min) {
                    tracing::warn!(?error, "could not lower the priority of a sandbox thread");
                }
                loop {
                    // The lock is held only while waiting for the next job.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the pool was dropped
                    }
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a sandbox thread");
            }
        }
        Self { jobs, permits: Arc::new(Semaphore::new(threads)) }
    }

    /// Runs `work` on a pool thread once one is free. The caller may stop
    /// waiting (a node's timeout): the work then runs on to its own limits,
    /// keeping its thread until it ends.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, String> {
        let permit = self.permits.clone().acquire_owned().await.map_err(|_| "the sandbox is shutting down")?;
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            // A panic in user-facing code must not take the thread with it.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
            let _ = answer.send(result);
        });
        self.jobs.send(job).map_err(|_| "the sandbox is shutting down".to_string())?;
        match answered.await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err("the sandbox crashed".to_string()),
            Err(_) => Err("the sandbox is shutting down".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_the_pool_and_a_panic_is_an_error() {
        let pool = SandboxPool::new("test", 2);
        let name = pool.run(|| std::thread::current().name().map(str::to_string)).await.unwrap();
        assert!(name.unwrap().starts_with("test-"));
        let crashed = pool.run(|| -> u8 { panic!("boom") }).await;
        assert_eq!(crashed.unwrap_err(), "the sandbox crashed");
        assert_eq!(pool.run(|| 7).await.unwrap(), 7, "the thread survived the panic");
    }
}
