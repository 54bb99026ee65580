//! The state of a pattern query over the whole log: one matcher per
//! partition, the time bounds still open, and the checkpoint of it all.
//!
//! `created` follows the log order, so once an event (or, on an idle log,
//! the clock) passes an attempt's first row plus `WITHIN`, no later row can
//! join it: its partial matches are dropped and its match, if it found
//! one, is final. The open bounds are kept in a heap, so an event looks
//! only at the partitions whose bound it passes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use eventfold_store::RecordedEvent;
use serde_json::{Map, Value as JsonValue, json};

use super::matcher::{Match, MatchRow, Matcher, PartitionMatcher};
use super::plan::{Condition, Output, PatternPlan};
use crate::aggregate::KeyValue;
use crate::error::SqlError;
use crate::expr::{Expr, Row};
use crate::maintained::{MaintainedQuery, ResultRow};
use crate::value::Value;

struct Partition {
    keys: Vec<Value>,
    /// The `PREV` arguments of the partition's last row.
    previous: Vec<Value>,
    matcher: PartitionMatcher,
}

pub struct PatternState {
    plan: PatternPlan,
    /// Partitions by id; ids are given in the order partitions are first
    /// seen, so that a replay reports matches in the same order.
    partitions: HashMap<u64, Partition>,
    ids: HashMap<Vec<KeyValue>, u64>,
    next_id: u64,
    /// (time bound, partition id), earliest first; an entry whose attempt
    /// is gone is skipped when it comes up.
    deadlines: BinaryHeap<Reverse<(i64, u64)>>,
    position: Option<u64>,
    /// Partitions and partial matches held.
    held: usize,
    state_max: usize,
}

impl PatternState {
    pub fn new(plan: PatternPlan, state_max: usize) -> Self {
        Self {
            plan,
            partitions: HashMap::new(),
            ids: HashMap::new(),
            next_id: 0,
            deadlines: BinaryHeap::new(),
            position: None,
            held: 0,
            state_max,
        }
    }

    pub fn plan(&self) -> &PatternPlan {
        &self.plan
    }

