//! Continuous queries as a managed subsystem: named definitions stored as
//! events in `$queries`, one task per query running the continuous engine
//! ([`crate::start_continuous_after`]) from its checkpoint, and create,
//! list, info, result, reset and delete over them. Every change is recorded
//! in `$queries` before it takes effect, so a restart resumes the same set.

mod definitions;
mod error;
mod info;
mod manager;

pub use error::QueriesError;
pub use info::{QueryInfo, QueryResult, QueryState};
pub use manager::{ContinuousQueries, QueriesOptions};
