//! Templates of the sinks: text in which `{name}` placeholders stand for
//! the values of each event, so that one connector can send each stream or
//! event type to its own URL, index, topic, key or subject.
//!
//! A template is parsed once, at create, against the [`Placeholders`] its
//! use allows ([`URL_PLACEHOLDERS`] for the HTTP sink's URL,
//! [`NAME_PLACEHOLDERS`] for names in a target, [`FIELD_PLACEHOLDERS`] for
//! the message sinks); rendering takes the event and how its values are
//! [`Written`]: percent-encoded in a URL, as they are everywhere else (each
//! sink checks what its target allows).
//!
//! A JSON pointer the event's data does not have is that event's fault,
//! not the connector's: rendering fails for that event alone, which the
//! connector dead-letters.

mod placeholders;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use eventfold_store::RecordedEvent;
use serde_json::Value;

pub(crate) use placeholders::{FIELD_PLACEHOLDERS, NAME_PLACEHOLDERS, Placeholders, URL_PLACEHOLDERS};

use crate::sink::event_json::event_json;
use placeholders::{Field, Resolved};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
    /// `{/json/pointer}`: a field of the event's JSON data.
    JsonPointer(String),
}

/// How an event's values go into the rendered text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Written {
    /// Everything but RFC 3986's unreserved characters escaped, so that a
    /// value cannot add a path segment or a query to a URL.
    PercentEncoded,
    AsTheyAre,
}

impl Template {
    /// Parses `template`, refusing a placeholder `placeholders` does not
    /// have, a `{` never closed, a `}` never opened, and an empty template.
    pub fn parse(template: &str, placeholders: &Placeholders) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        let mut offset = 0;
        while let Some(open) = rest.find('{') {
            let (text, tail) = rest.split_at(open);
            let close = tail.find('}').ok_or_else(|| format!("`{{` at byte {} is not closed", offset + open))?;
            let name = tail.get(1..close).unwrap_or("");
            let part = match placeholders.resolve(name)? {
                Resolved::Field(field) => Part::Field(field),
                Resolved::JsonPointer => Part::JsonPointer(name.to_owned()),
            };
            if text.contains('}') {
                return Err("`}` without `{`".to_owned());
            }
            if !text.is_empty() {
                parts.push(Part::Text(text.to_owned()));
            }
            parts.push(part);
            offset += open + close + 1;
            rest = tail.get(close + 1..).unwrap_or("");
        }
        if rest.contains('}') {
            return Err("`}` without `{`".to_owned());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("is empty".to_owned());
        }
        Ok(Self { parts })
    }

    /// Whether every event gets the same text.
    pub fn is_fixed(&self) -> bool {
        self.parts.iter().all(|part| matches!(part, Part::Text(_)))
    }

    /// The template with every placeholder replaced by `sample`: to check
    /// a target's rules (a URL that parses, a topic's characters) before
    /// any event comes.
    pub fn render_sample(&self, sample: &str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Field(_) | Part::JsonPointer(_) => sample,
            })
            .collect()
    }

    /// Whether rendering looks into the event's JSON data (parse it once).
    pub fn reads_data(&self) -> bool {
        self.parts.iter().any(|part| matches!(part, Part::JsonPointer(_)))
    }

    /// The text for `event`, whose data parsed as JSON is `data` (`None`
    /// when it is not JSON or no template reads it). Fails when a JSON
    /// pointer finds nothing or `null`.
    pub fn render(&self, event: &RecordedEvent, data: Option<&Value>, written: Written) -> Result<String, String> {
        let mut text = String::new();
        for part in &self.parts {
            let value = match part {
                Part::Text(literal) => {
                    text.push_str(literal);
                    continue;
                }
                Part::Field(field) => field_value(*field, event),
                Part::JsonPointer(pointer) => {
                    match data.and_then(|data| data.pointer(pointer)).filter(|value| !value.is_null()) {
                        Some(Value::String(value)) => value.clone(),
                        Some(value) => value.to_string(),
                        None => return Err(format!("the event's data has no `{pointer}`")),
                    }
                }
            };
            match written {
                Written::PercentEncoded => percent_encode_into(&mut text, &value),
                Written::AsTheyAre => text.push_str(&value),
            }
        }
        Ok(text)
    }
}

/// The parsed data of `event` when some template reads it.
pub(crate) fn parsed_data(event: &RecordedEvent, templates: &[&Template]) -> Option<Value> {
    if templates.iter().any(|template| template.reads_data()) { serde_json::from_slice(&event.data).ok() } else { None }
}

fn field_value(field: Field, event: &RecordedEvent) -> String {
    match field {
        Field::Stream => event.stream.as_str().to_owned(),
        Field::EventType => event.event_type.clone(),
        Field::Category => event.stream.category().to_owned(),
        Field::EventId => event.id.to_string(),
        Field::Revision => event.revision.to_string(),
        Field::Position => event.position.0.to_string(),
        Field::Data => bytes_as_text(&event.data),
        Field::Metadata => bytes_as_text(&event.metadata),
        Field::Event => event_json(event).to_string(),
    }
}

/// UTF-8 bytes (JSON is) as they are; anything else as base64.
fn bytes_as_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}

fn percent_encode_into(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}
