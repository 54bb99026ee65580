//! `eventfold import FILE` / `eventfold import --from URL`: appends events to
//! a running server keeping their ids, their order in `$all` and their
//! stream revisions.
//!
//! Each run of consecutive events of one stream is appended in one call at
//! the revision the source gives it (`expected = revision - 1`), one call
//! after the other, so that `$all` comes out in the source's order. A
//! conflict answer says where the target's stream is; that is also how an
//! interrupted import resumes without a step of its own: where the target
//! already holds the revisions of a run, their ids are compared, the ones
//! that match are skipped, and any other event there refuses the import.
//! A gap (the source starts a stream above revision 0, or further than the
//! target's end) is refused too, since revisions are kept.
//!
//! System streams (`$`-prefixed, other than `$$<stream>` metadata) are the
//! source server's own state and are skipped; a tombstone (`$streamDeleted`)
//! becomes a tombstone.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use eventfold_client::{Client, ClientError, Direction, Expected, ReadFrom};
use futures::{StreamExt, TryStreamExt};

use super::event_json::{LineEvent, parse_line};
use super::{ServerArgs, block_on};
use crate::progress::Rate;

const TOMBSTONE_EVENT_TYPE: &str = "$streamDeleted";

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The export file (JSON lines); `-` for standard input.
    #[arg(required_unless_present = "from", conflicts_with = "from")]
    file: Option<PathBuf>,
    /// Import `$all` of another server instead: `esdb://host:port?tls=false`.
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// Events per append at most.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    batch_events: u64,
    /// Bytes of data and metadata per append at most (one bigger event is
    /// sent alone).
    #[arg(long, default_value_t = 512 * 1024)]
    batch_bytes: usize,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: ImportArgs) -> anyhow::Result<()> {
    block_on(async move {
        let target = args.server.connect().await?;
        let mut importer = Importer::new(target, args.batch_events as usize, args.batch_bytes);
        let started = Instant::now();
        let outcome = match (&args.from, &args.file) {
            (Some(url), _) => import_from_server(&mut importer, url).await,
            (None, Some(path)) => import_file(&mut importer, path).await,
            (None, None) => Err(anyhow!("give a FILE or --from URL")),
        };
        importer.rate.finish(started);
        outcome
    })
}

async fn import_file(importer: &mut Importer, path: &PathBuf) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(BufReader::new(std::io::stdin().lock()))
    } else {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        Box::new(BufReader::with_capacity(1 << 20, file))
    };
    for (index, line) in input.lines().enumerate() {
        let number = index + 1;
        let line = line.with_context(|| format!("reading line {number} of {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line) {
            Ok(event) => importer.push(event, line.len() as u64 + 1).await?,
            Err(reason) => {
                // Everything before the bad line goes in, once; nothing after.
                importer.flush().await?;
                bail!(
                    "line {number} of {}: {reason}; the {} events before it are imported, nothing after it",
                    path.display(),
                    importer.rate.events + importer.rate.skipped
                );
            }
        }
    }
    importer.flush().await
}

async fn import_from_server(importer: &mut Importer, url: &str) -> anyhow::Result<()> {
    let source = Client::connect(url).await.with_context(|| format!("the source server {url}"))?;
    let mut events = source.read("$all", ReadFrom::Start, Direction::Forwards, u64::MAX, None).await?;
    while let Some(event) = events.next().await {
        let event = event.with_context(|| format!("reading $all of {url}"))?;
        let bytes = (event.data.len() + event.metadata.len()) as u64;
        let line = LineEvent {
            stream: event.stream,
            revision: event.revision,
            event: eventfold_client::ProposedEvent {
                id: event.id,
                event_type: event.event_type,
                is_json: event.is_json,
                data: event.data,
                metadata: event.metadata,
            },
        };
        importer.push(line, bytes).await?;
    }
    importer.flush().await
}

/// Whether the stream holds a server's own state rather than the user's.
fn is_system_stream(stream: &str) -> bool {
    match stream.strip_prefix("$$") {
        Some(described) => described.starts_with('$'),
        None => stream.starts_with('$'),
    }
}

