//! The Redis sink, exactly once for `SET`, `HSET` and `XADD`: each batch
//! is one `MULTI`/`EXEC` holding one command per event and a `SET` of the
//! connector's checkpoint key (`eventfold:connector:<id>:position` unless
//! `checkpointKey` names another). Redis applies a transaction whole and
//! writes it to its append-only file as one block (a torn block is cut at
//! load), so the checkpoint says exactly which events are in; the
//! connector resumes from it after any fault. That holds across a Redis
//! restart only as far as Redis keeps what it acknowledged: with AOF and
//! `appendfsync always`.
//!
//! `XADD` entries take the id `<position>-1` (the event's log position),
//! so an entry written again after a reset is refused by Redis as not
//! newer and counted as already there. `PUBLISH` goes to whoever is
//! subscribed at that moment; Redis keeps no messages.
//!
//! Settings: `url` (`redis://[:password@]host:port[/db]`, or `rediss://`
//! for TLS), `tls:trustedRootCertificatesPath` (a PEM file of the CAs that
//! may issue the server's certificate; without it, the system's), `command`
//! (`SET`, `HSET`, `XADD` or `PUBLISH`), `key` (the key or channel),
//! `field` (`HSET` only), `value` (default `{event}`), all templates (see
//! `src/template/`); `checkpointKey`; `requestTimeoutMs`.
//!
//! A command Redis refuses (a key of another type) does not undo the rest
//! of its transaction: the others and the checkpoint are in, and the
//! refused events are remembered until the connector, splitting the batch
//! to find them, dead-letters them; a batch the checkpoint already covers
//! is not written again. Were eventfold killed between that `EXEC` and the
//! dead letter, the refused event would be in neither place.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use eventfold_store::{EventId, RecordedEvent};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, RedisError, Value};

use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;
use crate::template::{FIELD_PLACEHOLDERS, Template, Written, parsed_data};

/// The entry id's sequence part: ids must be above `0-0`, and the log's
/// first event may be at position 0.
const STREAM_ID_SEQUENCE: u64 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Command {
    Set,
    HashSet,
    StreamAdd,
    Publish,
}

#[derive(Clone, Debug)]
pub struct RedisSinkSettings {
    client: redis::Client,
    command: Command,
    key: Template,
    field: Option<Template>,
    value: Template,
    checkpoint_key: Option<String>,
    request_timeout: Duration,
}

const TRUSTED_ROOTS: &str = "tls:trustedRootCertificatesPath";

/// The client for `url`; over TLS, trusting the CAs in the PEM file
/// `trusted_roots` if given (read now: a file that cannot be read is a
/// setting error), else the system's.
fn client(url: &str, trusted_roots: Option<&str>) -> Result<redis::Client, InvalidSettings> {
    let invalid_url = |error: redis::RedisError| InvalidSettings::new("url", &error.to_string());
    let Some(path) = trusted_roots.map(str::trim).filter(|path| !path.is_empty()) else {
        return redis::Client::open(url).map_err(invalid_url);
    };
    if !url.starts_with("rediss://") {
        return Err(InvalidSettings::new(TRUSTED_ROOTS, "is for rediss:// URLs only"));
    }
    let pem = std::fs::read(path)
        .map_err(|error| InvalidSettings::new(TRUSTED_ROOTS, &format!("cannot read `{path}`: {error}")))?;
    let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem) };
    redis::Client::build_with_tls(url, certificates)
        .map_err(|error| InvalidSettings::new(TRUSTED_ROOTS, &error.to_string()))
}

