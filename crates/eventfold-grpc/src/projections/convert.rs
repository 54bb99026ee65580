//! Between projection values and the protocol's messages.

use eventfold_projections::ProjectionStatistics;
use eventfold_proto::event_store::client::projections::statistics_resp::Details;
use prost_types::value::Kind;
use prost_types::{ListValue, Struct, Value};

/// A state or result (JSON text) as `google.protobuf.Value`. Nothing yet is
/// `{}`, as KurrentDB answers for a partition without state; text that is
/// not JSON is passed as a string.
pub fn json_value(text: Option<&str>) -> Value {
    let Some(text) = text.filter(|text| !text.is_empty()) else {
        return Value { kind: Some(Kind::StructValue(Struct::default())) };
    };
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => to_value(value),
        Err(_) => Value { kind: Some(Kind::StringValue(text.to_owned())) },
    }
}

fn to_value(value: serde_json::Value) -> Value {
    let kind = match value {
        serde_json::Value::Null => Kind::NullValue(0),
        serde_json::Value::Bool(flag) => Kind::BoolValue(flag),
        serde_json::Value::Number(number) => Kind::NumberValue(number.as_f64().unwrap_or_default()),
        serde_json::Value::String(text) => Kind::StringValue(text),
        serde_json::Value::Array(items) => {
            Kind::ListValue(ListValue { values: items.into_iter().map(to_value).collect() })
        }
        serde_json::Value::Object(fields) => Kind::StructValue(Struct {
            fields: fields.into_iter().map(|(key, value)| (key, to_value(value))).collect(),
        }),
    };
    Value { kind: Some(kind) }
}

pub fn details(statistics: ProjectionStatistics) -> Details {
    Details {
        core_processing_time: statistics.core_processing_time_ms,
        version: statistics.version,
        epoch: statistics.epoch,
        effective_name: statistics.name.clone(),
        writes_in_progress: statistics.writes_in_progress,
        reads_in_progress: 0,
        partitions_cached: statistics.partitions_cached,
        status: statistics.status,
        state_reason: statistics.state_reason,
        name: statistics.name,
        mode: statistics.mode.as_str().to_owned(),
        position: statistics.position,
        progress: statistics.progress,
        last_checkpoint: statistics.last_checkpoint,
        events_processed_after_restart: statistics.events_processed_after_restart,
        checkpoint_status: statistics.checkpoint_status,
        buffered_events: statistics.buffered_events,
        write_pending_events_before_checkpoint: 0,
        write_pending_events_after_checkpoint: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_doubles_and_nothing_is_an_empty_object() {
        let value = json_value(Some(r#"{"count":3,"tags":["a"]}"#));
        let Some(Kind::StructValue(fields)) = value.kind else { panic!("not a struct") };
        assert_eq!(fields.fields["count"].kind, Some(Kind::NumberValue(3.0)));
        assert_eq!(json_value(None).kind, Some(Kind::StructValue(Struct::default())));
    }
}
