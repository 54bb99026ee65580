//! A connection that acknowledges what it reads at once.
//!
//! A client that leaves Nagle's algorithm on (hyper's client connector does)
//! sends a gRPC call as several small segments and holds each after the first
//! until the first is acknowledged. The server has nothing to send until the
//! whole call has arrived, so its kernel delays that ACK (~40 ms on Linux):
//! every small call then takes 40 ms. Asking for a quick ACK after each read
//! sends any pending ACK right away; the kernel clears the flag by itself,
//! hence after every read, not once.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub(crate) struct QuickAck {
    stream: TcpStream,
    /// Off once the socket refused the option (not TCP, another OS): one
    /// failed system call, not one per read.
    enabled: bool,
}

impl QuickAck {
    pub fn new(stream: TcpStream) -> Self {
        Self { stream, enabled: true }
    }

    fn acknowledge(&mut self) {
        if !self.enabled {
            return;
        }
        if let Err(error) = rustix::net::sockopt::set_tcp_quickack(&self.stream, true) {
            tracing::debug!(%error, "TCP_QUICKACK refused; reads of this connection go without it");
            self.enabled = false;
        }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(self: Pin<&mut Self>, context: &mut Context<'_>, buffer: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buffer.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(context, buffer);
        if matches!(polled, Poll::Ready(Ok(()))) && buffer.filled().len() > before {
            this.acknowledge();
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(context, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(context)
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(context)
    }
}
