//! Matching one partition's rows, one row at a time, with the Pike virtual
//! machine of [`super::nfa`].
//!
//! Every row opens an attempt: the search for the preferred match that
//! starts at it. An attempt holds its threads (partial matches, each with
//! its own measures), in preference order, at most one per instruction,
//! and the best match it has found so far. Reaching `Match` cuts the
//! attempt's less preferred threads; its more preferred ones live on, and
//! one of them may still find a longer (preferred) match. An attempt is
//! resolved when no thread is left: by a row that extends none of them,
//! by the time bound, or by the end of the partition.
//!
//! Attempts are reported in the order of their first row, each only once
//! every earlier one is resolved: a match is final when its attempt and
//! every earlier attempt are. After a match, `SKIP PAST LAST ROW` drops the
//! attempts that start inside it; `SKIP TO NEXT ROW` keeps them.
//!
//! The conditions of `DEFINE` read the current row and the one before it
//! in the partition (`PREV`), never the match, so each row's truths are
//! computed once and shared by every thread.

use std::collections::VecDeque;

use serde_json::{Value as JsonValue, json};

use super::nfa::{Instruction, Program};
use crate::aggregate::{Accumulator, AggregateFunction};
use crate::error::SqlError;
use crate::value::Value;

/// What a measure reports about a match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeasureKind {
    First,
    Last,
    Aggregate(AggregateFunction),
    MatchNumber,
}

/// A measure, over the rows of one variable (or of the whole match).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeasureSpec {
    pub kind: MeasureKind,
    pub variable: Option<usize>,
}

#[derive(Clone, Debug)]
enum MeasureState {
    /// `FIRST` and `LAST`: the value seen, once one is.
    Seen(Option<Value>),
    Aggregate(Accumulator),
    Nothing,
}

impl MeasureState {
    fn new(spec: &MeasureSpec) -> Self {
        match spec.kind {
            MeasureKind::First | MeasureKind::Last => MeasureState::Seen(None),
            MeasureKind::Aggregate(function) => MeasureState::Aggregate(Accumulator::new(function, false)),
            MeasureKind::MatchNumber => MeasureState::Nothing,
        }
    }

    fn to_json(&self) -> JsonValue {
        match self {
            MeasureState::Seen(None) | MeasureState::Nothing => JsonValue::Null,
            MeasureState::Seen(Some(value)) => json!({ "seen": value.to_tagged_json() }),
            MeasureState::Aggregate(accumulator) => accumulator.to_json(),
        }
    }

    fn from_json(spec: &MeasureSpec, json: &JsonValue) -> Option<Self> {
        Some(match spec.kind {
            MeasureKind::First | MeasureKind::Last => match json.get("seen") {
                None => MeasureState::Seen(None),
                Some(value) => MeasureState::Seen(Some(Value::from_tagged_json(value)?)),
            },
            MeasureKind::Aggregate(function) => MeasureState::Aggregate(Accumulator::from_json(function, json)?),
            MeasureKind::MatchNumber => MeasureState::Nothing,
        })
    }
}

/// One row of a partition as the matcher needs it.
#[derive(Clone, Debug)]
pub struct MatchRow {
    pub created: i64,
    /// Whether each variable's condition holds for the row.
    pub truths: Vec<bool>,
    /// Each measure's argument evaluated on the row (`NULL` where none).
    pub arguments: Vec<Value>,
}

/// A final match: its measures, in the order of the plan's.
#[derive(Clone, Debug, PartialEq)]
pub struct Match {
    pub first_row: u64,
    pub last_row: u64,
    pub measures: Vec<Value>,
}

/// How the next match is looked for after one is found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    PastLastRow,
    ToNextRow,
}

/// The parts of a plan the matcher reads.
pub struct Matcher<'a> {
    pub program: &'a Program,
    pub measures: &'a [MeasureSpec],
    /// A match's rows are all created before its first row's `created`
    /// plus this (ticks).
    pub within: Option<i64>,
    pub skip: Skip,
}

#[derive(Clone, Debug)]
struct Thread {
    pc: usize,
    measures: Vec<MeasureState>,
}

