//! Response bodies: a buffer, or a byte range of a file read in chunks.
//! Both report their exact length, so every response carries a
//! Content-Length and none is sent chunked.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncSeekExt, ReadBuf};

const CHUNK: u64 = 64 * 1024;

/// A response body.
pub enum Body {
    /// Bytes in memory (possibly none).
    Full(Option<Bytes>),
    /// `remaining` bytes of a file, from its current position.
    File {
        /// The open file, positioned at the first byte to send.
        file: tokio::fs::File,
        /// Bytes still to send.
        remaining: u64,
    },
    /// `remaining` bytes arriving on a channel (a nar file streamed from an
    /// upstream while it is stored); an error item, or fewer bytes than
    /// announced, fails the response.
    Channel {
        /// Where the pieces come from.
        rx: tokio::sync::mpsc::Receiver<std::io::Result<Bytes>>,
        /// Bytes still to send.
        remaining: u64,
    },
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body::Full(None)
    }

    /// A body of `bytes`.
    pub fn bytes(bytes: impl Into<Bytes>) -> Body {
        let b: Bytes = bytes.into();
        if b.is_empty() {
            Body::Full(None)
        } else {
            Body::Full(Some(b))
        }
    }

    /// `len` bytes of `file` starting at `start`.
    pub async fn file_range(
        mut file: tokio::fs::File,
        start: u64,
        len: u64,
    ) -> std::io::Result<Body> {
        if start > 0 {
            file.seek(std::io::SeekFrom::Start(start)).await?;
        }
        Ok(Body::File {
            file,
            remaining: len,
        })
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::File { file, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                let want = (*remaining).min(CHUNK) as usize;
                let mut buf = vec![0u8; want];
                let mut rb = ReadBuf::new(&mut buf);
                match Pin::new(file).poll_read(cx, &mut rb) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        if n == 0 {
                            // The file shrank under us: fail the response
                            // rather than send fewer bytes than announced.
                            return Poll::Ready(Some(Err(std::io::Error::new(
                                std::io::ErrorKind::UnexpectedEof,
                                "nar file is shorter than its announced length",
                            ))));
                        }
                        buf.truncate(n);
                        *remaining -= n as u64;
                        Poll::Ready(Some(Ok(Frame::data(Bytes::from(buf)))))
                    }
                }
            }
            Body::Channel { rx, remaining } => {
                if *remaining == 0 {
                    return Poll::Ready(None);
                }
                match rx.poll_recv(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Some(Ok(b))) => {
                        let n = b.len() as u64;
                        if n > *remaining {
                            return Poll::Ready(Some(Err(std::io::Error::other(
                                "more bytes than announced",
                            ))));
                        }
                        *remaining -= n;
                        Poll::Ready(Some(Ok(Frame::data(b))))
                    }
                    Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
                    Poll::Ready(None) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the stream ended before its announced length",
                    )))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_none(),
            Body::File { remaining, .. } => *remaining == 0,
            Body::Channel { remaining, .. } => *remaining == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::File { remaining, .. } => SizeHint::with_exact(*remaining),
            Body::Channel { remaining, .. } => SizeHint::with_exact(*remaining),
        }
    }
}
