//! The Elasticsearch/OpenSearch sink: each batch is one `_bulk` request of
//! `index` actions (newline-delimited JSON: an action line naming the
//! index and the document id, then the document, which is the event as the
//! webhook posts it), so that each event is one document, written again in
//! place when it is sent again (the id comes from the event).
//!
//! The bulk answer says per item whether it was indexed. Items refused for
//! their content (a mapping conflict, a bad index name: 4xx) reject the
//! batch, and the connector halves it down to the event at fault, which is
//! dead-lettered; the others are indexed again under the same ids,
//! harmlessly. Items refused for load (429, 5xx), and a whole request
//! answered 429 or 5xx, are retried. Refused credentials are waited on.
//!
//! Settings: `url` (`http://host:port`), `indexName` and `documentId`
//! (templates, see `src/template/`; the id defaults to `{eventId}`, the
//! index name is lowercased as the servers require),
//! `authentication:method` `None|Basic|ApiKey` with
//! `authentication:basic:username|password` or `authentication:apiKey`,
//! `requestTimeoutMs`.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use eventfold_store::RecordedEvent;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use super::event_json::event_json;
use super::http1::{Answer, Http1Connection, endpoint_authority};
use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;
use crate::template::{NAME_PLACEHOLDERS, Template, Written};

pub(crate) const BULK_CONTENT_TYPE: &str = "application/x-ndjson";
/// Characters no index name may hold (both servers' rules).
const INDEX_FORBIDDEN: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

#[derive(Clone, Debug)]
pub struct SearchSinkSettings {
    authority: String,
    index: Template,
    document_id: Template,
    authorization: Option<header::HeaderValue>,
    request_timeout: Duration,
}

impl SearchSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let authority = endpoint_authority("url", reader.required("url")?)?;
        let index = Template::parse(reader.required("indexName")?, &NAME_PLACEHOLDERS)
            .map_err(|reason| InvalidSettings::new("indexName", &reason))?;
        let literal = index.render_sample("x");
        if literal.starts_with(['-', '_', '+']) || literal.contains(INDEX_FORBIDDEN) || literal.len() > 255 {
            return Err(InvalidSettings::new(
                "indexName",
                &format!("`{literal}` is not an index name (no leading -, _ or +, none of \\/*?\"<>|,#: or spaces)"),
            ));
        }
        let document_id = Template::parse(reader.text("documentId").unwrap_or("{eventId}"), &NAME_PLACEHOLDERS)
            .map_err(|reason| InvalidSettings::new("documentId", &reason))?;
        let request_timeout = Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 30_000)?);
        Ok(Self {
            authority,
            index,
            document_id,
            authorization: super::http_auth::authorization(reader, &super::http_auth::API_KEY)?,
            request_timeout,
        })
    }
}

/// The `_bulk` body: per event an `index` action line and the document
/// line, each ending in `\n` (the last one too, as the API requires).
pub(crate) fn bulk_body(settings: &SearchSinkSettings, events: &[RecordedEvent]) -> Result<Vec<u8>, String> {
    let mut body = Vec::with_capacity(events.len() * 512);
    for event in events {
        let index =
            settings.index.render(event, None, Written::AsTheyAre).map_err(|reason| format!("index: {reason}"))?;
        let document_id =
            settings.document_id.render(event, None, Written::AsTheyAre).map_err(|reason| format!("id: {reason}"))?;
        let action = json!({ "index": { "_index": index.to_lowercase(), "_id": document_id }});
        serde_json::to_writer(&mut body, &action).map_err(|error| error.to_string())?;
        body.push(b'\n');
        serde_json::to_writer(&mut body, &event_json(event)).map_err(|error| error.to_string())?;
        body.push(b'\n');
    }
    Ok(body)
}

