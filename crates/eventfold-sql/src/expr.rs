//! Planned expressions and their evaluation against one row: an event
//! (before grouping) or a group's keys and aggregates (after it).

use std::cmp::Ordering;

use eventfold_store::RecordedEvent;

use crate::error::SqlError;
use crate::functions::ScalarFunction;
use crate::value::Value;
use crate::view::Column;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    And,
    Or,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    Concat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastType {
    Int,
    Float,
    Text,
    Bool,
    Timestamp,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Column(Column),
    Literal(Value),
    Not(Box<Expr>),
    Negate(Box<Expr>),
    Binary {
        left: Box<Expr>,
        op: BinaryOp,
        right: Box<Expr>,
    },
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
        case_insensitive: bool,
    },
    Case {
        operand: Option<Box<Expr>>,
        branches: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    Cast {
        expr: Box<Expr>,
        to: CastType,
    },
    Call {
        function: ScalarFunction,
        arguments: Vec<Expr>,
    },
    /// After grouping: the group's `n`th key.
    GroupKey(usize),
    /// After grouping: the group's `n`th aggregate.
    Aggregate(usize),
    /// In a join: a column of one side's event (`s.stream`).
    SideColumn {
        side: Side,
        column: Column,
    },
}

/// The two sources of a join, in the order the query names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    Left,
    Right,
}

/// What an expression is evaluated against.
#[derive(Clone, Copy)]
pub enum Row<'a> {
    Event(&'a RecordedEvent),
    Group {
        keys: &'a [Value],
        aggregates: &'a [Value],
    },
    /// A joined pair; a missing side (a LEFT JOIN with no match) reads as
    /// `NULL`s.
    Pair {
        left: Option<&'a RecordedEvent>,
        right: Option<&'a RecordedEvent>,
    },
}

