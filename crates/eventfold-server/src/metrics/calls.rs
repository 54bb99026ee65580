//! Every request's metrics, in one middleware over the whole router.
//!
//! gRPC calls get KurrentDB's: `kurrentdb_incoming_grpc_calls_total{kind}`,
//! `kurrentdb_current_incoming_grpc_calls`, and for the client protocol's
//! stream methods `kurrentdb_grpc_method_duration_seconds{activity,status}`.
//! A gRPC call ends when its response body does (a subscription is current
//! for as long as it is open), and its status comes in the trailers or, for
//! an error answered at once, in the headers. HTTP requests get eventfold's
//! `eventfold_http_request_duration_seconds{method,route,status}`, timed to
//! the response's headers.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use metrics::{counter, gauge, histogram};

pub mod names {
    //! The metric names of gRPC calls and HTTP requests.
    pub const INCOMING_GRPC_CALLS: &str = "kurrentdb_incoming_grpc_calls_total";
    pub const CURRENT_INCOMING_GRPC_CALLS: &str = "kurrentdb_current_incoming_grpc_calls";
    pub const GRPC_METHOD_DURATION: &str = "kurrentdb_grpc_method_duration_seconds";
    pub const HTTP_REQUEST_DURATION: &str = "eventfold_http_request_duration_seconds";
}

/// gRPC status codes that KurrentDB counts under their own kind.
const DEADLINE_EXCEEDED: u8 = 4;
const UNIMPLEMENTED: u8 = 12;

/// The kinds of `kurrentdb_incoming_grpc_calls_total`.
const KINDS: [&str; 4] = ["total", "failed", "unimplemented", "deadline-exceeded"];

/// Registers every kind of call at zero, as Prometheus advises for label
/// values known in advance: a dashboard's failure ratio then reads 0, not
/// "no data", until the first failure.
pub(super) fn register() {
    for kind in KINDS {
        counter!(names::INCOMING_GRPC_CALLS, "kind" => kind).increment(0);
    }
    gauge!(names::CURRENT_INCOMING_GRPC_CALLS).increment(0.0);
}

pub(super) async fn track(request: Request, next: Next) -> Response {
    if is_grpc(request.headers()) {
        let call = GrpcCall::begin(request.uri().path(), grpc_timeout(request.headers()));
        let response = next.run(request).await;
        match grpc_status(response.headers()) {
            // Answered with its status at once (trailers-only): done.
            Some(status) => {
                call.end(Some(status));
                response
            }
            None => response.map(|body| Body::new(ObservedBody { inner: body, call: Some(call) })),
        }
    } else {
        let began = Instant::now();
        let method = request.method().as_str().to_owned();
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
        let response = next.run(request).await;
        let status = response.status().as_u16().to_string();
        histogram!(names::HTTP_REQUEST_DURATION, "method" => method, "route" => route, "status" => status)
            .record(began.elapsed().as_secs_f64());
        response
    }
}

/// The current-calls gauge changes only when calls begin or end; it is set
/// again at each scrape so that the exporter does not forget it while
/// nothing happens (see `GAUGE_IDLE_TIMEOUT`).
pub(super) fn refresh_gauges() {
    gauge!(names::CURRENT_INCOMING_GRPC_CALLS).increment(0.0);
}

fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|content_type| content_type.starts_with("application/grpc"))
}

fn grpc_status(headers: &HeaderMap) -> Option<u8> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// KurrentDB's activity names for the client protocol's stream methods;
/// other methods are counted but not timed, as in KurrentDB.
fn activity(path: &str) -> Option<&'static str> {
    if path == "/kurrentdb.protocol.v2.streams.StreamsService/AppendSession" {
        return Some("append");
    }
    match path.strip_prefix("/event_store.client.streams.Streams/")? {
        "Read" => Some("read"),
        "Append" | "BatchAppend" => Some("append"),
        "Delete" => Some("delete"),
        "Tombstone" => Some("tombstone"),
        _ => None,
    }
}

