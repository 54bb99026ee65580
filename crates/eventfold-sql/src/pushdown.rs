//! Which part of a `WHERE` the store can do for the query: position bounds
//! become where the read starts and stops; on `events`, a stream-name or
//! event-type condition becomes a prefix filter of the `$all` read.
//!
//! Only conditions joined by `AND` at the top are looked at, and every one
//! stays in the filter applied to each event, so a pushdown can only save
//! reading, never change an answer.

use eventfold_store::EventFilter;

use crate::expr::{BinaryOp, Expr};
use crate::functions::ScalarFunction;
use crate::source::{ReadPlan, Table};
use crate::value::Value;
use crate::view::Column;

pub fn read_plan(table: Table, filter: Option<&Expr>) -> ReadPlan {
    let mut plan = ReadPlan::whole(table);
    let mut conditions = Vec::new();
    if let Some(filter) = filter {
        conjuncts(filter, &mut conditions);
    }
    let mut stream_prefixes = None;
    let mut type_prefixes = None;
    for condition in conditions {
        narrow_positions(condition, &mut plan);
        if stream_prefixes.is_none() {
            stream_prefixes =
                prefixes_of(condition, Column::Stream).or_else(|| prefixes_of(condition, Column::Category));
        }
        if type_prefixes.is_none() {
            type_prefixes = prefixes_of(condition, Column::EventType);
        }
    }
    if plan.table == Table::Events {
        plan.filter = match (stream_prefixes, type_prefixes) {
            (Some(prefixes), _) => Some(EventFilter::StreamNamePrefix(prefixes)),
            (None, Some(prefixes)) => Some(EventFilter::EventTypePrefix(prefixes)),
            (None, None) => None,
        };
    }
    plan
}

fn conjuncts<'a>(expr: &'a Expr, into: &mut Vec<&'a Expr>) {
    match expr {
        Expr::Binary { left, op: BinaryOp::And, right } => {
            conjuncts(left, into);
            conjuncts(right, into);
        }
        other => into.push(other),
    }
}

fn integer(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Literal(Value::Int(number)) => Some(*number),
        _ => None,
    }
}

fn text(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(Value::Text(text)) => Some(text),
        _ => None,
    }
}

fn is_column(expr: &Expr, column: Column) -> bool {
    matches!(expr, Expr::Column(found) if *found == column)
}

/// `position <op> n` (either way round) and `position BETWEEN a AND b`.
fn narrow_positions(condition: &Expr, plan: &mut ReadPlan) {
    match condition {
        Expr::Binary { left, op, right } => {
            let (op, bound) = if is_column(left, Column::Position) {
                (*op, integer(right))
            } else if is_column(right, Column::Position) {
                (mirrored(*op), integer(left))
            } else {
                return;
            };
            let Some(bound) = bound else { return };
            match op {
                BinaryOp::Gt => at_least(plan, bound.saturating_add(1)),
                BinaryOp::GtEq => at_least(plan, bound),
                BinaryOp::Lt => at_most(plan, bound.saturating_sub(1)),
                BinaryOp::LtEq => at_most(plan, bound),
                BinaryOp::Eq => {
                    at_least(plan, bound);
                    at_most(plan, bound);
                }
                _ => {}
            }
        }
        Expr::Between { expr, low, high, negated: false } if is_column(expr, Column::Position) => {
            if let Some(low) = integer(low) {
                at_least(plan, low);
            }
            if let Some(high) = integer(high) {
                at_most(plan, high);
            }
        }
        _ => {}
    }
}

/// `n < position` is `position > n`.
fn mirrored(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        other => other,
    }
}

fn at_least(plan: &mut ReadPlan, bound: i64) {
    let bound = u64::try_from(bound).unwrap_or(0);
    plan.from_position = Some(plan.from_position.map_or(bound, |from| from.max(bound)));
    check_empty(plan);
}

fn at_most(plan: &mut ReadPlan, bound: i64) {
    match u64::try_from(bound) {
        Ok(bound) => plan.through_position = Some(plan.through_position.map_or(bound, |through| through.min(bound))),
        Err(_) => plan.empty = true,
    }
    check_empty(plan);
}

fn check_empty(plan: &mut ReadPlan) {
    if let (Some(from), Some(through)) = (plan.from_position, plan.through_position)
        && from > through
    {
        plan.empty = true;
    }
}

