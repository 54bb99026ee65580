use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use eventfold_index::{Index, IndexSnapshot};
use eventfold_log::LogReader;
use eventfold_store::{RecordedEvent, StoreHealth};
use tokio::sync::broadcast;

use crate::metrics::EngineGauges;

/// State shared by the writer thread and every reader. The writer is the only
/// one that changes it.
pub(crate) struct Shared {
    pub reader: LogReader,
    /// Only the writer (and recovery, before it) reads this directly: it may
    /// hold entries of a batch whose `fdatasync` is still running. Readers
    /// use [`Shared::snapshot`].
    pub index: Index,
    /// The index as of the last published batch: what readers see.
    published: RwLock<Arc<IndexSnapshot>>,
    /// End of the durable, indexed log: readers never look past it (LOG-2).
    committed_end: AtomicU64,
    /// Position of the last event, 0 while there is none.
    head: AtomicU64,
    /// The live feed. `None` once the writer stopped: dropping the sender
    /// ends every live subscription.
    live: RwLock<Option<broadcast::Sender<Arc<CommittedBatch>>>>,
    /// Whether the writer takes writes, as the store reports it. Changed
    /// only when the writer's state changes (`writer/health.rs`).
    health: RwLock<StoreHealth>,
    /// What the engine reports at scrape time (`metrics.rs`).
    pub gauges: EngineGauges,
    /// Pause points in the writer, for tests that force an interleaving.
    #[cfg(test)]
    pub hooks: crate::hooks::Hooks,
}

/// Events of one group commit, handed to live subscribers after the commit.
pub(crate) struct CommittedBatch {
    pub events: Vec<RecordedEvent>,
}

impl Shared {
    pub fn new(
        reader: LogReader,
        index: Index,
        snapshot: IndexSnapshot,
        end: u64,
        head: u64,
        live_buffer_batches: usize,
        gauges: EngineGauges,
    ) -> Self {
        let (live, _) = broadcast::channel(live_buffer_batches.max(1));
        Self {
            reader,
            index,
            published: RwLock::new(Arc::new(snapshot)),
            committed_end: AtomicU64::new(end),
            head: AtomicU64::new(head),
            live: RwLock::new(Some(live)),
            health: RwLock::new(StoreHealth::Ok),
            gauges,
            #[cfg(test)]
            hooks: crate::hooks::Hooks::default(),
        }
    }

    /// A receiver of live batches; `None` once the store has stopped.
    pub fn subscribe_live(&self) -> Option<broadcast::Receiver<Arc<CommittedBatch>>> {
        self.live.read().unwrap_or_else(|poison| poison.into_inner()).as_ref().map(broadcast::Sender::subscribe)
    }

    pub fn has_live_subscribers(&self) -> bool {
        let live = self.live.read().unwrap_or_else(|poison| poison.into_inner());
        live.as_ref().is_some_and(|sender| sender.receiver_count() > 0)
    }

    pub fn broadcast(&self, batch: Arc<CommittedBatch>) {
        let live = self.live.read().unwrap_or_else(|poison| poison.into_inner());
        if let Some(sender) = live.as_ref() {
            // No receiver left since the check is not an error.
            let _ = sender.send(batch);
        }
    }

    pub fn close_live(&self) {
        self.live.write().unwrap_or_else(|poison| poison.into_inner()).take();
    }

    pub fn committed_end(&self) -> u64 {
        self.committed_end.load(Ordering::Acquire)
    }

    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Acquire)
    }

    /// Called by the writer after the batch is durable and indexed, before
    /// the batch is acknowledged, and before it decides whether to broadcast
    /// it (the order subscriptions rely on to switch from history to live
    /// without a gap: each registers for live batches before reading the
    /// end).
    pub fn publish(&self, end: u64, head: u64, snapshot: IndexSnapshot) {
        *self.published.write().unwrap_or_else(|poison| poison.into_inner()) = Arc::new(snapshot);
        self.head.store(head, Ordering::Release);
        self.committed_end.store(end, Ordering::Release);
    }

    /// Publishes a newer view of the index that shows no new event (end and
    /// head stay): after the writer deleted entries, so that readers stop
    /// holding the pages those entries were in.
    pub fn republish(&self, snapshot: IndexSnapshot) {
        *self.published.write().unwrap_or_else(|poison| poison.into_inner()) = Arc::new(snapshot);
    }

    pub fn health(&self) -> StoreHealth {
        self.health.read().unwrap_or_else(|poison| poison.into_inner()).clone()
    }

    pub fn set_health(&self, health: StoreHealth) {
        *self.health.write().unwrap_or_else(|poison| poison.into_inner()) = health;
    }

    /// The index as of the last published batch: every entry in it is
    /// durable in the log.
    pub fn snapshot(&self) -> Arc<IndexSnapshot> {
        Arc::clone(&self.published.read().unwrap_or_else(|poison| poison.into_inner()))
    }
}
