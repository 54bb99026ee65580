//! Running a [`Plan`] over the events its read produces: filter, then
//! either project row by row (stopping as soon as the limit is met) or fold
//! into groups; then order and limit. Memory is bounded: rows stream out
//! unless ordered, an ordered answer keeps only as many rows as it may
//! return, and groups are capped.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::aggregate::{Accumulator, KeyValue};
use crate::error::SqlError;
use crate::expr::{Expr, Row};
use crate::plan::{Ordering, Plan, SortKey};
use crate::source::EventRows;
use crate::value::Value;
use crate::window;

/// What a running query sends its reader.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryItem {
    Row(Vec<Value>),
    /// More rows would follow but the row limit was reached.
    Truncated,
}

/// How often (in events read) the scan checks its deadline and whether
/// its reader is still there, and lets other tasks run.
const CHECK_EVERY_EVENTS: u64 = 256;

pub struct Execution {
    pub plan: Plan,
    /// The most rows the answer may hold (the request's row limit).
    pub row_limit: u64,
    pub groups_max: usize,
    pub deadline: Instant,
    /// The timeout the deadline was set from, for the error.
    pub timeout: std::time::Duration,
    pub events_read: Arc<AtomicU64>,
}

/// A row on its way out, with the values it is ordered by.
struct Sorted {
    keys: Vec<Value>,
    row: Vec<Value>,
}

