//! The JSON documents this crate writes into the store: group definitions
//! (in the config stream) and checkpoints. Kept apart from the in-memory
//! types so that the stored form changes only on purpose.

use std::time::Duration;

use eventfold_store::{Position, StreamName};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::definition::{GroupDefinition, GroupSpec, Origin};
use crate::key::{GroupKey, Source};
use crate::settings::{ConsumerStrategy, FilterExpression, FilterSpec, FilterTarget, GroupSettings, StartFrom};

/// A stored document that cannot be turned back into a group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable persistent subscription record: {0}")]
pub struct RecordError(pub String);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyRecord {
    /// `None`: `$all`.
    pub stream: Option<String>,
    pub group: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) enum StartRecord {
    Start,
    End,
    Revision(u64),
    Position(u64),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) enum OriginRecord {
    Start,
    After(u64),
    AtOrAfter(u64),
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct FilterRecord {
    /// `stream_name` or `event_type`.
    pub target: String,
    pub prefixes: Vec<String>,
    pub regex: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct SettingsRecord {
    pub resolve_links: bool,
    pub extra_statistics: bool,
    pub message_timeout_ms: u64,
    pub max_retry_count: u32,
    pub live_buffer_size: u32,
    pub read_batch_size: u32,
    pub history_buffer_size: u32,
    pub checkpoint_after_ms: u64,
    pub min_checkpoint_count: u32,
    pub max_checkpoint_count: u32,
    pub max_subscriber_count: u32,
    pub consumer_strategy: String,
}

/// A group definition as stored in the config stream.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct DefinitionRecord {
    pub key: KeyRecord,
    pub incarnation: String,
    pub start_from: StartRecord,
    pub origin: OriginRecord,
    pub filter: Option<FilterRecord>,
    pub settings: SettingsRecord,
}

/// Every group at once: lets a load skip the changes before it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct SnapshotRecord {
    pub groups: Vec<DefinitionRecord>,
}

/// A group's progress: everything up to and including `cursor` is done.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckpointRecord {
    pub incarnation: String,
    pub cursor: u64,
}

/// Why an event was parked, in the parked link's metadata.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParkedRecord {
    pub reason: String,
    pub retry_count: u32,
}

impl From<&GroupKey> for KeyRecord {
    fn from(key: &GroupKey) -> Self {
        let stream = match key.source() {
            Source::Stream(stream) => Some(stream.to_string()),
            Source::All => None,
        };
        Self { stream, group: key.group().to_owned() }
    }
}

impl TryFrom<&KeyRecord> for GroupKey {
    type Error = RecordError;
    fn try_from(record: &KeyRecord) -> Result<Self, RecordError> {
        let source = match &record.stream {
            Some(stream) => {
                Source::Stream(StreamName::new(stream).map_err(|error| RecordError(format!("stream name: {error}")))?)
            }
            None => Source::All,
        };
        GroupKey::new(source, record.group.clone()).map_err(|error| RecordError(format!("group name: {error}")))
    }
}

impl From<&GroupDefinition> for DefinitionRecord {
    fn from(definition: &GroupDefinition) -> Self {
        let spec = &definition.spec;
        let start_from = match spec.start_from {
            StartFrom::Start => StartRecord::Start,
            StartFrom::End => StartRecord::End,
            StartFrom::Revision(revision) => StartRecord::Revision(revision),
            StartFrom::Position(position) => StartRecord::Position(position.0),
        };
        let origin = match definition.origin {
            Origin::Start => OriginRecord::Start,
            Origin::After(cursor) => OriginRecord::After(cursor),
            Origin::AtOrAfter(cursor) => OriginRecord::AtOrAfter(cursor),
        };
        let filter = spec.filter.as_ref().map(|filter| {
            let target = match filter.target {
                FilterTarget::StreamName => "stream_name",
                FilterTarget::EventType => "event_type",
            };
            let (prefixes, regex) = match &filter.expression {
                FilterExpression::Prefixes(prefixes) => (prefixes.clone(), None),
                FilterExpression::Regex(regex) => (Vec::new(), Some(regex.clone())),
            };
            FilterRecord { target: target.to_owned(), prefixes, regex }
        });
        let settings = &spec.settings;
        Self {
            key: KeyRecord::from(&spec.key),
            incarnation: definition.incarnation.to_string(),
            start_from,
            origin,
            filter,
            settings: SettingsRecord {
                resolve_links: settings.resolve_links,
                extra_statistics: settings.extra_statistics,
                message_timeout_ms: millis(settings.message_timeout),
                max_retry_count: settings.max_retry_count,
                live_buffer_size: settings.live_buffer_size,
                read_batch_size: settings.read_batch_size,
                history_buffer_size: settings.history_buffer_size,
                checkpoint_after_ms: millis(settings.checkpoint_after),
                min_checkpoint_count: settings.min_checkpoint_count,
                max_checkpoint_count: settings.max_checkpoint_count,
                max_subscriber_count: settings.max_subscriber_count,
                consumer_strategy: settings.consumer_strategy.name().to_owned(),
            },
        }
    }
}

