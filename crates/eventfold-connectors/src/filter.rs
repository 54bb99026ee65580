//! Which events a connector delivers: KurrentDB's
//! `subscription:filter:{scope,filterType,expression}` read into a source
//! (one stream or `$all`) and a store [`EventFilter`], applied by the store
//! on `$all` so that skipped events cost no delivery work, or (filter type
//! `jsonPath`, either scope) a [`JsonFilter`] on the event's data, applied
//! by the connector to each event of `$all`.
//!
//! System events never reach a sink, whatever the filter: `$`-prefixed
//! streams hold the server's own state (this subsystem's checkpoints and
//! dead letters among them) and `$`-prefixed types are links and metadata.

use eventfold_store::{EventFilter, RecordedEvent, StreamName};

use crate::error::InvalidSettings;
use crate::json_filter::JsonFilter;
use crate::settings::{Reader, Source};

const SCOPE: &str = "subscription:filter:scope";
const FILTER_TYPE: &str = "subscription:filter:filterType";
const EXPRESSION: &str = "subscription:filter:expression";
const JSON_PATH: &str = "jsonPath";

/// Stream names and event types a connector never delivers (see module doc).
pub fn is_system(event: &RecordedEvent) -> bool {
    event.stream.as_str().starts_with('$') || event.event_type.starts_with('$')
}

/// The filter on the event's data the settings name, if any.
pub(crate) fn json_filter_from_settings(reader: &Reader<'_>) -> Result<Option<JsonFilter>, InvalidSettings> {
    if reader.text(FILTER_TYPE) != Some(JSON_PATH) {
        return Ok(None);
    }
    let expression = reader.required(EXPRESSION)?;
    JsonFilter::parse(expression).map(Some).map_err(|reason| InvalidSettings::new(EXPRESSION, &reason))
}