impl Execution {
    /// Runs to the end, sending rows to `sender`; returns early (with `Ok`)
    /// when the reader is gone.
    pub async fn run(
        self,
        mut events: EventRows,
        sender: &mpsc::Sender<Result<QueryItem, SqlError>>,
    ) -> Result<(), SqlError> {
        let plan = &self.plan;
        // Rows the answer may return: LIMIT, capped by the row limit; one
        // more is looked for to tell a truncated answer.
        let wanted = plan.limit.map_or(self.row_limit, |limit| limit.min(self.row_limit));
        let truncates = plan.limit.is_none_or(|limit| limit > self.row_limit);
        let keep = plan.offset.saturating_add(wanted).saturating_add(u64::from(truncates));
        let mut groups: HashMap<Vec<KeyValue>, (Vec<Value>, Vec<Accumulator>)> = HashMap::new();
        let mut sorted: Vec<Sorted> = Vec::new();
        let mut produced: u64 = 0;
        let mut read: u64 = 0;
        while keep > 0 || plan.grouping.is_some() {
            let Some(event) = events.next().await else { break };
            let event = event?;
            read += 1;
            self.events_read.fetch_add(1, AtomicOrdering::Relaxed);
            if read.is_multiple_of(CHECK_EVERY_EVENTS) {
                if sender.is_closed() {
                    return Ok(());
                }
                if Instant::now() >= self.deadline {
                    return Err(SqlError::Timeout { timeout: self.timeout });
                }
                tokio::task::yield_now().await;
            }
            let row = Row::Event(&event);
            if let Some(filter) = &plan.filter
                && filter.evaluate(row)?.truth()? != Some(true)
            {
                continue;
            }
            if let Some(grouping) = &plan.grouping {
                for keys in window::group_keys(&grouping.keys, row)? {
                    let hashed: Vec<KeyValue> = keys.iter().map(KeyValue::from).collect();
                    let groups_count = groups.len();
                    let (_, accumulators) = match groups.entry(hashed) {
                        Entry::Occupied(entry) => entry.into_mut(),
                        Entry::Vacant(entry) => {
                            if groups_count >= self.groups_max {
                                return Err(SqlError::TooManyGroups { limit: self.groups_max });
                            }
                            let accumulators = grouping
                                .aggregates
                                .iter()
                                .map(|call| Accumulator::new(call.function, call.distinct))
                                .collect();
                            entry.insert((keys, accumulators))
                        }
                    };
                    for (accumulator, call) in accumulators.iter_mut().zip(&grouping.aggregates) {
                        let value = match &call.argument {
                            Some(argument) => argument.evaluate(row)?,
                            None => Value::Null,
                        };
                        accumulator.add(value)?;
                    }
                }
                continue;
            }
            let values = plan.outputs.iter().map(|output| output.evaluate(row)).collect::<Result<Vec<_>, _>>()?;
            if plan.order.is_empty() {
                produced += 1;
                if produced <= plan.offset {
                    continue;
                }
                if produced > plan.offset.saturating_add(wanted) {
                    let _ = sender.send(Ok(QueryItem::Truncated)).await;
                    return Ok(());
                }
                if sender.send(Ok(QueryItem::Row(values))).await.is_err() {
                    return Ok(());
                }
                if !truncates && produced >= plan.offset.saturating_add(wanted) {
                    return Ok(());
                }
                continue;
            }
            let keys = sort_keys(&plan.order, &values, row)?;
            sorted.push(Sorted { keys, row: values });
            // Keep the best `keep` rows: sort and cut now and then, so the
            // buffer stays within twice what the answer can hold.
            if sorted.len() as u64 >= keep.saturating_mul(2).max(1024) {
                sort_rows(&mut sorted, &plan.order);
                sorted.truncate(usize::try_from(keep).unwrap_or(usize::MAX));
            }
        }
        if let Some(grouping) = &plan.grouping {
            // Aggregates without GROUP BY answer one row even over no events.
            if grouping.keys.is_empty() && groups.is_empty() {
                let accumulators =
                    grouping.aggregates.iter().map(|call| Accumulator::new(call.function, call.distinct)).collect();
                groups.insert(Vec::new(), (Vec::new(), accumulators));
            }
            for (_, (keys, accumulators)) in groups {
                let aggregates: Vec<Value> = accumulators.iter().map(Accumulator::finish).collect();
                let row = Row::Group { keys: &keys, aggregates: &aggregates };
                if let Some(having) = &grouping.having
                    && having.evaluate(row)?.truth()? != Some(true)
                {
                    continue;
                }
                let values = plan.outputs.iter().map(|output| output.evaluate(row)).collect::<Result<Vec<_>, _>>()?;
                let keys = sort_keys(&plan.order, &values, row)?;
                sorted.push(Sorted { keys, row: values });
            }
        }
        if plan.order.is_empty() && plan.grouping.is_none() {
            return Ok(());
        }
        sort_rows(&mut sorted, &plan.order);
        let offset = usize::try_from(plan.offset).unwrap_or(usize::MAX);
        let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
        let mut rows = sorted.into_iter().skip(offset);
        for row in rows.by_ref().take(wanted) {
            if sender.send(Ok(QueryItem::Row(row.row))).await.is_err() {
                return Ok(());
            }
        }
        if truncates && rows.next().is_some() {
            let _ = sender.send(Ok(QueryItem::Truncated)).await;
        }
        Ok(())
    }
}

fn sort_keys(order: &[Ordering], values: &[Value], row: Row<'_>) -> Result<Vec<Value>, SqlError> {
    order
        .iter()
        .map(|ordering| match &ordering.key {
            SortKey::Output(index) => Ok(values.get(*index).cloned().unwrap_or(Value::Null)),
            SortKey::Expr(expr) => Expr::evaluate(expr, row),
        })
        .collect()
}

fn sort_rows(rows: &mut [Sorted], order: &[Ordering]) {
    rows.sort_by(|left, right| {
        for (index, ordering) in order.iter().enumerate() {
            let (Some(left), Some(right)) = (left.keys.get(index), right.keys.get(index)) else { continue };
            let compared = match (left.is_null(), right.is_null()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => {
                    if ordering.nulls_first {
                        std::cmp::Ordering::Less
                    } else {
                        std::cmp::Ordering::Greater
                    }
                }
                (false, true) => {
                    if ordering.nulls_first {
                        std::cmp::Ordering::Greater
                    } else {
                        std::cmp::Ordering::Less
                    }
                }
                (false, false) => {
                    let ascending = left.sort_order(right);
                    if ordering.descending { ascending.reverse() } else { ascending }
                }
            };
            if compared.is_ne() {
                return compared;
            }
        }
        std::cmp::Ordering::Equal
    });
}
