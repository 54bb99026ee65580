//! The state that maintains a join: one buffer per side of the events that
//! may still meet a partner, keyed by the join's equality key, in arrival
//! order. `created` follows the log order, so an event read later is never
//! stamped earlier: a left event can meet no right event still to come
//! once `created` has passed its own plus the bound's high end, nor a right
//! event a left one past its own minus the low end; it is then dropped
//! (and, in a LEFT JOIN, written with `NULL`s if it never matched). Every
//! match is produced when the later of its two events is read, so the rows
//! written up to any position are the join of the events up to there.
//!
//! The checkpoint holds no event: only where the oldest buffered event
//! was read from, how far the state has read, and (for a LEFT JOIN) which
//! buffered left events have matched. A restored state has the runner read
//! again from its oldest buffered event, rebuilding the buffers with every
//! row up to the saved position held back (they were written before), so a
//! checkpoint stays small however many events the bound holds.

use std::collections::{HashMap, VecDeque};

use eventfold_store::RecordedEvent;

use super::plan::{JoinKind, JoinPlan};
use crate::aggregate::KeyValue;
use crate::error::SqlError;
use crate::expr::{Expr, Row};
use crate::value::Value;

struct Buffered {
    event: RecordedEvent,
    /// The position of the event applied before it: where a replay that
    /// rebuilds this buffer starts after.
    after: Option<u64>,
    /// LEFT JOIN: whether the event met a partner.
    matched: bool,
}

/// One side's events that may still match.
#[derive(Default)]
struct SideBuffer {
    /// (created, key) in arrival order: the order they leave in, since
    /// each stays a fixed time past its `created`.
    arrivals: VecDeque<(i64, Vec<KeyValue>)>,
    by_key: HashMap<Vec<KeyValue>, VecDeque<Buffered>>,
}

impl SideBuffer {
    fn len(&self) -> usize {
        self.arrivals.len()
    }

    /// Where the oldest event held was read after (`None`: the start).
    fn oldest_after(&self) -> Option<Option<u64>> {
        let (_, key) = self.arrivals.front()?;
        Some(self.by_key.get(key)?.front()?.after)
    }

    fn push(&mut self, key: Vec<KeyValue>, buffered: Buffered) {
        self.arrivals.push_back((buffered.event.created.ticks(), key.clone()));
        self.by_key.entry(key).or_default().push_back(buffered);
    }

