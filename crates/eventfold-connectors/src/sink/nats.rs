//! The NATS JetStream sink: each event is published to a templated
//! subject with the header `Nats-Msg-Id` set to its event id, and
//! `Eventfold-Stream`, `Eventfold-Event-Type`, `Eventfold-Revision` and
//! `Eventfold-Position`. Each event stream's messages are published one
//! after the other, each once the one before is acknowledged, the streams
//! of a batch side by side; the checkpoint goes to the log after the whole
//! batch is acknowledged (at least once, in order per stream).
//!
//! JetStream drops a message whose id it has seen within the stream's
//! duplicate window (two minutes by default), so a batch sent again after a
//! fault or a crash within that window is stored once; past the window, or
//! after a purge, it is stored again. That is all this sink claims.
//!
//! Settings: `url` (`nats://host:port`, or `tls://host:port` for TLS,
//! credentials in it if any), `tls:trustedRootCertificatesPath` (a PEM
//! file of the CAs that may issue the server's certificate; without it,
//! the system's), `subject` and `payload` (default `{event}`) templates
//! (see `src/template/`), `requestTimeoutMs` (connect and acknowledgement
//! wait). At create the server must be reachable (over TLS, with a
//! certificate for its name that those CAs issued, for `tls://`) and a
//! JetStream stream must cover the subject.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::header::{HeaderMap, NATS_MESSAGE_ID};
use async_nats::jetstream::context::{Context, PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_trait::async_trait;
use bytes::Bytes;
use eventfold_store::RecordedEvent;

use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;
use crate::template::{FIELD_PLACEHOLDERS, Template, Written, parsed_data};

#[derive(Clone, Debug)]
pub struct NatsSinkSettings {
    url: String,
    /// Every server is `tls://`: the connection must be TLS.
    tls_required: bool,
    trusted_roots: Option<PathBuf>,
    subject: Template,
    payload: Template,
    request_timeout: Duration,
}

const TRUSTED_ROOTS: &str = "tls:trustedRootCertificatesPath";

impl NatsSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let url = reader.required("url")?.trim().to_owned();
        let servers: Vec<&str> = url.split(',').map(str::trim).collect();
        let tls_required = servers.iter().all(|server| server.starts_with("tls://"));
        for server in &servers {
            if !server.starts_with("nats://") && !server.starts_with("tls://") {
                return Err(InvalidSettings::new("url", &format!("`{server}` must start with nats:// or tls://")));
            }
            if tls_required != server.starts_with("tls://") {
                return Err(InvalidSettings::new("url", "mixes tls:// and nats:// servers"));
            }
            server
                .parse::<async_nats::ServerAddr>()
                .map_err(|error| InvalidSettings::new("url", &format!("`{server}`: {error}")))?;
        }
        let template = |key: &str, text: &str| {
            Template::parse(text, &FIELD_PLACEHOLDERS).map_err(|reason| InvalidSettings::new(key, &reason))
        };
        let subject = template("subject", reader.required("subject")?)?;
        check_subject(&subject.render_sample("x")).map_err(|reason| InvalidSettings::new("subject", &reason))?;
        let payload = template("payload", reader.text("payload").unwrap_or("{event}"))?;
        let request_timeout = Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 10_000)?);
        let trusted_roots = match reader.text(TRUSTED_ROOTS).map(str::trim).filter(|path| !path.is_empty()) {
            None => None,
            Some(path) if Path::new(path).is_file() => Some(PathBuf::from(path)),
            Some(path) => return Err(InvalidSettings::new(TRUSTED_ROOTS, &format!("`{path}` is not a file"))),
        };
        Ok(Self { url, tls_required, trusted_roots, subject, payload, request_timeout })
    }

    /// The message for `event`: its subject, payload and headers.
    fn message_for(&self, event: &RecordedEvent) -> Result<Outgoing, String> {
        let data = parsed_data(event, &[&self.subject, &self.payload]);
        let subject = self
            .subject
            .render(event, data.as_ref(), Written::AsTheyAre)
            .map_err(|reason| format!("subject: {reason}"))?;
        check_subject(&subject).map_err(|reason| format!("subject `{subject}`: {reason}"))?;
        let payload = self
            .payload
            .render(event, data.as_ref(), Written::AsTheyAre)
            .map_err(|reason| format!("payload: {reason}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, event.id.to_string().as_str());
        headers.insert("Eventfold-Stream", event.stream.as_str());
        headers.insert("Eventfold-Event-Type", event.event_type.as_str());
        headers.insert("Eventfold-Revision", event.revision.to_string().as_str());
        headers.insert("Eventfold-Position", event.position.0.to_string().as_str());
        Ok(Outgoing { subject, payload: Bytes::from(payload), headers })
    }

    /// The subject with every token that holds a placeholder made a
    /// wildcard (the last one `>`, as a value may hold dots): what a
    /// JetStream stream must cover.
    fn subject_filter(&self) -> String {
        let marker = "\u{0}";
        let sample = self.subject.render_sample(marker);
        let tokens: Vec<&str> = sample.split('.').collect();
        let last = tokens.len().saturating_sub(1);
        let filter: Vec<&str> = tokens
            .iter()
            .enumerate()
            .map(|(index, token)| match (token.contains(marker), index == last) {
                (false, _) => *token,
                (true, false) => "*",
                (true, true) => ">",
            })
            .collect();
        filter.join(".")
    }
}

/// NATS's rules for a subject one publishes to: tokens separated by dots,
/// none empty, no whitespace, no wildcard.
fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err("is empty".to_owned());
    }
    if subject.chars().any(char::is_whitespace) {
        return Err("holds whitespace".to_owned());
    }
    if subject.split('.').any(|token| token.is_empty()) {
        return Err("has an empty token (a leading, trailing or double dot)".to_owned());
    }
    if subject.split('.').any(|token| token == "*" || token == ">") {
        return Err("holds a wildcard token".to_owned());
    }
    Ok(())
}

