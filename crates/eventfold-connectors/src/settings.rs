//! A connector's settings, as KurrentDB spells them: one flat map of
//! `section:key` names to values (`instanceTypeName`, `url`,
//! `subscription:filter:expression`, ...). Nested JSON objects are accepted
//! and flattened with `:`; every value is kept as text, as KurrentDB does.
//!
//! [`ConnectorSettings::parse`] reads the parts every connector has (source,
//! filter, batching, retries, checkpoints); the sink's own keys are read by
//! the sink (`sink::SinkSettings`).

use std::collections::BTreeMap;
use std::time::Duration;

use eventfold_store::{EventFilter, StreamName};

use crate::batch::BatchLimits;
use crate::error::InvalidSettings;
use crate::json_filter::JsonFilter;
use crate::retry::RetryPolicy;
use crate::sink::SinkSettings;
use crate::transform::TransformSettings;

/// The raw settings: what was given, kept as given (stored, returned by
/// `GET /connectors/{id}`).
pub type RawSettings = BTreeMap<String, String>;

/// Where a connector reads from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    All,
    Stream(StreamName),
}

/// Where a connector without a checkpoint starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialPosition {
    Earliest,
    Latest,
}

/// How often an at-least-once connector records its checkpoint: after this
/// many delivered events or this much time, whichever comes first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckpointPolicy {
    pub every_events: u64,
    pub every: Duration,
}

#[derive(Clone, Debug)]
pub struct ConnectorSettings {
    pub source: Source,
    pub filter: Option<EventFilter>,
    /// A filter on the event's JSON data, applied after `filter`.
    pub json_filter: Option<JsonFilter>,
    /// The JavaScript run on each delivered event before the sink.
    pub transform: Option<TransformSettings>,
    pub initial: InitialPosition,
    pub batch: BatchLimits,
    pub retry: RetryPolicy,
    pub checkpoint: CheckpointPolicy,
    pub sink: SinkSettings,
}

/// Turns a JSON settings object into the flat map: nested objects become
/// `outer:inner` keys, scalars become text, `null` drops the key.
pub fn flatten(settings: &serde_json::Map<String, serde_json::Value>) -> Result<RawSettings, InvalidSettings> {
    let mut flat = RawSettings::new();
    flatten_into(&mut flat, "", settings)?;
    Ok(flat)
}

fn flatten_into(
    flat: &mut RawSettings,
    prefix: &str,
    object: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), InvalidSettings> {
    for (key, value) in object {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}:{key}") };
        match value {
            serde_json::Value::Null => {}
            serde_json::Value::String(text) => {
                flat.insert(name, text.clone());
            }
            serde_json::Value::Bool(flag) => {
                flat.insert(name, flag.to_string());
            }
            serde_json::Value::Number(number) => {
                flat.insert(name, number.to_string());
            }
            serde_json::Value::Object(inner) => flatten_into(flat, &name, inner)?,
            serde_json::Value::Array(_) => {
                return Err(InvalidSettings::new(&name, "lists are not a setting value; use text"));
            }
        }
    }
    Ok(())
}

impl ConnectorSettings {
    /// Whether `event` goes to the sink: not a system event, and through
    /// both filters.
    pub fn delivers(&self, event: &eventfold_store::RecordedEvent) -> bool {
        !crate::filter::is_system(event)
            && self.filter.as_ref().is_none_or(|filter| filter.matches(event))
            && self.json_filter.as_ref().is_none_or(|filter| filter.matches(event))
    }

