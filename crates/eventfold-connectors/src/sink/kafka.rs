//! The Kafka sink, at least once: each event becomes a record of a
//! templated topic, keyed by a template (`{stream}` by default), with the
//! headers `Eventfold-Stream`, `Eventfold-Event-Type`, `Eventfold-Revision`,
//! `Eventfold-Position` and `Eventfold-Event-Id`. The record's partition is
//! Kafka's default for its key (murmur2), so one key's records stay in one
//! partition, in order. A batch goes as one produce request per partition,
//! each acknowledged by all in-sync replicas (`acks=all`) before the
//! checkpoint moves.
//!
//! The client (rskafka, pure Rust) has no idempotent producer: a batch sent
//! again after a fault or a crash is appended again. Consumers that need
//! once see the event id in a header.
//!
//! Settings: `bootstrapServers` (`host:port,...`), `topic`, `key` (default
//! `{stream}`) and `value` (default `{event}`) templates (see
//! `src/template/`), `requestTimeoutMs`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventfold_store::RecordedEvent;
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;
use crate::template::{FIELD_PLACEHOLDERS, Template, Written, parsed_data};

/// Kafka's longest topic name.
const TOPIC_MAX_CHARS: usize = 249;

#[derive(Clone, Debug)]
pub struct KafkaSinkSettings {
    brokers: Vec<String>,
    topic: Template,
    key: Template,
    value: Template,
    request_timeout: Duration,
}

impl KafkaSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let brokers: Vec<String> = reader
            .required("bootstrapServers")?
            .split(',')
            .map(str::trim)
            .filter(|broker| !broker.is_empty())
            .map(str::to_owned)
            .collect();
        for broker in &brokers {
            let port = broker.rsplit_once(':').and_then(|(host, port)| (!host.is_empty()).then_some(port));
            if port.is_none_or(|port| port.parse::<u16>().is_err()) {
                return Err(InvalidSettings::new("bootstrapServers", &format!("`{broker}` is not `host:port`")));
            }
        }
        let template = |key: &str, text: &str| {
            Template::parse(text, &FIELD_PLACEHOLDERS).map_err(|reason| InvalidSettings::new(key, &reason))
        };
        let topic = template("topic", reader.required("topic")?)?;
        check_topic(&topic.render_sample("x")).map_err(|reason| InvalidSettings::new("topic", &reason))?;
        let key = template("key", reader.text("key").unwrap_or("{stream}"))?;
        let value = template("value", reader.text("value").unwrap_or("{event}"))?;
        let request_timeout = Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 10_000)?);
        Ok(Self { brokers, topic, key, value, request_timeout })
    }

    /// The topic and record for `event`.
    fn record_for(&self, event: &RecordedEvent) -> Result<(String, Record), String> {
        let data = parsed_data(event, &[&self.topic, &self.key, &self.value]);
        let topic =
            self.topic.render(event, data.as_ref(), Written::AsTheyAre).map_err(|reason| format!("topic: {reason}"))?;
        check_topic(&topic).map_err(|reason| format!("topic `{topic}`: {reason}"))?;
        let key =
            self.key.render(event, data.as_ref(), Written::AsTheyAre).map_err(|reason| format!("key: {reason}"))?;
        let value =
            self.value.render(event, data.as_ref(), Written::AsTheyAre).map_err(|reason| format!("value: {reason}"))?;
        let headers = BTreeMap::from([
            ("Eventfold-Stream".to_owned(), event.stream.as_str().as_bytes().to_vec()),
            ("Eventfold-Event-Type".to_owned(), event.event_type.as_bytes().to_vec()),
            ("Eventfold-Revision".to_owned(), event.revision.to_string().into_bytes()),
            ("Eventfold-Position".to_owned(), event.position.0.to_string().into_bytes()),
            ("Eventfold-Event-Id".to_owned(), event.id.to_string().into_bytes()),
        ]);
        let timestamp =
            rskafka::chrono::DateTime::from_timestamp_millis(event.created.unix_millis()).unwrap_or_default();
        Ok((topic, Record { key: Some(key.into_bytes()), value: Some(value.into_bytes()), headers, timestamp }))
    }
}

/// Kafka's rules for a topic name: 1 to 249 of `[a-zA-Z0-9._-]`, not `.`
/// or `..`.
fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > TOPIC_MAX_CHARS {
        return Err(format!("must be 1 to {TOPIC_MAX_CHARS} characters"));
    }
    if topic == "." || topic == ".." {
        return Err("cannot be `.` or `..`".to_owned());
    }
    if !topic.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-')) {
        return Err("may hold only letters, digits, `.`, `_` and `-`".to_owned());
    }
    Ok(())
}

