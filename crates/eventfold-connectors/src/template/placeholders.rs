//! Which placeholders a use of a template allows: each sink parses its
//! templates against one of these sets, so a placeholder its target cannot
//! take is refused when the connector is created, not when an event comes.

/// A value of the event that a named placeholder stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Stream,
    EventType,
    Category,
    EventId,
    Revision,
    Position,
    /// The event's data: UTF-8 as it is, anything else as base64.
    Data,
    /// The event's metadata, written as the data is.
    Metadata,
    /// The whole event as the HTTP sink posts it.
    Event,
}

impl Field {
    /// The name between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Self::Stream => "stream",
            Self::EventType => "eventType",
            Self::Category => "category",
            Self::EventId => "eventId",
            Self::Revision => "revision",
            Self::Position => "position",
            Self::Data => "data",
            Self::Metadata => "metadata",
            Self::Event => "event",
        }
    }
}

/// The placeholders one use allows, in the order an unknown one is told.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Placeholders {
    fields: &'static [Field],
    /// Whether `{/json/pointer}` may pick a field of the event's JSON data.
    json_pointers: bool,
}

/// The HTTP sink's URL: the event's names and numbers, percent-encoded
/// when rendered.
pub(crate) const URL_PLACEHOLDERS: Placeholders = Placeholders {
    fields: &[Field::Stream, Field::EventType, Field::Category, Field::EventId, Field::Revision],
    json_pointers: false,
};

/// Names of things in a target (a search index, a document id, an MQTT
/// topic, a RabbitMQ routing key): the URL's set and the log position.
pub(crate) const NAME_PLACEHOLDERS: Placeholders = Placeholders {
    fields: &[Field::Stream, Field::EventType, Field::Category, Field::EventId, Field::Revision, Field::Position],
    json_pointers: false,
};

/// The message sinks' keys, subjects, topics and payloads (Redis, NATS,
/// Kafka): every field, the event's data and fields of it.
pub(crate) const FIELD_PLACEHOLDERS: Placeholders = Placeholders {
    fields: &[
        Field::Stream,
        Field::EventType,
        Field::Category,
        Field::EventId,
        Field::Revision,
        Field::Position,
        Field::Data,
        Field::Metadata,
        Field::Event,
    ],
    json_pointers: true,
};

/// What a placeholder's name resolves to.
pub(crate) enum Resolved {
    Field(Field),
    JsonPointer,
}

impl Placeholders {
    /// What `{name}` stands for in this use, or the error that names the
    /// placeholders it allows.
    pub fn resolve(&self, name: &str) -> Result<Resolved, String> {
        if self.json_pointers && name.starts_with('/') {
            return Ok(Resolved::JsonPointer);
        }
        if let Some(field) = self.fields.iter().find(|field| field.name() == name) {
            return Ok(Resolved::Field(*field));
        }
        let known: Vec<&str> = self.fields.iter().map(|field| field.name()).collect();
        let pointers = if self.json_pointers { ", or a JSON pointer `{/field}`" } else { "" };
        Err(format!("unknown placeholder `{{{name}}}`; known: {}{pointers}", known.join(", ")))
    }
}
