use bytes::Bytes;
use eventfold_store::ContentType;
use serde_json::json;

use super::JsonFilter;

fn matches(expression: &str, data: serde_json::Value) -> bool {
    JsonFilter::parse(expression).unwrap_or_else(|error| panic!("{expression}: {error}")).matches_data(&data)
}

#[test]
fn a_bare_path_asks_that_the_field_be_there() {
    assert!(matches("$.amount", json!({"amount": 5})));
    assert!(matches("$.amount", json!({"amount": null})), "null is there");
    assert!(!matches("$.amount", json!({"total": 5})));
    assert!(matches("$.customer.address['post code']", json!({"customer": {"address": {"post code": "1"}}})));
    assert!(matches("$.lines[1].sku", json!({"lines": [{}, {"sku": "b"}]})));
    assert!(!matches("$.lines[2]", json!({"lines": [1, 2]})));
    assert!(matches("$['a/b']['c~d']", json!({"a/b": {"c~d": 1}})), "pointer escapes");
}

#[test]
fn comparisons_follow_rfc_9535() {
    let order = json!({"amount": 150, "price": 9.5, "currency": "EUR", "vip": true, "note": null});
    assert!(matches("$.amount > 100", order.clone()));
    assert!(!matches("$.amount < 100", order.clone()));
    assert!(matches("$.amount >= 150", order.clone()) && matches("$.amount <= 150.0", order.clone()));
    assert!(matches("$.amount == 150.0", order.clone()), "numbers compare by value");
    assert!(matches("$.price > 9.25", order.clone()));
    assert!(matches("$.currency == 'EUR'", order.clone()) && matches("$.currency == \"EUR\"", order.clone()));
    assert!(matches("$.currency < 'USD'", order.clone()), "strings order");
    assert!(!matches("$.currency > 100", order.clone()), "mixed types do not order");
    assert!(matches("$.vip == true", order.clone()) && matches("$.note == null", order.clone()));
    assert!(!matches("$.missing == null", order.clone()), "a missing field equals nothing");
    assert!(matches("$.missing != 5", order.clone()), "`!=` is the negation of `==`");
    assert!(!matches("$.amount != 150", order.clone()));
    assert!(matches("$.currency in ['USD', 'EUR']", order.clone()));
    assert!(!matches("$.currency in ['USD']", order.clone()));
    assert!(!matches("$.missing in [null]", order));
}

#[test]
fn the_filter_selector_shape_takes_conditions() {
    let order = json!({"amount": 150, "currency": "EUR", "status": "open"});
    assert!(matches("$[?(@.amount > 100)]", order.clone()));
    assert!(matches("$[?@.amount > 100]", order.clone()), "RFC 9535 without parentheses");
    assert!(matches("$[?(@.amount > 100 && @.currency == 'EUR')]", order.clone()));
    assert!(!matches("$[?(@.amount > 100 && @.currency == 'USD')]", order.clone()));
    assert!(matches("$[?(@.currency == 'USD' || @.status in ['open'])]", order.clone()));
    assert!(matches("$[?(@.status)]", order.clone()) && !matches("$[?(!@.status)]", order.clone()));
    assert!(matches("$[?(!@.refund)]", order.clone()));
    assert!(
        matches("$[?(@.currency == 'USD' || @.amount > 100 && @.status == 'open')]", order),
        "`&&` binds tighter than `||`"
    );
}

#[test]
fn bad_expressions_say_what_and_where() {
    for (expression, said) in [
        ("", "empty"),
        ("amount > 1", "`$`"),
        ("$.amount >", "a number"),
        ("$.amount = 1", "the end"),
        ("$[?(@.amount > 1]", "`)`"),
        ("$[?(@.amount > 1)", "`]`"),
        ("$.a.*", "wildcards"),
        ("$..a", "wildcards"),
        ("$.a == 'open", "not closed"),
        ("$.a in 'x'", "`[`"),
        ("$.a > 1.2.3", "not a number"),
        ("$[?(@.a > 1 && $.b)]", "`@`"),
        ("$.lines[x]", "array index"),
    ] {
        let error = JsonFilter::parse(expression).expect_err(expression);
        assert!(error.contains(said), "{expression}: {error}");
    }
}

#[test]
fn events_that_are_not_json_match_nothing() {
    let filter = JsonFilter::parse("$.n").expect("valid");
    let event = crate::testing::recorded("a", "X", 0, 1, Bytes::from_static(br#"{"n":1}"#));
    assert!(filter.matches(&event));
    let text = crate::testing::recorded("a", "X", 0, 1, Bytes::from_static(b"n=1"));
    assert!(!filter.matches(&text));
    let binary = eventfold_store::RecordedEvent { content_type: ContentType::Binary, ..event };
    assert!(!filter.matches(&binary));
}
