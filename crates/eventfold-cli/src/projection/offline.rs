//! `eventfold projection test QUERY --events EVENTS.jsonl`: the query runs
//! through the same processor as on the server, over the events of a file
//! (one JSON object a line: `stream`, `type`, `data`, optional `metadata`),
//! with emitting allowed. Prints, as JSON lines, every effect in order, then
//! every partition's state and result.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use eventfold_projections::Processor;
use eventfold_projections::runtime::{Effect, RuntimeLimits, compile};
use eventfold_store::{ContentType, EventId, Position, RecordedEvent, StreamName, Timestamp};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct TestArgs {
    /// The query's JavaScript file.
    query: PathBuf,
    /// The events, one JSON object a line.
    #[arg(long)]
    events: PathBuf,
}

pub fn run(args: TestArgs) -> anyhow::Result<()> {
    let query = std::fs::read_to_string(&args.query).with_context(|| format!("reading {}", args.query.display()))?;
    let lines = std::fs::read_to_string(&args.events).with_context(|| format!("reading {}", args.events.display()))?;
    let events = parse_events(&lines)?;
    let runtime = compile(&query, RuntimeLimits::default()).map_err(|error| anyhow::anyhow!("{error}"))?;
    let mut processor = Processor::new(runtime);
    processor.runtime().set_emit_enabled(true).map_err(|error| anyhow::anyhow!("{error}"))?;
    let mut partitions = BTreeMap::new();
    for event in &events {
        let batch = processor
            .process(std::slice::from_ref(event))
            .map_err(|error| anyhow::anyhow!("faulted at {}@{}: {error}", event.revision, event.stream))?;
        for effect in batch.changes.effects {
            println!("{}", effect_line(&effect));
        }
        for change in batch.changes.partitions {
            partitions.insert(change.partition.clone(), change);
        }
    }
    for (partition, change) in partitions {
        let parse = |text: &Option<String>| text.as_deref().and_then(|text| serde_json::from_str::<Value>(text).ok());
        println!(
            "{}",
            json!({ "partition": partition, "state": parse(&change.state), "result": parse(&change.result) })
        );
    }
    Ok(())
}

fn parse_events(lines: &str) -> anyhow::Result<Vec<RecordedEvent>> {
    let mut revisions: BTreeMap<String, u64> = BTreeMap::new();
    let mut events = Vec::new();
    for (index, line) in lines.lines().enumerate().filter(|(_, line)| !line.trim().is_empty()) {
        let number = index + 1;
        let value: Value = serde_json::from_str(line).with_context(|| format!("line {number} is not JSON"))?;
        let (Some(stream), Some(event_type)) = (value["stream"].as_str(), value["type"].as_str()) else {
            bail!("line {number} needs a `stream` and a `type`");
        };
        let stream = StreamName::new(stream).with_context(|| format!("line {number}: stream name"))?;
        let revision = revisions.entry(stream.as_str().to_owned()).or_insert(0);
        let metadata =
            if value["metadata"].is_null() { Vec::new() } else { value["metadata"].to_string().into_bytes() };
        events.push(RecordedEvent {
            stream,
            revision: *revision,
            position: Position(number as u64),
            id: EventId::random(),
            event_type: event_type.to_owned(),
            content_type: ContentType::Json,
            created: Timestamp::now(),
            data: value["data"].to_string().into_bytes().into(),
            metadata: metadata.into(),
        });
        *revision += 1;
    }
    Ok(events)
}

fn effect_line(effect: &Effect) -> Value {
    let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()));
    match effect {
        Effect::Emit { stream, event_type, data, .. } => {
            json!({ "emit": { "stream": stream, "type": event_type, "data": parse(data) } })
        }
        Effect::Link { stream, target, .. } => json!({ "linkTo": { "stream": stream, "target": target } }),
        Effect::LinkStream { stream, target, .. } => json!({ "linkStreamTo": { "stream": stream, "target": target } }),
        Effect::Log(message) => json!({ "log": message }),
    }
}
