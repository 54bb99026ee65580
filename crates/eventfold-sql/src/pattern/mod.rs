//! `MATCH_RECOGNIZE`: row pattern matching over the log, ad hoc and
//! continuously.
//!
//! The pattern is compiled to a Pike virtual machine ([`nfa`]) and run per
//! partition, one row at a time ([`matcher`]); [`state`] holds the
//! partitions, the time bounds (`WITHIN`, read by [`tokens`]) and the
//! checkpoint; [`plan`] reads the SQL; [`adhoc`] runs it over a bounded
//! read. A match is reported once it is final: once no preferred
//! continuation of it, and no earlier match, can still take a row.

mod adhoc;
mod matcher;
mod nfa;
mod plan;
mod state;
pub(crate) mod tokens;

pub(crate) use adhoc::{AdhocLimits, start_adhoc};
pub(crate) use plan::is_pattern;
pub(crate) use state::PatternState;

use crate::error::SqlError;

/// What `EXPLAIN` of the pattern query `sql` answers.
pub(crate) fn explain(sql: &str) -> Result<Vec<String>, SqlError> {
    Ok(plan::plan_pattern(sql)?.explain())
}

/// Plans `sql` as a continuous pattern query holding at most `state_max`
/// partitions and partial matches.
pub(crate) fn plan_continuous(sql: &str, state_max: usize) -> Result<PatternState, SqlError> {
    Ok(PatternState::new(plan::plan_pattern(sql)?, state_max))
}