/// Kafka's default partitioner: murmur2 of the key (seed `0x9747b28c`),
/// its sign bit cleared, modulo the partition count.
pub(crate) fn partition_for(key: &[u8], partitions: i32) -> i32 {
    let hash = murmur2(key) & 0x7fff_ffff;
    // `partitions` is at least 1 (a topic has one); the result fits.
    (hash % partitions.max(1) as u32) as i32
}

fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut hash = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        hash = hash.wrapping_mul(M);
        hash ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        hash ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        hash ^= u32::from(tail[1]) << 8;
    }
    if let Some(first) = tail.first() {
        hash ^= u32::from(*first);
        hash = hash.wrapping_mul(M);
    }
    hash ^= hash >> 13;
    hash = hash.wrapping_mul(M);
    hash ^= hash >> 15;
    hash
}

pub(crate) struct KafkaSink {
    settings: KafkaSinkSettings,
    client: Option<Client>,
    /// Partition count per topic, as the broker last said.
    partitions: HashMap<String, i32>,
    producers: HashMap<(String, i32), Arc<PartitionClient>>,
}

impl KafkaSink {
    pub fn new(settings: KafkaSinkSettings) -> Self {
        Self { settings, client: None, partitions: HashMap::new(), producers: HashMap::new() }
    }

    fn forget(&mut self) {
        self.client = None;
        self.partitions.clear();
        self.producers.clear();
    }

    async fn client(&mut self) -> Result<&Client, SinkError> {
        if self.client.is_none() {
            let timeout = self.settings.request_timeout;
            let backoff = rskafka::BackoffConfig { deadline: Some(timeout), ..Default::default() };
            let built = tokio::time::timeout(
                timeout,
                ClientBuilder::new(self.settings.brokers.clone()).backoff_config(backoff).build(),
            )
            .await;
            let client = match built {
                Ok(Ok(client)) => client,
                Ok(Err(error)) => return Err(SinkError::Unavailable(describe(&error))),
                Err(_) => return Err(SinkError::Unavailable(format!("no answer within {timeout:?}"))),
            };
            self.client = Some(client);
        }
        self.client.as_ref().ok_or_else(|| SinkError::Unavailable("not connected".into()))
    }

    /// The partition count of `topic`; an error when it does not exist.
    async fn partition_count(&mut self, topic: &str) -> Result<i32, SinkError> {
        if let Some(count) = self.partitions.get(topic) {
            return Ok(*count);
        }
        let timeout = self.settings.request_timeout;
        let client = self.client().await?;
        let listed = tokio::time::timeout(timeout, client.list_topics()).await;
        let topics = match listed {
            Ok(Ok(topics)) => topics,
            Ok(Err(error)) => return Err(self.classify(error)),
            Err(_) => {
                self.forget();
                return Err(SinkError::Unavailable(format!("no answer within {timeout:?}")));
            }
        };
        for listed in &topics {
            self.partitions.insert(listed.name.clone(), listed.partitions.len() as i32);
        }
        match self.partitions.get(topic) {
            Some(count) if *count > 0 => Ok(*count),
            _ => Err(SinkError::Transient(format!("the topic `{topic}` does not exist"))),
        }
    }

    async fn producer(&mut self, topic: &str, partition: i32) -> Result<Arc<PartitionClient>, SinkError> {
        let slot = (topic.to_owned(), partition);
        if let Some(producer) = self.producers.get(&slot) {
            return Ok(Arc::clone(producer));
        }
        let timeout = self.settings.request_timeout;
        let client = self.client().await?;
        let made =
            tokio::time::timeout(timeout, client.partition_client(topic, partition, UnknownTopicHandling::Error)).await;
        let producer = match made {
            Ok(Ok(producer)) => Arc::new(producer),
            Ok(Err(error)) => return Err(self.classify(error)),
            Err(_) => {
                self.forget();
                return Err(SinkError::Unavailable(format!("no answer within {timeout:?}")));
            }
        };
        self.producers.insert(slot, Arc::clone(&producer));
        Ok(producer)
    }

    /// Classifies `error`, forgetting the connections when they are the
    /// cause.
    fn classify(&mut self, error: KafkaError) -> SinkError {
        let reason = describe(&error);
        match &error {
            KafkaError::ServerError { protocol_error, .. } => match protocol_error {
                ProtocolError::MessageTooLarge
                | ProtocolError::RecordListTooLarge
                | ProtocolError::InvalidRecord
                | ProtocolError::CorruptMessage => SinkError::Rejected(reason),
                _ => {
                    self.partitions.clear();
                    self.producers.clear();
                    SinkError::Transient(reason)
                }
            },
            _ => {
                self.forget();
                SinkError::Unavailable(reason)
            }
        }
    }
}

fn describe(error: &KafkaError) -> String {
    match error {
        KafkaError::ServerError { protocol_error, error_message, .. } => match error_message {
            Some(message) => format!("{protocol_error}: {message}"),
            None => protocol_error.to_string(),
        },
        other => other.to_string(),
    }
}

