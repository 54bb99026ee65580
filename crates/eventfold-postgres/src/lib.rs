//! eventfold on PostgreSQL: the [`eventfold_store::EventStore`] trait on a
//! database that several stateless eventfold nodes may share.
//!
//! The design (`docs/postgres.md` has the schema and its invariants, PG-n):
//! an append is one READ COMMITTED transaction that locks its streams' rows,
//! checks expectations and inserts its events *without* a `$all` position.
//! A sequencer then gives every committed, unpositioned event the next dense
//! position, under one row lock on the counter row, in a transaction of its
//! own (`sequencer.rs`). Positions therefore become visible in order: once a
//! reader has seen position P, everything at or below P is visible, and no
//! event can later appear below it, however the appends' commits interleave.
//! Only transactions, row locks and unique indexes are relied on.

mod append;
mod cluster;
mod config;
mod errors;
mod filter_sql;
mod head;
pub mod metrics;
mod read;
mod rows;
mod scavenge;
mod schema;
mod seed_import;
mod sequencer;
mod store;
mod subscribe;

pub use config::PostgresConfig;
pub use eventfold_pg_tls::{PgTls, connection};
pub use rows::POSITION_STRIDE;
pub use schema::SCHEMA_VERSION;
pub use seed_import::{ImportError, ImportProgress, ImportReport, SeedTable, import_seed_table};
pub use store::{OpenError, PostgresStore};