/// What a `_bulk` answer means for the batch `events`.
pub(crate) fn classify_bulk(events: &[RecordedEvent], answer: &Answer) -> Result<(), SinkError> {
    let status = answer.status;
    if !status.is_success() {
        let reason = format!("_bulk: HTTP {status}: {}", answer.quoted());
        return Err(match status.as_u16() {
            408 | 429 | 500..=599 => SinkError::Transient(reason),
            401 | 403 => SinkError::Unavailable(reason),
            _ => SinkError::Rejected(reason),
        });
    }
    let parsed: Value = serde_json::from_slice(&answer.body)
        .map_err(|error| SinkError::Transient(format!("_bulk answer is not JSON: {error}")))?;
    if parsed.get("errors") == Some(&Value::Bool(false)) {
        return Ok(());
    }
    let items = parsed.get("items").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
    if items.len() != events.len() {
        return Err(SinkError::Transient(format!("_bulk answered {} items for {} actions", items.len(), events.len())));
    }
    let mut refused = None;
    for (item, event) in items.iter().zip(events) {
        // Each item is `{"<action>": {"status": ..., "error": ...}}`.
        let outcome = item.as_object().and_then(|object| object.values().next());
        let item_status = outcome.and_then(|outcome| outcome.get("status")).and_then(Value::as_u64).unwrap_or(0);
        if (200..300).contains(&item_status) {
            continue;
        }
        let error = outcome.and_then(|outcome| outcome.get("error")).map_or_else(String::new, Value::to_string);
        let reason = format!(
            "event {}@{}: item status {item_status}: {}",
            event.revision,
            event.stream,
            error.chars().take(super::http1::QUOTED_BODY_MAX_CHARS).collect::<String>()
        );
        if item_status == 429 || item_status >= 500 || item_status == 0 {
            return Err(SinkError::Transient(reason));
        }
        refused.get_or_insert(reason);
    }
    match refused {
        Some(reason) => Err(SinkError::Rejected(reason)),
        None => Ok(()),
    }
}

pub(crate) struct SearchSink {
    settings: SearchSinkSettings,
    connection: Http1Connection,
}

impl SearchSink {
    pub fn new(settings: SearchSinkSettings) -> Self {
        let connection = Http1Connection::new(&settings.authority, settings.request_timeout);
        Self { settings, connection }
    }

    async fn send(&mut self, method: Method, path: &str, body: Vec<u8>) -> Result<Answer, SinkError> {
        let mut request = Request::builder().method(method).uri(path);
        if !body.is_empty() {
            request = request.header(header::CONTENT_TYPE, BULK_CONTENT_TYPE);
        }
        if let Some(authorization) = &self.settings.authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| SinkError::Rejected(format!("building the request: {error}")))?;
        self.connection.send(request).await
    }
}

#[async_trait]
impl Sink for SearchSink {
    fn keeps_checkpoint(&self) -> bool {
        false
    }

