//! One event as one line of JSON: what `read --format json`, `tail` and
//! `export` print and `import` reads.
//!
//! ```text
//! {"stream":"order-1","revision":0,"position":1234,"type":"OrderPlaced",
//!  "id":"…","created":"2026-01-02T03:04:05.0000000Z",
//!  "content_type":"application/json","data":{…},"data_encoding":"json",
//!  "metadata":null,"metadata_encoding":"json"}
//! ```
//!
//! `data` and `metadata` are the event's bytes themselves when they are
//! JSON that fits on one line as it is (so that an import writes back the
//! very same bytes), and otherwise a base64 string with `*_encoding` set to
//! `"base64"`. Empty metadata is `null`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use eventfold_client::{ProposedEvent, RecordedEvent};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::time::ticks_to_rfc3339;

const ENCODING_JSON: &str = "json";
const ENCODING_BASE64: &str = "base64";
const CONTENT_TYPE_JSON: &str = "application/json";
const CONTENT_TYPE_BINARY: &str = "application/octet-stream";

/// The line for `event`, without its newline.
pub fn to_line(event: &RecordedEvent) -> String {
    let mut line = String::with_capacity(160 + event.data.len() + event.metadata.len());
    line.push_str("{\"stream\":");
    line.push_str(&quoted(&event.stream));
    line.push_str(&format!(",\"revision\":{}", event.revision));
    if let Some(position) = event.position {
        line.push_str(&format!(",\"position\":{position}"));
    }
    line.push_str(",\"type\":");
    line.push_str(&quoted(&event.event_type));
    line.push_str(&format!(",\"id\":\"{}\"", event.id.hyphenated()));
    if let Some(ticks) = event.created_ticks {
        line.push_str(&format!(",\"created\":\"{}\"", ticks_to_rfc3339(ticks)));
    }
    let content_type = if event.is_json { CONTENT_TYPE_JSON } else { CONTENT_TYPE_BINARY };
    line.push_str(&format!(",\"content_type\":\"{content_type}\""));
    push_bytes(&mut line, "data", &event.data, false);
    push_bytes(&mut line, "metadata", &event.metadata, true);
    line.push('}');
    line
}

fn quoted(text: &str) -> String {
    // Serializing a string cannot fail.
    serde_json::to_string(text).unwrap_or_else(|_| String::from("\"\""))
}

fn push_bytes(line: &mut String, field: &str, bytes: &[u8], empty_is_null: bool) {
    if empty_is_null && bytes.is_empty() {
        line.push_str(&format!(",\"{field}\":null,\"{field}_encoding\":\"{ENCODING_JSON}\""));
        return;
    }
    match as_inline_json(bytes) {
        Some(text) => line.push_str(&format!(",\"{field}\":{text},\"{field}_encoding\":\"{ENCODING_JSON}\"")),
        None => line
            .push_str(&format!(",\"{field}\":\"{}\",\"{field}_encoding\":\"{ENCODING_BASE64}\"", BASE64.encode(bytes))),
    }
}

/// The bytes as text, when they are one JSON value that reads back as the
/// same bytes and holds no line break.
fn as_inline_json(bytes: &[u8]) -> Option<&str> {
    if bytes.contains(&b'\n') || bytes.contains(&b'\r') {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let raw: &RawValue = serde_json::from_str(text).ok()?;
    (raw.get() == text).then_some(text)
}

/// An event read back from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineEvent {
    pub stream: String,
    pub revision: u64,
    pub event: ProposedEvent,
}

#[derive(Deserialize)]
struct Line<'a> {
    stream: String,
    revision: u64,
    #[serde(rename = "type")]
    event_type: String,
    id: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(borrow)]
    data: &'a RawValue,
    #[serde(default)]
    data_encoding: Option<String>,
    #[serde(default, borrow)]
    metadata: Option<&'a RawValue>,
    #[serde(default)]
    metadata_encoding: Option<String>,
}

