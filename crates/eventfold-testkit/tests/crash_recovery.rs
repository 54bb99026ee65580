//! Goal: prove that every append the embedded engine acknowledged survives
//! the process being killed with SIGKILL at an arbitrary instant, and that an
//! append it had not acknowledged is after recovery either wholly there or
//! not there at all, never partially.
//!
//! How: `eventfold-crash-writer` appends from many concurrent tasks and
//! reports each attempt (`TRY`) and each acknowledgement (`ACK`) on stdout.
//! Each cycle runs it for a random 30–300 ms, kills it with SIGKILL, reopens
//! the data directory in this process and checks the store against every
//! line every writer so far printed. All cycles share one directory, so each
//! recovery runs on a log that earlier recoveries have already cut and that
//! earlier verifications appended to.
//!
//! What SIGKILL cannot show: the page cache outlives the process, so this
//! proves the ordering (acknowledge only after the write; recovery cuts a torn
//! tail back to a whole transaction), not that the fsync reaches the disk.
//! That needs power-loss testing.
//!
//! `EVENTFOLD_CRASH_CYCLES` sets the number of cycles (default 20).

#![cfg(unix)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use eventfold_engine::{Engine, EngineConfig};
use eventfold_store::{
    AppendRequest, CurrentRevision, EventId, EventStore, ExpectedRevision, ReadAllRequest, ReadError,
    ReadStreamRequest, RecordedEvent, StreamName,
};
use eventfold_testkit::{
    AcknowledgedAppend, AttemptedAppend, KilledOutput, PROBE_EVENT_TYPE, WriterLine, probe_event, probe_payload,
    run_until_killed,
};
use futures::TryStreamExt;
use rand::Rng;

const DEFAULT_CYCLES: u32 = 20;

/// More writers than streams (the writer uses three), so that expectations go
/// stale and batches carry several appends to one stream.
const CONCURRENT_WRITERS: usize = 8;

/// How long the writer appends after its first acknowledgement before the
/// kill: long enough for many batches, short enough for many cycles.
const RUN_MILLISECONDS: std::ops::RangeInclusive<u64> = 30..=300;

/// No cycle may take longer than this, so a hang anywhere (writer, engine
/// open, recovery, reads) fails the test instead of stalling it.
const CYCLE_DEADLINE: Duration = Duration::from_secs(90);