    /// The server must answer its root as a search server does (with a
    /// version), with these credentials.
    async fn validate(&mut self) -> Result<(), SinkError> {
        let answer = self.send(Method::GET, "/", Vec::new()).await?;
        match answer.status {
            status if status.is_success() => {
                let root: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
                if root.pointer("/version/number").is_some() {
                    Ok(())
                } else {
                    Err(SinkError::Rejected(format!(
                        "{} does not answer as Elasticsearch or OpenSearch: {}",
                        self.settings.authority,
                        answer.quoted()
                    )))
                }
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(SinkError::Rejected(format!("the credentials are refused ({})", answer.status)))
            }
            status => Err(SinkError::Rejected(format!("GET /: HTTP {status}: {}", answer.quoted()))),
        }
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], _checkpoint: u64) -> Result<(), SinkError> {
        if events.is_empty() {
            return Ok(());
        }
        let body =
            bulk_body(&self.settings, events).map_err(|reason| SinkError::Rejected(format!("encoding: {reason}")))?;
        let answer = self.send(Method::POST, "/_bulk", body).await?;
        classify_bulk(events, &answer)
    }

    async fn reset(&mut self, _checkpoint: Option<u64>) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::settings::RawSettings;

    fn parse(pairs: &[(&str, &str)]) -> Result<SearchSinkSettings, InvalidSettings> {
        let mut raw: RawSettings = [("url", "http://127.0.0.1:9200"), ("indexName", "events-{category}")]
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect();
        for (key, value) in pairs {
            raw.insert((*key).to_owned(), (*value).to_owned());
        }
        SearchSinkSettings::parse(&Reader(&raw))
    }

    fn event(stream: &str, revision: u64) -> RecordedEvent {
        crate::testing::recorded(stream, "Placed", revision, 100 + revision, Bytes::from_static(br#"{"total":5}"#))
    }

    fn answer(status: u16, body: Value) -> Answer {
        Answer {
            status: StatusCode::from_u16(status).expect("status"),
            body: Bytes::from(serde_json::to_vec(&body).expect("json")),
        }
    }

    #[test]
    fn the_bulk_body_is_action_and_document_lines() {
        let settings = parse(&[("documentId", "{stream}:{revision}")]).expect("valid");
        let events = [event("Order-1", 0), event("Order-1", 1)];
        let body = String::from_utf8(bulk_body(&settings, &events).expect("encodes")).expect("text");
        assert!(body.ends_with('\n'), "a trailing newline");
        let lines: Vec<Value> = body.lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0], json!({"index": {"_index": "events-order", "_id": "Order-1:0"}}), "lowercased index");
        assert_eq!(lines[1]["data"]["total"], 5);
        assert_eq!(lines[3]["revision"], 1);
        let by_event_id = parse(&[]).expect("valid");
        let body = String::from_utf8(bulk_body(&by_event_id, &events[..1]).expect("encodes")).expect("text");
        assert!(body.contains(&events[0].id.to_string()), "the id defaults to the event id");
    }

    #[test]
    fn per_item_errors_reject_load_errors_retry() {
        let events = [event("a-1", 0), event("a-1", 1)];
        let ok = |status: u64| json!({"index": {"_id": "x", "status": status}});
        let failed = |status: u64| json!({"index": {"_id": "x", "status": status, "error": {"type": "mapper_parsing_exception"}}});
        assert!(classify_bulk(&events, &answer(200, json!({"errors": false, "items": [ok(201), ok(200)]}))).is_ok());
        let rejected = classify_bulk(&events, &answer(200, json!({"errors": true, "items": [ok(201), failed(400)]})));
        assert!(
            matches!(&rejected, Err(SinkError::Rejected(reason)) if reason.contains("1@a-1") && reason.contains("mapper")),
            "{rejected:?}"
        );
        let busy = classify_bulk(&events, &answer(200, json!({"errors": true, "items": [failed(400), failed(429)]})));
        assert!(matches!(busy, Err(SinkError::Transient(_))), "load wins: the batch is retried whole");
        assert!(matches!(classify_bulk(&events, &answer(429, json!({}))), Err(SinkError::Transient(_))));
        assert!(matches!(classify_bulk(&events, &answer(503, json!({}))), Err(SinkError::Transient(_))));
        assert!(matches!(classify_bulk(&events, &answer(401, json!({}))), Err(SinkError::Unavailable(_))));
        assert!(matches!(classify_bulk(&events, &answer(400, json!({}))), Err(SinkError::Rejected(_))));
        let short = classify_bulk(&events, &answer(200, json!({"errors": true, "items": [failed(400)]})));
        assert!(matches!(short, Err(SinkError::Transient(_))), "an answer that does not match the request");
    }

    #[test]
    fn bad_settings_name_their_key() {
        assert_eq!(parse(&[("url", "https://h:9200")]).expect_err("https").key, "url");
        assert_eq!(parse(&[("indexName", "a b")]).expect_err("space").key, "indexName");
        assert_eq!(parse(&[("indexName", "_x")]).expect_err("leading _").key, "indexName");
        assert_eq!(parse(&[("indexName", "{nope}")]).expect_err("placeholder").key, "indexName");
        assert_eq!(parse(&[("documentId", "{")]).expect_err("unclosed").key, "documentId");
        assert_eq!(parse(&[("authentication:method", "ApiKey")]).expect_err("no key").key, "authentication:apiKey");
        let keyed = parse(&[("authentication:method", "apikey"), ("authentication:apiKey", "abc")]).expect("valid");
        assert_eq!(keyed.authorization.expect("set"), "ApiKey abc");
    }
}
