use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{AppendRequest, EventStore, ExpectedRevision, ProposedEvent, StreamName};
use serde_json::{Value, json};

use crate::stats::{directory_bytes, event_body};

/// Fills a database with `events` events over 1000 streams, then measures
/// opening it: after a clean shutdown, and with the index deleted (a full
/// rebuild from the log, for comparison).
pub async fn run(dir: &Path, events: u64) -> anyhow::Result<Value> {
    let db = tempfile::tempdir_in(dir).context("creating the database directory")?;
    let config = EngineConfig::new(db.path());
    let fill_started = Instant::now();
    {
        let engine = Engine::open(config.clone()).context("opening the engine")?;
        let mut tasks = Vec::new();
        let writers = 16u64;
        for writer in 0..writers {
            let engine = engine.clone();
            let share = events / writers + u64::from(writer < events % writers);
            tasks.push(tokio::spawn(async move {
                let mut written = 0u64;
                while written < share {
                    let batch = (share - written).min(100);
                    let stream = StreamName::new(format!("restart-{}", (writer * 7919 + written) % 1000))?;
                    let proposed = (0..batch)
                        .map(|offset| ProposedEvent::json("OrderPlaced", event_body(written + offset)))
                        .collect();
                    engine.append(AppendRequest::new(stream, ExpectedRevision::Any, proposed)).await?;
                    written += batch;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await.context("fill task")??;
        }
        engine.shutdown().await;
    }
    let fill_seconds = fill_started.elapsed().as_secs_f64();
    let open_started = Instant::now();
    let engine = Engine::open(config.clone()).context("reopening")?;
    let open_seconds = open_started.elapsed().as_secs_f64();
    drop(engine);
    std::fs::remove_file(db.path().join("index.redb")).context("removing the index")?;
    let rebuild_started = Instant::now();
    let engine = Engine::open(config).context("reopening without an index")?;
    let rebuild_seconds = rebuild_started.elapsed().as_secs_f64();
    drop(engine);
    Ok(json!({
        "target": "engine",
        "events": events,
        "fill_seconds": fill_seconds,
        "bytes_on_disk": directory_bytes(db.path()),
        "open_seconds": open_seconds,
        "open_seconds_rebuilding_index": rebuild_seconds,
        "ratio_open_vs_rebuild": if rebuild_seconds > 0.0 { open_seconds / rebuild_seconds } else { 0.0 },
    }))
}