impl Expr {
    pub fn evaluate(&self, row: Row<'_>) -> Result<Value, SqlError> {
        match self {
            Expr::Column(column) => match row {
                Row::Event(event) => Ok(column.value_of(event)),
                Row::Group { .. } => Err(SqlError::evaluation(format!("column `{}` after grouping", column.name()))),
                Row::Pair { .. } => Err(SqlError::evaluation(format!("column `{}` without its side", column.name()))),
            },
            Expr::SideColumn { side, column } => match row {
                Row::Pair { left, right } => {
                    let event = if *side == Side::Left { left } else { right };
                    Ok(event.map_or(Value::Null, |event| column.value_of(event)))
                }
                _ => Err(SqlError::evaluation(format!("column `{}` of a join side outside a join", column.name()))),
            },
            Expr::Literal(value) => Ok(value.clone()),
            Expr::Not(inner) => Ok(match inner.evaluate(row)?.truth()? {
                None => Value::Null,
                Some(flag) => Value::Bool(!flag),
            }),
            Expr::Negate(inner) => match inner.evaluate(row)? {
                Value::Null => Ok(Value::Null),
                Value::Int(number) => {
                    number.checked_neg().map(Value::Int).ok_or_else(|| SqlError::evaluation("negation out of range"))
                }
                Value::Float(number) => Ok(Value::Float(-number)),
                Value::Interval(ticks) => Ok(Value::Interval(-ticks)),
                other => Err(SqlError::evaluation(format!("cannot negate {}", other.type_name()))),
            },
            Expr::Binary { left, op, right } => binary(left, *op, right, row),
            Expr::IsNull { expr, negated } => Ok(Value::Bool(expr.evaluate(row)?.is_null() != *negated)),
            Expr::InList { expr, list, negated } => {
                let value = expr.evaluate(row)?;
                if value.is_null() {
                    return Ok(Value::Null);
                }
                let mut unknown = false;
                for candidate in list {
                    match value.compare(&candidate.evaluate(row)?)? {
                        Some(Ordering::Equal) => return Ok(Value::Bool(!negated)),
                        None => unknown = true,
                        Some(_) => {}
                    }
                }
                Ok(if unknown { Value::Null } else { Value::Bool(*negated) })
            }
            Expr::Between { expr, low, high, negated } => {
                let value = expr.evaluate(row)?;
                let above = value.compare(&low.evaluate(row)?)?.map(Ordering::is_ge);
                let below = value.compare(&high.evaluate(row)?)?.map(Ordering::is_le);
                Ok(match and(above, below) {
                    None => Value::Null,
                    Some(inside) => Value::Bool(inside != *negated),
                })
            }
            Expr::Like { expr, pattern, negated, case_insensitive } => {
                match (expr.evaluate(row)?, pattern.evaluate(row)?) {
                    (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
                    (Value::Text(text), Value::Text(pattern)) => {
                        let matched = if *case_insensitive {
                            like(&text.to_lowercase(), &pattern.to_lowercase())
                        } else {
                            like(&text, &pattern)
                        };
                        Ok(Value::Bool(matched != *negated))
                    }
                    (left, right) => Err(SqlError::evaluation(format!(
                        "LIKE compares text, not {} with {}",
                        left.type_name(),
                        right.type_name()
                    ))),
                }
            }
            Expr::Case { operand, branches, otherwise } => {
                let subject = operand.as_ref().map(|operand| operand.evaluate(row)).transpose()?;
                for (condition, result) in branches {
                    let condition = condition.evaluate(row)?;
                    let taken = match &subject {
                        Some(subject) => subject.compare(&condition)? == Some(Ordering::Equal),
                        None => condition.truth()? == Some(true),
                    };
                    if taken {
                        return result.evaluate(row);
                    }
                }
                otherwise.as_ref().map_or(Ok(Value::Null), |otherwise| otherwise.evaluate(row))
            }
            Expr::Cast { expr, to } => cast(expr.evaluate(row)?, *to),
            Expr::Call { function, arguments } => {
                let values = arguments.iter().map(|argument| argument.evaluate(row)).collect::<Result<Vec<_>, _>>()?;
                function.call(values)
            }
            Expr::GroupKey(index) => group_value(row, *index, true),
            Expr::Aggregate(index) => group_value(row, *index, false),
        }
    }
}

fn group_value(row: Row<'_>, index: usize, key: bool) -> Result<Value, SqlError> {
    let Row::Group { keys, aggregates } = row else {
        return Err(SqlError::evaluation("a grouped value before grouping"));
    };
    let values = if key { keys } else { aggregates };
    values.get(index).cloned().ok_or_else(|| SqlError::evaluation("a grouped value out of range"))
}

/// SQL's AND over unknowns: false wins, then unknown.
fn and(left: Option<bool>, right: Option<bool>) -> Option<bool> {
    match (left, right) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or(left: Option<bool>, right: Option<bool>) -> Option<bool> {
    match (left, right) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

fn truth_value(truth: Option<bool>) -> Value {
    truth.map_or(Value::Null, Value::Bool)
}

fn binary(left: &Expr, op: BinaryOp, right: &Expr, row: Row<'_>) -> Result<Value, SqlError> {
    // AND and OR stop at the first side that decides, as SQL allows.
    if op == BinaryOp::And {
        let left = left.evaluate(row)?.truth()?;
        if left == Some(false) {
            return Ok(Value::Bool(false));
        }
        return Ok(truth_value(and(left, right.evaluate(row)?.truth()?)));
    }
    if op == BinaryOp::Or {
        let left = left.evaluate(row)?.truth()?;
        if left == Some(true) {
            return Ok(Value::Bool(true));
        }
        return Ok(truth_value(or(left, right.evaluate(row)?.truth()?)));
    }
    let left = left.evaluate(row)?;
    let right = right.evaluate(row)?;
    let compared =
        |test: fn(Ordering) -> bool| -> Result<Value, SqlError> { Ok(truth_value(left.compare(&right)?.map(test))) };
    match op {
        BinaryOp::Eq => compared(Ordering::is_eq),
        BinaryOp::NotEq => compared(Ordering::is_ne),
        BinaryOp::Lt => compared(Ordering::is_lt),
        BinaryOp::LtEq => compared(Ordering::is_le),
        BinaryOp::Gt => compared(Ordering::is_gt),
        BinaryOp::GtEq => compared(Ordering::is_ge),
        BinaryOp::Concat => match (&left, &right) {
            (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
            _ => Ok(Value::Text(format!("{left}{right}"))),
        },
        _ => arithmetic(left, op, right),
    }
}

fn arithmetic(left: Value, op: BinaryOp, right: Value) -> Result<Value, SqlError> {
    let out_of_range = || SqlError::evaluation("integer arithmetic out of range");
    match (left, right) {
        (Value::Null, _) | (_, Value::Null) => Ok(Value::Null),
        (Value::Int(left), Value::Int(right)) => {
            let result = match op {
                BinaryOp::Plus => left.checked_add(right),
                BinaryOp::Minus => left.checked_sub(right),
                BinaryOp::Multiply => left.checked_mul(right),
                BinaryOp::Divide | BinaryOp::Modulo if right == 0 => {
                    return Err(SqlError::evaluation("division by zero"));
                }
                BinaryOp::Divide => left.checked_div(right),
                BinaryOp::Modulo => left.checked_rem(right),
                _ => None,
            };
            result.map(Value::Int).ok_or_else(out_of_range)
        }
        (Value::Timestamp(at), Value::Interval(length)) if matches!(op, BinaryOp::Plus | BinaryOp::Minus) => {
            let length = if op == BinaryOp::Minus { length.checked_neg().ok_or_else(out_of_range)? } else { length };
            at.checked_add(length).map(Value::Timestamp).ok_or_else(out_of_range)
        }
        (Value::Timestamp(later), Value::Timestamp(earlier)) if op == BinaryOp::Minus => {
            later.checked_sub(earlier).map(Value::Interval).ok_or_else(out_of_range)
        }
        (left, right) => {
            let as_float = |value: &Value| match value {
                Value::Int(number) => Some(*number as f64),
                Value::Float(number) => Some(*number),
                _ => None,
            };
            let (Some(left_number), Some(right_number)) = (as_float(&left), as_float(&right)) else {
                return Err(SqlError::evaluation(format!(
                    "no arithmetic between {} and {}",
                    left.type_name(),
                    right.type_name()
                )));
            };
            let result = match op {
                BinaryOp::Plus => left_number + right_number,
                BinaryOp::Minus => left_number - right_number,
                BinaryOp::Multiply => left_number * right_number,
                BinaryOp::Divide => left_number / right_number,
                BinaryOp::Modulo => left_number % right_number,
                _ => return Err(SqlError::evaluation("not an arithmetic operator")),
            };
            Ok(Value::Float(result))
        }
    }
}

fn cast(value: Value, to: CastType) -> Result<Value, SqlError> {
    let refuse = |value: &Value| SqlError::evaluation(format!("cannot cast {} `{value}` to {to:?}", value.type_name()));
    Ok(match (value, to) {
        (Value::Null, _) => Value::Null,
        (Value::Text(text), CastType::Text) => Value::Text(text),
        (value, CastType::Text) => Value::Text(value.to_string()),
        (Value::Int(number), CastType::Int) => Value::Int(number),
        (Value::Float(number), CastType::Int) if number.is_finite() && number.abs() < 9.2e18 => {
            Value::Int(number.round() as i64)
        }
        (Value::Text(text), CastType::Int) => {
            Value::Int(text.trim().parse().map_err(|_| refuse(&Value::Text(text.clone())))?)
        }
        (Value::Bool(flag), CastType::Int) => Value::Int(i64::from(flag)),
        (Value::Int(number), CastType::Float) => Value::Float(number as f64),
        (Value::Float(number), CastType::Float) => Value::Float(number),
        (Value::Text(text), CastType::Float) => {
            Value::Float(text.trim().parse().map_err(|_| refuse(&Value::Text(text.clone())))?)
        }
        (Value::Bool(flag), CastType::Bool) => Value::Bool(flag),
        (Value::Text(text), CastType::Bool) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "1" => Value::Bool(true),
            "false" | "f" | "0" => Value::Bool(false),
            _ => return Err(refuse(&Value::Text(text))),
        },
        (Value::Int(number), CastType::Bool) => Value::Bool(number != 0),
        (Value::Timestamp(ticks), CastType::Timestamp) => Value::Timestamp(ticks),
        (Value::Text(text), CastType::Timestamp) => Value::Timestamp(crate::value::parse_timestamp(&text)?),
        (value, _) => return Err(refuse(&value)),
    })
}

/// SQL `LIKE`: `%` any run of characters, `_` any one character.
pub fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // Greedy matching with one backtrack point (the last `%`), linear in
    // practice and never exponential.
    let (mut text_index, mut pattern_index) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while text_index < text.len() {
        match pattern.get(pattern_index) {
            Some('%') => {
                backtrack = Some((pattern_index, text_index));
                pattern_index += 1;
            }
            Some(&expected) if expected == '_' || text.get(text_index) == Some(&expected) => {
                text_index += 1;
                pattern_index += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    pattern_index = star + 1;
                    text_index = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(pattern_index..).is_some_and(|rest| rest.iter().all(|character| *character == '%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn literal(value: Value) -> Box<Expr> {
        Box::new(Expr::Literal(value))
    }

    fn evaluate(expr: &Expr) -> Value {
        expr.evaluate(Row::Group { keys: &[], aggregates: &[] }).expect("evaluate")
    }

    #[test]
    fn like_matches_percent_and_underscore() {
        assert!(like("order-17", "order-%"));
        assert!(like("order-17", "%17"));
        assert!(like("order-17", "order-1_"));
        assert!(like("abcabc", "%abc"));
        assert!(!like("order-17", "order-1"));
        assert!(!like("order", "%x%"));
        assert!(like("", "%"));
    }

    #[test]
    fn three_valued_logic_follows_sql() {
        let unknown_and_false =
            Expr::Binary { left: literal(Value::Null), op: BinaryOp::And, right: literal(Value::Bool(false)) };
        assert_eq!(evaluate(&unknown_and_false), Value::Bool(false));
        let unknown_or_false =
            Expr::Binary { left: literal(Value::Null), op: BinaryOp::Or, right: literal(Value::Bool(false)) };
        assert_eq!(evaluate(&unknown_or_false), Value::Null);
        let in_with_null = Expr::InList {
            expr: literal(Value::Int(1)),
            list: vec![Expr::Literal(Value::Null), Expr::Literal(Value::Int(2))],
            negated: false,
        };
        assert_eq!(evaluate(&in_with_null), Value::Null);
    }

    #[test]
    fn arithmetic_keeps_integers_and_refuses_division_by_zero() {
        let sum = Expr::Binary { left: literal(Value::Int(2)), op: BinaryOp::Plus, right: literal(Value::Float(0.5)) };
        assert_eq!(evaluate(&sum), Value::Float(2.5));
        let division =
            Expr::Binary { left: literal(Value::Int(1)), op: BinaryOp::Divide, right: literal(Value::Int(0)) };
        assert!(division.evaluate(Row::Group { keys: &[], aggregates: &[] }).is_err());
        let cast = Expr::Cast { expr: literal(Value::Text("42".into())), to: CastType::Int };
        assert_eq!(evaluate(&cast), Value::Int(42));
    }
}
