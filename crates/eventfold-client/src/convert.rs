//! Protocol message pieces both ways.

use eventfold_proto::event_store::client::streams::read_resp;
use eventfold_proto::event_store::client::{Empty, StreamIdentifier, Uuid as ProtoUuid, uuid as proto_uuid};
use uuid::Uuid;

use crate::{ClientError, RecordedEvent};

pub(crate) fn identifier(stream: &str) -> StreamIdentifier {
    StreamIdentifier { stream_name: stream.as_bytes().to_vec().into() }
}

pub(crate) fn uuid_to_proto(id: Uuid) -> ProtoUuid {
    ProtoUuid { value: Some(proto_uuid::Value::String(id.hyphenated().to_string())) }
}

pub(crate) fn uuid_from_proto(id: Option<&ProtoUuid>) -> Result<Uuid, ClientError> {
    match id.and_then(|id| id.value.as_ref()) {
        Some(proto_uuid::Value::String(text)) => {
            Uuid::parse_str(text).map_err(|error| ClientError::Protocol(format!("event id `{text}`: {error}")))
        }
        Some(proto_uuid::Value::Structured(structured)) => {
            let most = u128::from(structured.most_significant_bits as u64);
            let least = u128::from(structured.least_significant_bits as u64);
            Ok(Uuid::from_u128((most << 64) | least))
        }
        None => Err(ClientError::Protocol("an event without an id".into())),
    }
}

pub(crate) fn empty() -> Empty {
    Empty {}
}

pub(crate) fn recorded(event: read_resp::read_event::RecordedEvent) -> Result<RecordedEvent, ClientError> {
    let stream = String::from_utf8(event.stream_identifier.map(|id| id.stream_name.to_vec()).unwrap_or_default())
        .map_err(|_| ClientError::Protocol("a stream name that is not UTF-8".into()))?;
    let id = uuid_from_proto(event.id.as_ref())?;
    let event_type = event.metadata.get("type").cloned().unwrap_or_default();
    let is_json = event.metadata.get("content-type").is_some_and(|value| value == "application/json");
    let created_ticks = event.metadata.get("created").and_then(|value| value.parse::<i64>().ok());
    Ok(RecordedEvent {
        stream,
        revision: event.stream_revision,
        position: Some(event.commit_position),
        id,
        event_type,
        is_json,
        created_ticks,
        data: event.data,
        metadata: event.custom_metadata,
    })
}
