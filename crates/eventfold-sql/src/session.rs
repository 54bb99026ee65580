//! Session windows: `GROUP BY session(created, '30 minutes'), customer`.
//!
//! A session of a group (the other grouping keys) starts at an event and
//! takes every later event of the group that comes at most the gap after
//! the one before it; an event more than the gap after the previous one
//! starts the next session. `created` follows the log order, so a session
//! whose last event is at `last` is final once the log passes `last + gap`
//! (or, on an idle log, once the clock does): its row is produced then,
//! once. The session key's value in the row is the session's start (its
//! first event's `created`); `$windowEnd` in the row's metadata is
//! `last + gap`. One open session per group: the state is the live groups.

use std::collections::{BTreeMap, HashMap};

use eventfold_store::RecordedEvent;
use serde_json::{Map, Value as JsonValue};

use crate::aggregate::{Accumulator, KeyValue};
use crate::continuous::{ContinuousPlan, WindowTime, restore_group};
use crate::error::SqlError;
use crate::expr::Row;
use crate::maintained::{MaintainedQuery, ResultRow};
use crate::value::{Value, format_timestamp};

struct Session {
    /// The grouping values, the session's start in the session key's place.
    keys: Vec<Value>,
    accumulators: Vec<Accumulator>,
    /// The `created` of its last event.
    last: i64,
}

/// The open sessions of a query, and how far it has read.
pub struct SessionState {
    plan: ContinuousPlan,
    /// Keyed by the other grouping values (the session key's place `NULL`).
    sessions: HashMap<Vec<KeyValue>, Session>,
    /// The sessions' keys by the time they close (`last + gap`).
    by_close: BTreeMap<i64, Vec<Vec<KeyValue>>>,
    position: Option<u64>,
    /// Every session closing before this is closed (ticks).
    closed_before: i64,
    sessions_max: usize,
}

impl SessionState {
    /// `None` when `plan` is not grouped by a session.
    pub fn new(plan: ContinuousPlan, sessions_max: usize) -> Option<Self> {
        if plan.window.time != WindowTime::Session || plan.plan.grouping.is_none() {
            return None;
        }
        Some(Self {
            plan,
            sessions: HashMap::new(),
            by_close: BTreeMap::new(),
            position: None,
            closed_before: i64::MIN,
            sessions_max,
        })
    }

    fn gap(&self) -> i64 {
        self.plan.window.size
    }