#[async_trait]
impl Sink for KafkaSink {
    fn keeps_checkpoint(&self) -> bool {
        false
    }

    /// Connects, and for a topic without placeholders checks it exists.
    async fn validate(&mut self) -> Result<(), SinkError> {
        self.client().await?;
        let topic = self.settings.topic.render_sample("");
        if self.settings.topic.render_sample("x") == topic {
            return self.partition_count(&topic).await.map(|_| ()).map_err(|error| match error {
                SinkError::Transient(reason) => SinkError::Rejected(format!("{reason}; create it first")),
                other => other,
            });
        }
        Ok(())
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], _checkpoint: u64) -> Result<(), SinkError> {
        // Records per partition, in the events' order.
        let mut groups: Vec<((String, i32), Vec<Record>)> = Vec::new();
        for event in events {
            let (topic, record) = self.settings.record_for(event).map_err(|reason| {
                SinkError::Rejected(format!(
                    "event {}@{} ({}): {reason}",
                    event.revision, event.stream, event.event_type
                ))
            })?;
            let count = self.partition_count(&topic).await?;
            let partition = partition_for(record.key.as_deref().unwrap_or_default(), count);
            let slot = (topic, partition);
            match groups.iter_mut().find(|(existing, _)| *existing == slot) {
                Some((_, records)) => records.push(record),
                None => groups.push((slot, vec![record])),
            }
        }
        let timeout = self.settings.request_timeout;
        for ((topic, partition), records) in groups {
            let producer = self.producer(&topic, partition).await?;
            match tokio::time::timeout(timeout, producer.produce(records, Compression::NoCompression)).await {
                Ok(Ok(_offsets)) => {}
                Ok(Err(error)) => return Err(self.classify(error)),
                Err(_) => {
                    self.forget();
                    return Err(SinkError::Transient(format!("no acknowledgement within {timeout:?}")));
                }
            }
        }
        Ok(())
    }

    async fn reset(&mut self, _checkpoint: Option<u64>) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use eventfold_store::{ContentType, EventId, Position, StreamName, Timestamp};

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<KafkaSinkSettings, InvalidSettings> {
        KafkaSinkSettings::parse(&Reader(&crate::testing::raw(pairs)))
    }

    #[test]
    fn keys_go_to_the_partitions_kafka_would_choose() {
        // Kafka's own figures for its murmur2 (as Java ints).
        let cases: [(&[u8], i32); 4] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key) as i32, expected, "{}", String::from_utf8_lossy(key));
        }
        assert_eq!(partition_for(b"order-1", 1), 0);
        let spread: std::collections::BTreeSet<i32> =
            (0..100).map(|n| partition_for(format!("order-{n}").as_bytes(), 4)).collect();
        assert_eq!(spread.len(), 4, "keys spread over every partition");
    }

    #[test]
    fn a_record_carries_its_key_value_and_place() {
        let settings =
            parse(&[("bootstrapServers", "127.0.0.1:9092"), ("topic", "orders-{category}"), ("value", "{/n}")])
                .expect("valid");
        let event = RecordedEvent {
            stream: StreamName::new("order-7").expect("valid"),
            revision: 4,
            position: Position(1234),
            id: EventId::random(),
            event_type: "Placed".into(),
            content_type: ContentType::Json,
            created: Timestamp(10_000 * 1_700_000_000_000),
            data: Bytes::from_static(br#"{"n":4}"#),
            metadata: Bytes::new(),
        };
        let (topic, record) = settings.record_for(&event).expect("builds");
        assert_eq!(topic, "orders-order");
        assert_eq!(record.key.as_deref(), Some(b"order-7".as_slice()));
        assert_eq!(record.value.as_deref(), Some(b"4".as_slice()));
        assert_eq!(record.headers["Eventfold-Revision"], b"4");
        assert_eq!(record.headers["Eventfold-Position"], b"1234");
        assert_eq!(record.headers["Eventfold-Event-Id"], event.id.to_string().as_bytes());
        assert_eq!(record.timestamp.timestamp_millis(), 1_700_000_000_000);
        let bad =
            parse(&[("bootstrapServers", "h:1"), ("topic", "orders.{/n}"), ("key", "{/missing}")]).expect("valid");
        assert!(bad.record_for(&event).expect_err("no field").contains("/missing"));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (&[], "bootstrapServers"),
            (&[("bootstrapServers", "h"), ("topic", "t")], "bootstrapServers"),
            (&[("bootstrapServers", "h:1")], "topic"),
            (&[("bootstrapServers", "h:1"), ("topic", "a b")], "topic"),
            (&[("bootstrapServers", "h:1"), ("topic", "t"), ("key", "{nope}")], "key"),
        ];
        for (pairs, key) in cases {
            let error = parse(pairs).expect_err(key);
            assert_eq!(error.key, key, "{pairs:?}: {error}");
        }
    }
}