    fn matcher(&self) -> Matcher<'_> {
        Matcher {
            program: &self.plan.program,
            measures: &self.plan.measures,
            within: self.plan.within,
            skip: self.plan.skip,
        }
    }

    /// Applies one event: bounds it passes, then the row it is.
    pub fn apply_event(&mut self, event: &RecordedEvent) -> Result<Vec<ResultRow>, SqlError> {
        self.position = Some(event.position.0);
        let now = event.created.ticks();
        let mut rows = self.expire(now);
        let row = Row::Event(event);
        if let Some(filter) = &self.plan.filter
            && filter.evaluate(row)?.truth()? != Some(true)
        {
            return Ok(rows);
        }
        let keys =
            self.plan.partition_by.iter().map(|key| key.evaluate(row)).collect::<Result<Vec<Value>, SqlError>>()?;
        let hashed: Vec<KeyValue> = keys.iter().map(KeyValue::from).collect();
        let (id, mut partition) = match self.ids.get(&hashed).copied() {
            Some(id) => match self.take(id) {
                Some(partition) => (id, partition),
                None => return Ok(rows),
            },
            None => {
                let id = self.next_id;
                self.next_id += 1;
                self.ids.insert(hashed, id);
                let previous = vec![Value::Null; self.plan.previous.len()];
                (id, Partition { keys, previous, matcher: PartitionMatcher::default() })
            }
        };
        let matches = self.push_row(&mut partition, event);
        let matches = match matches {
            Ok(matches) => matches,
            Err(error) => {
                self.keep(id, partition);
                return Err(error);
            }
        };
        rows.extend(matches.into_iter().map(|found| self.result_row(&partition.keys, found)));
        if let Some(within) = self.plan.within
            && !partition.matcher.is_idle()
        {
            self.deadlines.push(Reverse((now.saturating_add(within), id)));
        }
        self.keep(id, partition);
        if self.held > self.state_max {
            return Err(SqlError::evaluation(format!(
                "the pattern holds more than {} partitions and partial matches; bound it with WITHIN or read a \
                 narrower table",
                self.state_max
            )));
        }
        Ok(rows)
    }

    fn push_row(&self, partition: &mut Partition, event: &RecordedEvent) -> Result<Vec<Match>, SqlError> {
        let row = Row::Event(event);
        let truths = self
            .plan
            .conditions
            .iter()
            .map(|condition| match condition {
                None => Ok(true),
                Some(condition) => Ok(evaluate(condition, event, &partition.previous)?.truth()? == Some(true)),
            })
            .collect::<Result<Vec<bool>, SqlError>>()?;
        let arguments = self
            .plan
            .measure_arguments
            .iter()
            .map(|argument| argument.as_ref().map_or(Ok(Value::Null), |argument| argument.evaluate(row)))
            .collect::<Result<Vec<Value>, SqlError>>()?;
        let previous =
            self.plan.previous.iter().map(|argument| argument.evaluate(row)).collect::<Result<Vec<_>, _>>()?;
        let matches =
            partition.matcher.push(&self.matcher(), &MatchRow { created: event.created.ticks(), truths, arguments })?;
        partition.previous = previous;
        Ok(matches)
    }

    /// Takes a partition out to change it; [`Self::keep`] puts it back.
    /// What it holds is counted while it is in.
    fn take(&mut self, id: u64) -> Option<Partition> {
        let partition = self.partitions.remove(&id)?;
        self.held = self.held.saturating_sub(1 + partition.matcher.held());
        Some(partition)
    }

    /// Puts a partition back, or drops it when it holds nothing needed.
    fn keep(&mut self, id: u64, partition: Partition) {
        if partition.matcher.is_idle() && !self.plan.keeps_idle_partitions() {
            self.ids.remove(&partition.keys.iter().map(KeyValue::from).collect::<Vec<_>>());
        } else {
            self.held += 1 + partition.matcher.held();
            self.partitions.insert(id, partition);
        }
    }

    /// Ends the attempts whose time bound `now` has passed.
    fn expire(&mut self, now: i64) -> Vec<ResultRow> {
        let mut rows = Vec::new();
        while let Some(Reverse((deadline, id))) = self.deadlines.peek().copied() {
            if deadline > now {
                break;
            }
            self.deadlines.pop();
            let Some(mut partition) = self.take(id) else { continue };
            let matches = partition.matcher.expire(&self.matcher(), now);
            rows.extend(matches.into_iter().map(|found| self.result_row(&partition.keys, found)));
            // The attempts left begin later: their bound comes up next.
            if let Some(next) = partition.matcher.next_deadline(self.plan.within) {
                self.deadlines.push(Reverse((next, id)));
            }
            self.keep(id, partition);
        }
        rows
    }

    /// The end of a bounded read: every partition ends, in the order they
    /// were first seen.
    pub fn finish(&mut self) -> Vec<ResultRow> {
        let mut ids: Vec<u64> = self.partitions.keys().copied().collect();
        ids.sort_unstable();
        let mut rows = Vec::new();
        for id in ids {
            let Some(mut partition) = self.take(id) else { continue };
            let matches = partition.matcher.end(&self.matcher());
            rows.extend(matches.into_iter().map(|found| self.result_row(&partition.keys, found)));
            self.keep(id, partition);
        }
        rows
    }

    fn result_row(&self, keys: &[Value], found: Match) -> ResultRow {
        let values = self
            .plan
            .outputs
            .iter()
            .map(|output| match output {
                Output::Partition(index) => keys.get(*index).cloned().unwrap_or(Value::Null),
                Output::Measure(index) => found.measures.get(*index).cloned().unwrap_or(Value::Null),
            })
            .collect();
        ResultRow { values, metadata: Map::new() }
    }
}

