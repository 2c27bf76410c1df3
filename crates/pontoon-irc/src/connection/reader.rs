//! The server's lines, read without a buffer kept between reads.
//!
//! Written here rather than taken from tokio-util's `FramedRead`: a `FramedRead` owns its
//! read buffer for the connection's whole life (512 bytes here, the smallest that fits a
//! line without tags, in every connection of every session; performance pass 4), although a
//! connection in quiet channels reads nothing for minutes. Here each read goes into a
//! buffer on the stack of the poll that makes it; only what one read brings beyond the
//! line handed on (the rest of a burst, a line cut in two) waits on the heap, and that
//! memory is freed as soon as it has all been handed on. The lines themselves are framed
//! and decoded by the same [`LineCodec`] as before.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use futures::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Decoder;

use crate::line::{LineCodec, LineError};

/// The most one read takes from the socket: a busy server's burst in few system calls.
/// On the stack of the poll, never kept.
const READ_CHUNK: usize = 8 * 1024;

/// A stream of the lines read from `R`.
pub(super) struct LineReader<R> {
    rd: R,
    codec: LineCodec,
    /// Read but not yet handed on; empty and unallocated between bursts.
    rest: BytesMut,
    /// The server closed the stream: what is left is decoded, then the stream ends.
    eof: bool,
}

impl<R> LineReader<R> {
    pub(super) fn new(rd: R, codec: LineCodec) -> Self {
        LineReader {
            rd,
            codec,
            rest: BytesMut::new(),
            eof: false,
        }
    }

    /// The next whole line already read, if any.
    fn decoded(&mut self) -> Option<Result<String, LineError>> {
        let line = if self.eof {
            self.codec.decode_eof(&mut self.rest)
        } else if self.rest.is_empty() {
            Ok(None)
        } else {
            self.codec.decode(&mut self.rest)
        };
        if self.rest.is_empty() && self.rest.capacity() > 0 {
            self.rest = BytesMut::new();
        }
        line.transpose()
    }

    /// What is kept between reads (for the tests).
    #[cfg(test)]
    pub(super) fn kept(&self) -> usize {
        self.rest.capacity()
    }
}

impl<R: AsyncRead + Unpin> Stream for LineReader<R> {
    type Item = Result<String, LineError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(line) = this.decoded() {
                return Poll::Ready(Some(line));
            }
            if this.eof {
                return Poll::Ready(None);
            }
            // Uninitialised: zeroing 8 KiB for every poll was most of this reader's cost.
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut buf = ReadBuf::uninit(&mut chunk);
            ready!(Pin::new(&mut this.rd).poll_read(cx, &mut buf))?;
            match buf.filled() {
                [] => this.eof = true,
                read => this.rest.extend_from_slice(read),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn lines_across_reads_and_in_bursts_and_nothing_kept_once_handed_on() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let mut reader = LineReader::new(client, LineCodec::default());
        server.write_all(b"PING :a\r\nPRIVMSG #c :").await.unwrap();
        assert_eq!(reader.next().await.unwrap().unwrap(), "PING :a");
        assert!(reader.kept() > 0, "half a line waits");
        server.write_all(b"hello\r\n").await.unwrap();
        assert_eq!(reader.next().await.unwrap().unwrap(), "PRIVMSG #c :hello");
        assert_eq!(reader.kept(), 0, "all handed on: nothing kept");
        let burst: String = (0..500).map(|i| format!("NOTICE * :{i}\r\n")).collect();
        server.write_all(burst.as_bytes()).await.unwrap();
        for i in 0..500 {
            assert_eq!(
                reader.next().await.unwrap().unwrap(),
                format!("NOTICE * :{i}")
            );
        }
        assert_eq!(reader.kept(), 0);
        // A last line without its newline is still a line; then the stream ends.
        server.write_all(b"ERROR :bye").await.unwrap();
        drop(server);
        assert_eq!(reader.next().await.unwrap().unwrap(), "ERROR :bye");
        assert!(reader.next().await.is_none());
        assert!(reader.next().await.is_none());
    }

    #[tokio::test]
    async fn a_line_too_long_is_dropped_and_the_next_read() {
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let mut reader = LineReader::new(client, LineCodec::default());
        let long = vec![b'x'; 20_000];
        server.write_all(&long).await.unwrap();
        server.write_all(b"\r\nPING :after\r\n").await.unwrap();
        assert_eq!(reader.next().await.unwrap().unwrap(), "PING :after");
        assert_eq!(reader.kept(), 0);
    }
}
