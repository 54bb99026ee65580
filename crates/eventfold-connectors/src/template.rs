//! URL templates of the HTTP sink: `{stream}`, `{eventType}`, `{category}`,
//! `{eventId}` and `{revision}` are replaced by the event's values,
//! percent-encoded, so that one connector can post each stream or event
//! type to its own path.

use eventfold_store::RecordedEvent;

const PLACEHOLDERS: [&str; 5] = ["stream", "eventType", "category", "eventId", "revision"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UrlTemplate {
    parts: Vec<Part>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Text(String),
    Field(&'static str),
}

impl UrlTemplate {
    pub fn parse(template: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let (text, tail) = rest.split_at(open);
            let close = tail.find('}').ok_or_else(|| format!("`{{` at byte {open} is not closed"))?;
            let name = &tail[1..close];
            let field = PLACEHOLDERS
                .iter()
                .find(|known| **known == name)
                .ok_or_else(|| format!("unknown placeholder `{{{name}}}`; known: {}", PLACEHOLDERS.join(", ")))?;
            if !text.is_empty() {
                parts.push(Part::Text(text.to_owned()));
            }
            parts.push(Part::Field(field));
            rest = &tail[close + 1..];
        }
        if rest.contains('}') {
            return Err("`}` without `{`".to_owned());
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Self { parts })
    }

    /// Whether every event gets the same URL.
    pub fn is_fixed(&self) -> bool {
        self.parts.iter().all(|part| matches!(part, Part::Text(_)))
    }

    /// The template with every placeholder replaced by `sample`: to check
    /// that the rendered URL parses before any event comes.
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
        let mut url = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => url.push_str(text),
                Part::Field(field) => {
                    let value = match *field {
                        "stream" => event.stream.as_str().to_owned(),
                        "eventType" => event.event_type.clone(),
                        "category" => event.stream.category().to_owned(),
                        "eventId" => event.id.to_string(),
                        _ => event.revision.to_string(),
                    };
                    percent_encode_into(&mut url, &value);
                }
            }
        }
        url
    }
}

/// Everything but RFC 3986's unreserved characters is escaped, so a value
/// cannot add a path segment or a query.
fn percent_encode_into(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{ContentType, EventId, Position, StreamName, Timestamp};

    use super::*;

    fn event(stream: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            stream: StreamName::new(stream).expect("valid"),
            revision: 7,
            position: Position(1),
            id: EventId::random(),
            event_type: event_type.into(),
            content_type: ContentType::Json,
            created: Timestamp(0),
            data: Bytes::new(),
            metadata: Bytes::new(),
        }
    }

    #[test]
    fn placeholders_take_the_events_values_encoded() {
        let template = UrlTemplate::parse("http://h/in/{category}/{stream}?type={eventType}&r={revision}")
            .expect("valid template");
        assert!(!template.is_fixed());
        assert_eq!(
            template.render(&event("order-1/2 x", "Placed&Paid")),
            "http://h/in/order/order-1%2F2%20x?type=Placed%26Paid&r=7"
        );
    }

    #[test]
    fn a_url_without_placeholders_is_fixed() {
        let template = UrlTemplate::parse("http://h/hook").expect("valid");
        assert!(template.is_fixed());
        assert_eq!(template.render(&event("a", "b")), "http://h/hook");
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_refused() {
        assert!(UrlTemplate::parse("http://h/{nope}").expect_err("unknown").contains("nope"));
        assert!(UrlTemplate::parse("http://h/{stream").is_err());
        assert!(UrlTemplate::parse("http://h/stream}").is_err());
    }
}