/// The prefixes a condition on `column` restricts it to: `= 'x'`,
/// `IN ('x', 'y')`, `LIKE 'x%'` and `starts_with(column, 'x')`.
fn prefixes_of(condition: &Expr, column: Column) -> Option<Vec<String>> {
    let prefixes = match condition {
        Expr::Binary { left, op: BinaryOp::Eq, right } => {
            if is_column(left, column) {
                vec![text(right)?.to_owned()]
            } else if is_column(right, column) {
                vec![text(left)?.to_owned()]
            } else {
                return None;
            }
        }
        Expr::InList { expr, list, negated: false } if is_column(expr, column) => {
            list.iter().map(|item| text(item).map(str::to_owned)).collect::<Option<Vec<_>>>()?
        }
        Expr::Like { expr, pattern, negated: false, case_insensitive: false } if is_column(expr, column) => {
            let pattern = text(pattern)?;
            let cut = pattern.find(['%', '_']).unwrap_or(pattern.len());
            vec![pattern.get(..cut)?.to_owned()]
        }
        Expr::Call { function: ScalarFunction::StartsWith, arguments } => match arguments.as_slice() {
            [subject, prefix] if is_column(subject, column) => vec![text(prefix)?.to_owned()],
            _ => return None,
        },
        _ => return None,
    };
    // An empty prefix matches everything: no narrowing at all.
    (!prefixes.is_empty() && prefixes.iter().all(|prefix| !prefix.is_empty())).then_some(prefixes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(column: Column) -> Box<Expr> {
        Box::new(Expr::Column(column))
    }

    fn literal(value: Value) -> Box<Expr> {
        Box::new(Expr::Literal(value))
    }

    fn compare(left: Box<Expr>, op: BinaryOp, right: Box<Expr>) -> Expr {
        Expr::Binary { left, op, right }
    }

    fn both(left: Expr, right: Expr) -> Expr {
        Expr::Binary { left: Box::new(left), op: BinaryOp::And, right: Box::new(right) }
    }

    #[test]
    fn position_bounds_set_where_the_read_starts_and_stops() {
        let filter = both(
            compare(column(Column::Position), BinaryOp::Gt, literal(Value::Int(100))),
            compare(literal(Value::Int(900)), BinaryOp::GtEq, column(Column::Position)),
        );
        let plan = read_plan(Table::Events, Some(&filter));
        assert_eq!((plan.from_position, plan.through_position, plan.empty), (Some(101), Some(900), false));
        let impossible = both(
            compare(column(Column::Position), BinaryOp::Lt, literal(Value::Int(10))),
            compare(column(Column::Position), BinaryOp::Gt, literal(Value::Int(20))),
        );
        assert!(read_plan(Table::Events, Some(&impossible)).empty);
    }

    #[test]
    fn stream_conditions_become_a_prefix_filter_on_events_only() {
        let like = Expr::Like {
            expr: column(Column::Stream),
            pattern: literal(Value::Text("order-%".into())),
            negated: false,
            case_insensitive: false,
        };
        let plan = read_plan(Table::Events, Some(&like));
        assert!(matches!(&plan.filter, Some(EventFilter::StreamNamePrefix(prefixes)) if prefixes == &["order-"]));
        let category_plan = read_plan(Table::Category("order".into()), Some(&like));
        assert!(category_plan.filter.is_none());
    }

    #[test]
    fn event_type_conditions_push_down_when_no_stream_condition_does() {
        let types = Expr::InList {
            expr: column(Column::EventType),
            list: vec![Expr::Literal(Value::Text("A".into())), Expr::Literal(Value::Text("B".into()))],
            negated: false,
        };
        let plan = read_plan(Table::Events, Some(&types));
        assert!(matches!(&plan.filter, Some(EventFilter::EventTypePrefix(prefixes)) if prefixes == &["A", "B"]));
    }

    #[test]
    fn conditions_under_or_or_not_are_not_pushed_down() {
        let either = Expr::Binary {
            left: Box::new(compare(column(Column::Stream), BinaryOp::Eq, literal(Value::Text("a".into())))),
            op: BinaryOp::Or,
            right: Box::new(compare(column(Column::Position), BinaryOp::Gt, literal(Value::Int(5)))),
        };
        let plan = read_plan(Table::Events, Some(&either));
        assert!(plan.filter.is_none());
        assert_eq!(plan.from_position, None);
        let anything = Expr::Like {
            expr: column(Column::Stream),
            pattern: literal(Value::Text("%x".into())),
            negated: false,
            case_insensitive: false,
        };
        assert!(read_plan(Table::Events, Some(&anything)).filter.is_none());
    }
}
