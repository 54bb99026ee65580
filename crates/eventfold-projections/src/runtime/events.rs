//! A batch's events as the objects handlers see, made by the host.
//!
//! Made here rather than by the prelude from values the host hands over:
//! each value handed over costs about what setting a field costs, and the
//! interpreter's own work to set a field costs more again. Each object is
//! made on the prelude's `eventPrototype` with its fields set in the order
//! of the prelude's `eventFields`, so that it takes the shapes the prelude
//! keeps for events (see `prelude.js`) and no shape is made per event.
//! They are made through `eventfold_js::ObjectBatch`, which reaches QuickJS
//! below `rquickjs`'s per-field costs.

use eventfold_js::{Field, ObjectBatch};
use rquickjs::{Array, Ctx, Object};

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
    let mut batch = ObjectBatch::new(ctx, prototype, EVENT_FIELDS, events.len())?;
    // Neighbouring events mostly share their stream, type, creation time
    // and (empty) metadata: those strings are shared.
    for event in events {
        if event.is_json && event.data.is_empty() {
            batch.push_null();
            continue;
        }
        batch.push([
            Field::SharedText(""),
            Field::Text(&event.data),
            Field::SharedText(&event.metadata),
            Field::SharedText(&event.stream),
            Field::Text(&event.event_id),
            Field::SharedText(&event.event_type),
            event.link_metadata.as_deref().map_or(Field::Null, Field::Text),
            Field::Bool(event.is_json),
            Field::SharedText(event.category()),
            Field::Number(event.revision as f64),
            Field::SharedText(&event.created),
        ])?;
    }
    batch.finish()
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
