//! Shared by the integration tests: the real embedded engine in a temporary
//! directory (reopened on the same directory for restarts), the subsystem
//! over it, and helpers that fail a test instead of letting it hang.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_persistent::{
    Consumer, ConsumerEvent, ConsumerOptions, Delivery, GroupKey, GroupSettings, GroupSpec, PersistentSubscriptions,
    Source, StartFrom, SubsystemOptions,
};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};

/// Longest wait for one delivery that must come.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long to watch for a delivery that must not come.
pub const QUIET: Duration = Duration::from_millis(400);

/// Message timeouts are looked at this often in tests (KurrentDB: once a
/// second), so that tests of timeouts run quickly.
pub const TEST_TIMEOUT_TICK: Duration = Duration::from_millis(20);

pub struct Node {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub store: Arc<dyn EventStore>,
    pub subscriptions: PersistentSubscriptions,
    options: SubsystemOptions,
}

impl Node {
    pub async fn start() -> Node {
        Node::start_with(SubsystemOptions { timeout_tick: TEST_TIMEOUT_TICK }).await
    }

    pub async fn start_with(options: SubsystemOptions) -> Node {
        let dir = tempfile::tempdir().expect("temporary directory");
        Node::open(dir, options).await
    }

    async fn open(dir: tempfile::TempDir, options: SubsystemOptions) -> Node {
        let mut config = EngineConfig::new(dir.path());
        config.segment_bytes_max = 1024 * 1024;
        let engine = tokio::task::spawn_blocking(move || Engine::open(config))
            .await
            .expect("opening task")
            .expect("open the engine");
        let store: Arc<dyn EventStore> = Arc::new(engine.clone());
        let subscriptions = PersistentSubscriptions::start_with(Arc::clone(&store), options).await;
        Node { dir, engine, store, subscriptions, options }
    }

    /// A clean restart: the subsystem stops (last checkpoints), the engine
    /// closes, both open again on the same directory.
    pub async fn restart(self) -> Node {
        self.subscriptions.shutdown().await;
        self.engine.shutdown().await;
        self.reopen().await
    }

    /// A crash, as far as the subsystem is concerned: no last checkpoint.
    /// (The engine still closes cleanly; its own crash safety is tested
    /// elsewhere.)
    pub async fn crash(self) -> Node {
        self.engine.shutdown().await;
        self.subscriptions.shutdown().await;
        self.reopen().await
    }

    async fn reopen(self) -> Node {
        // Every handle on the engine must go before it opens again (the
        // directory lock is held until then).
        let Node { dir, engine, store, subscriptions, options } = self;
        drop(subscriptions);
        drop(store);
        drop(engine);
        Node::open(dir, options).await
    }

    pub async fn append(&self, stream: &str, count: usize) -> Vec<ProposedEvent> {
        let events: Vec<ProposedEvent> =
            (0..count).map(|index| ProposedEvent::json("Happened", format!("{{\"n\":{index}}}"))).collect();
        self.store
            .append(AppendRequest::new(name(stream), ExpectedRevision::Any, events.clone()))
            .await
            .expect("append");
        events
    }

    pub async fn connect(&self, key: &GroupKey, max_in_flight: usize) -> Consumer {
        let options = ConsumerOptions { max_in_flight, from: "test".into(), name: "test".into() };
        within(self.subscriptions.connect(key, options)).await.expect("connect")
    }
}

pub fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

pub fn stream_key(stream: &str, group: &str) -> GroupKey {
    GroupKey::new(Source::Stream(name(stream)), group).expect("valid group key")
}

pub fn all_key(group: &str) -> GroupKey {
    GroupKey::new(Source::All, group).expect("valid group key")
}

/// A stream group from the start, with `settings` changed by `tune`.
pub fn spec(key: &GroupKey, tune: impl FnOnce(&mut GroupSettings)) -> GroupSpec {
    let mut settings = GroupSettings::default();
    tune(&mut settings);
    GroupSpec { key: key.clone(), start_from: StartFrom::Start, filter: None, settings }
}

pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DELIVERY_TIMEOUT, future).await.expect("finished in time")
}

/// The next delivery; fails the test on a drop or silence.
pub async fn next(consumer: &mut Consumer) -> Delivery {
    match tokio::time::timeout(DELIVERY_TIMEOUT, consumer.next()).await {
        Ok(Some(ConsumerEvent::Event(delivery))) => delivery,
        Ok(Some(ConsumerEvent::Dropped(reason))) => panic!("consumer dropped: {reason:?}"),
        Ok(None) => panic!("consumer's queue ended"),
        Err(_) => panic!("no delivery within {DELIVERY_TIMEOUT:?}"),
    }
}

pub async fn take(consumer: &mut Consumer, count: usize) -> Vec<Delivery> {
    let mut deliveries = Vec::with_capacity(count);
    for _ in 0..count {
        deliveries.push(next(consumer).await);
    }
    deliveries
}

/// What the consumer receives within [`QUIET`], if anything.
pub async fn quiet(consumer: &mut Consumer) -> Option<ConsumerEvent> {
    tokio::time::timeout(QUIET, consumer.next()).await.ok().flatten()
}

pub fn numbers(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries
        .iter()
        .map(|delivery| {
            let value: serde_json::Value = serde_json::from_slice(&delivery.event.data).expect("JSON event");
            value["n"].as_u64().expect("numbered event")
        })
        .collect()
}

pub fn revisions(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries.iter().map(|delivery| delivery.event.revision).collect()
}

/// Polls `check` until it holds, failing the test after the timeout.
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
