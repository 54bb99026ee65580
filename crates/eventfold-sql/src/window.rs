//! Windows as grouping keys: `date_bin(size, created)` puts a row in one
//! (tumbling) window, `hop(created, slide, size)` in every hopping window
//! that holds it, so a row may count in several groups.

use crate::error::SqlError;
use crate::expr::{Expr, Row};
use crate::functions::{ScalarFunction, hop_widths};
use crate::value::Value;

/// The starts of the hopping windows `[start, start + size)` that hold
/// `at`, windows starting on multiples of `slide`, latest first.
pub fn hop_starts(at: i64, slide: i64, size: i64) -> Vec<i64> {
    let latest = at - at.rem_euclid(slide);
    let mut starts = Vec::new();
    let mut start = latest;
    while start > at.saturating_sub(size) {
        starts.push(start);
        start = start.saturating_sub(slide);
    }
    starts
}

/// Whether `key` is a `hop(...)` key.
pub fn is_hop(key: &Expr) -> bool {
    matches!(key, Expr::Call { function: ScalarFunction::Hop, .. })
}

/// The group keys of one row: one set, or one per hopping window (the
/// planner allows one `hop` key per query).
pub fn group_keys(keys: &[Expr], row: Row<'_>) -> Result<Vec<Vec<Value>>, SqlError> {
    let mut base = Vec::with_capacity(keys.len());
    let mut hop = None;
    for (index, key) in keys.iter().enumerate() {
        match key {
            Expr::Call { function: ScalarFunction::Hop, arguments } if arguments.len() == 3 => {
                let values = arguments.iter().map(|argument| argument.evaluate(row)).collect::<Result<Vec<_>, _>>()?;
                let mut values = values.into_iter();
                let (Some(at), Some(slide), Some(size)) = (values.next(), values.next(), values.next()) else {
                    return Err(SqlError::evaluation("hop takes three arguments"));
                };
                let at = match at {
                    Value::Timestamp(ticks) => ticks,
                    Value::Null => {
                        base.push(Value::Null);
                        continue;
                    }
                    other => {
                        return Err(SqlError::evaluation(format!("hop takes a timestamp, not {}", other.type_name())));
                    }
                };
                let (slide, size) = hop_widths(slide, size)?;
                hop = Some((index, hop_starts(at, slide, size)));
                base.push(Value::Null);
            }
            key => base.push(key.evaluate(row)?),
        }
    }
    let Some((index, starts)) = hop else { return Ok(vec![base]) };
    Ok(starts
        .into_iter()
        .map(|start| {
            let mut keys = base.clone();
            if let Some(slot) = keys.get_mut(index) {
                *slot = Value::Timestamp(start);
            }
            keys
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_falls_in_size_over_slide_hopping_windows() {
        assert_eq!(hop_starts(125, 10, 30), vec![120, 110, 100]);
        assert_eq!(hop_starts(120, 10, 30), vec![120, 110, 100]);
        assert_eq!(hop_starts(5, 10, 10), vec![0]);
        assert_eq!(hop_starts(-5, 10, 20), vec![-10, -20]);
    }
}
