//! The relational view of the log: every event is one row of these
//! columns, whichever table (`events`, `category(...)`, `event_type(...)`,
//! `stream(...)`) it is read through.

use eventfold_store::{ContentType, RecordedEvent};

use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Stream,
    Revision,
    Position,
    EventType,
    EventId,
    Created,
    Data,
    Metadata,
    Category,
}

impl Column {
    /// In the order `SELECT *` returns them.
    pub const ALL: [Column; 9] = [
        Column::Stream,
        Column::Revision,
        Column::Position,
        Column::EventType,
        Column::EventId,
        Column::Created,
        Column::Data,
        Column::Metadata,
        Column::Category,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Column::Stream => "stream",
            Column::Revision => "revision",
            Column::Position => "position",
            Column::EventType => "event_type",
            Column::EventId => "event_id",
            Column::Created => "created",
            Column::Data => "data",
            Column::Metadata => "metadata",
            Column::Category => "category",
        }
    }

    /// Column names are matched without regard to case, as SQL does for
    /// unquoted names.
    pub fn named(name: &str) -> Option<Column> {
        Column::ALL.into_iter().find(|column| column.name().eq_ignore_ascii_case(name))
    }

    /// The column's value for `event`. `data` is the event's JSON text (`NULL`
    /// for a binary event), `metadata` its JSON text when it is JSON.
    pub fn value_of(self, event: &RecordedEvent) -> Value {
        match self {
            Column::Stream => Value::Text(event.stream.as_str().to_owned()),
            Column::Revision => Value::Int(i64::try_from(event.revision).unwrap_or(i64::MAX)),
            Column::Position => Value::Int(i64::try_from(event.position.0).unwrap_or(i64::MAX)),
            Column::EventType => Value::Text(event.event_type.clone()),
            Column::EventId => Value::Text(event.id.to_string()),
            Column::Created => Value::Timestamp(event.created.ticks()),
            Column::Data => match event.content_type {
                ContentType::Json => json_text(&event.data),
                ContentType::Binary => Value::Null,
            },
            Column::Metadata => json_text(&event.metadata),
            Column::Category => Value::Text(event.stream.category().to_owned()),
        }
    }
}

/// The bytes as text when they are a JSON document, else `NULL`.
fn json_text(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.trim().is_empty() && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() => {
            Value::Text(text.to_owned())
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{EventId, Position, StreamName, Timestamp};

    use super::*;

    fn event(content_type: ContentType, data: &'static str, metadata: &'static str) -> RecordedEvent {
        RecordedEvent {
            stream: StreamName::new("order-17").expect("name"),
            revision: 4,
            position: Position(4096),
            id: EventId::random(),
            event_type: "OrderPlaced".into(),
            content_type,
            created: Timestamp(1234),
            data: Bytes::from_static(data.as_bytes()),
            metadata: Bytes::from_static(metadata.as_bytes()),
        }
    }

    #[test]
    fn every_column_maps_from_the_recorded_event() {
        let event = event(ContentType::Json, r#"{"total":3}"#, r#"{"user":"u"}"#);
        let values: Vec<Value> = Column::ALL.iter().map(|column| column.value_of(&event)).collect();
        assert_eq!(
            values,
            vec![
                Value::Text("order-17".into()),
                Value::Int(4),
                Value::Int(4096),
                Value::Text("OrderPlaced".into()),
                Value::Text(event.id.to_string()),
                Value::Timestamp(1234),
                Value::Text(r#"{"total":3}"#.into()),
                Value::Text(r#"{"user":"u"}"#.into()),
                Value::Text("order".into()),
            ]
        );
    }

    #[test]
    fn binary_data_and_metadata_that_is_not_json_read_as_null() {
        let event = event(ContentType::Binary, "\u{1}\u{2}", "plain words");
        assert_eq!(Column::Data.value_of(&event), Value::Null);
        assert_eq!(Column::Metadata.value_of(&event), Value::Null);
        let empty = self::event(ContentType::Json, "{}", "");
        assert_eq!(Column::Metadata.value_of(&empty), Value::Null);
    }

    #[test]
    fn names_match_without_case() {
        assert_eq!(Column::named("EVENT_TYPE"), Some(Column::EventType));
        assert_eq!(Column::named("nope"), None);
    }
}