#[derive(Clone, Debug)]
struct Found {
    last_row: u64,
    measures: Vec<MeasureState>,
}

#[derive(Clone, Debug)]
struct Attempt {
    first_row: u64,
    first_created: i64,
    threads: Vec<Thread>,
    found: Option<Found>,
}

/// The matching state of one partition.
#[derive(Clone, Debug, Default)]
pub struct PartitionMatcher {
    attempts: VecDeque<Attempt>,
    /// Rows seen: the next row's number.
    rows: u64,
    /// Matches reported: `MATCH_NUMBER()` of the last one.
    matches: u64,
}

impl PartitionMatcher {
    /// Feeds the partition's next row; returns the matches it makes final.
    pub fn push(&mut self, matcher: &Matcher<'_>, row: &MatchRow) -> Result<Vec<Match>, SqlError> {
        let number = self.rows;
        self.rows += 1;
        let initial = Thread { pc: 0, measures: matcher.measures.iter().map(MeasureState::new).collect() };
        let mut threads = Vec::new();
        let mut seen = vec![false; matcher.program.instructions.len()];
        matcher.program.follow(0, &mut seen, |pc| threads.push(Thread { pc, ..initial.clone() }));
        self.attempts.push_back(Attempt { first_row: number, first_created: row.created, threads, found: None });
        for attempt in &mut self.attempts {
            let inside = matcher.within.is_none_or(|within| row.created < attempt.first_created.saturating_add(within));
            if inside {
                step(matcher, attempt, number, row)?;
            } else {
                attempt.threads.clear();
            }
        }
        Ok(self.report(matcher))
    }

    /// The time bound has passed `now`: attempts that began at or before
    /// `now` less the bound can take no more rows.
    pub fn expire(&mut self, matcher: &Matcher<'_>, now: i64) -> Vec<Match> {
        let Some(within) = matcher.within else { return Vec::new() };
        for attempt in &mut self.attempts {
            if attempt.first_created.saturating_add(within) <= now {
                attempt.threads.clear();
            }
        }
        self.report(matcher)
    }

    /// The partition has no more rows (the end of a bounded read).
    pub fn end(&mut self, matcher: &Matcher<'_>) -> Vec<Match> {
        for attempt in &mut self.attempts {
            attempt.threads.clear();
        }
        self.report(matcher)
    }

    /// When the oldest open attempt's time bound passes, if any.
    pub fn next_deadline(&self, within: Option<i64>) -> Option<i64> {
        let within = within?;
        self.attempts.iter().map(|attempt| attempt.first_created.saturating_add(within)).min()
    }

    /// Partial matches held: what the state limit bounds.
    pub fn held(&self) -> usize {
        self.attempts.iter().map(|attempt| attempt.threads.len() + 1).sum()
    }

    /// Nothing is pending: the partition needs no state but its rows' count.
    pub fn is_idle(&self) -> bool {
        self.attempts.is_empty()
    }

    /// Reports the resolved attempts at the front, in order; drops the
    /// attempts that can no longer match.
    fn report(&mut self, matcher: &Matcher<'_>) -> Vec<Match> {
        let mut reported = Vec::new();
        // An attempt that is resolved without a match can never report
        // anything: it goes now, wherever it stands.
        self.attempts.retain(|attempt| !attempt.threads.is_empty() || attempt.found.is_some());
        while let Some(front) = self.attempts.front() {
            if !front.threads.is_empty() {
                break;
            }
            let Some(attempt) = self.attempts.pop_front() else { break };
            let Some(found) = attempt.found else { continue };
            self.matches += 1;
            let measures = matcher
                .measures
                .iter()
                .zip(&found.measures)
                .map(|(spec, state)| match (spec.kind, state) {
                    (MeasureKind::MatchNumber, _) => Value::Int(i64::try_from(self.matches).unwrap_or(i64::MAX)),
                    (_, MeasureState::Seen(value)) => value.clone().unwrap_or(Value::Null),
                    (_, MeasureState::Aggregate(accumulator)) => accumulator.finish(),
                    (_, MeasureState::Nothing) => Value::Null,
                })
                .collect();
            if matcher.skip == Skip::PastLastRow {
                while self.attempts.front().is_some_and(|next| next.first_row <= found.last_row) {
                    self.attempts.pop_front();
                }
            }
            reported.push(Match { first_row: attempt.first_row, last_row: found.last_row, measures });
        }
        reported
    }

