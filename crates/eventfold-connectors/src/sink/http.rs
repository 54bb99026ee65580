//! The HTTP webhook sink: each batch goes as one JSON array of events per
//! request (split where a templated URL differs between events, order
//! kept), with the configured method, headers and Basic or Bearer
//! authentication, over plain HTTP/1.1 with one kept-alive connection.
//!
//! A 2xx answer delivers the events; 408, 429 and 5xx answers and timeouts
//! are retried; any other 4xx rejects them (the connector then isolates and
//! dead-letters the event at fault). A target that cannot be connected to
//! is waited for.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use eventfold_store::RecordedEvent;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Uri, header};
use hyper_util::rt::TokioIo;

use super::event_json::event_json;
use super::{Sink, SinkError};
use crate::error::InvalidSettings;
use crate::settings::Reader;
use crate::template::{Template, URL_PLACEHOLDERS, Written};

/// Bounds the answer read back, which is only looked at for errors.
const ERROR_BODY_MAX_CHARS: usize = 200;

#[derive(Clone, Debug)]
pub struct HttpSinkSettings {
    template: Template,
    /// `host:port` every rendered URL shares.
    authority: String,
    method: Method,
    headers: Vec<(header::HeaderName, header::HeaderValue)>,
    request_timeout: Duration,
}

impl HttpSinkSettings {
    pub(crate) fn parse(reader: &Reader<'_>) -> Result<Self, InvalidSettings> {
        let url = reader.required("url")?;
        let template =
            Template::parse(url, &URL_PLACEHOLDERS).map_err(|reason| InvalidSettings::new("url", &reason))?;
        let authority = authority_of(&template)?;
        let method_text = reader.text("method").unwrap_or("POST");
        let method = match method_text.to_ascii_uppercase().as_str() {
            "POST" => Method::POST,
            "PUT" => Method::PUT,
            "PATCH" => Method::PATCH,
            _ => return Err(InvalidSettings::new("method", &format!("`{method_text}` is not POST, PUT or PATCH"))),
        };
        let mut headers = Vec::new();
        if let Some(list) = reader.text("defaultHeaders") {
            for pair in list.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
                let (name, value) = pair
                    .split_once(':')
                    .ok_or_else(|| InvalidSettings::new("defaultHeaders", &format!("`{pair}` is not `Name:Value`")))?;
                headers.push(header_pair("defaultHeaders", name, value)?);
            }
        }
        for (name, value) in reader.section("headers") {
            headers.push(header_pair(&format!("headers:{name}"), name, value)?);
        }
        if let Some(authorization) = super::http_auth::authorization(reader, &super::http_auth::BEARER)? {
            headers.push((header::AUTHORIZATION, authorization));
        }
        let request_timeout = Duration::from_millis(reader.number("requestTimeoutMs", 1..=600_000, 30_000)?);
        Ok(Self { template, authority, method, headers, request_timeout })
    }
}

/// The URL must be plain `http` with a host and port that no placeholder
/// changes: the sink keeps one connection to that authority.
fn authority_of(template: &Template) -> Result<String, InvalidSettings> {
    let authority_with = |sample: &str| -> Result<String, InvalidSettings> {
        let rendered = template.render_sample(sample);
        let uri: Uri =
            rendered.parse().map_err(|_| InvalidSettings::new("url", &format!("`{rendered}` is not a URL")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => return Err(InvalidSettings::new("url", "https is not supported yet; use http")),
            _ => return Err(InvalidSettings::new("url", "must start with http://")),
        }
        let host =
            uri.host().filter(|host| !host.is_empty()).ok_or_else(|| InvalidSettings::new("url", "names no host"))?;
        Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
    };
    let authority = authority_with("a")?;
    if authority_with("b")? != authority {
        return Err(InvalidSettings::new("url", "placeholders may be in the path and query only, not the host"));
    }
    Ok(authority)
}

fn header_pair(
    key: &str,
    name: &str,
    value: &str,
) -> Result<(header::HeaderName, header::HeaderValue), InvalidSettings> {
    let name = header::HeaderName::try_from(name.trim())
        .map_err(|_| InvalidSettings::new(key, &format!("`{name}` is not a header name")))?;
    let value = header::HeaderValue::try_from(value.trim())
        .map_err(|_| InvalidSettings::new(key, "the value is not a valid header value"))?;
    Ok((name, value))
}

pub(crate) struct HttpSink {
    settings: HttpSinkSettings,
    connection: Option<SendRequest<Full<Bytes>>>,
}

impl HttpSink {
    pub fn new(settings: HttpSinkSettings) -> Self {
        Self { settings, connection: None }
    }

    async fn connected(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, SinkError> {
        if let Some(sender) = &mut self.connection
            && sender.ready().await.is_ok()
        {
            return self.connection.as_mut().ok_or_else(|| SinkError::Unavailable("connection lost".into()));
        }
        self.connection = None;
        let authority = &self.settings.authority;
        let unavailable = |error: &dyn std::fmt::Display| SinkError::Unavailable(format!("{authority}: {error}"));
        let stream = tokio::time::timeout(self.settings.request_timeout, tokio::net::TcpStream::connect(authority))
            .await
            .map_err(|_| unavailable(&"connect timed out"))?
            .map_err(|error| unavailable(&error))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| unavailable(&error))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(self.connection.insert(sender))
    }

    async fn post(&mut self, url: &str, events: &[RecordedEvent]) -> Result<(), SinkError> {
        let body: Vec<serde_json::Value> = events.iter().map(event_json).collect();
        let body = serde_json::to_vec(&body).map_err(|error| SinkError::Rejected(format!("encoding: {error}")))?;
        // Sent in origin form (path and query), as HTTP/1.1 servers expect.
        let uri: Uri = url.parse().map_err(|_| SinkError::Rejected(format!("`{url}` is not a URL")))?;
        let target = uri.path_and_query().map_or("/", |path| path.as_str());
        let mut request = Request::builder()
            .method(self.settings.method.clone())
            .uri(target)
            .header(header::HOST, &self.settings.authority)
            .header(header::CONTENT_TYPE, "application/json");
        for (name, value) in &self.settings.headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| SinkError::Rejected(format!("building the request: {error}")))?;
        let timeout = self.settings.request_timeout;
        let outcome = tokio::time::timeout(timeout, async {
            let sender = self.connected().await?;
            let response =
                sender.send_request(request).await.map_err(|error| SinkError::Transient(error.to_string()))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|error| SinkError::Transient(error.to_string()))?;
            Ok::<_, SinkError>((status, body.to_bytes()))
        })
        .await;
        let (status, body) = match outcome {
            Ok(Ok(answer)) => answer,
            Ok(Err(error)) => {
                self.connection = None;
                return Err(error);
            }
            Err(_) => {
                self.connection = None;
                return Err(SinkError::Transient(format!("no answer within {timeout:?}")));
            }
        };
        if status.is_success() {
            return Ok(());
        }
        let text: String = String::from_utf8_lossy(&body).chars().take(ERROR_BODY_MAX_CHARS).collect();
        let reason = format!("HTTP {status}: {text}");
        match status.as_u16() {
            408 | 429 => Err(SinkError::Transient(reason)),
            400..=499 => Err(SinkError::Rejected(reason)),
            _ => Err(SinkError::Transient(reason)),
        }
    }
}

