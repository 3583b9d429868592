//! The TCP side: numbering accepted connections, and tearing one down on demand.
//!
//! Tests want to know how many connections a client opened (connection reuse) and which
//! connection carried each request, and the `Reset` fault needs to kill a connection
//! without an HTTP answer. axum's `Listener` trait lets us wrap every accepted stream.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc,
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{extract::connect_info::Connected, serve::IncomingStream};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
};

pub(crate) struct CountingListener {
    inner: TcpListener,
    accepted: Arc<AtomicUsize>,
}

impl CountingListener {
    pub(crate) fn new(inner: TcpListener, accepted: Arc<AtomicUsize>) -> Self {
        Self { inner, accepted }
    }
}

impl axum::serve::Listener for CountingListener {
    type Io = ConnStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    let id = self.accepted.fetch_add(1, Ordering::SeqCst) + 1;
                    let _ = stream.set_nodelay(true);
                    tracing::debug!(connection_id = id, "accepted connection");
                    let conn = ConnStream {
                        inner: stream,
                        id,
                        reset: Arc::new(AtomicBool::new(false)),
                    };
                    return (conn, remote);
                }
                Err(e) => {
                    // Like axum's own listener: log, back off briefly on resource errors.
                    tracing::debug!("accept error: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// An accepted stream that can be told to abort (RST) instead of answering.
pub(crate) struct ConnStream {
    inner: TcpStream,
    id: usize,
    reset: Arc<AtomicBool>,
}

impl ConnStream {
    /// Once reset is requested, every further I/O fails; hyper then drops the stream, and
    /// zero linger makes the close an RST rather than a FIN.
    fn check_reset(&self) -> Option<io::Error> {
        if self.reset.load(Ordering::SeqCst) {
            let _ = self.inner.set_zero_linger();
            Some(io::ErrorKind::ConnectionReset.into())
        } else {
            None
        }
    }
}

impl AsyncRead for ConnStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(e) = self.check_reset() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.check_reset() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.check_reset() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.check_reset() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Per-connection facts handed to handlers through `ConnectInfo`.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    pub id: usize,
    reset: Arc<AtomicBool>,
}

impl ConnInfo {
    /// Marks the connection for an abortive close: the response being produced is never
    /// written.
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, CountingListener>> for ConnInfo {
    fn connect_info(stream: IncomingStream<'_, CountingListener>) -> Self {
        let io = stream.io();
        Self {
            id: io.id,
            reset: io.reset.clone(),
        }
    }
}
