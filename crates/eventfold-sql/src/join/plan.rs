//! Which joins can be maintained, and their plan: two sources (`events` or
//! a table function, each with an alias), `JOIN` or `LEFT JOIN` on
//! equalities between the sides and a bound on `created` between them,
//! and the output expressions. A join with no bound on `created` both ways
//! is refused: the state would grow forever.

use sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, GroupByExpr, JoinConstraint, JoinOperator, Query, SelectItem,
    SetExpr, TableFactor, TableWithJoins, Value as SqlValue,
};

use super::bound::{CreatedBound, conjuncts, sides_read};
use crate::error::SqlError;
use crate::expr::{BinaryOp, Expr, Side};
use crate::plan::{output_name, plan_joined_expr, plan_table_factor};
use crate::source::Table;
use crate::value::Value;
use crate::view::Column;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    /// Every left event appears: with each match, or once with `NULL`s on
    /// the right when its bound passes without one.
    Left,
}

/// One source of the join: the conditions that read it alone, its table
/// among them (the join reads `$all`).
#[derive(Clone, Debug)]
pub struct SidePlan {
    pub filter: Option<Expr>,
}

#[derive(Clone, Debug)]
pub struct JoinPlan {
    pub kind: JoinKind,
    pub columns: Vec<String>,
    pub outputs: Vec<Expr>,
    pub left: SidePlan,
    pub right: SidePlan,
    /// Equalities between the sides: (left expression, right expression),
    /// the key a side's buffer is looked up by.
    pub keys: Vec<(Expr, Expr)>,
    /// What a pair must satisfy to match (the keys and the bound included).
    pub condition: Option<Expr>,
    /// LEFT JOIN only: the `WHERE` conditions on the right side, applied to
    /// every row produced (a missing right side reads as `NULL`s).
    pub row_filter: Option<Expr>,
    /// `low <= right.created - left.created <= high`, in ticks.
    pub low: i64,
    pub high: i64,
    /// The right side is `query('name')`: a table, the latest result row
    /// per key, that each left event looks up as it is read (no bound).
    pub right_is_table: bool,
}

/// Ad hoc and continuous alike: a join is run by the same state.
fn refuse(reason: &str) -> SqlError {
    SqlError::plan(format!("this join is not supported: {reason}"))
}

/// Whether the query's `FROM` is a join (two sources).
pub fn is_join(query: &Query) -> bool {
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    select.from.len() > 1 || select.from.iter().any(|from| !from.joins.is_empty())
}

