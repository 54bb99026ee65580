//! Persistent subscriptions: server-side consumer groups, as EventStoreDB
//! has them. A group reads one stream or `$all` from its checkpoint, hands
//! each event to one of its connected consumers by the group's strategy,
//! retries what is not acked in time, parks what keeps failing, and
//! checkpoints how far everything is done. Delivery is at least once.
//!
//! Everything is written against the [`eventfold_store::EventStore`] trait
//! and stored as events: group definitions in `$persistentsubscription-config`,
//! each group's checkpoint in `$persistentsubscription-<stream>::<group>-checkpoint`
//! and its parked events in `$persistentsubscription-<stream>::<group>-parked`.
//! A group's memory is bounded (buffer sizes, per-consumer in-flight limits,
//! a byte cap) whatever its backlog: the store's catch-up subscription is
//! pulled only as fast as consumers take events.
//!
//! [`PersistentSubscriptions`] is the entry point; `docs/ARCHITECTURE.md`
//! traces an event through a group.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod checkpoint;
mod config_store;
mod consumer;
mod consumers;
mod definition;
mod error;
mod group;
mod in_flight;
mod info;
mod key;
mod latency;
mod manager;
mod message;
mod parked;
mod polled;
mod progress;
mod reader;
mod records;
mod replay;
mod settings;
mod store_errors;
mod store_io;
mod strategy;
mod timeouts;

pub use config_store::CONFIG_STREAM;
pub use consumer::{Consumer, ConsumerControl, ConsumerEvent, ConsumerOptions, DropReason, NackAction};
pub use definition::{Cursor, GroupDefinition, GroupSpec};
pub use error::{ConnectError, CreateError, GroupError, GroupStopped, UpdateError};
pub use group::metric_names;
pub use info::{ConnectionInfo, GroupInfo, GroupStatus};
pub use key::{GroupKey, InvalidGroupName, Source};
pub use manager::PersistentSubscriptions;
pub use message::Delivery;
pub use polled::PolledRead;
pub use records::RecordError;
pub use settings::{
    ConsumerStrategy, FilterExpression, FilterSpec, FilterTarget, GroupSettings, InvalidSettings, StartFrom,
};
pub use timeouts::{DEFAULT_TIMEOUT_TICK, SubsystemOptions};
