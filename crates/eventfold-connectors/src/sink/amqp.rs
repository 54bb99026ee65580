//! The RabbitMQ sink (AMQP 0-9-1): each event is one persistent message
//! (delivery mode 2; `message_id` the event id, `type` the event type, the
//! event as the webhook posts it as a JSON body) published to `exchange`
//! with a routing key made from the event. The channel is in confirm mode,
//! and a batch is delivered once the broker confirmed every message of it
//! (for a durable queue, once it is on disk): at least once, in order on
//! one channel.
//!
//! A broker that cannot be reached, refuses the login or closes the channel
//! (an exchange deleted meanwhile) is waited for, on a new connection; a
//! negative confirmation is retried; an event whose routing key AMQP cannot
//! carry (over 255 bytes) is rejected, and so dead-lettered.
//!
//! Settings: `url` (`amqp://user:password@host:port/vhost`), `exchange`
//! (the default exchange when empty), `routingKey` (a template, see
//! `src/template/`), `requestTimeoutMs` (the longest wait for a batch's
//! confirmations).

use std::time::Duration;

use async_trait::async_trait;
use eventfold_store::RecordedEvent;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

use super::event_json::event_json;
use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;
use crate::template::{NAME_PLACEHOLDERS, Template, Written};

/// AMQP's short string: a routing key is at most this long.
const ROUTING_KEY_MAX_BYTES: usize = 255;
const PERSISTENT: u8 = 2;

#[derive(Clone, Debug)]
pub struct AmqpSinkSettings {
    url: String,
    exchange: String,
    routing_key: Template,
    request_timeout: Duration,
}

impl AmqpSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let url = reader.required("url")?.trim().to_owned();
        let parsed: lapin::uri::AMQPUri =
            url.parse().map_err(|reason: String| InvalidSettings::new("url", &format!("`{url}`: {reason}")))?;
        if parsed.scheme != lapin::uri::AMQPScheme::AMQP {
            return Err(InvalidSettings::new("url", "amqps is not supported yet; use amqp://"));
        }
        let exchange = reader.text("exchange").unwrap_or("").trim().to_owned();
        if exchange.len() > ROUTING_KEY_MAX_BYTES {
            return Err(InvalidSettings::new("exchange", "is longer than 255 bytes"));
        }
        let routing_key = Template::parse(reader.required("routingKey")?, &NAME_PLACEHOLDERS)
            .map_err(|reason| InvalidSettings::new("routingKey", &reason))?;
        let request_timeout = Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 30_000)?);
        Ok(Self { url, exchange, routing_key, request_timeout })
    }
}

struct Link {
    /// Kept so that the connection lives as long as its channel.
    _connection: Connection,
    channel: Channel,
}

pub(crate) struct AmqpSink {
    settings: AmqpSinkSettings,
    link: Option<Link>,
}

impl AmqpSink {
    pub fn new(settings: AmqpSinkSettings) -> Self {
        Self { settings, link: None }
    }

    /// The open channel in confirm mode, connecting first if need be; the
    /// exchange must exist.
    async fn channel(&mut self) -> Result<&Channel, SinkError> {
        if self.link.as_ref().is_some_and(|link| !link.channel.status().connected()) {
            self.link = None;
        }
        if self.link.is_none() {
            let unavailable = |error: lapin::Error| SinkError::Unavailable(format!("RabbitMQ: {error}"));
            let properties = ConnectionProperties::default()
                .with_executor(tokio_executor_trait::Tokio::current())
                .with_reactor(tokio_reactor_trait::Tokio);
            let connection = Connection::connect(&self.settings.url, properties).await.map_err(unavailable)?;
            let channel = connection.create_channel().await.map_err(unavailable)?;
            channel.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
            if !self.settings.exchange.is_empty() {
                // Passive: only checks that it exists (the channel closes
                // if not).
                let passive = ExchangeDeclareOptions { passive: true, ..ExchangeDeclareOptions::default() };
                channel
                    .exchange_declare(&self.settings.exchange, ExchangeKind::Direct, passive, FieldTable::default())
                    .await
                    .map_err(|error| {
                        SinkError::Unavailable(format!("exchange `{}`: {error}", self.settings.exchange))
                    })?;
            }
            self.link = Some(Link { _connection: connection, channel });
        }
        self.link.as_ref().map(|link| &link.channel).ok_or_else(|| SinkError::Unavailable("not connected".into()))
    }

