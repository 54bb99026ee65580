//! A continuous query of any kind, as the task that runs it sees it: state
//! fed one event of `$all` at a time, producing result rows, closing what
//! the clock closes on an idle log, and saved to and restored from a
//! checkpoint. Which kind maintains a query is read from the shape of its
//! SQL: a windowed `GROUP BY` ([`crate::continuous`]), a join of two
//! sources, or a `MATCH_RECOGNIZE` pattern.

use eventfold_store::RecordedEvent;
use serde_json::{Map, Value as JsonValue};
use sqlparser::ast::{Query, SetExpr, TableFactor};

use crate::continuous::{ClosedRow, ContinuousPlan, ContinuousState, WindowTime, plan_continuous as plan_windowed};
use crate::error::SqlError;
use crate::field_window::FieldWindowState;
use crate::session::SessionState;
use crate::statement;
use crate::value::{Value, format_timestamp};

/// One row a continuous query produces: appended to `$query-{name}` as an
/// event whose data holds `values` under the query's column names.
#[derive(Clone, Debug, PartialEq)]
pub struct ResultRow {
    pub values: Vec<Value>,
    /// Added to the row event's metadata (beside `$position`), e.g. the
    /// end of the window the row closes.
    pub metadata: Map<String, JsonValue>,
}

/// The state that maintains one continuous query.
pub trait MaintainedQuery: Send {
    /// The result's column names, in order.
    fn columns(&self) -> &[String];

    /// Applies the next event of `$all` and returns the rows it produces.
    fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<ResultRow>, SqlError>;

    /// On an idle log, closes what ends at or before `through` (ticks of
    /// the clock): no event stamped earlier can still arrive.
    fn close_through(&mut self, through: i64) -> Vec<ResultRow>;

    /// The position of the last event applied.
    fn position(&self) -> Option<u64>;

    /// How many entries the state holds (open windows, buffered rows,
    /// partial matches): what the state limit bounds.
    fn held(&self) -> usize;

    /// Events left out because they came after the state they belonged to
    /// was dropped (a window on a data field past its lateness).
    fn late_events(&self) -> u64 {
        0
    }

    /// The state as a checkpoint's data.
    fn to_json(&self) -> JsonValue;

    /// Restores the state a checkpoint holds; `None` when it belongs to
    /// another definition.
    fn restore(&mut self, checkpoint: &JsonValue) -> Option<()>;
}

/// The kinds of continuous query, told apart by the query's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    WindowedAggregate,
    Join,
    Pattern,
}

fn kind_of(query: &Query) -> Kind {
    let SetExpr::Select(select) = query.body.as_ref() else { return Kind::WindowedAggregate };
    if select.from.iter().any(|from| matches!(from.relation, TableFactor::MatchRecognize { .. })) {
        Kind::Pattern
    } else if select.from.len() > 1 || select.from.iter().any(|from| !from.joins.is_empty()) {
        Kind::Join
    } else {
        Kind::WindowedAggregate
    }
}

/// Plans `sql` as a continuous query holding at most `state_max` entries,
/// or says why it cannot be one.
pub fn plan_maintained(sql: &str, state_max: usize) -> Result<Box<dyn MaintainedQuery>, SqlError> {
    let query = match statement::parse(sql)? {
        statement::Parsed::Query(query) => query,
        statement::Parsed::Explain(_) => return Err(SqlError::refused_continuous("EXPLAIN is not a query to run")),
    };
    match kind_of(&query) {
        Kind::WindowedAggregate => windowed(plan_windowed(sql)?, state_max),
        Kind::Join => Ok(Box::new(crate::join::JoinState::new(crate::join::plan_join(&query)?, state_max))),
        Kind::Pattern => Ok(Box::new(crate::pattern::plan_continuous(sql, state_max)?)),
    }
}

/// The state of a windowed aggregate, by the time its window is cut on.
fn windowed(plan: ContinuousPlan, state_max: usize) -> Result<Box<dyn MaintainedQuery>, SqlError> {
    let unexpected = || SqlError::refused_continuous("the window does not fit its kind");
    Ok(match plan.window.time {
        WindowTime::Created => Box::new(ContinuousState::new(plan, state_max)),
        WindowTime::Field { .. } => Box::new(FieldWindowState::new(plan, state_max).ok_or_else(unexpected)?),
        WindowTime::Session => Box::new(SessionState::new(plan, state_max).ok_or_else(unexpected)?),
    })
}

impl MaintainedQuery for ContinuousState {
    fn columns(&self) -> &[String] {
        ContinuousState::columns(self)
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<ResultRow>, SqlError> {
        Ok(ContinuousState::apply(self, event)?.into_iter().map(window_row).collect())
    }

    fn close_through(&mut self, through: i64) -> Vec<ResultRow> {
        ContinuousState::close_through(self, through).into_iter().map(window_row).collect()
    }

    fn position(&self) -> Option<u64> {
        self.position
    }

    fn held(&self) -> usize {
        self.open_windows()
    }

    fn to_json(&self) -> JsonValue {
        ContinuousState::to_json(self)
    }

    fn restore(&mut self, checkpoint: &JsonValue) -> Option<()> {
        ContinuousState::restore(self, checkpoint)
    }
}

fn window_row(row: ClosedRow) -> ResultRow {
    let mut metadata = Map::new();
    metadata.insert("$windowEnd".to_owned(), JsonValue::String(format_timestamp(row.window_end)));
    ResultRow { values: row.values, metadata }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(sql: &str) -> String {
        match plan_maintained(sql, 100) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("{sql} was accepted"),
        }
    }

    #[test]
    fn the_shape_of_the_query_picks_its_kind() {
        let windowed = plan_maintained(
            "SELECT date_bin('1 minute', created) AS window, count(*) FROM events GROUP BY window",
            100,
        )
        .expect("a windowed aggregate");
        assert_eq!(windowed.columns(), ["window", "count(*)"]);
        assert!(refusal("EXPLAIN SELECT * FROM events").contains("EXPLAIN"));
        assert!(refusal("SELECT * FROM events").contains("GROUP BY"));
    }
}
