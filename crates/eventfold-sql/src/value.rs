//! The values a query computes: SQL's scalar types, their comparison and
//! ordering, and how an answer prints them (JSON).

use std::cmp::Ordering;
use std::fmt;

use eventfold_store::civil_from_days;

use crate::error::SqlError;

/// 100 ns ticks (the unit of the store's `created`) per unit of time.
pub const TICKS_PER_MILLISECOND: i64 = 10_000;
pub const TICKS_PER_SECOND: i64 = 1_000 * TICKS_PER_MILLISECOND;
pub const TICKS_PER_DAY: i64 = 86_400 * TICKS_PER_SECOND;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// 100 ns ticks since the Unix epoch, UTC.
    Timestamp(i64),
    /// A length of time in ticks (`INTERVAL '5 minutes'`).
    Interval(i64),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Timestamp(_) => "timestamp",
            Value::Interval(_) => "interval",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The value as SQL's three-valued truth: `None` is unknown (`NULL`).
    pub fn truth(&self) -> Result<Option<bool>, SqlError> {
        match self {
            Value::Null => Ok(None),
            Value::Bool(flag) => Ok(Some(*flag)),
            other => Err(SqlError::evaluation(format!("expected a boolean, got {}", other.type_name()))),
        }
    }

    /// SQL comparison: `None` when either side is `NULL`. Integers and floats
    /// compare as numbers; a text compared with a timestamp is read as one.
    pub fn compare(&self, other: &Value) -> Result<Option<Ordering>, SqlError> {
        let ordering = match (self, other) {
            (Value::Null, _) | (_, Value::Null) => return Ok(None),
            (Value::Bool(left), Value::Bool(right)) => left.cmp(right),
            (Value::Int(left), Value::Int(right)) => left.cmp(right),
            (Value::Float(left), Value::Float(right)) => left.total_cmp(right),
            (Value::Int(left), Value::Float(right)) => (*left as f64).total_cmp(right),
            (Value::Float(left), Value::Int(right)) => left.total_cmp(&(*right as f64)),
            (Value::Text(left), Value::Text(right)) => left.cmp(right),
            (Value::Timestamp(left), Value::Timestamp(right)) => left.cmp(right),
            (Value::Interval(left), Value::Interval(right)) => left.cmp(right),
            (Value::Timestamp(left), Value::Text(text)) => left.cmp(&parse_timestamp(text)?),
            (Value::Text(text), Value::Timestamp(right)) => parse_timestamp(text)?.cmp(right),
            (left, right) => {
                return Err(SqlError::evaluation(format!(
                    "cannot compare {} with {}",
                    left.type_name(),
                    right.type_name()
                )));
            }
        };
        Ok(Some(ordering))
    }

    /// A total order for sorting and grouping: `NULL` after everything
    /// (PostgreSQL's default for ascending order), then by type, then by value.
    pub fn sort_order(&self, other: &Value) -> Ordering {
        fn rank(value: &Value) -> u8 {
            match value {
                Value::Bool(_) => 0,
                Value::Int(_) | Value::Float(_) => 1,
                Value::Text(_) => 2,
                Value::Timestamp(_) => 3,
                Value::Interval(_) => 4,
                Value::Null => 5,
            }
        }
        match (self, other) {
            (Value::Text(_), Value::Timestamp(_)) | (Value::Timestamp(_), Value::Text(_)) => {
                rank(self).cmp(&rank(other))
            }
            _ => match self.compare(other) {
                Ok(Some(ordering)) => ordering,
                _ => rank(self).cmp(&rank(other)),
            },
        }
    }

    /// The value in an answer: timestamps as RFC 3339 text, intervals as
    /// milliseconds, a float that is not finite as `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(flag) => serde_json::Value::Bool(*flag),
            Value::Int(number) => serde_json::Value::from(*number),
            Value::Float(number) => {
                serde_json::Number::from_f64(*number).map_or(serde_json::Value::Null, serde_json::Value::Number)
            }
            Value::Text(text) => serde_json::Value::String(text.clone()),
            Value::Timestamp(ticks) => serde_json::Value::String(format_timestamp(*ticks)),
            Value::Interval(ticks) => serde_json::Value::from(ticks / TICKS_PER_MILLISECOND),
        }
    }
}

impl Value {
    /// The value with its type, for state written and read back by the
    /// server itself (checkpoints); `to_json` is for people and loses types.
    pub fn to_tagged_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(flag) => serde_json::json!({ "bool": flag }),
            Value::Int(number) => serde_json::json!({ "int": number }),
            Value::Float(number) => serde_json::json!({ "floatBits": number.to_bits() }),
            Value::Text(text) => serde_json::json!({ "text": text }),
            Value::Timestamp(ticks) => serde_json::json!({ "timestamp": ticks }),
            Value::Interval(ticks) => serde_json::json!({ "interval": ticks }),
        }
    }

    pub fn from_tagged_json(json: &serde_json::Value) -> Option<Value> {
        if json.is_null() {
            return Some(Value::Null);
        }
        let (tag, inner) = json.as_object()?.iter().next()?;
        Some(match tag.as_str() {
            "bool" => Value::Bool(inner.as_bool()?),
            "int" => Value::Int(inner.as_i64()?),
            "floatBits" => Value::Float(f64::from_bits(inner.as_u64()?)),
            "text" => Value::Text(inner.as_str()?.to_owned()),
            "timestamp" => Value::Timestamp(inner.as_i64()?),
            "interval" => Value::Interval(inner.as_i64()?),
            _ => return None,
        })
    }
}

