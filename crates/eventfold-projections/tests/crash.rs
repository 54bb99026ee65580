//! kill -9 at random moments while a continuous, partitioned projection
//! emits and links under appends: after every restart it resumes from its
//! checkpoint, and in the end no emitted or linked event is missing or
//! repeated and every partition's state equals the uninterrupted fold.
//!
//! The child is this test binary itself, run with `CRASH_CHILD_DIR` set: it
//! opens the engine in that directory, starts projections (creating the
//! projection on its first run) and appends until it is killed.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_projections::{CreateProjection, Mode, Projections, Select};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use eventfold_testkit::run_until_killed;

const CHILD_DIR: &str = "CRASH_CHILD_DIR";
/// Kills per run; `EVENTFOLD_PROJECTION_CRASH_KILLS` for more.
fn kills() -> usize {
    std::env::var("EVENTFOLD_PROJECTION_CRASH_KILLS").ok().and_then(|text| text.parse().ok()).unwrap_or(20).max(20)
}
const PARTITIONS: usize = 4;
const NAME: &str = "totals";
const QUERY: &str = "fromCategory('order').foreachStream().when({ \
    $init: function () { return { total: 0, count: 0 }; }, \
    added: function (s, e) { s.total += e.data.n; s.count += 1; \
        emit('totals-' + e.streamId, 'Total', { count: s.count, total: s.total }); \
        linkTo('added-links', e); } })";

fn child_options() -> eventfold_projections::ProjectionsOptions {
    // Short checkpoint intervals put many checkpoints in every run's short
    // life, so kills land between, during and after them.
    support::test_options()
}

/// The child's whole life: runs only when the parent starts this binary as
/// the child.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let engine = Engine::open(EngineConfig::new(&dir)).expect("open the engine");
        let store: Arc<dyn EventStore> = Arc::new(engine.clone());
        let projections = Projections::start(Arc::clone(&store), child_options()).await;
        if projections.statistics(Select::Named(NAME.into())).await.is_err() {
            projections
                .create(CreateProjection {
                    name: NAME.into(),
                    mode: Mode::Continuous,
                    query: QUERY.into(),
                    emit_enabled: true,
                    track_emitted_streams: true,
                    engine_version: 1,
                    run_as: None,
                })
                .await
                .expect("created");
        }
        println!("ready");
        let mut n: u64 = 0;
        loop {
            n += 1;
            let stream = format!("order-{}", n % PARTITIONS as u64);
            let event = ProposedEvent::json("added", format!(r#"{{"n":{}}}"#, n % 7 + 1).into_bytes());
            let request =
                AppendRequest::new(StreamName::new(&stream).expect("name"), ExpectedRevision::Any, vec![event]);
            store.append(request).await.expect("append");
            if n.is_multiple_of(8) {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
}

#[test]
fn kill_nine_never_loses_or_repeats_an_emitted_event() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().expect("temporary directory");
    let exe = std::env::current_exe().expect("the test binary");
    for kill in 0..kills() {
        let mut command = Command::new(&exe);
        command.args(["crash_child", "--exact", "--nocapture", "--test-threads=1"]).env(CHILD_DIR, dir.path());
        let run_for = Duration::from_millis(80 + (kill as u64 * 37) % 250);
        run_until_killed(command, "projection crash child", |line| line.contains("ready"), run_for);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(verify(dir.path()));
}

async fn verify(dir: &std::path::Path) {
    let engine = Engine::open(EngineConfig::new(dir)).expect("reopen the engine");
    let store: Arc<dyn EventStore> = Arc::new(engine.clone());
    let projections = Projections::start(Arc::clone(&store), child_options()).await;
    let node = support::Reader { store: Arc::clone(&store) };

    // The uninterrupted fold, in plain Rust, over the source streams.
    let mut expected: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    let mut source_events = 0;
    for partition in 0..PARTITIONS {
        let stream = format!("order-{partition}");
        let mut total = 0;
        let mut folded = Vec::new();
        for (_, data) in node.read(&stream).await {
            let value: serde_json::Value = serde_json::from_str(&data).expect("json");
            total += value["n"].as_u64().expect("n");
            folded.push((folded.len() as u64 + 1, total));
            source_events += 1;
        }
        expected.insert(stream, folded);
    }
    assert!(source_events > kills(), "the children appended only {source_events} events");

    // Wait until the projection has caught up with every source event.
    support::within(async {
        loop {
            let mut done = true;
            for (stream, folded) in &expected {
                let state = projections.state(NAME, stream).await.expect("state");
                let want = folded.last().map(|(count, total)| serde_json::json!({"count": count, "total": total}));
                if state.and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok()) != want {
                    done = false;
                }
            }
            if done {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // One more checkpoint interval so that the last batch is committed.
    support::within(async {
        loop {
            let statistics = projections.statistics(Select::Named(NAME.into())).await.expect("statistics");
            if statistics[0].last_checkpoint == statistics[0].position {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    for (stream, folded) in &expected {
        let emitted: Vec<(u64, u64)> = node
            .read(&format!("totals-{stream}"))
            .await
            .into_iter()
            .map(|(_, data)| {
                let value: serde_json::Value = serde_json::from_str(&data).expect("json");
                (value["count"].as_u64().expect("count"), value["total"].as_u64().expect("total"))
            })
            .collect();
        assert_eq!(&emitted, folded, "emitted totals of {stream}");
    }
    let links = node.read("added-links").await;
    let mut targets: Vec<String> = links.into_iter().map(|(_, data)| data).collect();
    assert_eq!(targets.len(), source_events, "links");
    targets.sort();
    targets.dedup();
    assert_eq!(targets.len(), source_events, "a link was written twice");
    projections.shutdown().await;
    engine.shutdown().await;
}
