//! A batch's events as the objects handlers see, made by the host.
//!
//! Made here rather than by the prelude from values the host hands over:
//! each value handed over costs about what setting a field costs, and the
//! interpreter's own work to set a field costs more again. Each object is
//! made on the prelude's `eventPrototype` with its fields set in the order
//! of the prelude's `eventFields`, so that it takes the shapes the prelude
//! keeps for events (see `prelude.js`) and no shape is made per event.

use rquickjs::{Array, Atom, Ctx, Object, Value};

use super::SourceEvent;

/// The event's own fields, in the order they are set: the order of the
/// prelude's `EVENT_FIELDS`, which a test holds the two to.
pub(super) const EVENT_FIELDS: [&str; 11] = [
    "partition",
    "bodyRaw",
    "metadataRaw",
    "streamId",
    "eventId",
    "eventType",
    "linkMetadataRaw",
    "isJson",
    "category",
    "sequenceNumber",
    "created",
];

/// Each event as an object, or `null` for a JSON event with an empty body,
/// which handlers never see (the prelude skips it, still counting it for
/// the index of the event in progress).
pub(super) fn event_objects<'js>(
    ctx: &Ctx<'js>,
    prototype: &Object<'js>,
    events: &[SourceEvent<'_>],
) -> rquickjs::Result<Array<'js>> {
    let fields = Fields::new(ctx)?;
    let batch = Array::new(ctx.clone())?;
    // Neighbouring events mostly share their stream, type, creation time
    // and (empty) metadata: those strings are made once and shared.
    let mut streams = Repeated::default();
    let mut categories = Repeated::default();
    let mut types = Repeated::default();
    let mut metadata = Repeated::default();
    let mut created_texts = Repeated::default();
    let null = Value::new_null(ctx.clone());
    let no_partition = rquickjs::String::from_str(ctx.clone(), "")?.into_value();
    for (index, event) in events.iter().enumerate() {
        if event.is_json && event.data.is_empty() {
            batch.set(index, null.clone())?;
            continue;
        }
        let object = Object::new_proto(ctx.clone(), Some(prototype))?;
        object.set(fields.partition.clone(), no_partition.clone())?;
        object.set(fields.body_raw.clone(), rquickjs::String::from_str(ctx.clone(), &event.data)?)?;
        object.set(fields.metadata_raw.clone(), metadata.value(ctx, &event.metadata)?)?;
        object.set(fields.stream_id.clone(), streams.value(ctx, &event.stream)?)?;
        object.set(fields.event_id.clone(), rquickjs::String::from_str(ctx.clone(), &event.event_id)?)?;
        object.set(fields.event_type.clone(), types.value(ctx, &event.event_type)?)?;
        let link_metadata = match event.link_metadata.as_deref() {
            Some(text) => rquickjs::String::from_str(ctx.clone(), text)?.into_value(),
            None => null.clone(),
        };
        object.set(fields.link_metadata_raw.clone(), link_metadata)?;
        object.set(fields.is_json.clone(), event.is_json)?;
        object.set(fields.category.clone(), categories.value(ctx, event.category())?)?;
        object.set(fields.revision.clone(), Value::new_number(ctx.clone(), event.revision as f64))?;
        object.set(fields.created.clone(), created_texts.value(ctx, &event.created)?)?;
        batch.set(index, object)?;
    }
    Ok(batch)
}

/// The names of [`EVENT_FIELDS`], made once a batch.
struct Fields<'js> {
    partition: Atom<'js>,
    body_raw: Atom<'js>,
    metadata_raw: Atom<'js>,
    stream_id: Atom<'js>,
    event_id: Atom<'js>,
    event_type: Atom<'js>,
    link_metadata_raw: Atom<'js>,
    is_json: Atom<'js>,
    category: Atom<'js>,
    revision: Atom<'js>,
    created: Atom<'js>,
}

impl<'js> Fields<'js> {
    fn new(ctx: &Ctx<'js>) -> rquickjs::Result<Self> {
        let atom = |index: usize| Atom::from_str(ctx.clone(), EVENT_FIELDS[index]);
        Ok(Self {
            partition: atom(0)?,
            body_raw: atom(1)?,
            metadata_raw: atom(2)?,
            stream_id: atom(3)?,
            event_id: atom(4)?,
            event_type: atom(5)?,
            link_metadata_raw: atom(6)?,
            is_json: atom(7)?,
            category: atom(8)?,
            revision: atom(9)?,
            created: atom(10)?,
        })
    }
}

/// The JavaScript string of the last text asked for, made again only when
/// the text changes.
#[derive(Default)]
struct Repeated<'a, 'js> {
    last: Option<(&'a str, Value<'js>)>,
}

impl<'a, 'js> Repeated<'a, 'js> {
    fn value(&mut self, ctx: &Ctx<'js>, text: &'a str) -> rquickjs::Result<Value<'js>> {
        if let Some((last, value)) = &self.last
            && *last == text
        {
            return Ok(value.clone());
        }
        let value = rquickjs::String::from_str(ctx.clone(), text)?.into_value();
        self.last = Some((text, value.clone()));
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::RuntimeLimits;
    use crate::runtime::quickjs::QuickJs;

    #[test]
    fn the_host_sets_the_fields_in_the_order_the_prelude_keeps_shapes_for() {
        let engine = QuickJs::new("fromAll().when({ $any: function (s, e) { return s; } })", RuntimeLimits::default())
            .expect("compiles");
        let fields: Vec<String> = engine.context().with(|ctx| {
            let api: Object<'_> = ctx.globals().get("__eventfold").expect("the prelude's API");
            api.get("eventFields").expect("its event fields")
        });
        assert_eq!(fields, EVENT_FIELDS);
    }
}
