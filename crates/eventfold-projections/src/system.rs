//! The standard projections KurrentDB ships. `$streams`, `$by_category` and
//! `$by_event_type` are served from the index (`$streams`, `$ce-`, `$et-`
//! are read from it whatever their status), so they run natively and write
//! nothing; `$stream_by_category` and `$by_correlation_id` are queries that
//! write `$category-<category>` and `$bc-<correlation id>`.

use crate::mode::Mode;
use crate::record::{JS_HANDLER, NATIVE_HANDLER, ProjectionRecord};

pub const STREAMS: &str = "$streams";
pub const BY_CATEGORY: &str = "$by_category";
pub const BY_EVENT_TYPE: &str = "$by_event_type";
pub const STREAM_BY_CATEGORY: &str = "$stream_by_category";
pub const BY_CORRELATION_ID: &str = "$by_correlation_id";

const STREAM_BY_CATEGORY_QUERY: &str = "fromAll().when({ $any: function (s, e) { \
    if (e.sequenceNumber === 0) { linkStreamTo('$category-' + e.category, e.streamId); } } });";

const BY_CORRELATION_ID_QUERY: &str = "fromAll().when({ $any: function (s, e) { \
    var m = e.metadata; \
    if (m && typeof m.$correlationId === 'string' && m.$correlationId !== '') { linkTo('$bc-' + m.$correlationId, e); } } });";

pub fn is_system(name: &str) -> bool {
    [STREAMS, BY_CATEGORY, BY_EVENT_TYPE, STREAM_BY_CATEGORY, BY_CORRELATION_ID].contains(&name)
}

/// The standard projections as first stored: enabled when the node starts
/// them.
pub fn standard(enabled: bool) -> Vec<(String, ProjectionRecord)> {
    let native = |query: &str| (NATIVE_HANDLER, query.to_owned());
    [
        (STREAMS, native("")),
        (BY_CATEGORY, native("first\r\n-")),
        (BY_EVENT_TYPE, native("")),
        (STREAM_BY_CATEGORY, (JS_HANDLER, STREAM_BY_CATEGORY_QUERY.to_owned())),
        (BY_CORRELATION_ID, (JS_HANDLER, BY_CORRELATION_ID_QUERY.to_owned())),
    ]
    .into_iter()
    .map(|(name, (handler, query))| {
        (
            name.to_owned(),
            ProjectionRecord {
                handler_type: handler.to_owned(),
                query,
                mode: Mode::Continuous,
                enabled,
                emit_enabled: true,
                track_emitted_streams: false,
                checkpoints_disabled: false,
                epoch: 0,
                version: 0,
                engine_version: 1,
                reset_position: None,
                run_as: None,
            },
        )
    })
    .collect()
}
