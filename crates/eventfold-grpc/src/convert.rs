//! Protocol messages ↔ domain types. Every client-controlled value is
//! checked here and refused with `INVALID_ARGUMENT` and a clear message.

use std::collections::HashMap;

use eventfold_proto::event_store::client as proto;
use eventfold_store::{ContentType, EventId, ExpectedRevision, ProposedEvent, RecordedEvent, StreamName};
use tonic::Status;
use uuid::Uuid;

pub fn uuid_from_proto(uuid: Option<&proto::Uuid>) -> Result<Uuid, Status> {
    match uuid.and_then(|uuid| uuid.value.as_ref()) {
        Some(proto::uuid::Value::String(text)) => {
            Uuid::parse_str(text).map_err(|error| Status::invalid_argument(format!("invalid UUID `{text}`: {error}")))
        }
        Some(proto::uuid::Value::Structured(structured)) => {
            let most = u128::from(structured.most_significant_bits as u64);
            let least = u128::from(structured.least_significant_bits as u64);
            Ok(Uuid::from_u128((most << 64) | least))
        }
        None => Err(Status::invalid_argument("missing UUID")),
    }
}

pub fn uuid_to_proto(uuid: Uuid, structured: bool) -> proto::Uuid {
    let value = if structured {
        let bits = uuid.as_u128();
        proto::uuid::Value::Structured(proto::uuid::Structured {
            most_significant_bits: (bits >> 64) as u64 as i64,
            least_significant_bits: bits as u64 as i64,
        })
    } else {
        proto::uuid::Value::String(uuid.hyphenated().to_string())
    };
    proto::Uuid { value: Some(value) }
}

pub fn stream_name(identifier: Option<&proto::StreamIdentifier>) -> Result<StreamName, Status> {
    let identifier = identifier.ok_or_else(|| Status::invalid_argument("missing stream identifier"))?;
    let text = std::str::from_utf8(&identifier.stream_name)
        .map_err(|_| Status::invalid_argument("stream name is not valid UTF-8"))?;
    StreamName::new(text).map_err(|error| Status::invalid_argument(format!("invalid stream name: {error}")))
}

pub fn stream_identifier(stream: &StreamName) -> proto::StreamIdentifier {
    proto::StreamIdentifier { stream_name: stream.as_str().as_bytes().to_vec().into() }
}

/// An event from the client's `metadata` map (`type`, `content-type`) and
/// byte fields.
pub fn proposed_event(
    id: Option<&proto::Uuid>,
    metadata: &HashMap<String, String>,
    custom_metadata: bytes::Bytes,
    data: bytes::Bytes,
) -> Result<ProposedEvent, Status> {
    let id = EventId(uuid_from_proto(id)?);
    let event_type = metadata
        .get("type")
        .filter(|event_type| !event_type.is_empty())
        .ok_or_else(|| Status::invalid_argument("event has no `type` in its metadata"))?
        .clone();
    let content_type = match metadata.get("content-type").map(String::as_str) {
        Some("application/json") => ContentType::Json,
        _ => ContentType::Binary,
    };
    Ok(ProposedEvent { id, event_type, content_type, data, metadata: custom_metadata })
}

/// The `metadata` map every recorded event carries, as clients expect it.
pub fn recorded_metadata(event: &RecordedEvent) -> HashMap<String, String> {
    HashMap::from([
        ("type".to_owned(), event.event_type.clone()),
        ("content-type".to_owned(), event.content_type.mime().to_owned()),
        ("created".to_owned(), event.created.ticks().to_string()),
    ])
}

pub fn expected_revision<T>(
    revision: Option<T>,
    name: impl FnOnce(T) -> ExpectedKind,
) -> Result<ExpectedRevision, Status> {
    match revision.map(name) {
        Some(ExpectedKind::Exact(revision)) => Ok(ExpectedRevision::Exact(revision)),
        Some(ExpectedKind::NoStream) => Ok(ExpectedRevision::NoStream),
        Some(ExpectedKind::Any) => Ok(ExpectedRevision::Any),
        Some(ExpectedKind::StreamExists) => Ok(ExpectedRevision::StreamExists),
        None => Err(Status::invalid_argument("missing expected stream revision")),
    }
}

/// The four expectation shapes every request type spells with its own oneof.
pub enum ExpectedKind {
    Exact(u64),
    NoStream,
    Any,
    StreamExists,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_and_string_uuids_are_the_same_id() {
        let id = Uuid::new_v4();
        let structured = uuid_to_proto(id, true);
        let text = uuid_to_proto(id, false);
        assert_eq!(uuid_from_proto(Some(&structured)).ok(), Some(id));
        assert_eq!(uuid_from_proto(Some(&text)).ok(), Some(id));
        let bad = proto::Uuid { value: Some(proto::uuid::Value::String("not-a-uuid".into())) };
        assert_eq!(uuid_from_proto(Some(&bad)).map_err(|status| status.code()), Err(tonic::Code::InvalidArgument));
    }
}
