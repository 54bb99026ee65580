//! The index checked against the log, both ways: each event of the log is
//! indexed where it is, and each entry of the index points at a frame of the
//! event it names. The two rules are also what the start-up check
//! (`index_sample.rs`) samples.

use std::collections::HashMap;
use std::ops::Range;

use bytes::Bytes;
use eventfold_index::{IndexError, IndexSnapshot};
use eventfold_log::{LogError, LogReader, Visit};
use eventfold_store::{IndexMismatch, IndexReport, LostEvent, Position, RecordedEvent, StreamName};

use crate::effects::{is_virtual_stream, virtual_streams_of};
use crate::record::decode_event;

/// Mismatches listed in a report; the rest are only counted.
const MISMATCHES_LISTED: usize = 100;
/// Index entries and streams read per page.
const PAGE_ENTRIES: usize = 4096;

/// Why the index does not index `event` (at its position) where it is, if
/// it does not.
pub(crate) fn indexed_at(snapshot: &IndexSnapshot, event: &RecordedEvent) -> Result<Option<String>, IndexError> {
    let Some(entry) = snapshot.stream(event.stream.as_str())? else {
        return Ok(Some("the index has no such stream".into()));
    };
    let found = snapshot.positions(entry.id, event.revision, true, 1)?;
    Ok(match found.first() {
        Some((revision, position)) if *revision == event.revision && *position == event.position.0 => None,
        Some((revision, position)) if *revision == event.revision => {
            Some(format!("the index has this revision at position {position}"))
        }
        _ => Some("the index has no entry for this revision".into()),
    })
}

/// Why the entry `(stream_id, revision)` cannot point at `event`, if it
/// cannot: it must be the event's own entry (same revision), or the link of
/// a virtual stream the event belongs to.
pub(crate) fn event_owns_entry(
    snapshot: &IndexSnapshot,
    event: &RecordedEvent,
    stream_id: u64,
    revision: u64,
) -> Result<Option<String>, IndexError> {
    let own = snapshot.stream(event.stream.as_str())?;
    if own.is_some_and(|entry| entry.id == stream_id) {
        return Ok((revision != event.revision)
            .then(|| format!("the log holds revision {} of the stream there", event.revision)));
    }
    let category = event.stream.category();
    for link in virtual_streams_of(event.stream.as_str(), category, &event.event_type, event.revision) {
        if StreamName::new(&link).is_ok() && snapshot.stream(&link)?.is_some_and(|entry| entry.id == stream_id) {
            return Ok(None);
        }
    }
    Ok(Some(format!("the log holds `{}` revision {} there", event.stream, event.revision)))
}

/// Both directions of the check, fed by the log pass and then run over the
/// index's entries.
pub(crate) struct IndexPass<'a> {
    /// `None` once the index could not be read.
    snapshot: Option<&'a IndexSnapshot>,
    report: IndexReport,
}

impl<'a> IndexPass<'a> {
    pub fn new(snapshot: Result<&'a IndexSnapshot, String>) -> Self {
        let mut pass = Self { snapshot: None, report: IndexReport::default() };
        match snapshot {
            Ok(snapshot) => match snapshot.checkpoint() {
                Ok(checkpoint) => {
                    pass.snapshot = Some(snapshot);
                    pass.report.checkpoint = checkpoint;
                }
                Err(error) => pass.unreadable(&error),
            },
            Err(reason) => pass.report.unreadable = Some(reason),
        }
        pass
    }

    pub fn can_read(&self) -> bool {
        self.snapshot.is_some()
    }

    pub fn checkpoint(&self) -> u64 {
        self.report.checkpoint
    }

    pub fn finish(self) -> IndexReport {
        self.report
    }

    fn unreadable(&mut self, error: &IndexError) {
        self.report.unreadable = Some(error.to_string());
        self.snapshot = None;
    }

    fn mismatch(&mut self, stream: &str, revision: u64, position: u64, problem: String) {
        self.report.mismatch_count += 1;
        if self.report.mismatches.len() < MISMATCHES_LISTED {
            self.report.mismatches.push(IndexMismatch { stream: stream.to_owned(), revision, position, problem });
        }
    }

    /// Feeds the log pass's frames to [`Self::logged_frame`]; a visitor of
    /// `eventfold_log::verify_log`.
    pub fn visit(&mut self, visit: &Visit<'_>) -> Result<(), LogError> {
        if let Visit::Frame(frame) = visit {
            self.logged_frame(frame.position, &frame.payload);
        }
        Ok(())
    }

