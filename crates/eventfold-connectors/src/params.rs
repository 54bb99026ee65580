//! Parameters of the PostgreSQL sink's statements, taken from each event:
//! `stream`, `revision`, `position`, `event_id`, `event_type`, `created`
//! (Unix milliseconds), `data`, `metadata`, or a JSON pointer into the
//! event's data (`/orderId`, `/lines/0/sku`). A pointer that finds nothing
//! binds NULL.

use eventfold_store::RecordedEvent;
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ParamSource {
    Stream,
    Revision,
    Position,
    EventId,
    EventType,
    Created,
    Data,
    Metadata,
    DataPointer(String),
}

impl ParamSource {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        Ok(match text {
            "stream" => Self::Stream,
            "revision" => Self::Revision,
            "position" => Self::Position,
            "event_id" => Self::EventId,
            "event_type" => Self::EventType,
            "created" => Self::Created,
            "data" => Self::Data,
            "metadata" => Self::Metadata,
            pointer if pointer.starts_with('/') => Self::DataPointer(pointer.to_owned()),
            other => {
                return Err(format!(
                    "`{other}` is not a JSON pointer (`/field`) nor one of stream, revision, position, event_id, \
                     event_type, created, data, metadata"
                ));
            }
        })
    }

    /// A comma-separated list, in `$1, $2, ...` order.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        text.split(',').map(Self::parse).collect()
    }

    /// The value this source takes from `event`, as JSON; an event whose
    /// data is not JSON has no fields (NULL) and binds `data` as NULL.
    pub fn extract(&self, event: &RecordedEvent, data: Option<&Value>) -> Value {
        match self {
            Self::Stream => Value::from(event.stream.as_str()),
            Self::Revision => Value::from(event.revision),
            Self::Position => Value::from(event.position.0),
            Self::EventId => Value::from(event.id.to_string()),
            Self::EventType => Value::from(event.event_type.as_str()),
            Self::Created => Value::from(event.created.unix_millis()),
            Self::Data => data.cloned().unwrap_or(Value::Null),
            Self::Metadata => serde_json::from_slice(&event.metadata).unwrap_or(Value::Null),
            Self::DataPointer(pointer) => data.and_then(|data| data.pointer(pointer)).cloned().unwrap_or(Value::Null),
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{ContentType, EventId, Position, StreamName, Timestamp};

    use super::*;

    #[test]
    fn sources_parse_and_extract() {
        let sources = ParamSource::parse_list("/orderId, stream,revision,position,/lines/0/sku,/missing,metadata")
            .expect("valid list");
        let event = RecordedEvent {
            stream: StreamName::new("order-7").expect("valid"),
            revision: 4,
            position: Position(1234),
            id: EventId::random(),
            event_type: "Placed".into(),
            content_type: ContentType::Json,
            created: Timestamp(0),
            data: Bytes::from_static(br#"{"orderId":"o-7","lines":[{"sku":"A1"}]}"#),
            metadata: Bytes::from_static(br#"{"user":"u"}"#),
        };
        let data: Value = serde_json::from_slice(&event.data).expect("json");
        let values: Vec<Value> = sources.iter().map(|source| source.extract(&event, Some(&data))).collect();
        assert_eq!(
            values,
            [
                Value::from("o-7"),
                Value::from("order-7"),
                Value::from(4),
                Value::from(1234),
                Value::from("A1"),
                Value::Null,
                serde_json::json!({"user": "u"})
            ]
        );
        assert_eq!(ParamSource::DataPointer("/orderId".into()).extract(&event, None), Value::Null);
    }

    #[test]
    fn unknown_sources_are_refused() {
        assert!(ParamSource::parse_list("stream, orderId").expect_err("no slash").contains("orderId"));
        assert_eq!(ParamSource::parse_list(" ").expect("empty"), []);
    }
}
