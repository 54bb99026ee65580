//! Reads from storage, in pages: each page is one blocking task that reads a
//! bounded number of events, so a read of any size holds at most one page in
//! memory and a slow consumer simply stops asking for pages.

use std::sync::Arc;

use eventfold_log::Frame;
use eventfold_store::{
    EventFilter, EventStream, Position, ReadError, RecordedEvent, StorageError, StorageErrorKind, StreamName, Timestamp,
};
use futures::StreamExt;

use crate::effects::{is_virtual_stream, link_event};
use crate::record::decode_event;
use crate::shared::Shared;
use crate::storage_error;

/// Events returned per page.
pub(crate) const PAGE_EVENTS: usize = 512;
/// Frames scanned per page of a filtered `$all` read, matching or not, so
/// that a page returns promptly even when little matches.
pub(crate) const PAGE_SCANNED_FRAMES: usize = 4096;
/// Frames of a stream read per call of the log reader.
const FRAMES_PER_READ: usize = 16;
/// Event bytes per page: with large events a page ends before
/// `PAGE_EVENTS`, so a page's memory stays bounded either way.
pub(crate) const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Turns a page loader into a stream of events. `load` runs on the blocking
/// pool; it returns the page and whether the read is finished.
pub(crate) fn paged<S, F>(state: S, load: F) -> EventStream
where
    S: Send + 'static,
    F: Fn(&mut S) -> Result<(Vec<RecordedEvent>, bool), ReadError> + Send + Sync + Clone + 'static,
{
    futures::stream::unfold(Some(state), move |state| {
        let load = load.clone();
        async move {
            let mut state = state?;
            let joined = tokio::task::spawn_blocking(move || {
                let page = load(&mut state);
                (state, page)
            })
            .await;
            match joined {
                Ok((state, Ok((events, finished)))) => {
                    crate::metrics::events_read(events.len(), events.iter().map(event_bytes).sum());
                    let next = if finished { None } else { Some(state) };
                    if events.is_empty() && finished {
                        return None;
                    }
                    Some((events.into_iter().map(Ok).collect::<Vec<_>>(), next))
                }
                Ok((_, Err(error))) => Some((vec![Err(error)], None)),
                Err(join) => Some((vec![Err(ReadError::Storage(internal(join)))], None)),
            }
        }
    })
    .flat_map(futures::stream::iter)
    .boxed()
}

/// An event's bytes as KurrentDB counts bytes read: its data and metadata.
pub(crate) fn event_bytes(event: &RecordedEvent) -> u64 {
    (event.data.len() + event.metadata.len()) as u64
}

pub(crate) fn internal(error: impl std::fmt::Display) -> StorageError {
    StorageError::new(StorageErrorKind::Io, format!("read task failed: {error}"))
}

pub(crate) fn decode(frame: &Frame) -> Result<Option<RecordedEvent>, StorageError> {
    decode_event(&frame.payload, Position(frame.position)).map_err(|error| {
        StorageError::new(StorageErrorKind::Corrupt, format!("record at position {}: {error}", frame.position))
    })
}

pub(crate) fn index_failure(error: impl std::fmt::Display) -> StorageError {
    StorageError::new(StorageErrorKind::Io, format!("index: {error}"))
}

/// The first frame start at or after `position` below `end` (see
/// `LogReader::frame_start_at_or_after`), found on the blocking pool: it may
/// walk frames of a segment.
pub(crate) async fn frame_start_blocking(shared: &Arc<Shared>, position: u64, end: u64) -> Result<u64, StorageError> {
    if position >= end {
        return Ok(position);
    }
    let reader = shared.reader.clone();
    tokio::task::spawn_blocking(move || reader.frame_start_at_or_after(position, end))
        .await
        .map_err(internal)?
        .map_err(|error| storage_error(&error))
}