/// A condition on `event`, `previous` holding the `PREV` arguments of the
/// partition's row before it (`NULL` for its first row).
fn evaluate(condition: &Condition, event: &RecordedEvent, previous: &[Value]) -> Result<Value, SqlError> {
    let literal = |value: Value| Box::new(Expr::Literal(value));
    let on_row = |expr: Expr| expr.evaluate(Row::Event(event));
    match condition {
        Condition::Row(expr) => expr.evaluate(Row::Event(event)),
        Condition::Previous(index) => Ok(previous.get(*index).cloned().unwrap_or(Value::Null)),
        Condition::Binary { left, op, right } => {
            let left = evaluate(left, event, previous)?;
            let right = evaluate(right, event, previous)?;
            on_row(Expr::Binary { left: literal(left), op: *op, right: literal(right) })
        }
        Condition::Not(inner) => on_row(Expr::Not(literal(evaluate(inner, event, previous)?))),
        Condition::Negate(inner) => on_row(Expr::Negate(literal(evaluate(inner, event, previous)?))),
        Condition::IsNull { inner, negated } => {
            Ok(Value::Bool(evaluate(inner, event, previous)?.is_null() != *negated))
        }
    }
}

impl MaintainedQuery for PatternState {
    fn columns(&self) -> &[String] {
        &self.plan.columns
    }

    fn apply(&mut self, event: &RecordedEvent) -> Result<Vec<ResultRow>, SqlError> {
        self.apply_event(event)
    }

    fn close_through(&mut self, through: i64) -> Vec<ResultRow> {
        self.expire(through)
    }

    fn position(&self) -> Option<u64> {
        self.position
    }

    fn held(&self) -> usize {
        self.held
    }

    fn to_json(&self) -> JsonValue {
        let mut ids: Vec<&u64> = self.partitions.keys().collect();
        ids.sort_unstable();
        let partitions: Vec<JsonValue> = ids
            .into_iter()
            .filter_map(|id| {
                let partition = self.partitions.get(id)?;
                Some(json!({
                    "id": id,
                    "keys": partition.keys.iter().map(Value::to_tagged_json).collect::<Vec<_>>(),
                    "previous": partition.previous.iter().map(Value::to_tagged_json).collect::<Vec<_>>(),
                    "matcher": partition.matcher.to_json(),
                }))
            })
            .collect();
        json!({
            "kind": "pattern",
            "position": self.position,
            "nextId": self.next_id,
            "partitions": partitions,
        })
    }

    fn restore(&mut self, checkpoint: &JsonValue) -> Option<()> {
        if checkpoint.get("kind")?.as_str()? != "pattern" {
            return None;
        }
        let tagged =
            |json: &JsonValue| -> Option<Vec<Value>> { json.as_array()?.iter().map(Value::from_tagged_json).collect() };
        let mut partitions = HashMap::new();
        let mut ids = HashMap::new();
        let mut deadlines = BinaryHeap::new();
        for partition in checkpoint.get("partitions")?.as_array()? {
            let id = partition.get("id")?.as_u64()?;
            let keys = tagged(partition.get("keys")?)?;
            let previous = tagged(partition.get("previous")?)?;
            if keys.len() != self.plan.partition_by.len() || previous.len() != self.plan.previous.len() {
                return None;
            }
            let matcher = PartitionMatcher::from_json(&self.matcher(), partition.get("matcher")?)?;
            if let Some(deadline) = matcher.next_deadline(self.plan.within) {
                deadlines.push(Reverse((deadline, id)));
            }
            ids.insert(keys.iter().map(KeyValue::from).collect(), id);
            partitions.insert(id, Partition { keys, previous, matcher });
        }
        self.partitions = partitions;
        self.ids = ids;
        self.deadlines = deadlines;
        self.next_id = checkpoint.get("nextId")?.as_u64()?;
        self.position = checkpoint.get("position")?.as_u64();
        self.held = self.partitions.values().map(|partition| 1 + partition.matcher.held()).sum();
        Some(())
    }
}
