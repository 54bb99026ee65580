//! The checks an append passes before any backend looks at stream state:
//! its size, no writes to virtual streams, event types that are valid and
//! not reserved, and metadata documents of the right shape.

use crate::stream_metadata::check_metadata;
use crate::virtual_streams::is_virtual_stream;
use crate::{AppendError, AppendRequest, METADATA_EVENT_TYPE, METADATA_STREAM_PREFIX, TOMBSTONE_EVENT_TYPE};

/// Longest event type accepted, in bytes (the log stores its length in 16 bits).
pub const EVENT_TYPE_MAX_BYTES: usize = u16::MAX as usize;

pub fn check_append(requests: &[AppendRequest], max_append_bytes: usize) -> Result<(), AppendError> {
    let size_bytes: usize = requests.iter().map(AppendRequest::size_bytes).sum();
    if size_bytes > max_append_bytes {
        return Err(AppendError::MaximumAppendSizeExceeded { size_bytes, max_bytes: max_append_bytes });
    }
    for request in requests {
        if is_virtual_stream(request.stream.as_str()) {
            return Err(AppendError::InvalidEvent {
                reason: format!("stream `{}` is derived from the log and cannot be appended to", request.stream),
            });
        }
        let metadata_stream = request.stream.as_str().starts_with(METADATA_STREAM_PREFIX);
        for event in &request.events {
            if event.event_type.is_empty() {
                return Err(AppendError::InvalidEvent { reason: "event type is empty".into() });
            }
            if event.event_type == TOMBSTONE_EVENT_TYPE {
                return Err(AppendError::InvalidEvent {
                    reason: format!("event type `{TOMBSTONE_EVENT_TYPE}` is reserved: tombstone the stream instead"),
                });
            }
            if event.event_type.chars().any(char::is_control) {
                // As in stream names: a control character (a NUL above all)
                // is a client's bug, and not every backend can store one.
                return Err(AppendError::InvalidEvent { reason: "event type contains a control character".into() });
            }
            if event.event_type.len() > EVENT_TYPE_MAX_BYTES {
                return Err(AppendError::InvalidEvent { reason: "event type is longer than 65535 bytes".into() });
            }
            if event.event_type == METADATA_EVENT_TYPE && metadata_stream {
                check_metadata(&event.data).map_err(|reason| AppendError::InvalidEvent { reason })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExpectedRevision, ProposedEvent, StreamName};

    fn request(stream: &str, event_type: &str, data: &str) -> AppendRequest {
        let stream = StreamName::new(stream).expect("name");
        AppendRequest::new(stream, ExpectedRevision::Any, vec![ProposedEvent::json(event_type, data.to_owned())])
    }

    #[test]
    fn bad_appends_are_refused_with_a_reason() {
        let refused =
            |requests: &[AppendRequest]| matches!(check_append(requests, 1024), Err(AppendError::InvalidEvent { .. }));
        assert!(refused(&[request("$ce-order", "x", "{}")]));
        assert!(refused(&[request("order-1", "", "{}")]));
        assert!(refused(&[request("order-1", TOMBSTONE_EVENT_TYPE, "{}")]));
        assert!(refused(&[request("order-1", "Order\u{0}Placed", "{}")]));
        assert!(refused(&[request("order-1", "Order\nPlaced", "{}")]));
        assert!(refused(&[request("$$order-1", METADATA_EVENT_TYPE, "[1]")]));
        assert!(check_append(&[request("order-1", "x", "{}")], 1024).is_ok());
        assert!(matches!(
            check_append(&[request("order-1", "x", "123456789")], 5),
            Err(AppendError::MaximumAppendSizeExceeded { size_bytes: 10, max_bytes: 5 })
        ));
    }
}