impl RedisSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let url = reader.required("url")?;
        if !(url.starts_with("redis://") || url.starts_with("rediss://") || url.starts_with("redis+unix://")) {
            return Err(InvalidSettings::new("url", "must start with redis://, rediss:// or redis+unix://"));
        }
        let client = client(url, reader.text(TRUSTED_ROOTS))?;
        let command_text = reader.required("command")?;
        let command = match command_text.to_ascii_uppercase().as_str() {
            "SET" => Command::Set,
            "HSET" => Command::HashSet,
            "XADD" => Command::StreamAdd,
            "PUBLISH" => Command::Publish,
            _ => {
                return Err(InvalidSettings::new(
                    "command",
                    &format!("`{command_text}` is not SET, HSET, XADD or PUBLISH"),
                ));
            }
        };
        let template = |key: &str, text: &str| {
            Template::parse(text, &FIELD_PLACEHOLDERS).map_err(|reason| InvalidSettings::new(key, &reason))
        };
        let key = template("key", reader.required("key")?)?;
        let field = match (command, reader.text("field")) {
            (Command::HashSet, Some(text)) => Some(template("field", text)?),
            (Command::HashSet, None) => return Err(InvalidSettings::new("field", "is required with HSET")),
            (_, Some(_)) => return Err(InvalidSettings::new("field", "is for HSET only")),
            (_, None) => None,
        };
        let value = template("value", reader.text("value").unwrap_or("{event}"))?;
        let checkpoint_key = reader.text("checkpointKey").map(str::to_owned);
        if checkpoint_key.as_deref().is_some_and(|key| key.trim().is_empty()) {
            return Err(InvalidSettings::new("checkpointKey", "is empty"));
        }
        let request_timeout = Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 10_000)?);
        Ok(Self { client, command, key, field, value, checkpoint_key, request_timeout })
    }

    /// The command for `event`, or why the event cannot have one.
    fn command_for(&self, event: &RecordedEvent) -> Result<Cmd, String> {
        let data = parsed_data(event, &[&self.key, &self.value, self.field.as_ref().unwrap_or(&self.key)]);
        let key =
            self.key.render(event, data.as_ref(), Written::AsTheyAre).map_err(|reason| format!("key: {reason}"))?;
        let value =
            self.value.render(event, data.as_ref(), Written::AsTheyAre).map_err(|reason| format!("value: {reason}"))?;
        let mut command;
        match self.command {
            Command::Set => {
                command = redis::cmd("SET");
                command.arg(key).arg(value);
            }
            Command::HashSet => {
                let field = match &self.field {
                    Some(field) => field
                        .render(event, data.as_ref(), Written::AsTheyAre)
                        .map_err(|reason| format!("field: {reason}"))?,
                    None => return Err("HSET without a field".to_owned()),
                };
                command = redis::cmd("HSET");
                command.arg(key).arg(field).arg(value);
            }
            Command::StreamAdd => {
                command = redis::cmd("XADD");
                command
                    .arg(key)
                    .arg(stream_entry_id(event))
                    .arg("stream")
                    .arg(event.stream.as_str())
                    .arg("eventType")
                    .arg(&event.event_type)
                    .arg("revision")
                    .arg(event.revision)
                    .arg("position")
                    .arg(event.position.0)
                    .arg("eventId")
                    .arg(event.id.to_string())
                    .arg("value")
                    .arg(value);
            }
            Command::Publish => {
                command = redis::cmd("PUBLISH");
                command.arg(key).arg(value);
            }
        }
        Ok(command)
    }
}

/// The stream entry id of `event`: its log position, so entries are in log
/// order and one written twice is refused as not newer.
pub(crate) fn stream_entry_id(event: &RecordedEvent) -> String {
    format!("{}-{STREAM_ID_SEQUENCE}", event.position.0)
}

pub(crate) struct RedisSink {
    settings: RedisSinkSettings,
    checkpoint_key: String,
    connection: Option<MultiplexedConnection>,
    /// The checkpoint known to be in Redis: a batch it covers is already
    /// there, and is not written again.
    committed: Option<u64>,
    /// Events whose command Redis refused in a transaction that committed,
    /// with the reason, until the connector dead-letters them.
    refused: BTreeMap<EventId, String>,
}

impl RedisSink {
    pub fn new(connector: &str, settings: RedisSinkSettings) -> Self {
        let checkpoint_key =
            settings.checkpoint_key.clone().unwrap_or_else(|| format!("eventfold:connector:{connector}:position"));
        Self { settings, checkpoint_key, connection: None, committed: None, refused: BTreeMap::new() }
    }

    async fn connected(&mut self) -> Result<&mut MultiplexedConnection, SinkError> {
        if self.connection.is_none() {
            let timeout = Some(self.settings.request_timeout);
            let config = AsyncConnectionConfig::new().set_connection_timeout(timeout).set_response_timeout(timeout);
            let connection = self
                .settings
                .client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(|error| self.classify(error))?;
            self.connection = Some(connection);
        }
        self.connection.as_mut().ok_or_else(|| SinkError::Unavailable("not connected".into()))
    }