    pub fn parse(raw: &RawSettings) -> Result<Self, InvalidSettings> {
        let reader = Reader(raw);
        let (source, filter) = crate::filter::from_settings(&reader)?;
        let json_filter = crate::filter::json_filter_from_settings(&reader)?;
        let initial = match reader.text("subscription:initialPosition").unwrap_or("earliest") {
            "earliest" => InitialPosition::Earliest,
            "latest" => InitialPosition::Latest,
            other => {
                return Err(InvalidSettings::new(
                    "subscription:initialPosition",
                    &format!("`{other}` is neither `earliest` nor `latest`"),
                ));
            }
        };
        let batch = BatchLimits {
            max_events: reader.number("batching:batchSize", 1..=100_000, 500)? as usize,
            max_bytes: reader.number("batching:maxBytes", 1..=64 * 1024 * 1024, 1024 * 1024)? as usize,
            max_wait: Duration::from_millis(reader.number("batching:batchTimeoutMs", 0..=60_000, 100)?),
        };
        let retry = RetryPolicy {
            max_retries: reader.number("resilience:maxRetries", 0..=1_000_000, 10)? as u32,
            first_delay: Duration::from_millis(reader.number("resilience:firstDelayMs", 1..=600_000, 100)?),
            max_delay: Duration::from_millis(reader.number("resilience:maxDelayMs", 1..=3_600_000, 10_000)?),
        };
        let checkpoint = CheckpointPolicy {
            every_events: reader.number("autocommit:recordsThreshold", 1..=10_000_000, 1000)?,
            every: Duration::from_millis(reader.number("autocommit:interval", 1..=3_600_000, 1000)?),
        };
        if retry.max_delay < retry.first_delay {
            return Err(InvalidSettings::new("resilience:maxDelayMs", "is below resilience:firstDelayMs"));
        }
        let sink = SinkSettings::parse(&reader)?;
        let transform = TransformSettings::from_settings(&reader)?;
        Ok(Self { source, filter, json_filter, transform, initial, batch, retry, checkpoint, sink })
    }
}

/// Typed reads of the flat map, each naming the key in its error.
pub(crate) struct Reader<'a>(pub &'a RawSettings);

impl Reader<'_> {
    pub fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn required(&self, key: &str) -> Result<&str, InvalidSettings> {
        match self.text(key) {
            Some(value) if !value.trim().is_empty() => Ok(value),
            _ => Err(InvalidSettings::new(key, "is required")),
        }
    }

    pub fn number(
        &self,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        default: u64,
    ) -> Result<u64, InvalidSettings> {
        let Some(text) = self.text(key) else { return Ok(default) };
        let value: u64 =
            text.trim().parse().map_err(|_| InvalidSettings::new(key, &format!("`{text}` is not a whole number")))?;
        if !range.contains(&value) {
            let reason = format!("{value} is outside {}..={}", range.start(), range.end());
            return Err(InvalidSettings::new(key, &reason));
        }
        Ok(value)
    }

    /// Every key under `prefix:` with the prefix cut off.
    pub fn section<'b>(&'b self, prefix: &'b str) -> impl Iterator<Item = (&'b str, &'b str)> + 'b {
        self.0.iter().filter_map(move |(key, value)| {
            let rest = key.strip_prefix(prefix)?.strip_prefix(':')?;
            Some((rest, value.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::raw;

    #[test]
    fn nested_objects_flatten_to_colon_keys() {
        let json = serde_json::json!({
            "instanceTypeName": "http-sink",
            "subscription": { "filter": { "scope": "stream" } },
            "batching:batchSize": 10,
            "resilience": { "enabled": true },
            "gone": null,
        });
        let flat = flatten(json.as_object().expect("object")).expect("flattens");
        assert_eq!(flat.get("subscription:filter:scope").map(String::as_str), Some("stream"));
        assert_eq!(flat.get("batching:batchSize").map(String::as_str), Some("10"));
        assert_eq!(flat.get("resilience:enabled").map(String::as_str), Some("true"));
        assert!(!flat.contains_key("gone"));
        let listed = serde_json::json!({ "url": ["a"] });
        assert!(flatten(listed.as_object().expect("object")).is_err());
    }

    #[test]
    fn defaults_apply_and_bad_numbers_name_their_key() {
        let settings =
            ConnectorSettings::parse(&raw(&[("instanceTypeName", "http-sink"), ("url", "http://127.0.0.1:9/x")]))
                .expect("valid");
        assert_eq!(settings.batch.max_events, 500);
        assert_eq!(settings.retry.max_retries, 10);
        assert_eq!(settings.initial, InitialPosition::Earliest);
        assert_eq!(settings.source, Source::All);

        let error = ConnectorSettings::parse(&raw(&[
            ("instanceTypeName", "http-sink"),
            ("url", "http://127.0.0.1:9/x"),
            ("batching:batchSize", "lots"),
        ]))
        .expect_err("not a number");
        assert!(error.to_string().contains("batching:batchSize"), "{error}");

        let error =
            ConnectorSettings::parse(&raw(&[("instanceTypeName", "carrier-pigeon-sink")])).expect_err("unknown sink");
        assert!(error.to_string().contains("instanceTypeName"), "{error}");
    }
}