#[test]
fn acknowledged_appends_survive_sigkill() {
    let cycles = match std::env::var("EVENTFOLD_CRASH_CYCLES") {
        Ok(text) => text.parse().expect("EVENTFOLD_CRASH_CYCLES must be a whole number"),
        Err(_) => DEFAULT_CYCLES,
    };
    let started = Instant::now();
    let (progress_sender, progress) = mpsc::channel();
    // The cycles run on their own thread so that this one can enforce the
    // deadline even when the engine blocks inside a synchronous call.
    let worker = thread::Builder::new()
        .name("crash-cycles".into())
        .spawn(move || run_cycles(cycles, &progress_sender))
        .expect("spawn the crash cycle thread");
    let mut cycles_done = 0;
    loop {
        match progress.recv_timeout(CYCLE_DEADLINE) {
            Ok(cycle) => cycles_done = cycle,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!(
                "crash cycle {} did not finish within {CYCLE_DEADLINE:?}: the writer, the \
                 engine's recovery or a read hangs",
                cycles_done + 1
            ),
        }
    }
    let summary = match worker.join() {
        Ok(summary) => summary,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    println!(
        "{cycles} SIGKILL cycles in {:.1?}: {} acknowledged appends ({} events) all recovered; {} refused \
         appends all absent; of {} appends in flight at a kill, {} recovered whole and {} not at all; \
         {} recoveries cut a torn log tail; {} cut-short last lines discarded; {} events in the store",
        started.elapsed(),
        summary.acknowledged_appends,
        summary.acknowledged_events,
        summary.rejected_appends,
        summary.in_flight_appends,
        summary.in_flight_recovered,
        summary.in_flight_appends - summary.in_flight_recovered,
        summary.tails_cut,
        summary.cut_short_lines,
        summary.events_in_store,
    );
}

/// Everything the writers were told and everything they tried, over all
/// cycles so far, plus the appends this test made itself after recovery.
#[derive(Default)]
struct Ledger {
    /// The writers' and the test's own.
    attempts: Vec<AttemptedAppend>,
    acknowledged_by_writers: Vec<AcknowledgedAppend>,
    rejected: Vec<AttemptedAppend>,
    appended_by_test: Vec<AcknowledgedAppend>,
    cut_short_lines: usize,
    /// Opens after which the log was shorter than before: recovery cut a
    /// torn tail. Only a statistic, to show whether the cycles reach that
    /// path at all (the engine's recovery report is not public).
    tails_cut: usize,
}

struct Summary {
    acknowledged_appends: usize,
    acknowledged_events: usize,
    rejected_appends: usize,
    /// Tried and neither acknowledged nor refused when the kill came.
    in_flight_appends: usize,
    in_flight_recovered: usize,
    events_in_store: usize,
    cut_short_lines: usize,
    tails_cut: usize,
}

fn run_cycles(cycles: u32, progress: &mpsc::Sender<u32>) -> Summary {
    let data = tempfile::tempdir().expect("create the data directory");
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("build the checking runtime");
    let mut ledger = Ledger::default();
    let mut random = rand::rng();
    for cycle in 1..=cycles {
        let run_for = Duration::from_millis(random.random_range(RUN_MILLISECONDS));
        let output = run_writer_until_killed(data.path(), run_for, cycle);
        ledger.record(&output, cycle);
        runtime.block_on(check_recovered_store(data.path(), &mut ledger, cycle));
        if progress.send(cycle).is_err() {
            // The deadline has already failed the test; stop appending.
            break;
        }
    }
    // Once more after a clean shutdown, so that reopening a store that was
    // not killed is covered too; its messages say "cycle <cycles + 1>".
    let final_check = cycles + 1;
    let store = runtime.block_on(check_recovered_store(data.path(), &mut ledger, final_check));
    summarize(&ledger, &store)
}

fn run_writer_until_killed(dir: &Path, run_for: Duration, cycle: u32) -> KilledOutput {
    let mut command = Command::new(env!("CARGO_BIN_EXE_eventfold-crash-writer"));
    command.arg(dir).arg(CONCURRENT_WRITERS.to_string());
    run_until_killed(command, &format!("cycle {cycle}: the crash writer"), |line| line.starts_with("ACK "), run_for)
}

impl Ledger {
    fn record(&mut self, output: &KilledOutput, cycle: u32) {
        // Every answer must echo a TRY of the same process, and answer it
        // once; otherwise the checks below would run on ids nobody tried.
        let mut unanswered: HashMap<EventId, usize> = HashMap::new();
        for line in &output.lines {
            let parsed: WriterLine = line.parse().unwrap_or_else(|error| panic!("cycle {cycle}: {error}"));
            let (stream, event_ids) = match &parsed {
                WriterLine::Attempted(attempt) => {
                    unanswered.insert(attempt.event_ids[0], self.attempts.len());
                    self.attempts.push(attempt.clone());
                    continue;
                }
                WriterLine::Acknowledged(ack) => (&ack.stream, &ack.event_ids),
                WriterLine::Rejected(attempt) => (&attempt.stream, &attempt.event_ids),
            };
            let attempt = unanswered.remove(&event_ids[0]).map(|index| &self.attempts[index]);
            assert!(
                attempt.is_some_and(|attempt| attempt.stream == *stream && attempt.event_ids == *event_ids),
                "cycle {cycle}: `{line}` answers an append that was not tried or was already answered"
            );
            match parsed {
                WriterLine::Acknowledged(ack) => self.acknowledged_by_writers.push(ack),
                WriterLine::Rejected(attempt) => self.rejected.push(attempt),
                WriterLine::Attempted(_) => {}
            }
        }
        self.cut_short_lines += usize::from(output.cut_short);
    }

    fn acknowledged(&self) -> impl Iterator<Item = &AcknowledgedAppend> {
        self.acknowledged_by_writers.iter().chain(&self.appended_by_test)
    }
}

/// The whole store as read back after recovery.
struct Store {
    /// `$all`, forwards.
    all: Vec<RecordedEvent>,
    /// Where each event id is in `all`.
    index_of: HashMap<EventId, usize>,
}

impl Store {
    fn get(&self, id: &EventId) -> Option<(usize, &RecordedEvent)> {
        self.index_of.get(id).map(|&index| (index, &self.all[index]))
    }
}

/// Opens the engine on a directory a writer was just killed in, checks the
/// store against the ledger, and appends once to prove it is writable.
async fn check_recovered_store(dir: &Path, ledger: &mut Ledger, cycle: u32) -> Store {
    let log_bytes_before = log_bytes(dir);
    let engine = Engine::open(EngineConfig::new(dir))
        .unwrap_or_else(|error| panic!("cycle {cycle}: the engine does not open: {error}"));
    ledger.tails_cut += usize::from(log_bytes(dir) < log_bytes_before);
    let store = read_store(&engine, cycle).await;
    check_streams(&engine, &store, ledger, cycle).await;
    check_acknowledged_appends_survived(&store, ledger, cycle);
    check_attempts_are_all_or_nothing(&store, ledger, cycle);
    check_rejected_appends_are_absent(&store, ledger, cycle);
    append_after_recovery(&engine, &store, ledger, cycle).await;
    engine.shutdown().await;
    store
}

/// Reads `$all` and checks what holds of it alone: positions strictly
/// increase, no id is there twice, and every event's payload is the one its
/// id implies (a torn or misplaced record would not be).
async fn read_store(engine: &Engine, cycle: u32) -> Store {
    let all: Vec<RecordedEvent> = engine
        .read_all(ReadAllRequest::forwards())
        .await
        .unwrap_or_else(|error| panic!("cycle {cycle}: read $all: {error}"))
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("cycle {cycle}: read $all: {error}"));
    for pair in all.windows(2) {
        assert!(
            pair[0].position < pair[1].position,
            "cycle {cycle}: $all goes from position {} to {}",
            pair[0].position,
            pair[1].position
        );
    }
    let mut index_of = HashMap::with_capacity(all.len());
    for (index, event) in all.iter().enumerate() {
        if let Some(earlier) = index_of.insert(event.id, index) {
            panic!("cycle {cycle}: event id {} is in the store twice: {:?} and {:?}", event.id, all[earlier], event);
        }
        assert_eq!(event.event_type, PROBE_EVENT_TYPE, "cycle {cycle}: unexpected event {event:?}");
        assert!(
            event.data.as_ref() == probe_payload(event.id).as_slice(),
            "cycle {cycle}: event {} at position {} has a payload of {} bytes that is not the \
             one its id implies",
            event.id,
            event.position,
            event.data.len()
        );
    }
    assert_eq!(
        engine.head_position(),
        all.last().map(|event| event.position),
        "cycle {cycle}: the head position is not the last event's"
    );
    Store { all, index_of }
}

