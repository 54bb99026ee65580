//! The S3-compatible object storage sink, for archives and data lakes:
//! each batch becomes one gzip-compressed object of newline-delimited JSON
//! (one event per line, as the HTTP sink posts it), named by the log
//! positions of its first and last events, zero-padded so that names sort
//! in log order: `<prefix>/<first>-<last>.ndjson.gz`.
//!
//! Requests are signed with SigV4 and addressed path-style
//! (`/<bucket>/<key>`), as S3-compatible servers expect. The payload's
//! SHA-256 is signed, so the server refuses a body damaged on the way.
//!
//! At least once. An object's name depends only on the events it holds, so
//! sending the same batch again (a retry after a timeout, a restart from
//! the checkpoint, which always falls at a batch boundary) overwrites the
//! same object instead of adding one. A batch sent again with a different
//! last event (batches close on size or time) leaves two objects whose
//! ranges overlap; every line carries its `position`, which readers use to
//! drop the repeats.
//!
//! Settings: `endpoint` (`http://host:port`), `bucket`, `prefix`, `region`
//! (`us-east-1`), `authentication:accessKeyId`,
//! `authentication:secretAccessKey`, `authentication:sessionToken`,
//! `requestTimeoutMs`.

use std::io::Write as _;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use eventfold_store::RecordedEvent;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};

use super::event_json::event_json;
use super::http1::{Answer, Http1Connection, endpoint_authority};
use super::sigv4::{CanonicalRequest, Credentials, amz_date, authorization, sha256_hex, uri_encode};
use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;

/// Digits of the largest `u64`: every position pads to the same width.
const POSITION_DIGITS: usize = 20;
const OBJECT_SUFFIX: &str = ".ndjson.gz";
const OBJECT_CONTENT_TYPE: &str = "application/gzip";

#[derive(Clone, Debug)]
pub struct S3SinkSettings {
    authority: String,
    bucket: String,
    /// Without leading or trailing `/`; empty for the bucket's root.
    prefix: String,
    region: String,
    credentials: Credentials,
    request_timeout: Duration,
}

impl S3SinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let authority = endpoint_authority("endpoint", reader.required("endpoint")?)?;
        let bucket = reader.required("bucket")?.trim().to_owned();
        check_bucket_name(&bucket).map_err(|reason| InvalidSettings::new("bucket", &reason))?;
        let prefix = reader.text("prefix").unwrap_or("").trim().trim_matches('/').to_owned();
        if prefix.contains("//") || prefix.chars().any(char::is_control) {
            return Err(InvalidSettings::new("prefix", "has an empty segment (`//`) or a control character"));
        }
        let region = reader.text("region").unwrap_or("us-east-1").trim().to_owned();
        if region.is_empty() || !region.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(InvalidSettings::new("region", &format!("`{region}` is not a region name")));
        }
        let credentials = Credentials {
            access_key_id: reader.required("authentication:accessKeyId")?.trim().to_owned(),
            secret_access_key: reader.required("authentication:secretAccessKey")?.to_owned(),
            session_token: reader.text("authentication:sessionToken").map(str::to_owned),
        };
        let request_timeout = Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 30_000)?);
        Ok(Self { authority, bucket, prefix, region, credentials, request_timeout })
    }

    /// The object holding the events from `first` to `last` (log positions).
    pub(crate) fn object_key(&self, first: u64, last: u64) -> String {
        let name = format!("{first:0POSITION_DIGITS$}-{last:0POSITION_DIGITS$}{OBJECT_SUFFIX}");
        if self.prefix.is_empty() { name } else { format!("{}/{name}", self.prefix) }
    }
}

/// The rules S3 sets for new bucket names, which also keep a name safe in
/// a path: 3 to 63 lowercase letters, digits, `.` and `-`, starting and
/// ending with a letter or digit.
fn check_bucket_name(name: &str) -> Result<(), String> {
    let allowed =
        name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'.' || byte == b'-');
    let ends_ok = |byte: Option<u8>| byte.is_some_and(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
    if (3..=63).contains(&name.len()) && allowed && ends_ok(name.bytes().next()) && ends_ok(name.bytes().last()) {
        Ok(())
    } else {
        Err(format!("`{name}` is not a bucket name (3 to 63 of a-z, 0-9, `.`, `-`)"))
    }
}