pub fn plan_join(query: &Query) -> Result<JoinPlan, SqlError> {
    if query.with.is_some() {
        return Err(SqlError::plan("WITH (common table expressions) is not supported yet"));
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err(SqlError::plan("only a plain SELECT is supported (no UNION, VALUES or subquery)"));
    };
    if query.order_by.is_some() {
        return Err(refuse("ORDER BY sorts a result that never ends; sort when reading the result"));
    }
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return Err(refuse("LIMIT and OFFSET cut a result that keeps changing"));
    }
    if !matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty()) || select.having.is_some() {
        return Err(refuse("a join is not grouped; group its result with a query over it"));
    }
    if select.distinct.is_some() || select.into.is_some() || select.qualify.is_some() || select.prewhere.is_some() {
        return Err(refuse("a join takes no DISTINCT, INTO, QUALIFY or PREWHERE"));
    }
    let (left_factor, right_factor, operator) = match select.from.as_slice() {
        [TableWithJoins { relation, joins }] => match joins.as_slice() {
            [join] => (relation, &join.relation, &join.join_operator),
            _ => return Err(refuse("one join per query, of two sources")),
        },
        _ => return Err(refuse("write the join as `a JOIN b ON …`, not `FROM a, b`")),
    };
    let (kind, constraint) = match operator {
        JoinOperator::Join(constraint) | JoinOperator::Inner(constraint) => (JoinKind::Inner, constraint),
        JoinOperator::Left(constraint) | JoinOperator::LeftOuter(constraint) => (JoinKind::Left, constraint),
        JoinOperator::Right(_) | JoinOperator::RightOuter(_) => {
            return Err(refuse("RIGHT JOIN; write it as a LEFT JOIN with the sides swapped"));
        }
        _ => return Err(refuse("only JOIN (INNER) and LEFT JOIN are maintained")),
    };
    let JoinConstraint::On(on) = constraint else {
        return Err(refuse("a join needs ON, with a bound on created between the two sides"));
    };
    let (left_table, left_alias, left_is_table) = source(left_factor)?;
    let (right_table, right_alias, right_is_table) = source(right_factor)?;
    if left_is_table {
        return Err(refuse("put query('…') on the right: each event of the left side looks the table up"));
    }
    if left_alias.eq_ignore_ascii_case(&right_alias) {
        return Err(SqlError::plan(format!(
            "both sides of the join are called `{left_alias}`; give each an alias, as in `event_type('A') a JOIN event_type('B') b`"
        )));
    }
    let aliases = [left_alias.as_str(), right_alias.as_str()];

    let mut columns = Vec::new();
    let mut outputs = Vec::new();
    for item in &select.projection {
        let (name, expr) = match item {
            SelectItem::UnnamedExpr(expr) => (output_name(expr), expr),
            SelectItem::ExprWithAlias { expr, alias } => (alias.value.clone(), expr),
            _ => return Err(SqlError::plan("a join names its output columns (no `*`)")),
        };
        if columns.contains(&name) {
            return Err(SqlError::plan(format!(
                "two output columns are called `{name}`; tell them apart with AS, as in {left_alias}.{name} AS {left_alias}_{name}"
            )));
        }
        columns.push(name);
        outputs.push(plan_joined_expr(expr, aliases)?);
    }

    let mut on_conjuncts = Vec::new();
    conjuncts(plan_joined_expr(on, aliases)?, &mut on_conjuncts);
    let mut where_conjuncts = Vec::new();
    if let Some(selection) = &select.selection {
        conjuncts(plan_joined_expr(selection, aliases)?, &mut where_conjuncts);
    }
    let mut left_filter = vec![restriction(&left_table, Side::Left)];
    let mut right_filter = vec![restriction(&right_table, Side::Right)];
    if right_is_table {
        right_filter.push(Expr::Binary {
            left: Box::new(Expr::SideColumn { side: Side::Right, column: Column::EventType }),
            op: BinaryOp::Eq,
            right: Box::new(Expr::Literal(Value::Text(crate::continuous_runner::RESULT_EVENT_TYPE.to_owned()))),
        });
    }
    let mut condition = Vec::new();
    let mut row_filter = Vec::new();
    // In an inner join ON and WHERE say the same; in a LEFT JOIN, ON
    // decides what matches and WHERE what is kept.
    let (matching, kept) = match kind {
        JoinKind::Inner => (on_conjuncts.into_iter().chain(where_conjuncts).collect::<Vec<_>>(), Vec::new()),
        JoinKind::Left => (on_conjuncts, where_conjuncts),
    };
    for conjunct in matching {
        let read = sides_read(&conjunct);
        if read.only(Side::Right) {
            right_filter.push(conjunct);
        } else if read.only(Side::Left) && kind == JoinKind::Inner {
            left_filter.push(conjunct);
        } else {
            condition.push(conjunct);
        }
    }
    for conjunct in kept {
        if sides_read(&conjunct).right {
            row_filter.push(conjunct);
        } else {
            left_filter.push(conjunct);
        }
    }

    let mut bound = CreatedBound::default();
    let mut keys = Vec::new();
    for conjunct in &condition {
        bound.narrow(conjunct);
        if let Expr::Binary { left, op: BinaryOp::Eq, right } = conjunct {
            let (left_read, right_read) = (sides_read(left), sides_read(right));
            if left_read.only(Side::Left) && right_read.only(Side::Right) {
                keys.push((left.as_ref().clone(), right.as_ref().clone()));
            } else if left_read.only(Side::Right) && right_read.only(Side::Left) {
                keys.push((right.as_ref().clone(), left.as_ref().clone()));
            }
        }
    }
    if right_is_table && keys.is_empty() {
        return Err(refuse(
            "a join with query('…') needs an equality between the sides: the table's key, whose latest row each event meets",
        ));
    }
    // A table needs no bound: it holds one row per key, not events.
    let (low, high) = match (right_is_table, bound.low, bound.high) {
        (true, _, _) => (0, 0),
        (false, Some(low), Some(high)) => (low, high),
        (false, _, _) => {
            return Err(refuse(&format!(
                "a join needs a bound on created between the two sides both ways, as in \
                 `{right_alias}.created BETWEEN {left_alias}.created AND {left_alias}.created + INTERVAL '1 hour'` \
                 (in ON{}): without one, every event would be kept for a partner that may still come",
                if kind == JoinKind::Left { "" } else { " or WHERE" }
            )));
        }
    };
    Ok(JoinPlan {
        kind,
        columns,
        outputs,
        left: SidePlan { filter: all_of(left_filter) },
        right: SidePlan { filter: all_of(right_filter) },
        keys,
        condition: all_of(condition),
        row_filter: all_of(row_filter),
        low,
        high,
        right_is_table,
    })
}

/// A source's table and the name its columns are qualified by: its alias,
/// or else the table's own name.
/// `query('name')` reads as the stream of that query's result rows.
fn source(factor: &TableFactor) -> Result<(Table, String, bool), SqlError> {
    let TableFactor::Table { name, alias, args, .. } = factor else {
        return Err(SqlError::plan("FROM takes events or a table function, not a subquery"));
    };
    let alias = match alias {
        Some(alias) => alias.name.value.clone(),
        None => name.to_string().to_ascii_lowercase(),
    };
    if name.to_string().eq_ignore_ascii_case("query") {
        let argument = args.as_ref().and_then(|args| match args.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Value(value)))] => match &value.value {
                SqlValue::SingleQuotedString(text) if !text.is_empty() => Some(text.clone()),
                _ => None,
            },
            _ => None,
        });
        let query = argument.ok_or_else(|| SqlError::plan("query(…) takes the name of a continuous query"))?;
        return Ok((Table::Stream(crate::continuous_runner::result_stream(&query)), alias, true));
    }
    Ok((plan_table_factor(factor)?, alias, false))
}