struct Importer {
    target: Client,
    /// The consecutive events of one stream not yet sent.
    pending: Vec<LineEvent>,
    pending_bytes: usize,
    pending_source_bytes: u64,
    batch_events: usize,
    batch_bytes: usize,
    /// Where the target's streams are known to end (next revision).
    next_revisions: HashMap<String, u64>,
    rate: Rate,
}

impl Importer {
    fn new(target: Client, batch_events: usize, batch_bytes: usize) -> Self {
        Self {
            target,
            pending: Vec::new(),
            pending_bytes: 0,
            pending_source_bytes: 0,
            batch_events,
            batch_bytes,
            next_revisions: HashMap::new(),
            rate: Rate::new("import"),
        }
    }

    async fn push(&mut self, event: LineEvent, source_bytes: u64) -> anyhow::Result<()> {
        if is_system_stream(&event.stream) {
            self.rate.skipped += 1;
            return Ok(());
        }
        let continues = self
            .pending
            .last()
            .is_some_and(|last| last.stream == event.stream && last.revision.checked_add(1) == Some(event.revision));
        let size = event.event.data.len() + event.event.metadata.len();
        if !continues || self.pending.len() >= self.batch_events || self.pending_bytes + size > self.batch_bytes {
            self.flush().await?;
        }
        if event.event.event_type == TOMBSTONE_EVENT_TYPE {
            return self.tombstone(&event.stream, source_bytes).await;
        }
        self.pending_bytes += size;
        self.pending_source_bytes += source_bytes;
        self.pending.push(event);
        Ok(())
    }

    async fn tombstone(&mut self, stream: &str, source_bytes: u64) -> anyhow::Result<()> {
        match self.target.tombstone(stream, Expected::Any).await {
            // Deleted already: an import resumed after this point.
            Ok(()) | Err(ClientError::StreamDeleted { .. }) => {}
            Err(error) => return Err(anyhow!(error).context(format!("tombstoning `{stream}`"))),
        }
        self.rate.add(1, source_bytes);
        Ok(())
    }

    /// Appends the pending run, resuming over what the target already holds.
    async fn flush(&mut self) -> anyhow::Result<()> {
        let run = std::mem::take(&mut self.pending);
        let source_bytes = std::mem::take(&mut self.pending_source_bytes);
        self.pending_bytes = 0;
        let Some(first) = run.first() else { return Ok(()) };
        let stream = first.stream.clone();
        let start = first.revision;
        let count = run.len() as u64;
        let known = self.next_revisions.get(&stream).copied();
        let (remaining, target_next) = match known {
            Some(next) if next == start => (run, next),
            _ => self.skip_present(&stream, start, run, None).await?,
        };
        let mut target_next = target_next;
        if !remaining.is_empty() {
            match self.append_run(&stream, remaining.clone()).await {
                Ok(()) => {}
                // The target wrote some of these revisions itself since it
                // was asked: see what is there, and append the rest.
                Err(ClientError::WrongExpectedVersion { actual, .. }) => {
                    let from = remaining.first().map_or(start, |first| first.revision);
                    let last = match actual {
                        Expected::Revision(last) => Some(last),
                        _ => None,
                    };
                    let (rest, next) = self.skip_present(&stream, from, remaining, last).await?;
                    target_next = next;
                    if !rest.is_empty() {
                        self.append_run(&stream, rest)
                            .await
                            .with_context(|| format!("stream `{stream}` changed in the target during the import"))?;
                    }
                }
                Err(ClientError::StreamDeleted { .. }) => {
                    self.skip_deleted(&stream, remaining);
                }
                Err(error) => return Err(anyhow!(error).context(format!("appending to `{stream}`"))),
            }
        }
        // The target may hold more than this run (an import resumed).
        self.next_revisions.insert(stream, target_next.max(start + count));
        self.rate.add(count, source_bytes);
        Ok(())
    }

