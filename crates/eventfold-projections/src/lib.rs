//! Projections: JavaScript queries that fold events into state, emit and
//! link events, as KurrentDB runs them, over the
//! [`eventfold_store::EventStore`] trait only.
//!
//! Everything is stored as events in KurrentDB's streams: definitions in
//! `$projections-$all` and `$projections-{name}`, checkpoints and states in
//! `$projections-{name}-checkpoint` and `-{partition}-checkpoint`, results
//! in `-result`, partitions in `-partitions`, tracked emitted streams in
//! `-emittedstreams`. Each batch's emitted events and its checkpoint are one
//! multi-stream transaction, so a crash never separates them.
//!
//! [`Projections`] is the entry point; [`runtime`] runs queries;
//! [`Processor`] is the fold without I/O.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod checkpoint;
mod commit;
mod commits;
mod definition;
mod error;
mod manager;
mod mode;
mod names;
mod options;
mod processor;
mod read_ahead;
mod record;
mod registry;
mod run_as;
mod runner;
pub mod runtime;
mod states;
mod status;
mod store_io;
pub mod system;
mod time;

pub use definition::{Handlers, OutputTo, QueryDefinition, QueryOptions, category_of};
pub use error::ProjectionError;
pub use manager::{CreateProjection, DeleteOptions, Projections, Select};
pub use mode::Mode;
pub use names::ProjectionStreams;
pub use options::{ProjectionsOptions, RunProjections};
pub use processor::{Batch, Fault, Processor, source_event};
pub use record::ProjectionRecord;
pub use run_as::RunAs;
pub use runner::CheckpointPolicy;
pub use states::PartitionState;
pub use status::{ProjectionStatistics, tag};
pub use time::iso8601;