/// The events as gzip-compressed lines of JSON, one event per line, each
/// line ending in `\n`.
pub(crate) fn encode_object(events: &[RecordedEvent]) -> Result<Vec<u8>, String> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for event in events {
        serde_json::to_writer(&mut encoder, &event_json(event)).map_err(|error| error.to_string())?;
        encoder.write_all(b"\n").map_err(|error| error.to_string())?;
    }
    encoder.finish().map_err(|error| error.to_string())
}

pub(crate) struct S3Sink {
    settings: S3SinkSettings,
    connection: Http1Connection,
}

impl S3Sink {
    pub fn new(settings: S3SinkSettings) -> Self {
        let connection = Http1Connection::new(&settings.authority, settings.request_timeout);
        Self { settings, connection }
    }

    /// Sends one signed request, path-style, to `/<bucket>[/<key>]`.
    async fn send(&mut self, method: Method, key: Option<&str>, body: Vec<u8>) -> Result<Answer, SinkError> {
        let settings = &self.settings;
        let mut path = format!("/{}", uri_encode(&settings.bucket, false));
        if let Some(key) = key {
            path.push('/');
            path.push_str(&uri_encode(key, true));
        }
        let payload_sha256 = sha256_hex(&body);
        let date = amz_date(SystemTime::now());
        let mut headers = vec![
            ("host".to_owned(), self.connection.authority().to_owned()),
            ("x-amz-content-sha256".to_owned(), payload_sha256.clone()),
            ("x-amz-date".to_owned(), date.clone()),
        ];
        if let Some(token) = &settings.credentials.session_token {
            headers.push(("x-amz-security-token".to_owned(), token.clone()));
        }
        let signed = CanonicalRequest {
            method: method.as_str(),
            path: &path,
            query: &[],
            headers: &headers,
            payload_sha256: &payload_sha256,
        };
        let authorization = authorization(&signed, &settings.credentials, &settings.region, "s3", &date);
        let mut request =
            Request::builder().method(method).uri(&path).header(hyper::header::AUTHORIZATION, authorization);
        for (name, value) in headers.iter().filter(|(name, _)| name != "host") {
            request = request.header(name.as_str(), value.as_str());
        }
        if key.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, OBJECT_CONTENT_TYPE);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| SinkError::Rejected(format!("building the request: {error}")))?;
        self.connection.send(request).await
    }
}

#[async_trait]
impl Sink for S3Sink {
    fn keeps_checkpoint(&self) -> bool {
        false
    }