/// A page of one stream's events.
pub(crate) struct StreamPage {
    pub events: Vec<RecordedEvent>,
    /// The stream may have more events past this page.
    pub more: bool,
    /// The last revision this page looked at, returned or not (a scavenged
    /// event is skipped): the next page starts past it.
    pub last_revision: Option<u64>,
}

/// Up to `limit` events of stream `stream_id` from revision `from`, going up
/// or down, and fewer once they add up to `PAGE_BYTES`. Positions come from
/// the index, which only holds durable events.
pub(crate) fn stream_page(
    shared: &Shared,
    stream: &StreamName,
    stream_id: u64,
    from: u64,
    forwards: bool,
    limit: usize,
) -> Result<StreamPage, StorageError> {
    // A virtual stream's entries point at other streams' events: each is
    // served as a link event at the virtual stream's own revision.
    let linking = is_virtual_stream(stream.as_str());
    let snapshot = shared.snapshot();
    let positions = snapshot.positions(stream_id, from, forwards, limit).map_err(index_failure)?;
    let mut more = positions.len() == limit;
    let mut events = Vec::with_capacity(positions.len());
    let mut bytes = 0;
    let mut last_revision = None;
    // A few frames per read call: nearby frames share a system call, and the
    // page still stops soon after `PAGE_BYTES`, whatever the event sizes.
    let mut frames = Vec::new().into_iter();
    for (number, (revision, position)) in positions.iter().copied().enumerate() {
        if bytes >= PAGE_BYTES {
            more = true;
            break;
        }
        if number % FRAMES_PER_READ == 0 {
            let group = positions.get(number..).unwrap_or_default().iter().take(FRAMES_PER_READ);
            let wanted: Vec<u64> = group.map(|(_, position)| *position).collect();
            frames =
                shared.reader.read_frames_exact(&wanted, u64::MAX).map_err(|error| storage_error(&error))?.into_iter();
        }
        let frame = frames.next().flatten();
        last_revision = Some(revision);
        let event = frame.as_ref().map(decode).transpose()?.flatten();
        match event {
            Some(target) if linking => events.push(link_event(stream, revision, &target)),
            Some(event) if event.revision == revision => {
                bytes += event.data.len() + event.metadata.len();
                events.push(event);
            }
            // Scavenged: it was invisible (or its link's target was), so
            // the read goes on without it.
            None if shared.reader.was_removed(position) => {}
            _ => {
                return Err(StorageError::new(
                    StorageErrorKind::Corrupt,
                    format!(
                        "index points stream {stream_id} revision {revision} at position {position}, which holds no such event"
                    ),
                ));
            }
        }
    }
    Ok(StreamPage { events, more, last_revision })
}

/// One page of a forward scan of `$all`.
pub(crate) struct AllPage {
    /// Matching events, in log order.
    pub events: Vec<RecordedEvent>,
    /// Position of every scanned event, matching or not, in log order (only
    /// kept when `track_scanned` is set: checkpoints need it).
    pub scanned: Vec<u64>,
    /// Where the next page starts.
    pub resume_at: u64,
    /// Position of the last event scanned, matching or not.
    pub last_scanned: Option<u64>,
    /// The scan reached the committed end.
    pub exhausted: bool,
}

pub(crate) fn all_page_forwards(
    shared: &Shared,
    resume_at: u64,
    filter: Option<&EventFilter>,
    limit: usize,
    track_scanned: bool,
) -> Result<AllPage, StorageError> {
    let end = shared.committed_end();
    let mut scan = shared.reader.scan_forward(resume_at, end);
    let mut page = AllPage { events: Vec::new(), scanned: Vec::new(), resume_at, last_scanned: None, exhausted: false };
    let mut scanned_frames = 0;
    let mut bytes = 0;
    while page.events.len() < limit && scanned_frames < PAGE_SCANNED_FRAMES && bytes < PAGE_BYTES {
        let Some(frame) = scan.next_frame().map_err(|error| storage_error(&error))? else {
            page.exhausted = true;
            break;
        };
        scanned_frames += 1;
        bytes += frame.payload.len();
        page.resume_at = frame.next_position;
        let Some(event) = decode(&frame)? else {
            continue;
        };
        page.last_scanned = Some(event.position.0);
        if track_scanned {
            page.scanned.push(event.position.0);
        }
        if filter.is_none_or(|filter| filter.matches(&event)) {
            page.events.push(event);
        }
    }
    Ok(page)
}

