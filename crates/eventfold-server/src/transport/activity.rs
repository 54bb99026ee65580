//! What a connection is doing, for the idle and first-request timeouts: the
//! number of requests whose response is still open, and since when it has had
//! none. A request counts from its headers until its response body ends or is
//! dropped, so a quiet subscription is not idle, and a connection that never
//! sends a whole request is.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::{Frame, SizeHint};
use tokio::time::Instant;

#[derive(Clone)]
pub(crate) struct Activity {
    inner: Arc<Inner>,
}

struct Inner {
    open_requests: AtomicUsize,
    /// When the connection last had no open request.
    idle_since: Mutex<Instant>,
    /// A first request arrived: from then on the idle timeout applies.
    served: AtomicBool,
}

impl Activity {
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                open_requests: AtomicUsize::new(0),
                idle_since: Mutex::new(Instant::now()),
                served: AtomicBool::new(false),
            }),
        }
    }

    /// Counts a request as open until the returned guard is dropped.
    pub fn begin(&self) -> RequestGuard {
        self.inner.open_requests.fetch_add(1, Ordering::AcqRel);
        self.inner.served.store(true, Ordering::Relaxed);
        RequestGuard { activity: self.clone() }
    }

    /// Completes once the connection has been without an open request for
    /// `idle` (or, before its first request, for `first_request`).
    pub async fn idle(&self, first_request: Duration, idle: Duration) {
        loop {
            let limit = if self.inner.served.load(Ordering::Relaxed) { idle } else { first_request };
            if self.inner.open_requests.load(Ordering::Acquire) > 0 {
                // Busy: look again after a full period; the idle clock starts
                // when the last open request ends.
                tokio::time::sleep(limit).await;
                continue;
            }
            let deadline = self.idle_since() + limit;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }

    fn idle_since(&self) -> Instant {
        match self.inner.idle_since.lock() {
            Ok(since) => *since,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

pub(crate) struct RequestGuard {
    activity: Activity,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let inner = &self.activity.inner;
        if inner.open_requests.fetch_sub(1, Ordering::AcqRel) == 1 {
            let mut since = match inner.idle_since.lock() {
                Ok(since) => since,
                Err(poisoned) => poisoned.into_inner(),
            };
            *since = Instant::now();
        }
    }
}

/// A response body that keeps its request counted as open while it lasts.
pub(crate) struct TrackedBody {
    body: Body,
    _guard: RequestGuard,
}

impl TrackedBody {
    pub fn new(body: Body, guard: RequestGuard) -> Self {
        Self { body, _guard: guard }
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