    /// The bucket must exist and the credentials reach it.
    async fn validate(&mut self) -> Result<(), SinkError> {
        let answer = self.send(Method::HEAD, None, Vec::new()).await?;
        let bucket = &self.settings.bucket;
        match answer.status {
            status if status.is_success() => Ok(()),
            StatusCode::NOT_FOUND => Err(SinkError::Rejected(format!("bucket `{bucket}` does not exist"))),
            StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED => {
                Err(SinkError::Rejected(format!("access to bucket `{bucket}` is denied ({})", answer.status)))
            }
            StatusCode::MOVED_PERMANENTLY => {
                Err(SinkError::Rejected(format!("bucket `{bucket}` is not in region `{}`", self.settings.region)))
            }
            status => Err(SinkError::Rejected(format!("checking bucket `{bucket}`: HTTP {status}"))),
        }
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], _checkpoint: u64) -> Result<(), SinkError> {
        let (Some(first), Some(last)) = (events.first(), events.last()) else { return Ok(()) };
        let key = self.settings.object_key(first.position.0, last.position.0);
        let body = encode_object(events).map_err(|reason| SinkError::Rejected(format!("encoding: {reason}")))?;
        let answer = self.send(Method::PUT, Some(&key), body).await?;
        classify_put(&key, &answer)
    }

    async fn reset(&mut self, _checkpoint: Option<u64>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// What a PUT's answer means. No object's content can make the server
/// refuse it except its size: a refusal of any other kind (credentials,
/// a missing bucket, a wrong region) is the target's, waited on with the
/// reason shown, rather than a reason to dead-letter every event.
fn classify_put(key: &str, answer: &Answer) -> Result<(), SinkError> {
    let status = answer.status;
    if status.is_success() {
        return Ok(());
    }
    let reason = format!("PUT {key}: HTTP {status}: {}", answer.quoted());
    match status.as_u16() {
        400 if reason.contains("EntityTooLarge") => Err(SinkError::Rejected(reason)),
        408 | 429 | 500..=599 => Err(SinkError::Transient(reason)),
        _ => Err(SinkError::Unavailable(reason)),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::settings::RawSettings;

    fn parse(pairs: &[(&str, &str)]) -> Result<S3SinkSettings, InvalidSettings> {
        let mut raw: RawSettings = [
            ("endpoint", "http://127.0.0.1:9000"),
            ("bucket", "archive"),
            ("authentication:accessKeyId", "key"),
            ("authentication:secretAccessKey", "secret"),
        ]
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
        for (key, value) in pairs {
            raw.insert((*key).to_owned(), (*value).to_owned());
        }
        S3SinkSettings::parse(&Reader(&raw))
    }

    fn event(position: u64, data: &'static [u8]) -> RecordedEvent {
        crate::testing::recorded("order-1", "Placed", position / 10, position, Bytes::from_static(data))
    }

    #[test]
    fn object_names_are_padded_position_ranges_that_sort() {
        let settings = parse(&[("prefix", "/lake/orders/")]).expect("valid");
        assert_eq!(settings.object_key(7, 1234), "lake/orders/00000000000000000007-00000000000000001234.ndjson.gz");
        let root = parse(&[]).expect("valid");
        assert_eq!(root.object_key(u64::MAX, u64::MAX), format!("{}-{}.ndjson.gz", u64::MAX, u64::MAX));
        let mut names = [root.object_key(100, 900), root.object_key(9, 99), root.object_key(1000, 1000)];
        names.sort();
        assert_eq!(names, [root.object_key(9, 99), root.object_key(100, 900), root.object_key(1000, 1000)]);
    }

    #[test]
    fn objects_are_gzip_lines_of_events_in_order() {
        let events = [event(10, br#"{"n":1}"#), event(20, br#"{"n":2}"#)];
        let object = encode_object(&events).expect("encodes");
        let mut text = String::new();
        flate2::read::GzDecoder::new(object.as_slice()).read_to_string(&mut text).expect("gunzip");
        assert!(text.ends_with('\n'));
        let lines: Vec<serde_json::Value> =
            text.lines().map(|line| serde_json::from_str(line).expect("JSON line")).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0]["position"].as_u64(), lines[1]["data"]["n"].as_u64()), (Some(10), Some(2)));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (&[("endpoint", "https://s3.example")], "endpoint"),
            (&[("endpoint", "http://h/bucket")], "endpoint"),
            (&[("bucket", "Bad_Name")], "bucket"),
            (&[("bucket", "ab")], "bucket"),
            (&[("region", "us east")], "region"),
            (&[("authentication:secretAccessKey", "")], "authentication:secretAccessKey"),
            (&[("prefix", "a//b")], "prefix"),
        ];
        for (pairs, key) in cases {
            assert_eq!(parse(pairs).expect_err(key).key, key);
        }
        assert!(
            format!("{:?}", parse(&[]).expect("valid")).contains("key")
                && !format!("{:?}", parse(&[]).expect("valid")).contains("secret")
        );
    }

    #[test]
    fn only_a_too_large_object_rejects_its_events() {
        let answer = |status: u16, body: &'static str| Answer {
            status: StatusCode::from_u16(status).expect("status"),
            body: Bytes::from_static(body.as_bytes()),
        };
        assert!(classify_put("k", &answer(200, "")).is_ok());
        assert!(matches!(classify_put("k", &answer(400, "<Code>EntityTooLarge</Code>")), Err(SinkError::Rejected(_))));
        assert!(matches!(classify_put("k", &answer(503, "SlowDown")), Err(SinkError::Transient(_))));
        assert!(matches!(classify_put("k", &answer(404, "NoSuchBucket")), Err(SinkError::Unavailable(_))));
        assert!(matches!(classify_put("k", &answer(403, "")), Err(SinkError::Unavailable(_))));
    }
}