#[async_trait]
impl Sink for HttpSink {
    fn keeps_checkpoint(&self) -> bool {
        false
    }

    /// The URL was checked when the settings were read; the receiver need
    /// not be up at create (the connector waits for it).
    async fn validate(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    async fn stored_checkpoint(&mut self) -> Result<Option<u64>, SinkError> {
        Ok(None)
    }

    async fn deliver(&mut self, events: &[RecordedEvent], _checkpoint: u64) -> Result<(), SinkError> {
        if self.settings.template.is_fixed() {
            if events.is_empty() {
                return Ok(());
            }
            let url = self.settings.template.render_sample("");
            return self.post(&url, events).await;
        }
        // Consecutive events with the same URL share a request; the
        // requests go in the events' order.
        let urls = events
            .iter()
            .map(|event| {
                self.settings.template.render(event, None, Written::PercentEncoded).map_err(|reason| {
                    SinkError::Rejected(format!("event {}@{}: url: {reason}", event.revision, event.stream))
                })
            })
            .collect::<Result<Vec<String>, SinkError>>()?;
        let mut start = 0;
        while start < events.len() {
            let mut end = start + 1;
            while end < events.len() && urls[end] == urls[start] {
                end += 1;
            }
            self.post(&urls[start], &events[start..end]).await?;
            start = end;
        }
        Ok(())
    }

    async fn reset(&mut self, _checkpoint: Option<u64>) -> Result<(), SinkError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<HttpSinkSettings, InvalidSettings> {
        HttpSinkSettings::parse(&Reader(&crate::testing::raw(pairs)))
    }

    #[test]
    fn headers_and_auth_become_request_headers() {
        let settings = parse(&[
            ("url", "http://127.0.0.1:8080/hook/{stream}"),
            ("defaultHeaders", "X-One:1, X-Two: 2"),
            ("headers:X-Three", "3"),
            ("authentication:method", "Basic"),
            ("authentication:basic:username", "admin"),
            ("authentication:basic:password", "changeit"),
        ])
        .expect("valid");
        assert_eq!(settings.authority, "127.0.0.1:8080");
        let names: Vec<&str> = settings.headers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["x-one", "x-two", "x-three", "authorization"]);
        assert_eq!(settings.headers[3].1, "Basic YWRtaW46Y2hhbmdlaXQ=");
        let bearer =
            parse(&[("url", "http://h/x"), ("authentication:method", "bearer"), ("authentication:bearer:token", "t")])
                .expect("valid");
        assert_eq!(bearer.headers[0].1, "Bearer t");
        assert_eq!(bearer.authority, "h:80");
    }

    #[test]
    fn malformed_urls_are_refused() {
        for url in ["not a url", "ftp://h/x", "https://h/x", "http://{stream}/x", "http:///x", "http://h/{nope}"] {
            let error = parse(&[("url", url)]).expect_err(url);
            assert_eq!(error.key, "url", "{url}: {error}");
        }
        // The URL's placeholders are the event's names and numbers only:
        // no log position, no data.
        for url in ["http://h/{position}", "http://h/{data}", "http://h/{/orderId}"] {
            let error = parse(&[("url", url)]).expect_err(url);
            assert!(error.to_string().contains("unknown placeholder"), "{url}: {error}");
        }
        assert_eq!(parse(&[]).expect_err("no url").key, "url");
        assert_eq!(parse(&[("url", "http://h/x"), ("method", "GET")]).expect_err("GET").key, "method");
        assert!(parse(&[("url", "http://h/x"), ("authentication:method", "basic")]).is_err(), "no username");
    }
}