    /// Drops the events stamped before `cutoff`, oldest first.
    fn drop_before(&mut self, cutoff: i64) -> Vec<Buffered> {
        let mut dropped = Vec::new();
        while let Some((created, _)) = self.arrivals.front() {
            if *created >= cutoff {
                break;
            }
            let Some((_, key)) = self.arrivals.pop_front() else { break };
            // A key's events arrived in the same order as all of them: its
            // oldest is the one leaving.
            if let Some(events) = self.by_key.get_mut(&key) {
                if let Some(buffered) = events.pop_front() {
                    dropped.push(buffered);
                }
                if events.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
        dropped
    }
}

enum Match {
    No,
    KeptOut,
    Row(Vec<Value>),
}

pub struct JoinState {
    plan: JoinPlan,
    left: SideBuffer,
    right: SideBuffer,
    /// The position of the last event applied.
    position: Option<u64>,
    /// The latest `created` read, or closed through by the clock.
    now: i64,
    held_max: usize,
    /// After a restore: the buffers being rebuilt.
    replay: Option<Replay>,
    /// A join with `query('…')`: the table's latest row per key.
    table: HashMap<Vec<KeyValue>, RecordedEvent>,
}

/// A restored state reading again the events its checkpoint had read.
struct Replay {
    /// The last position the checkpoint had applied: rows up to it were
    /// written already.
    through: u64,
    /// The checkpoint's `now`, which the clock may have moved past the
    /// last event's `created`.
    now: i64,
    /// LEFT JOIN: the buffered left events that had matched, by position
    /// (their partner may have left the buffers since).
    matched: std::collections::HashSet<u64>,
    checkpoint: serde_json::Value,
}

fn pair<'a>(left: Option<&'a RecordedEvent>, right: Option<&'a RecordedEvent>) -> Row<'a> {
    Row::Pair { left, right }
}

fn holds(condition: Option<&Expr>, row: Row<'_>) -> Result<bool, SqlError> {
    match condition {
        None => Ok(true),
        Some(condition) => Ok(condition.evaluate(row)?.truth()? == Some(true)),
    }
}

/// A key for the buffers: `NULL` when any part is (it equals nothing), and
/// whole floats as integers, as `1 = 1.0` holds.
fn key_of(exprs: &[&Expr], row: Row<'_>) -> Result<Option<Vec<KeyValue>>, SqlError> {
    let mut key = Vec::with_capacity(exprs.len());
    for expr in exprs {
        let value = match expr.evaluate(row)? {
            Value::Null => return Ok(None),
            Value::Float(number) if number.fract() == 0.0 && number.abs() < 9.0e15 => Value::Int(number as i64),
            value => value,
        };
        key.push(KeyValue::from(&value));
    }
    Ok(Some(key))
}

impl JoinState {
    pub fn new(plan: JoinPlan, held_max: usize) -> Self {
        Self {
            plan,
            left: SideBuffer::default(),
            right: SideBuffer::default(),
            position: None,
            now: i64::MIN,
            held_max,
            replay: None,
            table: HashMap::new(),
        }
    }

    pub fn columns(&self) -> &[String] {
        &self.plan.columns
    }

    /// The position of the last event applied; after a restore, the one
    /// to read again after.
    pub fn position(&self) -> Option<u64> {
        self.position
    }

    pub fn held(&self) -> usize {
        self.left.len() + self.right.len() + self.table.len()
    }

    /// Applies the next event of the log: drops what its `created` puts out
    /// of reach, then joins it as a left and as a right event (one event
    /// may be both, in a join of a source with itself).
    pub fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<Vec<Value>>, SqlError> {
        if self.replay.as_ref().is_some_and(|replay| event.position.0 > replay.through) {
            self.end_replay();
        }
        let after = self.position;
        self.position = Some(event.position.0);
        let mut rows = self.advance(event.created.ticks());
        if holds(self.plan.left.filter.as_ref(), pair(Some(event), None))? {
            self.arrive_left(event, after, &mut rows)?;
        }
        if holds(self.plan.right.filter.as_ref(), pair(None, Some(event)))? {
            self.arrive_right(event, after, &mut rows)?;
        }
        if let Some(replay) = &self.replay {
            if event.position.0 >= replay.through {
                self.end_replay();
            }
            return Ok(Vec::new());
        }
        Ok(rows)
    }

    /// The buffers are rebuilt: bring `now` to the checkpoint's, holding
    /// back the rows that writes (they were written before).
    fn end_replay(&mut self) {
        if let Some(replay) = self.replay.take() {
            self.advance(replay.now);
        }
    }

    /// On an idle log, the clock passing `through`: a LEFT JOIN writes the
    /// left events that can no longer match. An inner join waits for the
    /// next event instead, so that its result never depends on the clock.
    pub fn close_through(&mut self, through: i64) -> Vec<Vec<Value>> {
        if self.replay.is_some() {
            return Vec::new();
        }
        match self.plan.kind {
            JoinKind::Left => self.advance(through),
            JoinKind::Inner => Vec::new(),
        }
    }

    fn advance(&mut self, now: i64) -> Vec<Vec<Value>> {
        if now <= self.now {
            return Vec::new();
        }
        self.now = now;
        let left_gone = self.left.drop_before(now.saturating_sub(self.plan.high));
        self.right.drop_before(now.saturating_add(self.plan.low));
        left_gone
            .into_iter()
            .filter(|buffered| !buffered.matched)
            .filter_map(|buffered| self.unmatched_row(&buffered.event))
            .collect()
    }

    /// A LEFT JOIN's row for a left event with no partner; evaluation
    /// errors read as `NULL` here, whether the row is written on an event
    /// or by the clock, so that a replay writes the same.
    fn unmatched_row(&self, event: &RecordedEvent) -> Option<Vec<Value>> {
        if self.plan.kind != JoinKind::Left {
            return None;
        }
        let row = pair(Some(event), None);
        if !holds(self.plan.row_filter.as_ref(), row).unwrap_or(false) {
            return None;
        }
        Some(self.plan.outputs.iter().map(|output| output.evaluate(row).unwrap_or(Value::Null)).collect())
    }

    /// Whether the pair matches, and its row unless `WHERE` keeps it out
    /// (a left event kept out that way still matched: it gets no `NULL`
    /// row).
    fn match_pair(&self, left: &RecordedEvent, right: &RecordedEvent) -> Result<Match, SqlError> {
        let row = pair(Some(left), Some(right));
        if !holds(self.plan.condition.as_ref(), row)? {
            return Ok(Match::No);
        }
        if !holds(self.plan.row_filter.as_ref(), row)? {
            return Ok(Match::KeptOut);
        }
        Ok(Match::Row(self.plan.outputs.iter().map(|output| output.evaluate(row)).collect::<Result<Vec<_>, _>>()?))
    }

    fn ensure_room(&self) -> Result<(), SqlError> {
        if self.held() >= self.held_max {
            return Err(SqlError::evaluation(format!(
                "the join holds {} events waiting for a partner, its limit; narrow its sides with WHERE or its bound on created",
                self.held_max
            )));
        }
        Ok(())
    }

    fn arrive_left(
        &mut self,
        event: &RecordedEvent,
        after: Option<u64>,
        rows: &mut Vec<Vec<Value>>,
    ) -> Result<(), SqlError> {
        let exprs: Vec<&Expr> = self.plan.keys.iter().map(|(left, _)| left).collect();
        let Some(key) = key_of(&exprs, pair(Some(event), None))? else {
            rows.extend(self.unmatched_row(event));
            return Ok(());
        };
        if self.plan.right_is_table {
            // The table as it is at this event's position: no later row
            // changes what this event met.
            let row = match self.table.get(&key) {
                Some(table_row) => self.match_pair(event, table_row)?,
                None => Match::No,
            };
            match row {
                Match::Row(row) => rows.push(row),
                Match::KeptOut => {}
                Match::No => rows.extend(self.unmatched_row(event)),
            }
            return Ok(());
        }
        let mut matched = self.replay.as_ref().is_some_and(|replay| replay.matched.contains(&event.position.0));
        if let Some(partners) = self.right.by_key.get(&key) {
            for partner in partners {
                match self.match_pair(event, &partner.event)? {
                    Match::No => {}
                    Match::KeptOut => matched = true,
                    Match::Row(row) => {
                        matched = true;
                        rows.push(row);
                    }
                }
            }
        }
        // A right event still to come is stamped at `now` or later.
        if event.created.ticks().saturating_add(self.plan.high) >= self.now {
            self.ensure_room()?;
            self.left.push(key, Buffered { event: event.clone(), after, matched });
        } else if !matched {
            rows.extend(self.unmatched_row(event));
        }
        Ok(())
    }

    fn arrive_right(
        &mut self,
        event: &RecordedEvent,
        after: Option<u64>,
        rows: &mut Vec<Vec<Value>>,
    ) -> Result<(), SqlError> {
        let exprs: Vec<&Expr> = self.plan.keys.iter().map(|(_, right)| right).collect();
        let Some(key) = key_of(&exprs, pair(None, Some(event)))? else { return Ok(()) };
        if self.plan.right_is_table {
            if !self.table.contains_key(&key) {
                self.ensure_room()?;
            }
            self.table.insert(key, event.clone());
            return Ok(());
        }
        let mut matches = Vec::new();
        if let Some(partners) = self.left.by_key.get(&key) {
            for (index, partner) in partners.iter().enumerate() {
                match self.match_pair(&partner.event, event)? {
                    Match::No => {}
                    Match::KeptOut => matches.push(index),
                    Match::Row(row) => {
                        matches.push(index);
                        rows.push(row);
                    }
                }
            }
        }
        if let Some(partners) = self.left.by_key.get_mut(&key) {
            for index in matches {
                if let Some(partner) = partners.get_mut(index) {
                    partner.matched = true;
                }
            }
        }
        // A left event still to come is stamped at `now` or later.
        if event.created.ticks().saturating_sub(self.plan.low) >= self.now {
            self.ensure_room()?;
            self.right.push(key, Buffered { event: event.clone(), after, matched: false });
        }
        Ok(())
    }

    /// The state as a checkpoint's data: where to read again from to
    /// rebuild the buffers, and what a replay cannot learn again.
    pub fn to_json(&self) -> serde_json::Value {
        if let Some(replay) = &self.replay {
            return replay.checkpoint.clone();
        }
        if self.plan.right_is_table {
            // The table depends on every row before it: it is saved whole,
            // in position order so that a checkpoint is the same text twice.
            let mut rows: Vec<&RecordedEvent> = self.table.values().collect();
            rows.sort_by_key(|row| row.position);
            return serde_json::json!({
                "join": true,
                "position": self.position,
                "now": self.now,
                "table": rows.into_iter().map(|row| super::checkpoint::event_to_json(row, false)).collect::<Vec<_>>(),
            });
        }
        // `None` (the start) sorts first: the oldest of the two.
        let oldest = [self.left.oldest_after(), self.right.oldest_after()].into_iter().flatten().min();
        let mut matched: Vec<u64> = self
            .left
            .by_key
            .values()
            .flatten()
            .filter(|buffered| buffered.matched)
            .map(|buffered| buffered.event.position.0)
            .collect();
        matched.sort_unstable();
        serde_json::json!({
            "join": true,
            "position": self.position,
            "replayAfter": oldest.unwrap_or(self.position),
            "now": self.now,
            "matched": matched,
        })
    }

    /// Restores the state a checkpoint holds, to be rebuilt by reading
    /// again after [`JoinState::position`]; `None` when it is not one of a
    /// join.
    pub fn restore(&mut self, checkpoint: &serde_json::Value) -> Option<()> {
        if checkpoint.get("join")?.as_bool() != Some(true) {
            return None;
        }
        let now = checkpoint.get("now")?.as_i64()?;
        if self.plan.right_is_table {
            let exprs: Vec<&Expr> = self.plan.keys.iter().map(|(_, right)| right).collect();
            let mut table = HashMap::new();
            for entry in checkpoint.get("table")?.as_array()? {
                let (row, _) = super::checkpoint::event_from_json(entry)?;
                table.insert(key_of(&exprs, pair(None, Some(&row))).ok()??, row);
            }
            self.table = table;
            self.position = checkpoint.get("position")?.as_u64();
            self.now = now;
            self.replay = None;
            return Some(());
        }
        let replay_after = checkpoint.get("replayAfter")?;
        let matched =
            checkpoint.get("matched")?.as_array()?.iter().map(serde_json::Value::as_u64).collect::<Option<_>>()?;
        self.left = SideBuffer::default();
        self.right = SideBuffer::default();
        self.now = i64::MIN;
        let Some(through) = checkpoint.get("position")?.as_u64() else {
            // Nothing was applied: nothing to rebuild.
            self.position = None;
            self.replay = None;
            return Some(());
        };
        self.position = if replay_after.is_null() { None } else { Some(replay_after.as_u64()?) };
        self.replay = Some(Replay { through, now, matched, checkpoint: checkpoint.clone() });
        Some(())
    }
}

impl crate::maintained::MaintainedQuery for JoinState {
    fn columns(&self) -> &[String] {
        JoinState::columns(self)
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<crate::maintained::ResultRow>, SqlError> {
        Ok(JoinState::apply(self, event)?.into_iter().map(result_row).collect())
    }

    fn close_through(&mut self, through: i64) -> Vec<crate::maintained::ResultRow> {
        JoinState::close_through(self, through).into_iter().map(result_row).collect()
    }

    fn position(&self) -> Option<u64> {
        JoinState::position(self)
    }

    fn held(&self) -> usize {
        JoinState::held(self)
    }

    fn to_json(&self) -> serde_json::Value {
        JoinState::to_json(self)
    }

    fn restore(&mut self, checkpoint: &serde_json::Value) -> Option<()> {
        JoinState::restore(self, checkpoint)
    }
}

fn result_row(values: Vec<Value>) -> crate::maintained::ResultRow {
    crate::maintained::ResultRow { values, metadata: serde_json::Map::new() }
}
