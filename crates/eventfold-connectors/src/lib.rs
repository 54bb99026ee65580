//! Connectors: keep an outside system in step with the log. A connector is
//! a catch-up subscription on `$all` or one stream, from its checkpoint,
//! through a filter, in batches, to a sink (an HTTP endpoint, a PostgreSQL
//! database), with retries and exponential backoff; what still fails goes
//! to the dead-letter stream `$connectors-<id>-dlq` and the connector goes
//! on.
//!
//! Delivery is at least once and in order per stream (in log order, in
//! fact). The PostgreSQL and Redis sinks are exactly once: each writes a
//! batch and the checkpoint in one transaction and resumes from there; the
//! NATS JetStream sink relies on JetStream's de-duplication by message id
//! within its window; the Kafka sink is at least once.
//!
//! Whatever a sink names per event (a URL, an index, a topic, a key, a
//! subject, a payload) is a template of the one language in `template`:
//! parsed at create against the placeholders that use allows, rendered per
//! event.
//!
//! Everything is written against the [`eventfold_store::EventStore`] trait
//! and stored as events: definitions in `$connectors`, at-least-once
//! checkpoints in `$connectors/<id>/checkpoints`. [`Connectors`] is the
//! entry point; `docs/ARCHITECTURE.md` has the design.

#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod batch;
mod checkpoint;
mod dead_letter;
mod definitions;
mod error;
mod filter;
mod info;
mod json_filter;
mod manager;
mod params;
mod retry;
mod runner;
mod secrets;
mod settings;
mod sink;
mod status;
mod streams;
mod template;
#[cfg(test)]
mod testing;
mod transform;

pub use checkpoint::CHECKPOINT_EVENT_TYPE;
pub use error::{ConnectorError, InvalidSettings};
pub use info::ConnectorInfo;
pub use manager::{Connectors, ConnectorsOptions};
pub use secrets::REDACTED;
pub use sink::{
    CHECKPOINT_TABLE, HTTP_SINK, KAFKA_SINK, MQTT_SINK, NATS_SINK, POSTGRES_SINK, RABBITMQ_SINK, REDIS_SINK, S3_SINK,
    SEARCH_SINK,
};
pub use status::{ConnectorState, metric_names};
pub use streams::{DEFINITIONS_STREAM, checkpoint_stream, dead_letter_stream};