    /// Log → index: the frame at `position` that verified. Frames at or past
    /// the checkpoint are not indexed yet (replay does that at start).
    pub fn logged_frame(&mut self, position: u64, payload: &Bytes) {
        let Some(snapshot) = self.snapshot else { return };
        if position >= self.report.checkpoint {
            return;
        }
        let event = match decode_event(payload, Position(position)) {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(error) => {
                self.mismatch("", 0, position, format!("the record does not decode: {error}"));
                return;
            }
        };
        self.report.events_checked += 1;
        match indexed_at(snapshot, &event) {
            Ok(None) => {}
            Ok(Some(problem)) => self.mismatch(event.stream.as_str(), event.revision, position, problem),
            Err(error) => self.unreadable(&error),
        }
    }

    /// Index → log: every entry, read from the log below `end`. Entries
    /// inside `damaged` ranges are the events the damage lost.
    pub fn entries(
        &mut self,
        reader: &LogReader,
        end: u64,
        damaged: &[Range<u64>],
        progress: &mut dyn FnMut(u64, u64),
    ) {
        if let Err(error) = self.try_entries(reader, end, damaged, progress) {
            self.unreadable(&error);
        }
    }

    fn try_entries(
        &mut self,
        reader: &LogReader,
        end: u64,
        damaged: &[Range<u64>],
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<(), IndexError> {
        let Some(snapshot) = self.snapshot else { return Ok(()) };
        let names = stream_names(snapshot)?;
        let total = snapshot.event_entry_count()?;
        let mut after = None;
        loop {
            let page = snapshot.event_entries_after(after, PAGE_ENTRIES)?;
            let Some(last) = page.last() else { break };
            after = Some((last.0, last.1));
            for (stream_id, revision, position) in page {
                self.report.entries_checked += 1;
                let name = names.get(&stream_id).map_or("", String::as_str);
                let entry = Entry { stream_id, name, revision, position };
                if let Some(problem) = self.entry_problem(snapshot, reader, end, damaged, &entry)? {
                    let name = if name.is_empty() { format!("#{stream_id}") } else { name.to_owned() };
                    self.mismatch(&name, revision, position, problem);
                }
            }
            progress(self.report.entries_checked, total);
        }
        Ok(())
    }

    fn entry_problem(
        &mut self,
        snapshot: &IndexSnapshot,
        reader: &LogReader,
        end: u64,
        damaged: &[Range<u64>],
        entry: &Entry<'_>,
    ) -> Result<Option<String>, IndexError> {
        let Entry { stream_id, name, revision, position } = *entry;
        if name.is_empty() {
            return Ok(Some("no stream of the index has this id".into()));
        }
        if position >= end {
            return Ok(Some(format!("points past the index checkpoint {end}")));
        }
        if damaged.iter().any(|range| range.contains(&position)) {
            if !is_virtual_stream(name) {
                self.report.events_in_damage.push(LostEvent { stream: name.to_owned(), revision, position });
            }
            return Ok(None);
        }
        if reader.was_removed(position) {
            // Removed by a scavenge; the entry goes at the next one (IDX-3).
            return Ok(None);
        }
        let frame = match reader.read_frame_exact(position, end) {
            Ok(Some(frame)) => frame,
            Ok(None) => return Ok(Some("the log holds no frame at this position".into())),
            Err(error) => return Ok(Some(format!("the frame there cannot be read: {error}"))),
        };
        match decode_event(&frame.payload, Position(position)) {
            Ok(Some(event)) => event_owns_entry(snapshot, &event, stream_id, revision),
            Ok(None) => Ok(Some("the log holds a record that is not an event there".into())),
            Err(error) => Ok(Some(format!("the record there does not decode: {error}"))),
        }
    }
}

/// One entry of `stream_events`, with its stream's name ("" when no stream
/// has its id).
#[derive(Clone, Copy)]
struct Entry<'a> {
    stream_id: u64,
    name: &'a str,
    revision: u64,
    position: u64,
}

/// Stream id → name, for every stream of the index.
fn stream_names(snapshot: &IndexSnapshot) -> Result<HashMap<u64, String>, IndexError> {
    let mut names = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = snapshot.streams_after(after.as_deref(), PAGE_ENTRIES)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        names.extend(page.into_iter().map(|(name, entry)| (entry.id, name)));
    }
    Ok(names)
}