    /// A stream tombstoned in the target takes nothing more: an import
    /// resumed after the tombstone it carries. Said once per stream.
    fn skip_deleted(&mut self, stream: &str, run: Vec<LineEvent>) -> (Vec<LineEvent>, u64) {
        let end = run.last().map_or(0, |last| last.revision + 1);
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "import: stream `{stream}` is deleted in the target; its events are skipped");
        (Vec::new(), end)
    }

    /// Appends `run` at the revisions it carries.
    async fn append_run(&self, stream: &str, run: Vec<LineEvent>) -> Result<(), ClientError> {
        let from = run.first().map_or(0, |first| first.revision);
        let expected = if from == 0 { Expected::NoStream } else { Expected::Revision(from - 1) };
        let events = run.into_iter().map(|line| line.event).collect();
        self.target.append(stream, expected, events).await.map(|_| ())
    }

    /// What of `run` the target does not hold yet, and the target's next
    /// revision; refuses where it holds other events at those revisions, or
    /// would need a gap.
    async fn skip_present(
        &mut self,
        stream: &str,
        start: u64,
        run: Vec<LineEvent>,
        known_last: Option<u64>,
    ) -> anyhow::Result<(Vec<LineEvent>, u64)> {
        // A soft-deleted stream reads as not found: the revision a conflict
        // reported is the better answer.
        let read_last = match self.target.read(stream, ReadFrom::End, Direction::Backwards, 1, None).await {
            Ok(events) => match events.try_collect::<Vec<_>>().await {
                Ok(events) => events.first().map(|event| event.revision),
                Err(ClientError::StreamNotFound { .. }) => None,
                Err(ClientError::StreamDeleted { .. }) => return Ok(self.skip_deleted(stream, run)),
                Err(error) => return Err(error.into()),
            },
            Err(ClientError::StreamNotFound { .. }) => None,
            Err(ClientError::StreamDeleted { .. }) => return Ok(self.skip_deleted(stream, run)),
            Err(error) => return Err(error.into()),
        };
        let last = known_last.or(read_last);
        let next = last.map_or(0, |last| last + 1);
        if next == start {
            return Ok((run, next));
        }
        if next < start {
            bail!(
                "stream `{stream}`: the source continues at revision {start} but the target's stream {}; \
                 revisions are kept, so a gap cannot be made",
                match last {
                    Some(last) => format!("ends at revision {last}"),
                    None => "does not exist".to_owned(),
                }
            );
        }
        // The target holds revisions `start..next` already: the same events
        // (an import resumed) or others (refused).
        let present =
            self.target.read(stream, ReadFrom::At(start), Direction::Forwards, run.len() as u64, None).await?;
        let present: Vec<_> = present.try_collect().await?;
        let mut run = run.into_iter().peekable();
        for existing in &present {
            // Revisions the target hides (truncated, deleted) cannot be
            // compared; they are there.
            while run.peek().is_some_and(|wanted| wanted.revision < existing.revision) {
                run.next();
            }
            let Some(wanted) = run.peek() else { break };
            // The metadata event a server writes by itself when a
            // soft-deleted stream is written again has an id of its own
            // in each server, and the same type and document.
            let same_metadata = stream.starts_with("$$")
                && existing.event_type == wanted.event.event_type
                && existing.data == wanted.event.data;
            if existing.revision != wanted.revision || (existing.id != wanted.event.id && !same_metadata) {
                bail!(
                    "stream `{stream}` already exists in the target with other events: at revision {} it holds \
                     event {}, the source has event {} at revision {}",
                    existing.revision,
                    existing.id,
                    wanted.event.id,
                    wanted.revision
                );
            }
            run.next();
        }
        // Below the target's end and not readable there: hidden there too.
        Ok((run.filter(|wanted| wanted.revision >= next).collect(), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_streams_are_told_from_user_ones() {
        assert!(is_system_stream("$persistentsubscription-x"));
        assert!(is_system_stream("$$$scavenges"));
        assert!(!is_system_stream("$$order-1"));
        assert!(!is_system_stream("order-1"));
    }
}