    async fn publish_all(&mut self, events: &[RecordedEvent]) -> Result<(), SinkError> {
        let mut messages = Vec::with_capacity(events.len());
        for event in events {
            let routing_key = self.settings.routing_key.render(event, None, Written::AsTheyAre).map_err(|reason| {
                SinkError::Rejected(format!("event {}@{}: routing key: {reason}", event.revision, event.stream))
            })?;
            if routing_key.len() > ROUTING_KEY_MAX_BYTES {
                return Err(SinkError::Rejected(format!(
                    "event {}@{}: routing key of {} bytes; AMQP allows {ROUTING_KEY_MAX_BYTES}",
                    event.revision,
                    event.stream,
                    routing_key.len()
                )));
            }
            let body = serde_json::to_vec(&event_json(event))
                .map_err(|error| SinkError::Rejected(format!("encoding: {error}")))?;
            let properties = BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_message_id(event.id.to_string().into())
                .with_type(event.event_type.clone().into())
                .with_content_type("application/json".into());
            messages.push((routing_key, body, properties));
        }
        let exchange = self.settings.exchange.clone();
        let channel = self.channel().await?;
        let lost = |error: lapin::Error| SinkError::Unavailable(format!("RabbitMQ: {error}"));
        // Published back to back; the confirmations are awaited after.
        let mut confirms = Vec::with_capacity(messages.len());
        for (routing_key, body, properties) in messages {
            let confirm = channel
                .basic_publish(&exchange, &routing_key, BasicPublishOptions::default(), &body, properties)
                .await
                .map_err(lost)?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            match confirm.await.map_err(lost)? {
                Confirmation::Ack(_) => {}
                Confirmation::Nack(_) => {
                    return Err(SinkError::Transient("the broker refused a message (nack)".into()));
                }
                Confirmation::NotRequested => {
                    return Err(SinkError::Unavailable("the channel is not in confirm mode".into()));
                }
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for AmqpSink {
    fn keeps_checkpoint(&self) -> bool {
        false
    }

    /// Connects and checks the exchange: an unreachable broker, a refused
    /// login or a missing exchange is an error.
    async fn validate(&mut self) -> Result<(), SinkError> {
        let checked = self.channel().await.map(|_| ());
        self.link = None;
        checked.map_err(|error| SinkError::Rejected(error.to_string()))
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], _checkpoint: u64) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let timeout = self.settings.request_timeout;
        let delivered = match tokio::time::timeout(timeout, self.publish_all(events)).await {
            Ok(delivered) => delivered,
            Err(_) => Err(SinkError::Transient(format!("no confirmation from the broker within {timeout:?}"))),
        };
        if matches!(delivered, Err(SinkError::Unavailable(_) | SinkError::Transient(_))) {
            // A new connection next time: nothing of this attempt is
            // waited on again.
            self.link = None;
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

    fn parse(pairs: &[(&str, &str)]) -> Result<AmqpSinkSettings, InvalidSettings> {
        AmqpSinkSettings::parse(&Reader(&crate::testing::raw(pairs)))
    }

    #[test]
    fn settings_parse_and_bad_ones_name_their_key() {
        let settings = parse(&[
            ("url", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            ("exchange", "events"),
            ("routingKey", "{category}.{eventType}"),
        ])
        .expect("valid");
        assert_eq!(settings.exchange, "events");
        assert_eq!(parse(&[("routingKey", "k")]).expect_err("no url").key, "url");
        assert_eq!(parse(&[("url", "http://h"), ("routingKey", "k")]).expect_err("scheme").key, "url");
        assert_eq!(parse(&[("url", "amqps://h"), ("routingKey", "k")]).expect_err("tls").key, "url");
        assert_eq!(parse(&[("url", "amqp://h")]).expect_err("no key").key, "routingKey");
        assert_eq!(parse(&[("url", "amqp://h"), ("routingKey", "{nope}")]).expect_err("placeholder").key, "routingKey");
    }
}