/// A table function as a condition on `events` (the join reads `$all`).
fn restriction(table: &Table, side: Side) -> Expr {
    let (column, name) = match table {
        Table::Events => return Expr::Literal(Value::Bool(true)),
        Table::Category(name) => (Column::Category, name),
        Table::EventType(name) => (Column::EventType, name),
        Table::Stream(name) => (Column::Stream, name),
    };
    Expr::Binary {
        left: Box::new(Expr::SideColumn { side, column }),
        op: BinaryOp::Eq,
        right: Box::new(Expr::Literal(Value::Text(name.clone()))),
    }
}

fn all_of(conditions: Vec<Expr>) -> Option<Expr> {
    conditions
        .into_iter()
        .filter(|condition| *condition != Expr::Literal(Value::Bool(true)))
        .reduce(|left, right| Expr::Binary { left: Box::new(left), op: BinaryOp::And, right: Box::new(right) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::statement::{self, Parsed};
    use crate::value::TICKS_PER_SECOND;

    fn plan(sql: &str) -> Result<JoinPlan, SqlError> {
        let Parsed::Query(query) = statement::parse(sql)? else { panic!("not a query") };
        plan_join(&query)
    }

    fn refusal(sql: &str) -> String {
        match plan(sql) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("{sql} was accepted"),
        }
    }

    const SEARCHES_AND_CLICKS: &str = "SELECT s.stream, json_str(s.data, 'q') AS query, c.created AS clicked \
        FROM event_type('Searched') s JOIN event_type('Clicked') c \
        ON json_str(s.data, 'session') = json_str(c.data, 'session') \
        AND c.created BETWEEN s.created AND s.created + INTERVAL '1 hour'";

    #[test]
    fn a_join_on_a_key_within_a_time_bound_is_planned() {
        let planned = plan(SEARCHES_AND_CLICKS).expect("planned");
        assert_eq!(planned.kind, JoinKind::Inner);
        assert_eq!(planned.columns, ["stream", "query", "clicked"]);
        assert_eq!(planned.keys.len(), 1);
        assert_eq!((planned.low, planned.high), (0, 3600 * TICKS_PER_SECOND));
        assert!(planned.left.filter.is_some() && planned.right.filter.is_some());

        let reversed = plan(
            "SELECT a.stream AS a_stream, b.stream AS b_stream FROM category('a') a LEFT JOIN events b \
             ON b.stream = a.stream AND a.created BETWEEN b.created - INTERVAL '10 seconds' AND b.created \
             WHERE b.event_type <> 'x'",
        )
        .expect("planned");
        assert_eq!(reversed.kind, JoinKind::Left);
        assert_eq!((reversed.low, reversed.high), (0, 10 * TICKS_PER_SECOND));
        assert!(reversed.row_filter.is_some());
    }

    #[test]
    fn explain_says_how_a_join_is_kept() {
        let Parsed::Explain(query) = statement::parse(&format!("EXPLAIN {SEARCHES_AND_CLICKS}")).expect("parse") else {
            panic!("not an EXPLAIN")
        };
        let lines = super::super::explain(&query).expect("explained");
        assert_eq!(lines[1], "inner join on 1 key(s), filtering each side first");
        assert!(lines[2].ends_with("from 0 ms to 3600000 ms"), "{lines:?}");
    }

    #[test]
    fn joins_that_cannot_be_maintained_are_refused_with_the_reason() {
        assert!(
            refusal("SELECT s.stream FROM events s JOIN events c ON s.stream = c.stream").contains("bound on created")
        );
        assert!(
            refusal("SELECT s.stream FROM events s JOIN events c ON s.stream = c.stream AND c.created >= s.created")
                .contains("bound on created")
        );
        assert!(refusal("SELECT s.stream FROM events s, events c").contains("JOIN b ON"));
        assert!(refusal("SELECT * FROM events s JOIN events c ON s.created = c.created").contains("no `*`"));
        assert!(
            refusal("SELECT s.stream, c.stream FROM events s JOIN events c ON s.created = c.created")
                .contains("tell them apart")
        );
        assert!(refusal("SELECT stream FROM events s JOIN events c ON s.created = c.created").contains("qualify"));
        assert!(
            refusal("SELECT x.stream FROM events s JOIN events c ON s.created = c.created").contains("unknown table")
        );
        assert!(refusal("SELECT s.stream FROM events JOIN events ON true").contains("alias"));
        assert!(
            refusal("SELECT s.stream FROM events s RIGHT JOIN events c ON s.created = c.created").contains("LEFT JOIN")
        );
        assert!(
            refusal("SELECT t.stream FROM query('totals') t JOIN events e ON t.stream = e.stream").contains("right")
        );
        assert!(refusal("SELECT e.stream FROM events e JOIN query('totals') t ON true").contains("equality"));
        assert!(refusal("SELECT e.stream FROM events e JOIN query(3) t ON e.stream = t.stream").contains("name"));
    }
}