/// Each stream holds revisions 0, 1, 2, ... with no gap, agrees with `$all`
/// event for event, and reports its last revision as its current one.
async fn check_streams(engine: &Engine, store: &Store, ledger: &Ledger, cycle: u32) {
    let mut in_all: HashMap<&StreamName, Vec<&RecordedEvent>> = HashMap::new();
    for event in &store.all {
        in_all.entry(&event.stream).or_default().push(event);
    }
    let mut streams: HashSet<&StreamName> = in_all.keys().copied().collect();
    streams.extend(ledger.attempts.iter().map(|attempt| &attempt.stream));
    for stream in streams {
        let expected = in_all.remove(stream).unwrap_or_default();
        let read = match engine.read_stream(ReadStreamRequest::forwards(stream.clone())).await {
            Ok(events) => {
                events.try_collect().await.unwrap_or_else(|error| panic!("cycle {cycle}: read `{stream}`: {error}"))
            }
            Err(ReadError::StreamNotFound { .. }) => Vec::new(),
            Err(error) => panic!("cycle {cycle}: read `{stream}`: {error}"),
        };
        for (revision, event) in read.iter().enumerate() {
            assert_eq!(
                event.revision, revision as u64,
                "cycle {cycle}: `{stream}` is not contiguous from revision 0: {event:?}"
            );
        }
        assert!(
            read.iter().eq(expected.iter().copied()),
            "cycle {cycle}: `{stream}` read directly ({} events) differs from its events in \
             $all ({} events)",
            read.len(),
            expected.len()
        );
        let current = match read.last() {
            Some(event) => CurrentRevision::Current(event.revision),
            None => CurrentRevision::NoStream,
        };
        let reported = engine
            .stream_revision(stream)
            .await
            .unwrap_or_else(|error| panic!("cycle {cycle}: revision of `{stream}`: {error}"));
        assert_eq!(reported, current, "cycle {cycle}: `{stream}` reports a revision other than its last event's");
    }
}

/// (The point of the test.) Every acknowledged event is there, in the stream,
/// at the revision and position the acknowledgement gave.
fn check_acknowledged_appends_survived(store: &Store, ledger: &Ledger, cycle: u32) {
    for ack in ledger.acknowledged() {
        for (offset, id) in ack.event_ids.iter().enumerate() {
            let revision = ack.first_revision() + offset as u64;
            let Some((_, event)) = store.get(id) else {
                panic!(
                    "cycle {cycle}: acknowledged event {id} (`{}` revision {revision}) is lost \
                     after SIGKILL",
                    ack.stream
                );
            };
            assert!(
                event.stream == ack.stream && event.revision == revision,
                "cycle {cycle}: acknowledged event {id} was `{}` revision {revision} but is now \
                 `{}` revision {}",
                ack.stream,
                event.stream,
                event.revision
            );
        }
        let last = ack.event_ids.last().and_then(|id| store.get(id));
        assert_eq!(
            last.map(|(_, event)| event.position),
            Some(ack.last_position),
            "cycle {cycle}: the last event of an acknowledged append to `{}` moved",
            ack.stream
        );
    }
}

