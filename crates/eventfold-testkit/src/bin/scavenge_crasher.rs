//! `eventfold-scavenge-crasher <data-dir> <first-round>`: keeps a scavenge
//! running while it appends and deletes, so that the scavenge crash test can
//! kill it with SIGKILL in the middle of rewriting a segment.
//!
//! Each round `r` (counting from `first-round`) appends `SCAVENGE_ROUND_EVENTS`
//! events to `keep-r` and to `drop-r`, soft-deletes `drop-r` and tombstones
//! `gone-r` after one append, printing a line once each is acknowledged:
//!
//! ```text
//! KEPT <r>        keep-r holds its events
//! DELETED <r>     drop-r is soft-deleted, gone-r tombstoned
//! SCAVENGING <id> a scavenge started
//! ```
//!
//! Segments are small and scavenges rate-limited and back to back, so a kill
//! at a random instant often lands in the middle of one.

use std::convert::Infallible;
use std::io::Write;
use std::process::ExitCode;

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, DeleteMode, EventStore, ExpectedRevision, ProposedEvent, ScavengeError, ScavengeOptions, StreamName,
};
use eventfold_testkit::SCAVENGE_ROUND_EVENTS as ROUND_EVENTS;

const SEGMENT_BYTES_MAX: u64 = 64 * 1024;
/// Slow enough that a scavenge spans many appends, fast enough to finish.
const SCAVENGE_BYTES_PER_SECOND: u64 = 4 * 1024 * 1024;

fn main() -> ExitCode {
    match run() {
        Ok(never) => match never {},
        Err(error) => {
            eprintln!("eventfold-scavenge-crasher: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Infallible, String> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [dir, first_round] = arguments.as_slice() else {
        return Err(format!("usage: eventfold-scavenge-crasher <data-dir> <first-round>; got {arguments:?}"));
    };
    let first_round: u64 = first_round.parse().map_err(|error| format!("first round `{first_round}`: {error}"))?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| error.to_string())?;
    runtime.block_on(rounds(dir, first_round))
}

fn name(text: String) -> Result<StreamName, String> {
    StreamName::new(text).map_err(|error| error.to_string())
}

fn events(round: u64) -> Vec<ProposedEvent> {
    (0..ROUND_EVENTS)
        .map(|index| {
            ProposedEvent::json("Tick", format!("{{\"round\":{round},\"n\":{index},\"pad\":\"{}\"}}", "p".repeat(120)))
        })
        .collect()
}

fn report(line: String) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").and_then(|()| stdout.flush()).map_err(|error| format!("stdout: {error}"))
}

async fn rounds(dir: &str, first_round: u64) -> Result<Infallible, String> {
    let mut config = EngineConfig::new(dir);
    config.segment_bytes_max = SEGMENT_BYTES_MAX;
    let engine = Engine::open(config).map_err(|error| format!("open: {error}"))?;
    let options = ScavengeOptions { max_bytes_per_second: Some(SCAVENGE_BYTES_PER_SECOND) };
    for round in first_round.. {
        let keep = name(format!("keep-{round}"))?;
        let drop = name(format!("drop-{round}"))?;
        let gone = name(format!("gone-{round}"))?;
        engine
            .append(AppendRequest::new(keep, ExpectedRevision::NoStream, events(round)))
            .await
            .map_err(|error| format!("append keep-{round}: {error}"))?;
        report(format!("KEPT {round}"))?;
        engine
            .append(AppendRequest::new(drop.clone(), ExpectedRevision::NoStream, events(round)))
            .await
            .map_err(|error| format!("append drop-{round}: {error}"))?;
        engine
            .append(AppendRequest::new(gone.clone(), ExpectedRevision::NoStream, events(round)))
            .await
            .map_err(|error| format!("append gone-{round}: {error}"))?;
        let last = ExpectedRevision::Exact(ROUND_EVENTS as u64 - 1);
        engine.delete_stream(drop, last, DeleteMode::Soft).await.map_err(|error| format!("delete: {error}"))?;
        engine.delete_stream(gone, last, DeleteMode::Tombstone).await.map_err(|error| format!("tombstone: {error}"))?;
        report(format!("DELETED {round}"))?;
        match engine.start_scavenge(options.clone()).await {
            Ok(status) => report(format!("SCAVENGING {}", status.id))?,
            Err(ScavengeError::InProgress(_)) => {}
            Err(error) => return Err(format!("start scavenge: {error}")),
        }
        if let Some(status) = engine.scavenge_status().await
            && let Some(error) = status.error
        {
            return Err(format!("scavenge failed: {error}"));
        }
    }
    Err("ran out of rounds".into())
}
