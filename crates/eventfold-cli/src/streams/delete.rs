//! `eventfold delete STREAM [--tombstone]`.

use std::io::Write;

use anyhow::Context;

use super::{ServerArgs, block_on, check_stream_name, parse_expected};

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    stream: String,
    /// Delete for good: the stream can never be written again. Without it
    /// the events are hidden and the stream can be written again.
    #[arg(long)]
    tombstone: bool,
    /// Delete only if the stream is at this revision.
    #[arg(long, value_name = "N", default_value = "any")]
    expected_revision: String,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: DeleteArgs) -> anyhow::Result<()> {
    check_stream_name(&args.stream)?;
    let expected = parse_expected(&args.expected_revision)?;
    block_on(async move {
        let client = args.server.connect().await?;
        if args.tombstone {
            client.tombstone(&args.stream, expected).await?;
        } else {
            client.delete(&args.stream, expected).await?;
        }
        let answer = serde_json::json!({ "stream": args.stream, "tombstoned": args.tombstone });
        writeln!(std::io::stdout().lock(), "{answer}").context("writing")?;
        Ok(())
    })
}