/// No append is there in part: either none of its events or all of them,
/// consecutive in its stream and in `$all` (the log keeps a transaction's
/// frames together, which is what lets recovery cut at its end). And nothing
/// is there that nobody tried to append.
fn check_attempts_are_all_or_nothing(store: &Store, ledger: &Ledger, cycle: u32) {
    let mut tried = HashSet::new();
    for attempt in &ledger.attempts {
        tried.extend(attempt.event_ids.iter().copied());
        let present: Vec<_> = attempt.event_ids.iter().filter_map(|id| store.get(id)).collect();
        if present.is_empty() {
            continue;
        }
        assert_eq!(
            present.len(),
            attempt.event_ids.len(),
            "cycle {cycle}: an append to `{}` is partially visible: {} of its events {:?} are \
             there",
            attempt.stream,
            present.len(),
            attempt.event_ids
        );
        let (first_index, first) = present[0];
        for (offset, (index, event)) in present.iter().enumerate() {
            assert!(
                event.stream == attempt.stream
                    && event.revision == first.revision + offset as u64
                    && *index == first_index + offset,
                "cycle {cycle}: the events of one append to `{}` are not consecutive: {:?}",
                attempt.stream,
                present
            );
        }
    }
    for event in &store.all {
        assert!(tried.contains(&event.id), "cycle {cycle}: event {event:?} is in the store but nobody appended it");
    }
}

/// An append the engine refused must not have been written anyway.
fn check_rejected_appends_are_absent(store: &Store, ledger: &Ledger, cycle: u32) {
    for rejected in &ledger.rejected {
        let present: Vec<_> = rejected.event_ids.iter().filter_map(|id| store.get(id)).collect();
        assert!(
            present.is_empty(),
            "cycle {cycle}: an append to `{}` that was refused is in the store: {present:?}",
            rejected.stream
        );
    }
}

/// The total size of the log's files. The `log/` directory is the engine's
/// layout, not its API; it is used only for the torn-tail statistic.
fn log_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir.join("log")) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .filter(|metadata| metadata.is_file())
        .map(|metadata| metadata.len())
        .sum()
}

/// The recovered engine takes a new append at the revision recovery found,
/// and that append joins the ledger so later cycles check it too.
async fn append_after_recovery(engine: &Engine, store: &Store, ledger: &mut Ledger, cycle: u32) {
    let stream = StreamName::new("crash-0").expect("valid stream name");
    let current = engine
        .stream_revision(&stream)
        .await
        .unwrap_or_else(|error| panic!("cycle {cycle}: revision of `{stream}`: {error}"));
    let expected = match current {
        CurrentRevision::NoStream => ExpectedRevision::NoStream,
        CurrentRevision::Current(revision) => ExpectedRevision::Exact(revision),
    };
    let events = vec![probe_event(), probe_event()];
    let event_ids: Vec<_> = events.iter().map(|event| event.id).collect();
    ledger.attempts.push(AttemptedAppend { stream: stream.clone(), event_ids: event_ids.clone() });
    let outcome = engine
        .append(AppendRequest::new(stream.clone(), expected, events))
        .await
        .unwrap_or_else(|error| panic!("cycle {cycle}: append after recovery: {error}"));
    let last_revision = current.next() + 1;
    assert_eq!(
        outcome.current_revision,
        CurrentRevision::Current(last_revision),
        "cycle {cycle}: append after recovery"
    );
    let last_position = outcome.position.expect("an append of two events has a position");
    assert!(
        store.all.last().is_none_or(|event| event.position < last_position),
        "cycle {cycle}: the append after recovery landed at {last_position}, not after the \
         recovered events"
    );
    ledger.appended_by_test.push(AcknowledgedAppend { stream, last_revision, last_position, event_ids });
}

fn summarize(ledger: &Ledger, store: &Store) -> Summary {
    // Every append carries fresh ids, so its first id names it.
    let answered: HashSet<EventId> = ledger
        .acknowledged()
        .map(|ack| ack.event_ids[0])
        .chain(ledger.rejected.iter().map(|rejected| rejected.event_ids[0]))
        .collect();
    let in_flight: Vec<&AttemptedAppend> =
        ledger.attempts.iter().filter(|attempt| !answered.contains(&attempt.event_ids[0])).collect();
    let in_flight_recovered =
        in_flight.iter().filter(|attempt| store.index_of.contains_key(&attempt.event_ids[0])).count();
    Summary {
        acknowledged_appends: ledger.acknowledged_by_writers.len(),
        acknowledged_events: ledger.acknowledged_by_writers.iter().map(|ack| ack.event_ids.len()).sum(),
        rejected_appends: ledger.rejected.len(),
        in_flight_appends: in_flight.len(),
        in_flight_recovered,
        events_in_store: store.all.len(),
        cut_short_lines: ledger.cut_short_lines,
        tails_cut: ledger.tails_cut,
    }
}
