//! `eventfold-crash-writer <data-dir> <concurrent-writers>`: appends to the
//! embedded engine forever, reporting every attempt and how it ended on
//! stdout (see the crate docs for the lines), so that the crash test can
//! kill it with SIGKILL at an arbitrary instant and then check the store
//! against what the engine had promised.
//!
//! It never stops on its own while its parent listens. It does stop, with an
//! error, when an append fails for any reason other than a stale expected
//! revision (the test then sees it exit before the kill), and when stdout is
//! closed, so that a writer whose test has gone away does not append forever.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use eventfold_engine::{Engine, EngineConfig, EngineError};
use eventfold_store::{
    AppendError, AppendRequest, CurrentRevision, EventStore, ExpectedRevision, InvalidStreamName, ReadError, StreamName,
};
use eventfold_testkit::{AcknowledgedAppend, AttemptedAppend, PROBE_APPEND_MAX_EVENTS, WriterLine, probe_event};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::task::JoinSet;

/// Few streams for many writers, so that expected revisions go stale and
/// appends to one stream from different writers land in the same batch.
const STREAM_COUNT: usize = 3;

/// Share of appends sent with `ExpectedRevision::Any`, which never conflict
/// and so keep every stream moving even while the others retry.
const ANY_EXPECTATION_PROBABILITY: f64 = 0.25;

#[derive(Debug, thiserror::Error)]
enum WriterError {
    #[error("usage: eventfold-crash-writer <data-dir> <concurrent-writers>: {0}")]
    Usage(String),
    #[error("stream name: {0}")]
    StreamName(InvalidStreamName),
    #[error("opening the engine: {0}")]
    Open(#[from] EngineError),
    #[error("append to `{stream}`: {source}")]
    Append { stream: StreamName, source: AppendError },
    #[error("reading the revision of `{stream}`: {source}")]
    Revision { stream: StreamName, source: ReadError },
    #[error("append to `{stream}` succeeded with an outcome that names no event: {outcome}")]
    EmptyOutcome { stream: StreamName, outcome: String },
    #[error("writing to stdout (has the parent gone?): {0}")]
    Report(#[from] std::io::Error),
    #[error("writer task failed: {0}")]
    Task(String),
    #[error("building the runtime: {0}")]
    Runtime(std::io::Error),
}

fn main() -> ExitCode {
    match run() {
        Ok(never) => match never {},
        Err(error) => {
            eprintln!("eventfold-crash-writer: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<Infallible, WriterError> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [dir, writers] = arguments.as_slice() else {
        return Err(WriterError::Usage(format!("expected 2 arguments, got {}", arguments.len())));
    };
    let writers: usize = writers
        .parse()
        .ok()
        .filter(|&count| count > 0)
        .ok_or_else(|| WriterError::Usage(format!("`{writers}` is not a positive count")))?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(WriterError::Runtime)?;
    runtime.block_on(append_with_writers(PathBuf::from(dir), writers))
}

async fn append_with_writers(dir: PathBuf, writers: usize) -> Result<Infallible, WriterError> {
    let engine = Engine::open(EngineConfig::new(dir))?;
    let report = Arc::new(Report::new()?);
    let streams: Arc<[StreamName]> = (0..STREAM_COUNT)
        .map(|index| StreamName::new(format!("crash-{index}")).map_err(WriterError::StreamName))
        .collect::<Result<_, _>>()?;
    let mut tasks = JoinSet::new();
    for _ in 0..writers {
        tasks.spawn(append_forever(engine.clone(), Arc::clone(&report), Arc::clone(&streams)));
    }
    // Writers only ever return with an error; the first one ends the process.
    match tasks.join_next().await {
        Some(Ok(Ok(never))) => match never {},
        Some(Ok(Err(error))) => Err(error),
        Some(Err(join_error)) => Err(WriterError::Task(join_error.to_string())),
        None => Err(WriterError::Usage("no writers".into())),
    }
}

/// Stdout for the lines, shared by every writer task.
struct Report {
    /// A duplicate of fd 1 used without a buffer: each line goes out in one
    /// `write` of well under `PIPE_BUF` bytes, so lines from different tasks
    /// never interleave and every line that was written is in the pipe, and
    /// therefore seen by the parent, even if SIGKILL arrives right after.
    stdout: Mutex<File>,
}

impl Report {
    fn new() -> Result<Self, WriterError> {
        let stdout = std::io::stdout().as_fd().try_clone_to_owned()?;
        Ok(Self { stdout: Mutex::new(File::from(stdout)) })
    }

    fn line(&self, line: &WriterLine) -> Result<(), WriterError> {
        let text = format!("{line}\n");
        // A panic while holding the lock cannot leave a half-written line
        // behind (the write is one call), so a poisoned lock is still usable.
        let mut stdout = self.stdout.lock().unwrap_or_else(|poison| poison.into_inner());
        stdout.write_all(text.as_bytes())?;
        Ok(())
    }
}

/// One writer: picks a stream, appends 1 to [`PROBE_APPEND_MAX_EVENTS`]
/// events expecting the revision it last saw there (or `Any`), and on a
/// conflict re-reads the revision and goes on with fresh events.
async fn append_forever(
    engine: Engine,
    report: Arc<Report>,
    streams: Arc<[StreamName]>,
) -> Result<Infallible, WriterError> {
    let mut random = StdRng::from_os_rng();
    // Starts empty on purpose: after a restart the first append to each
    // stream expects `NoStream`, conflicts, and exercises the re-read path.
    let mut last_seen: HashMap<StreamName, CurrentRevision> = HashMap::new();
    loop {
        let stream = streams[random.random_range(0..streams.len())].clone();
        let events: Vec<_> = (0..random.random_range(1..=PROBE_APPEND_MAX_EVENTS)).map(|_| probe_event()).collect();
        let event_ids: Vec<_> = events.iter().map(|event| event.id).collect();
        let expected = if random.random_bool(ANY_EXPECTATION_PROBABILITY) {
            ExpectedRevision::Any
        } else {
            match last_seen.get(&stream) {
                None | Some(CurrentRevision::NoStream) => ExpectedRevision::NoStream,
                Some(CurrentRevision::Current(revision)) => ExpectedRevision::Exact(*revision),
            }
        };
        report
            .line(&WriterLine::Attempted(AttemptedAppend { stream: stream.clone(), event_ids: event_ids.clone() }))?;
        let request = AppendRequest::new(stream.clone(), expected, events);
        match engine.append(request).await {
            Ok(outcome) => {
                let (CurrentRevision::Current(last_revision), Some(last_position)) =
                    (outcome.current_revision, outcome.position)
                else {
                    return Err(WriterError::EmptyOutcome { stream, outcome: format!("{outcome:?}") });
                };
                report.line(&WriterLine::Acknowledged(AcknowledgedAppend {
                    stream: stream.clone(),
                    last_revision,
                    last_position,
                    event_ids,
                }))?;
                last_seen.insert(stream, outcome.current_revision);
            }
            Err(AppendError::WrongExpectedVersion { .. }) => {
                report.line(&WriterLine::Rejected(AttemptedAppend { stream: stream.clone(), event_ids }))?;
                let current = engine
                    .stream_revision(&stream)
                    .await
                    .map_err(|source| WriterError::Revision { stream: stream.clone(), source })?;
                last_seen.insert(stream, current);
            }
            Err(source) => return Err(WriterError::Append { stream, source }),
        }
    }
}
