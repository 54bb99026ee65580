//! What a query declares when it runs once at definition time: its sources,
//! how it partitions, which handlers it has and its options. The processor
//! reads only what this says.

use serde::{Deserialize, Serialize};

use crate::runtime::QueryError;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryDefinition {
    pub all_streams: bool,
    pub streams: Vec<String>,
    pub categories: Vec<String>,
    pub foreach_stream: bool,
    pub partitioned: bool,
    /// Whether `when` was called; without it the state is the last event's
    /// body.
    pub when: bool,
    pub handlers: Handlers,
    pub options: QueryOptions,
    pub output_state: bool,
    pub transform: bool,
    pub output_to: Option<OutputTo>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Handlers {
    pub types: Vec<String>,
    pub any: bool,
    pub created: bool,
    pub deleted: bool,
    pub init: bool,
    pub init_shared: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct QueryOptions {
    #[serde(rename = "$includeLinks")]
    pub include_links: Option<bool>,
    pub reorder_events: Option<bool>,
    pub processing_lag: Option<f64>,
    pub result_stream_name: Option<String>,
    pub bi_state: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTo {
    pub stream: String,
    pub pattern: Option<String>,
}

impl QueryDefinition {
    /// The checks KurrentDB makes when a projection starts, made here when
    /// it is created so that a bad query is refused instead of stored.
    pub fn validate(&self) -> Result<(), QueryError> {
        let has_streams = !self.streams.is_empty() || !self.categories.is_empty();
        if !self.all_streams && !has_streams {
            return Err(QueryError::NoSource);
        }
        if self.all_streams && has_streams {
            return Err(QueryError::Invalid("fromAll cannot be combined with streams or categories".into()));
        }
        if self.foreach_stream && !self.streams.is_empty() {
            return Err(QueryError::Invalid("foreachStream is not supported on stream sources".into()));
        }
        if self.handlers.deleted && !self.foreach_stream {
            return Err(QueryError::Invalid("$deleted is only supported with foreachStream".into()));
        }
        if self.options.reorder_events == Some(true) {
            if self.streams.len() < 2 {
                return Err(QueryError::Invalid(
                    "reorderEvents is only supported with fromStreams of several streams".into(),
                ));
            }
            if self.options.processing_lag.unwrap_or(500.0) < 50.0 {
                return Err(QueryError::Invalid("processingLag must be at least 50 ms with reorderEvents".into()));
            }
        }
        Ok(())
    }

    pub fn bi_state(&self) -> bool {
        self.options.bi_state == Some(true)
    }

    pub fn include_links(&self) -> bool {
        self.options.include_links == Some(true)
    }

    /// Whether an event of `stream` and `event_type` is read at all: its
    /// stream is a source and a handler (or `$any`) takes its type.
    pub fn selects(&self, stream: &str, event_type: &str) -> bool {
        let from_source = if self.all_streams {
            // fromAll leaves out the system's streams.
            !stream.starts_with('$')
        } else {
            self.streams.iter().any(|name| stream_source_selects(name, stream, event_type))
                || self.categories.iter().any(|category| category_of(stream) == category)
        };
        if !from_source {
            return false;
        }
        if !self.when || self.handlers.any || self.handlers.deleted {
            return true;
        }
        // Event-type handlers narrow what is read; `$created` alone sees all.
        self.handlers.created || self.handlers.types.iter().any(|handled| handled == event_type)
    }
}

/// Whether source stream `source` holds an event of `stream`: itself, or
/// the index streams `$ce-<category>` and `$et-<type>` read from the log.
fn stream_source_selects(source: &str, stream: &str, event_type: &str) -> bool {
    if let Some(category) = source.strip_prefix("$ce-") {
        return category_of(stream) == category;
    }
    if let Some(indexed_type) = source.strip_prefix("$et-") {
        return indexed_type == event_type;
    }
    source == stream
}

/// The category of a stream: the part before its first `-`.
pub fn category_of(stream: &str) -> &str {
    stream.split_once('-').map_or(stream, |(category, _)| category)
}
