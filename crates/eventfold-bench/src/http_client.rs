//! The bench's client for eventfold's JSON API: plain HTTP/1.1 through
//! hyper, over keep-alive connections kept in a pool (one per concurrent
//! caller at most, as a browser or a service's HTTP client keeps them), so
//! the figures measure the API and not connection set-up.

use std::sync::{Arc, Mutex};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use eventfold_store::{CurrentRevision, ExpectedRevision};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::target::AppendResult;

/// Events a read asks for per request: the API's page limit.
const PAGE_EVENTS: u64 = 10_000;

#[derive(Clone)]
pub struct HttpClient {
    /// `host:port`.
    authority: String,
    idle: Arc<Mutex<Vec<SendRequest<Full<Bytes>>>>>,
}

impl HttpClient {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let authority = url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/').to_owned();
        let client = Self { authority, idle: Arc::new(Mutex::new(Vec::new())) };
        // Fail at once, not on the first measured call.
        let connection = client.open().await?;
        client.release(connection);
        Ok(client)
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .with_context(|| format!("connecting to {}", self.authority))?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.context("HTTP/1.1 handshake")?;
        tokio::spawn(connection);
        Ok(sender)
    }

    /// An idle keep-alive connection, or a new one.
    async fn take(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        loop {
            let idle = self.idle.lock().map_err(|_| anyhow::anyhow!("pool poisoned"))?.pop();
            match idle {
                Some(sender) if !sender.is_closed() => return Ok(sender),
                Some(_) => continue,
                None => return self.open().await,
            }
        }
    }

    fn release(&self, sender: SendRequest<Full<Bytes>>) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(sender);
        }
    }

    /// One request, its whole body read, the connection back in the pool.
    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut sender = self.take().await?;
        sender.ready().await.context("connection ready")?;
        let mut request = Request::builder().method(method).uri(path).header("host", &self.authority);
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Full::new(Bytes::from(body.unwrap_or_default()))).context("request")?;
        let response = sender.send_request(request).await.with_context(|| format!("calling {path}"))?;
        let status = response.status();
        let body = response.into_body().collect().await.context("reading the answer")?.to_bytes();
        self.release(sender);
        Ok((status, body))
    }

    pub async fn append(
        &self,
        stream: &str,
        expected: ExpectedRevision,
        bodies: Vec<Vec<u8>>,
    ) -> anyhow::Result<AppendResult> {
        let expected = match expected {
            ExpectedRevision::Any => "\"any\"".to_owned(),
            ExpectedRevision::NoStream => "\"noStream\"".to_owned(),
            ExpectedRevision::StreamExists => "\"streamExists\"".to_owned(),
            ExpectedRevision::Exact(revision) => revision.to_string(),
        };
        // The bodies are JSON documents already: spliced in, not re-parsed.
        let mut json = format!("{{\"expectedRevision\":{expected},\"events\":[").into_bytes();
        for (index, body) in bodies.iter().enumerate() {
            if index > 0 {
                json.push(b',');
            }
            json.extend_from_slice(b"{\"type\":\"OrderPlaced\",\"data\":");
            json.extend_from_slice(body);
            json.push(b'}');
        }
        json.extend_from_slice(b"]}");
        let (status, answer) = self.call(Method::POST, &format!("/api/v1/streams/{stream}"), Some(json)).await?;
        match status {
            StatusCode::OK => Ok(AppendResult::Written),
            StatusCode::CONFLICT => {
                let answer: Value = serde_json::from_slice(&answer).context("the conflict's body")?;
                let actual = match answer["currentRevision"].as_i64() {
                    Some(revision) if revision >= 0 => CurrentRevision::Current(revision.unsigned_abs()),
                    _ => CurrentRevision::NoStream,
                };
                Ok(AppendResult::Conflict { actual })
            }
            other => bail!("append answered {other}: {}", String::from_utf8_lossy(&answer)),
        }
    }

    /// Reads a stream, or `$all` for None, page after page to the end.
    pub async fn read_to_end(&self, stream: Option<&str>) -> anyhow::Result<u64> {
        let mut count = 0;
        let mut from = 0u64;
        loop {
            let path = match stream {
                Some(stream) => format!("/api/v1/streams/{stream}?from={from}&limit={PAGE_EVENTS}"),
                None => format!("/api/v1/all?from={from}&limit={PAGE_EVENTS}"),
            };
            let (status, body) = self.call(Method::GET, &path, None).await?;
            ensure!(status == StatusCode::OK, "read answered {status}: {}", String::from_utf8_lossy(&body));
            let lines: Vec<&[u8]> = body.split(|byte| *byte == b'\n').filter(|line| !line.is_empty()).collect();
            count += lines.len() as u64;
            let Some(last) = lines.last() else { return Ok(count) };
            if (lines.len() as u64) < PAGE_EVENTS {
                return Ok(count);
            }
            let last: Value = serde_json::from_slice(last).context("the last event of a page")?;
            from = match stream {
                Some(_) => last["revision"].as_u64().context("a revision")? + 1,
                None => last["position"].as_str().and_then(|text| text.parse::<u64>().ok()).context("a position")? + 1,
            };
        }
    }
}
