//! Joins of two sources of the log within a time bound, maintained event by
//! event ([`state`]) from a plan that says which joins can be ([`plan`],
//! with the bound read from the condition by [`bound`]).

pub mod adhoc;
mod bound;
mod checkpoint;
mod plan;
mod state;
#[cfg(test)]
mod tests;

pub use plan::{is_join, plan_join};
pub use state::JoinState;
