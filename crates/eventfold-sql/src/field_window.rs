//! Windows on a timestamp field of the data, maintained event by event:
//! `date_bin('1 minute', json_time(data, 'at'))` or
//! `hop(json_time(data, 'at'), slide, size)`.
//!
//! A data field comes in any order, so no position of the log makes a
//! window final. The rule:
//! - the *event time frontier* is the latest time seen in a row the query
//!   keeps;
//! - a window `[start, end)` is shown (its row produced) once the frontier
//!   reaches `end`;
//! - a later event that falls in a window already shown (a late event)
//!   produces the window's updated row at once; every row of a window
//!   carries the same `$key` in its metadata, and the latest row of a key
//!   supersedes the earlier ones;
//! - a window is dropped from the state once the frontier passes its end
//!   by more than the query's lateness (`lateness(time, '10 minutes')`,
//!   one hour by default); an event that falls in a dropped window is
//!   counted as too late and left out.
//!
//! So the latest row per key, after the events up to a position, is the
//! batch `GROUP BY` over the same events restricted to the windows that end
//! at or before the frontier, as long as no event was too late. Rows with
//! no time (a missing or unreadable field) belong to no window.

use std::collections::{BTreeMap, HashMap};

use eventfold_store::RecordedEvent;
use serde_json::{Map, Value as JsonValue};

use crate::aggregate::{Accumulator, KeyValue};
use crate::continuous::{ContinuousPlan, WindowTime, restore_group, window_time_expr};
use crate::error::SqlError;
use crate::expr::{Expr, Row};
use crate::maintained::{MaintainedQuery, ResultRow};
use crate::value::{Value, format_timestamp};
use crate::window;

struct Window {
    keys: Vec<Value>,
    accumulators: Vec<Accumulator>,
    end: i64,
    /// A row of this window has been produced.
    shown: bool,
}

/// The windows of a query on a data field, and how far it has read.
pub struct FieldWindowState {
    plan: ContinuousPlan,
    /// The expression the window reads its time from.
    time: Expr,
    lateness: i64,
    windows: HashMap<Vec<KeyValue>, Window>,
    /// The windows' keys by their end, to find those the frontier reaches.
    by_end: BTreeMap<i64, Vec<Vec<KeyValue>>>,
    /// The latest event time seen (ticks); `None` before the first.
    frontier: Option<i64>,
    position: Option<u64>,
    too_late: u64,
    windows_max: usize,
}

impl FieldWindowState {
    /// `None` when `plan` is not a window on a data field.
    pub fn new(plan: ContinuousPlan, windows_max: usize) -> Option<Self> {
        let WindowTime::Field { lateness } = plan.window.time else { return None };
        let grouping = plan.plan.grouping.as_ref()?;
        let time = window_time_expr(grouping.keys.get(plan.window.key_index)?)?.clone();
        Some(Self {
            plan,
            time,
            lateness,
            windows: HashMap::new(),
            by_end: BTreeMap::new(),
            frontier: None,
            position: None,
            too_late: 0,
            windows_max,
        })
    }

    /// Whether a window ending at `end` has been dropped: the frontier is
    /// past it by more than the lateness.
    fn expired(&self, end: i64) -> bool {
        self.frontier.is_some_and(|frontier| end.saturating_add(self.lateness) < frontier)
    }

    fn row_of(&self, key: &[KeyValue]) -> Option<ResultRow> {
        let window = self.windows.get(key)?;
        let aggregates: Vec<Value> = window.accumulators.iter().map(Accumulator::finish).collect();
        let row = Row::Group { keys: &window.keys, aggregates: &aggregates };
        // Outputs of a grouped plan read only keys and aggregates.
        let values = self.plan.plan.outputs.iter().map(|output| output.evaluate(row).unwrap_or(Value::Null)).collect();
        let mut metadata = Map::new();
        metadata.insert("$windowEnd".to_owned(), JsonValue::String(format_timestamp(window.end)));
        metadata.insert("$key".to_owned(), JsonValue::String(row_key(&window.keys)));
        Some(ResultRow { values, metadata })
    }

    /// The rows of `keys`, in window order then key order, so that a
    /// replay produces them alike.
    fn rows_of(&mut self, mut keys: Vec<Vec<KeyValue>>) -> Vec<ResultRow> {
        keys.sort_by(|left, right| {
            let (Some(left), Some(right)) = (self.windows.get(left), self.windows.get(right)) else {
                return std::cmp::Ordering::Equal;
            };
            left.end.cmp(&right.end).then_with(|| compare_keys(&left.keys, &right.keys))
        });
        keys.dedup();
        let mut rows = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(row) = self.row_of(&key) {
                rows.push(row);
            }
            if let Some(window) = self.windows.get_mut(&key) {
                window.shown = true;
            }
        }
        rows
    }

    /// Drops the windows the frontier has passed by more than the lateness.
    fn drop_expired(&mut self) {
        let Some(frontier) = self.frontier else { return };
        let horizon = frontier.saturating_sub(self.lateness);
        let kept = self.by_end.split_off(&horizon);
        for keys in std::mem::replace(&mut self.by_end, kept).into_values() {
            for key in keys {
                self.windows.remove(&key);
            }
        }
    }
}

