//! A filter on the event's JSON data (`subscription:filter:filterType`
//! `jsonPath`): a JSONPath expression in the common shapes KurrentDB's
//! connectors take, parsed once at create and evaluated per event.
//!
//! - `$.amount`: the field is there (even as `null`);
//! - `$.amount > 100`, `$.status in ['open', 'paid']`: the field compared
//!   with a literal;
//! - `$[?(@.amount > 100 && @.currency == 'EUR')]`: RFC 9535's filter
//!   selector, `@` being the event's data, conditions joined by `&&` and
//!   `||` (`&&` binds tighter), `!` before an existence test.
//!
//! Paths are `.name`, `['name']` and `[index]` steps. Comparison follows
//! RFC 9535: numbers by value, `<`, `<=`, `>`, `>=` between two numbers or
//! two strings only, a missing field equal to nothing, and `!=` the
//! negation of `==` (so an event without the field matches `!=`). An event
//! that is not JSON matches nothing.
//!
//! A path becomes a JSON pointer, which `serde_json` resolves: the same
//! lookup the templates' `{/pointer}` and the PostgreSQL sink's parameters
//! use.

mod parse;
#[cfg(test)]
mod tests;

use eventfold_store::{ContentType, RecordedEvent};
use serde_json::Value;

/// A parsed JSON-path filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JsonFilter {
    /// Alternatives (`||`), each a conjunction (`&&`) of tests.
    any_of: Vec<Vec<Test>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Test {
    Exists { pointer: String, negated: bool },
    Compare { pointer: String, operator: Operator, literal: Value },
    In { pointer: String, literals: Vec<Value> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
}

impl JsonFilter {
    /// Parses `expression`, or says what is wrong with it and where.
    pub fn parse(expression: &str) -> Result<Self, String> {
        parse::parse(expression)
    }

    /// Whether `event`'s data is JSON and passes the filter.
    pub fn matches(&self, event: &RecordedEvent) -> bool {
        if event.content_type != ContentType::Json {
            return false;
        }
        match serde_json::from_slice::<Value>(&event.data) {
            Ok(data) => self.matches_data(&data),
            Err(_) => false,
        }
    }

    pub fn matches_data(&self, data: &Value) -> bool {
        self.any_of.iter().any(|all_of| all_of.iter().all(|test| test.holds(data)))
    }
}

impl Test {
    fn holds(&self, data: &Value) -> bool {
        match self {
            Test::Exists { pointer, negated } => data.pointer(pointer).is_some() != *negated,
            Test::Compare { pointer, operator, literal } => {
                let found = data.pointer(pointer);
                match operator {
                    Operator::Equal => found.is_some_and(|value| equal(value, literal)),
                    Operator::NotEqual => !found.is_some_and(|value| equal(value, literal)),
                    ordering => found.and_then(|value| order(value, literal)).is_some_and(|actual| match ordering {
                        Operator::Less => actual.is_lt(),
                        Operator::LessOrEqual => actual.is_le(),
                        Operator::Greater => actual.is_gt(),
                        _ => actual.is_ge(),
                    }),
                }
            }
            Test::In { pointer, literals } => {
                data.pointer(pointer).is_some_and(|value| literals.iter().any(|literal| equal(value, literal)))
            }
        }
    }
}

/// JSON equality with numbers compared by value (`1 == 1.0`).
fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => match (left.as_i64(), right.as_i64()) {
            (Some(left), Some(right)) => left == right,
            _ => left.as_f64() == right.as_f64(),
        },
        _ => left == right,
    }
}

/// How two numbers or two strings order; anything else does not.
fn order(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => match (left.as_i64(), right.as_i64()) {
            (Some(left), Some(right)) => Some(left.cmp(&right)),
            _ => left.as_f64()?.partial_cmp(&right.as_f64()?),
        },
        (Value::String(left), Value::String(right)) => Some(left.cmp(right)),
        _ => None,
    }
}
