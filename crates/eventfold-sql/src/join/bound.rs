//! What a join condition says about time: which sides an expression reads,
//! and the bound `low <= right.created - left.created <= high` that its
//! comparisons of `created` imply. The bound is what lets a side's event be
//! forgotten: once the log's `created` has passed the last moment a partner
//! could be stamped, no event still to come can match it.

use crate::expr::{BinaryOp, Expr, Side};
use crate::value::Value;
use crate::view::Column;

/// Which sides of the join an expression reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SidesRead {
    pub left: bool,
    pub right: bool,
}

impl SidesRead {
    fn with(self, other: SidesRead) -> SidesRead {
        SidesRead { left: self.left || other.left, right: self.right || other.right }
    }

    pub fn only(self, side: Side) -> bool {
        match side {
            Side::Left => self.left && !self.right,
            Side::Right => self.right && !self.left,
        }
    }
}

pub fn sides_read(expr: &Expr) -> SidesRead {
    let all = |exprs: &mut dyn Iterator<Item = &Expr>| {
        exprs.fold(SidesRead::default(), |read, expr| read.with(sides_read(expr)))
    };
    match expr {
        Expr::SideColumn { side: Side::Left, .. } => SidesRead { left: true, right: false },
        Expr::SideColumn { side: Side::Right, .. } => SidesRead { left: false, right: true },
        Expr::Column(_) | Expr::Literal(_) | Expr::GroupKey(_) | Expr::Aggregate(_) => SidesRead::default(),
        Expr::Not(inner) | Expr::Negate(inner) | Expr::IsNull { expr: inner, .. } | Expr::Cast { expr: inner, .. } => {
            sides_read(inner)
        }
        Expr::Binary { left, right, .. } => sides_read(left).with(sides_read(right)),
        Expr::InList { expr, list, .. } => sides_read(expr).with(all(&mut list.iter())),
        Expr::Between { expr, low, high, .. } => all(&mut [expr, low, high].into_iter().map(Box::as_ref)),
        Expr::Like { expr, pattern, .. } => sides_read(expr).with(sides_read(pattern)),
        Expr::Case { operand, branches, otherwise } => {
            let branches = branches.iter().flat_map(|(condition, result)| [condition, result]);
            all(&mut operand.iter().map(Box::as_ref).chain(branches).chain(otherwise.iter().map(Box::as_ref)))
        }
        Expr::Call { arguments, .. } => all(&mut arguments.iter()),
    }
}

/// The conjuncts of a condition (`a AND b AND c`).
pub fn conjuncts(expr: Expr, into: &mut Vec<Expr>) {
    match expr {
        Expr::Binary { left, op: BinaryOp::And, right } => {
            conjuncts(*left, into);
            conjuncts(*right, into);
        }
        other => into.push(other),
    }
}

/// The bound on `right.created - left.created`, in ticks, both ends
/// inclusive. A strict comparison is kept inclusive here: the bound only
/// decides how long an event is kept, the condition itself still decides
/// each match.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CreatedBound {
    pub low: Option<i64>,
    pub high: Option<i64>,
}

impl CreatedBound {
    /// Narrows the bound by one conjunct, when it compares the two sides'
    /// `created`.
    pub fn narrow(&mut self, conjunct: &Expr) {
        match conjunct {
            Expr::Between { expr, low, high, negated: false } => {
                self.compare(expr, BinaryOp::GtEq, low);
                self.compare(expr, BinaryOp::LtEq, high);
            }
            Expr::Binary { left, op, right } => self.compare(left, *op, right),
            _ => {}
        }
    }

    fn compare(&mut self, left: &Expr, op: BinaryOp, right: &Expr) {
        let (Some((left_side, left_offset)), Some((right_side, right_offset))) = (created_at(left), created_at(right))
        else {
            return;
        };
        if left_side == right_side {
            return;
        }
        // `x.created + a  op  y.created + b`  is  `x.created - y.created  op  b - a`;
        // with x the left side, negate both to speak of right - left.
        let Some(difference) = right_offset.checked_sub(left_offset) else { return };
        let (op, difference) = if left_side == Side::Right {
            (op, difference)
        } else {
            let Some(negated) = difference.checked_neg() else { return };
            (mirrored(op), negated)
        };
        match op {
            BinaryOp::Gt | BinaryOp::GtEq => self.low = Some(self.low.map_or(difference, |low| low.max(difference))),
            BinaryOp::Lt | BinaryOp::LtEq => {
                self.high = Some(self.high.map_or(difference, |high| high.min(difference)));
            }
            BinaryOp::Eq => {
                self.low = Some(self.low.map_or(difference, |low| low.max(difference)));
                self.high = Some(self.high.map_or(difference, |high| high.min(difference)));
            }
            _ => {}
        }
    }
}

/// `a op b` read as `-a mirrored(op) -b`.
fn mirrored(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        other => other,
    }
}

/// `side.created + offset` when the expression is one side's `created`
/// shifted by constant intervals.
fn created_at(expr: &Expr) -> Option<(Side, i64)> {
    match expr {
        Expr::SideColumn { side, column: Column::Created } => Some((*side, 0)),
        Expr::Binary { left, op: BinaryOp::Plus, right } => match (left.as_ref(), right.as_ref()) {
            (shifted, Expr::Literal(Value::Interval(ticks))) | (Expr::Literal(Value::Interval(ticks)), shifted) => {
                let (side, offset) = created_at(shifted)?;
                Some((side, offset.checked_add(*ticks)?))
            }
            _ => None,
        },
        Expr::Binary { left, op: BinaryOp::Minus, right } => match right.as_ref() {
            Expr::Literal(Value::Interval(ticks)) => {
                let (side, offset) = created_at(left)?;
                Some((side, offset.checked_sub(*ticks)?))
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(side: Side) -> Box<Expr> {
        Box::new(Expr::SideColumn { side, column: Column::Created })
    }

    fn shifted(side: Side, ticks: i64) -> Box<Expr> {
        Box::new(Expr::Binary {
            left: created(side),
            op: BinaryOp::Plus,
            right: Box::new(Expr::Literal(Value::Interval(ticks))),
        })
    }

    #[test]
    fn between_and_comparisons_bound_the_difference_either_way_round() {
        let mut bound = CreatedBound::default();
        bound.narrow(&Expr::Between {
            expr: created(Side::Right),
            low: created(Side::Left),
            high: shifted(Side::Left, 60),
            negated: false,
        });
        assert_eq!(bound, CreatedBound { low: Some(0), high: Some(60) });

        // s.created > c.created - 10 (left after right minus ten), s.created <= c.created + 5
        let mut bound = CreatedBound::default();
        bound.narrow(&Expr::Binary { left: created(Side::Left), op: BinaryOp::Gt, right: shifted(Side::Right, -10) });
        bound.narrow(&Expr::Binary { left: created(Side::Left), op: BinaryOp::LtEq, right: shifted(Side::Right, 5) });
        assert_eq!(bound, CreatedBound { low: Some(-5), high: Some(10) });

        let mut unbounded = CreatedBound::default();
        unbounded.narrow(&Expr::Binary { left: created(Side::Right), op: BinaryOp::GtEq, right: created(Side::Left) });
        assert_eq!(unbounded, CreatedBound { low: Some(0), high: None });
    }
}