    pub fn to_json(&self) -> JsonValue {
        let attempts: Vec<JsonValue> = self
            .attempts
            .iter()
            .map(|attempt| {
                json!({
                    "firstRow": attempt.first_row,
                    "firstCreated": attempt.first_created,
                    "threads": attempt.threads.iter().map(thread_json).collect::<Vec<_>>(),
                    "found": attempt.found.as_ref().map(|found| json!({
                        "lastRow": found.last_row,
                        "measures": found.measures.iter().map(MeasureState::to_json).collect::<Vec<_>>(),
                    })),
                })
            })
            .collect();
        json!({ "rows": self.rows, "matches": self.matches, "attempts": attempts })
    }

    pub fn from_json(matcher: &Matcher<'_>, json: &JsonValue) -> Option<Self> {
        let measures = |json: &JsonValue| -> Option<Vec<MeasureState>> {
            let states = json.as_array()?;
            if states.len() != matcher.measures.len() {
                return None;
            }
            matcher.measures.iter().zip(states).map(|(spec, state)| MeasureState::from_json(spec, state)).collect()
        };
        let mut attempts = VecDeque::new();
        for attempt in json.get("attempts")?.as_array()? {
            let mut threads = Vec::new();
            for thread in attempt.get("threads")?.as_array()? {
                let pc = usize::try_from(thread.get("pc")?.as_u64()?).ok()?;
                if !matches!(matcher.program.instructions.get(pc), Some(Instruction::Row(_))) {
                    return None;
                }
                threads.push(Thread { pc, measures: measures(thread.get("measures")?)? });
            }
            let found = match attempt.get("found")? {
                JsonValue::Null => None,
                found => Some(Found {
                    last_row: found.get("lastRow")?.as_u64()?,
                    measures: measures(found.get("measures")?)?,
                }),
            };
            attempts.push_back(Attempt {
                first_row: attempt.get("firstRow")?.as_u64()?,
                first_created: attempt.get("firstCreated")?.as_i64()?,
                threads,
                found,
            });
        }
        Some(Self { attempts, rows: json.get("rows")?.as_u64()?, matches: json.get("matches")?.as_u64()? })
    }
}

fn thread_json(thread: &Thread) -> JsonValue {
    json!({ "pc": thread.pc, "measures": thread.measures.iter().map(MeasureState::to_json).collect::<Vec<_>>() })
}

