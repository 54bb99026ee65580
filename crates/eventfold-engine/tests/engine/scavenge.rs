//! Goal: a scavenge gives back the space of events no read can return, while
//! appends, reads and subscriptions go on, and changes no answer a reader
//! could get; one scavenge runs at a time and stops when asked.

use std::path::Path;
use std::time::Duration;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, CurrentRevision, DeleteMode, EventStore, ExpectedRevision, ProposedEvent, ReadAllRequest, ReadError,
    ReadStreamRequest, RecordedEvent, ScavengeError, ScavengeOptions, ScavengeState, ScavengeStatus, StreamName,
    SubscribeFrom, SubscribeToAllRequest, SubscriptionItem,
};
use futures::{StreamExt, TryStreamExt};

const WAIT: Duration = Duration::from_secs(120);

fn name(text: &str) -> StreamName {
    StreamName::new(text).expect("valid stream name")
}

fn config(dir: &Path, segment_bytes_max: u64) -> EngineConfig {
    let mut config = EngineConfig::new(dir);
    config.segment_bytes_max = segment_bytes_max;
    config
}

/// ~200-byte JSON events, as the benchmark workload has them.
fn events(stream: &str, count: usize) -> Vec<ProposedEvent> {
    (0..count)
        .map(|index| {
            ProposedEvent::json(
                "OrderPlaced",
                format!(
                    r#"{{"stream":"{stream}","n":{index},"customer":"c-{index}","lines":[1,2,3],"note":"{}"}}"#,
                    "x".repeat(120)
                ),
            )
        })
        .collect()
}

async fn read(engine: &Engine, stream: &str) -> Result<Vec<RecordedEvent>, ReadError> {
    engine.read_stream(ReadStreamRequest::forwards(name(stream))).await?.try_collect().await
}

async fn read_all(engine: &Engine) -> Vec<RecordedEvent> {
    engine.read_all(ReadAllRequest::forwards()).await.expect("read $all").try_collect().await.expect("$all")
}

