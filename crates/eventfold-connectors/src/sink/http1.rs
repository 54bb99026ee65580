//! One kept-alive HTTP/1.1 connection to one `host:port`, for the sinks
//! that speak HTTP to a fixed server (object storage, search): it connects
//! on first use and again after any failure, and bounds every exchange in
//! time. A server that cannot be connected to is `Unavailable` (waited
//! for); an exchange that fails or times out is `Transient` (retried).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;

use super::SinkError;
use crate::error::InvalidSettings;

/// Bounds the part of an answer quoted in an error.
pub(crate) const QUOTED_BODY_MAX_CHARS: usize = 300;

pub(crate) struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl Answer {
    /// The start of the body, as text, for an error message.
    pub fn quoted(&self) -> String {
        String::from_utf8_lossy(&self.body).chars().take(QUOTED_BODY_MAX_CHARS).collect()
    }
}

pub(crate) struct Http1Connection {
    authority: String,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Http1Connection {
    pub fn new(authority: &str, timeout: Duration) -> Self {
        Self { authority: authority.to_owned(), timeout, sender: None }
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `request` (origin-form target; `Host` is set here) and reads
    /// the whole answer.
    pub async fn send(&mut self, mut request: Request<Full<Bytes>>) -> Result<Answer, SinkError> {
        let host = hyper::header::HeaderValue::try_from(self.authority.as_str())
            .map_err(|_| SinkError::Rejected(format!("`{}` is not a host", self.authority)))?;
        request.headers_mut().insert(hyper::header::HOST, host);
        let timeout = self.timeout;
        let outcome = tokio::time::timeout(timeout, async {
            let sender = self.connected().await?;
            let response =
                sender.send_request(request).await.map_err(|error| SinkError::Transient(error.to_string()))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|error| SinkError::Transient(error.to_string()))?;
            Ok::<_, SinkError>(Answer { status, body: body.to_bytes() })
        })
        .await;
        match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                self.sender = None;
                Err(error)
            }
            Err(_) => {
                self.sender = None;
                Err(SinkError::Transient(format!("{}: no answer within {timeout:?}", self.authority)))
            }
        }
    }

    async fn connected(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, SinkError> {
        if let Some(sender) = &mut self.sender
            && sender.ready().await.is_ok()
        {
            return self.sender.as_mut().ok_or_else(|| SinkError::Unavailable("connection lost".into()));
        }
        self.sender = None;
        let authority = &self.authority;
        let unavailable = |error: &dyn std::fmt::Display| SinkError::Unavailable(format!("{authority}: {error}"));
        let stream = tokio::net::TcpStream::connect(authority).await.map_err(|error| unavailable(&error))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|error| unavailable(&error))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(self.sender.insert(sender))
    }
}

/// A server's base URL, `http://host[:port]` with no path: its `host:port`.
/// TLS is not spoken yet, so `https` is refused with that reason.
pub(crate) fn endpoint_authority(key: &str, text: &str) -> Result<String, InvalidSettings> {
    let uri: Uri = text.trim().parse().map_err(|_| InvalidSettings::new(key, &format!("`{text}` is not a URL")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => return Err(InvalidSettings::new(key, "https is not supported yet; use http")),
        _ => return Err(InvalidSettings::new(key, "must start with http://")),
    }
    let host = uri.host().filter(|host| !host.is_empty()).ok_or_else(|| InvalidSettings::new(key, "names no host"))?;
    if uri.path_and_query().is_some_and(|path| path.as_str() != "/") {
        return Err(InvalidSettings::new(key, "must be the server's base URL, with no path or query"));
    }
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_plain_http_base_urls() {
        assert_eq!(endpoint_authority("endpoint", "http://127.0.0.1:9000").expect("valid"), "127.0.0.1:9000");
        assert_eq!(endpoint_authority("endpoint", "http://search/").expect("valid"), "search:80");
        for bad in ["", "nope", "ftp://h", "https://h", "http://h/path", "http://h/?q=1", "http://:80"] {
            assert_eq!(endpoint_authority("endpoint", bad).expect_err(bad).key, "endpoint", "{bad}");
        }
    }
}