impl fmt::Display for Value {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => formatter.write_str("NULL"),
            Value::Bool(flag) => write!(formatter, "{flag}"),
            Value::Int(number) => write!(formatter, "{number}"),
            Value::Float(number) => write!(formatter, "{number}"),
            Value::Text(text) => formatter.write_str(text),
            Value::Timestamp(ticks) => formatter.write_str(&format_timestamp(*ticks)),
            Value::Interval(ticks) => write!(formatter, "{} ms", ticks / TICKS_PER_MILLISECOND),
        }
    }
}

/// `2026-12-05T14:03:07.1234567Z`: RFC 3339, UTC, with the fraction of a
/// second down to the tick when there is one.
pub fn format_timestamp(ticks: i64) -> String {
    let days = ticks.div_euclid(TICKS_PER_DAY);
    let of_day = ticks.rem_euclid(TICKS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    let seconds = of_day / TICKS_PER_SECOND;
    let fraction = of_day % TICKS_PER_SECOND;
    let (hour, minute, second) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if fraction != 0 {
        let digits = format!("{fraction:07}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the inverse of
/// `civil_from_days`, in the same 400-year eras).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Reads `YYYY-MM-DD`, optionally followed by `T` or a space,
/// `HH:MM[:SS[.fraction]]` and `Z` or `±HH:MM`.
pub fn parse_timestamp(text: &str) -> Result<i64, SqlError> {
    let invalid = || SqlError::evaluation(format!("`{text}` is not a timestamp (expected 2026-12-05T14:03:07Z)"));
    let trimmed = text.trim();
    let number = |part: &str| part.parse::<i64>().map_err(|_| invalid());
    let (date, rest) = match trimmed.find(['T', 't', ' ']) {
        Some(split) => (trimmed.get(..split).ok_or_else(invalid)?, trimmed.get(split + 1..).ok_or_else(invalid)?),
        None => (trimmed, ""),
    };
    let mut date_parts = date.splitn(3, '-');
    let (Some(year), Some(month), Some(day)) = (date_parts.next(), date_parts.next(), date_parts.next()) else {
        return Err(invalid());
    };
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(invalid());
    }
    let (time, offset_seconds) = split_offset(rest).ok_or_else(invalid)?;
    let mut ticks_of_day = 0;
    if !time.is_empty() {
        let mut time_parts = time.splitn(3, ':');
        let hour = number(time_parts.next().ok_or_else(invalid)?)?;
        let minute = number(time_parts.next().ok_or_else(invalid)?)?;
        let (second, fraction) = match time_parts.next() {
            None => (0, 0),
            Some(seconds) => match seconds.split_once('.') {
                None => (number(seconds)?, 0),
                Some((whole, digits)) => {
                    if digits.is_empty() || digits.len() > 7 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
                        return Err(invalid());
                    }
                    (number(whole)?, number(&format!("{digits:0<7}"))?)
                }
            },
        };
        if !(0..24).contains(&hour) || !(0..60).contains(&minute) || !(0..61).contains(&second) {
            return Err(invalid());
        }
        ticks_of_day = (hour * 3600 + minute * 60 + second) * TICKS_PER_SECOND + fraction;
    }
    let days = days_from_civil(year, month, day);
    days.checked_mul(TICKS_PER_DAY)
        .and_then(|ticks| ticks.checked_add(ticks_of_day))
        .and_then(|ticks| ticks.checked_sub(offset_seconds * TICKS_PER_SECOND))
        .ok_or_else(invalid)
}

/// The time of day and its offset from UTC in seconds (none means UTC).
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        return Some((time, 0));
    }
    // An offset sign comes after the hours; a `-` earlier is not one.
    match rest.get(2..).and_then(|tail| tail.rfind(['+', '-'])).map(|index| index + 2) {
        None => Some((rest, 0)),
        Some(index) => {
            let (time, offset) = rest.split_at(index);
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = offset.get(1..)?.split_once(':').unwrap_or((offset.get(1..)?, "0"));
            let seconds = hours.parse::<i64>().ok()? * 3600 + minutes.parse::<i64>().ok()? * 60;
            Some((time, sign * seconds))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_and_parse_back() {
        let ticks = parse_timestamp("2026-12-05T14:03:07.1234567Z").expect("parse");
        assert_eq!(format_timestamp(ticks), "2026-12-05T14:03:07.1234567Z");
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_timestamp("1970-01-02").expect("date"), TICKS_PER_DAY);
        assert_eq!(parse_timestamp("1970-01-01 01:00:00+01:00").expect("offset"), 0);
        assert_eq!(
            parse_timestamp("2000-02-29T00:00:00Z").map(format_timestamp).expect("leap"),
            "2000-02-29T00:00:00Z"
        );
        assert!(parse_timestamp("yesterday").is_err());
        assert!(parse_timestamp("2026-13-01").is_err());
    }

    #[test]
    fn numbers_compare_across_types_and_nulls_are_unknown() {
        assert_eq!(Value::Int(2).compare(&Value::Float(2.5)).expect("compare"), Some(Ordering::Less));
        assert_eq!(Value::Null.compare(&Value::Int(1)).expect("compare"), None);
        assert!(Value::Int(1).compare(&Value::Text("1".into())).is_err());
        let ticks = parse_timestamp("2026-01-01T00:00:00Z").expect("parse");
        let later = Value::Timestamp(ticks + 1);
        assert_eq!(
            later.compare(&Value::Text("2026-01-01T00:00:00Z".into())).expect("compare"),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn sorting_puts_nulls_last() {
        let mut values = vec![Value::Null, Value::Int(3), Value::Float(1.5)];
        values.sort_by(Value::sort_order);
        assert_eq!(values, vec![Value::Float(1.5), Value::Int(3), Value::Null]);
    }
}