/// Advances `attempt`'s threads over row `number`, in preference order.
fn step(matcher: &Matcher<'_>, attempt: &mut Attempt, number: u64, row: &MatchRow) -> Result<(), SqlError> {
    let program = matcher.program;
    let mut next = Vec::new();
    let mut seen = vec![false; program.instructions.len()];
    for thread in std::mem::take(&mut attempt.threads) {
        let Some(Instruction::Row(variable)) = program.instructions.get(thread.pc) else { continue };
        if !row.truths.get(*variable).copied().unwrap_or(false) {
            continue;
        }
        let mut measures = thread.measures;
        for ((spec, state), argument) in matcher.measures.iter().zip(&mut measures).zip(&row.arguments) {
            if spec.variable.is_some_and(|only| only != *variable) {
                continue;
            }
            match (spec.kind, state) {
                (MeasureKind::First, MeasureState::Seen(seen @ None))
                | (MeasureKind::Last, MeasureState::Seen(seen)) => {
                    *seen = Some(argument.clone());
                }
                (_, MeasureState::Aggregate(accumulator)) => accumulator.add(argument.clone())?,
                _ => {}
            }
        }
        let matched = program.follow(thread.pc + 1, &mut seen, |pc| {
            next.push(Thread { pc, measures: measures.clone() });
        });
        if matched {
            // Less preferred threads than this one are cut.
            attempt.found = Some(Found { last_row: number, measures });
            break;
        }
    }
    attempt.threads = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::nfa::Pattern;
    use super::*;

    const A: usize = 0;
    const B: usize = 1;
    const C: usize = 2;

    fn variable(index: usize) -> Pattern {
        Pattern::Variable(index)
    }

    fn repeat(inner: Pattern, min: u32, max: Option<u32>, greedy: bool) -> Pattern {
        Pattern::Repeat { inner: Box::new(inner), min, max, greedy }
    }

    fn concat(parts: Vec<Pattern>) -> Pattern {
        Pattern::Concat(parts)
    }

    /// Runs `pattern` over rows named by letters (`A` satisfies only A; a
    /// digit after a letter is its `created`), ending the partition when
    /// `end`; the matches as (first row, last row, rows counted).
    fn run(
        pattern: &Pattern,
        skip: Skip,
        within: Option<i64>,
        rows: &[(&str, i64)],
        end: bool,
    ) -> Vec<(u64, u64, i64)> {
        let program = Program::compile(pattern).expect("compile");
        let measures = [MeasureSpec { kind: MeasureKind::Aggregate(AggregateFunction::CountRows), variable: None }];
        let matcher = Matcher { program: &program, measures: &measures, within, skip };
        let mut partition = PartitionMatcher::default();
        let mut found = Vec::new();
        for (letters, created) in rows {
            let truths = ['A', 'B', 'C'].iter().map(|letter| letters.contains(*letter)).collect();
            let row = MatchRow { created: *created, truths, arguments: vec![Value::Null] };
            found.extend(partition.push(&matcher, &row).expect("push"));
        }
        if end {
            found.extend(partition.end(&matcher));
        }
        found
            .into_iter()
            .map(|found| {
                let Value::Int(count) = found.measures[0] else { panic!("a count") };
                (found.first_row, found.last_row, count)
            })
            .collect()
    }

    fn rows(letters: &str) -> Vec<(&str, i64)> {
        letters.split(' ').enumerate().map(|(index, letter)| (letter, index as i64)).collect()
    }

    #[test]
    fn a_greedy_run_is_final_only_when_the_next_row_ends_it() {
        let pattern = repeat(variable(A), 1, None, true);
        assert_eq!(run(&pattern, Skip::PastLastRow, None, &rows("A A A"), false), vec![]);
        assert_eq!(run(&pattern, Skip::PastLastRow, None, &rows("A A A B"), false), vec![(0, 2, 3)]);
        assert_eq!(run(&pattern, Skip::PastLastRow, None, &rows("A A A"), true), vec![(0, 2, 3)]);
    }

    #[test]
    fn a_reluctant_run_takes_as_few_rows_as_it_can() {
        let pattern = repeat(variable(A), 1, None, false);
        assert_eq!(
            run(&pattern, Skip::PastLastRow, None, &rows("A A A"), false),
            vec![(0, 0, 1), (1, 1, 1), (2, 2, 1)]
        );
        let lazy_then_b = concat(vec![repeat(variable(A), 1, None, false), variable(B)]);
        assert_eq!(run(&lazy_then_b, Skip::PastLastRow, None, &rows("A A B"), false), vec![(0, 2, 3)]);
    }

    #[test]
    fn alternation_prefers_its_left_branch() {
        let short_first = Pattern::Alternation(vec![variable(A), concat(vec![variable(A), variable(B)])]);
        assert_eq!(run(&short_first, Skip::PastLastRow, None, &rows("A B"), false), vec![(0, 0, 1)]);
        let long_first = Pattern::Alternation(vec![concat(vec![variable(A), variable(B)]), variable(A)]);
        assert_eq!(run(&long_first, Skip::PastLastRow, None, &rows("A B"), false), vec![(0, 1, 2)]);
        // The preferred branch fails at its second row: the other is taken.
        assert_eq!(run(&long_first, Skip::PastLastRow, None, &rows("A C"), false), vec![(0, 0, 1)]);
        // Until the second row comes, the match of the shorter branch waits.
        assert_eq!(run(&long_first, Skip::PastLastRow, None, &rows("A"), false), vec![]);
    }

    #[test]
    fn counted_quantifiers_and_grouping() {
        let two_to_three = repeat(variable(A), 2, Some(3), true);
        assert_eq!(
            run(&two_to_three, Skip::PastLastRow, None, &rows("A A A A A C"), false),
            vec![(0, 2, 3), (3, 4, 2)]
        );
        let exactly = concat(vec![variable(A), repeat(variable(B), 3, Some(3), true)]);
        assert_eq!(run(&exactly, Skip::PastLastRow, None, &rows("A B B A B B B"), false), vec![(3, 6, 4)]);
        let group = repeat(concat(vec![variable(A), variable(B)]), 2, None, true);
        assert_eq!(run(&group, Skip::PastLastRow, None, &rows("A B A B A C"), false), vec![(0, 3, 4)]);
        let optional = concat(vec![variable(A), repeat(variable(B), 0, Some(1), true), variable(C)]);
        assert_eq!(
            run(&optional, Skip::PastLastRow, None, &rows("A C A B C A B B C"), false),
            vec![(0, 1, 2), (2, 4, 3)]
        );
    }

    #[test]
    fn skip_past_last_row_or_to_next_row() {
        let pattern = concat(vec![repeat(variable(A), 1, None, true), variable(B)]);
        assert_eq!(run(&pattern, Skip::PastLastRow, None, &rows("A A B"), false), vec![(0, 2, 3)]);
        assert_eq!(run(&pattern, Skip::ToNextRow, None, &rows("A A B"), false), vec![(0, 2, 3), (1, 2, 2)]);
    }

    #[test]
    fn the_time_bound_ends_attempts_by_rows_and_by_the_clock() {
        let pattern = concat(vec![variable(A), variable(B)]);
        assert_eq!(run(&pattern, Skip::PastLastRow, Some(10), &[("A", 0), ("B", 10)], false), vec![]);
        assert_eq!(run(&pattern, Skip::PastLastRow, Some(10), &[("A", 0), ("B", 9)], false), vec![(0, 1, 2)]);
        let greedy = concat(vec![variable(A), repeat(variable(B), 1, None, true)]);
        let program = Program::compile(&greedy).expect("compile");
        let measures = [];
        let matcher = Matcher { program: &program, measures: &measures, within: Some(10), skip: Skip::PastLastRow };
        let mut partition = PartitionMatcher::default();
        for (letter, created) in [("A", 0), ("B", 3)] {
            let truths = vec![letter == "A", letter == "B", false];
            assert!(
                partition.push(&matcher, &MatchRow { created, truths, arguments: vec![] }).expect("push").is_empty()
            );
        }
        assert_eq!(partition.next_deadline(Some(10)), Some(10));
        assert!(partition.expire(&matcher, 9).is_empty());
        let matches = partition.expire(&matcher, 10);
        assert_eq!(matches.iter().map(|found| (found.first_row, found.last_row)).collect::<Vec<_>>(), vec![(0, 1)]);
        assert!(partition.is_idle());
    }

    #[test]
    fn the_state_survives_a_checkpoint() {
        let pattern = concat(vec![variable(A), repeat(variable(B), 1, None, true)]);
        let program = Program::compile(&pattern).expect("compile");
        let measures = [MeasureSpec { kind: MeasureKind::Aggregate(AggregateFunction::CountRows), variable: Some(B) }];
        let matcher = Matcher { program: &program, measures: &measures, within: None, skip: Skip::PastLastRow };
        let mut partition = PartitionMatcher::default();
        for letter in ["A", "B", "B"] {
            let truths = vec![letter == "A", letter == "B", false];
            partition.push(&matcher, &MatchRow { created: 0, truths, arguments: vec![Value::Null] }).expect("push");
        }
        let mut restored = PartitionMatcher::from_json(&matcher, &partition.to_json()).expect("restore");
        let end = MatchRow { created: 0, truths: vec![false, false, true], arguments: vec![Value::Null] };
        let matches = restored.push(&matcher, &end).expect("push");
        assert_eq!(matches.len(), 1);
        assert_eq!(matches[0].measures, vec![Value::Int(2)]);
    }
}
