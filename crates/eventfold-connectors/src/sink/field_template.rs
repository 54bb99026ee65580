//! Text templates of the message sinks (Redis keys and values, NATS
//! subjects, Kafka topics and keys): `{stream}`, `{eventType}`,
//! `{category}`, `{eventId}`, `{revision}`, `{position}`, `{data}`,
//! `{metadata}`, `{event}` (the event as the HTTP sink posts it) and
//! `{/json/pointer}` (a field of the event's JSON data) are replaced by the
//! event's values, as they are: these targets take any text.
//!
//! A pointer the event's data does not have is that event's fault, not the
//! connector's: rendering fails for that event alone, which the connector
//! dead-letters.

use base64::Engine as _;
use eventfold_store::RecordedEvent;
use serde_json::Value;

use super::event_json::event_json;

const NAMED: [(&str, Field); 9] = [
    ("stream", Field::Stream),
    ("eventType", Field::EventType),
    ("category", Field::Category),
    ("eventId", Field::EventId),
    ("revision", Field::Revision),
    ("position", Field::Position),
    ("data", Field::Data),
    ("metadata", Field::Metadata),
    ("event", Field::Event),
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FieldTemplate {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(Field),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Field {
    Stream,
    EventType,
    Category,
    EventId,
    Revision,
    Position,
    Data,
    Metadata,
    Event,
    DataPointer(String),
}

impl FieldTemplate {
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        let mut offset = 0;
        while let Some(open) = rest.find('{') {
            let (text, tail) = rest.split_at(open);
            let close = tail.find('}').ok_or_else(|| format!("`{{` at byte {} is not closed", offset + open))?;
            let name = &tail[1..close];
            let field = if name.starts_with('/') {
                Field::DataPointer(name.to_owned())
            } else {
                NAMED.iter().find(|(known, _)| *known == name).map(|(_, field)| field.clone()).ok_or_else(|| {
                    let known: Vec<&str> = NAMED.iter().map(|(known, _)| *known).collect();
                    format!(
                        "unknown placeholder `{{{name}}}`; known: {}, or a JSON pointer `{{/field}}`",
                        known.join(", ")
                    )
                })?
            };
            if text.contains('}') {
                return Err("`}` without `{`".to_owned());
            }
            if !text.is_empty() {
                parts.push(Part::Text(text.to_owned()));
            }
            parts.push(Part::Field(field));
            offset += open + close + 1;
            rest = &tail[close + 1..];
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

    /// The template with every placeholder replaced by `sample`: to check a
    /// target's naming rules before any event comes.
    pub fn render_sample(&self, sample: &str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Field(_) => sample,
            })
            .collect()
    }

    /// Whether rendering looks into the event's data (parse it once).
    pub fn reads_data(&self) -> bool {
        self.parts.iter().any(|part| matches!(part, Part::Field(Field::DataPointer(_) | Field::Data)))
    }

    /// The text for `event`, whose data parsed as JSON is `data` (`None`
    /// when it is not JSON). Fails when a pointer finds nothing.
    pub fn render(&self, event: &RecordedEvent, data: Option<&Value>) -> Result<String, String> {
        let mut text = String::new();
        for part in &self.parts {
            match part {
                Part::Text(literal) => text.push_str(literal),
                Part::Field(field) => match field {
                    Field::Stream => text.push_str(event.stream.as_str()),
                    Field::EventType => text.push_str(&event.event_type),
                    Field::Category => text.push_str(event.stream.category()),
                    Field::EventId => text.push_str(&event.id.to_string()),
                    Field::Revision => text.push_str(&event.revision.to_string()),
                    Field::Position => text.push_str(&event.position.0.to_string()),
                    Field::Data => text.push_str(&bytes_as_text(&event.data)),
                    Field::Metadata => text.push_str(&bytes_as_text(&event.metadata)),
                    Field::Event => text.push_str(&event_json(event).to_string()),
                    Field::DataPointer(pointer) => {
                        let found = data.and_then(|data| data.pointer(pointer)).filter(|value| !value.is_null());
                        match found {
                            Some(Value::String(value)) => text.push_str(value),
                            Some(value) => text.push_str(&value.to_string()),
                            None => return Err(format!("the event's data has no `{pointer}`")),
                        }
                    }
                },
            }
        }
        Ok(text)
    }
}

/// The parsed data of `event` when some template reads it.
pub(crate) fn parsed_data(event: &RecordedEvent, templates: &[&FieldTemplate]) -> Option<Value> {
    if templates.iter().any(|template| template.reads_data()) { serde_json::from_slice(&event.data).ok() } else { None }
}

/// UTF-8 bytes (JSON is) as they are; anything else as base64.
fn bytes_as_text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{ContentType, EventId, Position, StreamName, Timestamp};

    use super::*;

    fn event(data: &'static [u8]) -> RecordedEvent {
        RecordedEvent {
            stream: StreamName::new("order-7").expect("valid"),
            revision: 4,
            position: Position(1234),
            id: EventId::random(),
            event_type: "Placed".into(),
            content_type: ContentType::Json,
            created: Timestamp(0),
            data: Bytes::from_static(data),
            metadata: Bytes::new(),
        }
    }

    fn render(template: &str, event: &RecordedEvent) -> Result<String, String> {
        let template = FieldTemplate::parse(template).expect("valid template");
        let data = parsed_data(event, &[&template]);
        template.render(event, data.as_ref())
    }

    #[test]
    fn placeholders_take_the_events_values_unencoded() {
        let event = event(br#"{"orderId":"o 7","total":12.5,"lines":[{"sku":"A1"}]}"#);
        assert_eq!(render("orders:{category}:{stream}", &event).expect("renders"), "orders:order:order-7");
        assert_eq!(render("{eventType}@{revision}/{position}", &event).expect("renders"), "Placed@4/1234");
        assert_eq!(render("{/orderId}|{/total}|{/lines/0/sku}", &event).expect("renders"), "o 7|12.5|A1");
        assert_eq!(
            render("{data}", &event).expect("renders"),
            r#"{"orderId":"o 7","total":12.5,"lines":[{"sku":"A1"}]}"#
        );
        let whole: Value = serde_json::from_str(&render("{event}", &event).expect("renders")).expect("JSON");
        assert_eq!((whole["stream"].as_str(), whole["data"]["orderId"].as_str()), (Some("order-7"), Some("o 7")));
        assert_eq!(render("{eventId}", &event).expect("renders"), event.id.to_string());
    }

    #[test]
    fn a_missing_field_fails_that_event_only() {
        let error = render("order:{/orderId}", &event(br#"{"other":1}"#)).expect_err("no orderId");
        assert!(error.contains("/orderId"), "{error}");
        assert!(render("order:{/orderId}", &event(br#"{"orderId":null}"#)).is_err(), "null is missing");
        assert!(render("order:{/orderId}", &event(b"\xff not json")).is_err(), "binary data has no fields");
    }

    #[test]
    fn malformed_templates_are_refused() {
        assert!(FieldTemplate::parse("{nope}").expect_err("unknown").contains("nope"));
        assert!(FieldTemplate::parse("a{stream").is_err());
        assert!(FieldTemplate::parse("a}{stream}").is_err());
        assert!(FieldTemplate::parse("{stream}}").is_err());
        assert!(FieldTemplate::parse("").is_err());
        let template = FieldTemplate::parse("x.{stream}.{/id}").expect("valid");
        assert_eq!(template.render_sample("s"), "x.s.s");
        assert!(template.reads_data());
        assert!(!FieldTemplate::parse("{stream}").expect("valid").reads_data());
    }
}
