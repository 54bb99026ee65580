//! Names made from an event (a search index, a document id, an MQTT topic):
//! text with `{stream}`, `{eventType}`, `{category}`, `{eventId}`,
//! `{revision}` and `{position}` replaced by the event's values as they are
//! (unlike the webhook's URL templates, nothing is percent-encoded: each
//! sink checks what its target allows).

use eventfold_store::RecordedEvent;

const PLACEHOLDERS: [&str; 6] = ["stream", "eventType", "category", "eventId", "revision", "position"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameTemplate {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(&'static str),
}

impl NameTemplate {
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let (text, tail) = rest.split_at(open);
            let close = tail.find('}').ok_or_else(|| format!("`{{` in `{template}` is not closed"))?;
            let name = tail.get(1..close).unwrap_or("");
            let field = PLACEHOLDERS
                .iter()
                .find(|known| **known == name)
                .ok_or_else(|| format!("unknown placeholder `{{{name}}}`; known: {}", PLACEHOLDERS.join(", ")))?;
            if text.contains('}') {
                return Err(format!("`}}` without `{{` in `{template}`"));
            }
            if !text.is_empty() {
                parts.push(Part::Text(text.to_owned()));
            }
            parts.push(Part::Field(field));
            rest = tail.get(close + 1..).unwrap_or("");
        }
        if rest.contains('}') {
            return Err(format!("`}}` without `{{` in `{template}`"));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if parts.is_empty() {
            return Err("is empty".to_owned());
        }
        Ok(Self { parts })
    }

    /// The literal text, with every placeholder as `sample`: for checking
    /// the characters a target allows before any event comes.
    pub fn render_sample(&self, sample: &str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Field(_) => sample,
            })
            .collect()
    }

    pub fn render(&self, event: &RecordedEvent) -> String {
        let mut name = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => name.push_str(text),
                Part::Field("stream") => name.push_str(event.stream.as_str()),
                Part::Field("eventType") => name.push_str(&event.event_type),
                Part::Field("category") => name.push_str(event.stream.category()),
                Part::Field("eventId") => name.push_str(&event.id.to_string()),
                Part::Field("revision") => name.push_str(&event.revision.to_string()),
                Part::Field(_) => name.push_str(&event.position.0.to_string()),
            }
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{ContentType, EventId, Position, StreamName, Timestamp};

    use super::*;

    #[test]
    fn placeholders_take_the_events_values_as_they_are() {
        let event = RecordedEvent {
            stream: StreamName::new("order-1/a b").expect("valid"),
            revision: 7,
            position: Position(99),
            id: EventId::random(),
            event_type: "Placed".into(),
            content_type: ContentType::Json,
            created: Timestamp(0),
            data: Bytes::new(),
            metadata: Bytes::new(),
        };
        let template = NameTemplate::parse("events/{category}/{stream}/{eventType}@{revision}:{position}")
            .expect("valid template");
        assert_eq!(template.render(&event), "events/order/order-1/a b/Placed@7:99");
        assert_eq!(NameTemplate::parse("{eventId}").expect("valid").render(&event), event.id.to_string());
        assert_eq!(template.render_sample("x"), "events/x/x/x@x:x");
    }

    #[test]
    fn unknown_unclosed_or_empty_templates_are_refused() {
        for bad in ["{nope}", "a{stream", "a}b", "{stream}}", ""] {
            assert!(NameTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
