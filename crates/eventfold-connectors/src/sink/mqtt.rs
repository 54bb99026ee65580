//! The MQTT sink: each event is published at QoS 1 to a topic made from
//! the event (`topic`, see `src/template/`), its payload the event as
//! the webhook posts it. A batch is delivered once the broker acknowledged
//! (PUBACK) every one of its messages, so the checkpoint never passes a
//! message the broker has not taken: at least once, in order on one
//! connection.
//!
//! Any connection fault drops the client and its session: the next attempt
//! starts a clean one and sends the whole batch again, so an acknowledgment
//! is never counted for a message of an earlier attempt. A broker that
//! cannot be reached (or refuses the client) is waited for; an event whose
//! topic MQTT does not allow (a wildcard from the stream name) is rejected,
//! and so dead-lettered.
//!
//! Settings: `url` (`mqtt://host:port`, port 1883 by default), `topic`,
//! `clientId` (`eventfold-<connector>`), `retain` (`false`),
//! `authentication:username|password`, `keepAliveSecs` (30),
//! `requestTimeoutMs` (the longest wait for a batch's acknowledgments).

use std::time::Duration;

use async_trait::async_trait;
use eventfold_store::RecordedEvent;
use rumqttc::{AsyncClient, ClientError, ConnectionError, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::time::Instant;

use super::event_json::event_json;
use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;
use crate::template::{NAME_PLACEHOLDERS, Template, Written};

/// MQTT's largest packet (a four-byte remaining length).
const MQTT_PACKET_MAX_BYTES: usize = 268_435_455;
/// Only acknowledgments come back.
const INCOMING_PACKET_MAX_BYTES: usize = 64 * 1024;
/// Messages queued between the sink and the client's event loop.
const REQUEST_QUEUE: usize = 1000;
const IN_FLIGHT_MAX: u16 = 500;

#[derive(Clone, Debug)]
pub struct MqttSinkSettings {
    host: String,
    port: u16,
    topic: Template,
    client_id: Option<String>,
    retain: bool,
    credentials: Option<(String, String)>,
    keep_alive: Duration,
    request_timeout: Duration,
}

impl MqttSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let url = reader.required("url")?.trim();
        let rest = url.strip_prefix("mqtt://").or_else(|| url.strip_prefix("tcp://")).ok_or_else(|| {
            InvalidSettings::new("url", &format!("`{url}` must start with mqtt:// (TLS is not supported yet)"))
        })?;
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => {
                let port = port.parse().map_err(|_| InvalidSettings::new("url", &format!("`{port}` is not a port")))?;
                (host, port)
            }
            None => (rest, 1883),
        };
        if host.is_empty() || host.contains(['/', '@', '?', ' ']) {
            return Err(InvalidSettings::new("url", &format!("`{url}` is not mqtt://host[:port]")));
        }
        let topic = Template::parse(reader.required("topic")?, &NAME_PLACEHOLDERS)
            .map_err(|reason| InvalidSettings::new("topic", &reason))?;
        check_topic(&topic.render_sample("x")).map_err(|reason| InvalidSettings::new("topic", &reason))?;
        let retain = match reader.text("retain").unwrap_or("false") {
            "true" => true,
            "false" => false,
            other => return Err(InvalidSettings::new("retain", &format!("`{other}` is neither true nor false"))),
        };
        let credentials = reader
            .text("authentication:username")
            .map(|username| (username.to_owned(), reader.text("authentication:password").unwrap_or("").to_owned()));
        Ok(Self {
            host: host.to_owned(),
            port,
            topic,
            client_id: reader.text("clientId").map(str::to_owned),
            retain,
            credentials,
            keep_alive: Duration::from_secs(reader.number("keepAliveSecs", 5..=3600, 30)?),
            request_timeout: Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 30_000)?),
        })
    }
}

/// A topic name MQTT accepts for a publish: not empty, no wildcard, no
/// NUL, at most 65,535 bytes.
pub(crate) fn check_topic(topic: &str) -> Result<(), String> {
    if topic.is_empty() || topic.len() > 65_535 {
        return Err(format!("a topic is 1 to 65535 bytes; `{topic}` is {}", topic.len()));
    }
    if topic.contains(['+', '#', '\0']) {
        return Err(format!("`{topic}` holds a wildcard (+, #) or NUL, which a published topic may not"));
    }
    Ok(())
}

struct Session {
    client: AsyncClient,
    events: EventLoop,
    connected: bool,
}

pub(crate) struct MqttSink {
    settings: MqttSinkSettings,
    client_id: String,
    session: Option<Session>,
}

impl MqttSink {
    pub fn new(connector: &str, settings: MqttSinkSettings) -> Self {
        let client_id = settings.client_id.clone().unwrap_or_else(|| format!("eventfold-{connector}"));
        Self { settings, client_id, session: None }
    }

    fn session(&mut self) -> &mut Session {
        let settings = &self.settings;
        self.session.get_or_insert_with(|| {
            let mut options = MqttOptions::new(&self.client_id, &settings.host, settings.port);
            options
                .set_keep_alive(settings.keep_alive)
                .set_clean_session(true)
                .set_inflight(IN_FLIGHT_MAX)
                .set_max_packet_size(INCOMING_PACKET_MAX_BYTES, MQTT_PACKET_MAX_BYTES);
            if let Some((username, password)) = &settings.credentials {
                options.set_credentials(username, password);
            }
            let (client, events) = AsyncClient::new(options, REQUEST_QUEUE);
            Session { client, events, connected: false }
        })
    }

