use bytes::Bytes;

use super::*;

fn event(stream: &str, event_type: &str, data: &'static [u8]) -> RecordedEvent {
    crate::testing::recorded(stream, event_type, 7, 1234, Bytes::from_static(data))
}

fn parse(template: &str, placeholders: &Placeholders) -> Template {
    Template::parse(template, placeholders).expect("valid template")
}

/// Renders a message sink's template, its data parsed as the sinks do.
fn render_field(template: &str, event: &RecordedEvent) -> Result<String, String> {
    let template = parse(template, &FIELD_PLACEHOLDERS);
    let data = parsed_data(event, &[&template]);
    template.render(event, data.as_ref(), Written::AsTheyAre)
}

fn url(template: &str, event: &RecordedEvent) -> String {
    parse(template, &URL_PLACEHOLDERS).render(event, None, Written::PercentEncoded).expect("renders")
}

fn name(template: &str, event: &RecordedEvent) -> String {
    parse(template, &NAME_PLACEHOLDERS).render(event, None, Written::AsTheyAre).expect("renders")
}

#[test]
fn url_placeholders_take_the_events_values_percent_encoded() {
    let template = parse("http://h/in/{category}/{stream}?type={eventType}&r={revision}", &URL_PLACEHOLDERS);
    assert!(!template.is_fixed());
    assert_eq!(
        template.render(&event("order-1/2 x", "Placed&Paid", b""), None, Written::PercentEncoded).expect("renders"),
        "http://h/in/order/order-1%2F2%20x?type=Placed%26Paid&r=7"
    );
}

#[test]
fn percent_encoding_keeps_only_unreserved_characters() {
    // Multi-byte UTF-8 is escaped byte by byte; `-._~` stay.
    assert_eq!(url("/{stream}", &event("a-b.c_d~é?#%", "T", b"")), "/a-b.c_d~%C3%A9%3F%23%25");
}

#[test]
fn a_url_without_placeholders_is_fixed() {
    let template = parse("http://h/hook", &URL_PLACEHOLDERS);
    assert!(template.is_fixed());
    assert_eq!(url("http://h/hook", &event("a", "b", b"")), "http://h/hook");
}

#[test]
fn name_placeholders_take_the_events_values_as_they_are() {
    let event = event("order-1/a b", "Placed", b"");
    let template = parse("events/{category}/{stream}/{eventType}@{revision}:{position}", &NAME_PLACEHOLDERS);
    assert_eq!(
        template.render(&event, None, Written::AsTheyAre).expect("renders"),
        "events/order/order-1/a b/Placed@7:1234"
    );
    assert_eq!(name("{eventId}", &event), event.id.to_string());
    assert_eq!(template.render_sample("x"), "events/x/x/x@x:x");
}

