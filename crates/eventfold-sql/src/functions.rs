//! The scalar functions a query may call: the JSON extractors, a few text
//! and number helpers, and the time buckets (`date_bin`, `date_trunc`) that
//! group events into tumbling windows on `created`.

use crate::error::SqlError;
use crate::json_path;
use crate::value::{TICKS_PER_DAY, TICKS_PER_MILLISECOND, TICKS_PER_SECOND, Value, parse_timestamp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScalarFunction {
    JsonStr,
    JsonInt,
    JsonFloat,
    JsonBool,
    /// `->`: the field as JSON text (a string keeps its quotes).
    JsonGet,
    Lower,
    Upper,
    Length,
    StartsWith,
    Coalesce,
    Abs,
    Round,
    DateBin,
    DateTrunc,
    /// `hop(created, slide, size)`: hopping windows. As a `GROUP BY` key it
    /// puts each row in every window that holds it (see `window.rs`); as a
    /// value, it is the start of the latest of them.
    Hop,
    /// `json_time(data, 'at')`: a timestamp field of the JSON, written as
    /// ISO-8601 text or as epoch milliseconds; `NULL` when it is neither.
    JsonTime,
    /// `lateness(time, '1 hour')`: `time` itself. In a continuous query's
    /// window on a data field it says how long a window stays open to late
    /// events (see `field_window.rs`).
    Lateness,
    /// `session(created, '30 minutes')`: a session window, a `GROUP BY` key
    /// of a continuous query only (see `session.rs`): a session has no
    /// value one row can compute.
    Session,
}

impl ScalarFunction {
    pub fn named(name: &str) -> Option<ScalarFunction> {
        let function = match name.to_ascii_lowercase().as_str() {
            "json_str" => ScalarFunction::JsonStr,
            "json_int" => ScalarFunction::JsonInt,
            "json_float" => ScalarFunction::JsonFloat,
            "json_bool" => ScalarFunction::JsonBool,
            "lower" => ScalarFunction::Lower,
            "upper" => ScalarFunction::Upper,
            "length" | "char_length" => ScalarFunction::Length,
            "starts_with" => ScalarFunction::StartsWith,
            "coalesce" => ScalarFunction::Coalesce,
            "abs" => ScalarFunction::Abs,
            "round" => ScalarFunction::Round,
            "date_bin" => ScalarFunction::DateBin,
            "date_trunc" => ScalarFunction::DateTrunc,
            "hop" => ScalarFunction::Hop,
            "json_time" => ScalarFunction::JsonTime,
            "lateness" => ScalarFunction::Lateness,
            "session" => ScalarFunction::Session,
            _ => return None,
        };
        Some(function)
    }

    /// How many arguments the function takes (inclusive bounds).
    pub fn arity(self) -> (usize, usize) {
        match self {
            ScalarFunction::JsonStr
            | ScalarFunction::JsonInt
            | ScalarFunction::JsonFloat
            | ScalarFunction::JsonBool
            | ScalarFunction::JsonGet
            | ScalarFunction::StartsWith
            | ScalarFunction::DateTrunc
            | ScalarFunction::JsonTime
            | ScalarFunction::Lateness
            | ScalarFunction::Session => (2, 2),
            ScalarFunction::Lower | ScalarFunction::Upper | ScalarFunction::Length | ScalarFunction::Abs => (1, 1),
            ScalarFunction::Round => (1, 2),
            ScalarFunction::DateBin => (2, 3),
            ScalarFunction::Hop => (3, 3),
            ScalarFunction::Coalesce => (1, usize::MAX),
        }
    }

    pub fn call(self, arguments: Vec<Value>) -> Result<Value, SqlError> {
        if self == ScalarFunction::Coalesce {
            return Ok(arguments.into_iter().find(|value| !value.is_null()).unwrap_or(Value::Null));
        }
        // Every other function is strict: NULL in, NULL out.
        if arguments.iter().any(Value::is_null) {
            return Ok(Value::Null);
        }
        let mut arguments = arguments.into_iter();
        let mut next = || arguments.next().unwrap_or(Value::Null);
        match self {
            ScalarFunction::JsonStr => json(next(), next(), |document, path| {
                json_path::json_str(document, path).map_or(Value::Null, Value::Text)
            }),
            ScalarFunction::JsonInt => json(next(), next(), |document, path| {
                json_path::json_int(document, path).map_or(Value::Null, Value::Int)
            }),
            ScalarFunction::JsonFloat => json(next(), next(), |document, path| {
                json_path::json_float(document, path).map_or(Value::Null, Value::Float)
            }),
            ScalarFunction::JsonBool => json(next(), next(), |document, path| {
                json_path::json_bool(document, path).map_or(Value::Null, Value::Bool)
            }),
            ScalarFunction::JsonGet => json(next(), next(), |document, path| {
                json_path::json_text(document, path).map_or(Value::Null, Value::Text)
            }),
            ScalarFunction::JsonTime => json(next(), next(), json_time),
            ScalarFunction::Lateness => {
                let at = next();
                interval(next())?;
                match at {
                    Value::Timestamp(_) => Ok(at),
                    other => {
                        Err(SqlError::evaluation(format!("lateness takes a timestamp, not {}", other.type_name())))
                    }
                }
            }
            ScalarFunction::Session => Err(SqlError::evaluation(
                "session(created, gap) is a GROUP BY key of a continuous query; an ad-hoc query cannot group by it",
            )),
            ScalarFunction::Lower => Ok(Value::Text(text(next(), "lower")?.to_lowercase())),
            ScalarFunction::Upper => Ok(Value::Text(text(next(), "upper")?.to_uppercase())),
            ScalarFunction::Length => {
                let length = text(next(), "length")?.chars().count();
                Ok(Value::Int(i64::try_from(length).unwrap_or(i64::MAX)))
            }
            ScalarFunction::StartsWith => {
                let whole = text(next(), "starts_with")?;
                let prefix = text(next(), "starts_with")?;
                Ok(Value::Bool(whole.starts_with(prefix.as_str())))
            }
            ScalarFunction::Abs => match next() {
                Value::Int(number) => number
                    .checked_abs()
                    .map(Value::Int)
                    .ok_or_else(|| SqlError::evaluation("abs: the integer is out of range")),
                Value::Float(number) => Ok(Value::Float(number.abs())),
                other => Err(SqlError::evaluation(format!("abs takes a number, not {}", other.type_name()))),
            },
            ScalarFunction::Round => {
                let number = match next() {
                    Value::Int(number) => return Ok(Value::Int(number)),
                    Value::Float(number) => number,
                    other => {
                        return Err(SqlError::evaluation(format!("round takes a number, not {}", other.type_name())));
                    }
                };
                let places = match next() {
                    Value::Null => 0,
                    Value::Int(places) => places.clamp(-15, 15),
                    other => {
                        return Err(SqlError::evaluation(format!(
                            "round's places must be an integer, not {}",
                            other.type_name()
                        )));
                    }
                };
                let scale = 10f64.powi(i32::try_from(places).unwrap_or(0));
                Ok(Value::Float((number * scale).round() / scale))
            }
            ScalarFunction::DateBin => {
                let width = interval(next())?;
                let timestamp = timestamp(next(), "date_bin")?;
                let origin = match next() {
                    Value::Null => 0,
                    origin => self::timestamp(origin, "date_bin")?,
                };
                let offset = timestamp.saturating_sub(origin);
                Ok(Value::Timestamp(origin.saturating_add(offset - offset.rem_euclid(width))))
            }
            ScalarFunction::Hop => {
                let timestamp = timestamp(next(), "hop")?;
                let (slide, size) = hop_widths(next(), next())?;
                let _ = size;
                Ok(Value::Timestamp(timestamp - timestamp.rem_euclid(slide)))
            }
            ScalarFunction::DateTrunc => {
                let unit = text(next(), "date_trunc")?;
                let width = unit_ticks(&unit).filter(|ticks| *ticks <= TICKS_PER_DAY).ok_or_else(|| {
                    SqlError::evaluation(format!(
                        "date_trunc: `{unit}` is not one of millisecond, second, minute, hour, day"
                    ))
                })?;
                let timestamp = timestamp(next(), "date_trunc")?;
                Ok(Value::Timestamp(timestamp - timestamp.rem_euclid(width)))
            }
            ScalarFunction::Coalesce => Ok(Value::Null),
        }
    }
}

fn json(document: Value, path: Value, extract: impl Fn(&str, &str) -> Value) -> Result<Value, SqlError> {
    let path = match path {
        Value::Text(path) => path,
        Value::Int(index) => index.to_string(),
        other => return Err(SqlError::evaluation(format!("a JSON path is text, not {}", other.type_name()))),
    };
    match document {
        Value::Text(document) => Ok(extract(&document, &path)),
        other => Err(SqlError::evaluation(format!("a JSON document is text, not {}", other.type_name()))),
    }
}

/// A timestamp field: ISO-8601 text, or a number of milliseconds since
/// the Unix epoch. Anything else (and a missing field) is `NULL`, like the
/// other extractors: one odd event must not fail a query.
fn json_time(document: &str, path: &str) -> Value {
    if let Some(milliseconds) = json_path::json_int(document, path) {
        return milliseconds.checked_mul(TICKS_PER_MILLISECOND).map_or(Value::Null, Value::Timestamp);
    }
    match json_path::json_text(document, path) {
        Some(quoted) if quoted.starts_with('"') => json_path::json_str(document, path)
            .and_then(|text| parse_timestamp(&text).ok())
            .map_or(Value::Null, Value::Timestamp),
        _ => Value::Null,
    }
}

fn text(value: Value, function: &str) -> Result<String, SqlError> {
    match value {
        Value::Text(text) => Ok(text),
        other => Err(SqlError::evaluation(format!("{function} takes text, not {}", other.type_name()))),
    }
}

fn timestamp(value: Value, function: &str) -> Result<i64, SqlError> {
    match value {
        Value::Timestamp(ticks) => Ok(ticks),
        Value::Text(text) => parse_timestamp(&text),
        other => Err(SqlError::evaluation(format!("{function} takes a timestamp, not {}", other.type_name()))),
    }
}

/// Most windows one row may fall in: a hopping window's size over its
/// slide. Bounds the work and the groups one event can cost.
pub const HOP_WINDOWS_PER_ROW_MAX: i64 = 1_000;

/// A hopping window's slide and size, checked: both positive, the size a
/// multiple of the slide, at most [`HOP_WINDOWS_PER_ROW_MAX`] windows per row.
pub fn hop_widths(slide: Value, size: Value) -> Result<(i64, i64), SqlError> {
    let (slide, size) = (interval(slide)?, interval(size)?);
    if size % slide != 0 || size / slide > HOP_WINDOWS_PER_ROW_MAX {
        return Err(SqlError::evaluation(format!(
            "hop: the size must be a multiple of the slide, at most {HOP_WINDOWS_PER_ROW_MAX} times it"
        )));
    }
    Ok((slide, size))
}

/// A window width: an interval, or its text (`'5 minutes'`). Must be positive.
fn interval(value: Value) -> Result<i64, SqlError> {
    let ticks = match value {
        Value::Interval(ticks) => ticks,
        Value::Text(text) => parse_interval(&text)?,
        other => return Err(SqlError::evaluation(format!("a window width is an interval, not {}", other.type_name()))),
    };
    if ticks <= 0 {
        return Err(SqlError::evaluation("a window width must be positive"));
    }
    Ok(ticks)
}

/// `'5 minutes'`, `'1 hour'`, `'30 s'`, `'250 milliseconds'`, `'2 days'`:
/// one count and one unit.
pub fn parse_interval(text: &str) -> Result<i64, SqlError> {
    let invalid = || {
        SqlError::evaluation(format!(
            "`{text}` is not an interval (expected a count and a unit: millisecond, second, minute, hour, day, week)"
        ))
    };
    let trimmed = text.trim();
    let split = trimmed.find(|character: char| !character.is_ascii_digit()).unwrap_or(trimmed.len());
    let (count, unit) = trimmed.split_at(split);
    let count: i64 = if count.is_empty() { 1 } else { count.parse().map_err(|_| invalid())? };
    let unit = unit.trim();
    let unit_ticks = unit_ticks(unit).ok_or_else(invalid)?;
    count.checked_mul(unit_ticks).ok_or_else(invalid)
}

fn unit_ticks(unit: &str) -> Option<i64> {
    let unit = unit.to_ascii_lowercase();
    let singular = unit.strip_suffix('s').filter(|stem| stem.len() > 1).unwrap_or(&unit);
    let ticks = match singular {
        "ms" | "millisecond" | "msec" => TICKS_PER_MILLISECOND,
        "s" | "sec" | "second" => TICKS_PER_SECOND,
        "m" | "min" | "minute" => 60 * TICKS_PER_SECOND,
        "h" | "hour" => 3600 * TICKS_PER_SECOND,
        "d" | "day" => TICKS_PER_DAY,
        "week" => 7 * TICKS_PER_DAY,
        _ => return None,
    };
    Some(ticks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> Value {
        Value::Text(value.to_owned())
    }

    #[test]
    fn json_functions_type_their_field() {
        let document = text(r#"{"customer":{"id":"c-1"},"total":9.5,"n":2,"ok":true}"#);
        let call = |function: ScalarFunction, path: &str| function.call(vec![document.clone(), text(path)]);
        assert_eq!(call(ScalarFunction::JsonStr, "customer.id").expect("str"), text("c-1"));
        assert_eq!(call(ScalarFunction::JsonInt, "n").expect("int"), Value::Int(2));
        assert_eq!(call(ScalarFunction::JsonFloat, "total").expect("float"), Value::Float(9.5));
        assert_eq!(call(ScalarFunction::JsonBool, "ok").expect("bool"), Value::Bool(true));
        assert_eq!(call(ScalarFunction::JsonGet, "customer.id").expect("get"), text(r#""c-1""#));
        assert_eq!(call(ScalarFunction::JsonInt, "missing").expect("missing"), Value::Null);
        assert_eq!(ScalarFunction::JsonStr.call(vec![Value::Null, text("a")]).expect("null"), Value::Null);
        assert!(ScalarFunction::JsonStr.call(vec![Value::Int(1), text("a")]).is_err());
    }

    #[test]
    fn date_bin_starts_tumbling_windows_at_the_origin() {
        let at = parse_timestamp("2026-12-05T14:03:07Z").expect("parse");
        let bin = ScalarFunction::DateBin.call(vec![text("5 minutes"), Value::Timestamp(at)]).expect("bin");
        assert_eq!(bin, Value::Timestamp(parse_timestamp("2026-12-05T14:00:00Z").expect("parse")));
        let hour = ScalarFunction::DateTrunc.call(vec![text("hour"), Value::Timestamp(at)]).expect("trunc");
        assert_eq!(hour, Value::Timestamp(parse_timestamp("2026-12-05T14:00:00Z").expect("parse")));
        assert!(ScalarFunction::DateBin.call(vec![text("0 minutes"), Value::Timestamp(at)]).is_err());
        assert!(ScalarFunction::DateTrunc.call(vec![text("fortnight"), Value::Timestamp(at)]).is_err());
    }

    #[test]
    fn json_time_reads_iso_text_and_epoch_milliseconds() {
        let document = text(r#"{"at":"2026-12-05T14:03:07.5Z","ms":1796479387500,"odd":"soon","flag":true}"#);
        let call = |path: &str| ScalarFunction::JsonTime.call(vec![document.clone(), text(path)]).expect("json_time");
        let expected = parse_timestamp("2026-12-05T14:03:07.5Z").expect("parse");
        assert_eq!(call("at"), Value::Timestamp(expected));
        assert_eq!(call("ms"), Value::Timestamp(1_796_479_387_500 * TICKS_PER_MILLISECOND));
        assert_eq!(call("odd"), Value::Null);
        assert_eq!(call("flag"), Value::Null);
        assert_eq!(call("missing"), Value::Null);
        let late = ScalarFunction::Lateness.call(vec![Value::Timestamp(expected), text("1 hour")]).expect("lateness");
        assert_eq!(late, Value::Timestamp(expected));
        assert!(ScalarFunction::Lateness.call(vec![Value::Timestamp(expected), text("a while")]).is_err());
        assert!(ScalarFunction::Session.call(vec![Value::Timestamp(expected), text("1 hour")]).is_err());
    }

    #[test]
    fn intervals_read_a_count_and_a_unit() {
        assert_eq!(parse_interval("5 minutes").expect("minutes"), 300 * TICKS_PER_SECOND);
        assert_eq!(parse_interval("1 hour").expect("hour"), 3600 * TICKS_PER_SECOND);
        assert_eq!(parse_interval("250ms").expect("ms"), 250 * TICKS_PER_MILLISECOND);
        assert_eq!(parse_interval("day").expect("day"), TICKS_PER_DAY);
        assert!(parse_interval("5 parsecs").is_err());
    }

    #[test]
    fn coalesce_takes_the_first_value_and_others_are_strict() {
        assert_eq!(ScalarFunction::Coalesce.call(vec![Value::Null, Value::Int(2)]).expect("coalesce"), Value::Int(2));
        assert_eq!(ScalarFunction::Upper.call(vec![Value::Null]).expect("upper"), Value::Null);
        assert_eq!(
            ScalarFunction::Round.call(vec![Value::Float(2.345), Value::Int(2)]).expect("round"),
            Value::Float(2.35)
        );
    }
}