impl TryFrom<&DefinitionRecord> for GroupDefinition {
    type Error = RecordError;
    fn try_from(record: &DefinitionRecord) -> Result<Self, RecordError> {
        let key = GroupKey::try_from(&record.key)?;
        let incarnation = Uuid::parse_str(&record.incarnation)
            .map_err(|error| RecordError(format!("incarnation `{}`: {error}", record.incarnation)))?;
        let start_from = match record.start_from {
            StartRecord::Start => StartFrom::Start,
            StartRecord::End => StartFrom::End,
            StartRecord::Revision(revision) => StartFrom::Revision(revision),
            StartRecord::Position(position) => StartFrom::Position(Position(position)),
        };
        let origin = match record.origin {
            OriginRecord::Start => Origin::Start,
            OriginRecord::After(cursor) => Origin::After(cursor),
            OriginRecord::AtOrAfter(cursor) => Origin::AtOrAfter(cursor),
        };
        let filter = match &record.filter {
            None => None,
            Some(filter) => {
                let target = match filter.target.as_str() {
                    "stream_name" => FilterTarget::StreamName,
                    "event_type" => FilterTarget::EventType,
                    other => return Err(RecordError(format!("filter target `{other}`"))),
                };
                let expression = match &filter.regex {
                    Some(regex) => FilterExpression::Regex(regex.clone()),
                    None => FilterExpression::Prefixes(filter.prefixes.clone()),
                };
                Some(FilterSpec { target, expression })
            }
        };
        let stored = &record.settings;
        let consumer_strategy = ConsumerStrategy::from_name(&stored.consumer_strategy)
            .ok_or_else(|| RecordError(format!("consumer strategy `{}`", stored.consumer_strategy)))?;
        let settings = GroupSettings {
            resolve_links: stored.resolve_links,
            extra_statistics: stored.extra_statistics,
            message_timeout: Duration::from_millis(stored.message_timeout_ms),
            max_retry_count: stored.max_retry_count,
            live_buffer_size: stored.live_buffer_size,
            read_batch_size: stored.read_batch_size,
            history_buffer_size: stored.history_buffer_size,
            checkpoint_after: Duration::from_millis(stored.checkpoint_after_ms),
            min_checkpoint_count: stored.min_checkpoint_count,
            max_checkpoint_count: stored.max_checkpoint_count,
            max_subscriber_count: stored.max_subscriber_count,
            consumer_strategy,
        };
        Ok(GroupDefinition { spec: GroupSpec { key, start_from, filter, settings }, origin, incarnation })
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_survive_the_round_trip_through_json() {
        let key = GroupKey::new(Source::All, "g").expect("valid key");
        let definition = GroupDefinition {
            spec: GroupSpec {
                key,
                start_from: StartFrom::Position(Position(4096)),
                filter: Some(FilterSpec {
                    target: FilterTarget::EventType,
                    expression: FilterExpression::Regex(r"^(?!\$).*".into()),
                }),
                settings: GroupSettings {
                    consumer_strategy: ConsumerStrategy::PinnedByCorrelation,
                    message_timeout: Duration::from_millis(1500),
                    ..GroupSettings::default()
                },
            },
            origin: Origin::AtOrAfter(4096),
            incarnation: Uuid::new_v4(),
        };
        let json = serde_json::to_vec(&DefinitionRecord::from(&definition)).expect("serialise");
        let record: DefinitionRecord = serde_json::from_slice(&json).expect("deserialise");
        assert_eq!(GroupDefinition::try_from(&record), Ok(definition));
    }

    #[test]
    fn a_damaged_record_is_an_error_not_a_panic() {
        let key = GroupKey::new(Source::All, "g").expect("valid key");
        let definition = GroupDefinition {
            spec: GroupSpec { key, start_from: StartFrom::Start, filter: None, settings: GroupSettings::default() },
            origin: Origin::Start,
            incarnation: Uuid::new_v4(),
        };
        let mut record = DefinitionRecord::from(&definition);
        record.settings.consumer_strategy = "Random".into();
        assert!(GroupDefinition::try_from(&record).is_err());
        record.settings.consumer_strategy = "RoundRobin".into();
        record.key.group = String::new();
        assert!(GroupDefinition::try_from(&record).is_err());
    }
}
