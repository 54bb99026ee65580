//! A continuous query, without I/O: which queries can be maintained event
//! by event, and the state that maintains one (its open windows and their
//! accumulators), fed one event at a time and closing windows as the log
//! passes their end.
//!
//! A continuous query is a `GROUP BY` with `count`, `sum`, `min`, `max` or
//! `avg` over a window on `created`: `date_bin(size, created)` (tumbling)
//! or `hop(created, slide, size)` (hopping). `created` follows the log
//! order, so a window `[start, end)` is final once an event created at or
//! after `end` is read (or, on an idle log, once the clock passes `end`):
//! no watermark to guess, no late data. Each window's row is produced once,
//! when it closes.

use std::collections::HashMap;

use eventfold_store::RecordedEvent;

use crate::aggregate::{Accumulator, KeyValue};
use crate::error::SqlError;
use crate::expr::{Expr, Row};
use crate::functions::{ScalarFunction, hop_widths};
use crate::plan::{self, Plan};
use crate::source::Table;
use crate::statement;
use crate::value::Value;
use crate::view::Column;
use crate::window;

/// How a continuous query's windows are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowShape {
    /// Which grouping key is the window's start.
    pub key_index: usize,
    /// A window's length, in ticks (a session window's gap).
    pub size: i64,
    pub time: WindowTime,
}

/// What time a window is cut on, which decides when it is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowTime {
    /// `created`, which follows the log order: a window is final once the
    /// log passes its end (this module).
    Created,
    /// A timestamp field of the data (`json_time(data, 'at')`), in any
    /// order: a window is shown once a later time is seen, and updated by
    /// late events until it is `lateness` ticks older than the latest time
    /// seen ([`crate::field_window`]).
    Field { lateness: i64 },
    /// `session(created, gap)`: a session per group that closes once the
    /// log passes its last event by more than the gap ([`crate::session`]).
    Session,
}

/// How long a window on a data field takes late events when the query
/// does not say (`lateness(json_time(data, 'at'), '10 minutes')`).
pub const FIELD_LATENESS_DEFAULT_TICKS: i64 = 3_600 * crate::value::TICKS_PER_SECOND;

/// A query checked for continuous maintenance.
#[derive(Clone, Debug)]
pub struct ContinuousPlan {
    pub(crate) plan: Plan,
    pub window: WindowShape,
}

impl ContinuousPlan {
    pub fn columns(&self) -> &[String] {
        &self.plan.columns
    }

    /// The `$all` filter the restriction becomes.
    #[cfg(test)]
    pub fn filter(&self) -> Option<eventfold_store::EventFilter> {
        self.plan.read.filter.clone()
    }
}

fn refuse(reason: &str) -> SqlError {
    SqlError::refused_continuous(reason)
}

/// Plans `sql` as a continuous query, or says why it cannot be one.
pub fn plan_continuous(sql: &str) -> Result<ContinuousPlan, SqlError> {
    let query = match statement::parse(sql)? {
        statement::Parsed::Query(query) => query,
        statement::Parsed::Explain(_) => return Err(refuse("EXPLAIN is not a query to run")),
    };
    let mut plan = plan::plan_query(&query)?;
    // A table function is `events` restricted: over a subscription to
    // `$all`, the restriction becomes part of the filter.
    let restriction = match &plan.read.table {
        Table::Events => None,
        Table::Category(name) => Some((Column::Category, name.clone())),
        Table::EventType(name) => Some((Column::EventType, name.clone())),
        Table::Stream(name) => Some((Column::Stream, name.clone())),
    };
    if let Some((column, name)) = restriction {
        let condition = Expr::Binary {
            left: Box::new(Expr::Column(column)),
            op: crate::expr::BinaryOp::Eq,
            right: Box::new(Expr::Literal(Value::Text(name))),
        };
        plan.filter = Some(match plan.filter.take() {
            None => condition,
            Some(filter) => {
                Expr::Binary { left: Box::new(condition), op: crate::expr::BinaryOp::And, right: Box::new(filter) }
            }
        });
        plan.read = crate::pushdown::read_plan(Table::Events, plan.filter.as_ref());
    }
    if plan.read.from_position.is_some() || plan.read.through_position.is_some() {
        return Err(refuse("a bound on position; start the query from a position instead"));
    }
    if !plan.order.is_empty() {
        return Err(refuse("ORDER BY sorts a result that never ends; sort when reading the result"));
    }
    if plan.limit.is_some() || plan.offset != 0 {
        return Err(refuse("LIMIT and OFFSET cut a result that keeps changing"));
    }
    let Some(grouping) = &plan.grouping else {
        return Err(refuse("it needs GROUP BY a window on created, with aggregates"));
    };
    if grouping.having.is_some() {
        return Err(refuse("HAVING is not maintained yet"));
    }
    if grouping.aggregates.iter().any(|call| call.distinct) {
        return Err(refuse("count(DISTINCT …) would keep every value it has seen"));
    }
    let windows: Vec<WindowShape> = grouping
        .keys
        .iter()
        .enumerate()
        .filter_map(|(key_index, key)| window_size(key).map(|(size, time)| WindowShape { key_index, size, time }))
        .collect();
    let window = match windows.as_slice() {
        [window] => *window,
        [] => {
            return Err(refuse(
                "GROUP BY needs a window on created, date_bin('1 minute', created) or hop(created, slide, size), \
                 on a timestamp field, date_bin('1 minute', json_time(data, 'at')), or a session, \
                 session(created, '30 minutes'), so that its groups close",
            ));
        }
        _ => return Err(refuse("one window per query")),
    };
    Ok(ContinuousPlan { plan, window })
}