fn compare_keys(left: &[Value], right: &[Value]) -> std::cmp::Ordering {
    left.iter()
        .zip(right)
        .map(|(left, right)| left.sort_order(right))
        .find(|order| order.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// The stable key of a window and group: its grouping values as JSON.
fn row_key(keys: &[Value]) -> String {
    JsonValue::Array(keys.iter().map(Value::to_tagged_json).collect()).to_string()
}

impl MaintainedQuery for FieldWindowState {
    fn columns(&self) -> &[String] {
        self.plan.columns()
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<ResultRow>, SqlError> {
        self.position = Some(event.position.0);
        let row = Row::Event(event);
        let plan = &self.plan.plan;
        if let Some(filter) = &plan.filter
            && filter.evaluate(row)?.truth()? != Some(true)
        {
            return Ok(Vec::new());
        }
        let Some(grouping) = &plan.grouping else { return Ok(Vec::new()) };
        let Value::Timestamp(at) = self.time.evaluate(row)? else { return Ok(Vec::new()) };
        let previous_frontier = self.frontier;
        let mut changed = Vec::new();
        let mut too_late = false;
        for keys in window::group_keys(&grouping.keys, row)? {
            let Some(Value::Timestamp(start)) = keys.get(self.plan.window.key_index) else { continue };
            let end = start.saturating_add(self.plan.window.size);
            if self.expired(end) {
                too_late = true;
                continue;
            }
            let hashed: Vec<KeyValue> = keys.iter().map(KeyValue::from).collect();
            if !self.windows.contains_key(&hashed) {
                if self.windows.len() >= self.windows_max {
                    return Err(SqlError::TooManyGroups { limit: self.windows_max });
                }
                let accumulators =
                    grouping.aggregates.iter().map(|call| Accumulator::new(call.function, false)).collect();
                self.by_end.entry(end).or_default().push(hashed.clone());
                self.windows.insert(hashed.clone(), Window { keys, accumulators, end, shown: false });
            }
            let Some(window) = self.windows.get_mut(&hashed) else { continue };
            for (accumulator, call) in window.accumulators.iter_mut().zip(&grouping.aggregates) {
                let value = match &call.argument {
                    Some(argument) => argument.evaluate(row)?,
                    None => Value::Null,
                };
                accumulator.add(value)?;
            }
            // A window the frontier had already reached: its row now (an
            // update, or the first row of a window only late events fill).
            if window.shown || previous_frontier.is_some_and(|frontier| end <= frontier) {
                changed.push(hashed);
            }
        }
        if too_late {
            self.too_late += 1;
        }
        let frontier = previous_frontier.map_or(at, |previous| previous.max(at));
        self.frontier = Some(frontier);
        // The windows the frontier reached with this event: shown now.
        let reached_from = previous_frontier.map_or(i64::MIN, |previous| previous.saturating_add(1));
        if reached_from <= frontier {
            changed.extend(self.by_end.range(reached_from..=frontier).flat_map(|(_, keys)| keys.iter().cloned()));
        }
        let rows = self.rows_of(changed);
        self.drop_expired();
        Ok(rows)
    }

    fn close_through(&mut self, _through: i64) -> Vec<ResultRow> {
        // The clock says nothing about a time written in the data.
        Vec::new()
    }

    fn position(&self) -> Option<u64> {
        self.position
    }

    fn held(&self) -> usize {
        self.windows.len()
    }

    fn late_events(&self) -> u64 {
        self.too_late
    }

    fn to_json(&self) -> JsonValue {
        let windows: Vec<JsonValue> = self
            .windows
            .values()
            .map(|window| {
                serde_json::json!({
                    "keys": window.keys.iter().map(Value::to_tagged_json).collect::<Vec<_>>(),
                    "windowEnd": window.end,
                    "shown": window.shown,
                    "accumulators": window.accumulators.iter().map(Accumulator::to_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "kind": "fieldWindow",
            "position": self.position,
            "frontier": self.frontier,
            "tooLate": self.too_late,
            "windows": windows,
        })
    }

    fn restore(&mut self, checkpoint: &JsonValue) -> Option<()> {
        if checkpoint.get("kind")?.as_str()? != "fieldWindow" {
            return None;
        }
        let grouping = self.plan.plan.grouping.as_ref()?;
        let mut windows = HashMap::new();
        let mut by_end: BTreeMap<i64, Vec<Vec<KeyValue>>> = BTreeMap::new();
        for window in checkpoint.get("windows")?.as_array()? {
            let (keys, accumulators) = restore_group(window, grouping)?;
            let end = window.get("windowEnd")?.as_i64()?;
            let shown = window.get("shown")?.as_bool()?;
            let hashed: Vec<KeyValue> = keys.iter().map(KeyValue::from).collect();
            by_end.entry(end).or_default().push(hashed.clone());
            windows.insert(hashed, Window { keys, accumulators, end, shown });
        }
        self.windows = windows;
        self.by_end = by_end;
        self.position = checkpoint.get("position")?.as_u64();
        self.frontier = checkpoint.get("frontier")?.as_i64();
        self.too_late = checkpoint.get("tooLate")?.as_u64()?;
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::continuous::plan_continuous;
    use crate::value::TICKS_PER_SECOND;
    use bytes::Bytes;
    use eventfold_store::{ContentType, EventId, Position, StreamName, Timestamp};

    const PER_MINUTE: &str = "SELECT date_bin('1 minute', lateness(json_time(data, 'at'), '5 minutes')) AS minute, \
         json_str(data, 'customer') AS customer, count(*) AS orders, sum(json_int(data, 'amount')) AS amount \
         FROM events GROUP BY minute, customer";

    fn state(sql: &str) -> FieldWindowState {
        FieldWindowState::new(plan_continuous(sql).expect("plans"), 1_000).expect("a window on a data field")
    }

    fn event(position: u64, second: i64, customer: &str, amount: i64) -> RecordedEvent {
        let data = serde_json::json!({"at": second * 1_000, "customer": customer, "amount": amount});
        RecordedEvent {
            stream: StreamName::new("order-1").expect("name"),
            revision: position,
            position: Position(position),
            id: EventId(uuid::Uuid::from_u128(u128::from(position))),
            event_type: "OrderPlaced".into(),
            content_type: ContentType::Json,
            created: Timestamp(i64::try_from(position).expect("small") * TICKS_PER_SECOND),
            data: Bytes::from(data.to_string()),
            metadata: Bytes::new(),
        }
    }

    /// The row of each key, the latest winning.
    fn latest(rows: &[ResultRow]) -> BTreeMap<String, Vec<Value>> {
        rows.iter().map(|row| (row.metadata["$key"].as_str().expect("a key").to_owned(), row.values.clone())).collect()
    }

    #[test]
    fn a_window_is_shown_when_a_later_time_is_seen_and_updated_by_late_events() {
        let mut state = state(PER_MINUTE);
        let mut rows = Vec::new();
        rows.extend(state.apply(&event(1, 10, "a", 5)).expect("apply"));
        rows.extend(state.apply(&event(2, 50, "a", 7)).expect("apply"));
        assert!(rows.is_empty(), "the first minute is still open");
        rows.extend(state.apply(&event(3, 70, "b", 1)).expect("apply"));
        assert_eq!(rows.len(), 1, "the frontier passed the first minute: {rows:?}");
        assert_eq!(rows[0].values[2..], [Value::Int(2), Value::Int(12)]);
        // A late order in the first minute: its row again, updated.
        let late = state.apply(&event(4, 30, "a", 100)).expect("apply");
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].metadata["$key"], rows[0].metadata["$key"]);
        assert_eq!(late[0].values[2..], [Value::Int(3), Value::Int(112)]);
        rows.extend(late);
        assert_eq!(latest(&rows).len(), 1, "one key so far");
        assert_eq!(state.late_events(), 0);
    }

    #[test]
    fn windows_past_the_lateness_are_dropped_and_their_events_counted() {
        let mut state = state(PER_MINUTE);
        state.apply(&event(1, 10, "a", 1)).expect("apply");
        state.apply(&event(2, 70, "a", 1)).expect("apply");
        assert_eq!(state.held(), 2);
        // Six minutes later: the first minute is more than five minutes old.
        state.apply(&event(3, 370, "a", 1)).expect("apply");
        assert_eq!(state.held(), 2, "the first minute is dropped, the seventh opened");
        assert!(state.apply(&event(4, 20, "a", 1)).expect("apply").is_empty());
        assert_eq!(state.late_events(), 1);
        // Within the lateness, a late event still updates its window, or
        // shows one it alone fills.
        assert_eq!(state.apply(&event(5, 80, "a", 1)).expect("apply").len(), 1);
        assert_eq!(state.apply(&event(6, 130, "a", 1)).expect("apply").len(), 1);
        assert_eq!(state.late_events(), 1);
    }

    #[test]
    fn the_state_survives_a_checkpoint() {
        let mut first = state(PER_MINUTE);
        first.apply(&event(1, 10, "a", 1)).expect("apply");
        first.apply(&event(2, 70, "a", 1)).expect("apply");
        let mut second = state(PER_MINUTE);
        second.restore(&first.to_json()).expect("restores");
        let from_first = first.apply(&event(3, 20, "a", 4)).expect("apply");
        let from_second = second.apply(&event(3, 20, "a", 4)).expect("apply");
        assert_eq!(from_first, from_second);
        assert_eq!(from_first.len(), 1);
        let mut other = state(PER_MINUTE);
        assert!(other.restore(&serde_json::json!({"position": 1, "closedThrough": 0, "groups": []})).is_none());
    }
}
