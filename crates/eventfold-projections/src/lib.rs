//! Projections: JavaScript queries that fold events into state, as
//! KurrentDB runs them.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod definition;
pub mod runtime;

pub use definition::{Handlers, OutputTo, QueryDefinition, QueryOptions, category_of};
