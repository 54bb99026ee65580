use crate::event::Expected;

/// What a call can fail with. Conflicts and missing or deleted streams are
/// their own variants, since callers branch on them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("`{url}` is not a server address: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("connecting to {url}: {}", causes(source))]
    Connect { url: String, source: tonic::transport::Error },
    #[error("TLS cannot be set up: {reason}")]
    Tls { reason: String },
    #[error("stream `{stream}` is not at the expected revision: expected {expected}, actual {actual}")]
    WrongExpectedVersion { stream: String, expected: Expected, actual: Expected },
    #[error("stream `{stream}` not found")]
    StreamNotFound { stream: String },
    #[error("stream `{stream}` is deleted")]
    StreamDeleted { stream: String },
    #[error("access denied: {message}")]
    AccessDenied { message: String },
    #[error("the server answered {code:?}: {message}")]
    Server { code: tonic::Code, message: String },
    #[error("the server's answer breaks the protocol: {0}")]
    Protocol(String),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

/// `error` and its sources, one after the other: tonic's own message is only
/// "transport error", the cause (a refused connection, a certificate the CA
/// did not issue) lies below it.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Wrappers often repeat their cause's message as their own.
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

impl ClientError {
    /// Maps a status by the `exception` trailer the servers attach, else by
    /// code and message text, as the official clients do.
    pub(crate) fn from_status(status: tonic::Status, stream: &str) -> Self {
        let exception = status.metadata().get("exception").and_then(|value| value.to_str().ok()).unwrap_or("");
        let message = status.message().to_owned();
        match exception {
            "stream-deleted" => return Self::StreamDeleted { stream: stream.to_owned() },
            "access-denied" => return Self::AccessDenied { message },
            "wrong-expected-version" => {
                let number = |key: &str| {
                    status
                        .metadata()
                        .get(key)
                        .and_then(|value| value.to_str().ok())
                        .and_then(|text| text.parse::<i64>().ok())
                };
                let revision = |value: Option<i64>| match value {
                    Some(value) if value >= 0 => Expected::Revision(value.unsigned_abs()),
                    Some(-1) => Expected::NoStream,
                    _ => Expected::Any,
                };
                return Self::WrongExpectedVersion {
                    stream: stream.to_owned(),
                    expected: revision(number("expected-version")),
                    actual: revision(number("actual-version")),
                };
            }
            _ => {}
        }
        match status.code() {
            tonic::Code::FailedPrecondition if message.contains("is deleted") => {
                Self::StreamDeleted { stream: stream.to_owned() }
            }
            tonic::Code::PermissionDenied => Self::AccessDenied { message },
            code => Self::Server { code, message },
        }
    }
}