    /// Polls the connection once, within `deadline`: the packet that came
    /// in, or why the session is over (and dropped).
    async fn poll(&mut self, deadline: Instant) -> Result<Option<Packet>, SinkError> {
        let session = self.session();
        let polled = tokio::time::timeout_at(deadline, session.events.poll()).await;
        let outcome = match polled {
            Err(_) => Err(SinkError::Transient("no acknowledgment from the broker in time".into())),
            Ok(Ok(Event::Incoming(Packet::ConnAck(_)))) => {
                session.connected = true;
                return Ok(None);
            }
            Ok(Ok(Event::Incoming(packet))) => return Ok(Some(packet)),
            Ok(Ok(Event::Outgoing(_))) => return Ok(None),
            Ok(Err(error)) => Err(classify(&error, session.connected)),
        };
        self.session = None;
        outcome
    }

    async fn publish_all(&mut self, events: &[RecordedEvent]) -> Result<(), SinkError> {
        let deadline = Instant::now() + self.settings.request_timeout;
        let mut messages = Vec::with_capacity(events.len());
        for event in events {
            let topic = self.settings.topic.render(event, None, Written::AsTheyAre).map_err(|reason| {
                SinkError::Rejected(format!("event {}@{}: topic: {reason}", event.revision, event.stream))
            })?;
            check_topic(&topic).map_err(|reason| {
                SinkError::Rejected(format!("event {}@{}: {reason}", event.revision, event.stream))
            })?;
            let payload = serde_json::to_vec(&event_json(event))
                .map_err(|error| SinkError::Rejected(format!("encoding: {error}")))?;
            messages.push((topic, payload));
        }
        let mut queued = 0;
        let mut acknowledged = 0;
        let mut messages = messages.into_iter().peekable();
        while acknowledged < events.len() {
            let retain = self.settings.retain;
            let session = self.session();
            while let Some((topic, payload)) = messages.peek() {
                match session.client.try_publish(topic.clone(), QoS::AtLeastOnce, retain, payload.clone()) {
                    Ok(()) => {
                        queued += 1;
                        messages.next();
                    }
                    // The queue is full: the event loop must run first.
                    Err(ClientError::TryRequest(_) | ClientError::Request(_)) => break,
                }
            }
            if let Some(Packet::PubAck(_)) = self.poll(deadline).await? {
                acknowledged += 1;
                if acknowledged > queued {
                    self.session = None;
                    return Err(SinkError::Transient("more acknowledgments than messages sent".into()));
                }
            }
        }
        Ok(())
    }
}

/// A broker that cannot be reached or refuses the client is the target's
/// fault (waited for); a message the client cannot send (too large) is
/// retried and, in the end, dead-lettered.
fn classify(error: &ConnectionError, connected: bool) -> SinkError {
    match error {
        ConnectionError::MqttState(state) if connected => SinkError::Transient(format!("MQTT: {state}")),
        ConnectionError::ConnectionRefused(code) => SinkError::Unavailable(format!("the broker refused: {code:?}")),
        other => SinkError::Unavailable(format!("MQTT: {other}")),
    }
}

#[async_trait]
impl Sink for MqttSink {
    fn keeps_checkpoint(&self) -> bool {
        false
    }

    /// Connects: an unreachable broker or refused credentials are errors.
    async fn validate(&mut self) -> Result<(), SinkError> {
        // Another client id than the running connector's: a broker lets one
        // connection hold an id, and would cut the running one off while
        // new settings are checked.
        self.client_id.push_str("-check");
        let deadline = Instant::now() + self.settings.request_timeout;
        while !self.session().connected {
            if let Err(error) = self.poll(deadline).await {
                let reason = error.to_string();
                return Err(SinkError::Rejected(format!("{}:{}: {reason}", self.settings.host, self.settings.port)));
            }
        }
        if let Some(session) = self.session.take() {
            let _ = session.client.try_disconnect();
        }
        Ok(())
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], _checkpoint: u64) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let delivered = self.publish_all(events).await;
        if delivered.is_err() {
            // A clean session next time: no acknowledgment of this attempt
            // may count for the next.
            self.session = None;
        }
        delivered
    }

    async fn reset(&mut self, _checkpoint: Option<u64>) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<MqttSinkSettings, InvalidSettings> {
        MqttSinkSettings::parse(&Reader(&crate::testing::raw(pairs)))
    }

    #[test]
    fn urls_and_topics_parse() {
        let settings =
            parse(&[("url", "mqtt://127.0.0.1:18830"), ("topic", "events/{category}/{eventType}"), ("retain", "true")])
                .expect("valid");
        assert_eq!((settings.host.as_str(), settings.port, settings.retain), ("127.0.0.1", 18830, true));
        let default_port = parse(&[("url", "mqtt://broker"), ("topic", "t")]).expect("valid");
        assert_eq!(default_port.port, 1883);
        assert!(default_port.credentials.is_none());
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("topic", "t")], "url"),
            (&[("url", "http://h:1883"), ("topic", "t")], "url"),
            (&[("url", "mqtt://h:port"), ("topic", "t")], "url"),
            (&[("url", "mqtt://:1883"), ("topic", "t")], "url"),
            (&[("url", "mqtt://h")], "topic"),
            (&[("url", "mqtt://h"), ("topic", "events/#")], "topic"),
            (&[("url", "mqtt://h"), ("topic", "t"), ("retain", "yes")], "retain"),
        ];
        for (pairs, key) in cases {
            assert_eq!(parse(pairs).expect_err(key).key, key, "{pairs:?}");
        }
    }

    #[test]
    fn published_topics_hold_no_wildcards() {
        assert!(check_topic("orders/order-1").is_ok());
        for bad in ["", "a/+/b", "a/#", "a\0b"] {
            assert!(check_topic(bad).is_err(), "{bad:?}");
        }
    }
}
