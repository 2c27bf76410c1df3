//! Answering `408 Request Timeout` to a client whose request headers are too slow.
//!
//! hyper's header timeout ends the connection without a word, and by then the socket is
//! hyper's to drop. So the connection's socket is duplicated before hyper gets it: the
//! spare is used only to say 408 when the timeout hit a request that had started to
//! arrive. An idle keep-alive connection (nothing read since the last answer) is closed
//! in silence, as HTTP/1.1 allows: a 408 there could be taken for the answer to the
//! client's next request.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// What a client whose headers took too long is told.
const ANSWER: &[u8] = b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 42\r\nconnection: close\r\n\r\nthe request headers came too slowly; bye\r\n";

/// How long the 408 may take to write; a client that does not read it loses it.
const WRITE_LIMIT: Duration = Duration::from_secs(2);

/// A connection's stream that knows whether part of a request has arrived since the
/// last answer was written.
pub(crate) struct Watched {
    inner: TcpStream,
    half_read: Arc<AtomicBool>,
}

/// The way to answer 408 on a connection once hyper has given up on it.
pub(crate) struct Spare {
    socket: std::net::TcpStream,
    half_read: Arc<AtomicBool>,
}

/// Splits `stream` into the stream hyper serves and the spare that can answer 408.
pub(crate) fn watch(stream: TcpStream) -> io::Result<(Watched, Spare)> {
    let std = stream.into_std()?;
    let socket = std.try_clone()?;
    let inner = TcpStream::from_std(std)?;
    let half_read = Arc::new(AtomicBool::new(false));
    Ok((
        Watched {
            inner,
            half_read: half_read.clone(),
        },
        Spare { socket, half_read },
    ))
}

impl Spare {
    /// Tells the client its headers came too slowly, if a request had started to arrive.
    pub(crate) async fn answer_timeout(self) {
        if !self.half_read.load(Ordering::Relaxed) {
            return;
        }
        let Ok(mut socket) = TcpStream::from_std(self.socket) else {
            return;
        };
        let _ = tokio::time::timeout(WRITE_LIMIT, async {
            socket.write_all(ANSWER).await?;
            socket.shutdown().await
        })
        .await;
    }
}

impl Watched {
    /// Bytes of an answer went out: what was read was a whole request.
    fn on_write(&self, polled: &Poll<io::Result<usize>>) {
        if matches!(polled, Poll::Ready(Ok(n)) if *n > 0) {
            self.half_read.store(false, Ordering::Relaxed);
        }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.half_read.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.on_write(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.on_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