    /// Classifies `error`, dropping the connection when it is the cause.
    fn classify(&mut self, error: RedisError) -> SinkError {
        let reason = error.to_string();
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
            || matches!(error.code(), Some("LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN"))
        {
            self.connection = None;
            return SinkError::Unavailable(reason);
        }
        SinkError::Transient(reason)
    }

    /// A delivery of events the checkpoint already covers: nothing is
    /// written; the ones Redis refused are reported, for the dead letter.
    fn replayed(&mut self, events: &[RecordedEvent]) -> Result<(), SinkError> {
        let Some(reason) = events.iter().find_map(|event| self.refused.get(&event.id)).cloned() else {
            return Ok(());
        };
        if let [single] = events {
            // Given up on now: the connector dead-letters it.
            self.refused.remove(&single.id);
        }
        Err(SinkError::Rejected(reason))
    }

    async fn write(&mut self, events: &[RecordedEvent], checkpoint: u64) -> Result<(), SinkError> {
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors();
        for event in events {
            let command = self.settings.command_for(event).map_err(|reason| {
                SinkError::Rejected(format!(
                    "event {}@{} ({}): {reason}",
                    event.revision, event.stream, event.event_type
                ))
            })?;
            pipe.add_command(command);
        }
        pipe.cmd("SET").arg(&self.checkpoint_key).arg(checkpoint);
        let connection = self.connected().await?;
        let outcome: Result<Option<Vec<redis::RedisResult<Value>>>, RedisError> = pipe.query_async(connection).await;
        let results = match outcome {
            Ok(Some(results)) => results,
            Ok(None) => return Err(SinkError::Transient("the transaction was aborted".into())),
            Err(error) => return Err(self.classify(error)),
        };
        if results.len() != events.len() + 1 {
            return Err(SinkError::Transient(format!(
                "{} answers to a transaction of {} commands",
                results.len(),
                events.len() + 1
            )));
        }
        if let Some(Err(error)) = results.last() {
            return Err(SinkError::Transient(format!("writing the checkpoint: {error}")));
        }
        self.committed = Some(checkpoint);
        let mut first_refusal = None;
        for (event, result) in events.iter().zip(&results) {
            let Err(error) = result else { continue };
            if self.settings.command == Command::StreamAdd && is_not_newer(error) {
                continue;
            }
            let reason =
                format!("event {}@{} ({}): Redis refused it: {error}", event.revision, event.stream, event.event_type);
            first_refusal.get_or_insert_with(|| reason.clone());
            self.refused.insert(event.id, reason);
        }
        match first_refusal {
            None => Ok(()),
            Some(_) => self.replayed(events),
        }
    }
}

/// Redis's answer to an `XADD` whose id is not above the stream's last.
fn is_not_newer(error: &RedisError) -> bool {
    error.to_string().contains("equal or smaller than the target stream top item")
}

#[async_trait]
impl Sink for RedisSink {
    fn keeps_checkpoint(&self) -> bool {
        true
    }