/// The client's deadline for the call (`grpc-timeout`: up to eight digits
/// and a unit, hours to nanoseconds).
fn grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    // `to_str` admits visible ASCII only, so the unit is one byte.
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let amount: u64 = digits.parse().ok()?;
    match unit {
        "H" => Some(Duration::from_secs(amount.saturating_mul(3600))),
        "M" => Some(Duration::from_secs(amount.saturating_mul(60))),
        "S" => Some(Duration::from_secs(amount)),
        "m" => Some(Duration::from_millis(amount)),
        "u" => Some(Duration::from_micros(amount)),
        "n" => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

/// How much earlier than its deadline a call may end unanswered and still
/// count as past it: the client's clock started before the request reached
/// the server, so the server sees the cancellation a transit time early.
fn deadline_slack(deadline: Duration) -> Duration {
    (deadline / 10).min(Duration::from_millis(100))
}

/// One gRPC call from its request to the end of its response.
struct GrpcCall {
    began: Instant,
    activity: Option<&'static str>,
    deadline: Option<Duration>,
}

impl GrpcCall {
    fn begin(path: &str, deadline: Option<Duration>) -> Self {
        counter!(names::INCOMING_GRPC_CALLS, "kind" => "total").increment(1);
        gauge!(names::CURRENT_INCOMING_GRPC_CALLS).increment(1.0);
        Self { began: Instant::now(), activity: activity(path), deadline }
    }

    /// `status`: the call's gRPC status, `None` when the response ended
    /// without one: the client went away. If its deadline had passed, it
    /// gave up on the call (the client reports `DEADLINE_EXCEEDED`), which
    /// counts as such; otherwise it cancelled, which is neither a failure
    /// nor a finished call to time.
    fn end(self, status: Option<u8>) {
        gauge!(names::CURRENT_INCOMING_GRPC_CALLS).decrement(1.0);
        let elapsed = self.began.elapsed();
        let status = match status {
            Some(status) => status,
            None if self.deadline.is_some_and(|deadline| elapsed + deadline_slack(deadline) >= deadline) => {
                DEADLINE_EXCEEDED
            }
            None => return,
        };
        let kind = match status {
            0 => None,
            DEADLINE_EXCEEDED => Some("deadline-exceeded"),
            UNIMPLEMENTED => Some("unimplemented"),
            _ => Some("failed"),
        };
        if let Some(kind) = kind {
            counter!(names::INCOMING_GRPC_CALLS, "kind" => kind).increment(1);
        }
        if let Some(activity) = self.activity {
            let status = if status == 0 { "successful" } else { "failed" };
            histogram!(names::GRPC_METHOD_DURATION, "activity" => activity, "status" => status)
                .record(elapsed.as_secs_f64());
        }
    }
}

/// A gRPC response body that ends its call when the trailers go out, or
/// when it is dropped unfinished.
struct ObservedBody {
    inner: Body,
    call: Option<GrpcCall>,
}

impl http_body::Body for ObservedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(trailers) = frame.trailers_ref()
            && let Some(call) = self.call.take()
        {
            call.end(grpc_status(trailers));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ObservedBody {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            call.end(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{HeaderMap, HeaderValue};

    use super::{activity, grpc_timeout};

    #[test]
    fn a_clients_deadline_is_read_in_every_unit() {
        let deadline = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("grpc-timeout", HeaderValue::from_static(value));
            grpc_timeout(&headers)
        };
        assert_eq!(deadline("2S"), Some(Duration::from_secs(2)));
        assert_eq!(deadline("500m"), Some(Duration::from_millis(500)));
        assert_eq!(deadline("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(deadline("30u"), Some(Duration::from_micros(30)));
        assert_eq!(deadline("S"), None);
        assert_eq!(deadline("5x"), None);
        assert_eq!(grpc_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn stream_methods_get_kurrentdbs_activity_names() {
        let method = |name: &str| format!("/event_store.client.streams.Streams/{name}");
        assert_eq!(activity(&method("Read")), Some("read"));
        assert_eq!(activity(&method("Append")), Some("append"));
        assert_eq!(activity(&method("BatchAppend")), Some("append"));
        assert_eq!(activity(&method("Delete")), Some("delete"));
        assert_eq!(activity(&method("Tombstone")), Some("tombstone"));
        assert_eq!(activity("/kurrentdb.protocol.v2.streams.StreamsService/AppendSession"), Some("append"));
        assert_eq!(activity("/event_store.client.gossip.Gossip/Read"), None);
    }
}
