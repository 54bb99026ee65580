//! Typed fields out of an event's JSON `data` or `metadata`: the semantics
//! of `json_str`, `json_int`, `json_float` and `json_bool`, kept apart from
//! the SQL engine so that they are tested on their own.
//!
//! A path is dot-separated keys (`customer.id`); a key that is a number
//! also indexes an array (`lines.0.sku`). A missing field, a document that
//! is not JSON, or a value of another type gives SQL `NULL`, never an
//! error: one odd event must not fail a query over millions.

use serde_json::Value;

/// The value at `path` in the JSON text `document`, if both parse.
fn lookup(document: &str, path: &str) -> Option<Value> {
    let root: Value = serde_json::from_str(document).ok()?;
    let mut current = root;
    if path.is_empty() {
        return Some(current);
    }
    for key in path.split('.') {
        current = match current {
            Value::Object(mut fields) => fields.remove(key)?,
            Value::Array(mut items) => {
                let index: usize = key.parse().ok()?;
                if index >= items.len() {
                    return None;
                }
                items.swap_remove(index)
            }
            _ => return None,
        };
    }
    Some(current)
}

/// A string as itself; a number or boolean as its JSON text; an object or
/// array as compact JSON; `null` and a missing field as `None`.
pub fn json_str(document: &str, path: &str) -> Option<String> {
    match lookup(document, path)? {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

/// The field as JSON text, whatever its type (a string keeps its quotes),
/// as PostgreSQL's `->` gives it.
pub fn json_text(document: &str, path: &str) -> Option<String> {
    match lookup(document, path)? {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// An integral number (or a float without a fraction, as JSON writers
/// often produce `3.0`); anything else is `None`.
pub fn json_int(document: &str, path: &str) -> Option<i64> {
    match lookup(document, path)? {
        Value::Number(number) => number.as_i64().or_else(|| {
            let float = number.as_f64()?;
            let in_range = float.fract() == 0.0 && float >= i64::MIN as f64 && float < i64::MAX as f64;
            in_range.then_some(float as i64)
        }),
        _ => None,
    }
}

/// Any number, as a float.
pub fn json_float(document: &str, path: &str) -> Option<f64> {
    match lookup(document, path)? {
        Value::Number(number) => number.as_f64(),
        _ => None,
    }
}

/// `true` or `false`; anything else is `None`.
pub fn json_bool(document: &str, path: &str) -> Option<bool> {
    match lookup(document, path)? {
        Value::Bool(flag) => Some(flag),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORDER: &str = r#"{"customer":{"id":"c-7","vip":true},"total":12.5,"count":3,"whole":4.0,"lines":[{"sku":"a"},{"sku":"b"}],"note":null}"#;

    #[test]
    fn nested_keys_and_array_indexes_reach_their_field() {
        assert_eq!(json_str(ORDER, "customer.id").as_deref(), Some("c-7"));
        assert_eq!(json_str(ORDER, "lines.1.sku").as_deref(), Some("b"));
        assert_eq!(json_bool(ORDER, "customer.vip"), Some(true));
        assert_eq!(json_int(ORDER, "count"), Some(3));
        assert_eq!(json_float(ORDER, "total"), Some(12.5));
    }

    #[test]
    fn strings_render_scalars_and_documents_as_text() {
        assert_eq!(json_str(ORDER, "count").as_deref(), Some("3"));
        assert_eq!(json_str(ORDER, "customer.vip").as_deref(), Some("true"));
        assert_eq!(json_str(ORDER, "lines.0").as_deref(), Some(r#"{"sku":"a"}"#));
    }

    #[test]
    fn integers_accept_whole_floats_only() {
        assert_eq!(json_int(ORDER, "whole"), Some(4));
        assert_eq!(json_int(ORDER, "total"), None);
        assert_eq!(json_float(ORDER, "count"), Some(3.0));
    }

    #[test]
    fn missing_null_mistyped_and_unparsable_give_null() {
        assert_eq!(json_str(ORDER, "customer.name"), None);
        assert_eq!(json_str(ORDER, "note"), None);
        assert_eq!(json_str(ORDER, "lines.9.sku"), None);
        assert_eq!(json_str(ORDER, "count.deeper"), None);
        assert_eq!(json_int(ORDER, "customer.id"), None);
        assert_eq!(json_bool(ORDER, "count"), None);
        assert_eq!(json_float("not json", "total"), None);
        assert_eq!(json_str("", "a"), None);
    }
}
