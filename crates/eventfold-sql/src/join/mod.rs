//! Joins of two sources of the log within a time bound, maintained event by
//! event ([`state`]) from a plan that says which joins can be ([`plan`],
//! with the bound read from the condition by [`bound`]).

pub mod adhoc;
mod bound;
mod checkpoint;
mod plan;
mod state;
#[cfg(test)]
mod tests;

pub use plan::{is_join, plan_join};
pub use state::JoinState;

/// What `EXPLAIN` answers for a join: the read, and how each event is
/// joined and kept.
pub fn explain(query: &sqlparser::ast::Query) -> Result<Vec<String>, crate::error::SqlError> {
    let plan = plan_join(query)?;
    let kind = match plan.kind {
        plan::JoinKind::Inner => "inner join",
        plan::JoinKind::Left => "left join",
    };
    let keeping = if plan.right_is_table {
        "each left event meets the latest right row of its key (a query's result)".to_owned()
    } else {
        let milliseconds = |ticks: i64| ticks / crate::value::TICKS_PER_MILLISECOND;
        format!(
            "keep each event while a partner can come: right.created - left.created from {} ms to {} ms",
            milliseconds(plan.low),
            milliseconds(plan.high)
        )
    };
    Ok(vec![
        "read $all forwards".to_owned(),
        format!("{kind} on {} key(s), filtering each side first", plan.keys.len()),
        keeping,
    ])
}