/// The window length of a key that is a window with a constant size, and
/// the time it is cut on.
fn window_size(key: &Expr) -> Option<(i64, WindowTime)> {
    let literal = |expr: &Expr| match expr {
        Expr::Literal(value) => Some(value.clone()),
        _ => None,
    };
    match key {
        Expr::Call { function: ScalarFunction::DateBin, arguments } => match arguments.as_slice() {
            [size, time] => {
                let size = match literal(size)? {
                    Value::Interval(ticks) if ticks > 0 => Some(ticks),
                    Value::Text(text) => crate::functions::parse_interval(&text).ok().filter(|ticks| *ticks > 0),
                    _ => None,
                }?;
                Some((size, window_time(time)?))
            }
            _ => None,
        },
        Expr::Call { function: ScalarFunction::Hop, arguments } => match arguments.as_slice() {
            [time, slide, size] => {
                let (_, size) = hop_widths(literal(slide)?, literal(size)?).ok()?;
                Some((size, window_time(time)?))
            }
            _ => None,
        },
        Expr::Call { function: ScalarFunction::Session, arguments } => match arguments.as_slice() {
            [Expr::Column(Column::Created), gap] => {
                let gap = match literal(gap)? {
                    Value::Interval(ticks) => ticks,
                    Value::Text(text) => crate::functions::parse_interval(&text).ok()?,
                    _ => return None,
                };
                (gap > 0).then_some((gap, WindowTime::Session))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The time a window is cut on: `created`, or a typed timestamp of the
/// data (`json_time(...)`, a cast to timestamp), optionally wrapped in
/// `lateness(time, '10 minutes')`. A text field is not taken: a value that
/// is not a timestamp would fail the query rather than leave one row out.
fn window_time(time: &Expr) -> Option<WindowTime> {
    let typed = |expr: &Expr| {
        matches!(
            expr,
            Expr::Call { function: ScalarFunction::JsonTime, .. }
                | Expr::Cast { to: crate::expr::CastType::Timestamp, .. }
        )
    };
    match time {
        Expr::Column(Column::Created) => Some(WindowTime::Created),
        Expr::Call { function: ScalarFunction::Lateness, arguments } => match arguments.as_slice() {
            [inner, Expr::Literal(lateness)] if typed(inner) => {
                let lateness = match lateness {
                    Value::Interval(ticks) => *ticks,
                    Value::Text(text) => crate::functions::parse_interval(text).ok()?,
                    _ => return None,
                };
                (lateness >= 0).then_some(WindowTime::Field { lateness })
            }
            _ => None,
        },
        expr if typed(expr) => Some(WindowTime::Field { lateness: FIELD_LATENESS_DEFAULT_TICKS }),
        _ => None,
    }
}

/// The expression a window key reads its time from (the data field of a
/// window on one).
pub(crate) fn window_time_expr(key: &Expr) -> Option<&Expr> {
    match key {
        Expr::Call { function: ScalarFunction::DateBin, arguments } => arguments.get(1),
        Expr::Call { function: ScalarFunction::Hop | ScalarFunction::Session, arguments } => arguments.first(),
        _ => None,
    }
}

struct Group {
    keys: Vec<Value>,
    accumulators: Vec<Accumulator>,
    window_end: i64,
}

/// One window's final row.
#[derive(Clone, Debug, PartialEq)]
pub struct ClosedRow {
    pub window_end: i64,
    pub values: Vec<Value>,
}

/// The open windows of a continuous query, and how far it has read.
pub struct ContinuousState {
    plan: ContinuousPlan,
    groups: HashMap<Vec<KeyValue>, Group>,
    /// The position of the last event applied.
    pub position: Option<u64>,
    /// Every window ending at or before this is closed (ticks).
    pub closed_through: i64,
    /// Events that fell in windows already closed, counted and left out.
    /// The store stamps `created` monotonically along `$all` (LOG-12,
    /// PG-10), so an event read after another never goes back in time: the
    /// only way here is a window closed by the clock on an idle log before
    /// an event stamped inside it was published, more than the idle grace
    /// late.
    pub late_events: u64,
    groups_max: usize,
}

impl ContinuousState {
    pub fn new(plan: ContinuousPlan, groups_max: usize) -> Self {
        Self { plan, groups: HashMap::new(), position: None, closed_through: i64::MIN, late_events: 0, groups_max }
    }

    pub fn columns(&self) -> &[String] {
        self.plan.columns()
    }

    pub fn open_windows(&self) -> usize {
        self.groups.len()
    }

    /// Adds `event` to the windows it falls in, then closes every window
    /// that ends at or before its `created`.
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<ClosedRow>, SqlError> {
        self.position = Some(event.position.0);
        let row = Row::Event(event);
        let closed = self.close_through(event.created.ticks());
        let plan = &self.plan.plan;
        if let Some(filter) = &plan.filter
            && filter.evaluate(row)?.truth()? != Some(true)
        {
            return Ok(closed);
        }
        let Some(grouping) = &plan.grouping else { return Ok(closed) };
        for keys in window::group_keys(&grouping.keys, row)? {
            let Some(Value::Timestamp(start)) = keys.get(self.plan.window.key_index) else { continue };
            let window_end = start.saturating_add(self.plan.window.size);
            if window_end <= self.closed_through {
                self.late_events += 1;
                continue;
            }
            let hashed: Vec<KeyValue> = keys.iter().map(KeyValue::from).collect();
            if !self.groups.contains_key(&hashed) && self.groups.len() >= self.groups_max {
                return Err(SqlError::TooManyGroups { limit: self.groups_max });
            }
            let group = self.groups.entry(hashed).or_insert_with(|| Group {
                keys,
                accumulators: grouping.aggregates.iter().map(|call| Accumulator::new(call.function, false)).collect(),
                window_end,
            });
            for (accumulator, call) in group.accumulators.iter_mut().zip(&grouping.aggregates) {
                let value = match &call.argument {
                    Some(argument) => argument.evaluate(row)?,
                    None => Value::Null,
                };
                accumulator.add(value)?;
            }
        }
        Ok(closed)
    }

    /// Closes the windows ending at or before `through`: their rows, in
    /// window order then key order, so that a replay produces them alike.
    pub fn close_through(&mut self, through: i64) -> Vec<ClosedRow> {
        if through <= self.closed_through {
            return Vec::new();
        }
        self.closed_through = through;
        let closing: Vec<Vec<KeyValue>> =
            self.groups.iter().filter(|(_, group)| group.window_end <= through).map(|(key, _)| key.clone()).collect();
        let mut rows = Vec::new();
        for key in closing {
            let Some(group) = self.groups.remove(&key) else { continue };
            let aggregates: Vec<Value> = group.accumulators.iter().map(Accumulator::finish).collect();
            let row = Row::Group { keys: &group.keys, aggregates: &aggregates };
            // Outputs of a grouped plan read only keys and aggregates.
            let values =
                self.plan.plan.outputs.iter().map(|output| output.evaluate(row).unwrap_or(Value::Null)).collect();
            rows.push((group.keys, ClosedRow { window_end: group.window_end, values }));
        }
        rows.sort_by(|(left_keys, left), (right_keys, right)| {
            left.window_end.cmp(&right.window_end).then_with(|| {
                left_keys
                    .iter()
                    .zip(right_keys)
                    .map(|(left, right)| left.sort_order(right))
                    .find(|order| order.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        rows.into_iter().map(|(_, row)| row).collect()
    }

    /// The state as a checkpoint's data.
    pub fn to_json(&self) -> serde_json::Value {
        let groups: Vec<serde_json::Value> = self
            .groups
            .values()
            .map(|group| {
                serde_json::json!({
                    "keys": group.keys.iter().map(Value::to_tagged_json).collect::<Vec<_>>(),
                    "windowEnd": group.window_end,
                    "accumulators": group.accumulators.iter().map(Accumulator::to_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "position": self.position,
            "closedThrough": self.closed_through,
            "lateEvents": self.late_events,
            "groups": groups,
        })
    }

    /// Restores the state a checkpoint holds; `None` when it does not
    /// match this query (a checkpoint of another definition).
    pub fn restore(&mut self, checkpoint: &serde_json::Value) -> Option<()> {
        let grouping = self.plan.plan.grouping.as_ref()?;
        let mut groups = HashMap::new();
        for group in checkpoint.get("groups")?.as_array()? {
            let (keys, accumulators) = restore_group(group, grouping)?;
            let window_end = group.get("windowEnd")?.as_i64()?;
            groups.insert(keys.iter().map(KeyValue::from).collect(), Group { keys, accumulators, window_end });
        }
        self.groups = groups;
        self.position = checkpoint.get("position")?.as_u64();
        self.closed_through = checkpoint.get("closedThrough")?.as_i64()?;
        self.late_events = checkpoint.get("lateEvents")?.as_u64()?;
        Some(())
    }
}

/// One group's keys and accumulator states as a checkpoint holds them
/// (`keys` tagged values, `accumulators` states); `None` when they do not
/// fit `grouping` (a checkpoint of another definition).
pub(crate) fn restore_group(
    entry: &serde_json::Value,
    grouping: &crate::plan::Grouping,
) -> Option<(Vec<Value>, Vec<Accumulator>)> {
    let keys = entry.get("keys")?.as_array()?.iter().map(Value::from_tagged_json).collect::<Option<Vec<_>>>()?;
    let states = entry.get("accumulators")?.as_array()?;
    if keys.len() != grouping.keys.len() || states.len() != grouping.aggregates.len() {
        return None;
    }
    let accumulators = grouping
        .aggregates
        .iter()
        .zip(states)
        .map(|(call, state)| Accumulator::from_json(call.function, state))
        .collect::<Option<Vec<_>>>()?;
    Some((keys, accumulators))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(sql: &str) -> String {
        match plan_continuous(sql) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("{sql} was accepted"),
        }
    }

    #[test]
    fn windowed_group_bys_are_accepted() {
        let tumbling = plan_continuous(
            "SELECT date_bin('1 minute', created) AS window, count(*) FROM category('order') GROUP BY window",
        )
        .expect("tumbling");
        assert_eq!(tumbling.window.key_index, 0);
        assert_eq!(tumbling.window.size, 60 * crate::value::TICKS_PER_SECOND);
        assert!(matches!(tumbling.filter(), Some(eventfold_store::EventFilter::StreamNamePrefix(_))));
        let hopping = plan_continuous(
            "SELECT stream, hop(created, '10 seconds', '1 minute') AS window, sum(json_int(data, 'n')) \
             FROM events GROUP BY stream, window",
        )
        .expect("hopping");
        assert_eq!(hopping.window.key_index, 1);
    }

    #[test]
    fn what_cannot_be_maintained_is_refused_with_the_reason() {
        assert!(refusal("SELECT count(*) FROM events").contains("window on created"));
        assert!(refusal("SELECT stream, count(*) FROM events GROUP BY stream").contains("window on created"));
        assert!(refusal("SELECT * FROM events").contains("GROUP BY"));
        assert!(
            refusal("SELECT date_bin('1 minute', created) AS w, count(*) FROM events GROUP BY w ORDER BY w")
                .contains("ORDER BY")
        );
        assert!(
            refusal("SELECT date_bin('1 minute', created) AS w, count(DISTINCT stream) FROM events GROUP BY w")
                .contains("DISTINCT")
        );
        assert!(
            refusal("SELECT date_bin('1 minute', created) AS w, count(*) FROM events GROUP BY w LIMIT 3")
                .contains("LIMIT")
        );
        assert!(
            refusal("SELECT date_bin('1 minute', json_str(data, 't')) AS w, count(*) FROM events GROUP BY w")
                .contains("window on created")
        );
    }
}