/// Parses one line; the error says what is wrong with it.
pub fn parse_line(text: &str) -> Result<LineEvent, String> {
    let line: Line<'_> = serde_json::from_str(text).map_err(|error| format!("not an event in JSON: {error}"))?;
    let id = uuid::Uuid::parse_str(&line.id).map_err(|error| format!("id `{}`: {error}", line.id))?;
    let is_json = match line.content_type.as_deref() {
        None | Some(CONTENT_TYPE_JSON) => true,
        Some(CONTENT_TYPE_BINARY) => false,
        Some(other) => {
            return Err(format!("content_type `{other}`: expected {CONTENT_TYPE_JSON} or {CONTENT_TYPE_BINARY}"));
        }
    };
    if line.event_type.is_empty() {
        return Err("the event type is empty".into());
    }
    let data = decode_bytes("data", Some(line.data), line.data_encoding.as_deref())?;
    let metadata = decode_bytes("metadata", line.metadata, line.metadata_encoding.as_deref())?;
    Ok(LineEvent {
        stream: line.stream,
        revision: line.revision,
        event: ProposedEvent { id, event_type: line.event_type, is_json, data, metadata },
    })
}

fn decode_bytes(field: &str, raw: Option<&RawValue>, encoding: Option<&str>) -> Result<Bytes, String> {
    let Some(raw) = raw else { return Ok(Bytes::new()) };
    if raw.get() == "null" {
        return Ok(Bytes::new());
    }
    match encoding {
        None | Some(ENCODING_JSON) => Ok(Bytes::copy_from_slice(raw.get().as_bytes())),
        Some(ENCODING_BASE64) => {
            let text: String =
                serde_json::from_str(raw.get()).map_err(|_| format!("{field}: base64 data must be a string"))?;
            BASE64.decode(text.as_bytes()).map(Bytes::from).map_err(|error| format!("{field}: bad base64: {error}"))
        }
        Some(other) => Err(format!("{field}_encoding `{other}`: expected json or base64")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &[u8], metadata: &[u8], is_json: bool) -> RecordedEvent {
        RecordedEvent {
            stream: "order-\"1\"".into(),
            revision: 7,
            position: Some(99),
            id: uuid::Uuid::new_v4(),
            event_type: "Placed".into(),
            is_json,
            created_ticks: Some(0),
            data: Bytes::copy_from_slice(data),
            metadata: Bytes::copy_from_slice(metadata),
        }
    }

    #[test]
    fn every_kind_of_payload_round_trips_byte_for_byte() {
        let cases: [(&[u8], &[u8], bool); 5] = [
            (b"{\"a\":1}", b"", true),
            (b"{ \"spaced\" : [1, 2] }", b"{\"m\":true}", true),
            (b"{\"multi\":\n1}", b"not json", true),
            (&[0, 159, 146, 150, 255], &[1, 2], false),
            (b" 1", b"\"text\"", true),
        ];
        for (data, metadata, is_json) in cases {
            let original = event(data, metadata, is_json);
            let line = to_line(&original);
            assert!(!line.contains('\n'));
            let parsed = parse_line(&line).expect("parse");
            assert_eq!(parsed.stream, original.stream);
            assert_eq!(parsed.revision, 7);
            assert_eq!(parsed.event.id, original.id);
            assert_eq!(parsed.event.is_json, is_json);
            assert_eq!(&parsed.event.data[..], data);
            assert_eq!(&parsed.event.metadata[..], metadata);
        }
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        assert!(parse_line("{").is_err());
        assert!(parse_line(r#"{"stream":"s","revision":0,"type":"T","id":"nope","data":{}}"#).is_err());
        let line = r#"{"stream":"s","revision":0,"type":"T","id":"67e55044-10b1-426f-9247-bb680e5fe0c8","data":"@@","data_encoding":"base64"}"#;
        assert!(parse_line(line).unwrap_err().contains("base64"));
    }
}
