//! `eventfold read STREAM|$all` and `eventfold tail STREAM|$all`.

use std::io::Write;

use anyhow::{Context, bail};
use eventfold_client::{ClientError, Direction, ReadFrom, SubscriptionItem};
use futures::StreamExt;

use super::ServerArgs;
use super::block_on;
use super::output::{Format, Printer};

#[derive(clap::Args, Debug)]
pub struct ReadArgs {
    /// The stream, or `$all` for every event.
    stream: String,
    /// Where to start: a revision (`$all`: a position), `start` or `end`.
    /// The start forwards, the end backwards.
    #[arg(long)]
    from: Option<String>,
    /// Read towards the start.
    #[arg(long)]
    backwards: bool,
    /// How many events at most (all when not given).
    #[arg(long)]
    count: Option<u64>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args, Debug)]
pub struct TailArgs {
    /// The stream, or `$all` for every event.
    stream: String,
    /// Start after this revision (`$all`: position), or `start`; the end
    /// when not given: only new events are shown.
    #[arg(long)]
    from: Option<String>,
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn parse_from(text: Option<&str>, default: ReadFrom) -> anyhow::Result<ReadFrom> {
    Ok(match text {
        None => default,
        Some("start") => ReadFrom::Start,
        Some("end") => ReadFrom::End,
        Some(number) => match number.parse::<u64>() {
            Ok(at) => ReadFrom::At(at),
            Err(_) => bail!("--from `{number}`: give a revision or position, `start` or `end`"),
        },
    })
}

fn check_name(stream: &str) -> anyhow::Result<()> {
    if stream.is_empty() {
        bail!("the stream name is empty");
    }
    Ok(())
}

pub fn run_read(args: ReadArgs) -> anyhow::Result<()> {
    check_name(&args.stream)?;
    let direction = if args.backwards { Direction::Backwards } else { Direction::Forwards };
    let default_from = if args.backwards { ReadFrom::End } else { ReadFrom::Start };
    let from = parse_from(args.from.as_deref(), default_from)?;
    block_on(async move {
        let client = args.server.connect().await?;
        let count = args.count.unwrap_or(u64::MAX);
        let mut events = client.read(&args.stream, from, direction, count, None).await?;
        let mut printer = Printer::new(args.format, std::io::stdout().lock());
        while let Some(event) = events.next().await {
            match event {
                Ok(event) => printer.print(&event).context("writing events")?,
                Err(ClientError::StreamNotFound { .. }) => bail!("stream `{}` not found", args.stream),
                Err(error) => return Err(error.into()),
            }
        }
        printer.flush().context("writing events")
    })
}

pub fn run_tail(args: TailArgs) -> anyhow::Result<()> {
    check_name(&args.stream)?;
    let from = parse_from(args.from.as_deref(), ReadFrom::End)?;
    block_on(async move {
        let client = args.server.connect().await?;
        let mut items = client.subscribe(&args.stream, from, None).await?;
        let mut printer = Printer::new(args.format, std::io::stdout().lock());
        // Each event is flushed as it comes: a tail is read live.
        while let Some(item) = items.next().await {
            match item? {
                SubscriptionItem::Event(event) => {
                    printer.print(&event).context("writing events")?;
                    printer.flush().context("writing events")?;
                }
                SubscriptionItem::CaughtUp => {
                    let mut stderr = std::io::stderr().lock();
                    let _ = writeln!(stderr, "live: waiting for new events in `{}`", args.stream);
                }
                SubscriptionItem::FellBehind | SubscriptionItem::Checkpoint(_) => {}
            }
        }
        bail!("the server ended the subscription")
    })
}
