//! Connections: accepting them, bounding them, timing them out, and handing
//! each to hyper, which speaks HTTP/1.1 or HTTP/2 (gRPC) on the one port.
//!
//! A client must not be able to starve the server of file descriptors (the
//! writer needs them to roll segments): connections are capped, one that
//! sends no whole request in time or stays idle too long is closed, and
//! HTTP/2 keep-alive pings drop peers that went away.
//!
//! With TLS, the handshake runs inside the first-request timeout: a client
//! that connects and never finishes it is dropped like one that sends
//! nothing, and a failed handshake ends only its own connection.

mod activity;
mod quick_ack;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use eventfold_node::OpenConnections;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

use activity::{Activity, TrackedBody};
use quick_ack::QuickAck;

use crate::tls::ServerTls;

/// Limits on connections. The defaults suit a server with the usual limit of
/// open files raised (the CLI raises its soft limit to the hard one).
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Time a new connection has to send its first whole request (HTTP/2:
    /// preface, settings and a request's headers), and an HTTP/1.1
    /// connection to send each request's headers.
    pub request_header_timeout: Duration,
    /// A connection with no open request (and so no open stream, such as a
    /// subscription) for this long is closed gracefully.
    pub idle_timeout: Duration,
    /// HTTP/2 keep-alive: a ping after this long without a frame from the peer...
    pub keep_alive_interval: Duration,
    /// ...and the connection is closed when the ping's answer takes longer.
    pub keep_alive_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            request_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keep_alive_interval: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, asks every connection to finish its open requests, and returns
/// once all have closed. `open` counts the connections served meanwhile.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<ServerTls>,
    open: OpenConnections,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let max_connections = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max_connections));
    let (stopping, stop) = watch::channel(false);
    let builder = Arc::new(builder(&limits));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors, or a connection reset before it
                // was accepted: wait a little rather than spin, keep serving.
                tracing::warn!(%error, "could not accept a connection");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        // Small responses (an append's ack, a live event) must leave at once,
        // not wait for Nagle's algorithm to meet the peer's delayed ACK.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
        let connection = Connection {
            builder: Arc::clone(&builder),
            app: app.clone(),
            limits: limits.clone(),
            tls: tls.as_ref().map(ServerTls::acceptor),
            stop: stop.clone(),
        };
        let counted = open.open();
        tokio::spawn(async move {
            connection.run(stream, peer).await;
            drop(counted);
            drop(slot);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection holds a slot until it has closed.
    let closed = slots.acquire_many(u32::try_from(max_connections).unwrap_or(u32::MAX)).await;
    drop(closed);
    Ok(())
}

const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How long an idle connection asked to close may take before it is dropped.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(5);

fn builder(limits: &ConnectionLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.request_header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.keep_alive_interval)
        .keep_alive_timeout(limits.keep_alive_timeout);
    builder
}

struct Connection {
    builder: Arc<auto::Builder<TokioExecutor>>,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(self, stream: tokio::net::TcpStream, peer: std::net::SocketAddr) {
        // The first-request clock starts now, before any handshake.
        let activity = Activity::new();
        // TLS wraps the quick-ACK socket, so that every read of the socket
        // itself still acknowledges at once.
        let stream = QuickAck::new(stream);
        let Some(acceptor) = self.tls.clone() else {
            return self.serve(stream, activity, peer).await;
        };
        match tokio::time::timeout(self.limits.request_header_timeout, acceptor.accept(stream)).await {
            Ok(Ok(secured)) => self.serve(secured, activity, peer).await,
            Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed; closing the connection"),
            Err(_) => tracing::debug!("TLS handshake not finished within the first-request timeout; closing"),
        }
    }

    async fn serve<S>(mut self, stream: S, activity: Activity, peer: std::net::SocketAddr)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = {
            let activity = activity.clone();
            let app = self.app.clone();
            hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                let guard = activity.begin();
                // Who is calling, for the failed-login limit.
                request.extensions_mut().insert(crate::auth::PeerAddress(peer));
                let app = app.clone();
                async move {
                    let response = app.oneshot(request.map(axum::body::Body::new)).await;
                    let response = match response {
                        Ok(response) => response,
                        Err(never) => match never {},
                    };
                    Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, guard)))
                }
            })
        };
        let connection = self.builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        tokio::pin!(connection);
        let mut closing = false;
        // An idle connection is asked to close, then dropped if it does not
        // within the grace period (a peer that stopped reading).
        let mut idle_close_deadline = None;
        loop {
            let hard_close = async {
                match idle_close_deadline {
                    Some(deadline) => tokio::time::sleep_until(deadline).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                    return;
                }
                () = activity.idle(self.limits.request_header_timeout, self.limits.idle_timeout), if !closing => {
                    tracing::debug!("closing an idle connection");
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                    idle_close_deadline = Some(tokio::time::Instant::now() + IDLE_CLOSE_GRACE);
                }
                _ = self.stop.wait_for(|stopping| *stopping), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = hard_close => {
                    tracing::debug!("dropping an idle connection that did not close");
                    return;
                }
            }
        }
    }
}