#[test]
fn field_placeholders_take_the_events_values_unencoded() {
    let event = event("order-7", "Placed", br#"{"orderId":"o 7","total":12.5,"lines":[{"sku":"A1"}]}"#);
    assert_eq!(render_field("orders:{category}:{stream}", &event).expect("renders"), "orders:order:order-7");
    assert_eq!(render_field("{eventType}@{revision}/{position}", &event).expect("renders"), "Placed@7/1234");
    assert_eq!(render_field("{/orderId}|{/total}|{/lines/0/sku}", &event).expect("renders"), "o 7|12.5|A1");
    assert_eq!(
        render_field("{data}", &event).expect("renders"),
        r#"{"orderId":"o 7","total":12.5,"lines":[{"sku":"A1"}]}"#
    );
    let whole: Value = serde_json::from_str(&render_field("{event}", &event).expect("renders")).expect("JSON");
    assert_eq!((whole["stream"].as_str(), whole["data"]["orderId"].as_str()), (Some("order-7"), Some("o 7")));
    assert_eq!(render_field("{eventId}", &event).expect("renders"), event.id.to_string());
}

#[test]
fn data_and_metadata_that_are_not_utf8_are_written_as_base64() {
    let mut event = event("order-7", "Placed", b"\xff\x00");
    event.metadata = Bytes::from_static(br#"{"by":"me"}"#);
    assert_eq!(render_field("{data}|{metadata}", &event).expect("renders"), r#"/wA=|{"by":"me"}"#);
}

#[test]
fn a_json_pointer_to_an_object_is_written_as_json() {
    let event = event("order-7", "Placed", br#"{"customer":{"id":3}}"#);
    assert_eq!(render_field("{/customer}", &event).expect("renders"), r#"{"id":3}"#);
}

#[test]
fn a_missing_field_fails_that_event_only() {
    let error = render_field("order:{/orderId}", &event("o-1", "T", br#"{"other":1}"#)).expect_err("no orderId");
    assert!(error.contains("/orderId"), "{error}");
    assert!(render_field("order:{/orderId}", &event("o-1", "T", br#"{"orderId":null}"#)).is_err(), "null is missing");
    assert!(
        render_field("order:{/orderId}", &event("o-1", "T", b"\xff not json")).is_err(),
        "binary data has no fields"
    );
    assert!(render_field("order:{/orderId}", &event("o-1", "T", br#"{"orderId":1}"#)).is_ok(), "the template is fine");
}

#[test]
fn only_json_pointers_read_the_events_data() {
    let template = parse("x.{stream}.{/id}", &FIELD_PLACEHOLDERS);
    assert_eq!(template.render_sample("s"), "x.s.s");
    assert!(template.reads_data());
    assert!(!parse("{stream}", &FIELD_PLACEHOLDERS).reads_data());
    // `{data}` is written from the bytes, never parsed.
    assert!(!parse("{data}", &FIELD_PLACEHOLDERS).reads_data());
}

#[test]
fn malformed_templates_are_refused_in_every_use() {
    for placeholders in [URL_PLACEHOLDERS, NAME_PLACEHOLDERS, FIELD_PLACEHOLDERS] {
        for bad in ["{nope}", "a{stream", "a}b", "a}{stream}", "{stream}}", "{{stream}}", ""] {
            assert!(Template::parse(bad, &placeholders).is_err(), "{bad} in {placeholders:?}");
        }
    }
}

#[test]
fn errors_say_what_is_wrong_and_where() {
    let error =
        |template: &str, placeholders: &Placeholders| Template::parse(template, placeholders).expect_err("refused");
    // The byte counts from the template's start, past earlier placeholders.
    assert_eq!(error("/{stream}/{eventType", &URL_PLACEHOLDERS), "`{` at byte 10 is not closed");
    assert_eq!(error("a}{stream}", &NAME_PLACEHOLDERS), "`}` without `{`");
    assert_eq!(error("{stream}/b}", &FIELD_PLACEHOLDERS), "`}` without `{`");
    assert_eq!(error("", &NAME_PLACEHOLDERS), "is empty");
}

#[test]
fn an_unknown_placeholder_names_the_ones_its_use_allows() {
    assert_eq!(
        Template::parse("http://h/{position}", &URL_PLACEHOLDERS).expect_err("not in URLs"),
        "unknown placeholder `{position}`; known: stream, eventType, category, eventId, revision"
    );
    assert_eq!(
        Template::parse("{/id}", &NAME_PLACEHOLDERS).expect_err("no pointers in names"),
        "unknown placeholder `{/id}`; known: stream, eventType, category, eventId, revision, position"
    );
    assert_eq!(
        Template::parse("{nope}", &FIELD_PLACEHOLDERS).expect_err("unknown"),
        "unknown placeholder `{nope}`; known: stream, eventType, category, eventId, revision, position, data, \
         metadata, event, or a JSON pointer `{/field}`"
    );
    assert!(Template::parse("{data}", &NAME_PLACEHOLDERS).is_err(), "data is for message sinks only");
}
