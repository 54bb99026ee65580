//! `eventfold metadata get|set STREAM`: the stream's metadata document.

use std::io::Write;

use anyhow::{Context, bail};
use bytes::Bytes;

use super::append::check_json;
use super::{ServerArgs, block_on, check_stream_name, parse_expected};

#[derive(clap::Args, Debug)]
pub struct MetadataArgs {
    #[command(subcommand)]
    command: MetadataCommand,
}

#[derive(clap::Subcommand, Debug)]
enum MetadataCommand {
    /// Print the stream's metadata (`{}` when it has none).
    Get {
        stream: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Replace the stream's metadata with a JSON object, such as
    /// `{"$maxCount": 100}`.
    Set {
        stream: String,
        /// The whole new metadata document.
        json: String,
        /// Write only if the metadata stream is at this revision.
        #[arg(long, value_name = "N", default_value = "any")]
        expected_revision: String,
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(args: MetadataArgs) -> anyhow::Result<()> {
    match args.command {
        MetadataCommand::Get { stream, server } => {
            check_stream_name(&stream)?;
            block_on(async move {
                let client = server.connect().await?;
                let document = client.get_metadata(&stream).await?;
                let text = match &document {
                    Some((data, _)) => String::from_utf8_lossy(data).into_owned(),
                    None => "{}".to_owned(),
                };
                writeln!(std::io::stdout().lock(), "{text}").context("writing")?;
                Ok(())
            })
        }
        MetadataCommand::Set { stream, json, expected_revision, server } => {
            check_stream_name(&stream)?;
            check_json("the metadata", &json)?;
            if !json.trim_start().starts_with('{') {
                bail!("the metadata must be a JSON object");
            }
            let expected = parse_expected(&expected_revision)?;
            block_on(async move {
                let client = server.connect().await?;
                let written = client.set_metadata(&stream, expected, Bytes::from(json)).await?;
                let answer = serde_json::json!({ "stream": stream, "metadata_revision": written.next_expected });
                writeln!(std::io::stdout().lock(), "{answer}").context("writing")?;
                Ok(())
            })
        }
    }
}