    /// Connects and pings: an unreachable server, a wrong password or
    /// database is an error before anything is stored.
    async fn validate(&mut self) -> Result<(), SinkError> {
        let connection = self.connected().await?;
        let pong: Result<String, RedisError> = redis::cmd("PING").query_async(connection).await;
        pong.map(|_| ()).map_err(|error| SinkError::Unavailable(error.to_string()))
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        let key = self.checkpoint_key.clone();
        let connection = self.connected().await?;
        let stored: Result<Option<String>, RedisError> = redis::cmd("GET").arg(&key).query_async(connection).await;
        let stored = stored.map_err(|error| self.classify(error))?;
        let checkpoint = match stored {
            None => None,
            Some(text) => Some(text.parse::<u64>().map_err(|_| {
                SinkError::Rejected(format!("the checkpoint key `{key}` holds `{text}`, not a position"))
            })?),
        };
        self.committed = checkpoint;
        Ok(checkpoint)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], checkpoint: u64) -> Result<(), SinkError> {
        if self.committed.is_some_and(|committed| checkpoint <= committed) {
            return self.replayed(events);
        }
        self.write(events, checkpoint).await
    }

    async fn reset(&mut self, checkpoint: Option<u64>) -> Result<(), SinkError> {
        let key = self.checkpoint_key.clone();
        let mut command = match checkpoint {
            None => redis::cmd("DEL"),
            Some(_) => redis::cmd("SET"),
        };
        command.arg(&key);
        if let Some(position) = checkpoint {
            command.arg(position);
        }
        let connection = self.connected().await?;
        let done: Result<Value, RedisError> = command.query_async(connection).await;
        done.map_err(|error| self.classify(error))?;
        self.committed = checkpoint;
        self.refused.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<RedisSinkSettings, InvalidSettings> {
        RedisSinkSettings::parse(&Reader(&crate::testing::raw(pairs)))
    }

    fn event(data: &'static [u8]) -> RecordedEvent {
        crate::testing::recorded("order-7", "Placed", 4, 1234, Bytes::from_static(data))
    }

    /// The command's arguments as text.
    fn words(command: &Cmd) -> Vec<String> {
        command
            .args_iter()
            .map(|arg| match arg {
                redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                _ => "<not text>".to_owned(),
            })
            .collect()
    }

    #[test]
    fn each_command_is_built_from_the_templates() {
        let event = event(br#"{"orderId":"o-7","total":3}"#);
        let hset = parse(&[
            ("url", "redis://127.0.0.1:6379/2"),
            ("command", "hset"),
            ("key", "order:{/orderId}"),
            ("field", "{eventType}"),
            ("value", "{/total}"),
        ])
        .expect("valid");
        assert_eq!(words(&hset.command_for(&event).expect("builds")), ["HSET", "order:o-7", "Placed", "3"]);

        let set = parse(&[("url", "redis://h"), ("command", "SET"), ("key", "last:{stream}"), ("value", "{data}")])
            .expect("valid");
        assert_eq!(
            words(&set.command_for(&event).expect("builds")),
            ["SET", "last:order-7", r#"{"orderId":"o-7","total":3}"#]
        );

        let xadd = parse(&[("url", "redis://h"), ("command", "XADD"), ("key", "{category}"), ("value", "{/total}")])
            .expect("valid");
        let id = event.id.to_string();
        assert_eq!(
            words(&xadd.command_for(&event).expect("builds")),
            [
                "XADD",
                "order",
                "1234-1",
                "stream",
                "order-7",
                "eventType",
                "Placed",
                "revision",
                "4",
                "position",
                "1234",
                "eventId",
                id.as_str(),
                "value",
                "3"
            ]
        );

        let publish = parse(&[("url", "redis://h"), ("command", "PUBLISH"), ("key", "events")]).expect("valid");
        let published = words(&publish.command_for(&event).expect("builds"));
        assert_eq!(published[..2], ["PUBLISH", "events"]);
        let body: serde_json::Value = serde_json::from_str(&published[2]).expect("the event as JSON by default");
        assert_eq!(body["data"]["orderId"], "o-7");
    }

    #[test]
    fn an_event_without_a_templated_field_has_no_command() {
        let set = parse(&[("url", "redis://h"), ("command", "SET"), ("key", "order:{/orderId}")]).expect("valid");
        let reason = set.command_for(&event(br#"{"other":1}"#)).expect_err("no orderId");
        assert!(reason.starts_with("key:") && reason.contains("/orderId"), "{reason}");
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 10] = [
            (&[], "url"),
            (&[("url", "http://h")], "url"),
            (&[("url", "redis://h"), (TRUSTED_ROOTS, "/nowhere.pem"), ("command", "SET"), ("key", "k")], TRUSTED_ROOTS),
            (
                &[("url", "rediss://h"), (TRUSTED_ROOTS, "/nowhere.pem"), ("command", "SET"), ("key", "k")],
                TRUSTED_ROOTS,
            ),
            (&[("url", "redis://h:notaport")], "url"),
            (&[("url", "redis://h")], "command"),
            (&[("url", "redis://h"), ("command", "LPUSH"), ("key", "k")], "command"),
            (&[("url", "redis://h"), ("command", "SET"), ("key", "{nope}")], "key"),
            (&[("url", "redis://h"), ("command", "HSET"), ("key", "k")], "field"),
            (&[("url", "redis://h"), ("command", "SET"), ("key", "k"), ("field", "f")], "field"),
        ];
        for (pairs, key) in cases {
            let error = parse(pairs).expect_err(key);
            assert_eq!(error.key, key, "{pairs:?}: {error}");
        }
    }
}