/// The source and filter the settings name. No expression: all of `$all`.
pub(crate) fn from_settings(reader: &Reader<'_>) -> Result<(Source, Option<EventFilter>), InvalidSettings> {
    let scope = reader.text(SCOPE).unwrap_or("stream");
    let expression = reader.text(EXPRESSION).map(str::trim).filter(|text| !text.is_empty());
    let by_stream = match scope {
        "stream" => true,
        "record" => false,
        other => return Err(InvalidSettings::new(SCOPE, &format!("`{other}` is neither `stream` nor `record`"))),
    };
    let Some(expression) = expression else {
        if reader.text(FILTER_TYPE).is_some() {
            return Err(InvalidSettings::new(EXPRESSION, "is required with a filter type"));
        }
        return Ok((Source::All, None));
    };
    let filter_type = reader.text(FILTER_TYPE).unwrap_or(if by_stream { "streamId" } else { "regex" });
    let invalid_regex = |error: eventfold_store::FilterError| InvalidSettings::new(EXPRESSION, &error.to_string());
    let prefixes = || expression.split(',').map(str::trim).filter(|prefix| !prefix.is_empty()).map(str::to_owned);
    match (filter_type, by_stream) {
        (JSON_PATH, _) => Ok((Source::All, None)),
        ("streamId", true) => {
            let stream = StreamName::new(expression)
                .map_err(|error| InvalidSettings::new(EXPRESSION, &format!("`{expression}`: {error}")))?;
            Ok((Source::Stream(stream), None))
        }
        ("prefix", true) => Ok((Source::All, Some(EventFilter::StreamNamePrefix(prefixes().collect())))),
        ("prefix", false) => Ok((Source::All, Some(EventFilter::EventTypePrefix(prefixes().collect())))),
        ("regex", true) => Ok((Source::All, Some(EventFilter::stream_name_regex(expression).map_err(invalid_regex)?))),
        ("regex", false) => Ok((Source::All, Some(EventFilter::event_type_regex(expression).map_err(invalid_regex)?))),
        ("streamId", false) => Err(InvalidSettings::new(FILTER_TYPE, "`streamId` needs scope `stream`")),
        (other, _) => Err(InvalidSettings::new(
            FILTER_TYPE,
            &format!("`{other}` is not one of `streamId`, `prefix`, `regex`, `jsonPath`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<(Source, Option<EventFilter>), InvalidSettings> {
        from_settings(&Reader(&crate::testing::raw(pairs)))
    }

    fn event(stream: &str, event_type: &str) -> RecordedEvent {
        crate::testing::recorded(stream, event_type, 0, 1, Bytes::new())
    }

    #[test]
    fn a_stream_id_reads_that_stream_alone() {
        let (source, filter) =
            parse(&[(SCOPE, "stream"), (EXPRESSION, "orders-1")]).expect("stream id is the default type");
        assert_eq!(source, Source::Stream(StreamName::new("orders-1").expect("valid")));
        assert!(filter.is_none());
    }

    #[test]
    fn prefixes_and_regexes_filter_streams_or_types() {
        let (_, filter) = parse(&[(FILTER_TYPE, "prefix"), (EXPRESSION, "order-, cart-")]).expect("valid");
        let filter = filter.expect("a filter");
        assert!(filter.matches(&event("cart-2", "X")) && !filter.matches(&event("user-2", "X")));

        let (_, filter) = parse(&[(SCOPE, "record"), (EXPRESSION, "^Order")]).expect("regex is the record default");
        let filter = filter.expect("a filter");
        assert!(filter.matches(&event("a", "OrderPlaced")) && !filter.matches(&event("a", "Shipped")));

        let (_, filter) = parse(&[(SCOPE, "record"), (FILTER_TYPE, "prefix"), (EXPRESSION, "Ship")]).expect("valid");
        assert!(filter.expect("a filter").matches(&event("a", "Shipped")));
    }

    #[test]
    fn bad_filters_are_refused_with_their_key() {
        let error = parse(&[(FILTER_TYPE, "regex"), (EXPRESSION, "(unclosed")]).expect_err("bad regex");
        assert!(error.to_string().contains(EXPRESSION), "{error}");
        let error = parse(&[(SCOPE, "everything")]).expect_err("bad scope");
        assert!(error.to_string().contains(SCOPE), "{error}");
        let error = parse(&[(FILTER_TYPE, "xpath"), (EXPRESSION, "/x")]).expect_err("unsupported type");
        assert!(error.to_string().contains(FILTER_TYPE), "{error}");
        assert!(parse(&[(SCOPE, "record"), (FILTER_TYPE, "streamId"), (EXPRESSION, "a")]).is_err());
        assert!(parse(&[]).expect("no filter").1.is_none());
    }

    #[test]
    fn a_json_path_reads_all_of_the_log_and_filters_on_the_data() {
        let settings = crate::testing::raw(&[(FILTER_TYPE, "jsonPath"), (EXPRESSION, "$[?(@.amount > 100)]")]);
        let (source, filter) = from_settings(&Reader(&settings)).expect("valid");
        assert!(source == Source::All && filter.is_none());
        let json = json_filter_from_settings(&Reader(&settings)).expect("valid").expect("a JSON filter");
        let big = crate::testing::recorded("a", "X", 0, 1, Bytes::from_static(br#"{"amount":101}"#));
        let small = crate::testing::recorded("a", "X", 0, 1, Bytes::from_static(br#"{"amount":100}"#));
        assert!(json.matches(&big) && !json.matches(&small));

        let bad = crate::testing::raw(&[(FILTER_TYPE, "jsonPath"), (EXPRESSION, "$.amount >")]);
        let error = json_filter_from_settings(&Reader(&bad)).expect_err("no literal");
        assert!(error.to_string().contains(EXPRESSION) && error.to_string().contains("byte 10"), "{error}");
        let missing = crate::testing::raw(&[(FILTER_TYPE, "jsonPath")]);
        assert!(json_filter_from_settings(&Reader(&missing)).is_err());
        assert!(json_filter_from_settings(&Reader(&crate::testing::raw(&[]))).expect("no filter").is_none());
    }

    #[test]
    fn system_events_are_never_delivered() {
        assert!(is_system(&event("$connectors", "X")));
        assert!(is_system(&event("orders", "$metadata")));
        assert!(!is_system(&event("orders", "OrderPlaced")));
    }
}