struct Outgoing {
    subject: String,
    payload: Bytes,
    headers: HeaderMap,
}

pub(crate) struct NatsSink {
    settings: NatsSinkSettings,
    connection: Option<(async_nats::Client, Context)>,
}

impl NatsSink {
    pub fn new(settings: NatsSinkSettings) -> Self {
        Self { settings, connection: None }
    }

    /// The client, connected once; it reconnects by itself afterwards.
    async fn connected(&mut self) -> Result<&mut (async_nats::Client, Context), SinkError> {
        if self.connection.is_none() {
            let timeout = self.settings.request_timeout;
            let mut options = async_nats::ConnectOptions::new()
                .connection_timeout(timeout)
                .request_timeout(Some(timeout))
                .require_tls(self.settings.tls_required);
            if let Some(roots) = &self.settings.trusted_roots {
                options = options.add_root_certificates(roots.clone());
            }
            let client = options
                .connect(self.settings.url.as_str())
                .await
                .map_err(|error| SinkError::Unavailable(format!("{}: {error}", self.settings.url)))?;
            let context = async_nats::jetstream::ContextBuilder::new().timeout(timeout).build(client.clone());
            self.connection = Some((client, context));
        }
        self.connection.as_mut().ok_or_else(|| SinkError::Unavailable("not connected".into()))
    }

    fn is_connected(&self) -> bool {
        self.connection
            .as_ref()
            .is_some_and(|(client, _)| client.connection_state() == async_nats::connection::State::Connected)
    }

    /// What a failed publish or acknowledgement means for the connector.
    fn classify(&self, kind: PublishErrorKind, reason: String) -> SinkError {
        match kind {
            PublishErrorKind::MaxPayloadExceeded => SinkError::Rejected(reason),
            _ if !self.is_connected() => SinkError::Unavailable(reason),
            PublishErrorKind::BrokenPipe => SinkError::Unavailable(reason),
            // No stream answered: a subject no stream covers, or JetStream
            // still restoring its streams after a restart; retried up to
            // the limit before the event is dead-lettered.
            _ => SinkError::Transient(reason),
        }
    }
}

#[async_trait]
impl Sink for NatsSink {
    fn keeps_checkpoint(&self) -> bool {
        false
    }

