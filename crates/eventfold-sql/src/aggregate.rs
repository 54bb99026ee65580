//! `count`, `sum`, `min`, `max` and `avg`: one accumulator per group, fed
//! one row at a time, so a group costs the same memory whatever its size
//! (except `count(DISTINCT ...)`, which keeps the distinct values).

use std::collections::HashSet;

use crate::error::SqlError;
use crate::value::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateFunction {
    /// `count(*)`: every row.
    CountRows,
    /// `count(x)`: rows where `x` is not `NULL`.
    Count,
    Sum,
    Min,
    Max,
    Avg,
}

impl AggregateFunction {
    pub fn named(name: &str) -> Option<AggregateFunction> {
        let function = match name.to_ascii_lowercase().as_str() {
            "count" => AggregateFunction::Count,
            "sum" => AggregateFunction::Sum,
            "min" => AggregateFunction::Min,
            "max" => AggregateFunction::Max,
            "avg" => AggregateFunction::Avg,
            _ => return None,
        };
        Some(function)
    }
}

/// A value as a hash key: floats by their bits, so that grouping and
/// `DISTINCT` need no total order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(u64),
    Text(String),
    Timestamp(i64),
    Interval(i64),
}

impl From<&Value> for KeyValue {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => KeyValue::Null,
            Value::Bool(flag) => KeyValue::Bool(*flag),
            Value::Int(number) => KeyValue::Int(*number),
            Value::Float(number) => KeyValue::Float(number.to_bits()),
            Value::Text(text) => KeyValue::Text(text.clone()),
            Value::Timestamp(ticks) => KeyValue::Timestamp(*ticks),
            Value::Interval(ticks) => KeyValue::Interval(*ticks),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Accumulator {
    function: AggregateFunction,
    distinct: Option<HashSet<KeyValue>>,
    count: i64,
    integer_sum: i64,
    float_sum: f64,
    /// Whether a float was summed: the sum is then a float.
    saw_float: bool,
    extreme: Value,
}

impl Accumulator {
    pub fn new(function: AggregateFunction, distinct: bool) -> Self {
        Self {
            function,
            distinct: distinct.then(HashSet::new),
            count: 0,
            integer_sum: 0,
            float_sum: 0.0,
            saw_float: false,
            extreme: Value::Null,
        }
    }

    /// Adds one row's argument (ignored for `count(*)`).
    pub fn add(&mut self, value: Value) -> Result<(), SqlError> {
        if self.function == AggregateFunction::CountRows {
            self.count += 1;
            return Ok(());
        }
        if value.is_null() {
            return Ok(());
        }
        if let Some(seen) = &mut self.distinct
            && !seen.insert(KeyValue::from(&value))
        {
            return Ok(());
        }
        self.count += 1;
        match self.function {
            AggregateFunction::CountRows | AggregateFunction::Count => {}
            AggregateFunction::Sum | AggregateFunction::Avg => match value {
                Value::Int(number) => {
                    self.float_sum += number as f64;
                    self.integer_sum = self
                        .integer_sum
                        .checked_add(number)
                        .ok_or_else(|| SqlError::evaluation("sum: the integer total is out of range"))?;
                }
                Value::Float(number) => {
                    self.saw_float = true;
                    self.float_sum += number;
                }
                other => {
                    return Err(SqlError::evaluation(format!("sum and avg take numbers, not {}", other.type_name())));
                }
            },
            AggregateFunction::Min | AggregateFunction::Max => {
                let replace = match self.extreme.compare(&value)? {
                    None => true,
                    Some(ordering) => {
                        (self.function == AggregateFunction::Min && ordering.is_gt())
                            || (self.function == AggregateFunction::Max && ordering.is_lt())
                    }
                };
                if replace {
                    self.extreme = value;
                }
            }
        }
        Ok(())
    }

    /// The accumulator's state, for a checkpoint (`count(DISTINCT …)` is
    /// not checkpointed: continuous queries refuse it). Floats go by their
    /// bits: JSON text read back may differ in the last place.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "count": self.count,
            "integerSum": self.integer_sum,
            "floatSumBits": self.float_sum.to_bits(),
            "sawFloat": self.saw_float,
            "extreme": self.extreme.to_tagged_json(),
        })
    }

    /// An accumulator of `function` in the state [`Self::to_json`] wrote.
    pub fn from_json(function: AggregateFunction, state: &serde_json::Value) -> Option<Self> {
        let mut accumulator = Accumulator::new(function, false);
        accumulator.count = state.get("count")?.as_i64()?;
        accumulator.integer_sum = state.get("integerSum")?.as_i64()?;
        accumulator.float_sum = f64::from_bits(state.get("floatSumBits")?.as_u64()?);
        accumulator.saw_float = state.get("sawFloat")?.as_bool()?;
        accumulator.extreme = Value::from_tagged_json(state.get("extreme")?)?;
        Some(accumulator)
    }

    /// The aggregate of the rows added: `NULL` for `sum`, `min`, `max` and
    /// `avg` of no rows, 0 for `count`.
    pub fn finish(&self) -> Value {
        match self.function {
            AggregateFunction::CountRows | AggregateFunction::Count => Value::Int(self.count),
            _ if self.count == 0 => Value::Null,
            AggregateFunction::Sum if self.saw_float => Value::Float(self.float_sum),
            AggregateFunction::Sum => Value::Int(self.integer_sum),
            AggregateFunction::Avg => Value::Float(self.float_sum / self.count as f64),
            AggregateFunction::Min | AggregateFunction::Max => self.extreme.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(function: AggregateFunction, distinct: bool, values: &[Value]) -> Value {
        let mut accumulator = Accumulator::new(function, distinct);
        for value in values {
            accumulator.add(value.clone()).expect("add");
        }
        accumulator.finish()
    }

    #[test]
    fn aggregates_skip_nulls_and_type_their_result() {
        let values = [Value::Int(3), Value::Null, Value::Int(5), Value::Int(3)];
        assert_eq!(fold(AggregateFunction::CountRows, false, &values), Value::Int(4));
        assert_eq!(fold(AggregateFunction::Count, false, &values), Value::Int(3));
        assert_eq!(fold(AggregateFunction::Count, true, &values), Value::Int(2));
        assert_eq!(fold(AggregateFunction::Sum, false, &values), Value::Int(11));
        assert_eq!(fold(AggregateFunction::Min, false, &values), Value::Int(3));
        assert_eq!(fold(AggregateFunction::Max, false, &values), Value::Int(5));
        assert_eq!(fold(AggregateFunction::Avg, false, &[Value::Int(1), Value::Float(2.0)]), Value::Float(1.5));
        assert_eq!(fold(AggregateFunction::Sum, false, &[Value::Int(1), Value::Float(0.5)]), Value::Float(1.5));
    }

    #[test]
    fn no_rows_give_zero_counts_and_null_values() {
        assert_eq!(fold(AggregateFunction::Count, false, &[]), Value::Int(0));
        assert_eq!(fold(AggregateFunction::Sum, false, &[]), Value::Null);
        assert_eq!(fold(AggregateFunction::Max, false, &[Value::Null]), Value::Null);
    }

    #[test]
    fn summing_text_is_an_error_and_overflow_is_caught() {
        let mut accumulator = Accumulator::new(AggregateFunction::Sum, false);
        assert!(accumulator.add(Value::Text("x".into())).is_err());
        let mut accumulator = Accumulator::new(AggregateFunction::Sum, false);
        accumulator.add(Value::Int(i64::MAX)).expect("first");
        assert!(accumulator.add(Value::Int(1)).is_err());
    }
}
