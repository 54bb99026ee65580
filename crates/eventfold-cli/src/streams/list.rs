//! `eventfold streams`: the streams changed last, newest first, found by
//! reading `$all` backwards. Bounded both ways (names shown, events read),
//! so it costs the same on any size of database.

use std::collections::HashSet;
use std::io::Write;

use anyhow::Context;
use eventfold_client::{Direction, ReadFrom};
use futures::StreamExt;

use super::output::Format;
use super::{ServerArgs, block_on};

#[derive(clap::Args, Debug)]
pub struct StreamsArgs {
    /// How many streams to show at most.
    #[arg(long, default_value_t = 20)]
    count: usize,
    /// How many of the latest events to look through at most.
    #[arg(long, default_value_t = 10_000)]
    scan: u64,
    /// Show `$`-prefixed (system and metadata) streams too.
    #[arg(long)]
    system: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: StreamsArgs) -> anyhow::Result<()> {
    if args.count == 0 {
        anyhow::bail!("--count must be at least 1");
    }
    block_on(async move {
        let client = args.server.connect().await?;
        let mut events = client.read("$all", ReadFrom::End, Direction::Backwards, args.scan, None).await?;
        let mut seen = HashSet::new();
        let mut stdout = std::io::stdout().lock();
        if args.format == Format::Table {
            writeln!(stdout, "{:<40} {:>9} {:>12} TYPE", "STREAM", "REVISION", "POSITION").context("writing")?;
        }
        while let Some(event) = events.next().await {
            let event = event?;
            if (!args.system && event.stream.starts_with('$')) || !seen.insert(event.stream.clone()) {
                continue;
            }
            let position = event.position.map_or_else(|| "-".to_owned(), |position| position.to_string());
            match args.format {
                Format::Table => {
                    writeln!(stdout, "{:<40} {:>9} {:>12} {}", event.stream, event.revision, position, event.event_type)
                }
                Format::Json => writeln!(
                    stdout,
                    "{}",
                    serde_json::json!({
                        "stream": event.stream,
                        "revision": event.revision,
                        "position": event.position,
                        "type": event.event_type,
                    })
                ),
            }
            .context("writing")?;
            if seen.len() >= args.count {
                break;
            }
        }
        stdout.flush().context("writing")
    })
}