    /// Connects, and asks JetStream for a stream covering the subject.
    async fn validate(&mut self) -> Result<(), SinkError> {
        let filter = self.settings.subject_filter();
        let (_, context) = self.connected().await?;
        match context.stream_by_subject(filter.as_str()).await {
            Ok(_) => Ok(()),
            Err(error) => match error.kind() {
                async_nats::jetstream::context::GetStreamByNameErrorKind::NotFound => Err(SinkError::Rejected(
                    format!("no JetStream stream covers the subject `{filter}`; create one first"),
                )),
                _ => Err(SinkError::Unavailable(format!("asking JetStream for the stream of `{filter}`: {error}"))),
            },
        }
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], _checkpoint: u64) -> Result<(), SinkError> {
        let mut messages = Vec::with_capacity(events.len());
        for event in events {
            let message = self.settings.message_for(event).map_err(|reason| {
                SinkError::Rejected(format!(
                    "event {}@{} ({}): {reason}",
                    event.revision, event.stream, event.event_type
                ))
            })?;
            messages.push(message);
        }
        let (_, context) = self.connected().await?;
        let context = context.clone();
        // One message per event stream in flight: the next of a stream is
        // sent once the one before is acknowledged (stored), so a message
        // lost in a reconnect or refused while JetStream restores its
        // streams cannot be overtaken by a later one of its stream, which
        // would break the order when it is sent again. Streams go side by
        // side, each round one round trip.
        let mut queues: Vec<VecDeque<Outgoing>> = Vec::new();
        let mut queue_of: BTreeMap<&str, usize> = BTreeMap::new();
        for (event, message) in events.iter().zip(messages) {
            let index = *queue_of.entry(event.stream.as_str()).or_insert_with(|| {
                queues.push(VecDeque::new());
                queues.len() - 1
            });
            if let Some(queue) = queues.get_mut(index) {
                queue.push_back(message);
            }
        }
        loop {
            let mut acks: Vec<PublishAckFuture> = Vec::with_capacity(queues.len());
            for queue in &mut queues {
                let Some(Outgoing { subject, payload, headers }) = queue.pop_front() else { continue };
                let message = PublishMessage::build().payload(payload).headers(headers);
                match context.send_publish(subject, message).await {
                    Ok(ack) => acks.push(ack),
                    Err(error) => return Err(self.classify(error.kind(), format!("publishing: {error}"))),
                }
            }
            if acks.is_empty() {
                return Ok(());
            }
            for ack in acks {
                if let Err(error) = ack.await {
                    return Err(self.classify(error.kind(), format!("JetStream acknowledgement: {error}")));
                }
            }
        }
    }

    async fn reset(&mut self, _checkpoint: Option<u64>) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<NatsSinkSettings, InvalidSettings> {
        NatsSinkSettings::parse(&Reader(&crate::testing::raw(pairs)))
    }

    fn event(stream: &str, data: &'static [u8]) -> RecordedEvent {
        crate::testing::recorded(stream, "Placed", 4, 1234, Bytes::from_static(data))
    }

    #[test]
    fn a_message_carries_its_id_and_place_in_headers() {
        let settings =
            parse(&[("url", "nats://127.0.0.1:4222"), ("subject", "orders.{/region}"), ("payload", "{data}")])
                .expect("valid");
        let event = event("order-7", br#"{"region":"eu"}"#);
        let message = settings.message_for(&event).expect("builds");
        assert_eq!(message.subject, "orders.eu");
        assert_eq!(message.payload.as_ref(), br#"{"region":"eu"}"#);
        let header = |name: &str| message.headers.get(name).map(|value| value.as_str().to_owned());
        assert_eq!(header("Nats-Msg-Id"), Some(event.id.to_string()));
        assert_eq!(header("Eventfold-Stream").as_deref(), Some("order-7"));
        assert_eq!(header("Eventfold-Event-Type").as_deref(), Some("Placed"));
        assert_eq!(header("Eventfold-Revision").as_deref(), Some("4"));
        assert_eq!(header("Eventfold-Position").as_deref(), Some("1234"));
    }

    #[test]
    fn an_event_whose_subject_breaks_the_rules_has_no_message() {
        let settings = parse(&[("url", "nats://h:4222"), ("subject", "orders.{/region}")]).expect("valid");
        assert!(settings.message_for(&event("order-1", br#"{"other":1}"#)).is_err(), "no region");
        assert!(settings.message_for(&event("order-1", br#"{"region":"a b"}"#)).is_err(), "whitespace");
        assert!(settings.message_for(&event("order-1", br#"{"region":"*"}"#)).is_err(), "wildcard");
        let by_stream = parse(&[("url", "nats://h:4222"), ("subject", "orders.{stream}")]).expect("valid");
        assert!(by_stream.message_for(&event("order-1.", b"{}")).is_err(), "trailing dot");
        assert_eq!(by_stream.message_for(&event("order-1.a", b"{}")).expect("builds").subject, "orders.order-1.a");
    }

    #[test]
    fn the_stream_must_cover_the_subject_with_placeholders_as_wildcards() {
        let subject =
            |template: &str| parse(&[("url", "nats://h:4222"), ("subject", template)]).expect("valid").subject_filter();
        assert_eq!(subject("orders.{stream}"), "orders.>");
        assert_eq!(subject("orders.{category}.placed"), "orders.*.placed");
        assert_eq!(subject("orders.all"), "orders.all");
    }

    #[test]
    fn tls_urls_require_tls() {
        let settings = parse(&[("url", "tls://h:4222, tls://g:4222"), ("subject", "s")]).expect("valid");
        assert!(settings.tls_required && settings.trusted_roots.is_none());
        assert!(!parse(&[("url", "nats://h:4222"), ("subject", "s")]).expect("valid").tls_required);
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 8] = [
            (&[], "url"),
            (&[("url", "tls://h:4222,nats://g:4222"), ("subject", "s")], "url"),
            (&[("url", "tls://h:4222"), ("subject", "s"), (TRUSTED_ROOTS, "/nowhere/ca.crt")], TRUSTED_ROOTS),
            (&[("url", "http://h:4222"), ("subject", "s")], "url"),
            (&[("url", "nats://h:4222")], "subject"),
            (&[("url", "nats://h:4222"), ("subject", "orders.>")], "subject"),
            (&[("url", "nats://h:4222"), ("subject", "orders..{stream}")], "subject"),
            (&[("url", "nats://h:4222"), ("subject", "s"), ("payload", "{nope}")], "payload"),
        ];
        for (pairs, key) in cases {
            let error = parse(pairs).expect_err(key);
            assert_eq!(error.key, key, "{pairs:?}: {error}");
        }
    }
}
