//! `eventfold export`: events as JSON lines (`event_json.rs`), from `$all`
//! (optionally filtered, from a position) or from named streams.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use eventfold_client::{ClientError, Direction, Filter, ReadFrom};
use futures::StreamExt;

use super::event_json::to_line;
use super::{ServerArgs, block_on};
use crate::progress::Rate;

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Export these streams, each whole, one after the other; `$all` (in
    /// its order) when none is given.
    #[arg(long = "stream", value_name = "STREAM")]
    streams: Vec<String>,
    /// `$all` only: start at this position (the event at it included).
    #[arg(long, value_name = "POSITION", conflicts_with = "streams")]
    from: Option<u64>,
    /// `$all` only: keep the events of streams whose names start so.
    #[arg(long, value_name = "PREFIX", conflicts_with_all = ["streams", "type_prefix"])]
    stream_prefix: Vec<String>,
    /// `$all` only: keep the events whose types start so.
    #[arg(long, value_name = "PREFIX", conflicts_with = "streams")]
    type_prefix: Vec<String>,
    /// Where to write; standard output when not given.
    #[arg(long, short)]
    output: Option<PathBuf>,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    if args.streams.iter().any(|stream| stream.is_empty()) {
        bail!("--stream is empty");
    }
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::with_capacity(1 << 20, out);
    block_on(async move {
        let client = args.server.connect().await?;
        let mut rate = Rate::new("export");
        let started = Instant::now();
        let sources: Vec<(String, ReadFrom, Option<Filter>)> = if args.streams.is_empty() {
            let filter = if !args.stream_prefix.is_empty() {
                Some(Filter { on_stream_name: true, prefixes: args.stream_prefix.clone(), regex: None })
            } else if !args.type_prefix.is_empty() {
                Some(Filter { on_stream_name: false, prefixes: args.type_prefix.clone(), regex: None })
            } else {
                None
            };
            vec![("$all".to_owned(), args.from.map_or(ReadFrom::Start, ReadFrom::At), filter)]
        } else {
            args.streams.iter().map(|stream| (stream.clone(), ReadFrom::Start, None)).collect()
        };
        for (stream, from, filter) in sources {
            let mut events = client.read(&stream, from, Direction::Forwards, u64::MAX, filter.as_ref()).await?;
            while let Some(event) = events.next().await {
                let event = match event {
                    Ok(event) => event,
                    Err(ClientError::StreamNotFound { .. }) => bail!("stream `{stream}` not found"),
                    Err(error) => return Err(error.into()),
                };
                let line = to_line(&event);
                out.write_all(line.as_bytes()).context("writing the export")?;
                out.write_all(b"\n").context("writing the export")?;
                rate.add(1, line.len() as u64 + 1);
            }
        }
        out.flush().context("writing the export")?;
        rate.finish(started);
        Ok(())
    })
}
