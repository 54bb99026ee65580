//! `eventfold append STREAM --type T --data JSON`: one event.

use std::io::Write;

use anyhow::{Context, bail};
use bytes::Bytes;
use eventfold_client::ProposedEvent;

use super::{ServerArgs, block_on, check_stream_name, parse_expected};

#[derive(clap::Args, Debug)]
pub struct AppendArgs {
    /// The stream to append to.
    stream: String,
    /// The event type.
    #[arg(long = "type", value_name = "TYPE")]
    event_type: String,
    /// The event's data, a JSON document.
    #[arg(long)]
    data: String,
    /// The event's metadata, a JSON document.
    #[arg(long)]
    metadata: Option<String>,
    /// The event id (a UUID); a new one when not given.
    #[arg(long)]
    id: Option<String>,
    /// Append only if the stream is at this revision (a number, `any`,
    /// `no-stream` or `exists`).
    #[arg(long, value_name = "N", default_value = "any")]
    expected_revision: String,
    #[command(flatten)]
    server: ServerArgs,
}

pub fn run(args: AppendArgs) -> anyhow::Result<()> {
    check_stream_name(&args.stream)?;
    if args.event_type.is_empty() {
        bail!("--type is empty");
    }
    check_json("--data", &args.data)?;
    if let Some(metadata) = &args.metadata {
        check_json("--metadata", metadata)?;
    }
    let expected = parse_expected(&args.expected_revision)?;
    let id = match &args.id {
        Some(id) => uuid::Uuid::parse_str(id).with_context(|| format!("--id `{id}` is not a UUID"))?,
        None => uuid::Uuid::new_v4(),
    };
    let event = ProposedEvent {
        id,
        event_type: args.event_type.clone(),
        is_json: true,
        data: Bytes::from(args.data.clone()),
        metadata: Bytes::from(args.metadata.clone().unwrap_or_default()),
    };
    block_on(async move {
        let client = args.server.connect().await?;
        let written = client.append(&args.stream, expected, vec![event]).await?;
        let answer = serde_json::json!({
            "stream": args.stream,
            "id": id.hyphenated().to_string(),
            "revision": written.next_expected,
            "position": written.position,
        });
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{answer}").context("writing the answer")?;
        Ok(())
    })
}

/// Refuses text that is not one JSON document, naming the option.
pub fn check_json(option: &str, text: &str) -> anyhow::Result<()> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .with_context(|| format!("{option} is not valid JSON"))
}

#[cfg(test)]
mod tests {
    use eventfold_client::Expected;

    use super::*;

    #[test]
    fn expected_revisions_parse_from_words_and_numbers() {
        assert_eq!(parse_expected("7").ok(), Some(Expected::Revision(7)));
        assert_eq!(parse_expected("no-stream").ok(), Some(Expected::NoStream));
        assert!(parse_expected("-1").is_err());
        assert!(check_json("--data", "{\"a\":").is_err());
        assert!(check_json("--data", "{\"a\":1}").is_ok());
    }
}