    fn close_before(&mut self, through: i64) -> Vec<ResultRow> {
        if through <= self.closed_before {
            return Vec::new();
        }
        self.closed_before = through;
        let open = self.by_close.split_off(&through);
        let closing = std::mem::replace(&mut self.by_close, open);
        let mut sessions: Vec<Session> =
            closing.into_values().flatten().filter_map(|key| self.sessions.remove(&key)).collect();
        sessions.sort_by(|left, right| {
            left.last.cmp(&right.last).then_with(|| {
                left.keys
                    .iter()
                    .zip(&right.keys)
                    .map(|(left, right)| left.sort_order(right))
                    .find(|order| order.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
        });
        sessions.into_iter().map(|session| self.row_of(&session)).collect()
    }

    fn row_of(&self, session: &Session) -> ResultRow {
        let aggregates: Vec<Value> = session.accumulators.iter().map(Accumulator::finish).collect();
        let row = Row::Group { keys: &session.keys, aggregates: &aggregates };
        // Outputs of a grouped plan read only keys and aggregates.
        let values = self.plan.plan.outputs.iter().map(|output| output.evaluate(row).unwrap_or(Value::Null)).collect();
        let mut metadata = Map::new();
        let end = session.last.saturating_add(self.gap());
        metadata.insert("$windowEnd".to_owned(), JsonValue::String(format_timestamp(end)));
        ResultRow { values, metadata }
    }
}

/// Takes `key` out of the sessions closing at `close` (its session was
/// extended).
fn forget_close(by_close: &mut BTreeMap<i64, Vec<Vec<KeyValue>>>, close: i64, key: &[KeyValue]) {
    if let Some(keys) = by_close.get_mut(&close) {
        keys.retain(|held| held.as_slice() != key);
        if keys.is_empty() {
            by_close.remove(&close);
        }
    }
}

impl MaintainedQuery for SessionState {
    fn columns(&self) -> &[String] {
        self.plan.columns()
    }

    /// Closes the sessions the event's `created` is past by more than the
    /// gap, then adds the event to its group's session.
    fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<ResultRow>, SqlError> {
        self.position = Some(event.position.0);
        let created = event.created.ticks();
        // Closing before `created` + 1: a session whose close time is
        // `created` itself still takes this event (a gap of exactly `gap`).
        let closed = self.close_before(created);
        let row = Row::Event(event);
        let plan = &self.plan.plan;
        if let Some(filter) = &plan.filter
            && filter.evaluate(row)?.truth()? != Some(true)
        {
            return Ok(closed);
        }
        let Some(grouping) = &plan.grouping else { return Ok(closed) };
        let session_index = self.plan.window.key_index;
        let mut keys = Vec::with_capacity(grouping.keys.len());
        for (index, key) in grouping.keys.iter().enumerate() {
            keys.push(if index == session_index { Value::Null } else { key.evaluate(row)? });
        }
        let hashed: Vec<KeyValue> = keys.iter().map(KeyValue::from).collect();
        let gap = self.gap();
        let previous_close = match self.sessions.get(&hashed) {
            Some(session) => Some(session.last.saturating_add(gap)),
            None => {
                if self.sessions.len() >= self.sessions_max {
                    return Err(SqlError::TooManyGroups { limit: self.sessions_max });
                }
                if let Some(slot) = keys.get_mut(session_index) {
                    *slot = Value::Timestamp(created);
                }
                let accumulators =
                    grouping.aggregates.iter().map(|call| Accumulator::new(call.function, false)).collect();
                self.sessions.insert(hashed.clone(), Session { keys, accumulators, last: created });
                None
            }
        };
        if let Some(close) = previous_close {
            forget_close(&mut self.by_close, close, &hashed);
        }
        let Some(session) = self.sessions.get_mut(&hashed) else { return Ok(closed) };
        session.last = session.last.max(created);
        for (accumulator, call) in session.accumulators.iter_mut().zip(&grouping.aggregates) {
            let value = match &call.argument {
                Some(argument) => argument.evaluate(row)?,
                None => Value::Null,
            };
            accumulator.add(value)?;
        }
        let close = session.last.saturating_add(gap);
        self.by_close.entry(close).or_default().push(hashed);
        Ok(closed)
    }

    fn close_through(&mut self, through: i64) -> Vec<ResultRow> {
        // No event stamped before `through` can still come: a session that
        // closes before it is final.
        self.close_before(through)
    }

    fn position(&self) -> Option<u64> {
        self.position
    }

    fn held(&self) -> usize {
        self.sessions.len()
    }

    fn to_json(&self) -> JsonValue {
        let sessions: Vec<JsonValue> = self
            .sessions
            .values()
            .map(|session| {
                serde_json::json!({
                    "keys": session.keys.iter().map(Value::to_tagged_json).collect::<Vec<_>>(),
                    "last": session.last,
                    "accumulators": session.accumulators.iter().map(Accumulator::to_json).collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::json!({
            "kind": "session",
            "position": self.position,
            "closedBefore": self.closed_before,
            "sessions": sessions,
        })
    }

    fn restore(&mut self, checkpoint: &JsonValue) -> Option<()> {
        if checkpoint.get("kind")?.as_str()? != "session" {
            return None;
        }
        let grouping = self.plan.plan.grouping.as_ref()?;
        let session_index = self.plan.window.key_index;
        let mut sessions = HashMap::new();
        let mut by_close: BTreeMap<i64, Vec<Vec<KeyValue>>> = BTreeMap::new();
        for session in checkpoint.get("sessions")?.as_array()? {
            let (keys, accumulators) = restore_group(session, grouping)?;
            let last = session.get("last")?.as_i64()?;
            let hashed: Vec<KeyValue> = keys
                .iter()
                .enumerate()
                .map(|(index, key)| if index == session_index { KeyValue::Null } else { KeyValue::from(key) })
                .collect();
            by_close.entry(last.saturating_add(self.plan.window.size)).or_default().push(hashed.clone());
            sessions.insert(hashed, Session { keys, accumulators, last });
        }
        self.sessions = sessions;
        self.by_close = by_close;
        self.position = checkpoint.get("position")?.as_u64();
        self.closed_before = checkpoint.get("closedBefore")?.as_i64()?;
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

    const SESSIONS: &str = "SELECT json_str(data, 'user') AS visitor, session(created, '30 seconds') AS session, \
         count(*) AS clicks FROM category('click') GROUP BY visitor, session";

    fn state() -> SessionState {
        SessionState::new(plan_continuous(SESSIONS).expect("plans"), 1_000).expect("a session query")
    }

    fn click(position: u64, second: i64, user: &str) -> RecordedEvent {
        RecordedEvent {
            stream: StreamName::new(format!("click-{user}")).expect("name"),
            revision: 0,
            position: Position(position),
            id: EventId(uuid::Uuid::from_u128(u128::from(position))),
            event_type: "Clicked".into(),
            content_type: ContentType::Json,
            created: Timestamp(second * TICKS_PER_SECOND),
            data: Bytes::from(serde_json::json!({ "user": user }).to_string()),
            metadata: Bytes::new(),
        }
    }

    /// Sessions of each user computed plainly: sort by time, split where
    /// the gap is exceeded, close those the log has passed.
    fn plain_sessions(clicks: &[(i64, &str)], gap: i64, log_at: i64) -> Vec<(String, i64, i64)> {
        let mut by_user: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (second, user) in clicks {
            by_user.entry(user).or_default().push(*second);
        }
        let mut sessions = Vec::new();
        for (user, mut times) in by_user {
            times.sort_unstable();
            let mut start = times[0];
            let mut previous = times[0];
            let mut count = 0;
            for time in times {
                if time - previous > gap {
                    sessions.push((user.to_owned(), start, count, previous));
                    start = time;
                    count = 0;
                }
                count += 1;
                previous = time;
            }
            sessions.push((user.to_owned(), start, count, previous));
        }
        let mut closed: Vec<(String, i64, i64)> = sessions
            .into_iter()
            .filter(|(_, _, _, last)| last + gap < log_at)
            .map(|(user, start, count, _)| (user, start, count))
            .collect();
        closed.sort();
        closed
    }

    #[test]
    fn sessions_close_after_the_gap_as_a_plain_computation_says() {
        let mut seed = 7_u64;
        let mut clicks = Vec::new();
        let mut second = 0;
        for _ in 0..400 {
            // A small linear congruential generator: repeatable, no crate.
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            second += i64::try_from(seed >> 60).expect("small");
            let user = ["ann", "bob", "cy"][usize::try_from((seed >> 20) % 3).expect("small")];
            clicks.push((second, user));
        }
        let mut state = state();
        let mut rows = Vec::new();
        for (index, (second, user)) in clicks.iter().enumerate() {
            let position = u64::try_from(index).expect("small");
            rows.extend(state.apply(&click(position, *second, user)).expect("apply"));
            if index % 97 == 0 || index + 1 == clicks.len() {
                let mut seen: Vec<(String, i64, i64)> = rows
                    .iter()
                    .map(|row| match row.values.as_slice() {
                        [Value::Text(user), Value::Timestamp(start), Value::Int(count)] => {
                            (user.clone(), start / TICKS_PER_SECOND, *count)
                        }
                        other => panic!("unexpected row {other:?}"),
                    })
                    .collect();
                seen.sort();
                assert_eq!(seen, plain_sessions(&clicks[..=index], 30, *second), "after click {index}");
            }
        }
        assert!(rows.len() > 10, "the clicks make many sessions: {}", rows.len());
        let before = rows.len();
        let mut restored = SessionState::new(plan_continuous(SESSIONS).expect("plans"), 1_000).expect("session");
        restored.restore(&state.to_json()).expect("restores");
        let last = clicks.last().map_or(0, |(second, _)| *second);
        let idle = restored.close_through((last + 31) * TICKS_PER_SECOND);
        assert_eq!(idle, state.close_through((last + 31) * TICKS_PER_SECOND));
        assert_eq!(state.held(), 0, "the clock closed every session");
        assert!(!idle.is_empty() && before > 0);
    }

    #[test]
    fn a_session_key_needs_created_and_a_positive_gap() {
        for sql in [
            "SELECT session(json_time(data, 'at'), '1 minute') AS s, count(*) FROM events GROUP BY s",
            "SELECT session(created, '0 minutes') AS s, count(*) FROM events GROUP BY s",
        ] {
            assert!(plan_continuous(sql).is_err(), "{sql}");
        }
    }
}