async fn scavenge_to_the_end(engine: &Engine, options: ScavengeOptions) -> ScavengeStatus {
    let started = engine.start_scavenge(options).await.expect("start");
    assert_eq!(started.state, ScavengeState::Running);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let status = engine.scavenge_status().await.expect("status");
        assert_eq!(status.id, started.id);
        if status.state.is_finished() {
            assert_eq!(status.state, ScavengeState::Completed, "{status:?}");
            assert!(status.finished.is_some());
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "scavenge still running: {status:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("log"))
        .expect("list log")
        .filter_map(Result::ok)
        .map(|entry| entry.metadata().map(|metadata| metadata.len()).unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_truncated_and_tombstoned_events_go_and_live_ones_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path(), 16 * 1024)).expect("open");
    for stream in ["order-1", "order-2", "order-3", "order-4", "order-5"] {
        engine
            .append(AppendRequest::new(name(stream), ExpectedRevision::NoStream, events(stream, 40)))
            .await
            .expect("a");
    }
    engine.delete_stream(name("order-1"), ExpectedRevision::Any, DeleteMode::Soft).await.expect("delete");
    engine.delete_stream(name("order-2"), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
    let metadata = |document: &str| {
        AppendRequest::new(
            name("$$order-3"),
            ExpectedRevision::Any,
            vec![ProposedEvent::json("$metadata", document.to_owned())],
        )
    };
    engine.append(metadata(r#"{"$maxCount": 5}"#)).await.expect("max count");
    engine.append(metadata(r#"{"$maxCount": 5, "$tb": 30}"#)).await.expect("tb");
    let category = || async { read(&engine, "$ce-order").await.expect("category") };
    let before_all = read_all(&engine).await;
    let before_category = category().await;
    let live_4 = read(&engine, "order-4").await.expect("order-4");
    let live_3 = read(&engine, "order-3").await.expect("order-3");
    assert_eq!(live_3.iter().map(|event| event.revision).collect::<Vec<_>>(), vec![35, 36, 37, 38, 39]);
    let bytes_before = log_bytes(dir.path());

    let status = scavenge_to_the_end(&engine, ScavengeOptions::default()).await;
    assert!(status.events_removed > 0 && status.bytes_reclaimed > 0, "{status:?}");
    assert_eq!(status.segments_done, status.segments_total);
    assert!(log_bytes(dir.path()) < bytes_before);

    // Every answer a reader could get is unchanged...
    assert_eq!(read(&engine, "order-4").await.expect("order-4"), live_4);
    assert_eq!(read(&engine, "order-3").await.expect("order-3"), live_3);
    assert_eq!(read(&engine, "order-1").await, Err(ReadError::StreamNotFound { stream: name("order-1") }));
    assert_eq!(read(&engine, "order-2").await, Err(ReadError::StreamDeleted { stream: name("order-2") }));
    let metadata_events = read(&engine, "$$order-3").await.expect("metadata");
    assert_eq!(metadata_events.last().map(|event| event.data.clone()), Some(r#"{"$maxCount": 5, "$tb": 30}"#.into()));
    // ...while `$all` and the category lose what was invisible: a subsequence.
    let after_all = read_all(&engine).await;
    assert!(after_all.len() < before_all.len());
    let mut remaining = before_all.iter();
    assert!(after_all.iter().all(|event| remaining.any(|before| before == event)), "$all is a subsequence");
    for stream in ["order-3", "order-4"] {
        let visible = read(&engine, stream).await.expect("read");
        assert!(visible.iter().all(|event| after_all.contains(event)), "visible {stream} events stay in $all");
    }
    let after_category = category().await;
    assert!(after_category.len() < before_category.len());
    assert!(after_category.iter().all(|link| before_category.contains(link)), "links keep their revisions");
    let recreated = engine
        .append(AppendRequest::new(name("order-1"), ExpectedRevision::Exact(39), events("order-1", 1)))
        .await
        .expect("recreate order-1");
    assert_eq!(recreated.current_revision, CurrentRevision::Current(40), "revisions continue after a scavenge");

    // The same after a reopen, and after rebuilding the index from the log.
    engine.shutdown().await;
    drop(engine);
    for drop_index in [false, true] {
        if drop_index {
            std::fs::remove_file(dir.path().join("index.redb")).expect("remove index");
        }
        let engine = Engine::open(config(dir.path(), 16 * 1024)).expect("reopen");
        assert_eq!(read(&engine, "order-4").await.expect("order-4"), live_4);
        assert_eq!(read(&engine, "order-3").await.expect("order-3"), live_3);
        assert_eq!(read(&engine, "order-1").await.expect("order-1").len(), 1);
        assert_eq!(read(&engine, "order-2").await, Err(ReadError::StreamDeleted { stream: name("order-2") }));
        for (stream, revision) in [("order-1", 40), ("order-3", 39), ("order-4", 39)] {
            assert_eq!(engine.stream_revision(&name(stream)).await, Ok(CurrentRevision::Current(revision)), "{stream}");
        }
        engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_reads_and_subscriptions_go_on_during_a_scavenge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path(), 32 * 1024)).expect("open");
    for index in 0..60 {
        let stream = format!("doomed-{index}");
        engine
            .append(AppendRequest::new(name(&stream), ExpectedRevision::NoStream, events(&stream, 10)))
            .await
            .expect("a");
        engine.delete_stream(name(&stream), ExpectedRevision::Any, DeleteMode::Soft).await.expect("delete");
    }
    let mut subscription = engine
        .subscribe_to_all(SubscribeToAllRequest { from: SubscribeFrom::Start, filter: None, checkpoint_interval: None })
        .await
        .expect("subscribe");
    // Slow enough that the appends below overlap it.
    let started =
        engine.start_scavenge(ScavengeOptions { max_bytes_per_second: Some(2 * 1024 * 1024) }).await.expect("start");
    let writer = {
        let engine = engine.clone();
        tokio::spawn(async move {
            for round in 0..40 {
                let stream = format!("live-{}", round % 4);
                engine
                    .append(AppendRequest::new(name(&stream), ExpectedRevision::Any, events(&stream, 5)))
                    .await
                    .expect("append during the scavenge");
                let read = read(&engine, &stream).await.expect("read during the scavenge");
                assert_eq!(read.len(), (round / 4 + 1) * 5, "{stream} after round {round}");
            }
        })
    };
    writer.await.expect("writer");
    let mut positions = Vec::new();
    let mut live_events = 0;
    while live_events < 200 {
        match tokio::time::timeout(WAIT, subscription.next()).await.expect("subscription in time") {
            Some(Ok(SubscriptionItem::Event(event))) => {
                if event.stream.as_str().starts_with("live-") {
                    live_events += 1;
                }
                positions.push(event.position);
            }
            Some(Ok(_)) => {}
            other => panic!("subscription ended: {other:?}"),
        }
    }
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "no duplicate, no reordering");
    let deadline = tokio::time::Instant::now() + WAIT;
    while !engine.scavenge_status().await.expect("status").state.is_finished() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = engine.scavenge_status().await.expect("status");
    assert_eq!((status.id.as_str(), status.state), (started.id.as_str(), ScavengeState::Completed));
    assert!(status.events_removed > 0);
    for index in 0..4 {
        assert_eq!(read(&engine, &format!("live-{index}")).await.expect("live").len(), 50);
    }
    engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_scavenge_at_a_time_and_stop_means_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = Engine::open(config(dir.path(), 8 * 1024)).expect("open");
    for index in 0..40 {
        let stream = format!("gone-{index}");
        engine
            .append(AppendRequest::new(name(&stream), ExpectedRevision::NoStream, events(&stream, 10)))
            .await
            .expect("a");
        engine.delete_stream(name(&stream), ExpectedRevision::Any, DeleteMode::Tombstone).await.expect("tombstone");
    }
    // 1 KB/s: it cannot finish before it is stopped.
    let slow = ScavengeOptions { max_bytes_per_second: Some(1024) };
    let running = engine.start_scavenge(slow.clone()).await.expect("start");
    match engine.start_scavenge(slow.clone()).await {
        Err(ScavengeError::InProgress(status)) => assert_eq!(status.id, running.id),
        other => panic!("a second scavenge must be refused: {other:?}"),
    }
    assert_eq!(engine.stop_scavenge("not-an-id").await, Err(ScavengeError::NotFound { id: "not-an-id".to_string() }));
    engine.stop_scavenge(&running.id).await.expect("stop");
    let deadline = tokio::time::Instant::now() + WAIT;
    let stopped = loop {
        let status = engine.scavenge_status().await.expect("status");
        if status.state.is_finished() {
            break status;
        }
        assert!(tokio::time::Instant::now() < deadline, "stop was not seen: {status:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(stopped.state, ScavengeState::Stopped);
    assert!(stopped.segments_done < stopped.segments_total, "{stopped:?}");
    assert_eq!(engine.stop_scavenge(&running.id).await, Err(ScavengeError::NotFound { id: running.id.clone() }));
    // A new one may start once the last has ended, and a shutdown stops it.
    let again = engine.start_scavenge(slow.clone()).await.expect("start again");
    assert_ne!(again.id, running.id);
    engine.shutdown().await;
    let closed = engine.start_scavenge(slow).await;
    assert!(matches!(closed, Err(ScavengeError::Storage(_))), "a stopped engine starts no scavenge: {closed:?}");
    drop(engine);
    let engine = Engine::open(config(dir.path(), 8 * 1024)).expect("reopen");
    for index in [0, 39] {
        let stream = format!("gone-{index}");
        assert_eq!(read(&engine, &stream).await, Err(ReadError::StreamDeleted { stream: name(&stream) }));
    }
    let status = scavenge_to_the_end(&engine, ScavengeOptions::default()).await;
    assert!(status.events_removed > 0);
    assert_eq!(
        engine.start_scavenge(ScavengeOptions::default()).await.map(|status| status.state),
        Ok(ScavengeState::Running),
        "a finished scavenge does not block the next"
    );
    engine.shutdown().await;
}

/// Deleting 90% of a million events and scavenging gives back about 90% of
/// the log. `EVENTFOLD_SCAVENGE_EVENTS` changes the size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_ninety_percent_and_scavenging_gives_back_ninety_percent() {
    let total: usize =
        std::env::var("EVENTFOLD_SCAVENGE_EVENTS").ok().and_then(|count| count.parse().ok()).unwrap_or(1_000_000);
    let streams = 1000;
    let per_stream = total / streams;
    let dir = tempfile::tempdir().expect("tempdir");
    // Segments of about 1/32 of the data: the writer's own segment, which is
    // never scavenged, stays a small share of the log.
    let segment_bytes_max = (total as u64 * 8).clamp(64 * 1024, 8 * 1024 * 1024);
    let engine = Engine::open(config(dir.path(), segment_bytes_max)).expect("open");
    // Interleaved: every segment holds events of kept and deleted streams.
    let chunk = 50.min(per_stream).max(1);
    let mut written = 0;
    while written < per_stream {
        let count = chunk.min(per_stream - written);
        let requests: Vec<AppendRequest> = (0..streams)
            .map(|stream| {
                let stream = format!("item-{stream}");
                AppendRequest::new(name(&stream), ExpectedRevision::Any, events(&stream, count))
            })
            .collect();
        let mut appends =
            futures::stream::iter(requests.into_iter().map(|request| engine.append(request))).buffer_unordered(64);
        while let Some(outcome) = appends.next().await {
            outcome.expect("append");
        }
        written += count;
    }
    let before = log_bytes(dir.path());
    for stream in 0..streams {
        if stream % 10 != 0 {
            engine
                .delete_stream(name(&format!("item-{stream}")), ExpectedRevision::Any, DeleteMode::Soft)
                .await
                .expect("d");
        }
    }
    let status = scavenge_to_the_end(&engine, ScavengeOptions::default()).await;
    let after = log_bytes(dir.path());
    let ratio = after as f64 / before as f64;
    eprintln!(
        "scavenge of {total} events, 90% deleted: log {before} -> {after} bytes (ratio {ratio:.3}); \
         {} events removed, {} bytes read",
        status.events_removed, status.bytes_read
    );
    assert!(ratio < 0.2, "after deleting 90% the log should shrink to about 10%: {before} -> {after}");
    assert!(status.events_removed as f64 >= 0.8 * total as f64, "{status:?}");
    for stream in [0, 10, 990] {
        let stream = format!("item-{stream}");
        assert_eq!(read(&engine, &stream).await.expect("kept").len(), per_stream, "{stream}");
    }
    assert_eq!(read(&engine, "item-1").await, Err(ReadError::StreamNotFound { stream: name("item-1") }));
    engine.shutdown().await;
}

/// Event entries in the index (virtual streams' links included), and the
/// index file's size as the engine left it and after the next open; the
/// engine must be closed.
fn index_entries_and_bytes(dir: &Path) -> (u64, u64, u64) {
    let path = dir.join("index.redb");
    let bytes = || std::fs::metadata(&path).expect("stat the index").len();
    let left = bytes();
    let index = eventfold_index::Index::open(&path).expect("open the index");
    let entries = index.snapshot().expect("snapshot").event_entry_count().expect("count");
    drop(index);
    (entries, left, bytes())
}

/// Everything a reader sees of the streams this test writes.
async fn views(engine: &Engine, kept: &[String]) -> Vec<Vec<RecordedEvent>> {
    let mut views = Vec::new();
    for stream in kept.iter().map(String::as_str).chain(["$ce-item", "$et-OrderPlaced", "$streams"]) {
        views.push(read(engine, stream).await.expect(stream));
        let backwards = ReadStreamRequest { max_count: 7, ..ReadStreamRequest::backwards(name(stream)) };
        views.push(engine.read_stream(backwards).await.expect(stream).try_collect().await.expect(stream));
    }
    views
}

/// Goal (IDX-3): a scavenge deletes the index entries of the events it
/// removed, the links of `$ce-`/`$et-`/`$streams` to them included, so the
/// index shrinks with the log and its file does not grow; every read answers
/// as before, less the removed events it already skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scavenge_deletes_the_index_entries_of_removed_events() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (streams, per_stream) = (200, 100);
    let kept: Vec<String> =
        (0..streams).filter(|stream| stream % 10 == 0).map(|stream| format!("item-{stream}")).collect();
    let before = {
        let engine = Engine::open(config(dir.path(), 64 * 1024)).expect("open");
        for round in 0..per_stream / 20 {
            let mut appends = futures::stream::iter((0..streams).map(|stream| {
                let stream = format!("item-{stream}");
                let request = AppendRequest::new(name(&stream), ExpectedRevision::Any, events(&stream, 20));
                engine.append(request)
            }))
            .buffer_unordered(32);
            while let Some(outcome) = appends.next().await {
                outcome.unwrap_or_else(|error| panic!("append in round {round}: {error}"));
            }
        }
        for stream in (0..streams).filter(|stream| stream % 10 != 0) {
            let stream = name(&format!("item-{stream}"));
            engine.delete_stream(stream, ExpectedRevision::Any, DeleteMode::Soft).await.expect("delete");
        }
        let before = (views(&engine, &kept).await, read_all(&engine).await);
        engine.shutdown().await;
        before
    };
    let (entries_before, _, bytes_before) = index_entries_and_bytes(dir.path());

    let engine = Engine::open(config(dir.path(), 64 * 1024)).expect("reopen");
    let status = scavenge_to_the_end(&engine, ScavengeOptions::default()).await;
    assert!(status.events_removed as f64 >= 0.8 * (streams * per_stream) as f64, "{status:?}");
    let (views_after, all_after) = (views(&engine, &kept).await, read_all(&engine).await);
    // A second scavenge finds nothing more to delete, and changes nothing.
    scavenge_to_the_end(&engine, ScavengeOptions::default()).await;
    assert_eq!(views(&engine, &kept).await, views_after);
    engine.shutdown().await;
    drop(engine);
    let (entries_after, bytes_left, bytes_after) = index_entries_and_bytes(dir.path());
    eprintln!(
        "scavenge of {} events, 90% deleted: index entries {entries_before} -> {entries_after}, \
         index file {bytes_before} -> {bytes_left} bytes (engine open), {bytes_after} bytes (after the next open)",
        streams * per_stream
    );

    // Reads answer as before, less what the log no longer holds.
    let (views_before, all_before) = before;
    let held: std::collections::HashSet<_> = all_after.iter().map(|event| event.position).collect();
    assert_eq!(all_after, all_before.into_iter().filter(|event| held.contains(&event.position)).collect::<Vec<_>>());
    for (number, (before, after)) in views_before.into_iter().zip(&views_after).enumerate() {
        let full_read = number % 2 == 0;
        if full_read {
            let before: Vec<_> = before.into_iter().filter(|event| held.contains(&event.position)).collect();
            assert_eq!(&before, after, "view {number}");
        } else {
            // The last 7 of each stream: its newest events, always kept
            // for the plain streams; for the virtual ones, the last 7 that
            // are left.
            let full = views_after.get(number - 1).expect("full view");
            let newest: Vec<_> = full.iter().rev().take(7).cloned().collect();
            assert_eq!(&newest, after, "view {number}");
        }
    }
    // Each kept event has three entries (its stream, `$ce-item`,
    // `$et-OrderPlaced`); the deleted streams keep their last event and
    // their metadata: about a tenth of the entries is left.
    assert!((entries_after as f64) < 0.2 * entries_before as f64, "index entries {entries_before} -> {entries_after}");
    assert!(bytes_left <= bytes_before, "the index file grew: {bytes_before} -> {bytes_left}");
    assert!(
        (bytes_after as f64) < 0.5 * bytes_before as f64,
        "the next open gives the space back: {bytes_before} -> {bytes_after}"
    );
}
