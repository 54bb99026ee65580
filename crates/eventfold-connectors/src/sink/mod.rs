//! Sinks: where a connector delivers. Each sink says how its target failed
//! ([`SinkError`]), and whether it keeps the connector's checkpoint itself,
//! in the same transaction as the data (exactly once), or leaves it to the
//! log (at least once).

pub(crate) mod amqp;
pub(crate) mod event_json;
pub(crate) mod http;
mod http1;
mod http_auth;
pub(crate) mod kafka;
pub(crate) mod mqtt;
pub(crate) mod nats;
mod pg_value;
pub(crate) mod postgres;
pub(crate) mod redis;
pub(crate) mod s3;
pub(crate) mod search;
mod sigv4;

use async_trait::async_trait;
use eventfold_store::RecordedEvent;

use crate::error::InvalidSettings;
use crate::settings::Reader;

pub use self::redis::RedisSinkSettings;
pub use amqp::AmqpSinkSettings;
pub use http::HttpSinkSettings;
pub use kafka::KafkaSinkSettings;
pub use mqtt::MqttSinkSettings;
pub use nats::NatsSinkSettings;
pub use postgres::{CHECKPOINT_TABLE, PostgresSinkSettings};
pub use s3::S3SinkSettings;
pub use search::SearchSinkSettings;

/// Every sink's `instanceTypeName`, as an unknown one is told.
const SINKS: [&str; 9] =
    [HTTP_SINK, POSTGRES_SINK, REDIS_SINK, NATS_SINK, KAFKA_SINK, S3_SINK, SEARCH_SINK, MQTT_SINK, RABBITMQ_SINK];

pub const HTTP_SINK: &str = "http-sink";
pub const KAFKA_SINK: &str = "kafka-sink";
pub const NATS_SINK: &str = "nats-sink";
pub const POSTGRES_SINK: &str = "postgres-sink";
pub const S3_SINK: &str = "s3-sink";
pub const SEARCH_SINK: &str = "elasticsearch-sink";
pub const MQTT_SINK: &str = "mqtt-sink";
pub const RABBITMQ_SINK: &str = "rabbitmq-sink";
pub const REDIS_SINK: &str = "redis-sink";

#[derive(Clone, Debug)]
pub enum SinkSettings {
    Http(HttpSinkSettings),
    Postgres(PostgresSinkSettings),
    S3(S3SinkSettings),
    Search(SearchSinkSettings),
    Mqtt(MqttSinkSettings),
    Amqp(AmqpSinkSettings),
    Redis(RedisSinkSettings),
    Nats(NatsSinkSettings),
    Kafka(KafkaSinkSettings),
}

impl SinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        match reader.required("instanceTypeName")? {
            HTTP_SINK => Ok(Self::Http(HttpSinkSettings::parse(reader)?)),
            POSTGRES_SINK => Ok(Self::Postgres(PostgresSinkSettings::parse(reader)?)),
            S3_SINK => Ok(Self::S3(S3SinkSettings::parse(reader)?)),
            SEARCH_SINK => Ok(Self::Search(SearchSinkSettings::parse(reader)?)),
            MQTT_SINK => Ok(Self::Mqtt(MqttSinkSettings::parse(reader)?)),
            RABBITMQ_SINK => Ok(Self::Amqp(AmqpSinkSettings::parse(reader)?)),
            REDIS_SINK => Ok(Self::Redis(RedisSinkSettings::parse(reader)?)),
            NATS_SINK => Ok(Self::Nats(NatsSinkSettings::parse(reader)?)),
            KAFKA_SINK => Ok(Self::Kafka(KafkaSinkSettings::parse(reader)?)),
            other => Err(InvalidSettings::new(
                "instanceTypeName",
                &format!("`{other}` is not a sink this server has; it has {}", SINKS.join(", ")),
            )),
        }
    }

    /// A sink for connector `connector`, not yet connected.
    pub(crate) fn build(&self, connector: &str) -> Box<dyn Sink> {
        match self {
            Self::Http(settings) => Box::new(http::HttpSink::new(settings.clone())),
            Self::Postgres(settings) => Box::new(postgres::PostgresSink::new(connector, settings.clone())),
            Self::S3(settings) => Box::new(s3::S3Sink::new(settings.clone())),
            Self::Search(settings) => Box::new(search::SearchSink::new(settings.clone())),
            Self::Mqtt(settings) => Box::new(mqtt::MqttSink::new(connector, settings.clone())),
            Self::Amqp(settings) => Box::new(amqp::AmqpSink::new(settings.clone())),
            Self::Redis(settings) => Box::new(redis::RedisSink::new(connector, settings.clone())),
            Self::Nats(settings) => Box::new(nats::NatsSink::new(settings.clone())),
            Self::Kafka(settings) => Box::new(kafka::KafkaSink::new(settings.clone())),
        }
    }
}

/// How a delivery failed, which decides what the connector does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The target cannot be reached at all: that says nothing about the
    /// events, so the connector waits (backing off) as long as it takes and
    /// does not count this against the retry limit.
    #[error("target unavailable: {0}")]
    Unavailable(String),
    /// The target failed this attempt (a 5xx, a timeout, a deadlock):
    /// retried with backoff up to the retry limit.
    #[error("{0}")]
    Transient(String),
    /// The target refused the events themselves (a 4xx, a constraint
    /// violation): retrying cannot help.
    #[error("{0}")]
    Rejected(String),
}

#[async_trait]
pub(crate) trait Sink: Send {
    /// Whether the sink stores the checkpoint with the data.
    fn keeps_checkpoint(&self) -> bool;

    /// Checks the settings against the target (reachable, its tables
    /// exist), at create, before anything is stored.
    async fn validate(&mut self) -> Result<(), SinkError>;

    /// The checkpoint the sink holds, for a sink that keeps it.
    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError>;

    /// Delivers `events` (possibly none) in order; a sink that keeps the
    /// checkpoint records `checkpoint` with them, all or nothing.
    async fn deliver(&mut self, events: &[RecordedEvent], checkpoint: u64) -> Result<(), SinkError>;

    /// Replaces the stored checkpoint (`None`: forget it), for a reset.
    async fn reset(&mut self, checkpoint: Option<u64>) -> Result<(), SinkError>;
}
