//! Byte streams for both HTTP versions: cleartext or TLS over monoio's poll-io TCP stream,
//! plus the few async helpers the HTTP/1.1 code needs (tokio's `io-util` extension traits
//! are not enabled in this crate).

use std::{
    future::poll_fn,
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll, Waker},
};

use bytes::BytesMut;
use monoio::net::tcp::stream_poll::TcpStreamPoll;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A client connection's byte stream.
pub(crate) enum Stream {
    Plain(TcpStreamPoll),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStreamPoll>>),
}

impl Stream {
    /// The negotiated ALPN protocol, if TLS negotiated one.
    pub(crate) fn alpn(&self) -> Option<&[u8]> {
        match self {
            Self::Plain(_) => None,
            Self::Tls(s) => s.get_ref().1.alpn_protocol(),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Writes all of `bufs` (one `writev` per call when the stream supports it) and flushes.
pub(crate) async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    bufs: &mut [IoSlice<'_>],
) -> io::Result<()> {
    let mut bufs = bufs;
    // Skip leading empty slices so a zero-length write means "peer is gone", not "done".
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *w).poll_write_vectored(cx, bufs)).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    poll_fn(|cx| Pin::new(&mut *w).poll_flush(cx)).await
}

/// Reads once into the spare capacity of `buf` (reserving `min_spare` first).
/// Returns the number of bytes read; 0 means end of stream.
pub(crate) async fn read_some<R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
    min_spare: usize,
) -> io::Result<usize> {
    buf.reserve(min_spare);
    poll_fn(|cx| {
        let spare = buf.spare_capacity_mut();
        let mut read_buf = ReadBuf::uninit(spare);
        match Pin::new(&mut *r).poll_read(cx, &mut read_buf) {
            Poll::Ready(Ok(())) => {
                let n = read_buf.filled().len();
                // SAFETY: `poll_read` initialised the first `n` bytes of the spare capacity
                // (`ReadBuf::filled`), which directly follow the current length.
                unsafe { buf.set_len(buf.len() + n) };
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// True when an idle connection can no longer be used: the peer closed it, reset it, or
/// sent bytes nobody asked for. Polls once without blocking.
pub(crate) fn idle_connection_is_dead<R: AsyncRead + Unpin>(r: &mut R) -> bool {
    let mut probe = [0u8; 1];
    let mut read_buf = ReadBuf::new(&mut probe);
    let mut cx = Context::from_waker(Waker::noop());
    Pin::new(r).poll_read(&mut cx, &mut read_buf).is_ready()
}