pub(crate) struct AllBackwards {
    pub shared: Arc<Shared>,
    /// Frames ending at or before this are next.
    pub before: u64,
    pub remaining: u64,
    pub filter: Option<EventFilter>,
}

pub(crate) fn all_page_backwards(state: &mut AllBackwards) -> Result<(Vec<RecordedEvent>, bool), ReadError> {
    let mut scan = state.shared.reader.scan_backward(state.before);
    let mut events = Vec::new();
    let mut scanned_frames = 0;
    let mut bytes = 0;
    while (events.len() as u64) < state.remaining
        && events.len() < PAGE_EVENTS
        && scanned_frames < PAGE_SCANNED_FRAMES
        && bytes < PAGE_BYTES
    {
        let Some(frame) = scan.next_frame().map_err(|error| storage_error(&error))? else {
            return Ok((events, true));
        };
        scanned_frames += 1;
        bytes += frame.payload.len();
        state.before = frame.position;
        let Some(event) = decode(&frame)? else {
            continue;
        };
        if state.filter.as_ref().is_none_or(|filter| filter.matches(&event)) {
            events.push(event);
        }
    }
    state.remaining -= events.len() as u64;
    let finished = state.remaining == 0;
    Ok((events, finished))
}

pub(crate) struct AllForwards {
    pub shared: Arc<Shared>,
    pub resume_at: u64,
    pub remaining: u64,
    pub filter: Option<EventFilter>,
}

pub(crate) fn all_page_forwards_read(state: &mut AllForwards) -> Result<(Vec<RecordedEvent>, bool), ReadError> {
    let limit = state.remaining.min(PAGE_EVENTS as u64) as usize;
    let page = all_page_forwards(&state.shared, state.resume_at, state.filter.as_ref(), limit, false)?;
    state.resume_at = page.resume_at;
    state.remaining -= page.events.len() as u64;
    Ok((page.events, page.exhausted || state.remaining == 0))
}

pub(crate) struct StreamRead {
    pub shared: Arc<Shared>,
    pub stream: StreamName,
    pub stream_id: u64,
    /// `$maxAge`: events older than this are invisible.
    pub max_age_seconds: Option<u64>,
    /// Next revision to read; `None` once a backwards read passed the floor.
    pub next: Option<u64>,
    /// Truncate-before: revisions below it are invisible.
    pub floor: u64,
    pub forwards: bool,
    pub remaining: u64,
}

pub(crate) fn stream_page_read(state: &mut StreamRead) -> Result<(Vec<RecordedEvent>, bool), ReadError> {
    let Some(from) = state.next else {
        return Ok((Vec::new(), true));
    };
    let limit = state.remaining.min(PAGE_EVENTS as u64) as usize;
    let StreamPage { mut events, more, last_revision } =
        stream_page(&state.shared, &state.stream, state.stream_id, from, state.forwards, limit)?;
    state.next = match (last_revision, state.forwards) {
        (Some(last), true) => last.checked_add(1),
        (Some(last), false) => last.checked_sub(1).filter(|revision| *revision >= state.floor),
        (None, _) => None,
    };
    let oldest = oldest_visible(state.max_age_seconds);
    events.retain(|event| event.revision >= state.floor && event.created >= oldest);
    state.remaining -= events.len() as u64;
    let finished = !more || state.remaining == 0 || state.next.is_none();
    Ok((events, finished))
}

/// The creation time below which `$maxAge` hides events (the store's rule).
pub(crate) fn oldest_visible(max_age_seconds: Option<u64>) -> Timestamp {
    eventfold_store::oldest_visible(max_age_seconds, Timestamp::now())
}
