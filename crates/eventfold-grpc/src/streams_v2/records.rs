//! The second protocol's records and expectations → the store's types.
//! Every client-controlled value is checked here and refused with
//! `INVALID_ARGUMENT` and a clear message.

use bytes::Bytes;
use eventfold_proto::kurrentdb::protocol::v2::streams::{AppendRecord, SchemaFormat};
use eventfold_store::{ContentType, EventId, ExpectedRevision, ProposedEvent};
use prost_types::value::Kind;
use tonic::Status;
use uuid::Uuid;

/// A record as an event: its schema name is the event type, a JSON schema
/// format makes it a JSON event (any other format, binary), and its
/// properties become the event's metadata as one JSON object (none: empty
/// metadata). A record without an id gets a fresh one.
pub fn proposed_event(record: AppendRecord) -> Result<ProposedEvent, Status> {
    let id = match record.record_id.as_deref() {
        None | Some("") => EventId::random(),
        Some(text) => EventId(
            Uuid::parse_str(text)
                .map_err(|error| Status::invalid_argument(format!("invalid record id `{text}`: {error}")))?,
        ),
    };
    let schema = record.schema.ok_or_else(|| Status::invalid_argument("a record has no schema (its event type)"))?;
    if schema.name.is_empty() {
        return Err(Status::invalid_argument("a record's schema has no name (its event type)"));
    }
    let content_type = match SchemaFormat::try_from(schema.format) {
        Ok(SchemaFormat::Json) => ContentType::Json,
        _ => ContentType::Binary,
    };
    let metadata = if record.properties.is_empty() {
        Bytes::new()
    } else {
        Bytes::from(serde_json::Value::Object(json_object(record.properties)?).to_string())
    };
    Ok(ProposedEvent { id, event_type: schema.name, content_type, data: record.data, metadata })
}

fn json_object(
    fields: impl IntoIterator<Item = (String, prost_types::Value)>,
) -> Result<serde_json::Map<String, serde_json::Value>, Status> {
    fields.into_iter().map(|(key, value)| json_value(value).map(|value| (key, value))).collect()
}

fn json_value(value: prost_types::Value) -> Result<serde_json::Value, Status> {
    Ok(match value.kind {
        None | Some(Kind::NullValue(_)) => serde_json::Value::Null,
        Some(Kind::BoolValue(flag)) => serde_json::Value::Bool(flag),
        Some(Kind::StringValue(text)) => serde_json::Value::String(text),
        Some(Kind::NumberValue(number)) => serde_json::Number::from_f64(number)
            .map(serde_json::Value::Number)
            .ok_or_else(|| Status::invalid_argument(format!("a record property is {number}, not a JSON number")))?,
        Some(Kind::StructValue(object)) => serde_json::Value::Object(json_object(object.fields)?),
        Some(Kind::ListValue(list)) => {
            serde_json::Value::Array(list.values.into_iter().map(json_value).collect::<Result<_, _>>()?)
        }
    })
}

/// The protocol's expected revision, numbered as KurrentDB numbers
/// expected versions (-1 no stream, -2 any, -4 the stream exists, or a
/// revision); absent means any.
pub fn expected_revision(revision: Option<i64>) -> Result<ExpectedRevision, Status> {
    match revision {
        None => Ok(ExpectedRevision::Any),
        Some(number) => {
            ExpectedRevision::from_event_number(number).map_err(|error| Status::invalid_argument(error.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use eventfold_proto::kurrentdb::protocol::v2::streams::SchemaInfo;

    use super::*;

    fn record(format: SchemaFormat, name: &str) -> AppendRecord {
        AppendRecord {
            record_id: None,
            properties: HashMap::new(),
            schema: Some(SchemaInfo { format: format as i32, name: name.into(), id: None }),
            data: Bytes::from_static(b"{}"),
            stream: String::new(),
        }
    }

    #[test]
    fn properties_become_a_json_object_of_metadata_and_the_schema_the_type() {
        let mut json = record(SchemaFormat::Json, "Placed");
        let id = Uuid::new_v4();
        json.record_id = Some(id.to_string());
        json.properties.insert("source".into(), prost_types::Value { kind: Some(Kind::StringValue("web".into())) });
        json.properties.insert("attempt".into(), prost_types::Value { kind: Some(Kind::NumberValue(2.0)) });
        let event = proposed_event(json).expect("converts");
        assert_eq!(event.id, EventId(id));
        assert_eq!(event.event_type, "Placed");
        assert_eq!(event.content_type, ContentType::Json);
        let metadata: serde_json::Value = serde_json::from_slice(&event.metadata).expect("JSON");
        assert_eq!(metadata, serde_json::json!({"source": "web", "attempt": 2.0}));

        let bytes = proposed_event(record(SchemaFormat::Bytes, "Blob")).expect("converts");
        assert_eq!(bytes.content_type, ContentType::Binary);
        assert!(bytes.metadata.is_empty(), "no properties, no metadata");
    }

    #[test]
    fn bad_records_and_expectations_are_refused() {
        let invalid = |result: Result<ProposedEvent, Status>| result.map(|_| ()).map_err(|status| status.code());
        assert_eq!(invalid(proposed_event(record(SchemaFormat::Json, ""))), Err(tonic::Code::InvalidArgument));
        let mut no_schema = record(SchemaFormat::Json, "T");
        no_schema.schema = None;
        assert_eq!(invalid(proposed_event(no_schema)), Err(tonic::Code::InvalidArgument));
        let mut bad_id = record(SchemaFormat::Json, "T");
        bad_id.record_id = Some("not-a-uuid".into());
        assert_eq!(invalid(proposed_event(bad_id)), Err(tonic::Code::InvalidArgument));
        let mut not_a_number = record(SchemaFormat::Json, "T");
        not_a_number.properties.insert("x".into(), prost_types::Value { kind: Some(Kind::NumberValue(f64::NAN)) });
        assert_eq!(invalid(proposed_event(not_a_number)), Err(tonic::Code::InvalidArgument));

        assert_eq!(expected_revision(None).ok(), Some(ExpectedRevision::Any));
        assert_eq!(expected_revision(Some(-1)).ok(), Some(ExpectedRevision::NoStream));
        assert_eq!(expected_revision(Some(-4)).ok(), Some(ExpectedRevision::StreamExists));
        assert_eq!(expected_revision(Some(7)).ok(), Some(ExpectedRevision::Exact(7)));
        assert_eq!(expected_revision(Some(-3)).map_err(|status| status.code()), Err(tonic::Code::InvalidArgument));
    }
}
